//! Tables defined once, printed three ways.
//!
//! A [`Table`] is a list of [`Column`]s and rows of [`Cell`]s. A cell carries two forms of its
//! value: the one a person reads (`1,234`, `12.3 MiB`, `43.2%`, a path shortened to its end) and
//! the one a program reads (`1234`, `12934103`, `0.432100`, the whole path). A column is shown
//! in the terminal table when it has a header, written to CSV when it has a key, or both; so
//! one definition gives the terminal its compact view and CSV every figure in plain units.
//! [`Table::text`] renders for a terminal, [`Table::csv`] and [`csv`] for CSV, [`Table::html`]
//! for the report; JSON is not here: it is the serialisation of the report structs themselves.
//!
//! The number formats every command uses ([`thousands`], [`bytes`], [`pct`], [`tail`]) are here
//! too, so that a figure looks the same wherever it is printed.

use std::fmt::Write as _;

use comfy_table::presets::NOTHING;
use comfy_table::CellAlignment;

/// One value in two forms: for a person (terminal, HTML) and for a program (CSV).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    text: String,
    raw: String,
    /// The full value, shown as a tooltip in HTML when `text` shortens it.
    full: Option<String>,
}

impl Cell {
    /// The same string in both forms.
    pub fn text(s: impl Into<String>) -> Cell {
        let s = s.into();
        Cell { raw: s.clone(), text: s, full: None }
    }

    /// Different forms: `text` for a person, `raw` for a program.
    pub fn new(text: impl Into<String>, raw: impl Into<String>) -> Cell {
        Cell { text: text.into(), raw: raw.into(), full: None }
    }

    /// A count: `1,234` / `1234`.
    pub fn count(n: u64) -> Cell {
        Cell::new(thousands(n), n.to_string())
    }

    /// A small count (threads, files) printed without separators.
    pub fn plain(n: u64) -> Cell {
        Cell::text(n.to_string())
    }

    /// Bytes: `12.3 MiB` / `12934103`.
    pub fn bytes(n: u64) -> Cell {
        Cell::new(bytes(n), n.to_string())
    }

    /// A ratio: `43.2%` / `0.432100`.
    pub fn ratio(r: f64) -> Cell {
        Cell::new(pct(r), format!("{r:.6}"))
    }

    /// A path or name shortened to its last `width` characters for a person, whole for a
    /// program (and as the HTML tooltip).
    pub fn path(p: &str, width: usize) -> Cell {
        let text = tail(p, width);
        let full = (text != p).then(|| p.to_string());
        Cell { text, raw: p.to_string(), full }
    }

    /// A text shortened to its first `width` characters for a person (statements: their start
    /// says what they are), whole for a program (and as the HTML tooltip).
    pub fn start(s: &str, width: usize) -> Cell {
        let text = head(s, width);
        let full = (text != s).then(|| s.to_string());
        Cell { text, raw: s.to_string(), full }
    }

    /// A latency in microseconds: one decimal below 10 us (page-cache hits take a few), none
    /// above; 3 decimals for a program; `-` / empty when unknown.
    pub fn us(v: Option<f64>) -> Cell {
        match v {
            Some(v) => {
                Cell::new(if v < 10.0 { format!("{v:.1}") } else { format!("{v:.0}") }, format!("{v:.3}"))
            }
            None => Cell::new("-", ""),
        }
    }

    /// What a person reads.
    pub fn shown(&self) -> &str {
        &self.text
    }

    /// What a program reads.
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// A column: in the terminal table when it has a header, in CSV when it has a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    key: Option<String>,
    header: Option<String>,
}

impl Column {
    /// In both: `key` in CSV, `header` over the terminal column.
    pub fn both(key: impl Into<String>, header: impl Into<String>) -> Column {
        Column { key: Some(key.into()), header: Some(header.into()) }
    }

    /// In CSV only.
    pub fn csv(key: impl Into<String>) -> Column {
        Column { key: Some(key.into()), header: None }
    }

    /// In the terminal table (and HTML) only.
    pub fn shown(header: impl Into<String>) -> Column {
        Column { key: None, header: Some(header.into()) }
    }
}

/// Columns and rows; every row has one cell per column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table of these columns, without rows.
    pub fn new(columns: Vec<Column>) -> Table {
        Table { columns, rows: Vec::new() }
    }

    /// Adds a row. Panics when it has not one cell per column: a table's definition is wrong.
    pub fn push(&mut self, row: Vec<Cell>) {
        assert_eq!(row.len(), self.columns.len(), "a row needs one cell per column");
        self.rows.push(row);
    }

    /// Rows.
    pub fn rows(&self) -> &[Vec<Cell>] {
        &self.rows
    }

    /// The value of column `key` (CSV key or header) in every row, as a person reads it.
    pub fn column(&self, key: &str) -> Option<Vec<&str>> {
        let i = self
            .columns
            .iter()
            .position(|c| c.key.as_deref() == Some(key) || c.header.as_deref() == Some(key))?;
        Some(self.rows.iter().map(|r| r[i].shown()).collect())
    }

    fn shown_columns(&self) -> impl Iterator<Item = (usize, &str)> {
        self.columns.iter().enumerate().filter_map(|(i, c)| Some((i, c.header.as_deref()?)))
    }

    /// For a terminal: the columns with a header, the first aligned left, the others right,
    /// no borders, and a newline at the end.
    pub fn text(&self) -> String {
        let shown: Vec<(usize, &str)> = self.shown_columns().collect();
        let mut t = comfy_table::Table::new();
        t.load_style(NOTHING).set_header(shown.iter().map(|(_, h)| *h).collect::<Vec<_>>());
        for r in &self.rows {
            t.add_row(shown.iter().map(|(i, _)| r[*i].text.as_str()).collect::<Vec<_>>());
        }
        for i in 1..shown.len() {
            if let Some(c) = t.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        format!("{t}\n")
    }

    /// As CSV: the columns with a key, with a header line.
    pub fn csv(&self) -> String {
        csv(&[self])
    }

    /// As an HTML table (`class` on the table): the columns with a header, numbers aligned
    /// right, a shortened value's whole in its cell's title, and each row's first cell as the
    /// row's `data-row` (for tests and scripts that look a row up).
    pub fn html(&self, class: &str) -> String {
        let shown: Vec<(usize, &str)> = self.shown_columns().collect();
        let mut out = format!("<table class=\"{}\"><tr>", escape_html(class));
        for (_, h) in &shown {
            let _ = write!(out, "<th>{}</th>", escape_html(h));
        }
        out.push_str("</tr>\n");
        for r in &self.rows {
            let _ = write!(out, "<tr data-row=\"{}\">", escape_html(r.first().map_or("", Cell::raw)));
            for (n, (i, _)) in shown.iter().enumerate() {
                let c = &r[*i];
                let class = if n > 0 { " class=\"n\"" } else { "" };
                match &c.full {
                    Some(full) => {
                        let _ = write!(
                            out,
                            "<td{class} title=\"{}\">{}</td>",
                            escape_html(full),
                            escape_html(&c.text)
                        );
                    }
                    None => {
                        let _ = write!(out, "<td{class}>{}</td>", escape_html(&c.text));
                    }
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        out
    }
}

/// Several tables of the same columns as one CSV (the header of the first).
pub fn csv(tables: &[&Table]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = true;
    for t in tables {
        let keyed: Vec<usize> =
            t.columns.iter().enumerate().filter_map(|(i, c)| c.key.as_ref().map(|_| i)).collect();
        if header {
            // Writing to a Vec cannot fail.
            let _ = w.write_record(keyed.iter().filter_map(|&i| t.columns[i].key.as_deref()));
            header = false;
        }
        for r in &t.rows {
            let _ = w.write_record(keyed.iter().map(|&i| r[i].raw.as_str()));
        }
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in binary units, e.g. `12.3 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `0.4321` as `43.2%`.
pub fn pct(r: f64) -> String {
    format!("{:.1}%", r * 100.0)
}

/// Shortens `s` to at most `max` characters, keeping its end (paths end with what matters).
pub fn tail(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        let keep: String = s.chars().skip(n - (max - 1)).collect();
        format!("…{keep}")
    }
}

/// Shortens `s` to at most `max` characters, keeping its start (for text that says what it is
/// first, as SQL does).
pub fn head(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let keep: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{keep}…")
    }
}

/// `s` with the characters HTML gives a meaning escaped.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(vec![
            Column::both("file", "file"),
            Column::csv("table"),
            Column::both("reads", "reads"),
            Column::shown("hits"),
            Column::csv("hit_ratio"),
        ]);
        t.push(vec![
            Cell::path("/var/lib/mysql/shop/orders.ibd", 12),
            Cell::text("shop.orders"),
            Cell::count(1_234_567),
            Cell::ratio(0.5),
            Cell::new("", "0.500000"),
        ]);
        t.push(vec![Cell::text("a,\"b\""), Cell::text(""), Cell::count(7), Cell::text("-"), Cell::text("")]);
        t
    }

    #[test]
    fn each_renderer_takes_its_columns_and_form() {
        let t = sample();
        assert_eq!(
            t.text(),
            " file              reads   hits \n …/orders.ibd  1,234,567  50.0% \n a,\"b\"                 7      - \n"
        );
        assert_eq!(
            t.csv(),
            "file,table,reads,hit_ratio\n/var/lib/mysql/shop/orders.ibd,shop.orders,1234567,0.500000\n\"a,\"\"b\"\"\",,7,\n"
        );
        let html = t.html("files");
        assert!(html.starts_with("<table class=\"files\"><tr><th>file</th><th>reads</th><th>hits</th></tr>"));
        assert!(html.contains(
            "<tr data-row=\"/var/lib/mysql/shop/orders.ibd\"><td title=\"/var/lib/mysql/shop/orders.ibd\">…/orders.ibd</td><td class=\"n\">1,234,567</td>"
        ));
        assert!(html.contains("<td>a,&quot;b&quot;</td>"));
        assert_eq!(t.column("reads"), Some(vec!["1,234,567", "7"]));
        assert_eq!(csv(&[&t, &t]).lines().count(), 5, "one header for both");
    }

    #[test]
    fn number_formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(pct(0.4321), "43.2%");
        assert_eq!(tail("abcdef", 4), "…def");
        assert_eq!(head("abcdef", 4), "abc…");
        assert_eq!(head("abc", 4), "abc");
        assert_eq!(Cell::start("SELECT c FROM t", 9).shown(), "SELECT c…");
        assert_eq!(Cell::start("SELECT c FROM t", 9).raw(), "SELECT c FROM t");
        assert_eq!(escape_html("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
        assert_eq!(Cell::us(Some(5.27)).shown(), "5.3");
        assert_eq!(Cell::us(Some(19.36)).shown(), "19");
        assert_eq!(Cell::us(Some(11.391)).raw(), "11.391");
        assert_eq!((Cell::us(None).shown(), Cell::us(None).raw()), ("-", ""));
    }
}
