//! `export --partition`: the traces of many hosts in one directory of hive partitions, for DuckDB
//! and Spark. Each table of [`crate::export`] goes to `root/<table>/host=<host>/trace=<id>/part.parquet`,
//! so that reading `root/<table>/**/*.parquet` with hive partitioning gives every trace's rows
//! with `host` and `trace` columns; a `traces` table has one row per trace. A trace's partitions
//! are never overwritten unless asked, so exports of more traces add to the directory.
//! `docs/fleet.md` describes the layout and its queries.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use mysql_io_format::{EventKind, Trace, TraceSummary};
use polars::prelude::*;
use serde::Serialize;

use crate::dataset::Dataset;
use crate::export::{event_span_unix_ns, write_tables, ExportFormat, Exported, Layout};
use crate::{AnalyzeError, Progress};

/// The partition values of one trace: `host=<host>/trace=<trace>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// The header's host name made safe for a directory name; `unknown` when it is empty.
    pub host: String,
    /// The trace's id ([`trace_id`]).
    pub trace: String,
}

impl Partition {
    /// The partition of the trace `summary` describes.
    pub fn of(summary: &TraceSummary) -> Partition {
        Partition { host: partition_value(&summary.header.host), trace: trace_id(summary) }
    }

    /// The directory of `table`'s partition under `root`.
    pub fn dir(&self, root: &Path, table: &str) -> PathBuf {
        root.join(table).join(format!("host={}", self.host)).join(format!("trace={}", self.trace))
    }

    /// This trace's partitions already under `root`: one per table directory holding one.
    pub fn existing(&self, root: &Path) -> Result<Vec<PathBuf>, AnalyzeError> {
        let entries = match std::fs::read_dir(root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(AnalyzeError::Output { path: root.to_path_buf(), source: e }),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| AnalyzeError::Output { path: root.to_path_buf(), source: e })?;
            let table = entry.file_name().to_string_lossy().into_owned();
            let dir = self.dir(root, &table);
            if dir.exists() {
                found.push(dir);
            }
        }
        found.sort();
        Ok(found)
    }

    /// Removes this trace's partitions under `root`, and its host's directories left empty.
    fn remove(&self, root: &Path) -> Result<(), AnalyzeError> {
        for dir in self.existing(root)? {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| AnalyzeError::Output { path: dir.clone(), source: e })?;
            if let Some(host_dir) = dir.parent() {
                // Fails, as it should, while other traces of the host are there.
                let _ = std::fs::remove_dir(host_dir);
            }
        }
        Ok(())
    }
}

/// A value as a partition directory names it: ASCII letters, digits, `.`, `-` and `_` stay, every
/// other character becomes `_` (no `/`, `=` or `%`, which DuckDB and Spark would read as
/// structure or escapes); an empty value (a redacted or unknown host) becomes `unknown`.
pub fn partition_value(s: &str) -> String {
    if s.is_empty() {
        return "unknown".into();
    }
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect()
}

/// A trace's id: the wall time of its first event in UTC, to the second, and a CRC-32 of what
/// identifies the recording (its header: host, kernel, clock offset, start time, command line;
/// and its size, events, chunks, time range and losses), e.g. `20251121T101502Z-3fa2b9c1`. The
/// same recording gets the same id under any file name and on any machine; two recordings differ.
pub fn trace_id(s: &TraceSummary) -> String {
    let (first, _) = event_span_unix_ns(s);
    let when = UNIX_EPOCH + Duration::from_nanos(u64::try_from(first).unwrap_or(0));
    let stamp: String = humantime::format_rfc3339_seconds(when)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let h = &s.header;
    let mut crc = crc32fast::Hasher::new();
    let fields = [
        s.format_version.clone(),
        h.tool.clone(),
        h.host.clone(),
        h.kernel_release.clone(),
        h.kernel_version.clone(),
        h.arch.clone(),
        h.page_size.to_string(),
        h.cpus.to_string(),
        h.clock.name().into_owned(),
        h.clock_offset_ns.to_string(),
        h.start_ts.to_string(),
        h.command.join("\u{1f}"),
        s.file_bytes.to_string(),
        s.events.to_string(),
        s.chunks.to_string(),
        s.t_min.to_string(),
        s.t_max.to_string(),
        s.lost.to_string(),
    ];
    for f in &fields {
        crc.update(f.as_bytes());
        crc.update(&[0]);
    }
    format!("{stamp}-{:08x}", crc.finalize())
}

/// What [`export_partition`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionExport {
    /// The trace's partition values.
    pub partition: Partition,
    /// True when partitions of the trace were there before and were replaced.
    pub replaced: bool,
    /// The tables written.
    pub exported: Exported,
}

/// Writes every table of `trace` (whose summary is `summary`; `source` is its file's name) into
/// its partition under `root`, plus its row of the `traces` table. An existing partition of the
/// same trace is an error unless `force`, which replaces it; if writing fails, what was written
/// of this trace is removed.
pub fn export_partition(
    trace: &Trace<'_>,
    summary: &TraceSummary,
    source: &str,
    format: ExportFormat,
    root: &Path,
    force: bool,
    progress: &Progress<'_>,
) -> Result<PartitionExport, AnalyzeError> {
    prepare_root(root)?;
    let partition = Partition::of(summary);
    let existing = partition.existing(root)?;
    if let Some(first) = existing.first() {
        if !force {
            return Err(AnalyzeError::PartitionExists {
                host: partition.host.clone(),
                trace: partition.trace.clone(),
                path: first.clone(),
            });
        }
        partition.remove(root)?;
    }
    let layout = Layout::Partitioned { root, partition: &partition, source };
    match write_tables(trace, summary, format, layout, progress) {
        Ok(exported) => Ok(PartitionExport { partition, replaced: !existing.is_empty(), exported }),
        Err(e) => {
            let _ = partition.remove(root);
            Err(e)
        }
    }
}

/// Creates `root` if needed; refuses a path that is there and is not a directory.
pub fn prepare_root(root: &Path) -> Result<(), AnalyzeError> {
    if root.exists() && !root.is_dir() {
        return Err(AnalyzeError::NotADirectory { path: root.to_path_buf() });
    }
    std::fs::create_dir_all(root).map_err(|e| AnalyzeError::Output { path: root.to_path_buf(), source: e })
}

/// The InnoDB flush method a server's command line sets (`--innodb-flush-method=X`, with `_` or
/// `-`, optionally `--loose-`; the last one wins), if it does.
fn flush_method(cmdline: &[String]) -> Option<String> {
    cmdline
        .iter()
        .filter_map(|arg| {
            let opt = arg.strip_prefix("--")?;
            let opt = opt.strip_prefix("loose-").unwrap_or(opt);
            let (name, value) = opt.split_once('=')?;
            (name.replace('_', "-") == "innodb-flush-method").then(|| value.to_string())
        })
        .next_back()
}

/// Distinct values in first-seen order, joined by `sep`.
fn distinct_joined<'a>(values: impl Iterator<Item = &'a str>, sep: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for v in values.filter(|v| !v.is_empty()) {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.join(sep)
}

/// The `traces` table's row of one trace (its `host` and `trace` are the partition's).
pub(crate) fn traces_frame(
    trace: &Trace<'_>,
    s: &TraceSummary,
    ds: &Dataset,
    source: &str,
) -> Result<DataFrame, AnalyzeError> {
    let h = &s.header;
    let processes: Vec<&mysql_io_format::ProcessInfo> =
        h.processes.iter().chain(trace.processes().iter()).collect();
    let versions = distinct_joined(processes.iter().map(|p| p.version.as_str()), ", ");
    let methods: Vec<String> = processes.iter().filter_map(|p| flush_method(&p.cmdline)).collect();
    let flush = Some(distinct_joined(methods.iter().map(String::as_str), ", ")).filter(|m| !m.is_empty());
    let devices: Vec<String> = h.devices.iter().map(|d| format!("{}:{}", d.name, d.read_ahead_kb)).collect();
    let probes: Vec<String> = h
        .probes
        .iter()
        .map(|p| {
            let kind =
                EventKind::from_code(p.kind).map_or_else(|| format!("kind_{}", p.kind), |k| k.name().into());
            format!("{kind}:{}", p.mode.name())
        })
        .collect();
    let (start, _) = event_span_unix_ns(s);
    let start_text = match u64::try_from(start) {
        Ok(ns) if s.events > 0 => {
            humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
        }
        _ => String::new(),
    };
    let str_col = |name: &str, v: &str| Column::new(name.into(), [v]);
    Ok(DataFrame::new_infer_height(vec![
        str_col("file", source),
        str_col("recorded_host", &h.host),
        str_col("format_version", &s.format_version),
        str_col("kernel_release", &h.kernel_release),
        str_col("server_versions", &versions),
        Column::new("innodb_flush_method".into(), [flush.as_deref()]),
        Column::new("direct_files".into(), [ds.direct_files().len() as u32]),
        str_col("devices", &devices.join(" ")),
        Column::new("page_size".into(), [h.page_size]),
        Column::new("cpus".into(), [h.cpus]),
        Column::new("clock_offset_ns".into(), [h.clock_offset_ns]),
        Column::new("start_unix_ns".into(), [start]),
        str_col("start", &start_text),
        Column::new("duration_ns".into(), [s.t_max.saturating_sub(s.t_min)]),
        Column::new("events".into(), [s.events]),
        Column::new("lost".into(), [s.lost]),
        Column::new("reads".into(), [ds.reads.height() as u64]),
        Column::new("complete".into(), [s.complete]),
        str_col("probe_modes", &probes.join(" ")),
        Column::new("mem_total_kb".into(), [crate::export::known(h.mem_total_kb)]),
        Column::new("mem_available_kb".into(), [crate::export::known(h.mem_available_kb)]),
        Column::new("page_cache_kb".into(), [crate::export::known(h.page_cache_kb)]),
    ])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_keep_no_structure() {
        assert_eq!(partition_value(""), "unknown");
        assert_eq!(partition_value("db-7.eu-west.example.com"), "db-7.eu-west.example.com");
        assert_eq!(partition_value("a/b=c%2F d"), "a_b_c_2F_d");
        assert_eq!(partition_value("hôte"), "h_te");
    }

    #[test]
    fn the_flush_method_comes_from_the_last_option_that_sets_it() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            flush_method(&args(&["/usr/sbin/mariadbd", "--innodb-flush-method=fsync"])).as_deref(),
            Some("fsync")
        );
        assert_eq!(
            flush_method(&args(&[
                "mysqld",
                "--innodb_flush_method=O_DIRECT",
                "--loose-innodb-flush-method=O_DSYNC"
            ]))
            .as_deref(),
            Some("O_DSYNC")
        );
        assert_eq!(flush_method(&args(&["mysqld", "--innodb-flush-log-at-trx-commit=2"])), None);
    }

    #[test]
    fn distinct_values_keep_their_first_order() {
        assert_eq!(distinct_joined(["b", "", "a", "b"].into_iter(), ", "), "b, a");
    }
}
