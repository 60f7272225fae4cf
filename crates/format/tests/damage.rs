//! Damaged and cut-short traces: every truncation point and every flipped byte of a small trace
//! is read without a panic, keeps what is intact, and names the chunk that is not.

mod common;

use common::{one_of_each, write};
use mysql_io_format::*;

/// A small trace of several chunks with metadata between them, and its events.
fn sample() -> (Vec<u8>, Vec<Event>) {
    let mut events = one_of_each();
    events.extend(synth::SyntheticStream::new(9, 20_000).take(600));
    let meta = [Metadata::File(FileInfo { dev: 1, ino: 2, path: "/x".into(), ..FileInfo::default() })];
    (write(&events, &meta, WriterOptions { chunk_bytes: 1200, ..WriterOptions::default() }), events)
}

/// (start offset, end offset, events) of every chunk of an intact trace.
fn chunk_spans(bytes: &[u8]) -> Vec<(usize, usize, u64)> {
    let t = Trace::parse(bytes).expect("intact trace");
    t.chunks()
        .iter()
        .map(|c| (c.offset as usize, (c.offset + c.record_len()) as usize, c.info.events))
        .collect()
}

#[test]
fn every_truncation_reads_its_complete_prefix() {
    let (bytes, events) = sample();
    let spans = chunk_spans(&bytes);
    assert!(spans.len() >= 5, "want several chunks, got {}", spans.len());
    let header_end = spans[0].0.min(bytes.len()); // the header and a metadata record come first
    for cut in 0..=bytes.len() {
        let data = &bytes[..cut];
        let t = match Trace::parse(data) {
            Ok(t) => t,
            Err(e) => {
                // Only a cut inside the preamble or header record may fail outright.
                assert!(cut < header_end, "cut at {cut} failed: {e}");
                assert!(matches!(e, Error::TooShort { .. } | Error::BadHeader { .. }), "cut at {cut}: {e}");
                continue;
            }
        };
        let complete: u64 = spans.iter().filter(|s| s.1 <= cut).map(|s| s.2).sum();
        let mut got = Vec::new();
        t.for_each_event(|e| got.push(e)).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(got.len() as u64, complete, "cut at {cut}");
        assert_eq!(got[..], events[..got.len()], "cut at {cut}");
        if cut < bytes.len() {
            assert!(!t.damage().is_empty(), "cut at {cut} of {} not reported", bytes.len());
            assert!(t.damage().iter().all(Damage::is_truncation), "cut at {cut}: {:?}", t.damage());
        } else {
            assert!(t.damage().is_empty());
        }
    }
}

#[test]
fn every_flipped_byte_is_caught_and_located() {
    let (bytes, events) = sample();
    let spans = chunk_spans(&bytes);
    for pos in 0..bytes.len() {
        let mut data = bytes.clone();
        data[pos] ^= 0x5a;
        // The minor version is informational: any value reads the same.
        if pos == 10 || pos == 11 {
            let t = Trace::parse(&data).expect("minor version change");
            assert_eq!(t.events().collect::<Result<Vec<_>>>().expect("decode"), events);
            continue;
        }
        let Ok(t) = Trace::parse(&data) else { continue }; // preamble or header: refused outright
        let chunk = spans.iter().position(|s| (s.0..s.1).contains(&pos));
        let mut errors: Vec<String> = t.damage().iter().map(ToString::to_string).collect();
        errors.extend(t.verify_chunks().iter().map(ToString::to_string));
        if errors.is_empty() {
            // Nothing noticed: then nothing may have changed.
            let got: Vec<Event> =
                t.events().collect::<Result<_>>().unwrap_or_else(|e| panic!("flip at {pos}: {e}"));
            panic!("flip at {pos} (chunk {chunk:?}) went unnoticed; events equal: {}", got == events);
        }
        if let Some(n) = chunk {
            assert!(
                errors.iter().any(|e| e.contains(&format!("chunk {n} "))),
                "flip at {pos} is in chunk {n}, errors say {errors:?}"
            );
        }
    }
}

#[test]
fn a_damaged_chunk_does_not_hide_the_others() {
    let (bytes, _) = sample();
    let spans = chunk_spans(&bytes);
    let mut data = bytes.clone();
    let (start, end, _) = spans[2];
    data[(start + end) / 2] ^= 0xff;
    let t = Trace::parse(&data).expect("footer still intact");
    let results: Vec<_> = t.par_chunks(|c| c.events().map(|v| v.len()));
    for (i, r) in results.iter().enumerate() {
        match (i, r) {
            (2, Err(Error::ChunkCrc { chunk, offset, expected, actual })) => {
                assert_eq!((*chunk, *offset), (2, start as u64));
                assert_ne!(expected, actual);
            }
            (2, other) => panic!("chunk 2 should fail its CRC, got {other:?}"),
            (_, r) => assert!(r.is_ok(), "chunk {i}: {r:?}"),
        }
    }
    let msg = t.verify_chunks()[0].to_string();
    assert!(
        msg.starts_with(&format!("chunk 2 at byte {start} is damaged: CRC mismatch (stored 0x")),
        "{msg}"
    );
}

#[test]
fn newer_major_version_is_refused_with_a_clear_error() {
    let (mut bytes, _) = sample();
    let newer = VERSION_MAJOR + 1;
    bytes[8..10].copy_from_slice(&newer.to_le_bytes());
    let e = Trace::parse(&bytes).expect_err("a newer major version");
    assert!(matches!(e, Error::NewerVersion { major, supported: VERSION_MAJOR, .. } if major == newer));
    assert!(e.to_string().contains("upgrade mysql-io"), "{e}");
}

#[test]
fn non_traces_are_refused() {
    for (data, want) in [
        (&b""[..], "too short"),
        (&b"\x89MIO"[..], "too short"),
        (&b"SQLite format 3\0......."[..], "not a mysql-io trace"),
        (&b"hello"[..], "not a mysql-io trace"),
    ] {
        let e = Trace::parse(data).expect_err("refused");
        assert!(e.to_string().contains(want), "{data:?}: {e}");
    }
}

#[test]
fn unknown_record_kinds_are_skipped_with_and_without_footer() {
    let events = one_of_each();
    let mut w = Writer::new(
        Vec::new(),
        &Header::default(),
        WriterOptions { chunk_bytes: 64, ..WriterOptions::default() },
    )
    .expect("writer");
    w.push(&events[0]).expect("push");
    w.flush().expect("flush");
    w.write_raw_record(0x55, b"from a future version".to_vec()).expect("raw");
    w.write_metadata(&Metadata::Thread(ThreadInfo { tid: 5, comm: "t".into(), ..ThreadInfo::default() }))
        .expect("meta");
    for e in &events[1..] {
        w.push(e).expect("push");
    }
    let bytes = w.into_inner().expect("finish");

    let t = Trace::parse(&bytes).expect("parse");
    assert!(t.footer().is_some() && t.damage().is_empty());
    assert_eq!((t.unknown_records(), t.threads().len()), (1, 1));
    assert_eq!(t.events().collect::<Result<Vec<_>>>().expect("decode"), events);

    // The same without footer and trailer (a crash): the scan skips it too.
    let footer_at = t.chunks().last().map(|c| (c.offset + c.record_len()) as usize).expect("chunks");
    let t = Trace::parse(&bytes[..footer_at]).expect("parse");
    assert_eq!((t.unknown_records(), t.threads().len()), (1, 1));
    assert_eq!(t.events().collect::<Result<Vec<_>>>().expect("decode"), events);
    assert!(matches!(t.damage(), [Damage::NoFooter { .. }]));
}
