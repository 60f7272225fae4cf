//! `mysql-io analyze ...` and `mysql-io export`: argument parsing and printing around the
//! analyzer.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use comfy_table::{presets::NOTHING, CellAlignment, Table};
use indicatif::{ProgressBar, ProgressStyle};
use mysql_io_analyzer::export::{self, ExportFormat};
use mysql_io_analyzer::fleet::{self, Partition};
use mysql_io_analyzer::readahead::{self, RaReport};
use mysql_io_analyzer::seq::{self, GroupBy, SeqReport};
use mysql_io_analyzer::tables::{self, FilesReport, ThreadsReport};
use mysql_io_analyzer::{Dataset, Filter};
use mysql_io_format::{Trace, TraceFile, TraceSummary};

use crate::output::{self, bytes, pct, tail, thousands, TableFormat};

/// Options every analysis takes.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Common {
    /// The trace file (.mio).
    trace: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    format: TableFormat,
    /// Show only the first N rows (tables show 20 by default; JSON and CSV all).
    #[arg(long)]
    top: Option<usize>,
    /// Only files whose path (or file name) matches this glob, e.g. '*.ibd' or 'sbtest1*'.
    #[arg(long, value_name = "GLOB")]
    file: Option<String>,
    /// Only reads starting at least this long after the trace starts (e.g. 10s).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    since: Option<Duration>,
    /// Only reads starting before this long after the trace starts.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    until: Option<Duration>,
}

impl Common {
    fn filter(&self) -> Filter {
        Filter { since: self.since, until: self.until, file: self.file.clone() }
    }

    fn top(&self) -> usize {
        self.top.unwrap_or(if self.format == TableFormat::Table { 20 } else { usize::MAX })
    }
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Analysis {
    /// How sequential the reads are, per file, open file description, thread, role or table.
    #[command(after_help = "\
Examples:
  mysql-io analyze sequentiality prod.mio
  mysql-io analyze sequentiality prod.mio --by table --top 10
  mysql-io analyze sequentiality prod.mio --by role --format json

Definitions (docs/analysis.md): on each open file description, a read is sequential when it
starts where the previous one ended, near-sequential when it starts within 64 KiB after that,
reverse when it ends where the previous one started; random is the rest.")]
    Sequentiality {
        #[command(flatten)]
        common: Common,
        /// Group reads by file, ofd (open file description), thread, role or table.
        #[arg(long, default_value = "file", value_parser = parse_group)]
        by: GroupBy,
    },
    /// The files read: reads, bytes, latency, API, O_DIRECT, page-cache hit ratio.
    #[command(
        after_help = "Examples:\n  mysql-io analyze files prod.mio\n  mysql-io analyze files prod.mio --file '*.ibd' --format csv"
    )]
    Files {
        #[command(flatten)]
        common: Common,
    },
    /// Which threads and thread roles read, how much, through which API.
    #[command(
        after_help = "Examples:\n  mysql-io analyze threads prod.mio\n  mysql-io analyze threads prod.mio --since 10s --until 20s"
    )]
    Threads {
        #[command(flatten)]
        common: Common,
    },
    /// What the kernel read ahead, what of it was used or wasted, and hit ratios, per file.
    #[command(
        after_help = "Examples:\n  mysql-io analyze readahead prod.mio\n  mysql-io analyze readahead prod.mio --format json"
    )]
    Readahead {
        #[command(flatten)]
        common: Common,
    },
}

fn parse_group(s: &str) -> Result<GroupBy, String> {
    GroupBy::parse(s).ok_or_else(|| format!("`{s}` is not a grouping: use file, ofd, thread, role or table"))
}

/// Opens a trace file.
pub(crate) fn open(path: &std::path::Path) -> anyhow::Result<TraceFile> {
    TraceFile::open(path).with_context(|| format!("{} cannot be analyzed", path.display()))
}

pub(crate) fn parse<'a>(file: &'a TraceFile) -> anyhow::Result<Trace<'a>> {
    file.parse().with_context(|| format!("{} is not a readable trace", file.path().display()))
}

/// A progress bar over chunks (on stderr, hidden when it is not a terminal).
pub(crate) struct Bar(ProgressBar);

impl Bar {
    pub(crate) fn update(&self, done: usize, all: usize) {
        self.0.set_length(all as u64);
        self.0.set_position(done as u64);
    }

    pub(crate) fn finish_and_clear(&self) {
        self.0.finish_and_clear();
    }
}

pub(crate) fn progress(what: &str) -> Bar {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} {msg}: chunk {pos}/{len} {wide_bar} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    Bar(bar)
}

fn load(trace: &Trace<'_>, filter: &Filter) -> anyhow::Result<Dataset> {
    let bar = progress(&format!("decoding {} events", thousands(trace.event_count())));
    let ds = mysql_io_analyzer::load_with(trace, filter, &|done, all| bar.update(done, all));
    bar.finish_and_clear();
    Ok(ds?)
}

pub(crate) fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("mysql-io: warning: {w}");
    }
}

pub(crate) fn run(a: &Analysis) -> anyhow::Result<ExitCode> {
    match a {
        Analysis::Sequentiality { common, by } => {
            let file = open(&common.trace)?;
            let trace = parse(&file)?;
            let ds = load(&trace, &common.filter())?;
            let report = seq::sequentiality(&ds, *by)?;
            print_seq(common, &report)?;
            warn(&report.warnings);
        }
        Analysis::Files { common } => {
            let file = open(&common.trace)?;
            let trace = parse(&file)?;
            let bar = progress(&format!("decoding {} events", thousands(trace.event_count())));
            let report = tables::files_of(&trace, &common.filter(), &|done, all| bar.update(done, all));
            bar.finish_and_clear();
            let report = report?;
            print_files(common, &report)?;
            warn(&report.warnings);
        }
        Analysis::Threads { common } => {
            let file = open(&common.trace)?;
            let trace = parse(&file)?;
            let ds = load(&trace, &common.filter())?;
            let report = tables::threads(&ds)?;
            print_threads(common, &report)?;
            warn(&report.warnings);
        }
        Analysis::Readahead { common } => {
            let file = open(&common.trace)?;
            let trace = parse(&file)?;
            let bar =
                progress(&format!("following the page cache over {} events", thousands(trace.event_count())));
            let report =
                readahead::readahead_with(&trace, &common.filter(), &|done, all| bar.update(done, all));
            bar.finish_and_clear();
            let report = report?;
            print_readahead(common, &report)?;
            warn(&report.warnings);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A terminal table with right-aligned number columns.
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_style(NOTHING).set_header(header.to_vec());
    for r in rows {
        t.add_row(r);
    }
    for i in 1..header.len() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    format!("{t}\n")
}

pub(crate) fn csv_out(header: &[&str], rows: Vec<Vec<String>>) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for r in rows {
        w.write_record(r)?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

fn print_seq(c: &Common, r: &SeqReport) -> anyhow::Result<()> {
    let rows: Vec<&seq::SeqRow> = r.rows.iter().take(c.top()).collect();
    match c.format {
        TableFormat::Json => {
            let mut shown = r.clone();
            shown.rows.truncate(c.top());
            output::print(&(serde_json::to_string_pretty(&shown)? + "\n"))?;
        }
        TableFormat::Csv => {
            let mut header = vec![
                "group",
                "reads",
                "bytes",
                "pages",
                "seq_ratio",
                "near_seq_ratio",
                "reverse_ratio",
                "random_ratio",
            ];
            let jumps: Vec<String> = seq::JUMP_BUCKETS.iter().map(|b| format!("jump_{b}")).collect();
            let runs: Vec<String> = seq::RUN_BUCKETS.iter().map(|b| format!("runs_{b}")).collect();
            header.extend(jumps.iter().map(String::as_str));
            header.extend(runs.iter().map(String::as_str));
            let body = rows
                .iter()
                .chain(std::iter::once(&&r.total))
                .map(|x| {
                    let mut v = vec![
                        x.group.clone(),
                        x.reads.to_string(),
                        x.bytes.to_string(),
                        x.pages.to_string(),
                        format!("{:.6}", x.seq_ratio),
                        format!("{:.6}", x.near_seq_ratio),
                        format!("{:.6}", x.reverse_ratio),
                        format!("{:.6}", x.random_ratio),
                    ];
                    v.extend(x.jump_histogram.iter().map(|b| b.count.to_string()));
                    v.extend(x.run_length_histogram.iter().map(|b| b.count.to_string()));
                    v
                })
                .collect();
            output::print(&csv_out(&header, body)?)?;
        }
        TableFormat::Table => {
            let label = format!("{:?}", r.by).to_lowercase();
            let body = rows
                .iter()
                .chain(std::iter::once(&&r.total))
                .map(|x| {
                    vec![
                        tail(&x.group, 44),
                        thousands(x.reads),
                        bytes(x.bytes),
                        pct(x.seq_ratio),
                        pct(x.near_seq_ratio),
                        pct(x.reverse_ratio),
                        pct(x.random_ratio),
                    ]
                })
                .collect();
            let mut out = table(&[&label, "reads", "read", "seq", "near", "reverse", "random"], body);
            if r.rows.len() > rows.len() {
                let _ = writeln!(out, "({} more; --top N shows more)", r.rows.len() - rows.len());
            }
            let _ = writeln!(out, "\njump from the previous read's end (all reads):");
            out.push_str(&histogram(&r.total.jump_histogram));
            let _ = writeln!(out, "sequential runs by length in reads (all reads):");
            out.push_str(&histogram(&r.total.run_length_histogram));
            output::print(&out)?;
        }
    }
    Ok(())
}

/// A histogram's non-empty buckets, one a line, with a bar scaled to the largest.
fn histogram(buckets: &[seq::Bucket]) -> String {
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    let mut out = String::new();
    for b in buckets.iter().filter(|b| b.count > 0) {
        let bar = "#".repeat(((b.count as f64 / max as f64) * 40.0).ceil() as usize);
        let share = pct(b.count as f64 / total.max(1) as f64);
        let _ = writeln!(out, "  {:>10} {:>13} {share:>6}  {bar}", b.bucket, thousands(b.count));
    }
    out
}

fn apis(a: &tables::ApiCounts) -> String {
    let total: u64 = a.values().sum();
    let mut v: Vec<(&&str, &u64)> = a.iter().collect();
    v.sort_by(|x, y| y.1.cmp(x.1));
    v.iter()
        .take(2)
        .map(|(k, n)| format!("{k} {:.0}%", **n as f64 * 100.0 / total.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the printed latencies are, under the tables that show them.
const LATENCY_NOTE: &str =
    "mean, p50, p99: read latency in us (mean, median, 99th percentile, these two within 1.6%)\n\
         from entry to return as the probes timed it, some of their own time included\n\
         (docs/recorder.md#latency); reads whose return was not recorded are left out (- if all are)\n";

/// The latency columns of a row, in microseconds: mean, p50 and p99, `-` without a recorded
/// completion (the percentiles are then unknown and the mean is 0).
fn latency_cells(mean: f64, p50: Option<f64>, p99: Option<f64>) -> [String; 3] {
    // Page-cache hits take a few microseconds: one decimal below 10.
    let us = |v: f64| if v < 10.0 { format!("{v:.1}") } else { format!("{v:.0}") };
    let or_dash = |v: Option<f64>| v.map_or_else(|| "-".to_string(), us);
    [if p50.is_some() { us(mean) } else { "-".to_string() }, or_dash(p50), or_dash(p99)]
}

/// An optional latency as CSV writes it: 3 decimals, empty when unknown.
fn csv_us(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_default()
}

fn print_files(c: &Common, r: &FilesReport) -> anyhow::Result<()> {
    let rows: Vec<&tables::FileRow> = r.files.iter().take(c.top()).collect();
    match c.format {
        TableFormat::Json => {
            let mut shown = r.clone();
            shown.files.truncate(c.top());
            output::print(&(serde_json::to_string_pretty(&shown)? + "\n"))?;
        }
        TableFormat::Csv => {
            let header = [
                "file",
                "table",
                "reads",
                "bytes",
                "mean_latency_us",
                "p50_latency_us",
                "p99_latency_us",
                "max_latency_us",
                "direct",
                "hit_ratio",
                "apis",
            ];
            let body = rows
                .iter()
                .map(|x| {
                    vec![
                        x.file.clone(),
                        x.table.clone(),
                        x.reads.to_string(),
                        x.bytes.to_string(),
                        format!("{:.3}", x.mean_latency_us),
                        csv_us(x.p50_latency_us),
                        csv_us(x.p99_latency_us),
                        format!("{:.3}", x.max_latency_us),
                        x.direct.to_string(),
                        x.hit_ratio.map(|h| format!("{h:.6}")).unwrap_or_default(),
                        x.apis.iter().map(|(k, n)| format!("{k}={n}")).collect::<Vec<_>>().join(" "),
                    ]
                })
                .collect();
            output::print(&csv_out(&header, body)?)?;
        }
        TableFormat::Table => {
            let body = rows
                .iter()
                .map(|x| {
                    let mut row = vec![tail(&x.file, 28), thousands(x.reads), bytes(x.bytes)];
                    row.extend(latency_cells(x.mean_latency_us, x.p50_latency_us, x.p99_latency_us));
                    // O_DIRECT files have no hit ratio: the page cache is not used.
                    row.push(if x.direct {
                        "O_DIRECT".into()
                    } else {
                        x.hit_ratio.map(pct).unwrap_or_else(|| "-".into())
                    });
                    row.push(apis(&x.apis));
                    row
                })
                .collect();
            let mut out = table(&["file", "reads", "read", "mean", "p50", "p99", "hits", "api"], body);
            if r.files.len() > rows.len() {
                let _ = writeln!(out, "({} more; --top N shows more)", r.files.len() - rows.len());
            }
            out.push_str(LATENCY_NOTE);
            output::print(&out)?;
        }
    }
    Ok(())
}

fn print_threads(c: &Common, r: &ThreadsReport) -> anyhow::Result<()> {
    let top = c.top();
    match c.format {
        TableFormat::Json => {
            let mut shown = r.clone();
            shown.threads.truncate(top);
            shown.roles.truncate(top);
            output::print(&(serde_json::to_string_pretty(&shown)? + "\n"))?;
        }
        TableFormat::Csv => {
            let header = [
                "kind",
                "thread",
                "comm",
                "role",
                "threads",
                "reads",
                "bytes",
                "mean_latency_us",
                "p50_latency_us",
                "p99_latency_us",
                "files",
                "apis",
            ];
            let body = r
                .roles
                .iter()
                .take(top)
                .map(|x| ("role", x))
                .chain(r.threads.iter().take(top).map(|x| ("thread", x)))
                .map(|(k, x)| {
                    vec![
                        k.to_string(),
                        x.thread.clone(),
                        x.comm.clone(),
                        x.role.clone(),
                        x.threads.to_string(),
                        x.reads.to_string(),
                        x.bytes.to_string(),
                        format!("{:.3}", x.mean_latency_us),
                        csv_us(x.p50_latency_us),
                        csv_us(x.p99_latency_us),
                        x.files.to_string(),
                        x.apis.iter().map(|(k, n)| format!("{k}={n}")).collect::<Vec<_>>().join(" "),
                    ]
                })
                .collect();
            output::print(&csv_out(&header, body)?)?;
        }
        TableFormat::Table => {
            let roles = r
                .roles
                .iter()
                .take(top)
                .map(|x| {
                    let mut row =
                        vec![tail(&x.role, 28), x.threads.to_string(), thousands(x.reads), bytes(x.bytes)];
                    row.extend(latency_cells(x.mean_latency_us, x.p50_latency_us, x.p99_latency_us));
                    row.extend([x.files.to_string(), apis(&x.apis)]);
                    row
                })
                .collect();
            let mut out =
                table(&["role", "threads", "reads", "read", "mean", "p50", "p99", "files", "api"], roles);
            let threads = r
                .threads
                .iter()
                .take(top)
                .map(|x| {
                    // The tid alone (JSON has `tid N`): the latency columns need the room.
                    let tid = x.thread.trim_start_matches("tid ");
                    let mut row = vec![
                        format!("{tid} {}", tail(&x.comm, 16)),
                        tail(&x.role, 20),
                        thousands(x.reads),
                        bytes(x.bytes),
                    ];
                    row.extend(latency_cells(x.mean_latency_us, x.p50_latency_us, x.p99_latency_us));
                    row.extend([x.files.to_string(), apis(&x.apis)]);
                    row
                })
                .collect();
            out.push('\n');
            out.push_str(&table(
                &["thread", "role", "reads", "read", "mean", "p50", "p99", "files", "api"],
                threads,
            ));
            if r.threads.len() > top {
                let _ = writeln!(out, "({} more threads; --top N shows more)", r.threads.len() - top);
            }
            out.push_str(LATENCY_NOTE);
            output::print(&out)?;
        }
    }
    Ok(())
}

fn print_readahead(c: &Common, r: &RaReport) -> anyhow::Result<()> {
    let rows: Vec<&readahead::RaRow> = r.files.iter().take(c.top()).collect();
    match c.format {
        TableFormat::Json => {
            let mut shown = r.clone();
            shown.files.truncate(c.top());
            output::print(&(serde_json::to_string_pretty(&shown)? + "\n"))?;
        }
        TableFormat::Csv => {
            let header = [
                "file",
                "sync_triggers",
                "async_triggers",
                "windows",
                "window_pages",
                "pages_read",
                "read_ios",
                "pages_read_ahead",
                "used",
                "evicted_unused",
                "unused_at_end",
                "wasted",
                "pages_requested",
                "demand_inserts",
                "hit_ratio",
                "direct",
            ];
            let body = rows
                .iter()
                .chain(std::iter::once(&&r.total))
                .map(|x| {
                    vec![
                        x.file.clone(),
                        x.sync_triggers.to_string(),
                        x.async_triggers.to_string(),
                        x.windows.to_string(),
                        x.window_pages.to_string(),
                        x.pages_read.to_string(),
                        x.read_ios.to_string(),
                        x.pages_read_ahead.to_string(),
                        x.used.to_string(),
                        x.evicted_unused.to_string(),
                        x.unused_at_end.to_string(),
                        x.wasted.to_string(),
                        x.pages_requested.to_string(),
                        x.demand_inserts.to_string(),
                        format!("{:.6}", x.hit_ratio),
                        x.direct.to_string(),
                    ]
                })
                .collect();
            output::print(&csv_out(&header, body)?)?;
        }
        TableFormat::Table => {
            let body = rows
                .iter()
                .chain(std::iter::once(&&r.total))
                .map(|x| {
                    let ahead = x.pages_read_ahead.max(1) as f64;
                    vec![
                        tail(&x.file, 34),
                        thousands(x.windows),
                        thousands(x.pages_read_ahead),
                        format!("{} ({})", thousands(x.used), pct(x.used as f64 / ahead)),
                        format!("{} ({})", thousands(x.wasted), pct(x.wasted as f64 / ahead)),
                        if x.direct { "O_DIRECT".into() } else { pct(x.hit_ratio) },
                    ]
                })
                .collect();
            let mut out = table(&["file", "windows", "read ahead", "used", "wasted", "hits"], body);
            if r.files.len() > rows.len() {
                let _ = writeln!(out, "({} more; --top N shows more)", r.files.len() - rows.len());
            }
            let _ = writeln!(
                out,
                "pages of 4 KiB; wasted = evicted before use + never used before the trace ends"
            );
            // InnoDB's own view: its read-ahead is of 16 KiB pages into the buffer pool, the
            // kernel's of 4 KiB pages into the page cache.
            for d in &r.server_status {
                let _ = writeln!(out, "{}", output::status_line(d));
            }
            output::print(&out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_cells_show_a_decimal_below_10_us_and_a_dash_when_unknown() {
        assert_eq!(latency_cells(19.36, Some(11.39), Some(141.31)), ["19", "11", "141"]);
        assert_eq!(latency_cells(5.27, Some(3.23), Some(21.39)), ["5.3", "3.2", "21"]);
        // No completed read: the mean is 0 only because there is nothing to average.
        assert_eq!(latency_cells(0.0, None, None), ["-", "-", "-"]);
        assert_eq!((csv_us(Some(11.391)), csv_us(None)), ("11.391".to_string(), String::new()));
    }
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  mysql-io export prod.mio -o prod/                  Parquet, one file per table
  mysql-io export prod.mio --format csv -o prod-csv/
  mysql-io export db1.mio db2.mio --partition fleet/
                      hive partitions added to fleet/: fleet/reads/host=db1/trace=ID/part.parquet...

Tables: one per event kind (read_enter, page_cache_add, readahead_window, ...), `reads` (one row
per read operation, as the analyses see them), `files`, `threads`, `processes`, `open_fds`,
`status` and `status_deltas` (server counters), and the header: `trace` (one row: kernel, host,
clock offset to wall time, time range, lost events), `devices` (read_ahead_kb...), `probes` (how
each kind was captured). docs/analysis.md lists every column; docs/examples/load_trace.py loads
them with polars.

With --partition, each table goes to DIR/<table>/host=<host>/trace=<id>/part.parquet (the host
from the trace's header, `unknown` when empty; the id is the first event's UTC time and a hash of
the recording, e.g. 20251121T101502Z-3fa2b9c1), plus a `traces` table with one row per trace.
Traces already in DIR are kept; exporting one again is refused unless --force. DuckDB:
  SELECT host, count(*) FROM read_parquet('fleet/reads/**/*.parquet', hive_partitioning = true)
  GROUP BY host;
docs/fleet.md has the layout and more queries (DuckDB and Spark SQL).")]
pub(crate) struct ExportArgs {
    /// The trace file(s) (.mio); several only with --partition.
    #[arg(required = true, value_name = "TRACE")]
    traces: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportKind::Parquet)]
    format: ExportKind,
    /// Output directory (created if needed): one file per table.
    #[arg(short, long, required_unless_present = "partition", conflicts_with = "partition")]
    output: Option<PathBuf>,
    /// Fleet directory (created if needed): each trace's tables as hive partitions
    /// DIR/<table>/host=<host>/trace=<id>/, beside the traces already there.
    #[arg(long, value_name = "DIR")]
    partition: Option<PathBuf>,
    /// With --partition: replace the partitions of a trace exported before.
    #[arg(long, requires = "partition")]
    force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportKind {
    /// Apache Parquet.
    Parquet,
    /// CSV with a header line.
    Csv,
}

pub(crate) fn run_export(a: &ExportArgs) -> anyhow::Result<ExitCode> {
    let format = match a.format {
        ExportKind::Parquet => ExportFormat::Parquet,
        ExportKind::Csv => ExportFormat::Csv,
    };
    let (Some(root), None) = (&a.partition, &a.output) else {
        let [trace] = a.traces.as_slice() else {
            anyhow::bail!("-o writes one trace; export several with --partition DIR");
        };
        let output = a.output.as_ref().context("-o or --partition is needed")?;
        return export_one(trace, format, output);
    };
    fleet::prepare_root(root).context("--partition")?;
    // Every trace is checked before anything is written: a refused trace leaves DIR as it was.
    let files: Vec<TraceFile> = a.traces.iter().map(|p| open(p)).collect::<anyhow::Result<_>>()?;
    let mut planned: Vec<(TraceSummary, Partition)> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let summary = TraceSummary::of(&parse(file)?);
        let partition = Partition::of(&summary);
        if let Some(j) = planned.iter().position(|(_, p)| *p == partition) {
            anyhow::bail!(
                "{} and {} are the same recording (host={}/trace={}); give it once",
                a.traces[j].display(),
                a.traces[i].display(),
                partition.host,
                partition.trace
            );
        }
        if !a.force {
            if let Some(dir) = partition.existing(root)?.first() {
                anyhow::bail!(
                    "{} is already exported as host={}/trace={} ({}); --force replaces it",
                    a.traces[i].display(),
                    partition.host,
                    partition.trace,
                    dir.display()
                );
            }
        }
        planned.push((summary, partition));
    }
    for (file, (summary, _)) in files.iter().zip(&planned) {
        let trace = parse(file)?;
        let source = file.path().file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let bar = progress(&format!("exporting {source}"));
        let done = fleet::export_partition(&trace, summary, &source, format, root, a.force, &|d, n| {
            bar.update(d, n)
        });
        bar.finish_and_clear();
        let done = done.with_context(|| format!("cannot export {}", file.path().display()))?;
        let p = &done.partition;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: host={} trace={}{}",
            file.path().display(),
            p.host,
            p.trace,
            if done.replaced { " (replaced)" } else { "" }
        );
        list_tables(&mut out, &done.exported.tables);
        output::print(&out)?;
        warn(&done.exported.warnings);
    }
    Ok(ExitCode::SUCCESS)
}

/// `export TRACE -o DIR`.
fn export_one(
    path: &std::path::Path,
    format: ExportFormat,
    dir: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let file = open(path)?;
    let trace = parse(&file)?;
    let bar = progress("exporting");
    let exported = export::export(&trace, format, dir, &|done, all| bar.update(done, all));
    bar.finish_and_clear();
    let exported = exported?;
    let mut out = String::new();
    list_tables(&mut out, &exported.tables);
    output::print(&out)?;
    warn(&exported.warnings);
    Ok(ExitCode::SUCCESS)
}

fn list_tables(out: &mut String, tables: &[export::Table]) {
    for t in tables {
        let _ = writeln!(out, "{:18} {:>12} rows  {}", t.name, thousands(t.rows), t.path.display());
    }
}
