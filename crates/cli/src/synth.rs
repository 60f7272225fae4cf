//! `mysql-io synth`: writes a synthetic MariaDB-like trace, to try the tools without a server.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use mysql_io_format::synth::SyntheticStream;
use mysql_io_format::{Header, Metadata, Writer, WriterOptions};

use crate::output::{bytes, thousands};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  mysql-io synth -o demo.mio
  mysql-io synth -o big.mio --events 100M --seed 7
  mysql-io synth -o db2.mio --host db2 --seed 2      another host, for export --partition

The stream: 16 connection threads doing 16 KiB preads on 8 buffered 2 GiB tablespaces (55% misses
with their readahead and page-cache inserts, 30% hits), io_uring read-ahead bursts handled by
iou-wrk threads, and kswapd evictions. The same seed always gives the same trace.")]
pub(crate) struct SynthArgs {
    /// Output file.
    #[arg(short, long)]
    output: PathBuf,
    /// Number of events (suffixes K, M, G allowed).
    #[arg(long, default_value = "1M", value_parser = parse_count)]
    events: u64,
    /// Operations per second the simulated server does.
    #[arg(long, default_value_t = 20_000)]
    ops_per_sec: u64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Host name written into the trace's header.
    #[arg(long, default_value = "synthetic")]
    host: String,
}

fn parse_count(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1_000),
        Some('m' | 'M') => (&s[..s.len() - 1], 1_000_000),
        Some('g' | 'G') => (&s[..s.len() - 1], 1_000_000_000),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("`{s}` is not a count; write e.g. 1000, 500K or 100M"))
}

pub(crate) fn run(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    let file = std::fs::File::create(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let header = Header { host: args.host.clone(), ..SyntheticStream::header() };
    let mut w = Writer::new(file, &header, WriterOptions::default())?;
    for f in SyntheticStream::files() {
        w.write_metadata(&Metadata::File(f))?;
    }
    for t in SyntheticStream::threads() {
        w.write_metadata(&Metadata::Thread(t))?;
    }
    let bar = ProgressBar::new(args.events).with_style(
        ProgressStyle::with_template("{spinner} {human_pos}/{human_len} events {wide_bar} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for (i, ev) in SyntheticStream::new(args.seed, args.ops_per_sec).take(args.events as usize).enumerate() {
        w.push(&ev)?;
        if i % 65_536 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.finish_and_clear();
    let s = w.finish()?;
    eprintln!(
        "wrote {}: {} events in {} chunks, {} ({:.2} bytes/event)",
        args.output.display(),
        thousands(s.events),
        s.chunks,
        bytes(s.file_bytes),
        s.file_bytes as f64 / s.events.max(1) as f64
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_count;

    #[test]
    fn counts() {
        assert_eq!(parse_count("100"), Ok(100));
        assert_eq!(parse_count("5K"), Ok(5_000));
        assert_eq!(parse_count("100M"), Ok(100_000_000));
        assert!(parse_count("x").is_err());
        assert!(parse_count("99999999999G").is_err());
    }
}
