//! `mysql-io info` as a user runs it: on a real trace written by `mysql-io synth`, on one cut
//! short, on one with a damaged byte, on the MariaDB recording in testdata (written before the
//! header had memory and disks), and on files that are not traces.

mod run;

use std::path::Path;

use run::{mysql_io, text};

fn synth(dir: &Path, events: &str) -> std::path::PathBuf {
    let path = dir.join("t.mio");
    let out = mysql_io(&["synth", "-o", path.to_str().expect("utf-8 path"), "--events", events]);
    assert!(out.status.success(), "synth failed: {}", text(&out.stderr));
    path
}

#[test]
fn info_on_an_intact_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth(dir.path(), "300K");
    let out = mysql_io(&["info", path.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("format 2.2, complete"), "{s}");
    assert!(s.contains("events     300,000 in"), "{s}");
    assert!(s.contains("lost       0"), "{s}");
    assert!(s.contains("page_cache_add"), "{s}");
    assert!(s.contains("read_ahead_kb=128"), "{s}");
    // The synthetic host: 16 GiB, its files on the partition vda1 of the disk vda.
    assert!(
        s.contains("\nmemory     16.0 GiB, 11.0 GiB available, 4.0 GiB page cache at the start\n"),
        "{s}"
    );
    assert!(
        s.contains("\ndevice     vda1 (254:1) read_ahead_kb=128 max_sectors_kb=1280 (settings of vda)\n"),
        "{s}"
    );

    let out = mysql_io(&["info", path.to_str().expect("path"), "--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["events"], 300_000);
    assert_eq!(v["complete"], true);
    assert_eq!(v["lost"], 0);
    let by_kind: u64 =
        v["events_by_kind"].as_object().expect("map").values().map(|n| n.as_u64().expect("count")).sum();
    assert_eq!(by_kind, 300_000);
    assert!(v["compression_ratio"].as_f64().expect("ratio") > 1.5);
    assert_eq!(v["header"]["devices"][0]["read_ahead_kb"], 128);
    assert_eq!(v["header"]["mem_total_kb"], 16 << 20);
    assert_eq!(v["header"]["mem_available_kb"], 11 << 20);
    assert_eq!(v["header"]["page_cache_kb"], 4 << 20);
    assert_eq!(v["header"]["disks"], serde_json::json!([[(254 << 20) | 1, "vda"]]));
}

#[test]
fn info_on_a_trace_from_before_memory_and_disks_prints_neither() {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mariadb-sysbench.mio");
    let real = real.to_str().expect("path");
    let out = mysql_io(&["info", real]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("\ndevice     loop2 (7:2) read_ahead_kb=128"), "{s}");
    assert!(!s.contains("memory") && !s.contains("settings of"), "{s}");

    let out = mysql_io(&["info", real, "--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["header"]["mem_total_kb"], 0);
    assert_eq!(v["header"]["disks"], serde_json::json!([]));
}

#[test]
fn info_on_a_cut_short_trace_reports_and_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth(dir.path(), "600K");
    let bytes = std::fs::read(&path).expect("read");
    let cut = dir.path().join("cut.mio");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).expect("write");
    let out = mysql_io(&["info", cut.to_str().expect("path"), "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["complete"], false);
    assert_eq!(v["corrupt"], false);
    let events = v["events"].as_u64().expect("events");
    assert!(events > 0 && events < 600_000, "{events}");
    let damage = v["damage"][0].as_str().expect("damage");
    assert!(damage.contains("cut short"), "{damage}");
}

#[test]
fn info_on_a_damaged_trace_names_the_chunk_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = synth(dir.path(), "600K");
    let mut bytes = std::fs::read(&path).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    let out = mysql_io(&["info", path.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(2));
    let s = text(&out.stdout);
    assert!(s.contains("DAMAGED"), "{s}");
    assert!(s.contains("is damaged: CRC mismatch (stored 0x"), "{s}");
    assert!(text(&out.stderr).contains("has damaged bytes"), "{}", text(&out.stderr));
}

#[test]
fn info_refuses_what_is_not_a_trace_with_one_sentence_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not = dir.path().join("notes.txt");
    std::fs::write(&not, "hello, world\n").expect("write");
    let empty = dir.path().join("empty.mio");
    std::fs::write(&empty, "").expect("write");
    let cases = [
        (not.to_str().expect("path").to_string(), "not a mysql-io trace"),
        (empty.to_str().expect("path").to_string(), "too short"),
        (dir.path().join("missing.mio").to_str().expect("path").to_string(), "No such file"),
        (dir.path().to_str().expect("path").to_string(), "directory"),
    ];
    for (arg, want) in cases {
        let out = mysql_io(&["info", &arg]);
        assert_eq!(out.status.code(), Some(2), "{arg}");
        let err = text(&out.stderr);
        assert!(err.starts_with("mysql-io: error: ") && err.contains(want), "{arg}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    }
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    let out = mysql_io(&["info"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Usage"));
    let out = mysql_io(&["synth", "-o", "/nonexistent/dir/x.mio"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot create /nonexistent/dir/x.mio"));
}
