//! `mysql-io analyze` and `mysql-io export` as users run them, on synthetic traces (no root):
//! the printed tables (snapshots), JSON and CSV, cut-short and damaged traces, the export's
//! header tables against `mysql-io info`, and the Python example of docs/ loading an export.

mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mysql_io_analyzer::polars::prelude::{DataType, ParquetReader, SerReader};
use run::{mysql_io, ok, text};
use serde_json::Value;

/// A deterministic synthetic trace of `events` events.
fn synth(dir: &Path, events: &str) -> PathBuf {
    synth_with(dir, events, &[])
}

fn synth_with(dir: &Path, events: &str, more: &[&str]) -> PathBuf {
    let p = dir.join("t.mio");
    let mut args = vec!["synth", "-o", p.to_str().expect("path"), "--events", events, "--seed", "3"];
    args.extend_from_slice(more);
    ok(&args);
    p
}

#[test]
fn printed_tables_fit_100_columns_and_stay_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = synth(dir.path(), "60K");
    let t = t.to_str().expect("path");
    for (name, args) in [
        ("sequentiality_by_file", vec!["analyze", "sequentiality", t]),
        ("sequentiality_by_table", vec!["analyze", "sequentiality", t, "--by", "table", "--top", "3"]),
        ("files", vec!["analyze", "files", t, "--top", "5"]),
        ("threads", vec!["analyze", "threads", t, "--top", "5"]),
        ("readahead", vec!["analyze", "readahead", t, "--top", "5"]),
    ] {
        let out = ok(&args);
        for line in out.lines() {
            assert!(line.chars().count() <= 100, "{name}: line over 100 columns: {line}");
        }
        insta::assert_snapshot!(name, out);
    }
}

#[test]
fn json_uses_the_briefs_names_and_agrees_with_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = synth(dir.path(), "30K");
    let t = t.to_str().expect("path");
    let v: Value =
        serde_json::from_str(&ok(&["analyze", "sequentiality", t, "--format", "json"])).expect("json");
    let row = &v["rows"][0];
    for key in [
        "reads",
        "bytes",
        "pages",
        "seq_ratio",
        "near_seq_ratio",
        "reverse_ratio",
        "random_ratio",
        "jump_histogram",
        "run_length_histogram",
    ] {
        assert!(!row[key].is_null(), "missing {key}: {row}");
    }
    let sum = row["near_seq_ratio"].as_f64().expect("f")
        + row["reverse_ratio"].as_f64().expect("f")
        + row["random_ratio"].as_f64().expect("f");
    assert!((sum - 1.0).abs() < 1e-9);
    let jumps: u64 = row["jump_histogram"]
        .as_array()
        .expect("array")
        .iter()
        .map(|b| b["count"].as_u64().expect("n"))
        .sum();
    assert_eq!(jumps, row["reads"].as_u64().expect("reads"));
    assert_eq!(v["by"], "file");

    let csv = ok(&["analyze", "sequentiality", t, "--format", "csv"]);
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let headers = r.headers().expect("headers").clone();
    assert_eq!(&headers[0], "group");
    let first = r.records().next().expect("row").expect("csv");
    assert_eq!(&first[0], row["group"].as_str().expect("group"));
    assert_eq!(first[1].parse::<u64>().expect("reads"), row["reads"].as_u64().expect("reads"));

    for analysis in ["files", "threads", "readahead"] {
        let v: Value =
            serde_json::from_str(&ok(&["analyze", analysis, t, "--format", "json"])).expect("json");
        assert!(v["warnings"].is_array(), "{analysis}");
    }
    let ra: Value =
        serde_json::from_str(&ok(&["analyze", "readahead", t, "--format", "json"])).expect("json");
    let total = &ra["total"];
    assert_eq!(
        total["wasted"].as_u64(),
        Some(total["evicted_unused"].as_u64().expect("n") + total["unused_at_end"].as_u64().expect("n"))
    );
}

#[test]
fn a_cut_short_trace_is_analyzed_up_to_where_it_ends_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A slow server: chunks close after 1 s of trace time, so this trace has about 20.
    let t = synth_with(dir.path(), "400K", &["--ops-per-sec", "2000"]);
    let bytes = std::fs::read(&t).expect("read");
    let cut = dir.path().join("cut.mio");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let out = mysql_io(&["analyze", "sequentiality", cut.to_str().expect("path"), "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let full: Value = serde_json::from_str(&ok(&[
        "analyze",
        "sequentiality",
        t.to_str().expect("path"),
        "--format",
        "json",
    ]))
    .expect("json");
    let (half, all) = (v["total"]["reads"].as_u64().expect("n"), full["total"]["reads"].as_u64().expect("n"));
    assert!(half > 0 && half < all, "{half} of {all}");
    assert!(text(&out.stderr).contains("the trace is incomplete"), "{}", text(&out.stderr));
    assert!(v["warnings"][0].as_str().expect("warning").contains("cut short"));
}

#[test]
fn a_damaged_chunk_is_left_out_and_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = synth(dir.path(), "400K");
    let mut bytes = std::fs::read(&t).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&t, &bytes).expect("write");
    for analysis in ["sequentiality", "readahead"] {
        let out = mysql_io(&["analyze", analysis, t.to_str().expect("path")]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains("is damaged: CRC mismatch") && err.contains("left out"), "{analysis}: {err}");
    }
}

#[test]
fn bad_arguments_are_refused_in_one_sentence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = synth(dir.path(), "10K");
    let t = t.to_str().expect("path");
    for (args, want) in [
        (vec!["analyze", "sequentiality", t, "--by", "disk"], "is not a grouping"),
        (vec!["analyze", "files", t, "--file", "["], "--file ["),
        (vec!["analyze", "threads", "/nonexistent.mio"], "cannot be analyzed"),
        (vec!["analyze", "readahead", t, "--since", "later"], "invalid value 'later'"),
        (vec!["export", t, "-o", "/proc/nope/x"], "cannot write /proc/nope/x"),
    ] {
        let out = mysql_io(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}

/// The Python example of docs/ loads an export and finds what `mysql-io analyze` finds.
#[test]
fn the_python_example_loads_an_export_and_agrees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = synth(dir.path(), "80K");
    let out_dir = dir.path().join("export");
    let listing = ok(&["export", t.to_str().expect("path"), "-o", out_dir.to_str().expect("path")]);
    assert!(listing.contains("reads") && listing.contains("page_cache_add"), "{listing}");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/load_trace.py");
    // scripts/test makes a virtualenv with polars and names its interpreter here.
    let python = std::env::var("MYSQL_IO_PYTHON").unwrap_or_else(|_| "python3".into());
    let py = Command::new(&python).arg(script).arg(&out_dir).arg("--json").output().expect("python");
    assert!(
        py.status.success(),
        "the example failed under {python} (it needs polars: scripts/test installs it): {}",
        text(&py.stderr)
    );
    let py: Value = serde_json::from_slice(&py.stdout).expect("python json");
    let ours: Value = serde_json::from_str(&ok(&[
        "analyze",
        "sequentiality",
        t.to_str().expect("path"),
        "--format",
        "json",
    ]))
    .expect("json");
    let mut checked = 0;
    for row in ours["rows"].as_array().expect("rows") {
        let theirs = py["per_file"]
            .as_array()
            .expect("per_file")
            .iter()
            .find(|r| r["path"] == row["group"])
            .unwrap_or_else(|| panic!("python has no {}", row["group"]));
        assert_eq!(theirs["reads"], row["reads"]);
        let (a, b) = (theirs["seq_ratio"].as_f64().expect("f"), row["seq_ratio"].as_f64().expect("f"));
        assert!((a - b).abs() < 1e-12, "{}: python {a}, mysql-io {b}", row["group"]);
        checked += 1;
    }
    assert!(checked >= 8);
    let tables: u64 =
        py["per_table"].as_array().expect("per_table").iter().map(|r| r["reads"].as_u64().expect("n")).sum();
    assert_eq!(tables, ours["total"]["reads"].as_u64().expect("n"));
}

/// A table `mysql-io export` wrote (`dir/name.parquet` or `.csv`), every value as text.
fn exported_rows(dir: &Path, name: &str, format: &str) -> Vec<BTreeMap<String, String>> {
    let path = dir.join(format!("{name}.{format}"));
    if format == "csv" {
        let mut r = csv::Reader::from_path(&path).expect("csv");
        let headers = r.headers().expect("headers").clone();
        return r
            .records()
            .map(|rec| {
                let rec = rec.expect("record");
                headers.iter().zip(rec.iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect()
            })
            .collect();
    }
    let df = ParquetReader::new(std::fs::File::open(&path).expect("open")).finish().expect("parquet");
    let mut out = vec![BTreeMap::new(); df.height()];
    for c in df.columns() {
        let text = c.cast(&DataType::String).expect("cast");
        for (row, v) in out.iter_mut().zip(text.str().expect("str").iter()) {
            row.insert(c.name().to_string(), v.unwrap_or_default().to_string());
        }
    }
    out
}

/// A header figure as export writes it: null when 0 (not recorded).
fn known(v: &Value) -> Value {
    if v.as_u64() == Some(0) {
        Value::Null
    } else {
        v.clone()
    }
}

/// A JSON scalar as export writes it.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// `export` writes the header `mysql-io info` reads: the real recording and a synthetic trace,
/// Parquet and CSV.
#[test]
fn export_writes_the_trace_header_that_info_shows_in_both_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mariadb-sysbench.mio");
    let synthetic = synth(dir.path(), "20K");
    for trace in [real, synthetic] {
        let t = trace.to_str().expect("path");
        let info: Value = serde_json::from_str(&ok(&["info", t, "--format", "json"])).expect("json");
        let h = &info["header"];
        for format in ["parquet", "csv"] {
            let out = dir.path().join(format!("export-{format}"));
            let _ = std::fs::remove_dir_all(&out);
            let listing = ok(&["export", t, "--format", format, "-o", out.to_str().expect("path")]);
            for table in ["trace", "devices", "probes", "status_deltas", "open_fds"] {
                assert!(listing.lines().any(|l| l.starts_with(&format!("{table} "))), "{table}: {listing}");
            }
            let what = format!("{t} {format}");

            let row = &exported_rows(&out, "trace", format)[0];
            for (col, want) in [
                ("format_version", &info["format_version"]),
                ("tool", &h["tool"]),
                ("host", &h["host"]),
                ("kernel_release", &h["kernel_release"]),
                ("kernel_version", &h["kernel_version"]),
                ("arch", &h["arch"]),
                ("page_size", &h["page_size"]),
                ("cpus", &h["cpus"]),
                ("clock", &h["clock"]),
                ("clock_offset_ns", &h["clock_offset_ns"]),
                ("start_ts", &h["start_ts"]),
                ("t_min", &info["t_min"]),
                ("t_max", &info["t_max"]),
                ("start_unix_ns", &info["start_unix_ns"]),
                ("events", &info["events"]),
                ("chunks", &info["chunks"]),
                ("lost", &info["lost"]),
                ("complete", &info["complete"]),
                ("file_bytes", &info["file_bytes"]),
                ("mem_total_kb", &known(&h["mem_total_kb"])),
                ("mem_available_kb", &known(&h["mem_available_kb"])),
                ("page_cache_kb", &known(&h["page_cache_kb"])),
            ] {
                assert_eq!(row[col], as_text(want), "{what}: trace.{col}");
            }
            let command: Vec<String> =
                h["command"].as_array().expect("command").iter().map(as_text).collect();
            assert_eq!(row["command"], command.join(" "), "{what}");

            let devices = exported_rows(&out, "devices", format);
            let want = h["devices"].as_array().expect("devices");
            assert!(!want.is_empty(), "{what}: the header lists devices");
            assert_eq!(devices.len(), want.len(), "{what}");
            for (row, dev) in devices.iter().zip(want) {
                for col in
                    ["dev", "name", "read_ahead_kb", "max_sectors_kb", "rotational", "logical_block_size"]
                {
                    assert_eq!(row[col], as_text(&dev[col]), "{what}: devices.{col}");
                }
                let n = dev["dev"].as_u64().expect("dev");
                assert_eq!(row["major"], (n >> 20).to_string());
                assert_eq!(row["minor"], (n & 0xfffff).to_string());
                // A partition's queue is its disk's (the header's `disks`), a disk's its own.
                let disk = h["disks"].as_array().expect("disks").iter().find(|d| d[0].as_u64() == Some(n));
                let queue = disk.map_or(&dev["name"], |d| &d[1]);
                assert_eq!(row["queue_device"], as_text(queue), "{what}: devices.queue_device");
            }

            let probes = exported_rows(&out, "probes", format);
            let want = h["probes"].as_array().expect("probes");
            assert!(!want.is_empty(), "{what}: the header lists probes");
            for p in want {
                let row = probes
                    .iter()
                    .find(|r| r["code"] == as_text(&p["kind"]))
                    .unwrap_or_else(|| panic!("{what}: no probe row for kind {}", p["kind"]));
                assert_eq!(row["mode"], as_text(&p["mode"]), "{what}");
                let attach: Vec<String> =
                    p["attach"].as_array().expect("attach").iter().map(as_text).collect();
                assert_eq!(row["attach"], attach.join(" "), "{what}");
                assert_eq!(row["note"], as_text(&p["note"]), "{what}");
                let count = |key: &str| info[key][&row["kind"]].as_u64().unwrap_or(0).to_string();
                assert_eq!(row["events"], count("events_by_kind"), "{what}: {}", row["kind"]);
                assert_eq!(row["lost"], count("lost_by_kind"), "{what}: {}", row["kind"]);
            }

            let deltas = exported_rows(&out, "status_deltas", format);
            let mut want = BTreeMap::new();
            for s in info["server_status"].as_array().expect("server_status") {
                for (counter, delta) in s["deltas"].as_object().expect("deltas") {
                    want.insert((as_text(&s["pid"]), counter.clone()), as_text(delta));
                }
            }
            let got: BTreeMap<(String, String), String> = deltas
                .iter()
                .map(|r| ((r["pid"].clone(), r["counter"].clone()), r["delta"].clone()))
                .collect();
            assert_eq!(got, want, "{what}: status_deltas");
        }
    }
}

/// The exact nearest-rank percentile of `v`: the smallest value at least `percent`% of `v` do
/// not exceed.
fn nearest_rank(v: &mut [u64], percent: usize) -> u64 {
    v.sort_unstable();
    v[(percent * v.len()).div_ceil(100).max(1) - 1]
}

/// The latency percentiles `analyze files` and `analyze threads` print for the real recording
/// are within the stated 1/64 of the exact ones, computed here by sorting the latencies of the
/// `reads` table `export` writes: per file, per thread and per role. CSV and the printed tables
/// show the same values.
#[test]
fn latency_percentiles_agree_with_the_exported_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mariadb-sysbench.mio");
    let t = real.to_str().expect("path");
    ok(&["export", t, "-o", dir.path().to_str().expect("path")]);
    let reads = ParquetReader::new(std::fs::File::open(dir.path().join("reads.parquet")).expect("open"))
        .finish()
        .expect("parquet");
    let latency: Vec<Option<u64>> =
        reads.column("latency_ns").expect("col").u64().expect("u64").iter().collect();
    let text_of = |name: &str| -> Vec<String> {
        let c = reads.column(name).expect("col").cast(&DataType::String).expect("cast");
        c.str().expect("str").iter().map(|v| v.unwrap_or_default().to_string()).collect()
    };
    let (paths, tids, roles) = (text_of("path"), text_of("tid"), text_of("role"));
    // Completed reads' latencies per file, per thread and per role.
    let mut by: BTreeMap<(&str, String), Vec<u64>> = BTreeMap::new();
    for (i, l) in latency.iter().enumerate() {
        let Some(l) = *l else { continue };
        by.entry(("file", paths[i].clone())).or_default().push(l);
        by.entry(("thread", format!("tid {}", tids[i]))).or_default().push(l);
        by.entry(("role", roles[i].clone())).or_default().push(l);
    }
    let check = |kind: &str, key: &str, row: &Value| {
        let mut v = by.get(&(kind, key.to_string())).cloned().unwrap_or_default();
        for (percent, field) in [(50, "p50_latency_us"), (99, "p99_latency_us")] {
            if v.is_empty() {
                assert!(row[field].is_null(), "{kind} {key}: no completed read, yet {field} {}", row[field]);
                continue;
            }
            let exact = nearest_rank(&mut v, percent) as f64;
            let got = row[field].as_f64().unwrap_or_else(|| panic!("{kind} {key}: no {field}")) * 1000.0;
            assert!(
                (got - exact).abs() <= exact / 64.0 + 1e-6,
                "{kind} {key}: {field} {got} ns, exactly {exact} ns ({} reads)",
                v.len()
            );
        }
        // The largest latency bounds every percentile.
        if let Some(max) = row["max_latency_us"].as_f64() {
            assert!(row["p99_latency_us"].as_f64().unwrap_or(0.0) <= max, "{kind} {key}");
        }
    };

    let files: Value = serde_json::from_str(&ok(&["analyze", "files", t, "--format", "json"])).expect("json");
    let files = files["files"].as_array().expect("files");
    for row in files {
        check("file", row["file"].as_str().expect("file"), row);
    }
    // The most read file has enough reads for its p50 and p99 to differ from its mean and max.
    let top = &files[0];
    assert!(top["reads"].as_u64().expect("reads") > 10_000, "{top}");
    assert!(top["p50_latency_us"].as_f64() < top["p99_latency_us"].as_f64(), "{top}");
    let threads: Value =
        serde_json::from_str(&ok(&["analyze", "threads", t, "--format", "json"])).expect("json");
    for row in threads["threads"].as_array().expect("threads") {
        check("thread", row["thread"].as_str().expect("thread"), row);
    }
    for row in threads["roles"].as_array().expect("roles") {
        check("role", row["role"].as_str().expect("role"), row);
    }

    // CSV: the percentiles right after the mean, the same values to 3 decimals.
    let csv = ok(&["analyze", "files", t, "--format", "csv"]);
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let headers: Vec<String> = r.headers().expect("headers").iter().map(String::from).collect();
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(
        [at("p50_latency_us"), at("p99_latency_us"), at("max_latency_us")],
        [at("mean_latency_us") + 1, at("mean_latency_us") + 2, at("mean_latency_us") + 3]
    );
    let first = r.records().next().expect("row").expect("csv");
    assert_eq!(&first[at("file")], top["file"].as_str().expect("file"));
    for field in ["p50_latency_us", "p99_latency_us"] {
        assert_eq!(first[at(field)], format!("{:.3}", top[field].as_f64().expect("f")), "{field}");
    }
    let csv = ok(&["analyze", "threads", t, "--format", "csv"]);
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let headers: Vec<String> = r.headers().expect("headers").iter().map(String::from).collect();
    let mean = headers.iter().position(|h| h == "mean_latency_us").expect("mean");
    assert_eq!(&headers[mean + 1..mean + 3], ["p50_latency_us", "p99_latency_us"]);

    // The printed tables of a real recording fit 100 columns too.
    for analysis in ["files", "threads"] {
        let out = ok(&["analyze", analysis, t]);
        for line in out.lines() {
            assert!(line.chars().count() <= 100, "{analysis}: line over 100 columns: {line}");
        }
    }
}
