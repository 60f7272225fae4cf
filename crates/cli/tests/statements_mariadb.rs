//! `record --statements` on a real MariaDB (root): uprobes on the server's command dispatch,
//! found by symbol in the installed mariadbd. A full table scan (a plain query) runs beside point
//! selects (sysbench's prepared statements); the trace must give each statement its digest, the
//! prepared executions the digest of what was prepared, never the statements' literals (unless
//! `--sql-text`), and attribute the scan's and the point selects' reads to them. Test names
//! start with `root_`; they fail (never skip) without root, MariaDB or sysbench.

#![cfg(feature = "record")]

#[path = "../../recorder/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mysql_io_format::{EventBody, Statement, TraceFile};
use support::{one_server, require_root, Recording, Sandbox};

/// A literal that must never reach a trace recorded without --sql-text.
const SECRET: &str = "mio-secret-4711";

fn start_recording(pid: u32, trace: &Path, extra: &[&str]) -> Recording {
    Recording::start(
        Command::new("env")
            .args(["--default-signal=HUP", env!("CARGO_BIN_EXE_mysql-io")])
            .args(["record", "-p", &pid.to_string(), "-o"])
            .arg(trace)
            .args(extra)
            .stdout(Stdio::null()),
    )
}

fn stop_recording(rec: Recording) -> String {
    rec.signal(libc::SIGINT);
    let (status, err) = rec.wait();
    assert!(status.success(), "record failed: {err}");
    err
}

/// A statement as the trace has it, with where it ran.
#[derive(Debug, Clone)]
struct Stmt {
    pid: u32,
    tid: u32,
    start: u64,
    end: u64,
    s: Statement,
}

/// A read of a data file: thread, start (the submission for asynchronous reads), file name.
#[derive(Debug, Clone)]
struct DataRead {
    tid: u32,
    start: u64,
    file: String,
}

/// Statements, reads of `.ibd` files (by file name) and every string the trace holds.
fn load(trace: &Path) -> (Vec<Stmt>, Vec<DataRead>, Vec<String>) {
    let file = TraceFile::open(trace).expect("open trace");
    let t = file.parse().expect("parse trace");
    let names: BTreeMap<(u32, u64), String> = t
        .files()
        .iter()
        .map(|f| ((f.dev, f.ino), f.path.rsplit('/').next().unwrap_or_default().to_string()))
        .collect();
    let mut strings: Vec<String> = Vec::new();
    for m in t.files() {
        strings.push(m.path.clone());
    }
    for p in t.processes() {
        strings.extend(p.cmdline.iter().cloned());
    }
    let mut stmts = Vec::new();
    let mut reads = Vec::new();
    for e in t.events() {
        let e = e.expect("decode");
        match &e.body {
            EventBody::Statement(s) => {
                strings.push(s.digest_text.clone());
                strings.push(s.sql.clone());
                stmts.push(Stmt {
                    pid: e.pid,
                    tid: e.tid,
                    start: e.ts - s.latency_ns,
                    end: e.ts,
                    s: s.clone(),
                });
            }
            // Read syscalls (an event at the return), and InnoDB's asynchronous reads (its
            // read-ahead) submitted through io_uring or Linux AIO (an event at the submission).
            EventBody::Read(r) => {
                if let Some(name) = names.get(&(r.file.dev, r.file.ino)).filter(|n| n.ends_with(".ibd")) {
                    reads.push(DataRead { tid: e.tid, start: e.ts - r.latency_ns, file: name.clone() });
                }
            }
            EventBody::UringSubmit(r) => {
                if let Some(name) = names.get(&(r.file.dev, r.file.ino)).filter(|n| n.ends_with(".ibd")) {
                    reads.push(DataRead { tid: e.tid, start: e.ts, file: name.clone() });
                }
            }
            EventBody::AioSubmit(r) => {
                if let Some(name) = names.get(&(r.file.dev, r.file.ino)).filter(|n| n.ends_with(".ibd")) {
                    reads.push(DataRead { tid: e.tid, start: e.ts, file: name.clone() });
                }
            }
            EventBody::FileOpen(o) => strings.push(o.path.clone()),
            _ => {}
        }
    }
    (stmts, reads, strings)
}

/// The statement running on the read's thread when it started.
fn owner<'a>(stmts: &'a [Stmt], r: &DataRead) -> Option<&'a Stmt> {
    stmts.iter().find(|s| s.tid == r.tid && (s.start..=s.end).contains(&r.start))
}

#[test]
fn root_mariadb_statements_own_their_reads() {
    require_root();
    let _one = one_server();
    let (sb, _) = Sandbox::start(&[]);
    // Two tables of ~24 MiB against a 16 MiB buffer pool: one scanned, one point-selected.
    sb.sysbench(&["oltp_point_select", "--tables=2", "--table-size=100000", "prepare"]);
    let pid = sb.restart();
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("statements.mio");

    // doctor says statements can be recorded, and with which function.
    let doctor = Command::new(env!("CARGO_BIN_EXE_mysql-io"))
        .args(["doctor", "-p", &pid.to_string(), "--format", "json"])
        .output()
        .expect("run doctor");
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).expect("doctor json");
    let said = report["processes"][0]["statements"].as_str().unwrap_or_default().to_string();
    assert!(said.starts_with("can be recorded (--statements): _Z16dispatch_command"), "{report}");

    let rec = start_recording(pid, &trace, &["--statements"]);
    // Point selects on sbtest1 (sysbench prepares them: executions name a statement id) while
    // a query scans sbtest2, with a literal that must not reach the trace.
    let points = std::thread::scope(|scope| {
        let points = scope.spawn(|| {
            sb.sysbench(&[
                "oltp_point_select",
                "--tables=1",
                "--table-size=100000",
                "--threads=2",
                "--time=8",
                "run",
            ])
        });
        std::thread::sleep(std::time::Duration::from_secs(2));
        sb.sql(&format!(
            "SELECT SUM(LENGTH(c)) FROM sbtest.sbtest2 FORCE INDEX (PRIMARY) WHERE pad <> '{SECRET}'"
        ));
        points.join().expect("sysbench")
    });
    let log = stop_recording(rec);
    assert!(points.contains("queries:"), "{points}");
    assert!(!log.contains("statements not recorded"), "{log}");
    assert!(log.contains("uprobe: statement (uprobe:/usr/sbin/mariadbd:_Z16dispatch_command"), "{log}");

    let (stmts, reads, strings) = load(&trace);
    // The literal is nowhere: not in the statements' texts, not anywhere else.
    assert!(
        strings.iter().all(|s| !s.contains(SECRET) && !s.contains("4711")),
        "a literal reached the trace"
    );
    assert!(stmts.iter().all(|s| s.s.sql.is_empty()), "statement text kept without --sql-text");

    // The scan: one query, its text normalised, its literal replaced.
    let scans: Vec<&Stmt> = stmts.iter().filter(|s| s.s.digest_text.contains("sbtest2")).collect();
    assert_eq!(scans.len(), 1, "{:?}", scans);
    let scan = scans[0];
    assert_eq!(scan.s.command, 3, "a query");
    assert!(scan.s.digest_text.contains("SUM") && scan.s.digest_text.contains('?'), "{}", scan.s.digest_text);
    assert_ne!(scan.s.digest, 0);

    // The point selects: executions of a prepared statement, with the prepare's digest.
    let prepared: Vec<&Stmt> = stmts.iter().filter(|s| s.s.command == 22).collect();
    let point_digest = prepared
        .iter()
        .find(|s| s.s.digest_text.contains("sbtest1") && s.s.digest_text.contains("id"))
        .map(|s| s.s.digest)
        .unwrap_or_else(|| panic!("no prepare of the point select: {prepared:?}"));
    let executions = stmts.iter().filter(|s| s.s.command == 23 && s.s.digest == point_digest).count();
    let all_executions = stmts.iter().filter(|s| s.s.command == 23).count();
    assert!(executions > 1000, "{executions} point selects recorded");
    assert_eq!(executions, all_executions, "executions without the prepare's digest");

    // Attribution: the scan's data-file reads to the scan, the point selects' to them.
    let of_file = |name: &'static str| reads.iter().filter(move |r| r.file == name);
    let scan_reads = of_file("sbtest2.ibd").count();
    let to_scan = of_file("sbtest2.ibd")
        .filter(|r| owner(&stmts, r).is_some_and(|s| s.s.digest == scan.s.digest))
        .count();
    assert!(scan_reads > 200, "the scan read {scan_reads} times");
    assert!(
        to_scan as f64 >= 0.95 * scan_reads as f64,
        "{to_scan} of {scan_reads} scan reads attributed to it"
    );
    let point_reads = of_file("sbtest1.ibd").count();
    let to_points = of_file("sbtest1.ibd")
        .filter(|r| owner(&stmts, r).is_some_and(|s| s.s.digest == point_digest))
        .count();
    assert!(point_reads > 200, "the point selects read {point_reads} times");
    assert!(
        to_points as f64 >= 0.95 * point_reads as f64,
        "{to_points} of {point_reads} point-select reads attributed to them"
    );
    // Reads on threads that ran no statement are InnoDB's own (background).
    let statement_threads: std::collections::BTreeSet<u32> = stmts.iter().map(|s| s.tid).collect();
    let background = reads.iter().filter(|r| !statement_threads.contains(&r.tid)).count();
    eprintln!(
        "statements: {} recorded, {executions} point selects; scan reads {to_scan}/{scan_reads}, point-select reads {to_points}/{point_reads}, background reads {background}",
        stmts.len()
    );

    // `analyze statements` says the same: per file, the scan's digest and the point selects'
    // own the reads counted above.
    let t = trace.to_str().expect("utf-8 path");
    for (file, digest, want) in
        [("sbtest2.ibd", scan.s.digest, to_scan), ("sbtest1.ibd", point_digest, to_points)]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_mysql-io"))
            .args(["analyze", "statements", t, "--file", file, "--format", "json", "--top", "1000"])
            .output()
            .expect("run analyze statements");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let hex = format!("{digest:016x}");
        let row = v["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["digest"].as_str() == Some(hex.as_str()))
            .unwrap_or_else(|| panic!("no row for {hex} in {v}"))
            .clone();
        assert_eq!(row["reads"].as_u64(), Some(want as u64), "{file}: {row}");
        assert!(row["pages_from_disk"].as_u64().unwrap_or(0) > 0, "{file}: {row}");
        if file == "sbtest2.ibd" {
            // A scan: sequential reads, and the readahead they start is read.
            assert!(row["seq_ratio"].as_f64().unwrap_or(0.0) > 0.5, "{row}");
            assert!(row["ra_used"].as_u64().unwrap_or(0) > 0, "{row}");
        }
        // The readahead of the file, used and wasted, summed over the statements and the two
        // other rows, is `analyze readahead`'s.
        let out = Command::new(env!("CARGO_BIN_EXE_mysql-io"))
            .args(["analyze", "readahead", t, "--file", file, "--format", "json"])
            .output()
            .expect("run analyze readahead");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let ra: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let rows: Vec<&serde_json::Value> = v["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .chain([&v["outside_statements"], &v["background"]])
            .collect();
        let sum = |k: &str| rows.iter().map(|r| r[k].as_u64().expect(k)).sum::<u64>();
        eprintln!(
            "{file}: readahead used {} wasted {} by statement rows; analyze readahead {} {}",
            sum("ra_used"),
            sum("ra_wasted"),
            ra["total"]["used"],
            ra["total"]["wasted"]
        );
        assert_eq!(
            (Some(sum("ra_used")), Some(sum("ra_wasted"))),
            (ra["total"]["used"].as_u64(), ra["total"]["wasted"].as_u64()),
            "{file}"
        );
    }
    // The report has the statements section.
    let page = dir.path().join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_mysql-io"))
        .args(["report", t, "-o"])
        .arg(&page)
        .output()
        .expect("report");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(html.contains("Statements") && html.contains("sbtest2"), "no statements section");

    // With --sql-text the text is kept as sent.
    let trace2 = dir.path().join("sql-text.mio");
    let rec = start_recording(pid, &trace2, &["--statements", "--sql-text"]);
    sb.sql(&format!("SELECT COUNT(*) FROM sbtest.sbtest1 WHERE pad = '{SECRET}'"));
    stop_recording(rec);
    let (stmts, _, _) = load(&trace2);
    let kept: Vec<&Stmt> = stmts.iter().filter(|s| s.s.sql.contains(SECRET)).collect();
    assert_eq!(kept.len(), 1, "{stmts:?}");
    assert!(!kept[0].s.digest_text.contains(SECRET), "{}", kept[0].s.digest_text);

    // --sql-text contradicts --redact, and needs --statements: refused before recording.
    for args in [&["--statements", "--sql-text", "--redact"][..], &["--sql-text"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_mysql-io"))
            .args(["record", "-p", &pid.to_string(), "-d", "1s", "-o"])
            .arg(dir.path().join("refused.mio"))
            .args(args)
            .output()
            .expect("run record");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!dir.path().join("refused.mio").exists());
    }

    // --redact keeps the digest and drops even the normalised text.
    let trace3 = dir.path().join("redacted.mio");
    let rec = start_recording(pid, &trace3, &["--statements", "--redact"]);
    sb.sql("SELECT COUNT(*) FROM sbtest.sbtest1 WHERE id < 10");
    stop_recording(rec);
    let (stmts, _, _) = load(&trace3);
    assert!(stmts.iter().any(|s| s.s.command == 3 && s.s.digest != 0), "{stmts:?}");
    assert!(stmts.iter().all(|s| s.s.digest_text.is_empty() && s.s.sql.is_empty()), "{stmts:?}");
}

/// A program whose command dispatch cannot be found (here a stripped one, Debian's `sleep`):
/// `record --statements` says so in one sentence and records the rest, its header saying why
/// the statement probe is off.
#[test]
fn root_statements_of_a_stripped_program_are_skipped_and_recording_goes_on() {
    require_root();
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("run sleep");
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("stripped.mio");
    let out = Command::new(env!("CARGO_BIN_EXE_mysql-io"))
        .args(["record", "-p", &sleeper.id().to_string(), "-d", "1s", "--statements", "-o"])
        .arg(&trace)
        .output()
        .expect("run record");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning: statements not recorded for process"), "{err}");
    assert!(err.contains("is stripped"), "{err}");
    let file = TraceFile::open(&trace).expect("open trace");
    let t = file.parse().expect("parse");
    let probe = t
        .header()
        .probes
        .iter()
        .find(|p| p.kind == mysql_io_format::EventKind::Statement.code())
        .expect("a statement probe entry")
        .clone();
    assert_eq!(probe.mode, mysql_io_format::ProbeMode::Off, "{probe:?}");
    assert!(probe.note.contains("is stripped"), "{probe:?}");
}

/// A server that starts while `record --statements` runs (following servers by name, no `-p`)
/// gets the statement probes when it starts: the recorder says so, and the statements it runs
/// from then on are in the trace under its pid.
#[test]
fn root_a_server_started_during_the_recording_gets_the_statement_probes() {
    require_root();
    let _one = one_server();
    let (sb, first) = Sandbox::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("started.mio");
    let mut rec = Recording::start(
        Command::new("env")
            .args(["--default-signal=HUP", env!("CARGO_BIN_EXE_mysql-io")])
            .args(["record", "--statements", "-o"])
            .arg(&trace)
            .stdout(Stdio::null()),
    );
    let second = sb.restart();
    assert_ne!(first, second, "the restart started a new process");
    let said = rec.wait_for(&format!("statements recorded for process {second}"), Duration::from_secs(30));
    assert!(said.contains("it started during the recording"), "{said}");
    // An alias, not a literal: literals are normalised away.
    sb.sql("SELECT COUNT(*) AS mio_started_later FROM information_schema.tables");
    let log = stop_recording(rec);
    let (stmts, _, _) = load(&trace);
    let later: Vec<&Stmt> = stmts.iter().filter(|s| s.s.digest_text.contains("mio_started_later")).collect();
    assert_eq!(later.len(), 1, "{later:?}\n{log}");
    assert_eq!(later[0].pid, second, "{later:?}");
    assert_eq!(later[0].s.command, 3, "a query");
    // The first server had the probes from the start: its statements are there too (the
    // sandbox's readiness checks and shutdown), under its own pid.
    assert!(stmts.iter().any(|s| s.pid == first), "no statement of the first server\n{log}");
}
