//! Analyses of generated traces whose answers are known exactly: sequential, reverse, strided,
//! random, two interleaved streams on one open file description and on two, a file read by
//! several threads; pairing across chunks; readahead used and wasted.

use mysql_io_analyzer::readahead::readahead;
use mysql_io_analyzer::seq::{sequentiality, GroupBy, SeqRow};
use mysql_io_analyzer::{load, tables, Filter};
use mysql_io_format::*;

const KB: i64 = 1024;
const DEV: u32 = 8 << 20;

/// Builds a trace from `(tid, ofd, ino, offset, len)` reads (syscall enter and exit, 1 us apart,
/// 10 us between reads), written in small chunks so that pairs straddle chunk boundaries.
fn trace_of(reads: &[(u32, u64, u64, i64, u64)]) -> Vec<u8> {
    let mut w = Writer::new(
        Vec::new(),
        &Header::default(),
        WriterOptions { chunk_bytes: 200, ..WriterOptions::default() },
    )
    .expect("writer");
    let mut inos: Vec<u64> = reads.iter().map(|r| r.2).collect();
    inos.sort_unstable();
    inos.dedup();
    for ino in inos {
        let path = format!("/data/db{}/t{ino}.ibd", ino % 2);
        w.write_metadata(&Metadata::File(FileInfo { dev: DEV, ino, path, ..FileInfo::default() }))
            .expect("meta");
    }
    for tid in [1u32, 2, 3] {
        let t = ThreadInfo { pid: 1, tid, comm: format!("worker-{tid}"), ..ThreadInfo::default() };
        w.write_metadata(&Metadata::Thread(t)).expect("meta");
    }
    let mut ts = 1_000_000u64;
    for (n, &(tid, ofd, ino, pos, count)) in reads.iter().enumerate() {
        // An odd number of events per chunk: enters and exits fall on both sides of boundaries.
        if n % 7 == 3 {
            w.flush().expect("flush");
        }
        let file = FileRef { dev: DEV, ino, ofd, flags: 0 };
        let enter =
            ReadEnter { syscall: ReadSyscall::Pread64, fd: 3, file, pos, count, iovcnt: 1, rw_flags: 0 };
        w.push(&Event { ts, pid: 1, tid, cpu: 0, body: enter.into() }).expect("push");
        let exit = ReadExit { syscall: ReadSyscall::Pread64, ret: count as i64 };
        w.push(&Event { ts: ts + 1000, pid: 1, tid, cpu: 0, body: exit.into() }).expect("push");
        ts += 10_000;
    }
    w.into_inner().expect("finish")
}

fn analyze(bytes: &[u8], by: GroupBy) -> (SeqRow, Vec<SeqRow>) {
    let t = Trace::parse(bytes).expect("parse");
    assert!(t.chunks().len() >= 2, "the test wants pairs across chunks");
    let ds = load(&t, &Filter::default()).expect("load");
    let r = sequentiality(&ds, by).expect("seq");
    (r.total, r.rows)
}

fn hist(row: &SeqRow, jump: bool) -> Vec<(&'static str, u64)> {
    let h = if jump { &row.jump_histogram } else { &row.run_length_histogram };
    h.iter().filter(|b| b.count > 0).map(|b| (b.bucket, b.count)).collect()
}

fn assert_ratios(r: &SeqRow, seq: f64, near: f64, reverse: f64) {
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(r.seq_ratio, seq), "seq {} != {seq}", r.seq_ratio);
    assert!(close(r.near_seq_ratio, near), "near {} != {near}", r.near_seq_ratio);
    assert!(close(r.reverse_ratio, reverse), "reverse {} != {reverse}", r.reverse_ratio);
    assert!(close(r.random_ratio, 1.0 - near - reverse), "random {}", r.random_ratio);
}

#[test]
fn sequential() {
    let reads: Vec<_> = (0..100).map(|i| (1, 7, 10, i * 16 * KB, 16384)).collect();
    let (t, _) = analyze(&trace_of(&reads), GroupBy::File);
    assert_eq!((t.reads, t.bytes, t.pages), (100, 100 * 16384, 400));
    assert_ratios(&t, 0.99, 0.99, 0.0);
    assert_eq!(hist(&t, true), [("first", 1), ("0", 99)]);
    assert_eq!(hist(&t, false), [(">64", 1)]);
}

#[test]
fn reverse() {
    let reads: Vec<_> = (0..100).rev().map(|i| (1, 7, 10, i * 16 * KB, 16384)).collect();
    let (t, _) = analyze(&trace_of(&reads), GroupBy::File);
    assert_ratios(&t, 0.0, 0.0, 0.99);
    // Each read starts 32 KiB before the previous one's end.
    assert_eq!(hist(&t, true), [("first", 1), ("-64K..-4K", 99)]);
    assert_eq!(hist(&t, false), [("1", 100)]);
}

#[test]
fn strided_near_and_far() {
    // 16 KiB reads every 32 KiB: 16 KiB gaps, near-sequential but not sequential.
    let near: Vec<_> = (0..50).map(|i| (1, 7, 10, i * 32 * KB, 16384)).collect();
    let (t, _) = analyze(&trace_of(&near), GroupBy::File);
    assert_ratios(&t, 0.0, 49.0 / 50.0, 0.0);
    assert_eq!(hist(&t, true), [("first", 1), ("4K..64K", 49)]);
    // Every 1 MiB: random.
    let far: Vec<_> = (0..50).map(|i| (1, 7, 10, i * 1024 * KB, 16384)).collect();
    let (t, _) = analyze(&trace_of(&far), GroupBy::File);
    assert_ratios(&t, 0.0, 0.0, 0.0);
    assert_eq!(hist(&t, true), [("first", 1), ("64K..1M", 49)]);
}

#[test]
fn random() {
    let offsets = [40 * 1024, 3 * 1024, 77 * 1024, 12 * 1024, 500 * 1024, 90 * 1024, 1, 250 * 1024];
    let reads: Vec<_> = offsets.iter().map(|&o| (1, 7, 10, o * KB, 16384)).collect();
    let (t, _) = analyze(&trace_of(&reads), GroupBy::File);
    assert_ratios(&t, 0.0, 0.0, 0.0);
    assert_eq!(hist(&t, false), [("1", 8)]);
}

#[test]
fn two_streams_on_one_description_interleave_and_are_not_sequential() {
    // Two sequential scans through one shared description, alternating: each read follows the
    // other scan's read, as the kernel's readahead state sees it.
    let mut reads = Vec::new();
    for i in 0..40 {
        reads.push((1, 7, 10, i * 16 * KB, 16384));
        reads.push((2, 7, 10, 100 * 1024 * KB + i * 16 * KB, 16384));
    }
    let (t, _) = analyze(&trace_of(&reads), GroupBy::File);
    assert_ratios(&t, 0.0, 0.0, 0.0);
    // The same reads through two descriptions are two sequential streams.
    let two: Vec<_> =
        reads.iter().map(|&(tid, _, ino, pos, len)| (tid, u64::from(tid), ino, pos, len)).collect();
    let (t, rows) = analyze(&trace_of(&two), GroupBy::Ofd);
    assert_ratios(&t, 78.0 / 80.0, 78.0 / 80.0, 0.0);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.reads == 40 && (r.seq_ratio - 39.0 / 40.0).abs() < 1e-12));
    assert_eq!(hist(&t, false), [("33-64", 2)]);
}

#[test]
fn a_file_read_by_several_threads() {
    // Three threads take turns reading one file sequentially through one description.
    let reads: Vec<_> = (0..90).map(|i| (1 + (i % 3) as u32, 7, 10, i * 16 * KB, 16384)).collect();
    let bytes = trace_of(&reads);
    let (t, _) = analyze(&bytes, GroupBy::File);
    assert_ratios(&t, 89.0 / 90.0, 89.0 / 90.0, 0.0);
    let (_, by_thread) = analyze(&bytes, GroupBy::Thread);
    assert_eq!(by_thread.len(), 3);
    for r in &by_thread {
        assert_eq!(r.reads, 30);
        assert!(r.group.starts_with("tid ") && r.group.contains("(worker-"), "{}", r.group);
    }
    // Every thread's reads continue another thread's: runs, which split where the group changes,
    // are one read long per thread.
    assert!(by_thread.iter().all(|r| hist(r, false) == [("1", 30)]));
    let (_, by_role) = analyze(&bytes, GroupBy::Role);
    assert_eq!(by_role.len(), 1);
    assert_eq!(by_role[0].group, "worker");
    // By table: both databases' files fold into tables.
    let (_, by_table) = analyze(&bytes, GroupBy::Table);
    assert_eq!(by_table[0].group, "db0.t10");
}

#[test]
fn latency_and_pairing_across_chunks_and_filters() {
    let reads: Vec<_> =
        (0..60).map(|i| (1 + (i % 2) as u32, 7, 10 + (i % 2) as u64, i * 16 * KB, 4096)).collect();
    let bytes = trace_of(&reads);
    let t = Trace::parse(&bytes).expect("parse");
    let ds = load(&t, &Filter::default()).expect("load");
    assert_eq!(ds.reads.height(), 60);
    let lat = ds.reads.column("latency_ns").expect("col").u64().expect("u64");
    assert_eq!(lat.null_count(), 0);
    assert!(lat.iter().all(|l| l == Some(1000)));
    let f = tables::threads(&ds).expect("threads");
    assert_eq!(f.threads.len(), 2);
    assert!(f.threads.iter().all(|r| (r.mean_latency_us - 1.0).abs() < 1e-9 && r.apis["pread64"] == 30));
    // Filters: a time window of the reads 10..20 and one file.
    let window = Filter {
        since: Some(std::time::Duration::from_micros(100)),
        until: Some(std::time::Duration::from_micros(200)),
        file: None,
    };
    assert_eq!(load(&t, &window).expect("load").reads.height(), 10);
    let one = Filter { file: Some("t11*".into()), ..Filter::default() };
    assert_eq!(load(&t, &one).expect("load").reads.height(), 30);
    let bad = Filter { file: Some("[".into()), ..Filter::default() };
    assert!(load(&t, &bad).is_err());
}

/// Events of a buffered read with the kernel's 6.18 order: enter, readahead inserts, the lookup
/// (reported once done), exit.
fn read_events(ts: &mut u64, tid: u32, ino: u64, first_page: u64, pages: u64, inserts: &[u64]) -> Vec<Event> {
    let mut v = Vec::new();
    let mut at = |body: EventBody| {
        *ts += 100;
        v.push(Event { ts: *ts, pid: 1, tid, cpu: 0, body });
    };
    let file = FileRef { dev: DEV, ino, ofd: 1, flags: 0 };
    let pos = (first_page * 4096) as i64;
    let count = pages * 4096;
    at(ReadEnter { syscall: ReadSyscall::Pread64, fd: 3, file, pos, count, iovcnt: 1, rw_flags: 0 }.into());
    for &p in inserts {
        at(PageCacheAdd { dev: DEV, ino, index: p, order: 0 }.into());
    }
    at(FilemapGetPages { dev: DEV, ino, index: first_page, last_index: first_page + pages - 1 }.into());
    at(ReadExit { syscall: ReadSyscall::Pread64, ret: count as i64 }.into());
    v
}

#[test]
fn readahead_used_evicted_and_unused() {
    let mut ts = 1000;
    let mut events = Vec::new();
    // Read pages 0-3; the kernel inserts 0-15 (4 demand, 12 read ahead).
    events.extend(read_events(&mut ts, 1, 10, 0, 4, &(0..16).collect::<Vec<_>>()));
    // Read 4-7: cached read-ahead pages, used.
    events.extend(read_events(&mut ts, 1, 10, 4, 4, &[]));
    // kswapd evicts 8-11 before anyone reads them.
    for p in 8..12 {
        ts += 100;
        events.push(Event {
            ts,
            pid: 9,
            tid: 9,
            cpu: 1,
            body: PageCacheDelete { dev: DEV, ino: 10, index: p, order: 0 }.into(),
        });
    }
    // Read 20-23 from another thread: all four missing, no readahead.
    events.extend(read_events(&mut ts, 2, 10, 20, 4, &[20, 21, 22, 23]));
    // An io_uring worker: inserts then its lookup (no syscall of its own): demand.
    ts += 100;
    events.push(Event {
        ts,
        pid: 1,
        tid: 3,
        cpu: 0,
        body: PageCacheAdd { dev: DEV, ino: 10, index: 40, order: 2 }.into(),
    });
    ts += 100;
    events.push(Event {
        ts,
        pid: 1,
        tid: 3,
        cpu: 0,
        body: FilemapGetPages { dev: DEV, ino: 10, index: 40, last_index: 43 }.into(),
    });

    let mut w = Writer::new(
        Vec::new(),
        &Header::default(),
        WriterOptions { chunk_bytes: 100, ..WriterOptions::default() },
    )
    .expect("writer");
    w.write_metadata(&Metadata::File(FileInfo {
        dev: DEV,
        ino: 10,
        path: "/d/s/t.ibd".into(),
        ..FileInfo::default()
    }))
    .expect("meta");
    for (n, e) in events.iter().enumerate() {
        if n % 5 == 4 {
            w.flush().expect("flush");
        }
        w.push(e).expect("push");
    }
    let bytes = w.into_inner().expect("finish");
    let t = Trace::parse(&bytes).expect("parse");
    assert!(t.chunks().len() > 5);
    let r = readahead(&t, &Filter::default()).expect("readahead");
    let f = &r.files[0];
    assert_eq!(f.file, "/d/s/t.ibd");
    assert_eq!(f.pages_read_ahead, 12, "{f:?}");
    assert_eq!(f.used, 4, "{f:?}");
    assert_eq!(f.evicted_unused, 4, "{f:?}");
    assert_eq!(f.unused_at_end, 4, "{f:?}");
    assert_eq!(f.wasted, 8);
    assert_eq!(f.pages_requested, 16, "{f:?}");
    assert_eq!(f.demand_inserts, 4 + 4 + 4, "{f:?}");
    assert!((f.hit_ratio - 0.25).abs() < 1e-12, "{f:?}");
    assert_eq!(r.total.pages_read_ahead, 12);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}
