//! Compatibility: `testdata/golden-v1.mio` was written by format 1.0, `testdata/golden-v2.mio` by
//! format 2.0, `testdata/golden-v2.1.mio` by format 2.1 and `testdata/golden-v2.2.mio` by 2.2,
//! from the same events (each version's kinds: 2.1 added `read`, 2.2 `statement`) and metadata, and each must always read to them. Never
//! regenerate them to make this test pass after a format change; a change that breaks one breaks
//! every trace users already have. (Each was made, by the version that writes it, with
//! `MIO_WRITE_GOLDEN=1 cargo test -p mysql-io-format --test golden`, which writes the golden file
//! of the version the build writes; format 1.0 can no longer be written.)

mod common;

use common::one_of_each;
use mysql_io_format::*;

const GOLDEN_V1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/golden-v1.mio");
const GOLDEN_V2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/golden-v2.mio");
const GOLDEN_V2_1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/golden-v2.1.mio");
const GOLDEN_V2_2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/golden-v2.2.mio");

fn golden_metadata() -> Vec<Metadata> {
    vec![
        Metadata::Process(ProcessInfo {
            pid: 100,
            comm: "mariadbd".into(),
            exe: "/usr/sbin/mariadbd".into(),
            cmdline: vec!["/usr/sbin/mariadbd".into(), "--innodb-flush-method=fsync".into()],
            version: "10.11.6-MariaDB-0+deb12u1".into(),
            ts: 999,
        }),
        Metadata::File(FileInfo {
            dev: make_dev(8, 3),
            ino: 4242,
            path: "/var/lib/mysql/sbtest/sbtest1.ibd".into(),
            size: 1 << 30,
            fs_type: "ext4".into(),
            ts: 1000,
        }),
        Metadata::OpenFd(OpenFd {
            pid: 100,
            fd: 7,
            dev: make_dev(8, 3),
            ino: 4242,
            ofd: 0xffff_8881_0000_1000,
            flags: 0o2_000_002,
            pos: 0,
        }),
        Metadata::Thread(ThreadInfo {
            pid: 100,
            tid: 101,
            comm: "mariadbd".into(),
            role: "thread/sql/one_connection".into(),
            ts: 1001,
        }),
        Metadata::Status(StatusSnapshot {
            pid: 100,
            source: "SHOW GLOBAL STATUS".into(),
            ts: 1002,
            counters: vec![("Innodb_data_reads".into(), 1234), ("Innodb_buffer_pool_read_ahead".into(), -1)],
        }),
    ]
}

#[test]
fn golden_v1_still_reads() {
    check_golden(GOLDEN_V1, (1, 0));
}

#[test]
fn golden_v2_still_reads() {
    check_golden(GOLDEN_V2, (2, 0));
}

#[test]
fn golden_v2_1_still_reads() {
    check_golden(GOLDEN_V2_1, (2, 1));
}

#[test]
fn golden_v2_2_still_reads() {
    assert_eq!((VERSION_MAJOR, VERSION_MINOR), (2, 2), "a new version adds its own golden file");
    if std::env::var_os("MIO_WRITE_GOLDEN").is_some() {
        // Several chunks, with metadata between them.
        let mut w = Writer::new(
            Vec::new(),
            &Header { host: "test".into(), ..Header::default() },
            WriterOptions::default(),
        )
        .expect("writer");
        let meta = golden_metadata();
        for (i, e) in one_of_each().iter().enumerate() {
            if i % 8 == 0 {
                w.flush().expect("flush");
                w.write_metadata(&meta[(i / 8) % meta.len()]).expect("metadata");
            }
            w.push(e).expect("push");
        }
        // The metadata the loop did not write (one record before every 8th event).
        for m in &meta[one_of_each().len().div_ceil(8)..] {
            w.write_metadata(m).expect("metadata");
        }
        std::fs::write(GOLDEN_V2_2, w.into_inner().expect("finish")).expect("write golden");
    }
    check_golden(GOLDEN_V2_2, (2, 2));
}

/// The kinds a format version has: 2.1 added `read`, 2.2 `statement`.
fn in_version(kind: EventKind, version: (u16, u16)) -> bool {
    match kind {
        EventKind::Read => version >= (2, 1),
        EventKind::Statement => version >= (2, 2),
        _ => true,
    }
}

fn check_golden(path: &str, version: (u16, u16)) {
    let file = TraceFile::open(path).expect(path);
    let t = file.parse().expect("parse");
    assert_eq!(t.version(), version);
    assert!(t.damage().is_empty(), "{:?}", t.damage());
    assert!(t.verify_chunks().is_empty());
    assert_eq!(t.header().host, "test");
    // Written before the header had memory and partition fields: they read as unknown.
    assert_eq!((t.header().mem_total_kb, t.header().page_cache_kb), (0, 0));
    assert!(t.header().disks.is_empty());
    let want: Vec<Event> = one_of_each().into_iter().filter(|e| in_version(e.kind(), version)).collect();
    assert_eq!(t.events().collect::<Result<Vec<_>>>().expect("decode"), want);
    let mut meta: Vec<Metadata> = Vec::new();
    meta.extend(t.processes().iter().cloned().map(Metadata::Process));
    meta.extend(t.files().iter().cloned().map(Metadata::File));
    meta.extend(t.open_fds().iter().cloned().map(Metadata::OpenFd));
    meta.extend(t.threads().iter().cloned().map(Metadata::Thread));
    meta.extend(t.statuses().iter().cloned().map(Metadata::Status));
    assert_eq!(meta, golden_metadata());
    assert!(t.chunks().len() > 1, "the golden file spans several chunks");
}
