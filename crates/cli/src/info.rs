//! `mysql-io info TRACE`: what a trace holds.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use comfy_table::{presets::NOTHING, CellAlignment, Table};
use mysql_io_format::{dev_major, dev_minor, EventKind, TraceFile, TraceSummary};

use crate::output::{self, bytes, thousands, Format};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  mysql-io info prod.mio
  mysql-io info prod.mio --format json | jq .lost

Exit status: 0 for an intact trace (also one cut short by a crash, which is reported);
2 when the file is not a trace, cannot be read, or has damaged bytes.")]
pub(crate) struct InfoArgs {
    /// The trace file (.mio).
    trace: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub(crate) fn run(args: &InfoArgs) -> anyhow::Result<ExitCode> {
    let file = TraceFile::open(&args.trace)?;
    let trace = file.parse().with_context(|| format!("{} is not a readable trace", args.trace.display()))?;
    let summary = TraceSummary::of(&trace);
    match args.format {
        Format::Json => output::print(&(serde_json::to_string_pretty(&summary)? + "\n"))?,
        Format::Table => output::print(&render(&args.trace, &summary))?,
    }
    if summary.corrupt {
        eprintln!(
            "mysql-io: error: {} has damaged bytes (see \"damage\" above); what could be read is summarized",
            args.trace.display()
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn render(path: &std::path::Path, s: &TraceSummary) -> String {
    let h = &s.header;
    let mut o = String::new();
    let state = if s.complete {
        "complete"
    } else if s.corrupt {
        "DAMAGED"
    } else {
        "incomplete"
    };
    let _ = writeln!(
        o,
        "trace      {} ({}, format {}, {state})",
        path.display(),
        bytes(s.file_bytes),
        s.format_version
    );
    let start = u64::try_from(s.start_unix_ns)
        .map(|ns| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_nanos(ns)).to_string())
        .unwrap_or_else(|_| "unknown".into());
    let machine: Vec<String> = [
        (!h.kernel_release.is_empty()).then(|| format!("Linux {}", h.kernel_release)),
        (!h.arch.is_empty()).then(|| h.arch.clone()),
        (h.page_size > 0).then(|| format!("page {} B", h.page_size)),
        (h.cpus > 0).then(|| format!("{} CPUs", h.cpus)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let host = if h.host.is_empty() { "an unnamed host" } else { &h.host };
    let _ = write!(o, "recorded   {start} for {:.3} s on {host}", s.duration_s);
    let _ = if machine.is_empty() { writeln!(o) } else { writeln!(o, " ({})", machine.join(", ")) };
    // Traces written before the header had memory read it as 0: no line for them.
    if h.mem_total_kb > 0 {
        let kib = |kb: u64| bytes(kb.saturating_mul(1024));
        let mut parts = vec![kib(h.mem_total_kb)];
        if h.mem_available_kb > 0 {
            parts.push(format!("{} available", kib(h.mem_available_kb)));
        }
        parts.push(format!("{} page cache", kib(h.page_cache_kb)));
        let _ = writeln!(o, "memory     {} at the start", parts.join(", "));
    }
    if !h.tool.is_empty() {
        let _ = writeln!(o, "tool       {}", h.tool);
    }
    if !h.command.is_empty() {
        let _ = writeln!(o, "command    {}", h.command.join(" "));
    }
    let _ = writeln!(
        o,
        "events     {} in {} chunks; {:.2} bytes/event on disk, compression {:.1}x ({} -> {})",
        thousands(s.events),
        s.chunks,
        s.bytes_per_event,
        s.compression_ratio,
        bytes(s.uncompressed_bytes),
        bytes(s.chunk_bytes)
    );
    let lost = if s.lost == 0 {
        "0".to_string()
    } else {
        let per: Vec<String> = s.lost_by_kind.iter().map(|(k, n)| format!("{k} {}", thousands(*n))).collect();
        format!("{} ({})", thousands(s.lost), per.join(", "))
    };
    let _ = writeln!(o, "lost       {lost}");
    let _ = writeln!(
        o,
        "tables     {} files, {} threads, {} processes, {} fds open at start, {} status snapshots",
        s.files, s.threads, s.processes, s.open_fds, s.status_snapshots
    );
    // O_DIRECT: what readahead cannot change (InnoDB's data files under innodb_flush_method
    // O_DIRECT, MySQL 8.4's default), and what it still can (logs, temporary files, MyISAM).
    let direct_reads = s.events_by_kind.get(EventKind::DioRead.name()).copied().unwrap_or(0);
    if s.open_fds_direct > 0 || direct_reads > 0 {
        let _ = writeln!(
            o,
            "O_DIRECT   {} of the {} fds open at start, {} direct reads: readahead does not apply to those; \
             `mysql-io analyze files` names the files read through the page cache, which readahead still governs",
            s.open_fds_direct,
            s.open_fds,
            thousands(direct_reads)
        );
    }
    for p in &h.processes {
        let v = if p.version.is_empty() { String::new() } else { format!(" {}", p.version) };
        let _ = writeln!(o, "process    {} {}{v}", p.pid, p.comm);
    }
    // The devices under the trace's files (all of them when the trace names no file on one).
    let file_devs: std::collections::BTreeSet<u32> = s.file_devs.iter().copied().collect();
    let shown: Vec<_> = h.devices.iter().filter(|d| file_devs.contains(&d.dev)).collect();
    let shown = if shown.is_empty() { h.devices.iter().collect() } else { shown };
    for d in shown {
        // A partition's settings are its disk's queue's (known in traces that list `disks`).
        let of = h.queue_device(d.dev).filter(|q| *q != d.name).map(|q| format!(" (settings of {q})"));
        let _ = writeln!(
            o,
            "device     {} ({}:{}) read_ahead_kb={} max_sectors_kb={}{}{}",
            d.name,
            dev_major(d.dev),
            dev_minor(d.dev),
            d.read_ahead_kb,
            d.max_sectors_kb,
            if d.rotational { " rotational" } else { "" },
            of.unwrap_or_default()
        );
    }
    for d in &s.server_status {
        let _ = writeln!(o, "{}", crate::output::status_line(d));
    }
    if s.unknown_records > 0 {
        let _ = writeln!(o, "skipped    {} records of kinds newer than this mysql-io", s.unknown_records);
    }
    for d in &s.damage {
        let _ = writeln!(o, "damage     {d}");
    }

    let mut t = Table::new();
    t.load_style(NOTHING).set_header(vec!["kind", "events", "probe"]);
    for (name, n) in &s.events_by_kind {
        let probe = EventKind::from_name(name)
            .and_then(|k| h.probe(k))
            .map(|p| {
                // The first attach point without its type prefix, and how many more there are:
                // the table stays within 100 columns.
                let first =
                    p.attach.first().map(|a| a.split_once(':').map_or(a.as_str(), |(_, r)| r)).unwrap_or("");
                match p.attach.len() {
                    0 => p.mode.to_string(),
                    1 => format!("{} {first}", p.mode),
                    n => format!("{} {first} +{}", p.mode, n - 1),
                }
            })
            .unwrap_or_default();
        t.add_row(vec![name.clone(), thousands(*n), probe]);
    }
    if let Some(col) = t.column_mut(1) {
        col.set_cell_alignment(CellAlignment::Right);
    }
    let _ = writeln!(o, "\n{t}");
    o
}
