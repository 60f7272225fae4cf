//! The byte layout of `docs/format.md`, checked by building a trace by hand from the spec: a
//! chunk with an event of a kind this reader does not know, followed by one it does, in format 2
//! (what this version writes) and in format 1 (which every reader still reads).

use mysql_io_format::*;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![kind];
    r.extend_from_slice(&(body.len() as u32).to_le_bytes());
    r.extend_from_slice(body);
    let crc = crc32fast::hash(&r);
    r.extend_from_slice(&crc.to_le_bytes());
    r
}

/// Preamble and header record of a trace with a default header, as the writer makes them, with
/// the major version set to `major`.
fn preamble_and_header(major: u16) -> Vec<u8> {
    let w = Writer::new(Vec::new(), &Header::default(), WriterOptions::default()).expect("writer");
    let mut bytes = w.into_inner().expect("finish");
    assert_eq!(&bytes[..8], b"\x89MIO\r\n\x1a\n");
    assert_eq!(&bytes[8..12], &[2, 0, 2, 0], "format 2.2, little-endian");
    assert_eq!(bytes[12], 0x01, "the header record comes first");
    bytes[8..10].copy_from_slice(&major.to_le_bytes());
    let len = u32::from_le_bytes(bytes[13..17].try_into().expect("4 bytes")) as usize;
    bytes[..12 + 9 + len].to_vec()
}

#[test]
fn a_hand_built_chunk_decodes_as_the_spec_says() {
    // Three events: kind 99 (unknown here) at ts 1000, then page_cache_adds at ts 1010 and
    // 1010 + 70000 (a high part of 546 > 255, which takes the overflow column), all from tid 7
    // of pid 5 on cpu 1.
    let streams: Vec<(u64, Vec<u8>)> = vec![
        (0, vec![99, 12, 12]), // kind column
        // time, low bytes of zigzag deltas: 0, zigzag(10) = 20, zigzag(70000) = 140000 = 0x222E0
        (1, vec![0, 20, 0xE0]),
        (2, vec![0, 10, 2]),         // task exceptions: event 0 (gap 0), pid +5, cpu +1
        (3, vec![0, 14, 1, 1]),      // tids: table miss, zigzag(7 - 0) = 14; then slot 0 (k = 1) twice
        (4, vec![0, 0, 255]),        // time, high parts: 0, 0, 255 (escape: 0x222 = 546 >= 255)
        (5, vec![0xA3, 0x02]),       // time overflow: varint 546 - 255 = 291
        (99 << 6, vec![5]),          // a column of kind 99: skipped
        (12 << 6, vec![2, 0]),       // page_cache_add.dev: delta, zigzag(1) = 2, then 0 (unchanged)
        ((12 << 6) | 1, vec![6, 0]), // .ino: ino predictor (0) + zigzag(3) = 6, then predicted
        ((12 << 6) | 2, vec![18, 0x80, 0x01]), // .index: predictor (0) + zigzag(9); 9 + zigzag⁻¹(128) = 73
        ((12 << 6) | 3, vec![0x80, 0, 2]), // .order: a run of 2 zeros (`80 00`, count 2)
    ];
    let want = vec![
        Event {
            ts: 1010,
            pid: 5,
            tid: 7,
            cpu: 1,
            body: EventBody::PageCacheAdd(PageCacheAdd { dev: 1, ino: 3, index: 9, order: 0 }),
        },
        Event {
            ts: 71010,
            pid: 5,
            tid: 7,
            cpu: 1,
            body: EventBody::PageCacheAdd(PageCacheAdd { dev: 1, ino: 3, index: 73, order: 0 }),
        },
    ];
    check_hand_built(2, &streams, 3, &want);
}

#[test]
fn a_hand_built_format_1_chunk_decodes_as_the_spec_says() {
    // Format 1: the time high parts are a number column, and every zero of a number column is
    // followed by the count of the zeros after it. Two events: kind 99 (unknown here) at ts 1000,
    // then page_cache_add at ts 1010, both from tid 7 of pid 5 on cpu 1.
    let streams: Vec<(u64, Vec<u8>)> = vec![
        (0, vec![99, 12]),           // kind column
        (1, vec![0, 20]),            // time, low bytes of zigzag deltas: 0, zigzag(10) = 20
        (2, vec![0, 10, 2]),         // task exceptions: event 0 (gap 0), pid +5, cpu +1
        (3, vec![0, 14, 1]),         // tids: table miss, zigzag(7 - 0) = 14; then slot 0 (k = 1)
        (4, vec![0, 1]),             // time, high parts: 0, then one more 0 (a zero run)
        (99 << 6, vec![5]),          // a column of kind 99: skipped
        (12 << 6, vec![2]),          // page_cache_add.dev: delta, zigzag(1) = 2
        ((12 << 6) | 1, vec![6]),    // .ino: ino predictor (0) + zigzag(3) = 6
        ((12 << 6) | 2, vec![18]),   // .index: position predictor (0) + zigzag(9) = 18
        ((12 << 6) | 3, vec![0, 0]), // .order: 0, and no further zeros
    ];
    let want = vec![Event {
        ts: 1010,
        pid: 5,
        tid: 7,
        cpu: 1,
        body: EventBody::PageCacheAdd(PageCacheAdd { dev: 1, ino: 3, index: 9, order: 0 }),
    }];
    check_hand_built(1, &streams, 2, &want);
}

/// Builds a chunk of `events` events (one of kind 99, the rest page_cache_add, from ts 1000) from
/// `streams` in a file of format `major`, and checks that it decodes to `want`, stored as is and
/// compressed with zstd.
fn check_hand_built(major: u16, streams: &[(u64, Vec<u8>)], events: u64, want: &[Event]) {
    let mut payload = Vec::new();
    varint(&mut payload, streams.len() as u64);
    for (id, data) in streams {
        varint(&mut payload, *id);
        varint(&mut payload, data.len() as u64);
    }
    for (_, data) in streams {
        payload.extend_from_slice(data);
    }
    let t_max = want.last().map_or(1000, |e| e.ts);
    let mut body = vec![0u8]; // no compression
    for v in [events, 1000, 1000, t_max - 1000, payload.len() as u64, 2, 12, events - 1, 99, 1] {
        varint(&mut body, v); // events, base_ts, t_min, t_max - t_min, payload length, kinds
    }
    body.extend_from_slice(&payload);

    let mut file = preamble_and_header(major);
    file.extend(record(0x02, &body));
    let t = Trace::parse(&file).expect("parse");
    assert_eq!(t.version(), (major, VERSION_MINOR));
    assert!(matches!(t.damage(), [Damage::NoFooter { .. }]), "{:?}", t.damage());
    let mut events = Vec::new();
    let stats = t.chunks()[0].for_each(|e| events.push(e)).expect("decode");
    assert_eq!(stats, DecodeStats { events: events.len() as u64, unknown_kind: 1 });
    assert_eq!(events, want);

    // Compressed with zstd (compression byte 1), the same payload decodes the same.
    let mut zbody = vec![1u8];
    zbody.extend_from_slice(&body[1..body.len() - payload.len()]);
    zbody.extend(zstd::bulk::compress(&payload, 3).expect("zstd"));
    let mut file = preamble_and_header(major);
    file.extend(record(0x02, &zbody));
    let t = Trace::parse(&file).expect("parse");
    assert_eq!(t.chunks()[0].events().expect("decode"), events);
}

#[test]
fn layout_table_in_docs_matches_the_code() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/format.md"))
        .expect("docs/format.md");
    let begin = "<!-- BEGIN event-layout (generated by mysql_io_format::layout_markdown) -->\n";
    let end = "<!-- END event-layout -->";
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc[start..].find(end).expect("end marker") + start;
    let want = layout_markdown();
    if std::env::var_os("MIO_UPDATE_DOCS").is_some() {
        let updated = format!("{}{}{}", &doc[..start], want, &doc[stop..]);
        std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/format.md"), updated).expect("write");
        return;
    }
    assert_eq!(
        &doc[start..stop],
        want,
        "docs/format.md is out of date: run `MIO_UPDATE_DOCS=1 cargo test -p mysql-io-format --test spec`"
    );
}
