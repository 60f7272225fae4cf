//! A synthetic event stream shaped like a MariaDB server under an OLTP read load on buffered
//! InnoDB files, for benchmarks and demos where no real recording is at hand.
//!
//! What it models (per operation, arrivals at `ops_per_sec`, interleaved by timestamp):
//! - 55% point-select misses: a connection thread `pread64`s a random 16 KiB page; the kernel
//!   looks up the range, triggers sync readahead with the file's state, decides a 4-page
//!   `ra_unbounded` window, inserts 4 pages; the read returns after 80-300 us of device time.
//! - 30% point-select hits: `pread64`, page lookup, return after 1-5 us.
//! - 10% read-ahead bursts: a connection submits 8 sequential 16 KiB io_uring reads; an `iou-wrk`
//!   thread looks up each; every fourth one reaches the readahead marker, which triggers async
//!   readahead and a 32-page `ra_order` window with its page inserts.
//! - 5% reclaim: `kswapd0` evicts 32 pages in runs of 4 from a random place.
//!
//! Everything is derived from a seed, so a given seed always gives the same events.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::meta::{BlockDevice, Clock, FileInfo, Header, ProbeInfo, ProbeMode, ProcessInfo, ThreadInfo};
use crate::Event;
use crate::{
    make_dev, EventBody, EventKind, FileRef, FilemapGetPages, PageCacheAdd, PageCacheDelete, RaDecision,
    RaState, RaTrigger, ReadEnter, ReadExit, ReadSyscall, ReadaheadTrigger, ReadaheadWindow, UringComplete,
    UringSubmit,
};

const PID: u32 = 4242;
const FIRST_CONN_TID: u32 = 4300;
const CONNECTIONS: u32 = 16;
const FIRST_IOU_TID: u32 = 4400;
const IOU_WORKERS: u32 = 4;
const KSWAPD: u32 = 91;
const FILES: u64 = 8;
const FILE_PAGES: u64 = 512 * 1024; // 2 GiB of 4 KiB pages
const FIRST_INO: u64 = 131_075;
const BASE_TS: u64 = 1_000_000_000_000;
const OFD_BASE: u64 = 0xffff_8881_0a3c_0000;
const FLAGS: u32 = 0o2_000_002; // O_RDWR | O_CLOEXEC, as InnoDB opens data files

/// Device the synthetic files live on: `vda1`, the first partition of the disk `vda`.
pub fn synthetic_dev() -> u32 {
    make_dev(254, 1)
}

/// The disk `vda` that holds [`synthetic_dev`] and whose queue settings it uses.
fn synthetic_disk() -> u32 {
    make_dev(254, 0)
}

/// Generator of the synthetic stream; an endless iterator of events in time order.
#[derive(Debug)]
pub struct SyntheticStream {
    rng: fastrand::Rng,
    clock: u64,
    mean_gap_ns: u64,
    pending: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    /// Per file: byte position after the last read (the shared description's `prev_pos`).
    prev_pos: Vec<i64>,
    /// Per file: next page of the sequential read-ahead stream.
    scan_page: Vec<u64>,
    /// Per file: readahead window `(start, size)` of the shared description; only sequential
    /// (async) readahead moves it, random reads leave it alone.
    ra_window: Vec<(u64, u32)>,
    /// Per thread: the CPU it runs on.
    cpu_of: std::collections::HashMap<u32, u16>,
    /// io_uring requests (the kernel's per-ring free list) and the server's aio control blocks:
    /// per object, the time it is free again. Both are reused most-recently-freed first.
    uring_reqs: Vec<u64>,
    aiocbs: Vec<u64>,
}

/// Takes the object of `pool` freed most recently before `now` (LIFO reuse, as slab free lists
/// and the server's aiocb cache do) and keeps it busy until `until`.
fn take_lifo(pool: &mut [u64], now: u64, until: u64) -> u64 {
    let mut best: Option<usize> = None;
    for (i, &free_at) in pool.iter().enumerate() {
        if free_at <= now && best.is_none_or(|b| free_at > pool[b]) {
            best = Some(i);
        }
    }
    // A pool never runs dry at the modelled rates; fall back to the first object if it does.
    let i = best.unwrap_or(0);
    pool[i] = until;
    i as u64
}

/// An event waiting for its time; ordered by time, then by creation.
#[derive(Debug)]
struct Pending {
    ts: u64,
    seq: u64,
    event: Event,
}
impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.ts, self.seq) == (o.ts, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ts, self.seq).cmp(&(o.ts, o.seq))
    }
}

impl SyntheticStream {
    /// A stream of `ops_per_sec` operations per second from `seed`.
    pub fn new(seed: u64, ops_per_sec: u64) -> Self {
        SyntheticStream {
            rng: fastrand::Rng::with_seed(seed),
            clock: BASE_TS,
            mean_gap_ns: 1_000_000_000 / ops_per_sec.max(1),
            pending: BinaryHeap::new(),
            seq: 0,
            prev_pos: vec![-1; FILES as usize],
            // Scans start on a 16-page boundary, where the readahead marker falls.
            scan_page: (0..FILES).map(|f| f * 7919 % FILE_PAGES / 16 * 16).collect(),
            ra_window: vec![(0, 0); FILES as usize],
            cpu_of: std::collections::HashMap::new(),
            uring_reqs: vec![0; 64],
            aiocbs: vec![0; 256],
        }
    }

    /// The header a trace of this stream would have.
    pub fn header() -> Header {
        Header {
            tool: format!("mysql-io {} (synthetic stream)", env!("CARGO_PKG_VERSION")),
            host: "synthetic".into(),
            kernel_release: "6.18.0-synthetic".into(),
            kernel_version: "#1 SMP".into(),
            arch: "x86_64".into(),
            page_size: 4096,
            cpus: 8,
            clock: Clock::Monotonic,
            clock_offset_ns: 1_763_700_000_000_000_000 - BASE_TS as i64,
            start_ts: BASE_TS,
            command: vec!["synthetic".into()],
            probes: EventKind::ALL
                .iter()
                .map(|k| ProbeInfo {
                    kind: k.code(),
                    mode: ProbeMode::Tracepoint,
                    attach: vec![],
                    note: String::new(),
                })
                .collect(),
            // The files sit on a partition, whose queue settings are its disk's.
            devices: [(synthetic_disk(), "vda"), (synthetic_dev(), "vda1")]
                .into_iter()
                .map(|(dev, name)| BlockDevice {
                    dev,
                    name: name.into(),
                    read_ahead_kb: 128,
                    max_sectors_kb: 1280,
                    rotational: false,
                    logical_block_size: 512,
                })
                .collect(),
            processes: vec![ProcessInfo {
                pid: PID,
                comm: "mariadbd".into(),
                exe: "/usr/sbin/mariadbd".into(),
                cmdline: vec!["/usr/sbin/mariadbd".into()],
                version: "10.11.6-MariaDB-0+deb12u1".into(),
                ts: BASE_TS,
            }],
            // A 16 GiB machine with a quarter of it in the page cache.
            mem_total_kb: 16 << 20,
            mem_available_kb: 11 << 20,
            page_cache_kb: 4 << 20,
            disks: vec![(synthetic_dev(), "vda".into())],
        }
    }

    /// File records a trace of this stream would have.
    pub fn files() -> Vec<FileInfo> {
        (0..FILES)
            .map(|f| FileInfo {
                dev: synthetic_dev(),
                ino: FIRST_INO + f,
                path: format!("/var/lib/mysql/sbtest/sbtest{}.ibd", f + 1),
                size: FILE_PAGES * 4096,
                fs_type: "ext4".into(),
                ts: BASE_TS,
            })
            .collect()
    }

    /// Thread records a trace of this stream would have.
    pub fn threads() -> Vec<ThreadInfo> {
        let thread = |pid, tid, comm: String, role: &str| ThreadInfo {
            pid,
            tid,
            comm,
            role: role.into(),
            ts: BASE_TS,
        };
        let mut v: Vec<ThreadInfo> = (0..CONNECTIONS)
            .map(|i| thread(PID, FIRST_CONN_TID + i, "mariadbd".into(), "thread/sql/one_connection"))
            .collect();
        v.extend((0..IOU_WORKERS).map(|i| thread(PID, FIRST_IOU_TID + i, format!("iou-wrk-{PID}"), "")));
        v.push(thread(KSWAPD, KSWAPD, "kswapd0".into(), ""));
        v
    }

    fn file(f: u64) -> FileRef {
        FileRef { dev: synthetic_dev(), ino: FIRST_INO + f, ofd: OFD_BASE + f * 0x1c0, flags: FLAGS }
    }

    fn at(&mut self, ts: u64, tid: u32, body: impl Into<EventBody>) {
        // A thread stays on its CPU until the scheduler migrates it, now and then.
        let migrate = self.rng.u16(0..256) == 0;
        let new_cpu = self.rng.u16(0..8);
        let cpu = *self
            .cpu_of
            .entry(tid)
            .and_modify(|c| {
                if migrate {
                    *c = new_cpu;
                }
            })
            .or_insert((tid % 8) as u16);
        let pid = if tid == KSWAPD { KSWAPD } else { PID };
        self.seq += 1;
        let event = Event { ts, pid, tid, cpu, body: body.into() };
        self.pending.push(Reverse(Pending { ts, seq: self.seq, event }));
    }

    fn jitter(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.u64(lo..hi)
    }

    /// Generates the events of one operation starting at `t`.
    fn operation(&mut self, t: u64) {
        let roll = self.rng.u8(0..100);
        let f = self.rng.u64(0..FILES);
        let file = Self::file(f);
        let conn = FIRST_CONN_TID + self.rng.u32(0..CONNECTIONS);
        let (dev, ino) = (file.dev, file.ino);
        match roll {
            0..=84 => {
                let page = self.rng.u64(0..FILE_PAGES / 4) * 4;
                let pos = (page * 4096) as i64;
                let fd = 10 + f as i32;
                self.at(
                    t,
                    conn,
                    ReadEnter {
                        syscall: ReadSyscall::Pread64,
                        fd,
                        file: file.clone(),
                        pos,
                        count: 16384,
                        iovcnt: 1,
                        rw_flags: 0,
                    },
                );
                let mut now = t + self.jitter(400, 900);
                let done = if roll < 55 {
                    now += self.jitter(300, 700);
                    let prev_pos = self.prev_pos[f as usize];
                    let (start, size) = self.ra_window[f as usize];
                    let state = RaState {
                        start,
                        size,
                        async_size: size,
                        ra_pages: 32,
                        order: 0,
                        mmap_miss: 0,
                        prev_pos,
                    };
                    self.at(
                        now,
                        conn,
                        ReadaheadTrigger {
                            trigger: RaTrigger::Sync,
                            dev,
                            ino,
                            index: page,
                            req_count: 4,
                            state,
                        },
                    );
                    now += self.jitter(200, 500);
                    self.at(
                        now,
                        conn,
                        ReadaheadWindow {
                            decision: RaDecision::Unbounded,
                            dev,
                            ino,
                            index: page,
                            size: 4,
                            async_size: 0,
                            order: 0,
                            ra_pages: 0,
                        },
                    );
                    for i in 0..4 {
                        now += self.jitter(80, 200);
                        self.at(now, conn, PageCacheAdd { dev, ino, index: page + i, order: 0 });
                    }
                    // The lookup tracepoint fires once the lookup (and its readahead) is done.
                    now += self.jitter(300, 700);
                    self.at(now, conn, FilemapGetPages { dev, ino, index: page, last_index: page + 3 });
                    now + self.jitter(80_000, 300_000)
                } else {
                    self.at(now, conn, FilemapGetPages { dev, ino, index: page, last_index: page + 3 });
                    now + self.jitter(1_000, 5_000)
                };
                self.at(done, conn, ReadExit { syscall: ReadSyscall::Pread64, ret: 16384 });
                self.prev_pos[f as usize] = pos + 16384;
            }
            85..=94 => {
                let worker = FIRST_IOU_TID + self.rng.u32(0..IOU_WORKERS);
                let mut now = t;
                for _ in 0..8 {
                    let page = self.scan_page[f as usize];
                    self.scan_page[f as usize] = (page + 4) % FILE_PAGES;
                    now += self.jitter(300, 900);
                    let latency = self.jitter(22_000, 110_000);
                    let req =
                        0xffff_8882_04a3_0000 + take_lifo(&mut self.uring_reqs, now, now + latency) * 0x100;
                    let user_data = 0x55d4_1c3a_0000 + take_lifo(&mut self.aiocbs, now, now + latency) * 0x98;
                    self.at(
                        now,
                        conn,
                        UringSubmit {
                            ring: 0xffff_8881_2b40_0000,
                            req,
                            user_data,
                            opcode: 1,
                            fd: 10 + f as i32,
                            file: file.clone(),
                            offset: (page * 4096) as i64,
                            len: 1,
                            rw_flags: 0,
                        },
                    );
                    let mut w = now + self.jitter(2_000, 8_000);
                    if page % 16 == 0 {
                        w += self.jitter(300, 600);
                        let (start, size) = self.ra_window[f as usize];
                        let state = RaState {
                            start,
                            size,
                            async_size: size,
                            ra_pages: 32,
                            order: 0,
                            mmap_miss: 0,
                            prev_pos: (page * 4096) as i64,
                        };
                        self.ra_window[f as usize] = (page + 32, 32);
                        self.at(
                            w,
                            worker,
                            ReadaheadTrigger {
                                trigger: RaTrigger::Async,
                                dev,
                                ino,
                                index: page,
                                req_count: 4,
                                state,
                            },
                        );
                        w += self.jitter(200, 500);
                        self.at(
                            w,
                            worker,
                            ReadaheadWindow {
                                decision: RaDecision::Order,
                                dev,
                                ino,
                                index: page + 32,
                                size: 32,
                                async_size: 32,
                                order: 0,
                                ra_pages: 32,
                            },
                        );
                        for i in 0..32 {
                            w += self.jitter(60, 150);
                            self.at(w, worker, PageCacheAdd { dev, ino, index: page + 32 + i, order: 0 });
                        }
                    }
                    w += self.jitter(300, 700);
                    self.at(w, worker, FilemapGetPages { dev, ino, index: page, last_index: page + 3 });
                    w = w.max(now + latency);
                    self.at(
                        w,
                        worker,
                        UringComplete { ring: 0xffff_8881_2b40_0000, req, user_data, res: 16384, cflags: 0 },
                    );
                }
            }
            _ => {
                let mut now = t;
                for _ in 0..8 {
                    let page = self.rng.u64(0..FILE_PAGES / 4) * 4;
                    for i in 0..4 {
                        now += self.jitter(100, 400);
                        self.at(now, KSWAPD, PageCacheDelete { dev, ino, index: page + i, order: 0 });
                    }
                }
            }
        }
    }
}

impl Iterator for SyntheticStream {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        // Start operations until the earliest pending event is older than the next start, so that
        // events come out in time order.
        loop {
            if let Some(Reverse(p)) = self.pending.peek() {
                if p.ts <= self.clock {
                    break;
                }
            }
            let t = self.clock;
            self.operation(t);
            // Exponential-ish gaps: arrivals of independent clients.
            let u = self.rng.f64().max(1e-12);
            self.clock += (-(u.ln()) * self.mean_gap_ns as f64) as u64 + 1;
        }
        self.pending.pop().map(|Reverse(p)| p.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_deterministic_and_time_ordered() {
        let a: Vec<Event> = SyntheticStream::new(7, 20_000).take(5000).collect();
        let b: Vec<Event> = SyntheticStream::new(7, 20_000).take(5000).collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].ts <= w[1].ts));
        let kinds: std::collections::HashSet<_> = a.iter().map(Event::kind).collect();
        for k in [
            EventKind::ReadEnter,
            EventKind::PageCacheAdd,
            EventKind::ReadaheadWindow,
            EventKind::UringSubmit,
            EventKind::PageCacheDelete,
        ] {
            assert!(kinds.contains(&k), "{k} missing");
        }
    }
}
