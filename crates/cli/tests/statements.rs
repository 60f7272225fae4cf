//! `mysql-io analyze statements` as users run it, on a trace written here with statement events
//! (what `record --statements` writes): the table, CSV and JSON agreeing; `--by thread`; the
//! export's `statements` table and the reads' `statement` column; the report's section; and the
//! refusal, exit code 2, of a trace recorded without statements.

mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mysql_io_format::{
    Event, EventBody, FileInfo, FileRef, Header, Metadata, PageCacheAdd, RaState, RaTrigger, Read,
    ReadSyscall, ReadaheadTrigger, Statement, ThreadInfo, Writer, WriterOptions,
};
use run::{mysql_io, ok, text};
use serde_json::Value;

const MARIADB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/mariadb-sysbench.mio");
const DEV: u32 = 8 << 20;
const PID: u32 = 4242;
const POINT: &str = "SELECT c FROM sbtest1 WHERE id = ?";
const RANGE: &str = "SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?";
const MS: u64 = 1_000_000;

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

struct Rec(Writer<std::fs::File>);

impl Rec {
    fn push(&mut self, ts: u64, tid: u32, body: impl Into<EventBody>) {
        self.0.push(&Event { ts, pid: PID, tid, cpu: 0, body: body.into() }).expect("push");
    }

    /// A 16 KiB pread64 at `pos` of sbtest1 (description 1) from `start` for 40 us, inserting
    /// `pages` pages after a sync readahead decision (none when 0).
    fn read(&mut self, tid: u32, start: u64, pos: i64, pages: u64) {
        let index = pos as u64 / 4096;
        if pages > 0 {
            let trig = ReadaheadTrigger {
                trigger: RaTrigger::Sync,
                dev: DEV,
                ino: 1,
                index,
                req_count: 4,
                state: RaState::default(),
            };
            self.push(start + 1_000, tid, trig);
            for p in 0..pages {
                self.push(start + 2_000, tid, PageCacheAdd { dev: DEV, ino: 1, index: index + p, order: 0 });
            }
        }
        let read = Read {
            syscall: ReadSyscall::Pread64,
            fd: 7,
            file: FileRef { dev: DEV, ino: 1, ofd: 1, flags: 0 },
            pos,
            count: 16384,
            iovcnt: 1,
            rw_flags: 0,
            ret: 16384,
            latency_ns: 40_000,
            lookups: 1,
            first_page: index,
            last_page: index + 3,
        };
        self.push(start + 40_000, tid, read);
    }

    fn statement(&mut self, tid: u32, start: u64, end: u64, command: u8, stmt_id: u32, digest_text: &str) {
        let s = Statement {
            command,
            latency_ns: end - start,
            conn: u64::from(tid),
            stmt_id,
            digest: if digest_text.is_empty() { 0 } else { fnv(digest_text) },
            digest_text: digest_text.into(),
            sql: String::new(),
            text_len: digest_text.len() as u32,
        };
        self.push(end, tid, s);
    }
}

/// Two connection threads: thread 11 runs 20 point selects (one read of 4 pages each) and 3
/// range selects (4 sequential reads each, 8 pages); thread 12 runs 5 executes of a statement
/// prepared before the recording (one read each) and reads once between commands; InnoDB's read
/// thread 13 reads 6 times; 2 pings read nothing.
fn workload(path: &Path) {
    let header = Header { host: "db1".into(), ..Header::default() };
    let file = std::fs::File::create(path).expect("create");
    let opts = WriterOptions { chunk_bytes: 400, ..WriterOptions::default() };
    let mut w = Rec(Writer::new(file, &header, opts).expect("writer"));
    let f = FileInfo {
        dev: DEV,
        ino: 1,
        path: "/var/lib/mysql/sbtest/sbtest1.ibd".into(),
        ..FileInfo::default()
    };
    w.0.write_metadata(&Metadata::File(f)).expect("meta");
    for (tid, comm) in [(11, "one_connection"), (12, "one_connection"), (13, "ib_io_rd-1")] {
        let t = ThreadInfo { pid: PID, tid, comm: comm.into(), ..ThreadInfo::default() };
        w.0.write_metadata(&Metadata::Thread(t)).expect("meta");
    }
    let mut t = MS;
    for i in 0..20i64 {
        w.read(11, t + 100_000, (i * 37 % 50) << 20, 4);
        w.statement(11, t, t + 300_000, 3, 0, POINT);
        if i % 4 == 0 {
            w.read(13, t + 350_000, (i << 20) + (200 << 20), 16);
        }
        t += MS;
    }
    for i in 0..3i64 {
        for k in 0..4 {
            w.read(11, t + 100_000 + k * 50_000, (i << 22) + k as i64 * 16384, 2);
        }
        w.statement(11, t, t + 400_000, 3, 0, RANGE);
        t += MS;
    }
    for _ in 0..5 {
        w.read(12, t + 50_000, 900 << 20, 0);
        w.statement(12, t, t + 200_000, 23, 9, "");
        t += MS;
    }
    w.read(12, t, 901 << 20, 1);
    w.read(13, t + 100_000, 950 << 20, 8);
    w.statement(12, t + 300_000, t + 310_000, 14, 0, "");
    w.statement(11, t + 400_000, t + 410_000, 14, 0, "");
    w.0.finish().expect("finish");
}

fn trace(dir: &Path) -> PathBuf {
    let p = dir.join("stmts.mio");
    workload(&p);
    p
}

fn csv_rows(s: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(s.as_bytes());
    let headers = r.headers().expect("headers").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("record");
            headers.iter().zip(rec.iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect()
        })
        .collect()
}

#[test]
fn statements_table_csv_and_json_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = trace(dir.path());
    let t = t.to_str().expect("path");

    let table = ok(&["analyze", "statements", t]);
    for line in table.lines() {
        assert!(line.chars().count() <= 100, "line over 100 columns: {line}");
    }
    insta::assert_snapshot!("statements_by_digest", table);

    let csv = csv_rows(&ok(&["analyze", "statements", t, "--format", "csv"]));
    let json: Value =
        serde_json::from_str(&ok(&["analyze", "statements", t, "--format", "json"])).expect("json");
    let by_label: BTreeMap<&str, &BTreeMap<String, String>> =
        csv.iter().map(|r| (r["statement"].as_str(), r)).collect();
    // Point selects read the most pages: 20 reads of 4 pages; the range selects 12 of 2.
    let kinds: Vec<(&str, &str)> =
        csv.iter().map(|r| (r["kind"].as_str(), r["statement"].as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("digest", POINT),
            ("digest", RANGE),
            ("prepared", "(prepared before the recording, id 9, connection 12)"),
            ("command", "(ping, no statement text)"),
            ("outside_statements", "outside statements"),
            ("background", "background"),
        ]
    );
    let point = by_label[POINT];
    assert_eq!(point["digest"], format!("{:016x}", fnv(POINT)));
    assert_eq!((point["statements"].as_str(), point["reads"].as_str()), ("20", "20"));
    assert_eq!((point["pages_from_disk"].as_str(), point["bytes"].as_str()), ("80", "327680"));
    assert_eq!((point["mean_latency_us"].as_str(), point["commands"].as_str()), ("300.000", "query=20"));
    let range = by_label[RANGE];
    assert_eq!((range["reads"].as_str(), range["pages_from_disk"].as_str()), ("12", "24"));
    // Each range select's 4 reads follow one another: 3 of 4 sequential (the first follows
    // another statement's read).
    assert_eq!(range["seq_ratio"], "0.750000");
    assert_eq!(range["readahead_triggered"], "12");
    let prepared = by_label["(prepared before the recording, id 9, connection 12)"];
    assert_eq!((prepared["statements"].as_str(), prepared["reads"].as_str()), ("5", "5"));
    assert_eq!(
        (prepared["pages_from_disk"].as_str(), prepared["commands"].as_str()),
        ("0", "stmt_execute=5")
    );
    let ping = by_label["(ping, no statement text)"];
    assert_eq!(
        (ping["statements"].as_str(), ping["reads"].as_str(), ping["seq_ratio"].as_str()),
        ("2", "0", "")
    );
    let outside = by_label["outside statements"];
    assert_eq!((outside["reads"].as_str(), outside["pages_from_disk"].as_str()), ("1", "1"));
    assert_eq!((outside["digest"].as_str(), outside["statements"].as_str()), ("", ""));
    let background = by_label["background"];
    assert_eq!((background["reads"].as_str(), background["pages_from_disk"].as_str()), ("6", "88"));
    // InnoDB's thread read 64 pages ahead (12 beyond each of five 4-page reads, 4 beyond the last)
    // that nothing read; the statements' reads inserted only what they asked for.
    assert_eq!((background["ra_used"].as_str(), background["ra_wasted"].as_str()), ("0", "64"));
    assert_eq!((point["ra_used"].as_str(), point["ra_wasted"].as_str()), ("0", "0"));

    // JSON: the same figures under the names of docs/analysis.md.
    assert_eq!(json["by"], "digest");
    assert_eq!((json["statements"].as_u64(), json["reads"].as_u64()), (Some(30), Some(44)));
    assert_eq!(json["reads_in_statements"].as_u64(), Some(37));
    let rows = json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 4);
    for r in rows {
        let c = by_label[r["statement"].as_str().expect("statement")];
        for key in
            ["statements", "reads", "bytes", "pages_from_disk", "readahead_triggered", "ra_used", "ra_wasted"]
        {
            assert_eq!(r[key].as_u64().map(|v| v.to_string()).as_deref(), Some(c[key].as_str()), "{key}");
        }
        assert_eq!(r["digest"].as_str(), Some(c["digest"].as_str()));
    }
    assert_eq!(rows[0]["kind"], "digest");
    assert_eq!(rows[0]["p99_latency_us"].as_f64(), Some(300.0));
    assert_eq!(json["outside_statements"]["reads"].as_u64(), Some(1));
    assert!(json["outside_statements"]["digest"].is_null());
    assert_eq!(json["background"]["reads"].as_u64(), Some(6));
    assert_eq!(json["threads"].as_array().map(Vec::len), Some(0), "--by digest leaves threads out");

    // --top cuts statement groups, never the two rows no statement explains.
    let top = csv_rows(&ok(&["analyze", "statements", t, "--format", "csv", "--top", "1"]));
    let labels: Vec<&str> = top.iter().map(|r| r["statement"].as_str()).collect();
    assert_eq!(labels, [POINT, "outside statements", "background"]);
}

#[test]
fn statements_by_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = trace(dir.path());
    let t = t.to_str().expect("path");
    let table = ok(&["analyze", "statements", t, "--by", "thread"]);
    for line in table.lines() {
        assert!(line.chars().count() <= 100, "line over 100 columns: {line}");
    }
    insta::assert_snapshot!("statements_by_thread", table);
    let csv = csv_rows(&ok(&["analyze", "statements", t, "--by", "thread", "--format", "csv"]));
    let got: Vec<[&str; 6]> = csv
        .iter()
        .map(|r| {
            [
                r["tid"].as_str(),
                r["statements"].as_str(),
                r["digests"].as_str(),
                r["reads"].as_str(),
                r["reads_in_statements"].as_str(),
                r["pages_from_disk"].as_str(),
            ]
        })
        .collect();
    assert_eq!(
        got,
        [
            ["11", "24", "3", "32", "32", "104"],
            ["13", "0", "0", "6", "0", "88"],
            ["12", "6", "2", "6", "5", "1"],
        ]
    );
    let json: Value =
        serde_json::from_str(&ok(&["analyze", "statements", t, "--by", "thread", "--format", "json"]))
            .expect("json");
    assert_eq!(json["threads"][2]["in_statements_ratio"].as_f64(), Some(5.0 / 6.0));
    assert_eq!(json["rows"].as_array().map(Vec::len), Some(0), "--by thread leaves statement groups out");
}

#[test]
fn a_trace_without_statements_is_refused_with_exit_code_2() {
    let out = mysql_io(&["analyze", "statements", MARIADB]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("has no statement events") && err.contains("mysql-io record --statements"), "{err}");
    assert!(out.stdout.is_empty());
    let out = mysql_io(&["analyze", "statements", MARIADB, "--by", "query"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("use digest or thread"));
}

#[test]
fn export_links_reads_to_their_statements() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = trace(dir.path());
    let out = dir.path().join("csv");
    ok(&["export", t.to_str().expect("path"), "--format", "csv", "-o", out.to_str().expect("path")]);
    let read = |name: &str| csv_rows(&std::fs::read_to_string(out.join(format!("{name}.csv"))).expect(name));
    let statements = read("statements");
    let reads = read("reads");
    assert_eq!(statements.len(), 30);
    assert_eq!(reads.len(), 44);
    let n = |r: &BTreeMap<String, String>, k: &str| -> u64 { r[k].parse().expect(k) };
    for (i, s) in statements.iter().enumerate() {
        assert_eq!(n(s, "statement"), i as u64);
        assert_eq!(n(s, "start_ts") + n(s, "latency_ns"), n(s, "ts"));
    }
    let first = &statements[0];
    assert_eq!((first["command"].as_str(), first["digest_text"].as_str()), ("query", POINT));
    assert_eq!((first["digest"].clone(), first["label"].as_str()), (fnv(POINT).to_string(), POINT));
    let mut attributed = 0;
    for r in &reads {
        if r["statement"].is_empty() {
            continue;
        }
        attributed += 1;
        let s = &statements[n(r, "statement") as usize];
        assert_eq!(r["tid"], s["tid"]);
        assert!(n(s, "start_ts") <= n(r, "ts") && n(r, "ts") <= n(s, "ts"), "{r:?} is not inside {s:?}");
    }
    assert_eq!(attributed, 37, "as analyze statements attributes them");
}

#[test]
fn the_report_shows_the_statements_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = trace(dir.path());
    let page = dir.path().join("r.html");
    let out = mysql_io(&["report", t.to_str().expect("path"), "-o", page.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).expect("page");
    let section = &html[html.find("<section id=\"statements\">").expect("a statements section")..];
    let section = &section[..section.find("</section>").expect("its end")];
    assert!(section.contains("<table class=\"statements\">"));
    for row in [POINT, RANGE, "outside statements", "background"] {
        assert!(section.contains(&format!("<tr data-row=\"{row}\">")), "no row {row}: {section}");
    }
    assert!(section.contains("37 of 44 reads (84.1%) started inside one of 30 statements"), "{section}");
}
