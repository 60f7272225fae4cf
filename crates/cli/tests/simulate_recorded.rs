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

/// The verdict per device on the MariaDB recording, with the default sweep (no `--ra-kb`): one
/// device (the loop device the datadir was on), its decision consistent with its own sweep, and
/// the text pinned.
#[test]
fn the_verdict_is_per_device_and_follows_its_sweep() {
    let run = |format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_mysql-io"))
            .args(["simulate", TRACE, "--format", format])
            .output()
            .expect("run mysql-io simulate");
        assert!(out.status.success(), "simulate failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let r: Value = serde_json::from_str(&run("json")).expect("JSON");
    // The default sweep.
    let settings: Vec<u64> = r["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .map(|s| s["ra_kb"].as_u64().expect("ra_kb"))
        .collect();
    assert_eq!(settings, [0, 16, 32, 64, 128, 256, 512, 1024]);
    let devices = r["devices"].as_array().expect("devices");
    // Every simulated file is on one device; the recorded setting of the files is its setting.
    assert!(!devices.is_empty());
    let d = &devices[0];
    assert_eq!(d["current_ra_kb"], 128, "{d}");
    let files = d["files"].as_array().expect("files");
    let reads: u64 = files.iter().map(|f| f["reads"].as_u64().expect("reads")).sum();
    assert_eq!(reads, d["reads"].as_u64().expect("reads"));
    // The device's model figures are its files' sums, at the recorded setting and at 512 KiB.
    let file_rows = |rows: &Value| -> Vec<Value> {
        rows["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter(|f| files.iter().any(|g| g["file"] == f["file"]))
            .cloned()
            .collect()
    };
    let sum = |rows: &[Value], k: &str| rows.iter().map(|f| f[k].as_u64().expect(k)).sum::<u64>();
    let now = file_rows(&r["model_at_recorded"]);
    assert_eq!(d["now"]["pages_read"].as_u64(), Some(sum(&now, "pages_read")));
    assert_eq!(d["now"]["read_ios"].as_u64(), Some(sum(&now, "read_ios")));
    let at512 = file_rows(&r["settings"][6]);
    let p512 =
        d["sweep"].as_array().expect("sweep").iter().find(|p| p["ra_kb"] == 512).expect("512 in the sweep");
    assert_eq!(p512["pages_read"].as_u64(), Some(sum(&at512, "pages_read")));
    assert_eq!(p512["waited"].as_u64(), Some(sum(&at512, "demand_inserts")));
    // The recommended setting waits no more than any other (within the ranking's 2%), and a
    // changed setting comes with the commands that apply it to this device.
    let best = d["recommended_ra_kb"].as_u64().expect("a recommendation");
    let sweep = d["sweep"].as_array().expect("sweep");
    let waited = |k: u64| {
        sweep.iter().find(|p| p["ra_kb"] == k).expect("in sweep")["waited"].as_u64().expect("waited")
    };
    let fewest = sweep.iter().map(|p| p["waited"].as_u64().expect("waited")).min().expect("points");
    assert!(
        waited(best) as f64 <= fewest as f64 * 1.02 + 1.0,
        "{best} KiB waits {} > {fewest}",
        waited(best)
    );
    let name = d["device"].as_str().expect("device");
    if best != 128 {
        assert_eq!(d["apply"]["now"], format!("echo {best} > /sys/block/{name}/queue/read_ahead_kb"));
    } else {
        assert!(d["apply"].is_null(), "{d}");
    }
    // The trust is stated from the model's agreement at the recorded setting.
    assert!(["high", "moderate", "low"].contains(&d["trust"]["level"].as_str().expect("level")));
    // The text: the verdict section, pinned.
    let text = run("table");
    let at = text.find(&format!("\n{name}")).expect("a verdict paragraph starting with the device name");
    insta::assert_snapshot!("verdict_mariadb_sysbench", &text[at + 1..]);
}
