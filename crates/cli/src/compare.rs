//! `mysql-io compare A.mio B.mio`: a recording beside its replay (or any two recordings of the
//! same files), per file and in total, with the simulator's prediction for B's setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use mysql_io_format::Trace;
use mysql_io_sim::{Figures, Mode, Options, SimReport};
use serde::Serialize;

use crate::analyze::{open, parse, progress, table};
use crate::output::{self, thousands};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mysql-io compare prod.mio replay-512.mio   the recording, its replay at 512 KiB, and what
                                             simulate predicted for 512 KiB
  mysql-io compare a.mio b.mio --json

Files are matched by the last two components of their paths (schema/table.ibd), so a replay
under --create DIR or --map matches its recording.")]
pub(crate) struct CompareArgs {
    /// The reference trace (usually the production recording).
    a: PathBuf,
    /// The other trace (usually `replay --record` of A).
    b: PathBuf,
    /// Setting for the prediction (KiB; default: B's recorded read_ahead_kb).
    #[arg(long, value_name = "KB")]
    ra_kb: Option<u64>,
    /// Files to show in the per-file table (most pages read first).
    #[arg(long, default_value_t = 15)]
    top: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One trace's figures for one file (or the total).
#[derive(Debug, Clone, Default, Serialize)]
struct Side {
    reads: u64,
    pages_read: u64,
    read_ios: u64,
    hit_ratio: f64,
    used: u64,
    wasted: u64,
    latency_p50_us: Option<f64>,
    latency_p99_us: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Row {
    file: String,
    a: Option<Side>,
    b: Option<Side>,
    /// The simulator on A's reads at B's setting.
    predicted_b: Option<Side>,
}

#[derive(Debug, Serialize)]
struct Comparison {
    a: String,
    b: String,
    a_ra_kb: u64,
    b_ra_kb: u64,
    total: Row,
    files: Vec<Row>,
    warnings: Vec<String>,
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

/// Buffered read latencies (ns, sorted) per path, and over all files ("total").
fn latencies(trace: &Trace<'_>) -> BTreeMap<String, Vec<u64>> {
    let (reads, fin, _) = mysql_io_reads::collect(trace);
    let paths: BTreeMap<(u32, u64), &str> =
        trace.files().iter().map(|f| ((f.dev, f.ino), f.path.as_str())).collect();
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
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

/// What matches a file across traces: its last two path components.
fn match_key(path: &str) -> String {
    let parts: Vec<&str> = Path::new(path).iter().filter_map(|c| c.to_str()).collect();
    parts[parts.len().saturating_sub(2)..].join("/")
}

fn simulate(trace: &Trace<'_>, ra_kb: &[u64], what: &str) -> SimReport {
    let bar = progress(&format!("reading {what}"));
    let input = mysql_io_sim::extract_with(trace, &|done, all| bar.update(done, all));
    bar.finish_and_clear();
    let select = |_: &str| true;
    let opts = Options {
        ra_kb,
        mode: Mode::Free,
        cache_mb: None,
        variant: None,
        select: &select,
        log_decisions: false,
    };
    mysql_io_sim::simulate(&input, &opts)
}

pub(crate) fn run(a: &CompareArgs) -> anyhow::Result<ExitCode> {
    let (fa, fb) = (open(&a.a)?, open(&a.b)?);
    let (ta, tb) = (parse(&fa)?, parse(&fb)?);
    let rb = simulate(&tb, &[], "B");
    let mut warnings: Vec<String> = Vec::new();
    let b_kb = match a.ra_kb {
        Some(kb) => kb,
        None if rb.recorded.ra_kb > 0 => rb.recorded.ra_kb,
        None => {
            // Files at different settings: the one most of B's pages were read at.
            let mut by: BTreeMap<u64, u64> = BTreeMap::new();
            for f in &rb.recorded.files {
                *by.entry(f.ra_kb).or_default() += f.pages_read;
            }
            let kb = by.iter().max_by_key(|(_, p)| **p).map_or(128, |(k, _)| *k);
            warnings
                .push(format!("B's files were read at different settings: predicting {kb} KiB (--ra-kb)"));
            kb
        }
    };
    let ra = simulate(&ta, &[b_kb], "A");
    let (la, lb) = (latencies(&ta), latencies(&tb));
    warnings.extend(ra.warnings.iter().map(|w| format!("A: {w}")));
    warnings.extend(rb.warnings.iter().map(|w| format!("B: {w}")));

    let predicted: BTreeMap<String, &Figures> = ra
        .settings
        .first()
        .map(|s| s.files.iter().map(|f| (match_key(&f.file), f)).collect())
        .unwrap_or_default();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for f in &ra.recorded.files {
        let row = rows.entry(match_key(&f.file)).or_insert_with(|| Row {
            file: f.file.clone(),
            a: None,
            b: None,
            predicted_b: None,
        });
        row.a = Some(side(f, la.get(&f.file)));
        row.predicted_b = predicted.get(&match_key(&f.file)).map(|p| side(p, None));
    }
    for f in &rb.recorded.files {
        let row = rows.entry(match_key(&f.file)).or_insert_with(|| Row {
            file: f.file.clone(),
            a: None,
            b: None,
            predicted_b: None,
        });
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
        predicted_b: ra.settings.first().map(|s| side(&s.total, None)),
    };
    let c = Comparison {
        a: a.a.display().to_string(),
        b: a.b.display().to_string(),
        a_ra_kb: ra.recorded.ra_kb,
        b_ra_kb: b_kb,
        total,
        files,
        warnings,
    };
    if a.json {
        output::print(&(serde_json::to_string_pretty(&c)? + "\n"))?;
    } else {
        output::print(&text(&c, a.top))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(a: u64, b: u64) -> String {
    if a == 0 {
        return String::new();
    }
    format!("{:+.1}%", 100.0 * (b as f64 - a as f64) / a as f64)
}

fn text(c: &Comparison, top: usize) -> String {
    let mut s = format!(
        "A: {} (read_ahead_kb {})\nB: {} (read_ahead_kb {}); predicted: simulate of A at {} KiB (free mode)\n\n",
        c.a,
        if c.a_ra_kb == 0 { "mixed".to_string() } else { c.a_ra_kb.to_string() },
        c.b,
        c.b_ra_kb,
        c.b_ra_kb
    );
    let (a, b, p) = (
        c.total.a.clone().unwrap_or_default(),
        c.total.b.clone().unwrap_or_default(),
        c.total.predicted_b.clone(),
    );
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |name: &str, a: u64, b: u64, p: Option<u64>| {
        rows.push(vec![
            name.to_string(),
            thousands(a),
            thousands(b),
            pct(a, b),
            p.map_or_else(String::new, thousands),
            p.map_or_else(String::new, |p| pct(p, b)),
        ]);
    };
    row("reads", a.reads, b.reads, None);
    row("pages read", a.pages_read, b.pages_read, p.as_ref().map(|p| p.pages_read));
    row("device requests", a.read_ios, b.read_ios, p.as_ref().map(|p| p.read_ios));
    row("readahead used", a.used, b.used, p.as_ref().map(|p| p.used));
    row("readahead wasted", a.wasted, b.wasted, p.as_ref().map(|p| p.wasted));
    let f = |x: f64| format!("{:.1}%", 100.0 * x);
    let blank = String::new;
    rows.push(vec![
        "hit ratio".into(),
        f(a.hit_ratio),
        f(b.hit_ratio),
        blank(),
        p.as_ref().map_or_else(blank, |p| f(p.hit_ratio)),
        blank(),
    ]);
    let us = |x: Option<f64>| x.map_or_else(|| "-".into(), |v| format!("{v:.0} us"));
    rows.push(vec![
        "latency p50".into(),
        us(a.latency_p50_us),
        us(b.latency_p50_us),
        blank(),
        blank(),
        blank(),
    ]);
    rows.push(vec![
        "latency p99".into(),
        us(a.latency_p99_us),
        us(b.latency_p99_us),
        blank(),
        blank(),
        blank(),
    ]);
    let t = table(&["total", "A", "B", "B vs A", "predicted B", "B vs predicted"], rows);
    s += &format!("{t}\n\n");
    let n =
        |s: &Option<Side>, g: fn(&Side) -> u64| s.as_ref().map_or_else(|| "-".into(), |s| thousands(g(s)));
    let h =
        |s: &Option<Side>| s.as_ref().map_or_else(|| "-".into(), |s| format!("{:.1}%", 100.0 * s.hit_ratio));
    let rows = c
        .files
        .iter()
        .take(top)
        .map(|r| {
            vec![
                output::tail(&r.file, 40),
                n(&r.a, |s| s.pages_read),
                n(&r.b, |s| s.pages_read),
                n(&r.predicted_b, |s| s.pages_read),
                n(&r.a, |s| s.read_ios),
                n(&r.b, |s| s.read_ios),
                n(&r.predicted_b, |s| s.read_ios),
                h(&r.a),
                h(&r.b),
            ]
        })
        .collect();
    let t = table(
        &[
            "file",
            "pages A",
            "pages B",
            "predicted",
            "requests A",
            "requests B",
            "predicted",
            "hit A",
            "hit B",
        ],
        rows,
    );
    s += &format!("{t}\n");
    if c.files.len() > top {
        s += &format!("({} more files: --top N, or --json)\n", c.files.len() - top);
    }
    for w in &c.warnings {
        s += &format!("warning: {w}\n");
    }
    s
}
