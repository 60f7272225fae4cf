//! `mysql-io report`: argument parsing around `crates/report`, which writes the page.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use mysql_io_sim::{versus, Mode};

use mysql_io_analyzer::statements;
use mysql_io_analyzer::views::STATEMENTS_NOTE;

use crate::analyze::{open, parse, warn};
use crate::compare::simulate;
use crate::output::{bytes, say};
use crate::simulate::{simulate_trace, How, DEFAULT_SWEEP};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  mysql-io report prod.mio                      writes prod.html beside the trace
  mysql-io report prod.mio -o /tmp/db1.html --cache-mb 2048
  mysql-io report before.mio --compare after.mio   the two side by side, and what the model
                                                   predicted for after.mio's setting

One HTML file, readable offline (no script, nothing fetched): the verdict per block device first
(the read_ahead_kb to use, the predicted change, how far to trust it, the commands that apply
it), then the sweep behind it and the readahead the kernel did per file, then the reads
themselves: offset against time for the files read most (coloured by thread role, with the
kernel's readahead windows), read latency and reads per second per thread role, and the lengths
of sequential runs. The verdict's figures are those of `mysql-io simulate` in free mode
(docs/simulate.md), the others those of `mysql-io analyze` (docs/analysis.md). With --compare,
a section first puts the trace beside another trace of the same files, as `mysql-io compare`
does.")]
pub(crate) struct ReportArgs {
    /// The trace file (.mio).
    trace: PathBuf,
    /// Where to write the page [default: the trace's path with .html].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// read_ahead_kb values to simulate, comma-separated [default: 0,16,32,64,128,256,512,1024].
    #[arg(long, value_delimiter = ',', value_name = "KB,...")]
    ra_kb: Vec<u64>,
    /// Page cache the traced files may use, MiB (default as in simulate: from the trace).
    #[arg(long, value_name = "MIB")]
    cache_mb: Option<u64>,
    /// Another trace of the same files (after a setting change, or a replay): shown beside
    /// this one, with the model's prediction for its read_ahead_kb.
    #[arg(long, value_name = "OTHER.mio")]
    compare: Option<PathBuf>,
}

pub(crate) fn run(a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let output = a.output.clone().unwrap_or_else(|| a.trace.with_extension("html"));
    if output == a.trace {
        anyhow::bail!(
            "the report would overwrite the trace {}: give another path with -o",
            a.trace.display()
        );
    }
    let file = open(&a.trace)?;
    let trace = parse(&file)?;
    // The other trace first: its setting joins the sweep, so that the model's figures at it are
    // the prediction the comparison shows.
    let other_file = a.compare.as_deref().map(open).transpose()?;
    let other = other_file.as_ref().map(parse).transpose()?;
    let other_sim = other.as_ref().map(|t| (simulate(t, &[], "the other trace"), versus::latencies(t)));
    let mut ra_kb = if a.ra_kb.is_empty() { DEFAULT_SWEEP.to_vec() } else { a.ra_kb.clone() };
    let b_setting = other_sim.as_ref().map(|(rb, _)| versus::b_setting(rb, None));
    if let Some((kb, _)) = &b_setting {
        if !ra_kb.contains(kb) {
            ra_kb.push(*kb);
        }
    }
    let how = How {
        ra_kb: &ra_kb,
        mode: Mode::Free,
        cache_mb: a.cache_mb,
        variant: None,
        file: None,
        log_decisions: false,
    };
    let (sim, warnings) = simulate_trace(&trace, &how)?;
    let header = trace.header();
    // From the chunk index: an unfinished trace (no footer) has its span too.
    let span = trace.time_range().map_or(0, |(lo, hi)| hi - lo);
    let meta = mysql_io_report::Meta {
        trace: a.trace.display().to_string(),
        host: header.host.clone(),
        kernel: header.kernel_release.clone(),
        seconds: span as f64 / 1e9,
        events: trace.event_count(),
    };
    let comparison = match (&other_sim, b_setting) {
        (Some((rb, lb)), Some(setting)) => {
            let names = (
                a.trace.display().to_string(),
                a.compare.as_deref().unwrap_or(&a.trace).display().to_string(),
            );
            Some(versus::compare((&names.0, &names.1), (&sim, &versus::latencies(&trace)), (rb, lb), setting))
        }
        _ => None,
    };
    let evidence = mysql_io_report::gather(&trace);
    let statements = statements_section(&trace)?;
    let page =
        mysql_io_report::html(&meta, &sim, &warnings, comparison.as_ref(), &evidence, statements.as_ref())?;
    std::fs::write(&output, &page)
        .with_context(|| format!("cannot write the report to {}", output.display()))?;
    say!("mysql-io: report written to {} ({})", output.display(), bytes(page.len() as u64));
    warn(&warnings);
    Ok(ExitCode::SUCCESS)
}

/// Rows of the statements table on the page.
const STATEMENT_ROWS: usize = 20;

/// The page's statements section, when the trace has statement events: `analyze statements`'
/// per-digest table, from one more pass over the trace.
fn statements_section(
    trace: &mysql_io_format::Trace<'_>,
) -> anyhow::Result<Option<mysql_io_report::Statements>> {
    if !statements::recorded(trace) {
        return Ok(None);
    }
    let all = mysql_io_analyzer::Filter::default();
    let ds = mysql_io_analyzer::load(trace, &all)?;
    let r = statements::statements(trace, &ds, &all, statements::StatementsBy::Digest)?;
    Ok(Some(mysql_io_report::Statements {
        table: r.table(STATEMENT_ROWS),
        more: r.rows.len().saturating_sub(STATEMENT_ROWS),
        summary: r.summary(),
        note: STATEMENTS_NOTE.to_string(),
    }))
}
