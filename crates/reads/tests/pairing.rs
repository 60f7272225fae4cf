//! Reads found chunk by chunk and stitched equal reads found by a plain serial walk over the
//! events, wherever the chunk boundaries fall; and the edge cases of what a read is.

use mysql_io_format::*;
use mysql_io_reads::{collect, Caused, FileKey, Read, ReadStats};
use proptest::prelude::*;
use std::collections::HashMap;

const DEV: u32 = 8 << 20;

/// What the generator writes: an event, or a chunk boundary.
#[derive(Debug, Clone)]
enum Step {
    Enter { tid: u32, ino: u64, ofd: u64, pos: i64 },
    Exit { tid: u32, ret: i64 },
    Whole { tid: u32, ino: u64, ofd: u64, pos: i64, ret: i64, latency: u64 },
    Insert { tid: u32, order: u32 },
    Trigger { tid: u32, async_: bool },
    AioSubmit { iocb: u64, ino: u64, write: bool },
    AioComplete { iocb: u64, res: i64 },
    UringSubmit { req: u64, ino: u64, opcode: u8 },
    UringComplete { req: u64, res: i32 },
    Open { tid: u32, ino: u64, ofd: u64 },
    Flush,
}

fn step() -> impl Strategy<Value = Step> {
    let tid = 1u32..4;
    let ino = 1u64..4;
    let ofd = 0u64..3;
    prop_oneof![
        (tid.clone(), ino.clone(), ofd.clone(), 0i64..64).prop_map(|(tid, ino, ofd, p)| Step::Enter {
            tid,
            ino,
            ofd,
            pos: p * 4096
        }),
        (tid.clone(), -5i64..9000).prop_map(|(tid, ret)| Step::Exit { tid, ret }),
        (tid.clone(), ino.clone(), ofd.clone(), 0i64..64, -5i64..5000, 0u64..2000).prop_map(
            |(tid, ino, ofd, p, ret, latency)| Step::Whole { tid, ino, ofd, pos: p * 4096, ret, latency }
        ),
        (tid.clone(), 0u32..3).prop_map(|(tid, order)| Step::Insert { tid, order }),
        (tid.clone(), any::<bool>()).prop_map(|(tid, async_)| Step::Trigger { tid, async_ }),
        (0u64..4, ino.clone(), any::<bool>()).prop_map(|(iocb, ino, write)| Step::AioSubmit {
            iocb,
            ino,
            write
        }),
        (0u64..4, -5i64..5000).prop_map(|(iocb, res)| Step::AioComplete { iocb, res }),
        (0u64..4, ino.clone(), prop_oneof![Just(22u8), Just(1), Just(23)])
            .prop_map(|(req, ino, opcode)| Step::UringSubmit { req, ino, opcode }),
        (0u64..4, -5i32..5000).prop_map(|(req, res)| Step::UringComplete { req, res }),
        (tid, ino, ofd).prop_map(|(tid, ino, ofd)| Step::Open { tid, ino, ofd }),
        Just(Step::Flush),
    ]
}

fn write(steps: &[Step], open_fds: &[OpenFd]) -> Vec<u8> {
    let mut w = Writer::new(
        Vec::new(),
        &Header::default(),
        WriterOptions { chunk_bytes: 1 << 20, ..Default::default() },
    )
    .expect("writer");
    for o in open_fds {
        w.write_metadata(&Metadata::OpenFd(o.clone())).expect("meta");
    }
    let file = |ino: u64, ofd: u64| FileRef { dev: DEV, ino, ofd, flags: 0 };
    for (n, s) in steps.iter().enumerate() {
        let ts = 1_000 + n as u64 * 100;
        let ev = |tid: u32, body: EventBody| Event { ts, pid: 7, tid, cpu: 0, body };
        let e = match *s {
            Step::Flush => {
                w.flush().expect("flush");
                continue;
            }
            Step::Enter { tid, ino, ofd, pos } => ev(
                tid,
                ReadEnter {
                    syscall: ReadSyscall::Pread64,
                    fd: 3 + ino as i32,
                    file: file(ino, ofd),
                    pos,
                    count: 4096,
                    iovcnt: 1,
                    rw_flags: 0,
                }
                .into(),
            ),
            Step::Exit { tid, ret } => ev(tid, ReadExit { syscall: ReadSyscall::Pread64, ret }.into()),
            Step::Insert { tid, order } => ev(tid, PageCacheAdd { dev: DEV, ino: 1, index: 0, order }.into()),
            Step::Trigger { tid, async_ } => ev(
                tid,
                ReadaheadTrigger {
                    trigger: if async_ { RaTrigger::Async } else { RaTrigger::Sync },
                    dev: DEV,
                    ino: 1,
                    ..Default::default()
                }
                .into(),
            ),
            Step::Whole { tid, ino, ofd, pos, ret, latency } => ev(
                tid,
                mysql_io_format::Read {
                    syscall: ReadSyscall::Read,
                    fd: 3 + ino as i32,
                    file: file(ino, ofd),
                    pos,
                    count: 4096,
                    ret,
                    latency_ns: latency,
                    ..Default::default()
                }
                .into(),
            ),
            Step::AioSubmit { iocb, ino, write } => ev(
                9,
                AioSubmit {
                    ctx: 1,
                    iocb,
                    data: 0,
                    opcode: if write { AioOpcode::Pwrite } else { AioOpcode::Pread },
                    fd: 3 + ino as i32,
                    file: file(ino, 0),
                    offset: 8192,
                    nbytes: 4096,
                }
                .into(),
            ),
            Step::AioComplete { iocb, res } => {
                ev(10, AioComplete { ctx: 1, iocb, data: 0, res, res2: 0 }.into())
            }
            Step::UringSubmit { req, ino, opcode } => ev(
                11,
                UringSubmit {
                    ring: 5,
                    req,
                    user_data: 0,
                    opcode,
                    fd: 3 + ino as i32,
                    file: file(ino, 0),
                    offset: 0,
                    len: 4096,
                    rw_flags: 0,
                }
                .into(),
            ),
            Step::UringComplete { req, res } => {
                ev(12, UringComplete { ring: 5, req, user_data: 0, res, cflags: 0 }.into())
            }
            Step::Open { tid, ino, ofd } => {
                ev(tid, FileOpen { fd: 3 + ino as i32, file: file(ino, ofd), path: String::new() }.into())
            }
        };
        w.push(&e).expect("push");
    }
    w.into_inner().expect("finish")
}

fn add(c: &mut Caused, d: Caused) {
    c.pages += d.pages;
    c.sync += d.sync;
    c.async_ += d.async_;
}

/// The reference: one walk over the events, a map of waiting starts, nothing else.
fn serial(trace: &Trace<'_>) -> (Vec<Read>, Vec<FileKey>, ReadStats) {
    #[derive(PartialEq, Eq, Hash, Clone, Copy)]
    enum K {
        S(u32),
        A(u64, u64),
        U(u64, u64),
    }
    let mut reads: Vec<Read> = Vec::new();
    let mut files: Vec<FileKey> = Vec::new();
    let mut streams: HashMap<(u64, u32, i32, u32), u32> = HashMap::new();
    let mut n_streams = 0u32;
    let mut waiting: HashMap<K, usize> = HashMap::new();
    let mut stats = ReadStats::default();
    // Per thread: what it did since its last read syscall event.
    let mut since: HashMap<u32, Vec<(u64, Caused)>> = HashMap::new();
    let file_id = |files: &mut Vec<FileKey>, f: &FileRef| -> u32 {
        let k = FileKey { dev: f.dev, ino: f.ino };
        match files.iter().position(|&x| x == k) {
            Some(i) => i as u32,
            None => {
                files.push(k);
                files.len() as u32 - 1
            }
        }
    };
    let mut stream = |pid: u32, fd: i32, f: &FileRef, file: u32, open: bool| -> u32 {
        let key = if f.ofd != 0 { (f.ofd, 0, 0, file) } else { (0, pid, fd, file) };
        match streams.get(&key) {
            Some(&s) if !open => s,
            _ => {
                streams.insert(key, n_streams);
                n_streams += 1;
                n_streams - 1
            }
        }
    };
    for o in trace.open_fds() {
        let f = FileRef { dev: o.dev, ino: o.ino, ofd: o.ofd, flags: o.flags };
        let id = file_id(&mut files, &f);
        stream(o.pid, o.fd, &f, id, false);
    }
    let mut complete =
        |reads: &mut Vec<Read>, waiting: &mut HashMap<K, usize>, k: K, ts: u64, res: i64| match waiting
            .remove(&k)
        {
            Some(i) => {
                reads[i].end_ts = Some(ts);
                reads[i].result = Some(res);
            }
            None => stats.unmatched_completions += 1,
        };
    for e in trace.events() {
        let e = e.expect("event");
        let start =
            |reads: &mut Vec<Read>, api: u8, fd: i32, f: &FileRef, pos: i64, count: u64, file, stream| {
                reads.push(Read {
                    seq: reads.len() as u64,
                    start_ts: e.ts,
                    end_ts: None,
                    pid: e.pid,
                    tid: e.tid,
                    api,
                    fd,
                    ofd: f.ofd,
                    stream,
                    file,
                    direct: f.is_direct(),
                    pos,
                    count,
                    result: None,
                    caused: Caused::default(),
                });
                reads.len() - 1
            };
        let mut wait = |waiting: &mut HashMap<K, usize>, k: K, i: usize| {
            if waiting.insert(k, i).is_some() {
                stats.superseded += 1;
            }
        };
        match &e.body {
            EventBody::PageCacheAdd(a) => {
                let did = Caused { pages: 1 << a.order, ..Caused::default() };
                match waiting.get(&K::S(e.tid)) {
                    Some(&i) => add(&mut reads[i].caused, did),
                    None => since.entry(e.tid).or_default().push((e.ts, did)),
                }
            }
            EventBody::ReadaheadTrigger(t) => {
                let did = if t.trigger == RaTrigger::Async {
                    Caused { async_: 1, ..Caused::default() }
                } else {
                    Caused { sync: 1, ..Caused::default() }
                };
                match waiting.get(&K::S(e.tid)) {
                    Some(&i) => add(&mut reads[i].caused, did),
                    None => since.entry(e.tid).or_default().push((e.ts, did)),
                }
            }
            EventBody::ReadEnter(r) => {
                since.remove(&e.tid);
                let file = file_id(&mut files, &r.file);
                let s = stream(e.pid, r.fd, &r.file, file, false);
                let i = start(&mut reads, r.syscall.code(), r.fd, &r.file, r.pos, r.count, file, s);
                wait(&mut waiting, K::S(e.tid), i);
            }
            EventBody::ReadExit(r) => {
                since.remove(&e.tid);
                complete(&mut reads, &mut waiting, K::S(e.tid), e.ts, r.ret)
            }
            EventBody::Read(r) => {
                let file = file_id(&mut files, &r.file);
                let s = stream(e.pid, r.fd, &r.file, file, false);
                let i = start(&mut reads, r.syscall.code(), r.fd, &r.file, r.pos, r.count, file, s);
                reads[i].start_ts = e.ts.saturating_sub(r.latency_ns);
                reads[i].end_ts = Some(e.ts);
                reads[i].result = Some(r.ret);
                for (when, did) in since.remove(&e.tid).unwrap_or_default() {
                    if when >= reads[i].start_ts {
                        add(&mut reads[i].caused, did);
                    }
                }
            }
            EventBody::AioSubmit(a) => {
                if a.opcode == AioOpcode::Pread || a.opcode == AioOpcode::Preadv {
                    let file = file_id(&mut files, &a.file);
                    let s = stream(e.pid, a.fd, &a.file, file, false);
                    let i = start(&mut reads, 5, a.fd, &a.file, a.offset, a.nbytes, file, s);
                    wait(&mut waiting, K::A(a.ctx, a.iocb), i);
                } else {
                    stats.not_reads += 1;
                }
            }
            EventBody::AioComplete(a) => complete(&mut reads, &mut waiting, K::A(a.ctx, a.iocb), e.ts, a.res),
            EventBody::UringSubmit(u) => {
                if [1, 4, 22].contains(&u.opcode) {
                    let file = file_id(&mut files, &u.file);
                    let s = stream(e.pid, u.fd, &u.file, file, false);
                    let i = start(&mut reads, 6, u.fd, &u.file, u.offset, u64::from(u.len), file, s);
                    wait(&mut waiting, K::U(u.ring, u.req), i);
                } else {
                    stats.not_reads += 1;
                }
            }
            EventBody::UringComplete(u) => {
                complete(&mut reads, &mut waiting, K::U(u.ring, u.req), e.ts, i64::from(u.res))
            }
            EventBody::FileOpen(o) => {
                let file = file_id(&mut files, &o.file);
                stream(e.pid, o.fd, &o.file, file, true);
            }
            _ => {}
        }
    }
    stats.reads = reads.len() as u64;
    stats.failed = reads.iter().filter(|r| r.failed()).count() as u64;
    stats.direct = reads.iter().filter(|r| r.direct).count() as u64;
    stats.unfinished = reads.iter().filter(|r| r.end_ts.is_none()).count() as u64;
    (reads, files, stats)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn stitched_pairing_equals_serial_pairing(
        steps in proptest::collection::vec(step(), 1..120),
        whole in any::<bool>(),
    ) {
        // A trace has read syscalls as `read` events (format 2.1) or as entry/exit pairs, never
        // both: a thread is in one syscall at a time, which is what attribution relies on.
        let steps: Vec<Step> = steps
            .into_iter()
            .filter(|s| match s {
                Step::Enter { .. } | Step::Exit { .. } => !whole,
                Step::Whole { .. } => whole,
                _ => true,
            })
            .collect();
        let open_fds = [OpenFd { pid: 7, fd: 4, dev: DEV, ino: 1, ofd: 1, flags: 0, pos: 0 }];
        let bytes = write(&steps, &open_fds);
        let trace = Trace::parse(&bytes).expect("parse");
        let (reads, fin, damaged) = collect(&trace);
        prop_assert!(damaged.is_empty());
        let (want, files, stats) = serial(&trace);
        prop_assert_eq!(&reads, &want);
        prop_assert_eq!(&fin.files, &files);
        prop_assert_eq!(fin.stats, stats);
        let unfinished: Vec<u64> =
            want.iter().filter(|r| r.end_ts.is_none()).map(|r| r.seq).collect();
        // `finish` lists only the reads still waiting; superseded ones were reported on the way.
        prop_assert_eq!(fin.unfinished.len() as u64 + fin.stats.superseded, unfinished.len() as u64);
    }
}

#[test]
fn the_edge_cases_of_a_read() {
    use Step::*;
    let steps = [
        // A failed read, a short read, an end-of-file read.
        Enter { tid: 1, ino: 1, ofd: 1, pos: 0 },
        Exit { tid: 1, ret: -5 },
        Whole { tid: 2, ino: 1, ofd: 1, pos: 4096, ret: 100, latency: 50 },
        Whole { tid: 2, ino: 1, ofd: 1, pos: 1 << 30, ret: 0, latency: 50 },
        // The exit of this read is lost: the next start supersedes it, across a chunk boundary.
        Enter { tid: 3, ino: 2, ofd: 2, pos: 0 },
        Flush,
        Enter { tid: 3, ino: 2, ofd: 2, pos: 8192 },
        Exit { tid: 3, ret: 4096 },
        // An AIO write is not a read; its completion matches nothing.
        AioSubmit { iocb: 1, ino: 3, write: true },
        AioComplete { iocb: 1, res: 4096 },
        // The same description id on another file, and reopened: three streams.
        Open { tid: 1, ino: 3, ofd: 2 },
        Whole { tid: 1, ino: 3, ofd: 2, pos: 0, ret: 4096, latency: 50 },
        Open { tid: 1, ino: 3, ofd: 2 },
        Whole { tid: 1, ino: 3, ofd: 2, pos: 0, ret: 4096, latency: 50 },
        // Still running at the end.
        UringSubmit { req: 1, ino: 1, opcode: 22 },
    ];
    let bytes = write(&steps, &[]);
    let trace = Trace::parse(&bytes).expect("parse");
    assert_eq!(trace.chunks().len(), 2);
    let (reads, fin, _) = collect(&trace);
    let got: Vec<(Option<i64>, Option<u64>, u32)> =
        reads.iter().map(|r| (r.result, r.copied(), r.stream)).collect();
    assert_eq!(
        got,
        [
            (Some(-5), Some(0), 0),
            (Some(100), Some(100), 0),
            (Some(0), Some(0), 0),
            (None, None, 1),
            (Some(4096), Some(4096), 1),
            (Some(4096), Some(4096), 2),
            (Some(4096), Some(4096), 3),
            (None, None, 4),
        ]
    );
    assert_eq!(
        fin.stats,
        ReadStats {
            reads: 8,
            direct: 0,
            failed: 1,
            unfinished: 2,
            superseded: 1,
            unresolved: 0,
            unmatched_completions: 1,
            not_reads: 1,
        }
    );
    assert_eq!(fin.unfinished, [7]);
    // ofd 1 on ino 1, ofd 2 on ino 2, ofd 2 opened on ino 3 and reopened, the ring's fd.
    assert_eq!(fin.streams.len(), 5);
}
