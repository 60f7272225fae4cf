//! What `simulate` prints and `report` shows: each table's columns and formats, defined once
//! ([`mysql_io_output::Table`]). JSON is the serialisation of [`SimReport`].

use mysql_io_output::{thousands, Cell, Column, Table};

use crate::versus::{Comparison, Side};
use crate::{DeviceVerdict, Figures, SimReport};

/// `128 KiB`; `mixed` for 0 where a row stands for files read at different settings.
fn kb(k: u64) -> String {
    if k == 0 {
        "mixed".into()
    } else {
        format!("{k} KiB")
    }
}

/// `1234567` as `1.23M`: about four significant digits.
pub fn compact(n: u64) -> String {
    match n {
        0..=99_999 => n.to_string(),
        100_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.2}M", n as f64 / 1e6),
        _ => format!("{:.2}G", n as f64 / 1e9),
    }
}

impl SimReport {
    /// Every file's and the total's figures at the recorded setting (kernel and model) and at
    /// every simulated setting; CSV only (`row` says which).
    pub fn rows_table(&self) -> Table {
        let mut t = Table::new(
            [
                "row",
                "ra_kb",
                "file",
                "reads",
                "pages_read",
                "bytes_read",
                "read_ios",
                "pages_requested",
                "demand_inserts",
                "hit_ratio",
                "pages_read_ahead",
                "used",
                "wasted",
                "triggers",
            ]
            .into_iter()
            .map(Column::csv)
            .collect(),
        );
        let row = |name: &str, f: &Figures| {
            vec![
                Cell::text(name),
                Cell::plain(f.ra_kb),
                Cell::text(&f.file),
                Cell::plain(f.reads),
                Cell::plain(f.pages_read),
                Cell::plain(f.bytes_read),
                Cell::plain(f.read_ios),
                Cell::plain(f.pages_requested),
                Cell::plain(f.demand_inserts),
                Cell::ratio(f.hit_ratio),
                Cell::plain(f.pages_read_ahead),
                Cell::plain(f.used),
                Cell::plain(f.wasted),
                Cell::plain(f.sync_triggers + f.async_triggers),
            ]
        };
        for (name, s) in [("recorded", &self.recorded), ("model_at_recorded", &self.model_at_recorded)]
            .into_iter()
            .chain(self.settings.iter().map(|s| ("simulated", s)))
        {
            for f in s.files.iter().chain(std::iter::once(&s.total)) {
                t.push(row(name, f));
            }
        }
        t
    }

    /// All files together: the kernel and the model at the recorded setting, then the model at
    /// each simulated setting.
    pub fn totals_table(&self) -> Table {
        let mut t = Table::new(vec![
            Column::both("row", "all files"),
            Column::both("reads", "reads"),
            Column::both("pages_read", "pages read"),
            Column::both("read_ios", "requests"),
            Column::both("demand_inserts", "waited"),
            Column::both("hit_ratio", "hits"),
            Column::both("pages_read_ahead", "read ahead"),
            Column::both("wasted", "wasted"),
        ]);
        let row = |name: String, f: &Figures| {
            vec![
                Cell::text(name),
                Cell::count(f.reads),
                Cell::count(f.pages_read),
                Cell::count(f.read_ios),
                Cell::count(f.demand_inserts),
                Cell::ratio(f.hit_ratio),
                Cell::count(f.pages_read_ahead),
                Cell::count(f.wasted),
            ]
        };
        t.push(row(format!("kernel at {}", kb(self.recorded.ra_kb)), &self.recorded.total));
        t.push(row(format!("model at {}", kb(self.model_at_recorded.ra_kb)), &self.model_at_recorded.total));
        for s in &self.settings {
            t.push(row(format!("model at {} KiB", s.ra_kb), &s.total));
        }
        t
    }

    /// Pages read from disk by the first `top` files: the kernel, the model at the recorded
    /// setting, the model at each simulated setting. Paths are shortened and, with many
    /// settings, numbers written in four digits, so that the terminal table fits 100 columns.
    pub fn pages_table(&self, top: usize) -> Table {
        let settings: Vec<String> = self.settings.iter().map(|s| format!("{} KiB", s.ra_kb)).collect();
        let mut columns = vec![
            Column::both("file", "pages read from disk"),
            Column::both("kernel", "kernel"),
            Column::both("model", "model"),
        ];
        columns.extend(settings.iter().map(|s| Column::both(s.clone(), s.clone())));
        let wide = columns.len() <= 7;
        let num = |n: u64| Cell::new(if wide { thousands(n) } else { compact(n) }, n.to_string());
        let cell = if wide { 12 } else { 9 };
        let width = 100usize.saturating_sub(cell * (columns.len() - 1)).max(20);
        let mut t = Table::new(columns);
        for i in 0..self.recorded.files.len().min(top) {
            let mut v = vec![
                Cell::path(&self.recorded.files[i].file, width),
                num(self.recorded.files[i].pages_read),
                num(self.model_at_recorded.files[i].pages_read),
            ];
            v.extend(self.settings.iter().map(|s| num(s.files[i].pages_read)));
            t.push(v);
        }
        t
    }
}

impl DeviceVerdict {
    /// The model's figures on this device at every setting of the sweep, the recorded
    /// (`now`) and the recommended (`best`) ones marked.
    pub fn sweep_table(&self) -> Table {
        let mut t = Table::new(vec![
            Column::both("ra_kb", "read_ahead_kb"),
            Column::both("pages_read", "pages read"),
            Column::both("read_ios", "requests"),
            Column::both("waited", "waited"),
            Column::both("wasted", "wasted"),
            Column::both("hit_ratio", "hits"),
        ]);
        for p in &self.sweep {
            let mark = match (p.ra_kb == self.current_ra_kb, Some(p.ra_kb) == self.recommended_ra_kb) {
                (true, true) => " (now, best)",
                (true, false) => " (now)",
                (false, true) => " (best)",
                _ => "",
            };
            t.push(vec![
                Cell::new(format!("{} KiB{mark}", p.ra_kb), p.ra_kb.to_string()),
                Cell::count(p.pages_read),
                Cell::count(p.read_ios),
                Cell::count(p.waited),
                Cell::count(p.wasted),
                Cell::ratio(p.hit_ratio()),
            ]);
        }
        t
    }
}

/// `+12.3%` from `a` to `b`; empty when `a` is 0.
fn change(a: u64, b: u64) -> String {
    if a == 0 {
        return String::new();
    }
    format!("{:+.1}%", 100.0 * (b as f64 - a as f64) / a as f64)
}

impl Comparison {
    /// Both traces' totals, B's change from A, the prediction for B and B's change from it.
    pub fn totals_table(&self) -> Table {
        let mut t = Table::new(vec![
            Column::both("figure", "total"),
            Column::both("a", "A"),
            Column::both("b", "B"),
            Column::both("b_vs_a", "B vs A"),
            Column::both("predicted_b", "predicted B"),
            Column::both("b_vs_predicted", "B vs predicted"),
        ]);
        let (a, b) = (self.total.a.clone().unwrap_or_default(), self.total.b.clone().unwrap_or_default());
        let p = self.total.predicted_b.as_ref();
        type Get = fn(&Side) -> u64;
        let counts: [(&str, Get, bool); 5] = [
            ("reads", |s| s.reads, false),
            ("pages read", |s| s.pages_read, true),
            ("device requests", |s| s.read_ios, true),
            ("readahead used", |s| s.used, true),
            ("readahead wasted", |s| s.wasted, true),
        ];
        for (name, get, predicted) in counts {
            let pv = p.filter(|_| predicted).map(get);
            t.push(vec![
                Cell::text(name),
                Cell::count(get(&a)),
                Cell::count(get(&b)),
                Cell::text(change(get(&a), get(&b))),
                pv.map_or_else(|| Cell::text(""), Cell::count),
                Cell::text(pv.map_or_else(String::new, |v| change(v, get(&b)))),
            ]);
        }
        let blank = || Cell::text("");
        t.push(vec![
            Cell::text("hit ratio"),
            Cell::ratio(a.hit_ratio),
            Cell::ratio(b.hit_ratio),
            blank(),
            p.map_or_else(blank, |p| Cell::ratio(p.hit_ratio)),
            blank(),
        ]);
        let us = |x: Option<f64>| match x {
            Some(v) => Cell::new(format!("{v:.0} us"), format!("{v:.3}")),
            None => Cell::new("-", ""),
        };
        for (name, get) in [
            ("latency p50", (|s: &Side| s.latency_p50_us) as fn(&Side) -> Option<f64>),
            ("latency p99", |s: &Side| s.latency_p99_us),
        ] {
            t.push(vec![Cell::text(name), us(get(&a)), us(get(&b)), blank(), blank(), blank()]);
        }
        t
    }

    /// The first `top` files: pages read and device requests in A, B and predicted for B, and
    /// the hit ratios; `-` where a trace did not read the file.
    pub fn files_table(&self, top: usize) -> Table {
        let mut t = Table::new(vec![
            Column::both("file", "file"),
            Column::both("pages_a", "pages A"),
            Column::both("pages_b", "pages B"),
            Column::both("pages_predicted", "predicted"),
            Column::both("requests_a", "requests A"),
            Column::both("requests_b", "requests B"),
            Column::both("requests_predicted", "predicted"),
            Column::both("hit_ratio_a", "hit A"),
            Column::both("hit_ratio_b", "hit B"),
        ]);
        let n = |s: &Option<Side>, g: fn(&Side) -> u64| {
            s.as_ref().map_or_else(|| Cell::new("-", ""), |s| Cell::count(g(s)))
        };
        let h =
            |s: &Option<Side>| s.as_ref().map_or_else(|| Cell::new("-", ""), |s| Cell::ratio(s.hit_ratio));
        for r in self.files.iter().take(top) {
            t.push(vec![
                Cell::path(&r.file, 40),
                n(&r.a, |s| s.pages_read),
                n(&r.b, |s| s.pages_read),
                n(&r.predicted_b, |s| s.pages_read),
                n(&r.a, |s| s.read_ios),
                n(&r.b, |s| s.read_ios),
                n(&r.predicted_b, |s| s.read_ios),
                h(&r.a),
                h(&r.b),
            ]);
        }
        t
    }
}
