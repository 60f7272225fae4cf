//! `mysql-io report`: argument parsing around `crates/report`, which writes the page.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use mysql_io_sim::Mode;

use crate::analyze::{open, parse, warn};
use crate::output::{bytes, say};
use crate::simulate::{simulate_trace, How};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  mysql-io report prod.mio                      writes prod.html beside the trace
  mysql-io report prod.mio -o /tmp/db1.html --cache-mb 2048

One HTML file, readable offline (no script, nothing fetched): the verdict per block device first
(the read_ahead_kb to use, the predicted change, how far to trust it, the commands that apply
it), then the sweep behind it and the readahead the kernel did per file, then the reads
themselves: offset against time for the files read most (coloured by thread role, with the
kernel's readahead windows), read latency and reads per second per thread role, and the lengths
of sequential runs. The verdict's figures are those of `mysql-io simulate` in free mode
(docs/simulate.md), the others those of `mysql-io analyze` (docs/analysis.md).")]
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
    let how = How {
        ra_kb: &a.ra_kb,
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
    let evidence = mysql_io_report::gather(&trace);
    let page = mysql_io_report::html(&meta, &sim, &warnings, &evidence)?;
    std::fs::write(&output, &page)
        .with_context(|| format!("cannot write the report to {}", output.display()))?;
    say!("mysql-io: report written to {} ({})", output.display(), bytes(page.len() as u64));
    warn(&warnings);
    Ok(ExitCode::SUCCESS)
}
