//! Tests on real files (run as root on the test box; nothing is mocked).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::aio::AioEngine;
use super::buf::AlignedBufs;
use super::engine::{Engine, Wait};
use super::uring::UringEngine;
use super::worker::Tally;
use super::*;
use crate::plan::{Api, Plan, PlanFile, PlanRead, PlanStream, ThreadPlan};

/// Runs are serialized: the timing tests need the two cores to themselves.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const MS: u64 = 1_000_000;

fn byte_at(off: u64) -> u8 {
    ((off * 31 + off / 4096 + 7) % 251) as u8
}

fn pattern_file(dir: &Path, name: &str, len: u64) -> PathBuf {
    let path = dir.join(name);
    let data: Vec<u8> = (0..len).map(byte_at).collect();
    std::fs::write(&path, data).unwrap();
    path
}

fn rd(at_ns: u64, stream: u32, api: Api, pos: u64, count: u32, batch: u32) -> PlanRead {
    PlanRead { at_ns, stream, api, pos, count, batch }
}

fn plan(files: &[(&Path, u64)], streams: &[(u32, bool)], threads: Vec<Vec<PlanRead>>) -> Plan {
    Plan {
        files: files.iter().map(|&(p, size)| PlanFile { path: p.to_path_buf(), size }).collect(),
        streams: streams.iter().map(|&(file, direct)| PlanStream { file, direct }).collect(),
        threads: threads
            .into_iter()
            .enumerate()
            .map(|(i, reads)| ThreadPlan { tid: 100 + i as u32, reads })
            .collect(),
    }
}

fn opts(speed: Speed, keep: bool) -> ExecOptions {
    ExecOptions { speed, keep_results: keep, ..ExecOptions::default() }
}

fn go(p: &Plan, o: &ExecOptions) -> ExecReport {
    let fds = open_streams(p).unwrap();
    run(p, &fds, o, &|_| {}, &AtomicBool::new(false)).unwrap()
}

/// What a read of `count` at `pos` returns from a file of `len` bytes.
fn expected(len: u64, pos: u64, count: u32) -> i64 {
    len.saturating_sub(pos).min(u64::from(count)) as i64
}

fn results_of(rep: &ExecReport) -> &[ReadResult] {
    rep.results.as_deref().unwrap()
}

#[test]
fn every_api_returns_the_bytes_asked() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 1 << 20;
    let f = pattern_file(dir.path(), "data", len);
    let apis = [Api::Pread64, Api::Preadv, Api::Preadv2, Api::Read, Api::Readv, Api::Aio, Api::Uring];
    let mut reads = Vec::new();
    for (k, &api) in apis.iter().enumerate() {
        for j in 0..20u64 {
            let pos = (j * 37_123 + k as u64 * 4096) % len;
            let count = 512 + (j as u32 * 1000) % 70_000;
            reads.push(rd(0, 0, api, pos, count, j as u32 / 4));
        }
    }
    let p = plan(&[(&f, len)], &[(0, false)], vec![reads.clone()]);
    let rep = go(&p, &opts(Speed::Max, true));
    assert_eq!(rep.reads, reads.len() as u64);
    assert_eq!(rep.errors, 0);
    assert_eq!(rep.not_issued, 0);
    assert!(!rep.stopped);
    assert_eq!(rep.issued_as_pread, 0, "one thread: read/readv use the file position");
    let res = results_of(&rep);
    assert_eq!(res.len(), reads.len());
    let mut bytes = 0;
    for (i, (r, x)) in reads.iter().zip(res).enumerate() {
        assert_eq!((x.thread, x.index), (0, i as u32));
        assert_eq!(x.result, expected(len, r.pos, r.count), "read {i} {:?}", r.api);
        bytes += x.result as u64;
    }
    assert_eq!(rep.bytes, bytes);
    assert!(!rep.lag.timed);
    assert_eq!(rep.lag, LagStats::default());
}

/// The data itself, through each path (the worker's buffers are private, so the issuing
/// functions are driven directly).
#[test]
fn every_api_reads_the_right_data() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 300_000;
    let f = pattern_file(dir.path(), "data", len);
    let file = std::fs::File::open(&f).unwrap();
    let fd = file.as_raw_fd();
    let cases = [(0u64, 4096u32), (12_345, 777), (100_000, 65_536), (299_000, 4096)];
    let check = |buf: &[u8], pos: u64, n: i64| {
        assert!(n >= 0 && n as usize <= buf.len());
        for (k, &b) in buf[..n as usize].iter().enumerate() {
            assert_eq!(b, byte_at(pos + k as u64), "byte {k} of a read at {pos}");
        }
    };

    let bufs = AlignedBufs::new(1, 65_536).unwrap();
    for &(pos, count) in &cases {
        for (name, n) in [
            ("pread", sync_io::pread(fd, bufs.slot(0), count, pos)),
            ("preadv", sync_io::preadv(fd, bufs.slot(0), count, pos)),
            ("preadv2", sync_io::preadv2(fd, bufs.slot(0), count, pos)),
            ("read", sync_io::read_at_position(fd, bufs.slot(0), count, pos, false)),
            ("readv", sync_io::read_at_position(fd, bufs.slot(0), count, pos, true)),
        ] {
            assert_eq!(n, expected(len, pos, count), "{name} at {pos}");
            check(&bufs.bytes(0)[..count as usize], pos, n);
        }
    }

    let done = AtomicU64::new(0);
    let mut tally = Tally::new(0, clock::now_ns(), false, Some(Vec::new()), &done);
    let mut aio = AioEngine::new(1, 4, 65_536).unwrap();
    let mut uring = UringEngine::new(1, 4, 65_536).unwrap();
    for (k, &(pos, count)) in cases.iter().enumerate() {
        let r = rd(0, 0, Api::Aio, pos, count, 0);
        aio.prepare(k as u32, &r, fd, 0);
        aio.submit(&mut tally).unwrap();
        while aio.in_flight() > 0 {
            aio.reap(Wait::One, &mut tally).unwrap();
        }
        // One read at a time: it always used slot 0.
        check(&aio.slots().bytes(0)[..count as usize], pos, expected(len, pos, count));

        uring.prepare(k as u32, &r, fd, 0);
        uring.submit(&mut tally).unwrap();
        while uring.in_flight() > 0 {
            uring.reap(Wait::One, &mut tally).unwrap();
        }
        check(&uring.slots().bytes(0)[..count as usize], pos, expected(len, pos, count));
    }
    let res = tally.take_results();
    assert_eq!(res.len(), 2 * cases.len());
    for (k, x) in res.iter().enumerate() {
        let (pos, count) = cases[k / 2];
        assert_eq!(x.result, expected(len, pos, count));
    }
}

#[test]
fn aio_and_uring_batches_complete() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 4 << 20;
    let f = pattern_file(dir.path(), "data", len);
    let mk = |api: Api, seed: u64| -> Vec<PlanRead> {
        let mut v = Vec::new();
        let mut x = seed;
        for i in 0..2000u32 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            // Batches of 8, then one of 100 (more than the queue holds) every 500 reads.
            let batch = if i % 500 < 100 { i / 500 * 1000 } else { i / 8 };
            v.push(rd(0, 0, api, (x >> 20) % (len / 4096) * 4096, 4096, batch));
        }
        v
    };
    let reads = vec![mk(Api::Aio, 1), mk(Api::Uring, 2), [mk(Api::Aio, 3), mk(Api::Uring, 4)].concat()];
    let p = plan(&[(&f, len)], &[(0, false)], reads.clone());
    let o = ExecOptions { queue_depth: 16, ..opts(Speed::Max, true) };
    let rep = go(&p, &o);
    assert_eq!(rep.reads, p.reads() as u64);
    assert_eq!(rep.errors, 0);
    assert_eq!(rep.short_reads, 0);
    assert_eq!(rep.bytes, p.reads() as u64 * 4096);
    let res = results_of(&rep);
    let mut k = 0;
    for (t, tr) in reads.iter().enumerate() {
        assert_eq!(rep.per_thread[t].reads, tr.len() as u64);
        for i in 0..tr.len() {
            assert_eq!((res[k].thread, res[k].index), (t as u32, i as u32));
            assert_eq!(res[k].result, 4096);
            k += 1;
        }
    }
}

/// Checks the results of each thread start in plan order (batched reads share a start).
fn assert_order(rep: &ExecReport, threads: usize) {
    let res = results_of(rep);
    for t in 0..threads as u32 {
        let mine: Vec<&ReadResult> = res.iter().filter(|x| x.thread == t).collect();
        for w in mine.windows(2) {
            assert_eq!(w[0].index + 1, w[1].index);
            assert!(
                w[0].start_ns <= w[1].start_ns,
                "thread {t}: read {} started before read {}",
                w[1].index,
                w[0].index
            );
        }
    }
}

#[test]
fn each_thread_issues_in_plan_order() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 1 << 20;
    let f = pattern_file(dir.path(), "data", len);
    let apis = [Api::Pread64, Api::Read, Api::Aio, Api::Aio, Api::Uring, Api::Uring, Api::Preadv2];
    let threads: Vec<Vec<PlanRead>> = (0..3u64)
        .map(|t| {
            (0..700u64)
                .map(|i| {
                    rd(
                        i * 1000,
                        0,
                        apis[(i as usize / 3 + t as usize) % apis.len()],
                        (i * 8192 + t) % len,
                        4096,
                        i as u32 / 3,
                    )
                })
                .collect()
        })
        .collect();
    let p = plan(&[(&f, len)], &[(0, false)], threads);
    for speed in [Speed::Max, Speed::Scale(1.0)] {
        let rep = go(&p, &opts(speed, true));
        assert_eq!(rep.reads, 2100);
        assert_eq!(rep.errors, 0);
        assert_order(&rep, 3);
        // Three threads read at the same description's position: those reads went through pread.
        assert_eq!(rep.issued_as_pread, rep.per_thread.iter().map(|t| t.issued_as_pread).sum::<u64>());
        assert!(rep.issued_as_pread > 0);
    }
}

#[test]
fn shared_position_only_when_several_threads_use_it() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 100_000;
    let f = pattern_file(dir.path(), "data", len);
    // Stream 0: read positionally by thread 0 only (thread 1 preads it); stream 1: by both.
    let t0 = vec![
        rd(0, 0, Api::Read, 5000, 100, 0),
        rd(0, 1, Api::Readv, 0, 100, 0),
        rd(0, 0, Api::Read, 99_950, 100, 0),
    ];
    let t1 = vec![rd(0, 0, Api::Pread64, 10, 100, 0), rd(0, 1, Api::Read, 50, 100, 0)];
    let p = plan(&[(&f, len)], &[(0, false), (0, false)], vec![t0, t1]);
    let rep = go(&p, &opts(Speed::Max, true));
    assert_eq!(rep.issued_as_pread, 2);
    assert_eq!(rep.per_thread[0].issued_as_pread, 1);
    assert_eq!(rep.per_thread[1].issued_as_pread, 1);
    let r: Vec<i64> = results_of(&rep).iter().map(|x| x.result).collect();
    assert_eq!(r, [100, 100, 50, 100, 100]);
    assert_eq!(rep.short_reads, 1);
}

#[test]
fn direct_stream_on_ext4() {
    let _s = serial();
    // /var/tmp is on ext4 here (findmnt), which takes O_DIRECT.
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let len = 1 << 20;
    let f = pattern_file(dir.path(), "direct", len);
    let mut reads = Vec::new();
    for (b, api) in [Api::Pread64, Api::Preadv, Api::Read, Api::Aio, Api::Uring].into_iter().enumerate() {
        let b = b as u32;
        reads.push(rd(0, 0, api, 8192, 4096, b * 3));
        reads.push(rd(0, 0, api, 65_536, 16_384, b * 3));
        // Not aligned: the kernel refuses it, the run goes on.
        reads.push(rd(0, 0, api, 100, 4096, b * 3 + 1));
        reads.push(rd(0, 0, api, 4096, 1000, b * 3 + 2));
    }
    let p = plan(&[(&f, len)], &[(0, true)], vec![reads.clone()]);
    let rep = go(&p, &opts(Speed::Max, true));
    assert_eq!(rep.reads, reads.len() as u64);
    assert_eq!(rep.errors, 10);
    for (r, x) in reads.iter().zip(results_of(&rep)) {
        let want = if r.pos % 512 == 0 && r.count % 512 == 0 {
            i64::from(r.count)
        } else {
            -i64::from(libc::EINVAL)
        };
        assert_eq!(x.result, want, "{:?} at {} for {}", r.api, r.pos, r.count);
    }
}

/// Two threads, a read every 10 ms for 1 s each (offset by 5 ms).
fn paced_plan(f: &Path, len: u64) -> Plan {
    let threads = (0..2u64)
        .map(|t| {
            (0..=100u64)
                .map(|i| {
                    rd(
                        i * 10 * MS + t * 5 * MS * u64::from(i < 100),
                        0,
                        Api::Pread64,
                        (i * 4096) % len,
                        4096,
                        0,
                    )
                })
                .collect()
        })
        .collect();
    plan(&[(f, len)], &[(0, false)], threads)
}

/// Replays `p` with `o` and checks the run took the span divided by `factor` (within 2 %) with a
/// lag p99 under `max_p99` ns.
///
/// The box has two cores and is shared: the other tests of this crate run at the same time (some
/// write big files and drop caches), other builds too, and its host steals time. A worker that
/// does not get a core for a few ms misses its due times whatever the executor does, so a miss
/// is retried, after a pause that lets the other tests finish, before it fails the test.
fn keeps_time(p: &Plan, o: &ExecOptions, factor: f64, max_p99: u64) -> ExecReport {
    const ATTEMPTS: usize = 6;
    let want = p.span_ns() as f64 / factor;
    let mut misses = Vec::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(1));
        }
        let rep = go(p, o);
        assert!(rep.lag.timed);
        assert_eq!(rep.reads, p.reads() as u64);
        let d = rep.duration_ns as f64;
        if d >= want && d <= want * 1.02 && rep.lag.p99_ns < max_p99 {
            return rep;
        }
        let miss = format!("took {d} ns for {want} ns, lag {:?}", rep.lag);
        eprintln!("timing missed (attempt {}): {miss}", attempt + 1);
        misses.push(miss);
    }
    panic!("timing missed {ATTEMPTS} times: {misses:#?}");
}

#[test]
fn recorded_pace_is_kept() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 1 << 20;
    let f = pattern_file(dir.path(), "data", len);
    let p = paced_plan(&f, len);
    assert_eq!(p.span_ns(), 1000 * MS);
    let rep = keeps_time(&p, &opts(Speed::Scale(1.0), true), 1.0, MS);
    assert_order(&rep, 2);
    for x in results_of(&rep) {
        let at = p.threads[x.thread as usize].reads[x.index as usize].at_ns;
        assert!(x.start_ns >= at, "read started {} ns early", at - x.start_ns);
        assert_eq!(x.lag_ns, x.start_ns - at);
    }
}

#[test]
fn scale_two_halves_the_time() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 1 << 20;
    let f = pattern_file(dir.path(), "data", len);
    let p = paced_plan(&f, len);
    let rep = keeps_time(&p, &opts(Speed::Scale(2.0), false), 2.0, MS);
    assert!(rep.results.is_none());
}

#[test]
fn realtime_and_pure_sleep_runs_keep_time() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 1 << 20;
    let f = pattern_file(dir.path(), "data", len);
    let p = paced_plan(&f, len);
    keeps_time(&p, &ExecOptions { realtime: true, ..opts(Speed::Scale(4.0), false) }, 4.0, MS);
    // Sleeping all the way: each wake-up is some tens of µs late here, a few ms when the box is
    // busy, so only the pace and a looser bound are checked.
    let rep = keeps_time(&p, &ExecOptions { spin_ns: 0, ..opts(Speed::Scale(4.0), false) }, 4.0, 5 * MS);
    assert!(rep.lag.p50_ns < MS / 2, "lag {:?}", rep.lag);
}

#[test]
fn stop_ends_the_run_early() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 1 << 20;
    let f = pattern_file(dir.path(), "data", len);
    // Reads at 0 and 10 s, and async reads in flight: the stop must not wait 10 s.
    let t0 = vec![rd(0, 0, Api::Pread64, 0, 4096, 0), rd(10_000 * MS, 0, Api::Pread64, 0, 4096, 0)];
    let t1 = vec![
        rd(0, 0, Api::Uring, 0, 4096, 0),
        rd(0, 0, Api::Aio, 0, 4096, 1),
        rd(10_000 * MS, 0, Api::Aio, 0, 4096, 2),
    ];
    let p = plan(&[(&f, len)], &[(0, false)], vec![t0, t1]);
    let fds = open_streams(&p).unwrap();
    let stop = AtomicBool::new(false);
    let begin = std::time::Instant::now();
    let rep = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            stop.store(true, Ordering::Relaxed);
        });
        run(&p, &fds, &opts(Speed::Scale(1.0), false), &|_| {}, &stop).unwrap()
    });
    assert!(begin.elapsed() < Duration::from_secs(1), "took {:?}", begin.elapsed());
    assert!(rep.stopped);
    assert_eq!(rep.reads, 3);
    assert_eq!(rep.not_issued, 2);
    assert_eq!(rep.per_thread[0].not_issued, 1);
    assert_eq!(rep.per_thread[1].not_issued, 1);
}

#[test]
fn progress_is_reported() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 1 << 20;
    let f = pattern_file(dir.path(), "data", len);
    let reads: Vec<PlanRead> = (0..50u64).map(|i| rd(i * 10 * MS, 0, Api::Pread64, 0, 512, 0)).collect();
    let p = plan(&[(&f, len)], &[(0, false)], vec![reads]);
    let fds = open_streams(&p).unwrap();
    let calls = Mutex::new(Vec::new());
    let rep = run(
        &p,
        &fds,
        &opts(Speed::Scale(1.0), false),
        &|n| calls.lock().unwrap().push(n),
        &AtomicBool::new(false),
    )
    .unwrap();
    let calls = calls.into_inner().unwrap();
    assert_eq!(rep.reads, 50);
    assert_eq!(calls.last(), Some(&50));
    // About every 100 ms over half a second, counts never going back.
    assert!((4..=8).contains(&calls.len()), "{calls:?}");
    assert!(calls.windows(2).all(|w| w[0] <= w[1]), "{calls:?}");
    assert!(calls[calls.len() / 2] > 0 && calls[calls.len() / 2] < 50, "{calls:?}");
}

#[test]
fn a_read_past_the_end_is_short() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let len = 10_000;
    let f = pattern_file(dir.path(), "data", len);
    let reads = vec![
        rd(0, 0, Api::Pread64, len, 4096, 0),
        rd(0, 0, Api::Pread64, len + 1_000_000, 4096, 0),
        rd(0, 0, Api::Read, len - 100, 4096, 0),
        rd(0, 0, Api::Aio, len, 4096, 0),
        rd(0, 0, Api::Uring, len - 10, 4096, 0),
        rd(0, 0, Api::Preadv, 0, 4096, 0),
    ];
    let p = plan(&[(&f, len)], &[(0, false)], vec![reads]);
    let rep = go(&p, &opts(Speed::Max, true));
    let r: Vec<i64> = results_of(&rep).iter().map(|x| x.result).collect();
    assert_eq!(r, [0, 0, 100, 0, 10, 4096]);
    assert_eq!(rep.short_reads, 5);
    assert_eq!(rep.errors, 0);
    assert_eq!(rep.bytes, 4206);
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-file.ibd");
    let p = plan(&[(&missing, 0)], &[(0, false)], vec![vec![rd(0, 0, Api::Pread64, 0, 1, 0)]]);
    let e = open_streams(&p).unwrap_err();
    assert!(matches!(&e, ExecError::Open { path, .. } if path == &missing));
    let msg = e.to_string();
    assert!(msg.contains(&*missing.to_string_lossy()), "{msg}");
    assert!(msg.contains("No such file"), "{msg}");
}

#[test]
fn streams_are_opened_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let f = pattern_file(dir.path(), "data", 8192);
    let p = plan(&[(&f, 8192)], &[(0, false), (0, true)], vec![]);
    let fds = open_streams(&p).unwrap();
    for (fd, direct) in fds.iter().zip([false, true]) {
        // SAFETY: F_GETFL on a descriptor we own.
        let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(fl & libc::O_ACCMODE, libc::O_RDONLY);
        assert_eq!(fl & libc::O_DIRECT != 0, direct);
        // SAFETY: as above.
        let fdfl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert!(fdfl & libc::FD_CLOEXEC != 0);
    }
}

#[test]
fn bad_plans_and_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = pattern_file(dir.path(), "data", 8192);
    let good = plan(&[(&f, 8192)], &[(0, false)], vec![vec![rd(0, 0, Api::Pread64, 0, 1, 0)]]);
    let fds = open_streams(&good).unwrap();
    let stop = AtomicBool::new(false);
    let refused = |p: &Plan, fds: &[OwnedFd], o: &ExecOptions| {
        matches!(run(p, fds, o, &|_| {}, &stop), Err(ExecError::Invalid(_)))
    };
    let mut bad_stream = good.clone();
    bad_stream.threads[0].reads[0].stream = 3;
    assert!(refused(&bad_stream, &fds, &ExecOptions::default()));
    assert!(refused(&good, &[], &ExecOptions::default()));
    for speed in [Speed::Scale(0.0), Speed::Scale(-1.0), Speed::Scale(f64::NAN), Speed::Scale(f64::INFINITY)]
    {
        assert!(refused(&good, &fds, &opts(speed, false)));
    }
    assert!(refused(&good, &fds, &ExecOptions { queue_depth: 0, ..ExecOptions::default() }));
    assert!(refused(&good, &fds, &ExecOptions { spin_ns: 1 << 40, ..ExecOptions::default() }));
}

/// A worker that cannot set up stops the whole run before it starts, without hanging.
#[test]
fn a_setup_failure_aborts_every_worker() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let f = pattern_file(dir.path(), "data", 8192);
    // The system allows aio-max-nr AIO events in all (65536 by default): that many contexts of
    // 32768 cannot all be created.
    let max: u64 = std::fs::read_to_string("/proc/sys/fs/aio-max-nr").unwrap().trim().parse().unwrap();
    let threads = (max / 32_768 + 3) as usize;
    if threads > 16 {
        eprintln!("aio-max-nr is {max}: too high to exhaust in a test, skipped");
        return;
    }
    let reads = vec![rd(0, 0, Api::Pread64, 0, 512, 0), rd(0, 0, Api::Aio, 0, 512, 0)];
    let p = plan(&[(&f, 8192)], &[(0, false)], vec![reads; threads]);
    let fds = open_streams(&p).unwrap();
    let o = ExecOptions { queue_depth: 32_768, ..opts(Speed::Max, false) };
    let e = run(&p, &fds, &o, &|_| {}, &AtomicBool::new(false)).unwrap_err();
    assert!(matches!(e, ExecError::AioSetup { depth: 32_768, .. }), "{e}");
    assert!(e.to_string().contains("aio-max-nr"), "{e}");
}

#[test]
fn an_empty_plan_runs() {
    let rep = go(&Plan::default(), &ExecOptions::default());
    assert_eq!(rep.reads, 0);
    assert_eq!(rep.duration_ns, 0);
    let dir = tempfile::tempdir().unwrap();
    let f = pattern_file(dir.path(), "data", 10);
    let p = plan(&[(&f, 10)], &[(0, false)], vec![vec![], vec![]]);
    let rep = go(&p, &ExecOptions::default());
    assert_eq!(rep.per_thread.len(), 2);
    assert_eq!(rep.reads, 0);
}
