//! Analyses of generated traces whose answers are known exactly: sequential, reverse, strided,
//! random, two interleaved streams on one open file description and on two, a file read by
//! several threads; pairing across chunks; readahead used and wasted. And the export: the header
//! tables of a real recording read back in both formats, and every column written documented.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mysql_io_analyzer::export::{export, ExportFormat, Exported};
use mysql_io_analyzer::fleet::export_partition;
use mysql_io_analyzer::polars::prelude::{
    ChunkAgg, CsvReadOptions, DataFrame, DataType, ParquetReader, SerReader,
};
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

/// The nearest-rank percentile of `latencies` in microseconds: the smallest value that at least
/// `percent`% of them do not exceed.
fn nearest_rank_us(latencies: &[u64], percent: usize) -> f64 {
    let mut v = latencies.to_vec();
    v.sort_unstable();
    let rank = (percent * v.len()).div_ceil(100).max(1);
    v[rank - 1] as f64 / 1000.0
}

fn assert_close(got: Option<f64>, want: f64, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: no percentile"));
    assert!((got - want).abs() <= want / 64.0, "{what}: {got} us, exactly {want} us");
}

#[test]
fn latency_percentiles_per_file_thread_and_role() {
    // Thread 1 reads file 10 in 1..=100 us (in a scrambled order), thread 2 reads it in 1 ms
    // each, thread 3 starts one read of file 11 that is still running when the trace ends.
    // Thread 2's tid is beyond Linux's (2^22), where threads are looked up another way.
    let two = 9_000_000u32;
    let fast: Vec<u64> = (0..100u64).map(|i| ((i * 37) % 100 + 1) * 1000).collect();
    let slow = vec![1_000_000u64; 100];
    let mut w = Writer::new(
        Vec::new(),
        &Header::default(),
        WriterOptions { chunk_bytes: 300, ..WriterOptions::default() },
    )
    .expect("writer");
    for ino in [10u64, 11] {
        let path = format!("/data/db/t{ino}.ibd");
        w.write_metadata(&Metadata::File(FileInfo { dev: DEV, ino, path, ..FileInfo::default() }))
            .expect("meta");
    }
    for tid in [1u32, two, 3] {
        let t = ThreadInfo { pid: 1, tid, comm: format!("worker-{tid}"), ..ThreadInfo::default() };
        w.write_metadata(&Metadata::Thread(t)).expect("meta");
    }
    let mut ts = 1_000_000u64;
    let mut read = |w: &mut Writer<Vec<u8>>, tid: u32, ino: u64, latency: Option<u64>| {
        let file = FileRef { dev: DEV, ino, ofd: u64::from(tid), flags: 0 };
        let enter = ReadEnter {
            syscall: ReadSyscall::Pread64,
            fd: 3,
            file,
            pos: 0,
            count: 4096,
            iovcnt: 1,
            rw_flags: 0,
        };
        w.push(&Event { ts, pid: 1, tid, cpu: 0, body: enter.into() }).expect("push");
        if let Some(l) = latency {
            let exit = ReadExit { syscall: ReadSyscall::Pread64, ret: 4096 };
            w.push(&Event { ts: ts + l, pid: 1, tid, cpu: 0, body: exit.into() }).expect("push");
        }
        ts += 2_000_000;
    };
    for (&f, &s) in fast.iter().zip(&slow) {
        read(&mut w, 1, 10, Some(f));
        read(&mut w, two, 10, Some(s));
    }
    read(&mut w, 3, 11, None);
    let bytes = w.into_inner().expect("finish");
    let t = Trace::parse(&bytes).expect("parse");
    assert!(t.chunks().len() >= 2, "the test wants pairs across chunks");
    let ds = load(&t, &Filter::default()).expect("load");
    let both: Vec<u64> = fast.iter().chain(&slow).copied().collect();

    let ra = readahead(&t, &Filter::default()).expect("readahead");
    let files = tables::files(&ds, &ra).expect("files");
    let file = |name: &str| files.files.iter().find(|r| r.file.ends_with(name)).expect("file row");
    for (percent, got) in [(50, file("t10.ibd").p50_latency_us), (99, file("t10.ibd").p99_latency_us)] {
        assert_close(got, nearest_rank_us(&both, percent), &format!("t10.ibd p{percent}"));
    }
    let unfinished = file("t11.ibd");
    assert_eq!(unfinished.reads, 1);
    assert_eq!((unfinished.p50_latency_us, unfinished.p99_latency_us), (None, None));

    let threads = tables::threads(&ds).expect("threads");
    let thread = |tid: &str| threads.threads.iter().find(|r| r.thread == tid).expect("thread row");
    for (tid, latencies) in [("tid 1".to_string(), &fast), (format!("tid {two}"), &slow)] {
        let r = thread(&tid);
        assert_close(r.p50_latency_us, nearest_rank_us(latencies, 50), &format!("{tid} p50"));
        assert_close(r.p99_latency_us, nearest_rank_us(latencies, 99), &format!("{tid} p99"));
    }
    assert_eq!((thread("tid 3").p50_latency_us, thread("tid 3").p99_latency_us), (None, None));
    // The role's latencies are its threads' together; the unfinished read adds none.
    assert_eq!(threads.roles.len(), 1);
    let role = &threads.roles[0];
    assert_eq!((role.role.as_str(), role.threads, role.reads), ("worker", 3, 201));
    assert_close(role.p50_latency_us, nearest_rank_us(&both, 50), "role p50");
    assert_close(role.p99_latency_us, nearest_rank_us(&both, 99), "role p99");
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

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
}

/// A table `export` wrote, read back with polars.
fn read_back(exported: &Exported, name: &str, format: ExportFormat) -> DataFrame {
    let path = &exported.tables.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no {name}")).path;
    match format {
        ExportFormat::Parquet => {
            ParquetReader::new(std::fs::File::open(path).expect("open")).finish().expect("parquet")
        }
        // Every column as text, as written.
        ExportFormat::Csv => CsvReadOptions::default()
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.clone()))
            .expect("open")
            .finish()
            .expect("csv"),
    }
}

/// A written table's rows, every value as text (null as empty), whatever the format.
fn rows(exported: &Exported, name: &str, format: ExportFormat) -> Vec<BTreeMap<String, String>> {
    let df = read_back(exported, name, format);
    let mut out = vec![BTreeMap::new(); df.height()];
    for c in df.columns() {
        let text = c.cast(&DataType::String).expect("cast");
        for (row, v) in out.iter_mut().zip(text.str().expect("str").iter()) {
            row.insert(c.name().to_string(), v.unwrap_or_default().to_string());
        }
    }
    out
}

#[test]
fn export_writes_the_header_of_a_real_recording_as_tables_in_both_formats() {
    let file = TraceFile::open(testdata("mariadb-sysbench.mio")).expect("open");
    let trace = file.parse().expect("parse");
    let (h, summary) = (trace.header(), TraceSummary::of(&trace));
    // What testdata/README.md says of the recording, so that a header read wrongly on both sides
    // still fails.
    assert_eq!(h.kernel_release, "6.18.44-fc-v470");
    assert_eq!(summary.events, 607_679);
    for format in [ExportFormat::Parquet, ExportFormat::Csv] {
        let dir = tempfile::tempdir().expect("tempdir");
        let ex = export(&trace, format, dir.path(), &|_, _| {}).expect("export");

        let t = rows(&ex, "trace", format);
        assert_eq!(t.len(), 1, "{format:?}");
        let t = &t[0];
        let want = [
            ("format_version", "1.0".to_string()),
            ("tool", h.tool.clone()),
            ("host", h.host.clone()),
            ("kernel_release", h.kernel_release.clone()),
            ("kernel_version", h.kernel_version.clone()),
            ("arch", h.arch.clone()),
            ("page_size", h.page_size.to_string()),
            ("cpus", h.cpus.to_string()),
            ("clock", "monotonic".to_string()),
            ("clock_offset_ns", h.clock_offset_ns.to_string()),
            ("start_ts", h.start_ts.to_string()),
            ("t_min", summary.t_min.to_string()),
            ("t_max", summary.t_max.to_string()),
            ("events", "607679".to_string()),
            ("chunks", summary.chunks.to_string()),
            ("lost", "0".to_string()),
            ("complete", "true".to_string()),
            ("file_bytes", summary.file_bytes.to_string()),
            ("command", h.command.join(" ")),
            ("damage", String::new()),
        ];
        for (k, v) in want {
            assert_eq!(t[k], v, "{format:?} trace.{k}");
        }
        let n = |k: &str| t[k].parse::<i128>().unwrap_or_else(|_| panic!("{k}: {}", t[k]));
        assert_eq!(n("start_unix_ns"), summary.start_unix_ns);
        assert_eq!(n("start_unix_ns"), n("t_min") + i128::from(h.clock_offset_ns));
        assert_eq!(n("end_unix_ns"), n("t_max") + i128::from(h.clock_offset_ns));
        assert_eq!(n("duration_ns"), n("t_max") - n("t_min"));
        // The time range is the events': the smallest and largest `ts` of the event tables.
        let (mut lo, mut hi) = (u64::MAX, 0u64);
        for table in ex.tables.iter().filter(|t| EventKind::from_name(&t.name).is_some()) {
            let df = read_back(&ex, &table.name, format);
            let ts = df.column("ts").expect("ts").cast(&DataType::UInt64).expect("u64");
            lo = lo.min(ts.u64().expect("u64").min().expect("min"));
            hi = hi.max(ts.u64().expect("u64").max().expect("max"));
        }
        assert_eq!((i128::from(lo), i128::from(hi)), (n("t_min"), n("t_max")), "{format:?}");
        let d = rows(&ex, "devices", format);
        assert_eq!(d.len(), h.devices.len());
        assert!(d.len() >= 2);
        for (row, dev) in d.iter().zip(&h.devices) {
            assert_eq!(row["dev"], dev.dev.to_string());
            assert_eq!(row["major"], dev_major(dev.dev).to_string());
            assert_eq!(row["minor"], dev_minor(dev.dev).to_string());
            assert_eq!(row["name"], dev.name);
            assert_eq!(row["read_ahead_kb"], dev.read_ahead_kb.to_string());
            assert_eq!(row["max_sectors_kb"], dev.max_sectors_kb.to_string());
            assert_eq!(row["rotational"], dev.rotational.to_string());
            assert_eq!(row["logical_block_size"], dev.logical_block_size.to_string());
        }
        // The data files sat on loop2 at read_ahead_kb 128 (testdata/README.md); a join of files
        // and devices on dev says so.
        let files = rows(&ex, "files", format);
        let ibd = files.iter().find(|f| f["path"].ends_with("sbtest1.ibd")).expect("sbtest1.ibd");
        let disk = d.iter().find(|r| r["dev"] == ibd["dev"]).expect("the data files' device is listed");
        assert_eq!((disk["name"].as_str(), disk["read_ahead_kb"].as_str()), ("loop2", "128"));
        assert_eq!((disk["major"].as_str(), disk["minor"].as_str()), ("7", "2"));

        let p = rows(&ex, "probes", format);
        assert_eq!(p.len(), h.probes.len(), "every kind the header lists, and no other");
        for (row, probe) in p.iter().zip(&h.probes) {
            let kind = EventKind::from_code(probe.kind).expect("known kind");
            assert_eq!(row["kind"], kind.name());
            assert_eq!(row["code"], probe.kind.to_string());
            assert_eq!(row["mode"], probe.mode.name());
            assert_eq!(row["attach"], probe.attach.join(" "));
            assert_eq!(row["note"], probe.note);
            // Events of the kind: as many as its table has rows.
            let written = ex.tables.iter().find(|t| t.name == kind.name()).map_or(0, |t| t.rows);
            assert_eq!(row["events"], written.to_string(), "{}", kind.name());
            assert_eq!(row["lost"], "0");
        }
        let by_kind = |k: &str| p.iter().find(|r| r["kind"] == k).expect("kind");
        assert_eq!(by_kind("read_enter")["mode"], "tracepoint");
        assert_eq!(by_kind("read_enter")["events"], "189949");
        assert!(by_kind("read_enter")["attach"].contains("tracepoint:syscalls:sys_enter_pread64"));
        assert_eq!(by_kind("vfs_read_enter")["mode"], "off");
        let events: u64 = p.iter().map(|r| r["events"].parse::<u64>().expect("n")).sum();
        assert_eq!(events, summary.events);

        // SHOW GLOBAL STATUS: two snapshots, their change per counter.
        let s = rows(&ex, "status_deltas", format);
        let want: Vec<(&StatusDelta, (&String, &i64))> =
            summary.server_status.iter().flat_map(|d| d.deltas.iter().map(move |c| (d, c))).collect();
        assert_eq!(s.len(), want.len());
        assert!(s.len() > 100);
        for (row, (d, (counter, delta))) in s.iter().zip(&want) {
            assert_eq!(row["pid"], d.pid.to_string());
            assert_eq!(row["source"], d.source);
            assert_eq!(&row["counter"], *counter);
            assert_eq!(row["delta"], delta.to_string());
            assert!((row["seconds"].parse::<f64>().expect("f64") - d.seconds).abs() < 1e-9);
        }
        let reads = s.iter().find(|r| r["counter"] == "Innodb_data_reads").expect("Innodb_data_reads");
        assert_eq!(reads["delta"], "192631", "as docs/analysis.md's worked example says");
        let status = rows(&ex, "status", format);
        assert_eq!(status.len(), trace.statuses().iter().map(|s| s.counters.len()).sum::<usize>());

        let o = rows(&ex, "open_fds", format);
        assert_eq!(o.len(), trace.open_fds().len());
        assert!(!o.is_empty());
        for (row, fd) in o.iter().zip(trace.open_fds()) {
            let got: Vec<&str> =
                ["pid", "fd", "dev", "ino", "ofd", "flags", "pos"].iter().map(|k| row[*k].as_str()).collect();
            let want = [
                fd.pid.to_string(),
                fd.fd.to_string(),
                fd.dev.to_string(),
                fd.ino.to_string(),
                fd.ofd.to_string(),
                fd.flags.to_string(),
                fd.pos.to_string(),
            ];
            assert_eq!(got, want);
        }
    }
}

/// Losses and kinds without a probe in the header: `golden-v2.2.mio` (one event of every kind)
/// lost 17 page-cache inserts and its header lists no probes.
#[test]
fn export_counts_lost_events_per_kind() {
    let file = TraceFile::open(testdata("golden-v2.2.mio")).expect("open");
    let trace = file.parse().expect("parse");
    let dir = tempfile::tempdir().expect("tempdir");
    let ex = export(&trace, ExportFormat::Csv, dir.path(), &|_, _| {}).expect("export");
    let t = &rows(&ex, "trace", ExportFormat::Csv)[0];
    assert_eq!((t["lost"].as_str(), t["format_version"].as_str()), ("17", "2.2"));
    let p = rows(&ex, "probes", ExportFormat::Csv);
    assert_eq!(p.len(), EventKind::ALL.len(), "one row per kind with events");
    for row in &p {
        assert_eq!(row["mode"], "", "the header lists no probes");
        assert_eq!(row["lost"], if row["kind"] == "page_cache_add" { "17" } else { "0" }, "{row:?}");
        assert_eq!(row["events"], "1");
    }
    assert!(rows(&ex, "devices", ExportFormat::Csv).is_empty());
}

/// `docs/analysis.md`'s column table: (table, column) -> type.
fn documented_columns() -> BTreeMap<(String, String), String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/analysis.md"))
        .expect("docs/analysis.md");
    let begin = doc.find("<!-- BEGIN export-columns").expect("the column table's BEGIN marker");
    let end = doc.find("<!-- END export-columns").expect("the column table's END marker");
    let mut out = BTreeMap::new();
    for line in doc[begin..end].lines().filter(|l| l.starts_with("| ") && !l.starts_with("| table |")) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 4, "not a row of 4 cells: {line}");
        let tables: Vec<String> = if cells[0] == "*every event table*" {
            EventKind::ALL.iter().map(|k| k.name().to_string()).collect()
        } else {
            cells[0].split(',').map(|t| t.trim().trim_matches('`').to_string()).collect()
        };
        let column = cells[1].trim_matches('`');
        assert!(!cells[3].is_empty(), "{line}: no meaning");
        for t in tables {
            let dup = out.insert((t.clone(), column.to_string()), cells[2].to_string());
            assert!(dup.is_none(), "{t}.{column} documented twice");
        }
    }
    out
}

fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::UInt8 => "u8".into(),
        DataType::UInt16 => "u16".into(),
        DataType::UInt32 => "u32".into(),
        DataType::UInt64 => "u64".into(),
        DataType::Int32 => "i32".into(),
        DataType::Int64 => "i64".into(),
        DataType::Float64 => "f64".into(),
        DataType::Boolean => "bool".into(),
        DataType::String => "str".into(),
        other => format!("{other:?}"),
    }
}

/// Every column of every table written for the real recording, a synthetic trace and the golden
/// file (every event kind), flat and as fleet partitions (which add `traces`), is in
/// docs/analysis.md with its Parquet type, and the doc names no column that is not written.
#[test]
fn every_exported_column_is_documented_with_its_type() {
    let doc = documented_columns();
    let dir = tempfile::tempdir().expect("tempdir");
    let synthetic = {
        let mut w = Writer::new(Vec::new(), &synth::SyntheticStream::header(), WriterOptions::default())
            .expect("writer");
        for f in synth::SyntheticStream::files() {
            w.write_metadata(&Metadata::File(f)).expect("meta");
        }
        for t in synth::SyntheticStream::threads() {
            w.write_metadata(&Metadata::Thread(t)).expect("meta");
        }
        for e in synth::SyntheticStream::new(3, 20_000).take(50_000) {
            w.push(&e).expect("push");
        }
        w.into_inner().expect("finish")
    };
    let files = [
        std::fs::read(testdata("mariadb-sysbench.mio")).expect("read"),
        std::fs::read(testdata("golden-v2.2.mio")).expect("read"),
        synthetic,
    ];
    let mut written: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut tables = std::collections::BTreeSet::new();
    for (i, bytes) in files.iter().enumerate() {
        let trace = Trace::parse(bytes).expect("parse");
        let out = dir.path().join(i.to_string());
        let flat = export(&trace, ExportFormat::Parquet, &out, &|_, _| {}).expect("export");
        let summary = TraceSummary::of(&trace);
        let fleet_dir = dir.path().join("fleet");
        let parted =
            export_partition(&trace, &summary, "t.mio", ExportFormat::Parquet, &fleet_dir, false, &|_, _| {})
                .expect("export --partition");
        let mut fleet_tables: Vec<&str> = parted.exported.tables.iter().map(|t| t.name.as_str()).collect();
        fleet_tables.retain(|t| *t != "traces");
        let flat_tables: Vec<&str> = flat.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(fleet_tables, flat_tables, "the fleet export has every table of the flat one");
        // The partition's `host` stands for the header table's own.
        let header = read_back(&parted.exported, "trace", ExportFormat::Parquet);
        assert!(header.column("host").is_err() && header.column("kernel_release").is_ok());
        assert_eq!(read_back(&parted.exported, "traces", ExportFormat::Parquet).height(), 1);
        for (ex, t) in [&flat, &parted.exported].iter().flat_map(|ex| ex.tables.iter().map(move |t| (*ex, t)))
        {
            tables.insert(t.name.clone());
            let df = read_back(ex, &t.name, ExportFormat::Parquet);
            for c in df.columns() {
                let key = (t.name.clone(), c.name().to_string());
                let ty = type_name(c.dtype());
                assert_eq!(
                    doc.get(&key),
                    Some(&ty),
                    "{}.{} ({ty}) is not in docs/analysis.md's column table with that type",
                    key.0,
                    key.1
                );
                written.insert(key, ty);
            }
        }
    }
    for k in EventKind::ALL {
        assert!(tables.contains(k.name()), "no trace here has {} events: the check misses them", k.name());
    }
    for t in [
        "trace",
        "traces",
        "devices",
        "probes",
        "reads",
        "statements",
        "files",
        "threads",
        "processes",
        "open_fds",
        "status",
        "status_deltas",
    ] {
        assert!(tables.contains(t), "{t} was not written");
    }
    let stale: Vec<&(String, String)> = doc.keys().filter(|k| !written.contains_key(*k)).collect();
    assert!(stale.is_empty(), "docs/analysis.md documents columns no export wrote: {stale:?}");
}
