//! `mysql-io report` on the MariaDB recording in testdata: one self-contained page whose verdict
//! is the one `simulate` gives, with its plots, and nothing it would fetch.

use std::process::Command;

use serde_json::Value;

mod page;
use page::{row_cells, thousands};

const TRACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/mariadb-sysbench.mio");

fn mysql_io(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mysql-io")).args(args).output().expect("run mysql-io")
}

#[test]
fn the_page_carries_the_verdict_and_its_plots_and_fetches_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("r.html");
    let out = mysql_io(&["report", TRACE, "-o", page.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "report failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("report written to"));
    let html = std::fs::read_to_string(&page).expect("the page");

    // The verdict is simulate's, device by device, sentence by sentence (HTML-escaped).
    let out = mysql_io(&["simulate", TRACE, "--format", "json"]);
    assert!(out.status.success());
    let sim: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let devices = sim["devices"].as_array().expect("devices");
    assert!(!devices.is_empty());
    let verdict = &html[html.find("id=\"verdict\"").expect("a verdict section")..];
    for d in devices {
        let name = d["device"].as_str().expect("device");
        assert!(verdict.contains(&format!("data-device=\"{name}\"")), "no section for {name}");
        for t in d["text"].as_array().expect("text") {
            let t =
                t.as_str().expect("sentence").replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            let t = t.replace('"', "&quot;").replace('\'', "&#39;");
            assert!(verdict.contains(&t), "missing: {t}");
        }
        if let Some(now) = d["apply"]["now"].as_str() {
            assert!(verdict.contains(&now.replace('>', "&gt;")), "missing the command {now}");
        }
    }
    // The device the data was on gets its sweep plotted: one point per setting and plot (4).
    let loop2 = &verdict[verdict.find("data-device=\"loop2\"").expect("loop2")..];
    let sweep = &loop2[loop2.find("<figure class=\"plot sweep\">").expect("a sweep plot")..];
    let sweep = &sweep[..sweep.find("</figure>").expect("end of the plot")];
    let points = devices[0]["sweep"].as_array().expect("sweep").len();
    assert_eq!(sweep.matches("<circle").count(), 4 * points, "one marker per setting and plot");
    // The kernel's readahead per file: a used and a never-used bar per file shown.
    let files = &html[html.find("<figure class=\"plot used-wasted\">").expect("a used/wasted plot")..];
    assert!(files.contains("sbtest1.ibd"));
    // Self-contained: no script, nothing loaded from elsewhere (the SVG namespace is a name,
    // not a request).
    for bad in ["<script", "<link", "<img", "src=", "@import", "url("] {
        assert!(!html.contains(bad), "the page contains {bad}");
    }
    let without_ns = html.replace("http://www.w3.org/2000/svg", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
}

#[test]
fn bad_input_is_one_sentence_and_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("none.mio");
    let out = mysql_io(&["report", missing.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("mysql-io: error:") && err.lines().count() == 1, "{err}");
    // The page must not replace the trace.
    let copy = dir.path().join("t.mio");
    std::fs::copy(TRACE, &copy).expect("copy");
    let out = mysql_io(&["report", copy.to_str().expect("utf-8"), "-o", copy.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("would overwrite the trace"));
}

/// The page opened in a real browser (Debian's `chromium`, headless, installed by scripts/test):
/// a screenshot kept in target/test-reports/report-mariadb-sysbench.png, and the DOM the browser
/// built checked for the verdict and every plot with its data points. Without chromium this
/// fails: it never skips.
#[test]
fn the_page_renders_in_chromium() {
    let reports = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../test-reports");
    std::fs::create_dir_all(&reports).expect("test-reports dir");
    let page = reports.join("report-mariadb-sysbench.html");
    let out = mysql_io(&["report", TRACE, "-o", page.to_str().expect("utf-8")]);
    assert!(out.status.success(), "report failed: {}", String::from_utf8_lossy(&out.stderr));
    let chromium = std::env::var("MYSQL_IO_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let url = format!("file://{}", page.canonicalize().expect("page path").display());
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = |extra: &[&str]| {
        Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,2400"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap_or_else(|e| {
                panic!("{chromium} cannot run ({e}): scripts/test installs it (apt-get install chromium)")
            })
    };
    let shot = reports.join("report-mariadb-sysbench.png");
    let _ = std::fs::remove_file(&shot);
    let out = browser(&[&format!("--screenshot={}", shot.display())]);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a screenshot of {} bytes", png.len());
    let out = browser(&["--dump-dom"]);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("<section id=\"verdict\">"), "no verdict in the DOM");
    assert!(dom.contains("data-device=\"loop2\"") && dom.contains("/sys/block/loop2/queue/read_ahead_kb"));
    for plot in ["plot sweep", "plot used-wasted"] {
        let at =
            dom.find(&format!("<figure class=\"{plot}\">")).unwrap_or_else(|| panic!("no {plot} in the DOM"));
        let fig = &dom[at..at + dom[at..].find("</figure>").expect("end of figure")];
        assert!(
            fig.contains("<svg") && (fig.contains("<circle") || fig.contains("<rect")),
            "{plot} has no points"
        );
    }
}

/// `report A --compare B` on two synthetic traces of the same files (two seeds): the section's
/// totals and files are what `mysql-io compare A B` computes on its own (which simulates A at
/// B's setting alone, where the report simulates it within its sweep).
#[test]
fn compare_puts_the_other_trace_beside_with_compares_figures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = |seed: &str| {
        let p = dir.path().join(format!("s{seed}.mio"));
        let path = p.to_str().expect("utf-8").to_string();
        let out = mysql_io(&["synth", "-o", &path, "--events", "200K", "--seed", seed]);
        assert!(out.status.success(), "synth: {}", String::from_utf8_lossy(&out.stderr));
        path
    };
    let (a, b) = (trace("3"), trace("4"));
    let page = dir.path().join("c.html");
    let out = mysql_io(&["report", &a, "--compare", &b, "-o", page.to_str().expect("utf-8")]);
    assert!(out.status.success(), "report failed: {}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).expect("the page");
    let section = &html[html.find("<section id=\"compare\">").expect("a compare section")..];
    // Before the verdict.
    assert!(html.find("<section id=\"compare\">") < html.find("<section id=\"verdict\">"));
    assert!(section.contains("<figure class=\"plot compare\">"));

    let out = mysql_io(&["compare", &a, &b, "--json"]);
    assert!(out.status.success(), "compare: {}", String::from_utf8_lossy(&out.stderr));
    let c: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let n = |v: &Value| thousands(v.as_u64().unwrap_or_else(|| panic!("not a count: {v}")));
    let total = &c["total"];
    assert!(total["predicted_b"].is_object(), "compare predicts B: {total}");
    for (name, key, predicted) in [
        ("reads", "reads", false),
        ("pages read", "pages_read", true),
        ("device requests", "read_ios", true),
        ("readahead used", "used", true),
        ("readahead wasted", "wasted", true),
    ] {
        let row = row_cells(section, name);
        assert_eq!(row[1], n(&total["a"][key]), "{name}: A");
        assert_eq!(row[2], n(&total["b"][key]), "{name}: B");
        if predicted {
            assert_eq!(row[4], n(&total["predicted_b"][key]), "{name}: predicted B");
        }
    }
    // The two traces differ, so B vs A says by how much.
    assert_ne!(total["a"]["pages_read"], total["b"]["pages_read"]);
    assert!(row_cells(section, "pages read")[3].ends_with('%'));
    // Every file of both, with compare's figures.
    let files = c["files"].as_array().expect("files");
    assert_eq!(files.len(), 8, "synth's eight tablespaces");
    for f in files {
        let name = f["file"].as_str().expect("file");
        let cells = row_cells(section, name);
        assert_eq!(cells[1], n(&f["a"]["pages_read"]), "{name}");
        assert_eq!(cells[2], n(&f["b"]["pages_read"]), "{name}");
        assert_eq!(cells[3], n(&f["predicted_b"]["pages_read"]), "{name}");
        assert_eq!(cells[5], n(&f["b"]["read_ios"]), "{name}");
    }
}
