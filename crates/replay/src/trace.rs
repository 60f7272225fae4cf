//! A trace's reads as a [`Plan`]: every read `mysql_io_reads` finds, on the thread that issued
//! it, through the description it used, at its recorded start time.

use std::path::PathBuf;

use mysql_io_format::Trace;
use mysql_io_reads::{collect, Read, APIS, API_AIO, API_URING};
use rustc_hash::FxHashMap;

use crate::plan::{Api, Plan, PlanFile, PlanRead, PlanStream, ThreadPlan};

/// AIO or io_uring reads of one thread that start this close together were submitted by one
/// call (the recorder stamps each request of a call as it walks them).
const BATCH_GAP_NS: u64 = 20_000;

/// What a trace gives replay.
#[derive(Debug, Clone, Default)]
pub struct TracePlan {
    /// The plan, with the *recorded* paths in [`PlanFile::path`] (map them before running).
    pub plan: Plan,
    /// Start of the first replayed read (trace clock, ns).
    pub t0: u64,
    /// End of the last replayed read (ns after `t0`): the recording's duration for them.
    pub span_ns: u64,
    /// Reads in the trace.
    pub reads: u64,
    /// Reads left out because they failed when recorded (a negative result).
    pub failed: u64,
    /// Reads left out because the recorder could not resolve their file.
    pub unresolved: u64,
    /// Reads left out because their file has no recorded path.
    pub no_path: u64,
    /// Reads that had not completed when the trace ended (replayed all the same).
    pub unfinished: u64,
    /// Reads per API name.
    pub apis: Vec<(&'static str, u64)>,
    /// Chunks that could not be decoded.
    pub damaged: Vec<String>,
}

fn api_of(code: u8) -> Api {
    match code {
        0 => Api::Read,
        1 => Api::Pread64,
        2 => Api::Readv,
        3 => Api::Preadv,
        4 => Api::Preadv2,
        API_AIO => Api::Aio,
        API_URING => Api::Uring,
        _ => Api::Pread64,
    }
}

/// Builds the plan of `trace`.
pub fn plan_of(trace: &Trace<'_>) -> TracePlan {
    let (reads, fin, damaged) = collect(trace);
    let paths: FxHashMap<(u32, u64), (&str, u64)> =
        trace.files().iter().map(|f| ((f.dev, f.ino), (f.path.as_str(), f.size))).collect();
    let mut out = TracePlan { reads: reads.len() as u64, damaged, ..TracePlan::default() };

    // Which reads to replay.
    let keep: Vec<&Read> = reads
        .iter()
        .filter(|r| {
            let key = fin.files[r.file as usize];
            if key.is_unresolved() {
                out.unresolved += 1;
                return false;
            }
            if paths.get(&(key.dev, key.ino)).is_none_or(|(p, _)| p.is_empty()) {
                out.no_path += 1;
                return false;
            }
            if r.failed() {
                out.failed += 1;
                return false;
            }
            out.unfinished += u64::from(r.result.is_none());
            true
        })
        .collect();
    let Some(t0) = keep.iter().map(|r| r.start_ts).min() else { return out };
    out.t0 = t0;
    out.span_ns = keep.iter().map(|r| r.end_ts.unwrap_or(r.start_ts).saturating_sub(t0)).max().unwrap_or(0);

    // Files and streams, numbered in order of first use.
    let mut files: FxHashMap<u32, u32> = FxHashMap::default();
    let mut streams: FxHashMap<u32, u32> = FxHashMap::default();
    let mut plan = Plan::default();
    let mut threads: FxHashMap<u32, usize> = FxHashMap::default();
    let mut apis = [0u64; 7];
    for r in &keep {
        let file = *files.entry(r.file).or_insert_with(|| {
            let key = fin.files[r.file as usize];
            let (path, size) = paths[&(key.dev, key.ino)];
            plan.files.push(PlanFile { path: PathBuf::from(path), size });
            (plan.files.len() - 1) as u32
        });
        // A file's size: as recorded, or as far as the reads went when that is further.
        let end = r.pos.max(0) as u64 + r.copied().unwrap_or(r.count);
        let f = &mut plan.files[file as usize];
        if f.size == 0 {
            f.size = end;
        }
        let stream = *streams.entry(r.stream).or_insert_with(|| {
            plan.streams.push(PlanStream { file, direct: false });
            (plan.streams.len() - 1) as u32
        });
        plan.streams[stream as usize].direct |= r.direct;
        let t = *threads.entry(r.tid).or_insert_with(|| {
            plan.threads.push(ThreadPlan { tid: r.tid, reads: Vec::new() });
            plan.threads.len() - 1
        });
        apis[(r.api as usize).min(6)] += 1;
        plan.threads[t].reads.push(PlanRead {
            at_ns: r.start_ts - t0,
            stream,
            api: api_of(r.api),
            pos: r.pos.max(0) as u64,
            count: r.count.min(u64::from(u32::MAX)) as u32,
            batch: 0,
        });
    }
    for t in &mut plan.threads {
        // Recorded order: by start, ties in file order (the sort is stable).
        t.reads.sort_by_key(|r| r.at_ns);
        let mut batch = 0u32;
        for i in 1..t.reads.len() {
            let (prev, cur) = (t.reads[i - 1], t.reads[i]);
            let queued = matches!(cur.api, Api::Aio | Api::Uring);
            if !(queued && cur.api == prev.api && cur.at_ns - prev.at_ns <= BATCH_GAP_NS) {
                batch += 1;
            }
            t.reads[i].batch = batch;
        }
    }
    out.apis = APIS.iter().zip(apis).filter(|(_, n)| *n > 0).map(|(a, n)| (*a, n)).collect();
    out.plan = plan;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_io_format::*;

    #[test]
    fn threads_streams_batches_and_what_is_left_out() {
        let mut w = Writer::new(Vec::new(), &Header::default(), WriterOptions::default()).expect("writer");
        for (ino, path) in [(1u64, "/data/a.ibd"), (2, "/data/b.ibd"), (3, "")] {
            let f = FileInfo { dev: 8, ino, path: path.into(), size: 1 << 20, ..FileInfo::default() };
            w.write_metadata(&Metadata::File(f)).expect("meta");
        }
        let file = |ino: u64, ofd: u64| FileRef { dev: 8, ino, ofd, flags: 0 };
        let read = |ts: u64, tid: u32, ino: u64, pos: i64, ret: i64| Event {
            ts,
            pid: 1,
            tid,
            cpu: 0,
            body: mysql_io_format::Read {
                syscall: ReadSyscall::Pread64,
                fd: 3,
                file: file(ino, 10 + ino),
                pos,
                count: 4096,
                ret,
                latency_ns: 1000,
                ..Default::default()
            }
            .into(),
        };
        let aio = |ts: u64, iocb: u64| Event {
            ts,
            pid: 1,
            tid: 9,
            cpu: 0,
            body: AioSubmit {
                ctx: 1,
                iocb,
                data: 0,
                opcode: AioOpcode::Pread,
                fd: 4,
                file: file(2, 12),
                offset: iocb as i64 * 16384,
                nbytes: 16384,
            }
            .into(),
        };
        for e in [
            read(10_000, 1, 1, 0, 4096),
            read(20_000, 2, 1, 4096, 4096),
            read(30_000, 1, 1, 8192, -14), // failed
            read(40_000, 1, 3, 0, 4096),   // no path
            aio(50_000, 1),
            aio(51_000, 2),
            aio(900_000, 3),
        ] {
            w.push(&e).expect("push");
        }
        let bytes = w.into_inner().expect("finish");
        let t = Trace::parse(&bytes).expect("parse");
        let p = plan_of(&t);
        assert_eq!((p.reads, p.failed, p.no_path, p.unfinished), (7, 1, 1, 3));
        assert_eq!(p.t0, 9_000);
        let tids: Vec<u32> = p.plan.threads.iter().map(|t| t.tid).collect();
        assert_eq!(tids, [1, 2, 9]);
        // Two threads share ofd 11 (one stream); the AIO reads use ofd 12.
        assert_eq!(p.plan.streams.len(), 2);
        assert_eq!(p.plan.threads[1].reads[0].stream, 0);
        let aio: Vec<(u64, u32, Api)> =
            p.plan.threads[2].reads.iter().map(|r| (r.at_ns, r.batch, r.api)).collect();
        assert_eq!(aio, [(41_000, 0, Api::Aio), (42_000, 0, Api::Aio), (891_000, 1, Api::Aio)]);
        assert_eq!(p.plan.files[0].path, PathBuf::from("/data/a.ibd"));
        assert_eq!(p.apis, [("pread64", 2), ("aio", 3)]);
    }
}
