//! The simulator on a recorded trace of MariaDB under sysbench (`testdata/mariadb-sysbench.mio`,
//! Linux 6.18, read_ahead_kb 128; see testdata/README.md): no root needed, so every `cargo test`
//! checks the model against a real kernel's decisions and figures. The root tests
//! (simulate_bpf.rs, mariadb_e2e.rs) record afresh; this one keeps a fixed recording, so any
//! change in the model's results on it shows.

use std::process::Command;

use serde_json::Value;

const TRACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/mariadb-sysbench.mio");

fn simulate(mode: &str, threads: Option<&str>) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mysql-io"));
    cmd.args(["simulate", TRACE, "--ra-kb", "32,512", "--mode", mode, "--format", "json"]);
    if let Some(n) = threads {
        cmd.env("RAYON_NUM_THREADS", n);
    }
    let out = cmd.output().expect("run mysql-io simulate");
    assert!(out.status.success(), "simulate failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("simulate prints JSON")
}

/// The model's error on all files together: (pages read, requests, decisions exact).
fn total_error(r: &Value) -> (f64, f64, f64) {
    let e = r["model_error"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["file"] == "total"))
        .expect("a total row in model_error");
    let f = |k: &str| e[k].as_f64().unwrap_or_else(|| panic!("no {k} in {e}"));
    (f("pages_read"), f("read_ios"), f("decisions_exact"))
}

#[test]
fn the_model_agrees_with_the_recorded_kernel() {
    // Oracle mode (the kernel's own cache contents): the readahead algorithm alone.
    let (pages, ios, exact) = total_error(&simulate("oracle", None));
    assert!(pages.abs() <= 0.02 && ios.abs() <= 0.02, "oracle: pages {pages:+.3}, requests {ios:+.3}");
    assert!(exact >= 0.90, "oracle: {:.1}% of the decisions exact", exact * 100.0);
    // Free mode (its own cache): what the predictions at other settings rest on.
    let free = simulate("free", None);
    let (pages, ios, exact) = total_error(&free);
    assert!(pages.abs() <= 0.05 && ios.abs() <= 0.05, "free: pages {pages:+.3}, requests {ios:+.3}");
    assert!(exact >= 0.85, "free: {:.1}% of the decisions exact", exact * 100.0);
    // The kernel evicted 79 pages of these files while recording, 0.2% of what it read: too few
    // to bound the cache by.
    assert!(free["capacity_pages"].is_null(), "cache bounded: {}", free["capacity_pages"]);
    let warned = free["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .any(|w| w.as_str().is_some_and(|w| w.contains("evicted 79 pages") && w.contains("unbounded")));
    assert!(warned, "no eviction warning in {}", free["warnings"]);
    // Larger windows read more pages in fewer requests, as the kernel's own 128 KiB row sits
    // between the 32 and 512 KiB predictions.
    let total = |i: usize, k: &str| free["settings"][i]["total"][k].as_u64().expect("a total figure");
    let kernel = |k: &str| free["recorded"]["total"][k].as_u64().expect("a recorded figure");
    assert!(total(0, "pages_read") < kernel("pages_read") && kernel("pages_read") < total(1, "pages_read"));
    assert!(total(0, "read_ios") > kernel("read_ios") && kernel("read_ios") > total(1, "read_ios"));
}

#[test]
fn results_do_not_depend_on_how_many_threads_run_them() {
    let strip = |mut v: Value| {
        v.as_object_mut().expect("an object").remove("seconds");
        v
    };
    for mode in ["free", "oracle"] {
        assert_eq!(strip(simulate(mode, Some("1"))), strip(simulate(mode, Some("2"))), "{mode}");
    }
}
