//! `mysql-io export --partition` for a fleet (no root): traces of three hosts into one hive
//! directory, added to by later commands, refused and forced re-exports, bad directories; and
//! every DuckDB query of docs/fleet.md run as written on the result (DuckDB's Python package,
//! from the interpreter `MYSQL_IO_PYTHON` names) and checked against `mysql-io info`, `mysql-io
//! analyze` and the trace itself.

mod run;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use mysql_io_analyzer::polars::prelude::{ParquetReader, SerReader};
use mysql_io_analyzer::{load, Filter};
use mysql_io_format::{EventBody, TraceFile};
use run::{mysql_io, ok, text};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"))
}

/// Fails with exit status 2 and one line on stderr that contains `want`.
fn refused(args: &[&str], want: &str) -> String {
    let out = mysql_io(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(want), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
    err
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(name)
}

/// A synthetic trace of 200K events, `dir/name.mio`, recorded on `host`.
fn synth(dir: &Path, name: &str, host: &str, seed: &str) -> PathBuf {
    let p = dir.join(format!("{name}.mio"));
    ok(&["synth", "-o", path(&p), "--events", "200K", "--seed", seed, "--host", host]);
    p
}

/// The `name=value` directories under `dir`, by value.
fn partitions(dir: &Path, name: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .map(|n| {
            n.strip_prefix(&format!("{name}=")).unwrap_or_else(|| panic!("{n} in {}", dir.display())).into()
        })
        .collect();
    out.sort();
    out
}

/// Table names of a listing `export` printed (`name  rows  path` lines).
fn listed_tables(listing: &str) -> BTreeSet<String> {
    listing
        .lines()
        .filter(|l| l.contains(" rows "))
        .map(|l| l.split_whitespace().next().expect("name").to_string())
        .collect()
}

/// The host partition a trace goes to: its header's host, `unknown` when empty.
fn host_of(info: &Value) -> String {
    match info["header"]["host"].as_str().expect("host") {
        "" => "unknown".into(),
        h => h.into(),
    }
}

#[test]
fn partitions_are_added_refused_and_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = synth(dir.path(), "a", "db-a", "5");
    let b = synth(dir.path(), "b", "db-b", "6");
    // Made safe for a directory name: no `/` or `=`.
    let c = synth(dir.path(), "c", "db/c=3", "7");
    let fleet = dir.path().join("fleet");
    let f = path(&fleet);

    let first = ok(&["export", path(&a), "--partition", f]);
    let info_a = json(&["info", path(&a), "--format", "json"]);
    let ids_a = partitions(&fleet.join("reads/host=db-a"), "trace");
    assert_eq!(ids_a.len(), 1);
    let id = &ids_a[0];
    assert!(first.starts_with(&format!("{}: host=db-a trace={id}\n", a.display())), "{first}");
    // The id: the first event's UTC second, then 8 hex digits.
    let start = info_a["start_unix_ns"].as_u64().expect("start");
    let stamp: String = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_nanos(start))
        .to_string()
        .replace(['-', ':'], "");
    let (time, hash) = id.split_once('-').expect("time-hash");
    assert_eq!(time, stamp);
    assert!(hash.len() == 8 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{id}");

    // Every table the plain export writes, plus `traces`, each in this trace's partition.
    let flat = ok(&["export", path(&a), "-o", path(&dir.path().join("flat"))]);
    let mut want = listed_tables(&flat);
    want.insert("traces".into());
    assert_eq!(listed_tables(&first), want);
    for table in &want {
        let part = fleet.join(table).join("host=db-a").join(format!("trace={id}")).join("part.parquet");
        let df = ParquetReader::new(std::fs::File::open(&part).unwrap_or_else(|e| panic!("{table}: {e}")))
            .finish()
            .expect("parquet");
        let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
        assert!(
            !names.iter().any(|n| n == "host" || n == "trace"),
            "{table} has a partition's column: {names:?}"
        );
        if table == "traces" {
            assert_eq!(df.height(), 1);
        }
    }
    let a_reads = fleet.join("reads/host=db-a").join(format!("trace={id}")).join("part.parquet");
    let written = std::fs::metadata(&a_reads).expect("reads").modified().expect("mtime");

    // A second command adds two more hosts beside the first.
    let more = ok(&["export", path(&b), path(&c), "--partition", f]);
    assert!(more.contains("host=db-b") && more.contains("host=db_c_3"), "{more}");
    assert_eq!(partitions(&fleet.join("reads"), "host"), ["db-a", "db-b", "db_c_3"]);
    assert_eq!(partitions(&fleet.join("traces"), "host"), ["db-a", "db-b", "db_c_3"]);

    // The same recording again, under its name or another: refused before anything is written,
    // the new trace of the command included.
    let d = synth(dir.path(), "d", "db-d", "8");
    let renamed = dir.path().join("copy-of-a.mio");
    std::fs::copy(&a, &renamed).expect("copy");
    for args in [
        vec!["export", path(&d), path(&a), "--partition", f],
        vec!["export", path(&renamed), "--partition", f],
    ] {
        let err = refused(&args, "is already exported as host=db-a/trace=");
        assert!(err.contains("--force replaces it"), "{err}");
    }
    assert!(!fleet.join("reads/host=db-d").exists(), "a refused command wrote db-d");
    assert_eq!(std::fs::metadata(&a_reads).expect("reads").modified().expect("mtime"), written);
    let d_again = dir.path().join("d-again.mio");
    std::fs::copy(&d, &d_again).expect("copy");
    refused(&["export", path(&d), path(&d_again), "--partition", f], "are the same recording");
    assert!(!fleet.join("reads/host=db-d").exists(), "a refused command wrote db-d");

    // --force writes it again, in the same place, once.
    let again = ok(&["export", path(&renamed), "--partition", f, "--force"]);
    assert!(again.contains(&format!("host=db-a trace={id} (replaced)")), "{again}");
    assert_eq!(partitions(&fleet.join("reads/host=db-a"), "trace"), std::slice::from_ref(id));
    assert_eq!(partitions(&fleet.join("reads"), "host"), ["db-a", "db-b", "db_c_3"]);

    // Bad directories and arguments: one sentence, exit 2.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    refused(&["export", path(&a), "--partition", path(&file)], "is not a directory");
    refused(&["export", path(&a), "--partition", "/proc/nope/fleet"], "cannot write /proc/nope/fleet");
    refused(
        &["export", path(&a), path(&b), "-o", path(&dir.path().join("x"))],
        "export several with --partition",
    );
    // Clap's usage errors also exit 2 (several lines: the usage).
    let out = mysql_io(&["export", path(&a), "-o", path(&dir.path().join("y")), "--partition", f]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot be used with"), "{}", text(&out.stderr));
}

/// The fenced ```sql blocks of docs/fleet.md: (engine, name, SQL), from the
/// `<!-- duckdb: NAME -->` or `<!-- spark: NAME -->` line before each.
fn doc_queries() -> Vec<(String, String, String)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/fleet.md"))
        .expect("docs/fleet.md");
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_start().starts_with("```sql") {
            let marker = lines[..i].iter().rev().find(|l| !l.trim().is_empty()).copied().unwrap_or("");
            let tag =
                marker.trim().strip_prefix("<!--").and_then(|m| m.strip_suffix("-->")).unwrap_or_else(|| {
                    panic!("docs/fleet.md line {}: a sql block without an engine marker", i + 1)
                });
            let (engine, name) = tag.trim().split_once(':').expect("engine: name");
            let end = (i + 1..lines.len()).find(|&j| lines[j].trim() == "```").expect("closing fence");
            out.push((engine.trim().to_string(), name.trim().to_string(), lines[i + 1..end].join("\n")));
            i = end;
        }
        i += 1;
    }
    out
}

/// Runs the statements in order on one DuckDB connection (with `cwd` as working directory);
/// each statement's rows, as maps of column to value, by name.
const DUCKDB_DRIVER: &str = r#"
import decimal, json, sys
import duckdb
con = duckdb.connect()
out = {}
for name, sql in json.load(sys.stdin):
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description] if cur.description else []
    out[name] = [dict(zip(cols, row)) for row in cur.fetchall()] if cols else []
print(json.dumps(out, default=lambda v: float(v) if isinstance(v, decimal.Decimal) else str(v)))
"#;

/// The interpreter of `MYSQL_IO_PYTHON` (else `python3`); fails, never skips, without DuckDB.
fn python_with_duckdb() -> String {
    let python = std::env::var("MYSQL_IO_PYTHON").unwrap_or_else(|_| "python3".into());
    let check = Command::new(&python).args(["-c", "import duckdb"]).output();
    let ok = matches!(&check, Ok(o) if o.status.success());
    assert!(
        ok,
        "DuckDB's Python package is missing under {python} (MYSQL_IO_PYTHON): scripts/test installs it into \
         target/python; or `python3 -m venv V && V/bin/pip install duckdb` and MYSQL_IO_PYTHON=V/bin/python ({})",
        match &check {
            Ok(o) => text(&o.stderr),
            Err(e) => e.to_string(),
        }
    );
    python
}

type Rows = Vec<BTreeMap<String, Value>>;

fn run_duckdb(python: &str, cwd: &Path, queries: &[(String, String)]) -> BTreeMap<String, Rows> {
    let mut child = Command::new(python)
        .args(["-c", DUCKDB_DRIVER])
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    serde_json::to_writer(child.stdin.take().expect("stdin"), queries).expect("queries");
    let out = child.wait_with_output().expect("python");
    assert!(out.status.success(), "a DuckDB query of docs/fleet.md failed: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("driver json")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Figures of one trace computed without the export: from `mysql-io info` and `analyze`, and
/// from the trace itself.
struct Known {
    host: String,
    /// What `traces.innodb_flush_method` should say.
    flush_method: &'static str,
    info: Value,
    seq_by_table: Value,
    total_reads: u64,
    /// Reads and distinct paths per file device.
    per_dev: BTreeMap<u32, (u64, BTreeSet<String>)>,
    /// Distinct (file, page) pairs some readahead window covered, and those no page-cache lookup
    /// read.
    ahead_pages: u64,
    unread_pages: u64,
    /// `analyze readahead`'s wasted pages.
    wasted: u64,
    /// What the reads caused: pages inserted, sync and async readahead decisions.
    caused: (u64, u64, u64),
}

fn known(trace: &Path, flush_method: &'static str) -> Known {
    let t = path(trace);
    let info = json(&["info", t, "--format", "json"]);
    let seq_by_table = json(&["analyze", "sequentiality", t, "--by", "table", "--format", "json"]);
    let total_reads = u(&seq_by_table["total"]["reads"]);

    let file = TraceFile::open(trace).expect("open");
    let parsed = file.parse().expect("parse");
    let mut ahead: HashSet<(u32, u64, u64)> = HashSet::new();
    let mut looked_up: HashSet<(u32, u64, u64)> = HashSet::new();
    parsed
        .for_each_event(|e| match e.body {
            EventBody::ReadaheadWindow(w) => {
                ahead.extend((w.index..w.index + w.size).map(|p| (w.dev, w.ino, p)))
            }
            EventBody::FilemapGetPages(g) => {
                looked_up.extend((g.index..=g.last_index).map(|p| (g.dev, g.ino, p)));
            }
            _ => {}
        })
        .expect("events");
    let ds = load(&parsed, &Filter::default()).expect("reads");
    let col = |name: &str| ds.reads.column(name).expect(name).clone();
    let fileno = col("file");
    let mut per_dev: BTreeMap<u32, (u64, BTreeSet<String>)> = BTreeMap::new();
    for fi in fileno.u32().expect("u32").into_no_null_iter() {
        let fe = &ds.files[fi as usize];
        let d = per_dev.entry(fe.dev).or_default();
        d.0 += 1;
        d.1.insert(fe.path.clone());
    }
    let unread = ahead.iter().filter(|k| !looked_up.contains(k)).count() as u64;
    let wasted = u(&json(&["analyze", "readahead", t, "--format", "json"])["total"]["wasted"]);
    let sum = |name: &str| -> u64 {
        let c = col(name).cast(&mysql_io_analyzer::polars::prelude::DataType::UInt64).expect("cast");
        c.u64().expect("u64").into_no_null_iter().sum()
    };
    let caused = (sum("pages_inserted"), sum("ra_sync"), sum("ra_async"));
    Known {
        host: host_of(&info),
        flush_method,
        info,
        seq_by_table,
        total_reads,
        per_dev,
        ahead_pages: ahead.len() as u64,
        unread_pages: unread,
        wasted,
        caused,
    }
}

#[test]
fn the_docs_duckdb_queries_answer_for_three_hosts() {
    let python = python_with_duckdb();
    let dir = tempfile::tempdir().expect("tempdir");
    // The recording's host is `vm`; the third trace's header has no host name.
    let traces = [
        testdata("mariadb-sysbench.mio"),
        synth(dir.path(), "a", "fleet-a", "11"),
        synth(dir.path(), "nameless", "", "12"),
    ];
    let fleet = dir.path().join("fleet");
    // Two commands into one directory: the recording, then both synthetic hosts.
    ok(&["export", path(&traces[0]), "--partition", path(&fleet)]);
    ok(&["export", path(&traces[1]), path(&traces[2]), "--partition", path(&fleet)]);

    // testdata/README.md: MariaDB ran with --innodb-flush-method=fsync; synth names none.
    let known: Vec<Known> =
        traces.iter().zip(["fsync", "unknown", "unknown"]).map(|(t, flush)| known(t, flush)).collect();
    let hosts: Vec<&str> = known.iter().map(|k| k.host.as_str()).collect();
    assert_eq!(hosts, ["vm", "fleet-a", "unknown"]);
    let recording = &known[0].host;
    let by_host = |h: &str| known.iter().find(|k| k.host == h).unwrap_or_else(|| panic!("host {h}"));

    let queries = doc_queries();
    let duck: Vec<(String, String)> =
        queries.iter().filter(|(e, _, _)| e == "duckdb").map(|(_, n, s)| (n.clone(), s.clone())).collect();
    for (engine, name, _) in &queries {
        assert!(engine == "duckdb" || engine == "spark", "{name}: unknown engine {engine}");
    }
    let names: Vec<&str> = duck.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["views", "fleet", "reads_per_device", "sequentiality_by_table", "readahead_waste"]);
    let res = run_duckdb(&python, dir.path(), &duck);

    // The fleet: one row per trace, with what `info` says of it.
    let rows = &res["fleet"];
    assert_eq!(rows.len(), 3);
    for row in rows {
        let h = row["host"].as_str().expect("host");
        let k = by_host(h);
        let ids = partitions(&fleet.join("reads").join(format!("host={h}")), "trace");
        assert_eq!(ids, [row["trace"].as_str().expect("trace")], "{h}");
        let hdr = &k.info["header"];
        assert_eq!(row["kernel_release"], hdr["kernel_release"], "{h}");
        assert_eq!(row["events"], k.info["events"], "{h}");
        assert_eq!(row["lost"], k.info["lost"], "{h}");
        assert_eq!(u(&row["reads"]), k.total_reads, "{h}");
        let mut versions: Vec<&str> = hdr["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .map(|p| p["version"].as_str().expect("v"))
            .collect();
        versions.dedup();
        assert_eq!(row["server_versions"], versions.join(", "), "{h}");
        let devices: Vec<String> = hdr["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .map(|d| format!("{}:{}", d["name"].as_str().expect("name"), d["read_ahead_kb"]))
            .collect();
        assert_eq!(row["devices"], devices.join(" "), "{h}");
        let start = u(&k.info["start_unix_ns"]);
        let want = humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(start)).to_string();
        assert_eq!(row["start"], want, "{h}");
        assert_eq!(row["flush_method"], k.flush_method, "{h}");
        assert_eq!(row["direct_files"], 0, "{h}: buffered reads only");
        // The header's memory in MiB; null where the header has none (0: recorded before it had).
        for (col, field) in [("mem_mib", "mem_total_kb"), ("page_cache_mib", "page_cache_kb")] {
            let want = match u(&hdr[field]) {
                0 => Value::Null,
                kb => Value::from(kb / 1024),
            };
            assert_eq!(row[col], want, "{h}: {col}");
        }
    }

    // Reads per host and device: the trace's reads by their file's device, read_ahead_kb as
    // the header lists it.
    let rows = &res["reads_per_device"];
    for k in &known {
        let devices = k.info["header"]["devices"].as_array().expect("devices");
        let mine: Vec<&BTreeMap<String, Value>> =
            rows.iter().filter(|r| r["host"] == k.host.as_str()).collect();
        assert_eq!(mine.iter().map(|r| u(&r["reads"])).sum::<u64>(), k.total_reads, "{}", k.host);
        assert_eq!(mine.len(), k.per_dev.len(), "{}: {mine:?}", k.host);
        for (dev, (reads, paths)) in &k.per_dev {
            let listed = devices.iter().find(|d| u(&d["dev"]) == u64::from(*dev));
            let name = listed.map_or(Value::Null, |d| d["name"].clone());
            let row =
                mine.iter().find(|r| r["device"] == name).unwrap_or_else(|| panic!("{}: no {name}", k.host));
            assert_eq!(u(&row["reads"]), *reads, "{} {name}", k.host);
            assert_eq!(u(&row["files"]), paths.len() as u64, "{} {name}", k.host);
            assert_eq!(row["read_ahead_kb"], listed.map_or(Value::Null, |d| d["read_ahead_kb"].clone()));
        }
    }
    // The data files of the recording sat on loop2 at 128 KiB (testdata/README.md).
    let loop2 =
        rows.iter().find(|r| r["host"] == recording.as_str() && r["device"] == "loop2").expect("loop2");
    assert_eq!(loop2["read_ahead_kb"], 128);
    assert!(u(&loop2["reads"]) > 180_000, "{loop2:?}");

    // Sequentiality per table and host: `analyze sequentiality --by table` of each trace.
    let rows = &res["sequentiality_by_table"];
    for k in &known {
        let want = k.seq_by_table["rows"].as_array().expect("rows");
        let mine: Vec<&BTreeMap<String, Value>> =
            rows.iter().filter(|r| r["host"] == k.host.as_str()).collect();
        assert_eq!(mine.len(), want.len(), "{}", k.host);
        for w in want {
            let row = mine
                .iter()
                .find(|r| r["table"] == w["group"])
                .unwrap_or_else(|| panic!("{}: no table {}", k.host, w["group"]));
            assert_eq!(row["reads"], w["reads"], "{} {}", k.host, w["group"]);
            for ratio in ["seq_ratio", "near_seq_ratio", "reverse_ratio", "random_ratio"] {
                let (sql, ours) = (f(&row[ratio]), f(&w[ratio]));
                assert!(
                    (sql - ours).abs() < 1e-9,
                    "{} {} {ratio}: DuckDB {sql}, analyze {ours}",
                    k.host,
                    w["group"]
                );
            }
        }
    }
    // Not a vacuous match: the recording's scan of sbtest5 is sequential, its point selects not.
    let seq = |table: &str| {
        f(&rows.iter().find(|r| r["host"] == recording.as_str() && r["table"] == table).expect(table)
            ["seq_ratio"])
    };
    assert!(seq("sbtest.sbtest5") > 0.9 && seq("sbtest.sbtest1") < 0.5);

    // Readahead nobody read, per host: the pages computed from the trace's own events, and near
    // what `analyze readahead` finds wasted following every page through time.
    let rows = &res["readahead_waste"];
    assert_eq!(rows.len(), 3);
    for row in rows {
        let k = by_host(row["host"].as_str().expect("host"));
        assert_eq!(u(&row["ahead_pages"]), k.ahead_pages, "{}", k.host);
        assert_eq!(u(&row["unread_pages"]), k.unread_pages, "{}", k.host);
        assert!(k.ahead_pages > 0 && k.unread_pages > 0, "{}: nothing to compare", k.host);
        let off = k.unread_pages.abs_diff(k.wasted) as f64 / k.wasted as f64;
        assert!(
            off < 0.1,
            "{}: {} unread pages, analyze readahead: {} wasted",
            k.host,
            k.unread_pages,
            k.wasted
        );
        let pct = (1000.0 * k.unread_pages as f64 / k.ahead_pages as f64).round() / 10.0;
        assert!((f(&row["unread_pct"]) - pct).abs() < 0.051, "{}: {row:?}", k.host);
        let caused = (u(&row["pages_inserted"]), u(&row["ra_sync"]), u(&row["ra_async"]));
        assert_eq!(caused, k.caused, "{}", k.host);
        assert!(row["worst_file"].as_str().is_some_and(|p| p.ends_with(".ibd")), "{row:?}");
    }
    let order: Vec<u64> = rows.iter().map(|r| u(&r["unread_pages"])).collect();
    assert!(order.windows(2).all(|w| w[0] >= w[1]), "most waste first: {order:?}");
}
