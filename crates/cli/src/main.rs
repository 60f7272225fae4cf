//! `mysql-io`: the command-line front end. Glue only: parse arguments, call the library crates,
//! print. Errors print as one sentence (with their causes) and exit with status 2.

#[cfg(feature = "analysis")]
mod analyze;
#[cfg(feature = "analysis")]
mod compare;
mod info;
mod output;
#[cfg(feature = "record")]
mod record;
mod replay;
#[cfg(feature = "analysis")]
mod report;
#[cfg(feature = "analysis")]
mod simulate;
mod synth;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  sudo mysql-io doctor                    what works on this machine, and the command to run
  sudo mysql-io record -d 60s -o prod.mio trace every mysqld/mariadbd for a minute
  mysql-io info prod.mio                  what a trace holds: header, events per kind, drops
  mysql-io analyze sequentiality prod.mio how sequential the reads are, per file
  mysql-io simulate prod.mio --ra-kb 32,128,512   what other read_ahead_kb values would do
  mysql-io report prod.mio                the verdict per device and its evidence, as prod.html
  mysql-io export prod.mio -o prod/       Parquet tables for Python or DuckDB
  mysql-io export *.mio --partition fleet/   many hosts' traces as hive partitions (DuckDB, Spark)
  mysql-io replay prod.mio --create /mnt/t --ra-kb 512   the reads again, on stand-in files here
  mysql-io info prod.mio --format json    the same as JSON
  mysql-io synth -o demo.mio --events 1M  a synthetic MariaDB-like trace to try the tools on";

/// How MySQL/MariaDB read their files, and what other readahead settings would do.
#[derive(Debug, Parser)]
#[command(name = "mysql-io", version, after_help = EXAMPLES, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record the file I/O of mysqld/mariadbd processes (root, or CAP_BPF and CAP_PERFMON).
    #[cfg(feature = "record")]
    Record(record::RecordArgs),
    /// Check what recording can capture on this machine, and how to run it.
    #[cfg(feature = "record")]
    Doctor(record::DoctorArgs),
    /// Analyze a trace: sequentiality, files, threads, readahead, statements.
    #[cfg(feature = "analysis")]
    #[command(subcommand)]
    Analyze(analyze::Analysis),
    /// What other read_ahead_kb settings would have done, with the model checked against the trace.
    #[cfg(feature = "analysis")]
    Simulate(simulate::SimulateArgs),
    /// One HTML page: the read_ahead_kb to use per device, and the evidence (offline, no script).
    #[cfg(feature = "analysis")]
    Report(report::ReportArgs),
    /// Export a trace as Parquet or CSV tables.
    #[cfg(feature = "analysis")]
    Export(analyze::ExportArgs),
    /// A recording beside its replay (or another recording): per file and in total, with the simulator's prediction.
    #[cfg(feature = "analysis")]
    Compare(compare::CompareArgs),
    /// Re-issue a trace's reads on this machine: per-thread timelines, the recorded APIs, lag measured.
    Replay(replay::ReplayArgs),
    /// Show what a trace holds: header, events per kind, chunks, time range, drops, compression.
    Info(info::InfoArgs),
    /// Write a synthetic trace shaped like MariaDB under an OLTP read load (no server needed).
    Synth(synth::SynthArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "record")]
        Command::Record(a) => record::run_record(&a),
        #[cfg(feature = "record")]
        Command::Doctor(a) => record::run_doctor(&a),
        #[cfg(feature = "analysis")]
        Command::Analyze(a) => analyze::run(&a),
        #[cfg(feature = "analysis")]
        Command::Simulate(a) => simulate::run(&a),
        #[cfg(feature = "analysis")]
        Command::Report(a) => report::run(&a),
        #[cfg(feature = "analysis")]
        Command::Export(a) => analyze::run_export(&a),
        #[cfg(feature = "analysis")]
        Command::Compare(a) => compare::run(&a),
        Command::Replay(a) => replay::run(&a),
        Command::Info(a) => info::run(&a),
        Command::Synth(a) => synth::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            output::say!("mysql-io: error: {}", output::error_line(&e));
            ExitCode::from(2)
        }
    }
}
