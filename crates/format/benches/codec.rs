//! Format benchmark: encode and decode throughput on one core and bytes per event on disk, for the
//! synthetic MariaDB-like stream (`mysql_io_format::synth`).
//!
//! Run: `cargo bench -p mysql-io-format --bench codec` (options: `-- --events N --level L`;
//! `--profile-columns` only decodes columns, over and over, for a profiler; `--trace FILE` gives
//! the decoding figures and bytes per event of a recorded trace instead, e.g.
//! `-- --trace $PWD/testdata/mariadb-sysbench.mio`: cargo runs benches in `crates/format`).
//! Encode is measured on the caller's thread only (column encoding), and separately end to end
//! through the writer (encode + zstd on the worker + framing), as a recorder would use it. Decode
//! is one thread decoding every chunk of the file: CRC check, zstd decompression, column decoding,
//! a callback per event. The core's clock is estimated too (a chain of dependent multiplies), so
//! the decode figures can also be read in cycles per event and compared across machines.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mysql_io_format::synth::SyntheticStream;
use mysql_io_format::{
    diagnostics as chunk, ChunkColumns, Event, EventKind, Metadata, Trace, Writer, WriterOptions,
};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        out = Some(r);
    }
    (best, out.expect("at least one run"))
}

/// This core's clock while it runs the benchmark, in GHz, from a chain of dependent 64-bit
/// multiplies (3 cycles each on x86-64 cores since Nehalem and Zen), so that figures can be read
/// as cycles per event and compared across machines with different clocks. `None` elsewhere.
fn clock_ghz() -> Option<f64> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    const MULS: u64 = 300_000_000;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        // Squaring: each multiply waits on the one before, and there is no shortcut to compute.
        let mut x = black_box(3u64);
        for _ in 0..black_box(MULS) {
            x = x.wrapping_mul(x);
        }
        black_box(x);
        best = best.min(t.elapsed());
    }
    Some(3.0 * MULS as f64 / best.as_secs_f64() / 1e9)
}

/// One pass of "decode to columns" over every chunk of `trace` (CRC, zstd, columns), into new
/// column buffers as a fresh reader would; the synthetic and `--trace` figures both use it, so
/// they compare. Returns the number of rows decoded.
fn decode_to_columns(trace: &Trace<'_>) -> usize {
    let mut cols = ChunkColumns::default();
    let mut n = 0;
    for c in trace.chunks() {
        c.columns_into(&mut cols).expect("decode");
        n += black_box(cols.len());
    }
    n
}

/// `--trace FILE`: decoding figures for a recorded trace instead of the synthetic stream.
fn bench_trace(path: &str, level: i32) {
    let fail = |e: &dyn std::fmt::Display| -> ! {
        eprintln!("codec bench: {path}: {e} (give a .mio trace by absolute path)");
        std::process::exit(2)
    };
    let bytes = std::fs::read(path).unwrap_or_else(|e| fail(&e));
    let trace = Trace::parse(&bytes).unwrap_or_else(|e| fail(&e));
    let n: u64 = trace.chunks().iter().map(|c| c.info.events).sum();
    let (major, minor) = trace.version();
    let (dec, _) = best_of(15, || decode_to_columns(&trace));
    // The same events as this build would write them (payloads only, the chunks as recorded).
    let repacked: usize = trace
        .chunks()
        .iter()
        .map(|c| {
            let raw = chunk::encode_for_diagnostics(&c.events().expect("decode"));
            zstd::bulk::compress(&raw, level).expect("zstd compress").len()
        })
        .sum();
    let per_event = |d: Duration| d.as_secs_f64() * 1e9 / n as f64;
    println!(
        "trace benchmark: {path}: {n} events in {} chunks, format {major}.{minor}",
        trace.chunks().len()
    );
    println!("  bytes/event on disk      {:8.3}", bytes.len() as f64 / n as f64);
    println!(
        "  payload bytes/event as this build writes them (zstd level {level}) {:.3}",
        repacked as f64 / n as f64
    );
    println!(
        "  decode to columns, 1 core {:6.1} M events/s  ({:.1} ns/event; CRC + zstd + columns, best of 15 passes)",
        n as f64 / dec.as_secs_f64() / 1e6,
        per_event(dec)
    );
    if let Some(ghz) = clock_ghz() {
        println!("  clock {ghz:.2} GHz (dependent multiplies): {:.0} cycles/event", per_event(dec) * ghz);
    }
}

fn main() {
    let n = arg("--events", 10_000_000) as usize;
    let level = arg("--level", 3) as i32;
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = args.iter().position(|a| a == "--trace").and_then(|i| args.get(i + 1)) {
        return bench_trace(path, level);
    }
    let events: Vec<Event> = SyntheticStream::new(1, 20_000).take(n).collect();
    if args.iter().any(|a| a == "--profile-columns") {
        // For a profiler: the column decoding alone, repeated, nothing else.
        let mut raws: Vec<Vec<u8>> = events.chunks(200_000).map(chunk::encode_for_diagnostics).collect();
        let mut cols = ChunkColumns::default();
        for _ in 0..20 {
            for r in &mut raws {
                chunk::columns_from_raw_payload(black_box(r), &mut cols).expect("decode");
            }
        }
        return;
    }
    let per_s = |d: Duration| n as f64 / d.as_secs_f64() / 1e6;

    // Column encoding alone (what the producer thread pays per event), in ~1 s chunks.
    let (enc, raw) = best_of(3, || {
        events.chunks(200_000).map(|c| chunk::encode_for_diagnostics(black_box(c)).len()).sum::<usize>()
    });

    // Through the writer, to memory.
    let opts = WriterOptions { zstd_level: level, ..WriterOptions::default() };
    let (write, bytes) = best_of(3, || {
        let mut w =
            Writer::new(Vec::with_capacity(n * 4), &SyntheticStream::header(), opts.clone()).expect("writer");
        for f in SyntheticStream::files() {
            w.write_metadata(&Metadata::File(f)).expect("metadata");
        }
        for e in &events {
            w.push(e).expect("push");
        }
        w.into_inner().expect("finish")
    });

    let trace = Trace::parse(&bytes).expect("parse");
    let (dec, sum) = best_of(5, || {
        let mut sum = 0u64;
        trace.for_each_event(|e| sum = sum.wrapping_add(e.ts ^ u64::from(e.tid))).expect("decode");
        sum
    });
    black_box(sum);
    let (cols, _) = best_of(5, || decode_to_columns(&trace));
    let (par, _) = best_of(5, || {
        let counts = trace.par_map_columns(|_, cols| {
            cols.for_each_event(|e| {
                black_box(e);
            })
            .events
        });
        counts.into_iter().map(|r| r.expect("decode")).sum::<u64>()
    });

    // The decode to columns split in two: zstd alone, and the column decoding alone (no CRC, no
    // decompression) on the same ~1 s payloads.
    let mut raws: Vec<Vec<u8>> = events.chunks(200_000).map(chunk::encode_for_diagnostics).collect();
    let packed: Vec<Vec<u8>> =
        raws.iter().map(|r| zstd::bulk::compress(r, level).expect("zstd compress")).collect();
    let (unzstd, _) = best_of(5, || {
        let mut buf = Vec::new();
        for (z, r) in packed.iter().zip(&raws) {
            buf.clear();
            buf.reserve(r.len());
            zstd::bulk::Decompressor::new()
                .and_then(|mut d| d.decompress_to_buffer(black_box(z), &mut buf))
                .expect("zstd decompress");
        }
        buf.len()
    });
    let (columns_only, _) = best_of(5, || {
        let mut cols = ChunkColumns::default();
        let mut n = 0;
        for r in &mut raws {
            chunk::columns_from_raw_payload(black_box(r), &mut cols).expect("decode");
            n += black_box(cols.len());
        }
        n
    });

    // Where the bytes go: each column of one ~1 s chunk compressed on its own.
    let sample = chunk::encode_for_diagnostics(&events[..200_000.min(n)]);
    let mut columns: Vec<(usize, String)> = chunk::payload_streams(&sample)
        .into_iter()
        .map(|(id, data)| {
            let name = match id {
                0..=4 => ["kind", "ts (low bytes)", "task exceptions", "tid", "ts (high parts)"][id as usize]
                    .to_string(),
                _ => match EventKind::from_code((id >> 6) as u8) {
                    Some(k) => format!("{}.{}", k.name(), k.columns()[(id & 63) as usize].field),
                    None => format!("stream {id}"),
                },
            };
            (zstd::bulk::compress(&data, level).map_or(data.len(), |z| z.len()), name)
        })
        .collect();
    columns.sort_by_key(|c| std::cmp::Reverse(c.0));

    println!(
        "format benchmark: {n} synthetic MariaDB-like events, {} chunks, zstd level {level}",
        trace.chunks().len()
    );
    println!(
        "  bytes/event on disk     {:8.3}  ({} bytes; {:.2} raw bytes/event before zstd)",
        bytes.len() as f64 / n as f64,
        bytes.len(),
        raw as f64 / n as f64
    );
    println!("  encode columns, 1 core  {:8.1} M events/s", per_s(enc));
    println!(
        "  write (encode+zstd)     {:8.1} M events/s  (producer thread + zstd worker thread)",
        per_s(write)
    );
    println!(
        "  decode to events, 1 core {:7.1} M events/s  (CRC + zstd + columns + Event per callback)",
        per_s(dec)
    );
    println!(
        "  decode to columns, 1 core {:6.1} M events/s  (CRC + zstd + columns, no Event structs)",
        per_s(cols)
    );
    println!(
        "    of which zstd alone   {:8.1} M events/s  ({:.1} ns/event)",
        per_s(unzstd),
        unzstd.as_secs_f64() * 1e9 / n as f64
    );
    println!(
        "    of which columns alone {:7.1} M events/s  ({:.1} ns/event; no CRC, no zstd)",
        per_s(columns_only),
        columns_only.as_secs_f64() * 1e9 / n as f64
    );
    println!(
        "  decode to events, all cores {:4.1} M events/s  ({} threads, a chunk per thread)",
        per_s(par),
        rayon::current_num_threads()
    );
    if let Some(ghz) = clock_ghz() {
        let cycles = |d: Duration| d.as_secs_f64() * ghz * 1e9 / n as f64;
        println!(
            "  clock {ghz:.2} GHz (dependent multiplies): decode to columns {:.0} cycles/event (zstd {:.0}, \
             columns alone {:.0}); 50 M events/s is {:.0}",
            cycles(cols),
            cycles(unzstd),
            cycles(columns_only),
            ghz * 1e9 / 50e6
        );
    }
    let sample_n = 200_000.min(n) as f64;
    println!("  largest columns, compressed alone (bytes/event):");
    for (z, name) in columns.iter().take(8) {
        println!("    {name:36} {:6.3}", *z as f64 / sample_n);
    }
}
