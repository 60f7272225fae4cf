//! What `analyze` and `simulate` say about the real MariaDB recording in testdata, pinned as
//! snapshots. The analyzer and the simulator each rebuild reads from the trace's events in their
//! own way; the coming rework gives them one definition of a read. Its steps must leave these
//! results as they are, or change them in a commit that says why (and updates the snapshot).
//! Floats are rounded to 9 significant digits (parallel sums may differ in the last bits) and the
//! simulator's run time is left out.

use std::process::Command;

use serde_json::Value;

fn mysql_io(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_mysql-io")).args(args).output().expect("run mysql-io");
    assert!(out.status.success(), "mysql-io {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("mysql-io {args:?}: not JSON: {e}"))
}

/// `v` with floats rounded and the keys in `drop` removed, at any depth.
fn stable(v: Value, drop: &[&str]) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .map(|(k, v)| (k, stable(v, drop)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| stable(v, drop)).collect()),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            let rounded: f64 = format!("{f:.8e}").parse().unwrap_or(f);
            serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number)
        }
        other => other,
    }
}

fn trace() -> String {
    format!("{}/../../testdata/mariadb-sysbench.mio", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn analyses_of_the_mariadb_recording_stay_the_same() {
    let t = trace();
    for (name, args) in [
        ("pinned_files", vec!["analyze", "files", &t, "--format", "json"]),
        ("pinned_threads", vec!["analyze", "threads", &t, "--format", "json"]),
        ("pinned_readahead", vec!["analyze", "readahead", &t, "--format", "json"]),
        (
            "pinned_sequentiality_by_ofd",
            vec!["analyze", "sequentiality", &t, "--by", "ofd", "--format", "json"],
        ),
    ] {
        let v = stable(mysql_io(&args), &[]);
        insta::assert_snapshot!(name, serde_json::to_string_pretty(&v).expect("json"));
    }
}

#[test]
fn simulation_of_the_mariadb_recording_stays_the_same() {
    let t = trace();
    for (name, mode) in [("pinned_simulate_free", "free"), ("pinned_simulate_oracle", "oracle")] {
        let v = mysql_io(&["simulate", &t, "--ra-kb", "32,128,512", "--mode", mode, "--format", "json"]);
        let v = stable(v, &["seconds"]);
        insta::assert_snapshot!(name, serde_json::to_string_pretty(&v).expect("json"));
    }
}
