//! Two traces of the same files side by side (a recording and its replay, or recordings before
//! and after a setting change), per file and in total, with what the model predicted for the
//! second trace's setting from the first: `mysql-io compare` prints it, `mysql-io report
//! --compare` draws it.
//!
//! Files are matched by the last two components of their paths (`schema/table.ibd`), so a replay
//! under another directory matches its recording.

use std::collections::BTreeMap;
use std::path::Path;

use mysql_io_format::Trace;
use serde::Serialize;

use crate::{Figures, SimReport};

/// One trace's figures for one file (or the total).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Side {
    /// Reads.
    pub reads: u64,
    /// Pages (4 KiB) read from the disk.
    pub pages_read: u64,
    /// Device read requests.
    pub read_ios: u64,
    /// Page-cache hit ratio of the buffered reads.
    pub hit_ratio: f64,
    /// Pages read ahead that a read used.
    pub used: u64,
    /// Pages read ahead that no read used.
    pub wasted: u64,
    /// Median latency of the buffered reads whose completion was recorded, microseconds (the
    /// exact nearest-rank value); null without such reads, and for a prediction.
    pub latency_p50_us: Option<f64>,
    /// 99th percentile, as `latency_p50_us`.
    pub latency_p99_us: Option<f64>,
}

/// One file in both traces.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Path (A's when both have it).
    pub file: String,
    /// A's figures; null when only B read the file.
    pub a: Option<Side>,
    /// B's figures; null when only A read the file.
    pub b: Option<Side>,
    /// The simulator on A's reads at B's setting.
    pub predicted_b: Option<Side>,
}

/// The comparison of trace A with trace B.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// A as the user named it.
    pub a: String,
    /// B as the user named it.
    pub b: String,
    /// A's read_ahead_kb (when its files were read at different settings: the one most of its
    /// pages were read at).
    pub a_ra_kb: u64,
    /// The setting the prediction is for: B's, or what the user chose.
    pub b_ra_kb: u64,
    /// Over all files.
    pub total: Row,
    /// Per file, most pages read by A first.
    pub files: Vec<Row>,
    /// What limits the comparison.
    pub warnings: Vec<String>,
}

/// Buffered read latencies (ns, sorted) per path, and over all files under `"total"`.
pub type Latencies = BTreeMap<String, Vec<u64>>;

/// The buffered reads' latencies of `trace`, per file path and in total.
pub fn latencies(trace: &Trace<'_>) -> Latencies {
    let (reads, fin, _) = mysql_io_reads::collect(trace);
    let paths: BTreeMap<(u32, u64), &str> =
        trace.files().iter().map(|f| ((f.dev, f.ino), f.path.as_str())).collect();
    let mut out = Latencies::new();
    for r in reads.iter().filter(|r| !r.direct && !r.failed()) {
        let Some(end) = r.end_ts else { continue };
        let key = fin.files[r.file as usize];
        let path = paths
            .get(&(key.dev, key.ino))
            .map_or_else(|| format!("{}:{}", key.dev, key.ino), |p| p.to_string());
        let lat = end.saturating_sub(r.start_ts);
        out.entry(path).or_default().push(lat);
        out.entry("total".into()).or_default().push(lat);
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    out
}

/// The setting to predict B at: `chosen` when given, else the one B's files were read at (when
/// they differ: the one most of B's pages were read at, with a warning).
pub fn b_setting(b: &SimReport, chosen: Option<u64>) -> (u64, Option<String>) {
    match chosen {
        Some(kb) => (kb, None),
        None => recorded_setting(b, "B"),
    }
}

/// The setting `r`'s files were read at; when they differ, the one most of their pages were
/// read at, and a sentence that says so (`name` is the trace's).
fn recorded_setting(r: &SimReport, name: &str) -> (u64, Option<String>) {
    if r.recorded.ra_kb > 0 {
        return (r.recorded.ra_kb, None);
    }
    let mut by: BTreeMap<u64, u64> = BTreeMap::new();
    for f in &r.recorded.files {
        *by.entry(f.ra_kb).or_default() += f.pages_read;
    }
    let kb = by.iter().max_by_key(|(_, p)| **p).map_or(128, |(k, _)| *k);
    (kb, Some(format!("{name}'s files were read at different settings, most of their pages at {kb} KiB")))
}

fn side(f: &Figures, lat: Option<&Vec<u64>>) -> Side {
    let q = |p: f64| {
        lat.filter(|v| !v.is_empty()).map(|v| {
            let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
            v[i] as f64 / 1e3
        })
    };
    Side {
        reads: f.reads,
        pages_read: f.pages_read,
        read_ios: f.read_ios,
        hit_ratio: f.hit_ratio,
        used: f.used,
        wasted: f.wasted,
        latency_p50_us: q(0.50),
        latency_p99_us: q(0.99),
    }
}

/// What matches a file across traces: its last two path components.
pub fn match_key(path: &str) -> String {
    let parts: Vec<&str> = Path::new(path).iter().filter_map(|c| c.to_str()).collect();
    parts[parts.len().saturating_sub(2)..].join("/")
}

/// The two traces' recorded figures (`ra`, `rb`: their simulations in free mode; `ra` must
/// include the setting `b_kb`, whose figures are the prediction) and latencies, file by file;
/// `(b_kb, why)` is what [`b_setting`] chose, its sentence the comparison's first warning.
pub fn compare(
    names: (&str, &str),
    (ra, la): (&SimReport, &Latencies),
    (rb, lb): (&SimReport, &Latencies),
    (b_kb, why): (u64, Option<String>),
) -> Comparison {
    let (a_kb, a_mixed) = recorded_setting(ra, "A");
    let mut warnings: Vec<String> = why.into_iter().chain(a_mixed).collect();
    warnings.extend(ra.warnings.iter().map(|w| format!("A: {w}")));
    warnings.extend(rb.warnings.iter().map(|w| format!("B: {w}")));
    let at_b = ra.settings.iter().find(|s| s.ra_kb == b_kb);
    if at_b.is_none() {
        warnings.push(format!("A was not simulated at {b_kb} KiB: no prediction"));
    }
    let predicted: BTreeMap<String, &Figures> =
        at_b.map(|s| s.files.iter().map(|f| (match_key(&f.file), f)).collect()).unwrap_or_default();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let new_row = |f: &Figures| Row { file: f.file.clone(), a: None, b: None, predicted_b: None };
    for f in &ra.recorded.files {
        let row = rows.entry(match_key(&f.file)).or_insert_with(|| new_row(f));
        row.a = Some(side(f, la.get(&f.file)));
        row.predicted_b = predicted.get(&match_key(&f.file)).map(|p| side(p, None));
    }
    for f in &rb.recorded.files {
        let row = rows.entry(match_key(&f.file)).or_insert_with(|| new_row(f));
        row.b = Some(side(f, lb.get(&f.file)));
    }
    let unmatched = rows.values().filter(|r| r.a.is_none() || r.b.is_none()).count();
    if unmatched > 0 {
        warnings.push(format!(
            "{unmatched} files are in one trace only (matched by their last two path components)"
        ));
    }
    let mut files: Vec<Row> = rows.into_values().collect();
    files.sort_by_key(|r| std::cmp::Reverse(r.a.as_ref().map_or(0, |s| s.pages_read)));
    let total = Row {
        file: "total".into(),
        a: Some(side(&ra.recorded.total, la.get("total"))),
        b: Some(side(&rb.recorded.total, lb.get("total"))),
        predicted_b: at_b.map(|s| side(&s.total, None)),
    };
    Comparison {
        a: names.0.to_string(),
        b: names.1.to_string(),
        a_ra_kb: a_kb,
        b_ra_kb: b_kb,
        total,
        files,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_match_by_their_last_two_components() {
        assert_eq!(match_key("/var/lib/mysql/shop/orders.ibd"), "shop/orders.ibd");
        assert_eq!(match_key("/tmp/replay/shop/orders.ibd"), "shop/orders.ibd");
        assert_eq!(match_key("ibdata1"), "ibdata1");
    }
}
