//! Reading figures back from a report page, and opening it in a browser, for the tests that
//! check it. Each test binary uses part of it.
#![allow(dead_code, unused_imports)]

pub(crate) use mysql_io_output::thousands;

/// The cells of the page's table row `<tr data-row="KEY">` (its first cell's value), the first
/// cell included.
pub(crate) fn row_cells(html: &str, key: &str) -> Vec<String> {
    let marker = format!("<tr data-row=\"{key}\">");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no row {key}"));
    let row = &html[at..at + html[at..].find("</tr>").expect("end of row")];
    row.split("<td")
        .skip(1)
        .map(|c| {
            let c = &c[c.find('>').expect("end of the td tag") + 1..];
            c.split("</td>").next().unwrap_or_default().to_string()
        })
        .collect()
}

/// Opens `page` in headless Chromium (Debian's `chromium`, installed by scripts/test; another
/// with MYSQL_IO_CHROMIUM): a screenshot into `shot` (checked to be a PNG of some size), and
/// the DOM the browser built, returned. Without a browser this panics: it never skips.
pub(crate) fn in_chromium(page: &std::path::Path, shot: &std::path::Path) -> String {
    let chromium = std::env::var("MYSQL_IO_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let url = format!("file://{}", page.canonicalize().expect("page path").display());
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = |extra: &[&str]| {
        let out = std::process::Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,2400"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap_or_else(|e| {
                panic!("{chromium} cannot run ({e}): scripts/test installs it (apt-get install chromium)")
            });
        assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    let _ = std::fs::remove_file(shot);
    browser(&[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(shot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a screenshot of {} bytes", png.len());
    String::from_utf8_lossy(&browser(&["--dump-dom"]).stdout).into_owned()
}

/// The page loads nothing from elsewhere: no script, link, image, import or URL (the SVG
/// namespace is a name, not a fetch).
pub(crate) fn assert_self_contained(html: &str) {
    for bad in ["<script", "<link", "<img", "src=", "@import", "url("] {
        assert!(!html.contains(bad), "the page contains {bad}");
    }
    let without_ns = html.replace("http://www.w3.org/2000/svg", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"), "the page has a URL");
}
