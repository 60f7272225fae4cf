//! Round trips: every event kind and metadata record written and read back unchanged, through
//! chunks of every size, compressed or not.

mod common;

use common::{one_of_each, write};
use mysql_io_format::*;
use proptest::prelude::*;

fn read_all(bytes: &[u8]) -> Vec<Event> {
    let t = Trace::parse(bytes).expect("parse");
    assert!(t.damage().is_empty(), "{:?}", t.damage());
    t.events().collect::<Result<Vec<_>>>().expect("decode")
}

#[test]
fn one_event_of_every_kind_round_trips() {
    let events = one_of_each();
    assert_eq!(events.len(), EventKind::ALL.len());
    for chunk_bytes in [1, 64, 4 << 20] {
        let bytes = write(&events, &[], WriterOptions { chunk_bytes, ..WriterOptions::default() });
        assert_eq!(read_all(&bytes), events, "chunk_bytes {chunk_bytes}");
    }
}

#[test]
fn synthetic_stream_round_trips_across_many_chunks() {
    let events: Vec<Event> = synth::SyntheticStream::new(3, 20_000).take(300_000).collect();
    let bytes = write(&events, &[], WriterOptions { chunk_bytes: 256 << 10, ..WriterOptions::default() });
    let t = Trace::parse(&bytes).expect("parse");
    assert!(t.chunks().len() > 5, "expected several chunks, got {}", t.chunks().len());
    assert_eq!(read_all(&bytes), events);
    // The columnar view agrees with the events.
    let mut n = 0;
    let mut cols = ChunkColumns::default();
    for c in t.chunks() {
        c.columns_into(&mut cols).expect("columns");
        let adds = cols.column(EventKind::PageCacheAdd, 2);
        assert_eq!(adds.len(), cols.rows(EventKind::PageCacheAdd));
        n += cols.len();
    }
    assert_eq!(n, events.len());

    // The windowed pipeline hands every chunk over once, in order, whatever the window.
    for window in [0, 1, 3, 1000] {
        let mut seen = Vec::new();
        let mut timestamps = Vec::new();
        t.map_in_order(
            window,
            |c, cols| (c.info.events, cols.ts().to_vec()),
            |i, r| {
                let (count, ts) = r.expect("decode");
                assert_eq!(count as usize, ts.len());
                seen.push(i);
                timestamps.extend(ts);
            },
        );
        assert_eq!(seen, (0..t.chunks().len()).collect::<Vec<_>>(), "window {window}");
        assert_eq!(timestamps, events.iter().map(|e| e.ts).collect::<Vec<_>>(), "window {window}");
    }
}

#[test]
fn metadata_round_trips() {
    let meta = vec![
        Metadata::File(FileInfo {
            dev: 5,
            ino: 6,
            path: "/data/t.ibd".into(),
            size: 1 << 30,
            fs_type: "xfs".into(),
            ts: 9,
        }),
        Metadata::OpenFd(OpenFd { pid: 1, fd: 3, dev: 5, ino: 6, ofd: 77, flags: O_DIRECT, pos: 12 }),
        Metadata::Thread(ThreadInfo {
            pid: 1,
            tid: 2,
            comm: "mariadbd".into(),
            role: "thread/innodb/io_read_thread".into(),
            ts: 3,
        }),
        Metadata::Process(ProcessInfo {
            pid: 1,
            comm: "mariadbd".into(),
            exe: "/usr/sbin/mariadbd".into(),
            cmdline: vec!["a".into(), "b".into()],
            version: "10.11".into(),
            ts: 4,
        }),
        Metadata::Status(StatusSnapshot {
            pid: 1,
            source: "SHOW GLOBAL STATUS".into(),
            ts: 5,
            counters: vec![("Innodb_data_reads".into(), 42)],
        }),
    ];
    let bytes = write(&one_of_each(), &meta, WriterOptions::default());
    let t = Trace::parse(&bytes).expect("parse");
    assert_eq!(
        t.files(),
        [match &meta[0] {
            Metadata::File(f) => f.clone(),
            _ => unreachable!(),
        }]
    );
    assert_eq!(t.open_fds().len(), 1);
    assert_eq!(t.threads()[0].role, "thread/innodb/io_read_thread");
    assert_eq!(t.processes()[0].cmdline, ["a", "b"]);
    assert_eq!(t.statuses()[0].counters, [("Innodb_data_reads".to_string(), 42)]);
    assert_eq!(t.header().host, "test");
    let f = t.footer().expect("footer");
    assert_eq!(f.totals.events, EventKind::ALL.len() as u64);
    // The lost event is the last of one_of_each(): cpu = 22 % 4.
    assert_eq!(f.totals.lost, [(2, EventKind::PageCacheAdd.code(), 17)]);
}

#[test]
fn empty_trace_reads() {
    let bytes = write(&[], &[], WriterOptions::default());
    let t = Trace::parse(&bytes).expect("parse");
    assert!(t.damage().is_empty());
    assert_eq!(t.event_count(), 0);
    assert!(t.chunks().is_empty());
}

#[test]
fn json_names_are_the_kind_names() {
    let e = &one_of_each()[11];
    let v = serde_json::to_value(e).expect("json");
    assert_eq!(v["kind"], "page_cache_add");
    assert_eq!(v["index"], 128);
    let back: Event = serde_json::from_value(v).expect("from json");
    assert_eq!(&back, e);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any sequence of events of any kinds, values and timestamps (also out of order) survives,
    /// whatever the chunk size.
    #[test]
    fn any_events_round_trip(events in proptest::collection::vec(any::<Event>(), 0..300), chunk_bytes in 1usize..4096) {
        let bytes = write(&events, &[], WriterOptions { chunk_bytes, ..WriterOptions::default() });
        prop_assert_eq!(read_all(&bytes), events);
    }

    /// Events with realistic small-world values (few tids, nearby positions) exercise the
    /// predictors and tables; a long stream forces table evictions.
    #[test]
    fn clustered_events_round_trip(seed in any::<u64>(), n in 0usize..3000) {
        let events: Vec<Event> = synth::SyntheticStream::new(seed, 1 + seed % 100_000).take(n)
            .map(|mut e| { e.tid = 1000 + (e.tid.wrapping_mul(2654435761) >> 27); e.cpu = (e.tid % 3) as u16; e })
            .collect();
        let bytes = write(&events, &[], WriterOptions { chunk_bytes: 1 + (seed as usize % 20_000), ..WriterOptions::default() });
        prop_assert_eq!(read_all(&bytes), events);
    }
}
