//! `export`: a trace as Parquet or CSV tables for Python, DuckDB and friends.
//!
//! One table per event kind (`read_enter.parquet`, `page_cache_add.parquet`, ...) with the
//! common columns `ts`, `pid`, `tid`, `cpu` and the kind's fields (`file.ino` becomes `file_ino`;
//! enum codes become their names), written chunk by chunk so memory stays bounded; `reads` (one
//! row per read operation, as the analyses see them, with the statement it was made for);
//! `statements` (one row per client command, [`crate::statements`]); the tables `files`, `threads`,
//! `processes`, `open_fds`, `status`, `status_deltas`; and the trace's header as tables of its own:
//! `trace` (one row: format, kernel, host, clock offset, time range, counts, losses), `devices`
//! (block devices and their readahead settings) and `probes` (how each event kind was captured).
//! `docs/analysis.md` lists every column with its type and unit.
//!
//! The tables go into one directory (`dir/<table>.parquet`), or, for a fleet of traces, into
//! hive partitions of a shared directory (see [`crate::fleet`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use mysql_io_format::{
    AioOpcode, ChunkColumns, EventKind, FadviseAdvice, RaDecision, RaTrigger, ReadSyscall, Trace,
    TraceSummary,
};
use polars::prelude::*;
use serde::Serialize;

use crate::dataset::{self, Dataset, Filter, APIS};
use crate::fleet::Partition;
use crate::statements;
use crate::{AnalyzeError, Progress};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Apache Parquet (zstd-compressed columns).
    Parquet,
    /// Comma-separated values with a header line.
    Csv,
}

impl ExportFormat {
    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Parquet => "parquet",
            ExportFormat::Csv => "csv",
        }
    }
}

/// One table written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Table name.
    pub name: String,
    /// Rows.
    pub rows: u64,
    /// File written.
    pub path: PathBuf,
}

enum Sink {
    Parquet(Box<polars::io::parquet::write::BatchedWriter<File>>),
    Csv(polars::io::csv::write::BatchedWriter<File>),
}

impl Sink {
    fn open(path: &Path, format: ExportFormat, schema: &Schema) -> Result<Sink, AnalyzeError> {
        let file =
            File::create(path).map_err(|e| AnalyzeError::Output { path: path.to_path_buf(), source: e })?;
        Ok(match format {
            ExportFormat::Parquet => Sink::Parquet(Box::new(
                ParquetWriter::new(file).with_compression(ParquetCompression::Zstd(None)).batched(schema)?,
            )),
            ExportFormat::Csv => Sink::Csv(CsvWriter::new(file).include_header(true).batched(schema)?),
        })
    }

    fn write(&mut self, df: &DataFrame) -> Result<(), AnalyzeError> {
        match self {
            Sink::Parquet(w) => w.write_batch(df)?,
            Sink::Csv(w) => w.write_batch(df)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<(), AnalyzeError> {
        match self {
            Sink::Parquet(w) => {
                w.finish()?;
            }
            Sink::Csv(mut w) => w.finish()?,
        }
        Ok(())
    }
}

/// Column name of a field path (`file.ino` -> `file_ino`).
fn column_name(field: &str) -> String {
    field.replace('.', "_")
}

/// The name of an enum code, for the enum types the format uses.
fn enum_name(ty: &str, code: u64) -> Option<String> {
    let c = code as u8;
    Some(match ty {
        "ReadSyscall" => ReadSyscall::from_code(c).name().into_owned(),
        "AioOpcode" => AioOpcode::from_code(c).name().into_owned(),
        "RaTrigger" => RaTrigger::from_code(c).name().into_owned(),
        "RaDecision" => RaDecision::from_code(c).name().into_owned(),
        "FadviseAdvice" => FadviseAdvice::from_code(c).name().into_owned(),
        _ => return None,
    })
}

/// One kind's rows of a decoded chunk as a frame.
fn kind_frame(c: &ChunkColumns, kind: EventKind) -> Result<DataFrame, AnalyzeError> {
    let code = kind.code();
    let idx: Vec<usize> =
        c.kind_codes().iter().enumerate().filter(|(_, &k)| k == code).map(|(i, _)| i).collect();
    let mut columns = vec![
        Column::new("ts".into(), idx.iter().map(|&i| c.ts()[i]).collect::<Vec<u64>>()),
        Column::new("pid".into(), idx.iter().map(|&i| c.pid()[i]).collect::<Vec<u32>>()),
        Column::new("tid".into(), idx.iter().map(|&i| c.tid()[i]).collect::<Vec<u32>>()),
        Column::new("cpu".into(), idx.iter().map(|&i| c.cpu()[i]).collect::<Vec<u16>>()),
    ];
    for (j, doc) in kind.columns().iter().enumerate() {
        let name: PlSmallStr = column_name(&doc.field).into();
        let v = c.column(kind, j);
        let col = match doc.ty {
            "u8" => Column::new(name, v.iter().map(|&x| x as u8).collect::<Vec<_>>()),
            "u16" => Column::new(name, v.iter().map(|&x| x as u16).collect::<Vec<_>>()),
            "u32" => Column::new(name, v.iter().map(|&x| x as u32).collect::<Vec<_>>()),
            "u64" => Column::new(name, v.to_vec()),
            "i32" => Column::new(name, v.iter().map(|&x| x as i32).collect::<Vec<_>>()),
            "i64" => Column::new(name, v.iter().map(|&x| x as i64).collect::<Vec<_>>()),
            "String" => Column::new(name, (0..v.len()).map(|r| c.text(kind, j, r)).collect::<Vec<_>>()),
            ty => match enum_name(ty, 0) {
                Some(_) => Column::new(
                    name,
                    v.iter().map(|&x| enum_name(ty, x).unwrap_or_default()).collect::<Vec<_>>(),
                ),
                None => Column::new(name, v.to_vec()),
            },
        };
        columns.push(col);
    }
    Ok(DataFrame::new_infer_height(columns)?)
}

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exported {
    /// Tables, by name.
    pub tables: Vec<Table>,
    /// What the tables lack (damaged chunks left out, a cut-short trace), one sentence each.
    pub warnings: Vec<String>,
}

/// Rows of the reads table written at once (names are joined per slice).
const READS_SLICE: usize = 1 << 20;

/// Where each table of an export goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layout<'a> {
    /// `dir/<table>.<ext>`.
    Flat(&'a Path),
    /// `root/<table>/host=<host>/trace=<trace>/part.<ext>`; `source` names the trace file in the
    /// `traces` table.
    Partitioned { root: &'a Path, partition: &'a Partition, source: &'a str },
}

impl Layout<'_> {
    /// The file `table` is written to, its directory created.
    fn file(&self, table: &str, format: ExportFormat) -> Result<PathBuf, AnalyzeError> {
        let (dir, name) = match *self {
            Layout::Flat(dir) => (dir.to_path_buf(), format!("{table}.{}", format.extension())),
            Layout::Partitioned { root, partition, .. } => {
                (partition.dir(root, table), format!("part.{}", format.extension()))
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| AnalyzeError::Output { path: dir.clone(), source: e })?;
        Ok(dir.join(name))
    }
}

/// Writes every table of `trace` into `dir` (created if needed). `progress(done, total)` is called
/// as chunks are written.
pub fn export(
    trace: &Trace<'_>,
    format: ExportFormat,
    dir: &Path,
    progress: &Progress<'_>,
) -> Result<Exported, AnalyzeError> {
    std::fs::create_dir_all(dir).map_err(|e| AnalyzeError::Output { path: dir.to_path_buf(), source: e })?;
    write_tables(trace, &TraceSummary::of(trace), format, Layout::Flat(dir), progress)
}

/// Writes every table of `trace` where `layout` puts them.
pub(crate) fn write_tables(
    trace: &Trace<'_>,
    summary: &TraceSummary,
    format: ExportFormat,
    layout: Layout<'_>,
    progress: &Progress<'_>,
) -> Result<Exported, AnalyzeError> {
    let path = |name: &str| layout.file(name, format);
    let mut sinks: BTreeMap<EventKind, (Sink, u64, PathBuf)> = BTreeMap::new();
    let mut warnings: Vec<String> =
        trace.damage().iter().map(|d| format!("the trace is incomplete: {d}")).collect();
    let mut failed: Option<AnalyzeError> = None;
    let total = trace.chunks().len();
    trace.map_in_order(
        0,
        |chunk, c| -> Result<Vec<(EventKind, DataFrame)>, AnalyzeError> {
            let mut out = Vec::new();
            for &(code, _) in &chunk.info.kind_counts {
                if let Some(kind) = EventKind::from_code(code) {
                    out.push((kind, kind_frame(c, kind)?));
                }
            }
            Ok(out)
        },
        |i, frames| {
            if failed.is_some() {
                return;
            }
            let frames = match frames {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => {
                    failed = Some(e);
                    return;
                }
                Err(e) => {
                    warnings.push(format!("{e}: its events are left out"));
                    return;
                }
            };
            for (kind, df) in frames {
                let written = (|| -> Result<(), AnalyzeError> {
                    let (sink, rows, _) = match sinks.entry(kind) {
                        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::btree_map::Entry::Vacant(e) => {
                            let p = path(kind.name())?;
                            e.insert((Sink::open(&p, format, df.schema())?, 0, p))
                        }
                    };
                    sink.write(&df)?;
                    *rows += df.height() as u64;
                    Ok(())
                })();
                if let Err(e) = written {
                    failed = Some(e);
                    return;
                }
            }
            progress(i + 1, total);
        },
    );
    if let Some(e) = failed {
        return Err(e);
    }
    let mut tables = Vec::new();
    for (kind, (sink, rows, p)) in sinks {
        sink.finish()?;
        tables.push(Table { name: kind.name().to_string(), rows, path: p });
    }

    // The analysis view, a slice at a time, and the tables.
    let ds = dataset::load(trace, &Filter::default())?;
    let owners = statements::owners(&ds)?;
    let p = path("reads")?;
    let mut sink = Sink::open(&p, format, reads_slice(&ds, &owners, 0, 0)?.schema())?;
    for offset in (0..ds.reads.height()).step_by(READS_SLICE) {
        sink.write(&reads_slice(&ds, &owners, offset, READS_SLICE)?)?;
    }
    sink.finish()?;
    tables.push(Table { name: "reads".into(), rows: ds.reads.height() as u64, path: p });
    let mut write = |name: &str, mut df: DataFrame| -> Result<(), AnalyzeError> {
        let p = path(name)?;
        let mut sink = Sink::open(&p, format, df.schema())?;
        if df.height() > 0 {
            df.rechunk_mut();
            sink.write(&df)?;
        }
        sink.finish()?;
        tables.push(Table { name: name.to_string(), rows: df.height() as u64, path: p });
        Ok(())
    };
    write("statements", statements_frame(&ds)?)?;
    write("files", files_frame(trace, &ds)?)?;
    write("threads", threads_frame(trace)?)?;
    write("processes", processes_frame(trace)?)?;
    write("open_fds", open_fds_frame(trace)?)?;
    write("status", status_frame(trace)?)?;
    // The header and what `mysql-io info` says about the whole trace.
    let mut header = trace_frame(summary)?;
    if let Layout::Partitioned { source, .. } = layout {
        // The partition's `host` column stands for it (Spark refuses a column that is in both
        // the files and the directory names; DuckDB would silently take the directory's).
        header = header.drop("host")?;
        write("traces", crate::fleet::traces_frame(trace, summary, &ds, source)?)?;
    }
    write("trace", header)?;
    write("devices", devices_frame(trace)?)?;
    write("probes", probes_frame(trace, summary)?)?;
    write("status_deltas", status_deltas_frame(summary)?)?;
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    warnings.extend(ds.warnings.iter().filter(|w| !warnings.contains(w)).cloned().collect::<Vec<_>>());
    Ok(Exported { tables, warnings })
}

/// Rows `offset..offset + len` of the reads frame with names instead of codes, paths and
/// thread names joined, and the statement each read was made for (`owners`, by row).
fn reads_slice(ds: &Dataset, owners: &[u32], offset: usize, len: usize) -> Result<DataFrame, AnalyzeError> {
    let mut df = ds.reads.slice(offset as i64, len);
    df.rechunk_mut();
    let api: Vec<&str> = df
        .column("api")?
        .u8()?
        .into_no_null_iter()
        .map(|a| APIS.get(a as usize).copied().unwrap_or("other"))
        .collect();
    let file = df.column("file")?.u32()?;
    let dev: Vec<u32> = file.into_no_null_iter().map(|f| ds.files[f as usize].dev).collect();
    let ino: Vec<u64> = file.into_no_null_iter().map(|f| ds.files[f as usize].ino).collect();
    let path: Vec<&str> = file.into_no_null_iter().map(|f| ds.files[f as usize].path.as_str()).collect();
    let table: Vec<&str> = file.into_no_null_iter().map(|f| ds.files[f as usize].table.as_str()).collect();
    let tid = df.column("tid")?.u32()?;
    let comm: Vec<String> = tid.into_no_null_iter().map(|t| ds.comm_of(t)).collect();
    let role: Vec<String> = tid.into_no_null_iter().map(|t| ds.role_of(t)).collect();
    df.with_column(Column::new("api".into(), api))?;
    df.with_column(Column::new("dev".into(), dev))?;
    df.with_column(Column::new("ino".into(), ino))?;
    df.with_column(Column::new("path".into(), path))?;
    df.with_column(Column::new("table".into(), table))?;
    df.with_column(Column::new("comm".into(), comm))?;
    df.with_column(Column::new("role".into(), role))?;
    let statement: Vec<Option<u32>> = owners
        .iter()
        .skip(offset)
        .take(df.height())
        .map(|&o| (o != statements::OUTSIDE && o != statements::BACKGROUND).then_some(o))
        .collect();
    df.with_column(Column::new("statement".into(), statement))?;
    Ok(df)
}

/// One row per statement event, in file order (the row number is the reads' `statement`), with
/// its start and the label `analyze statements` gives its group.
fn statements_frame(ds: &Dataset) -> Result<DataFrame, AnalyzeError> {
    let s = &ds.statements;
    let groups = statements::Groups::of(s);
    Ok(DataFrame::new_infer_height(vec![
        Column::new("statement".into(), (0..s.len() as u32).collect::<Vec<u32>>()),
        Column::new("ts".into(), s.iter().map(|x| x.ts).collect::<Vec<_>>()),
        Column::new("start_ts".into(), s.iter().map(|x| x.start()).collect::<Vec<_>>()),
        Column::new("latency_ns".into(), s.iter().map(|x| x.latency_ns).collect::<Vec<_>>()),
        Column::new("pid".into(), s.iter().map(|x| x.pid).collect::<Vec<_>>()),
        Column::new("tid".into(), s.iter().map(|x| x.tid).collect::<Vec<_>>()),
        Column::new(
            "command".into(),
            s.iter().map(|x| mysql_io_format::server_command_name(x.command)).collect::<Vec<_>>(),
        ),
        Column::new("command_code".into(), s.iter().map(|x| x.command).collect::<Vec<_>>()),
        Column::new("conn".into(), s.iter().map(|x| x.conn).collect::<Vec<_>>()),
        Column::new("stmt_id".into(), s.iter().map(|x| x.stmt_id).collect::<Vec<_>>()),
        Column::new("digest".into(), s.iter().map(|x| x.digest).collect::<Vec<_>>()),
        Column::new("digest_text".into(), s.iter().map(|x| x.digest_text.as_str()).collect::<Vec<_>>()),
        Column::new("sql".into(), s.iter().map(|x| x.sql.as_str()).collect::<Vec<_>>()),
        Column::new("text_len".into(), s.iter().map(|x| x.text_len).collect::<Vec<_>>()),
        Column::new(
            "label".into(),
            groups.of.iter().map(|&g| groups.labels[g as usize].as_str()).collect::<Vec<_>>(),
        ),
    ])?)
}

fn files_frame(trace: &Trace<'_>, ds: &Dataset) -> Result<DataFrame, AnalyzeError> {
    let direct: std::collections::BTreeSet<String> = ds.direct_files().into_iter().collect();
    let f = trace.files();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("dev".into(), f.iter().map(|x| x.dev).collect::<Vec<_>>()),
        Column::new("ino".into(), f.iter().map(|x| x.ino).collect::<Vec<_>>()),
        Column::new("path".into(), f.iter().map(|x| x.path.clone()).collect::<Vec<_>>()),
        Column::new("table".into(), f.iter().map(|x| crate::names::table(&x.path)).collect::<Vec<_>>()),
        Column::new("size".into(), f.iter().map(|x| x.size).collect::<Vec<_>>()),
        Column::new("fs_type".into(), f.iter().map(|x| x.fs_type.clone()).collect::<Vec<_>>()),
        Column::new("direct".into(), f.iter().map(|x| direct.contains(&x.path)).collect::<Vec<_>>()),
        Column::new("ts".into(), f.iter().map(|x| x.ts).collect::<Vec<_>>()),
    ])?)
}

fn threads_frame(trace: &Trace<'_>) -> Result<DataFrame, AnalyzeError> {
    let t = trace.threads();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("pid".into(), t.iter().map(|x| x.pid).collect::<Vec<_>>()),
        Column::new("tid".into(), t.iter().map(|x| x.tid).collect::<Vec<_>>()),
        Column::new("comm".into(), t.iter().map(|x| x.comm.clone()).collect::<Vec<_>>()),
        Column::new("server_name".into(), t.iter().map(|x| x.role.clone()).collect::<Vec<_>>()),
        Column::new(
            "role".into(),
            t.iter().map(|x| crate::names::role(&x.comm, &x.role)).collect::<Vec<_>>(),
        ),
        Column::new("ts".into(), t.iter().map(|x| x.ts).collect::<Vec<_>>()),
    ])?)
}

fn processes_frame(trace: &Trace<'_>) -> Result<DataFrame, AnalyzeError> {
    let p: Vec<&mysql_io_format::ProcessInfo> =
        trace.header().processes.iter().chain(trace.processes().iter()).collect();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("pid".into(), p.iter().map(|x| x.pid).collect::<Vec<_>>()),
        Column::new("comm".into(), p.iter().map(|x| x.comm.clone()).collect::<Vec<_>>()),
        Column::new("exe".into(), p.iter().map(|x| x.exe.clone()).collect::<Vec<_>>()),
        Column::new("cmdline".into(), p.iter().map(|x| x.cmdline.join(" ")).collect::<Vec<_>>()),
        Column::new("version".into(), p.iter().map(|x| x.version.clone()).collect::<Vec<_>>()),
        Column::new("ts".into(), p.iter().map(|x| x.ts).collect::<Vec<_>>()),
    ])?)
}

fn status_frame(trace: &Trace<'_>) -> Result<DataFrame, AnalyzeError> {
    let rows: Vec<(&mysql_io_format::StatusSnapshot, &(String, i64))> =
        trace.statuses().iter().flat_map(|s| s.counters.iter().map(move |c| (s, c))).collect();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("pid".into(), rows.iter().map(|(s, _)| s.pid).collect::<Vec<_>>()),
        Column::new("source".into(), rows.iter().map(|(s, _)| s.source.clone()).collect::<Vec<_>>()),
        Column::new("ts".into(), rows.iter().map(|(s, _)| s.ts).collect::<Vec<_>>()),
        Column::new("counter".into(), rows.iter().map(|(_, c)| c.0.clone()).collect::<Vec<_>>()),
        Column::new("value".into(), rows.iter().map(|(_, c)| c.1).collect::<Vec<_>>()),
    ])?)
}

fn open_fds_frame(trace: &Trace<'_>) -> Result<DataFrame, AnalyzeError> {
    let o = trace.open_fds();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("pid".into(), o.iter().map(|x| x.pid).collect::<Vec<_>>()),
        Column::new("fd".into(), o.iter().map(|x| x.fd).collect::<Vec<_>>()),
        Column::new("dev".into(), o.iter().map(|x| x.dev).collect::<Vec<_>>()),
        Column::new("ino".into(), o.iter().map(|x| x.ino).collect::<Vec<_>>()),
        Column::new("ofd".into(), o.iter().map(|x| x.ofd).collect::<Vec<_>>()),
        Column::new("flags".into(), o.iter().map(|x| x.flags).collect::<Vec<_>>()),
        Column::new("pos".into(), o.iter().map(|x| x.pos).collect::<Vec<_>>()),
    ])?)
}

/// Wall time of a trace-clock time, ns since the Unix epoch (clamped to `i64`).
fn unix_ns(s: &TraceSummary, ts: u64) -> i64 {
    let ns = i128::from(ts) + i128::from(s.header.clock_offset_ns);
    ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Wall times of the first and last event, ns since the Unix epoch; 0 without events.
pub(crate) fn event_span_unix_ns(s: &TraceSummary) -> (i64, i64) {
    if s.events == 0 {
        (0, 0)
    } else {
        (unix_ns(s, s.t_min), unix_ns(s, s.t_max))
    }
}

/// One row: the header's scalars and what `mysql-io info` computes over the whole trace.
fn trace_frame(s: &TraceSummary) -> Result<DataFrame, AnalyzeError> {
    let h = &s.header;
    let (start, end) = event_span_unix_ns(s);
    let str_col = |name: &str, v: &str| Column::new(name.into(), [v]);
    Ok(DataFrame::new_infer_height(vec![
        str_col("format_version", &s.format_version),
        str_col("tool", &h.tool),
        str_col("host", &h.host),
        str_col("kernel_release", &h.kernel_release),
        str_col("kernel_version", &h.kernel_version),
        str_col("arch", &h.arch),
        Column::new("page_size".into(), [h.page_size]),
        Column::new("cpus".into(), [h.cpus]),
        str_col("clock", &h.clock.name()),
        Column::new("clock_offset_ns".into(), [h.clock_offset_ns]),
        Column::new("start_ts".into(), [h.start_ts]),
        Column::new("t_min".into(), [s.t_min]),
        Column::new("t_max".into(), [s.t_max]),
        Column::new("duration_ns".into(), [s.t_max.saturating_sub(s.t_min)]),
        Column::new("start_unix_ns".into(), [start]),
        Column::new("end_unix_ns".into(), [end]),
        Column::new("events".into(), [s.events]),
        Column::new("chunks".into(), [s.chunks]),
        Column::new("lost".into(), [s.lost]),
        Column::new("complete".into(), [s.complete]),
        Column::new("file_bytes".into(), [s.file_bytes]),
        str_col("command", &h.command.join(" ")),
        str_col("damage", &s.damage.join("; ")),
        Column::new("mem_total_kb".into(), [known(h.mem_total_kb)]),
        Column::new("mem_available_kb".into(), [known(h.mem_available_kb)]),
        Column::new("page_cache_kb".into(), [known(h.page_cache_kb)]),
    ])?)
}

/// A header figure that is 0 when it was not recorded (traces written before it existed), as
/// null.
pub(crate) fn known(v: u64) -> Option<u64> {
    (v != 0).then_some(v)
}

fn devices_frame(trace: &Trace<'_>) -> Result<DataFrame, AnalyzeError> {
    let h = trace.header();
    let d = &h.devices;
    Ok(DataFrame::new_infer_height(vec![
        Column::new("dev".into(), d.iter().map(|x| x.dev).collect::<Vec<_>>()),
        Column::new("major".into(), d.iter().map(|x| mysql_io_format::dev_major(x.dev)).collect::<Vec<_>>()),
        Column::new("minor".into(), d.iter().map(|x| mysql_io_format::dev_minor(x.dev)).collect::<Vec<_>>()),
        Column::new("name".into(), d.iter().map(|x| x.name.clone()).collect::<Vec<_>>()),
        Column::new("read_ahead_kb".into(), d.iter().map(|x| x.read_ahead_kb).collect::<Vec<_>>()),
        Column::new("max_sectors_kb".into(), d.iter().map(|x| x.max_sectors_kb).collect::<Vec<_>>()),
        Column::new("rotational".into(), d.iter().map(|x| x.rotational).collect::<Vec<_>>()),
        Column::new("logical_block_size".into(), d.iter().map(|x| x.logical_block_size).collect::<Vec<_>>()),
        Column::new(
            "queue_device".into(),
            d.iter().map(|x| h.queue_device(x.dev).unwrap_or(&x.name).to_string()).collect::<Vec<_>>(),
        ),
    ])?)
}

/// One row per event kind the header lists a probe for, or the trace has events or losses of.
fn probes_frame(trace: &Trace<'_>, s: &TraceSummary) -> Result<DataFrame, AnalyzeError> {
    let mut codes: Vec<u8> = trace.header().probes.iter().map(|p| p.kind).collect();
    // Names as `info` gives them: a kind's name, `kind_N` for a code this reader does not know,
    // `unknown` for losses the recorder could not attribute (left to the trace table's total).
    for name in s.events_by_kind.keys().chain(s.lost_by_kind.keys()) {
        let code = EventKind::from_name(name)
            .map(EventKind::code)
            .or_else(|| name.strip_prefix("kind_").and_then(|c| c.parse().ok()));
        codes.extend(code);
    }
    codes.sort_unstable();
    codes.dedup();
    let name = |c: u8| EventKind::from_code(c).map_or_else(|| format!("kind_{c}"), |k| k.name().to_string());
    let probe = |c: u8| trace.header().probes.iter().find(|p| p.kind == c);
    let count = |m: &BTreeMap<String, u64>, c: u8| m.get(&name(c)).copied().unwrap_or(0);
    Ok(DataFrame::new_infer_height(vec![
        Column::new("kind".into(), codes.iter().map(|&c| name(c)).collect::<Vec<_>>()),
        Column::new("code".into(), codes.clone()),
        Column::new(
            "mode".into(),
            codes
                .iter()
                .map(|&c| probe(c).map(|p| p.mode.name().into_owned()).unwrap_or_default())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "attach".into(),
            codes
                .iter()
                .map(|&c| probe(c).map(|p| p.attach.join(" ")).unwrap_or_default())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "note".into(),
            codes.iter().map(|&c| probe(c).map(|p| p.note.clone()).unwrap_or_default()).collect::<Vec<_>>(),
        ),
        Column::new("events".into(), codes.iter().map(|&c| count(&s.events_by_kind, c)).collect::<Vec<_>>()),
        Column::new("lost".into(), codes.iter().map(|&c| count(&s.lost_by_kind, c)).collect::<Vec<_>>()),
    ])?)
}

/// Per server process and counter source, each counter's change between its first and last
/// snapshot (as `mysql-io info` and `analyze readahead` print them).
fn status_deltas_frame(s: &TraceSummary) -> Result<DataFrame, AnalyzeError> {
    let rows: Vec<(&mysql_io_format::StatusDelta, (&String, &i64))> =
        s.server_status.iter().flat_map(|d| d.deltas.iter().map(move |c| (d, c))).collect();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("pid".into(), rows.iter().map(|(d, _)| d.pid).collect::<Vec<_>>()),
        Column::new("source".into(), rows.iter().map(|(d, _)| d.source.clone()).collect::<Vec<_>>()),
        Column::new("seconds".into(), rows.iter().map(|(d, _)| d.seconds).collect::<Vec<_>>()),
        Column::new("counter".into(), rows.iter().map(|(_, c)| c.0.clone()).collect::<Vec<_>>()),
        Column::new("delta".into(), rows.iter().map(|(_, c)| *c.1).collect::<Vec<_>>()),
    ])?)
}
