//! Reading figures back from a report page, for the tests that check them.

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
