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

/// `mysql-io report` of the MariaDB recording in testdata: the page.
fn report_of_testdata() -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("r.html");
    let out = mysql_io(&["report", TRACE, "-o", page.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "report failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("report written to"));
    std::fs::read_to_string(&page).expect("the page")
}

#[test]
fn the_page_carries_the_verdict_and_its_plots_and_fetches_nothing() {
    let html = report_of_testdata();

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
    // Recorded without --statements: no statements section.
    assert!(!html.contains("<section id=\"statements\">"));
    page::assert_self_contained(&html);
}

/// The value of attribute `name` in the first tag of `s` that has it.
fn attr<'a>(s: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let at = s.find(&key).unwrap_or_else(|| panic!("no {name} in {}", &s[..s.len().min(200)])) + key.len();
    &s[at..at + s[at..].find('"').expect("closing quote")]
}

/// The element that starts at `open` in `html` up to its `close`, for each occurrence.
fn elements<'a>(html: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    html.match_indices(open)
        .map(|(at, _)| &html[at..at + html[at..].find(close).expect("closing tag") + close.len()])
        .collect()
}

fn analyze(what: &[&str]) -> Value {
    let mut args = vec!["analyze"];
    args.extend_from_slice(what);
    args.extend_from_slice(&[TRACE, "--format", "json"]);
    let out = mysql_io(&args);
    assert!(out.status.success(), "analyze failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The evidence plots are on the page with their points, and their figures are those of
/// `analyze`: reads and latency percentiles per role (`analyze threads`), readahead windows per
/// file (`analyze readahead`), sequential runs in all and per file (`analyze sequentiality`).
#[test]
fn the_evidence_agrees_with_analyze() {
    let html = report_of_testdata();
    assert!(html.len() < 400 << 10, "the page is {} bytes", html.len());

    // Roles: one row each, the reads and p50/p99 of analyze threads; p95 between them.
    let threads = analyze(&["threads"]);
    let roles = threads["roles"].as_array().expect("roles");
    assert!(!roles.is_empty());
    let latency = &html[html.find("<section id=\"latency\">").expect("a latency section")..];
    let rows = elements(latency, "<tr data-role=", "</tr>");
    assert_eq!(rows.len(), roles.len(), "one row per role");
    let mut timed_roles = 0;
    for r in roles {
        let name = r["role"].as_str().expect("role");
        let row = rows
            .iter()
            .find(|row| attr(row, "data-role") == name)
            .unwrap_or_else(|| panic!("no row for role {name}"));
        assert_eq!(
            attr(row, "data-reads").parse::<u64>().expect("reads"),
            r["reads"].as_u64().expect("reads")
        );
        let ns = |p: &str| attr(row, &format!("data-{p}-ns")).parse::<u64>().ok();
        for (p, field) in [("p50", "p50_latency_us"), ("p99", "p99_latency_us")] {
            assert_eq!(ns(p).map(|v| v as f64 / 1000.0), r[field].as_f64(), "{name} {p}");
        }
        if let (Some(p50), Some(p95), Some(p99)) = (ns("p50"), ns("p95"), ns("p99")) {
            assert!(p50 <= p95 && p95 <= p99, "{name}: {p50} {p95} {p99}");
            timed_roles += 1;
        }
    }
    assert!(timed_roles > 0, "no role has latencies");
    // The distribution: a curve and three dots (p50, p95, p99) per role with latencies.
    let cdf = elements(latency, "<figure class=\"plot latency-cdf\">", "</figure>");
    assert_eq!(cdf.len(), 1);
    assert_eq!(cdf[0].matches("<circle").count(), 3 * timed_roles.min(7));
    assert!(cdf[0].matches("<polyline").count() >= timed_roles.min(7));

    // Reads per second: a line per role, a point per bin.
    let rate = elements(&html, "<figure class=\"plot reads-per-second\"", "</figure>");
    assert_eq!(rate.len(), 1);
    let bins: usize = attr(rate[0], "data-bins").parse().expect("bins");
    let plotted: usize = attr(rate[0], "data-roles").parse().expect("roles");
    assert_eq!(plotted, roles.len().min(7));
    assert!(bins >= 10, "{bins} bins for a recording of more than 10 s");
    let lines: Vec<usize> = elements(rate[0], "<polyline", "/>")
        .iter()
        .map(|l| attr(l, "points").split_whitespace().count())
        .filter(|&n| n == bins)
        .collect();
    assert_eq!(lines.len(), plotted, "one line of {bins} points per role");

    // Offset against time: the files with most reads (analyze files), each with cells, and the
    // readahead windows analyze readahead counts for it.
    let files = analyze(&["files"]);
    // Reads of files the recorder could not resolve have no offsets to draw.
    let files: Vec<&Value> = files["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| !f["file"].as_str().expect("file").starts_with("(io_uring registered file"))
        .collect();
    let ra = analyze(&["readahead"]);
    let ra = ra["files"].as_array().expect("files");
    let plots = elements(&html, "<figure class=\"plot offset-time\"", "</figure>");
    assert!(!plots.is_empty() && plots.len() <= 6, "{} offset plots", plots.len());
    let mut windows_drawn = 0;
    for (i, fig) in plots.iter().enumerate() {
        let path = attr(fig, "data-file");
        assert_eq!(
            path,
            files[i]["file"].as_str().expect("file"),
            "plot {i} is not the file with most reads but {i}"
        );
        let reads: u64 = attr(fig, "data-reads").parse().expect("reads");
        assert_eq!(reads, files[i]["reads"].as_u64().expect("reads"), "{path}");
        let cells: usize = attr(fig, "data-cells").parse().expect("cells");
        assert!(cells > 0 && cells <= 100 * 40, "{path}: {cells} cells");
        // Cells and windows are drawn as one path per colour, a subpath each.
        let subpaths = |class: &str| -> usize {
            elements(fig, &format!("<path class=\"{class}\""), "/>")
                .iter()
                .map(|p| {
                    let n: usize = attr(p, "data-n").parse().expect("data-n");
                    assert_eq!(attr(p, "d").matches('M').count(), n, "{path}: {p}");
                    n
                })
                .sum()
        };
        assert_eq!(subpaths("cells"), cells, "{path}: cells drawn");
        let windows: u64 = attr(fig, "data-windows").parse().expect("windows");
        let kernel =
            ra.iter().find(|r| r["file"] == path).map_or(0, |r| r["windows"].as_u64().expect("windows"));
        assert_eq!(windows, kernel, "{path}: readahead windows");
        let drawn: usize = attr(fig, "data-windows-drawn").parse().expect("drawn");
        assert!(drawn as u64 <= windows && (windows == 0 || drawn > 0));
        assert_eq!(subpaths("windows"), drawn, "{path}: windows drawn");
        windows_drawn += drawn;
    }
    assert!(windows_drawn > 0, "no readahead window drawn");
    assert!(plots[0].contains("sbtest"), "the file read most is a table");

    // Sequential runs: in all and per file, as analyze sequentiality counts them.
    let seq = analyze(&["sequentiality"]);
    let runs = &html[html.find("<section id=\"runs\">").expect("a runs section")..];
    let bars = elements(runs, "<figure class=\"plot run-lengths\">", "</figure>");
    assert_eq!(bars.len(), 1);
    let row_counts = |row: &str| -> Vec<(String, u64)> {
        elements(row, "<td data-bucket=", "</td>")
            .iter()
            .map(|td| {
                let n = td[td.find('>').expect(">") + 1..td.len() - 5].replace(',', "");
                (attr(td, "data-bucket").replace("&gt;", ">"), n.parse().expect("count"))
            })
            .collect()
    };
    let expect = |hist: &Value| -> Vec<(String, u64)> {
        hist.as_array()
            .expect("histogram")
            .iter()
            .map(|b| (b["bucket"].as_str().expect("bucket").to_string(), b["count"].as_u64().expect("count")))
            .collect()
    };
    let rows = elements(runs, "<tr data-file=", "</tr>");
    assert_eq!(rows.len(), 1 + plots.len());
    let total = row_counts(rows[0]);
    assert_eq!(total, expect(&seq["total"]["run_length_histogram"]), "runs of all files");
    assert!(total.iter().map(|(_, n)| n).sum::<u64>() > 0);
    for row in &rows[1..] {
        let path = attr(row, "data-file");
        let group = seq["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|g| g["group"] == path)
            .unwrap_or_else(|| panic!("analyze sequentiality has no {path}"));
        assert_eq!(row_counts(row), expect(&group["run_length_histogram"]), "runs of {path}");
    }
    // A bar per bucket (the background and plot area are rectangles too).
    assert!(bars[0].matches("<rect").count() >= total.len());
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
    let dom = page::in_chromium(&page, &reports.join("report-mariadb-sysbench.png"));
    assert!(dom.contains("<section id=\"verdict\">"), "no verdict in the DOM");
    assert!(dom.contains("data-device=\"loop2\"") && dom.contains("/sys/block/loop2/queue/read_ahead_kb"));
    for plot in [
        "plot sweep",
        "plot used-wasted",
        "plot offset-time",
        "plot latency-cdf",
        "plot reads-per-second",
        "plot run-lengths",
    ] {
        let at =
            dom.find(&format!("<figure class=\"{plot}\"")).unwrap_or_else(|| panic!("no {plot} in the DOM"));
        let fig = &dom[at..at + dom[at..].find("</figure>").expect("end of figure")];
        assert!(
            fig.contains("<svg")
                && (fig.contains("<circle") || fig.contains("<rect") || fig.contains("<polyline")),
            "{plot} has no points"
        );
    }
    for section in ["offsets", "latency", "rate", "runs"] {
        assert!(dom.contains(&format!("<section id=\"{section}\">")), "no {section} section in the DOM");
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
