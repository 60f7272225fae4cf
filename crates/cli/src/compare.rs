//! `mysql-io compare A.mio B.mio`: a recording beside its replay (or any two recordings of the
//! same files), per file and in total, with the simulator's prediction for B's setting.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use mysql_io_format::Trace;
use mysql_io_sim::versus::{self, Comparison};
use mysql_io_sim::{Mode, Options, SimReport};

use crate::analyze::{open, parse, progress};
use crate::output;

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

/// Free mode over `trace` at `ra_kb` (besides the recorded setting), with a progress bar.
pub(crate) fn simulate(trace: &Trace<'_>, ra_kb: &[u64], what: &str) -> SimReport {
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
    let setting = versus::b_setting(&rb, a.ra_kb);
    let ra = simulate(&ta, &[setting.0], "A");
    let (an, bn) = (a.a.display().to_string(), a.b.display().to_string());
    let c =
        versus::compare((&an, &bn), (&ra, &versus::latencies(&ta)), (&rb, &versus::latencies(&tb)), setting);
    if a.json {
        output::print(&(serde_json::to_string_pretty(&c)? + "\n"))?;
    } else {
        output::print(&text(&c, a.top))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn text(c: &Comparison, top: usize) -> String {
    let mut s = format!(
        "A: {} (read_ahead_kb {})\nB: {} (read_ahead_kb {}); predicted: simulate of A at {} KiB (free mode)\n\n",
        c.a,
        c.a_ra_kb,
        c.b,
        c.b_ra_kb,
        c.b_ra_kb
    );
    s += &format!("{}\n\n", c.totals_table().text());
    s += &format!("{}\n", c.files_table(top).text());
    if c.files.len() > top {
        s += &format!("({} more files: --top N, or --json)\n", c.files.len() - top);
    }
    for w in &c.warnings {
        s += &format!("warning: {w}\n");
    }
    s
}
