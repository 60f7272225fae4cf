//! `mysql-io analyze ...` and `mysql-io export`: argument parsing and printing around the
//! analyzer.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use mysql_io_analyzer::export::{self, ExportFormat};
use mysql_io_analyzer::fleet::{self, Partition};
use mysql_io_analyzer::readahead::{self, RaReport};
use mysql_io_analyzer::seq::{self, GroupBy, SeqReport};
use mysql_io_analyzer::statements::{self, StatementsBy, StatementsReport};
use mysql_io_analyzer::tables::{self, FilesReport, ThreadsReport};
use mysql_io_analyzer::{views, Dataset, Filter};
use mysql_io_format::{Trace, TraceFile, TraceSummary};

use crate::output::{self, pct, thousands, TableFormat};

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
    /// Which statements the reads were made for, per statement digest or per server thread
    /// (traces recorded with `record --statements`).
    #[command(after_help = "\
Examples:
  mysql-io analyze statements prod.mio
  mysql-io analyze statements prod.mio --by thread
  mysql-io analyze statements prod.mio --file '*.ibd' --format csv

A read is a statement's when it started on the thread that ran the statement, while it ran. Reads
of threads that ran statements but none at that time are `outside statements`; reads of threads
that ran none (InnoDB's I/O, purge and page-cleaner threads...) are `background`.
Definitions: docs/analysis.md.")]
    Statements {
        #[command(flatten)]
        common: Common,
        /// Group by statement digest or by server thread.
        #[arg(long, default_value = "digest", value_parser = parse_statements_by)]
        by: StatementsBy,
    },
}

fn parse_statements_by(s: &str) -> Result<StatementsBy, String> {
    StatementsBy::parse(s).ok_or_else(|| format!("`{s}` is not a grouping: use digest or thread"))
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
        Analysis::Statements { common, by } => {
            let file = open(&common.trace)?;
            let trace = parse(&file)?;
            if !statements::recorded(&trace) && !statements::probed(&trace) {
                anyhow::bail!(
                    "{} has no statement events: record with `mysql-io record --statements` to see which \
                     statements made the reads",
                    common.trace.display()
                );
            }
            let filter = common.filter();
            let ds = load(&trace, &filter)?;
            let report = statements::statements(&trace, &ds, &filter, *by)?;
            print_statements(common, &report)?;
            warn(&report.warnings);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Under a terminal table: how many rows `--top` left out, if any.
fn more(out: &mut String, all: usize, shown: usize, what: &str) {
    if all > shown {
        let _ = writeln!(out, "({} more{what}; --top N shows more)", all - shown);
    }
}

fn json<T: serde::Serialize>(shown: &T) -> anyhow::Result<()> {
    output::print(&(serde_json::to_string_pretty(shown)? + "\n"))
}

fn print_seq(c: &Common, r: &SeqReport) -> anyhow::Result<()> {
    let top = c.top();
    match c.format {
        TableFormat::Json => {
            let mut shown = r.clone();
            shown.rows.truncate(top);
            json(&shown)
        }
        TableFormat::Csv => output::print(&r.table(top).csv()),
        TableFormat::Table => {
            let mut out = r.table(top).text();
            more(&mut out, r.rows.len(), r.rows.len().min(top), "");
            let _ = writeln!(out, "\njump from the previous read's end (all reads):");
            out.push_str(&histogram(&r.total.jump_histogram));
            let _ = writeln!(out, "sequential runs by length in reads (all reads):");
            out.push_str(&histogram(&r.total.run_length_histogram));
            output::print(&out)
        }
    }
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

fn print_files(c: &Common, r: &FilesReport) -> anyhow::Result<()> {
    let top = c.top();
    match c.format {
        TableFormat::Json => {
            let mut shown = r.clone();
            shown.files.truncate(top);
            json(&shown)
        }
        TableFormat::Csv => output::print(&r.table(top).csv()),
        TableFormat::Table => {
            let mut out = r.table(top).text();
            more(&mut out, r.files.len(), r.files.len().min(top), "");
            out.push_str(views::LATENCY_NOTE);
            output::print(&out)
        }
    }
}

fn print_threads(c: &Common, r: &ThreadsReport) -> anyhow::Result<()> {
    let top = c.top();
    let (roles, threads) = r.tables(top);
    match c.format {
        TableFormat::Json => {
            let mut shown = r.clone();
            shown.threads.truncate(top);
            shown.roles.truncate(top);
            json(&shown)
        }
        TableFormat::Csv => output::print(&mysql_io_output::csv(&[&roles, &threads])),
        TableFormat::Table => {
            let mut out = roles.text();
            out.push('\n');
            out.push_str(&threads.text());
            more(&mut out, r.threads.len(), r.threads.len().min(top), " threads");
            out.push_str(views::LATENCY_NOTE);
            output::print(&out)
        }
    }
}

fn print_readahead(c: &Common, r: &RaReport) -> anyhow::Result<()> {
    let top = c.top();
    match c.format {
        TableFormat::Json => {
            let mut shown = r.clone();
            shown.files.truncate(top);
            json(&shown)
        }
        TableFormat::Csv => output::print(&r.table(top).csv()),
        TableFormat::Table => {
            let mut out = r.table(top).text();
            more(&mut out, r.files.len(), r.files.len().min(top), "");
            out.push_str(views::READAHEAD_NOTE);
            // InnoDB's own view: its read-ahead is of 16 KiB pages into the buffer pool, the
            // kernel's of 4 KiB pages into the page cache.
            for d in &r.server_status {
                let _ = writeln!(out, "{}", output::status_line(d));
            }
            output::print(&out)
        }
    }
}

/// `text` in lines of at most `width` characters, broken at spaces, each ended by a newline.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

fn print_statements(c: &Common, r: &StatementsReport) -> anyhow::Result<()> {
    let top = c.top();
    let table = match r.by {
        StatementsBy::Digest => r.table(top),
        StatementsBy::Thread => r.threads_table(top),
    };
    match c.format {
        TableFormat::Json => {
            let mut shown = r.clone();
            shown.rows.truncate(top);
            shown.threads.truncate(top);
            match r.by {
                StatementsBy::Digest => shown.threads.clear(),
                StatementsBy::Thread => shown.rows.clear(),
            }
            json(&shown)
        }
        TableFormat::Csv => output::print(&table.csv()),
        TableFormat::Table => {
            let mut out = table.text();
            let (all, what) = match r.by {
                StatementsBy::Digest => (r.rows.len(), " statements"),
                StatementsBy::Thread => (r.threads.len(), " threads"),
            };
            more(&mut out, all, all.min(top), what);
            out.push_str(&wrap(&r.summary(), 100));
            out.push_str(match r.by {
                StatementsBy::Digest => views::STATEMENTS_NOTE,
                StatementsBy::Thread => views::STATEMENT_THREADS_NOTE,
            });
            output::print(&out)
        }
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
per read operation, as the analyses see them, with the statement it was made for), `statements`
(one row per client command, with `record --statements`), `files`, `threads`, `processes`, `open_fds`,
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
