//! `report --compare` on two real recordings of one workload at different read_ahead_kb (root):
//! the section must show the difference the kernel made (fewer device requests for the scanned
//! file at 512 KiB than at 32 KiB, more pages read for the randomly read one), with the figures
//! `mysql-io compare` prints, and a prediction for B from A within 10% of what B measured.
//! Test names start with `root_`; they fail (never skip) without root.

// The recorder's tests: the analysis-only build has no recorder.
#![cfg(feature = "record")]

#[path = "../../recorder/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use page::{row_cells, thousands};
use serde_json::Value;
use support::{helper, require_root, text, LoopFs};

mod page;

fn mysql_io(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mysql-io")).args(args).output().expect("run mysql-io")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A 16 KiB sequential scan of `a` and 500 random 16 KiB reads of `b`, recorded at `ra_kb`.
fn record(fs: &LoopFs, files: &[PathBuf], ra_kb: u32, trace: &Path) {
    fs.set_read_ahead_kb(ra_kb);
    std::fs::write("/proc/sys/vm/drop_caches", "1").expect("write /proc/sys/vm/drop_caches");
    for f in files {
        fs.drop_cache(f);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mysql-io"))
        .args(["record", "-o", path(trace), "--"])
        .arg(helper("pattern"))
        .arg(format!("1:{}:seq:16384:1024", path(&files[0])))
        .arg(format!("2:{}:random:16384:500:3", path(&files[1])))
        .output()
        .expect("run mysql-io record");
    assert!(out.status.success(), "record at {ra_kb} KiB failed: {}", text(&out.stderr));
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn root_compare_shows_what_the_kernel_did_at_another_setting() {
    require_root();
    let fs = LoopFs::new(96, 32);
    let files: Vec<PathBuf> = ["a", "b"].iter().map(|n| fs.create_file(n, 16 << 20)).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("at32.mio"), dir.path().join("at512.mio"));
    record(&fs, &files, 32, &a);
    record(&fs, &files, 512, &b);

    let page = dir.path().join("c.html");
    let out = mysql_io(&["report", path(&a), "--compare", path(&b), "-o", path(&page)]);
    assert!(out.status.success(), "report failed: {}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).expect("the page");
    let section = &html[html.find("<section id=\"compare\">").expect("a compare section")..];
    assert!(
        section.contains("(read_ahead_kb 32)") && section.contains("(read_ahead_kb 512)"),
        "the two settings are named: {}",
        &section[..section.len().min(600)]
    );

    let out = mysql_io(&["compare", path(&a), path(&b), "--json"]);
    assert!(out.status.success(), "compare failed: {}", text(&out.stderr));
    let c: Value = serde_json::from_slice(&out.stdout).expect("compare prints JSON");
    assert_eq!(c["b_ra_kb"], 512);
    let file = |name: &str| -> &Value {
        c["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|f| f["file"].as_str().is_some_and(|p| p.ends_with(name)))
            .unwrap_or_else(|| panic!("no file {name} in {c}"))
    };
    let (scan, random) = (file("/a"), file("/b"));

    // What the kernel did differently, per file.
    let (ia, ib) = (num(&scan["a"]["read_ios"]), num(&scan["b"]["read_ios"]));
    assert!(ib * 4 < ia, "the scan took {ia} requests at 32 KiB, {ib} at 512: expected far fewer");
    let (pa, pb) = (num(&random["a"]["pages_read"]), num(&random["b"]["pages_read"]));
    // Random reads trigger little readahead (the kernel sees no sequence), but what they trigger
    // is larger at 512 KiB.
    assert!(pb > pa, "random reads: {pa} pages at 32 KiB, {pb} at 512: expected more");

    // The page shows exactly those figures, and the prediction, which is close to B.
    for (f, name) in [(scan, "a"), (random, "b")] {
        let row = row_cells(section, f["file"].as_str().expect("path"));
        assert_eq!(row[1], thousands(num(&f["a"]["pages_read"])), "{name}: pages A");
        assert_eq!(row[2], thousands(num(&f["b"]["pages_read"])), "{name}: pages B");
        assert_eq!(row[3], thousands(num(&f["predicted_b"]["pages_read"])), "{name}: predicted pages");
        assert_eq!(row[4], thousands(num(&f["a"]["read_ios"])), "{name}: requests A");
        assert_eq!(row[5], thousands(num(&f["b"]["read_ios"])), "{name}: requests B");
        assert_eq!(row[6], thousands(num(&f["predicted_b"]["read_ios"])), "{name}: predicted requests");
    }
    let total = &c["total"];
    for (figure, key) in [("pages read", "pages_read"), ("device requests", "read_ios")] {
        let row = row_cells(section, figure);
        let (a, b, p) = (num(&total["a"][key]), num(&total["b"][key]), num(&total["predicted_b"][key]));
        // The label, A, B, B vs A, predicted B.
        assert_eq!(row[1], thousands(a), "{figure}: A");
        assert_eq!(row[2], thousands(b), "{figure}: B");
        assert_eq!(row[4], thousands(p), "{figure}: predicted B");
        let off = (p as f64 - b as f64).abs() / b as f64;
        assert!(off <= 0.10, "{figure}: predicted {p} for 512 KiB from the 32 KiB trace, measured {b}");
        println!("{figure}: A (32 KiB) {a}, B (512 KiB) {b}, predicted B {p} ({:+.1}%)", off * 100.0);
    }
}
