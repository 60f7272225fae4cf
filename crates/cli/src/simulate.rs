//! `mysql-io simulate`: argument parsing and printing around the simulator.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use mysql_io_analyzer::Filter;
use mysql_io_format::Trace;
use mysql_io_sim::{DeviceVerdict, Mode, Options, SimReport, Variant};

use crate::analyze::{open, parse, progress, warn};
use crate::output::{self, pct, thousands, TableFormat};
use mysql_io_output::tail;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ModeArg {
    /// Replay the recorded page-cache inserts and evictions (checks the readahead model alone).
    Oracle,
    /// The model keeps its own cache (what-if answers).
    Free,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum VariantArg {
    /// The model for the recorded kernel.
    Auto,
    /// Linux 6.11 and later.
    Split,
    /// Linux 6.10 and earlier.
    Ondemand,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  mysql-io simulate prod.mio                       settings 0 to 1024 KiB, and a verdict per device
  mysql-io simulate prod.mio --ra-kb 0,32,128,512
  mysql-io simulate prod.mio --ra-kb 16,64,256 --file '*.ibd' --format json
  mysql-io simulate prod.mio --ra-kb 128 --mode oracle      check the model against the kernel

Each open file description's recorded reads go through a model of the kernel's readahead (the
variant of the recorded kernel: 6.11+ or 6.10 and earlier) and of the page cache. The first rows
are what the kernel did at the recorded setting and what the model does there: their difference
is the model's error. Then the verdict per block device (read_ahead_kb is a device setting): the
setting to use, the predicted change, how far to trust it and the commands that apply it.
Definitions: docs/simulate.md.")]
pub(crate) struct SimulateArgs {
    /// The trace file (.mio).
    trace: PathBuf,
    /// read_ahead_kb values to simulate, comma-separated [default: 0,16,32,64,128,256,512,1024].
    #[arg(long, value_delimiter = ',', value_name = "KB,...")]
    ra_kb: Vec<u64>,
    /// free: the model keeps its own cache; oracle: cache residency as recorded.
    #[arg(long, value_enum, default_value_t = ModeArg::Free)]
    mode: ModeArg,
    /// Page cache the traced files may use in free mode, MiB (default: unbounded, or the most
    /// the files held at once when the trace shows the kernel evicting their pages).
    #[arg(long, value_name = "MIB")]
    cache_mb: Option<u64>,
    /// Readahead model.
    #[arg(long, value_enum, default_value_t = VariantArg::Auto)]
    model: VariantArg,
    /// Only files whose path (or file name) matches this glob.
    #[arg(long, value_name = "GLOB")]
    file: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    format: TableFormat,
    /// Files shown in the per-file table (all in JSON and CSV).
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Also write the kernel's and the model's readahead decisions at the recorded setting, per
    /// file, to this JSON file (to see where they part).
    #[arg(long, value_name = "FILE")]
    decisions: Option<PathBuf>,
}

/// What to simulate, as the commands ask for it.
pub(crate) struct How<'a> {
    /// Settings (empty: [`DEFAULT_SWEEP`]).
    pub(crate) ra_kb: &'a [u64],
    pub(crate) mode: Mode,
    pub(crate) cache_mb: Option<u64>,
    pub(crate) variant: Option<Variant>,
    /// Glob of the files to report.
    pub(crate) file: Option<String>,
    pub(crate) log_decisions: bool,
}

/// Runs the simulator over `trace` with progress bars: the report, and every warning (the
/// trace's damage first).
pub(crate) fn simulate_trace(trace: &Trace<'_>, how: &How<'_>) -> anyhow::Result<(SimReport, Vec<String>)> {
    if let Some(bad) = how.ra_kb.iter().find(|&&k| k > 1 << 20) {
        anyhow::bail!("--ra-kb {bad} is not a readahead size (KiB, at most 1048576)");
    }
    let select = Filter { file: how.file.clone(), ..Filter::default() }.file_matcher()?;
    let bar = progress("reading the trace");
    let input = mysql_io_sim::extract_with(trace, &|done, all| bar.update(done, all));
    bar.finish_and_clear();
    let mut ra_kb = if how.ra_kb.is_empty() { DEFAULT_SWEEP.to_vec() } else { how.ra_kb.to_vec() };
    ra_kb.sort_unstable();
    ra_kb.dedup();
    let opts = Options {
        ra_kb: &ra_kb,
        mode: how.mode,
        cache_mb: how.cache_mb,
        variant: how.variant,
        select: &select,
        log_decisions: how.log_decisions,
    };
    let bar = progress(&format!("simulating {} settings", ra_kb.len() + 1));
    let report = mysql_io_sim::simulate(&input, &opts);
    bar.finish_and_clear();
    let mut warnings =
        trace.damage().iter().map(|d| format!("the trace is incomplete: {d}")).collect::<Vec<_>>();
    warnings.extend(report.warnings.iter().cloned());
    Ok((report, warnings))
}

/// The settings simulated when `--ra-kb` is not given: readahead off, then powers of two from
/// 16 KiB to 1 MiB.
pub(crate) const DEFAULT_SWEEP: [u64; 8] = [0, 16, 32, 64, 128, 256, 512, 1024];

pub(crate) fn run(a: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let file = open(&a.trace)?;
    let trace = parse(&file)?;
    let how = How {
        ra_kb: &a.ra_kb,
        mode: match a.mode {
            ModeArg::Oracle => Mode::Oracle,
            ModeArg::Free => Mode::Free,
        },
        cache_mb: a.cache_mb,
        variant: match a.model {
            VariantArg::Auto => None,
            VariantArg::Split => Some(Variant::Split),
            VariantArg::Ondemand => Some(Variant::Ondemand),
        },
        file: a.file.clone(),
        log_decisions: a.decisions.is_some(),
    };
    let (report, warnings) = simulate_trace(&trace, &how)?;
    match a.format {
        TableFormat::Json => output::print(&(serde_json::to_string_pretty(&report)? + "\n"))?,
        TableFormat::Csv => output::print(&report.rows_table().csv())?,
        TableFormat::Table => output::print(&text(&report, a.top))?,
    }
    if let Some(path) = &a.decisions {
        let json = serde_json::to_string(&report.decision_logs)?;
        std::fs::write(path, json + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    warn(&warnings);
    Ok(ExitCode::SUCCESS)
}

fn text(r: &SimReport, top: usize) -> String {
    let mut out = String::new();
    let model = match (r.variant, r.ra_order) {
        (Variant::Split, _) => "Linux 6.11+ readahead",
        (Variant::Ondemand, true) => "Linux <= 6.10 readahead",
        (Variant::Ondemand, false) => "Linux <= 6.10 readahead, without page_cache_ra_order (before 5.18)",
    };
    let cache = match (r.mode, r.capacity_pages) {
        (Mode::Oracle, _) => "the recorded page-cache inserts and evictions replayed".to_string(),
        (Mode::Free, None) => "its own page cache, unbounded".to_string(),
        (Mode::Free, Some(p)) => format!("its own page cache of {} MiB", p / 256),
    };
    let _ = writeln!(out, "model: {model}, {cache}\n");
    out.push_str(&r.totals_table().text());
    let _ = writeln!(
        out,
        "pages of 4 KiB read from disk; requests = device reads (runs split at max_sectors_kb);\n\
         waited = requested pages a read had to wait for; wasted = read ahead, never read\n"
    );
    if let Some(e) = r.model_error.last() {
        let _ = writeln!(
            out,
            "model vs kernel at the recorded setting: pages read {}, requests {}, hit ratio {:+.1} points;\n\
             readahead decisions reproduced exactly: {} of {} ({})\n",
            signed(e.pages_read),
            signed(e.read_ios),
            e.hit_ratio * 100.0,
            thousands(e.decisions.exact),
            thousands(e.decisions.recorded),
            pct(e.decisions_exact)
        );
        if !e.differences.is_empty() {
            let missed = e.decisions.recorded - e.decisions.exact;
            let _ = writeln!(
                out,
                "where the model parts from the kernel (the first {} of {} decisions not reproduced; \
                 windows as start+pages, --decisions FILE has them all):",
                e.differences.len(),
                thousands(missed)
            );
            for (file, words) in &e.differences {
                let _ = writeln!(out, "{}", wrap(&format!("- {}: {words}", tail(file, 40)), 100, "  "));
            }
            let _ = writeln!(out);
        }
    }
    // Pages read per file and setting.
    if !r.recorded.files.is_empty() {
        out.push_str(&r.pages_table(top).text());
        if r.recorded.files.len() > top {
            let _ = writeln!(out, "({} more files; --top N shows more)", r.recorded.files.len() - top);
        }
        let _ = writeln!(out);
    }
    for d in &r.devices {
        out.push_str(&verdict(d));
    }
    out
}

/// One device's verdict: its sentences, then the model's figures at every setting.
fn verdict(d: &DeviceVerdict) -> String {
    let mut out = String::new();
    let mut lines = d.text.iter();
    if let Some(first) = lines.next() {
        let _ = writeln!(out, "{}", wrap(first, 100, "  "));
    }
    for l in lines {
        let _ = writeln!(out, "  {}", wrap(l, 96, "    "));
    }
    if let Some(a) = &d.apply {
        let _ = writeln!(out, "  apply, as root (until reboot):  {}", a.now);
        if let Some(b) = &a.blockdev {
            let _ = writeln!(out, "    or, in 512-byte sectors:      {b}");
        }
        if let (Some(rule), Some(file)) = (&a.udev_rule, &a.udev_file) {
            let _ = writeln!(out, "  keep it across reboots, in {file}:\n    {rule}");
        }
    }
    if d.recommended_ra_kb.is_some() && d.sweep.len() > 1 && d.sweep.iter().any(|p| p.pages_read > 0) {
        let t = d.sweep_table().text();
        let _ = writeln!(out, "  the model on {} at each setting:", d.device);
        for l in t.lines() {
            let _ = writeln!(out, "  {l}");
        }
    }
    out.push('\n');
    out
}

fn signed(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

/// Wraps `s` at `width` columns, indenting continuation lines with `indent`.
fn wrap(s: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in s.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            out.push_str(indent);
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}
