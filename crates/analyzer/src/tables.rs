//! `analyze files` and `analyze threads`: who reads what, how much, how fast, through which API.
//!
//! Counts, bytes and mean latencies come from one polars group-by per (file, thread, API),
//! summed into files, threads and roles. Percentiles cannot be summed: they come from latency
//! histograms ([`LatencyHistogram`]) counted per file or per thread in one pass over the reads,
//! a role's being the merge of its threads'.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use mysql_io_format::Trace;

use crate::dataset::{values, Dataset, Filter, APIS};
use crate::latency::LatencyHistogram;
use crate::readahead::RaReport;
use crate::{AnalyzeError, Progress};

/// Reads per API, e.g. `{"pread64": 120, "io_uring": 30}`.
pub type ApiCounts = BTreeMap<&'static str, u64>;

/// One file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileRow {
    /// Path.
    pub file: String,
    /// Table (`schema.table`) or file name.
    pub table: String,
    /// Reads.
    pub reads: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Mean latency of the reads whose completion was recorded, microseconds (0 when none was).
    pub mean_latency_us: f64,
    /// Median latency of the reads whose completion was recorded, microseconds, within 1/64 of
    /// the exact value ([`LatencyHistogram::percentile`]); null when no completion was recorded.
    pub p50_latency_us: Option<f64>,
    /// 99th percentile of the same latencies, as `p50_latency_us`.
    pub p99_latency_us: Option<f64>,
    /// Largest latency, microseconds.
    pub max_latency_us: f64,
    /// Read with O_DIRECT (no page cache, no readahead).
    pub direct: bool,
    /// Page-cache hit ratio of its buffered reads (see `analyze readahead`); null for O_DIRECT
    /// files and files without buffered lookups.
    pub hit_ratio: Option<f64>,
    /// Reads per API.
    pub apis: ApiCounts,
}

/// One thread, or one role (several threads).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadRow {
    /// `tid N` for a thread; the role for a role row.
    pub thread: String,
    /// Kernel name (threads only).
    pub comm: String,
    /// Role.
    pub role: String,
    /// Threads in the row.
    pub threads: u64,
    /// Reads.
    pub reads: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Mean latency of the reads whose completion was recorded, microseconds (0 when none was).
    pub mean_latency_us: f64,
    /// Median latency of the same reads, microseconds, within 1/64 of the exact value
    /// ([`LatencyHistogram::percentile`]); null when no completion was recorded.
    pub p50_latency_us: Option<f64>,
    /// 99th percentile of the same latencies, as `p50_latency_us`.
    pub p99_latency_us: Option<f64>,
    /// Reads per API.
    pub apis: ApiCounts,
    /// Files read.
    pub files: u64,
}

/// The result of `analyze files`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilesReport {
    /// Files, most reads first.
    pub files: Vec<FileRow>,
    /// What limits the answer.
    pub warnings: Vec<String>,
}

/// The result of `analyze threads`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadsReport {
    /// Roles, most reads first.
    pub roles: Vec<ThreadRow>,
    /// Threads, most reads first.
    pub threads: Vec<ThreadRow>,
    /// What limits the answer.
    pub warnings: Vec<String>,
}

/// Reads, bytes and latency of the reads of one (file, thread, API) combination: the one
/// group-by both analyses are derived from (a few hundred rows, whatever the trace's length).
#[derive(Debug, Clone, Copy)]
struct Cell {
    file: u32,
    tid: u32,
    api: u8,
    reads: u64,
    bytes: u64,
    lat_sum: u64,
    lat_n: u64,
    lat_max: u64,
}

/// Rows grouped at once: bounds the group-by's working memory whatever the trace's length.
const SLICE_ROWS: usize = 1 << 21;

/// The cells of `ds`: polars group-bys over slices of the reads, merged.
fn cells(ds: &Dataset) -> Result<Vec<Cell>, AnalyzeError> {
    let mut merged: BTreeMap<(u32, u32, u8), Cell> = BTreeMap::new();
    for offset in (0..ds.reads.height()).step_by(SLICE_ROWS) {
        let slice = ds.reads.slice(offset as i64, SLICE_ROWS);
        for c in slice_cells(slice)? {
            let m = merged.entry((c.file, c.tid, c.api)).or_insert(Cell {
                reads: 0,
                bytes: 0,
                lat_sum: 0,
                lat_n: 0,
                lat_max: 0,
                ..c
            });
            m.reads += c.reads;
            m.bytes += c.bytes;
            m.lat_sum += c.lat_sum;
            m.lat_n += c.lat_n;
            m.lat_max = m.lat_max.max(c.lat_max);
        }
    }
    Ok(merged.into_values().collect())
}

fn slice_cells(reads: DataFrame) -> Result<Vec<Cell>, AnalyzeError> {
    let df = reads
        .lazy()
        .group_by([col("file"), col("tid"), col("api")])
        .agg([
            len().cast(DataType::UInt64).alias("reads"),
            when(col("ret").gt_eq(lit(0i32)))
                .then(col("ret").cast(DataType::UInt64))
                .otherwise(col("count").cast(DataType::UInt64))
                .sum()
                .alias("bytes"),
            col("latency_ns").sum().alias("lat_sum"),
            col("latency_ns").count().cast(DataType::UInt64).alias("lat_n"),
            col("latency_ns").max().fill_null(lit(0u64)).alias("lat_max"),
        ])
        .collect()?;
    let u64s = |name: &str| -> Result<Vec<u64>, AnalyzeError> {
        Ok(df.column(name)?.cast(&DataType::UInt64)?.u64()?.iter().map(|v| v.unwrap_or(0)).collect())
    };
    let (reads, bytes, lat_sum, lat_n, lat_max) =
        (u64s("reads")?, u64s("bytes")?, u64s("lat_sum")?, u64s("lat_n")?, u64s("lat_max")?);
    let (file, tid, api) = (df.column("file")?.u32()?, df.column("tid")?.u32()?, df.column("api")?.u8()?);
    Ok((0..df.height())
        .map(|i| Cell {
            file: file.get(i).unwrap_or(0),
            tid: tid.get(i).unwrap_or(0),
            api: api.get(i).unwrap_or(0),
            reads: reads[i],
            bytes: bytes[i],
            lat_sum: lat_sum[i],
            lat_n: lat_n[i],
            lat_max: lat_max[i],
        })
        .collect())
}

/// Sums of cells sharing a key.
#[derive(Debug, Default)]
struct Agg {
    reads: u64,
    bytes: u64,
    lat_sum: u64,
    lat_n: u64,
    lat_max: u64,
    apis: ApiCounts,
    files: BTreeSet<u32>,
    threads: BTreeSet<u32>,
}

impl Agg {
    fn add(&mut self, c: &Cell) {
        self.reads += c.reads;
        self.bytes += c.bytes;
        self.lat_sum += c.lat_sum;
        self.lat_n += c.lat_n;
        self.lat_max = self.lat_max.max(c.lat_max);
        *self.apis.entry(APIS.get(c.api as usize).copied().unwrap_or("other")).or_default() += c.reads;
        self.files.insert(c.file);
        self.threads.insert(c.tid);
    }
}

/// Cells summed per `key`.
fn aggregate<K: Ord>(cells: &[Cell], key: impl Fn(&Cell) -> K) -> BTreeMap<K, Agg> {
    let mut out: BTreeMap<K, Agg> = BTreeMap::new();
    for c in cells {
        out.entry(key(c)).or_default().add(c);
    }
    out
}

fn micros(sum: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        sum as f64 / n as f64 / 1000.0
    }
}

/// The median and the 99th percentile of `h`, microseconds.
fn percentiles_us(h: &LatencyHistogram) -> (Option<f64>, Option<f64>) {
    let us = |p| h.percentile(p).map(|ns| ns as f64 / 1000.0);
    (us(50), us(99))
}

/// Latency histograms of the reads whose completion was recorded, one per group: a read's group
/// is `group_of` its value in the u32 column `key` (`file` or `tid`); reads whose group is none
/// or not below `groups` are left out. Slices of the reads are counted in parallel and their
/// histograms merged.
fn latency_histograms(
    ds: &Dataset,
    key: &str,
    groups: usize,
    group_of: impl Fn(u32) -> Option<usize> + Sync,
) -> Result<Vec<LatencyHistogram>, AnalyzeError> {
    let (latency, completed) = values(ds.reads.column("latency_ns")?.u64()?)?;
    let (keys, _) = values(ds.reads.column(key)?.u32()?)?;
    let empty = || vec![LatencyHistogram::new(); groups];
    Ok((0..latency.len().div_ceil(SLICE_ROWS))
        .into_par_iter()
        .map(|slice| {
            let rows = slice * SLICE_ROWS..latency.len().min((slice + 1) * SLICE_ROWS);
            let done = completed.map(|c| c.clone().sliced(rows.start, rows.len()));
            let mut out = empty();
            let mut count = |k: u32, ns: u64| {
                if let Some(h) = group_of(k).and_then(|g| out.get_mut(g)) {
                    h.record(ns);
                }
            };
            let pairs = keys[rows.clone()].iter().zip(&latency[rows]);
            match done {
                Some(done) => {
                    pairs.zip(done.iter()).filter(|(_, d)| *d).for_each(|((&k, &ns), _)| count(k, ns))
                }
                None => pairs.for_each(|(&k, &ns)| count(k, ns)),
            }
            out
        })
        .reduce(empty, |mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                x.merge(y);
            }
            a
        }))
}

/// `analyze files`: every file read, with the hit ratios of `ra` (the readahead pass).
pub fn files(ds: &Dataset, ra: &RaReport) -> Result<FilesReport, AnalyzeError> {
    let per_file = aggregate(&cells(ds)?, |c| c.file);
    let latencies = latency_histograms(ds, "file", ds.files.len(), |f| Some(f as usize))?;
    let hit: BTreeMap<&str, (f64, u64)> =
        ra.files.iter().map(|r| (r.file.as_str(), (r.hit_ratio, r.pages_requested))).collect();
    let mut rows: Vec<FileRow> = per_file
        .into_iter()
        .map(|(id, a)| {
            let f = &ds.files[id as usize];
            let (p50, p99) = percentiles_us(&latencies[id as usize]);
            FileRow {
                file: f.path.clone(),
                table: f.table.clone(),
                reads: a.reads,
                bytes: a.bytes,
                mean_latency_us: micros(a.lat_sum, a.lat_n),
                p50_latency_us: p50,
                p99_latency_us: p99,
                max_latency_us: a.lat_max as f64 / 1000.0,
                direct: f.direct,
                hit_ratio: hit.get(f.path.as_str()).filter(|(_, req)| *req > 0 && !f.direct).map(|(h, _)| *h),
                apis: a.apis,
            }
        })
        .collect();
    rows.sort_by(|x, y| y.reads.cmp(&x.reads).then_with(|| x.file.cmp(&y.file)));
    let mut warnings = ds.warnings.clone();
    let direct: Vec<&str> = rows.iter().filter(|r| r.direct).map(|r| r.file.as_str()).collect();
    let buffered: Vec<&str> = rows.iter().filter(|r| !r.direct).map(|r| r.file.as_str()).collect();
    warnings.extend(direct_warnings(&direct, &buffered));
    Ok(FilesReport { files: rows, warnings })
}

/// What O_DIRECT means for the files shown (`direct` and `buffered`, most read first): readahead
/// does not apply to the direct ones (each named when there are few, else counted), and
/// `read_ahead_kb` still governs the files read through the page cache (on a server whose data
/// files are O_DIRECT: its logs, temporary files, MyISAM tables), which are named.
pub fn direct_warnings(direct: &[&str], buffered: &[&str]) -> Vec<String> {
    const NAMED: usize = 3;
    let mut out = Vec::new();
    if direct.is_empty() {
        return out;
    }
    if direct.len() <= NAMED {
        out.extend(
            direct.iter().map(|p| format!("{p} is read with O_DIRECT: readahead does not apply to it")),
        );
    } else {
        out.push(format!(
            "{} files are read with O_DIRECT ({} and {} more): readahead does not apply to them",
            direct.len(),
            direct[..NAMED].join(", "),
            direct.len() - NAMED
        ));
    }
    if !buffered.is_empty() {
        let shown = buffered.len().min(5);
        let more = if buffered.len() > shown {
            format!(" and {} more", buffered.len() - shown)
        } else {
            String::new()
        };
        out.push(format!(
            "read_ahead_kb still governs the {} file{} read through the page cache: {}{more}",
            buffered.len(),
            if buffered.len() == 1 { "" } else { "s" },
            buffered[..shown].join(", ")
        ));
    }
    out
}

/// `analyze files` of a trace: loads its reads and runs the readahead pass side by side (they
/// are independent), then joins them with [`files`]. `progress(done, total)` counts the chunks
/// both passes have finished (each chunk twice).
pub fn files_of(
    trace: &Trace<'_>,
    filter: &Filter,
    progress: &Progress<'_>,
) -> Result<FilesReport, AnalyzeError> {
    let done = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let total = trace.chunks().len() * 2;
    let report = |pass: usize, d: usize| {
        done[pass].store(d, Ordering::Relaxed);
        progress(done[0].load(Ordering::Relaxed) + done[1].load(Ordering::Relaxed), total);
    };
    let (ds, ra) = rayon::join(
        || crate::dataset::load_with(trace, filter, &|d, _| report(0, d)),
        || crate::readahead::readahead_with(trace, filter, &|d, _| report(1, d)),
    );
    files(&ds?, &ra?)
}

/// `analyze threads`: every thread that read, and the same per role.
pub fn threads(ds: &Dataset) -> Result<ThreadsReport, AnalyzeError> {
    let cells = cells(ds)?;
    // Each thread's latencies; a role's are the merge of its threads'. Reads find their thread's
    // histogram in a table indexed by tid (a hash lookup per read took twice as long as the
    // counting); Linux keeps tids below 2^22 (PID_MAX_LIMIT), so it is at most 16 MiB, and a
    // trace with larger ones uses the hash map.
    let tids: Vec<u32> = cells.iter().map(|c| c.tid).collect::<BTreeSet<u32>>().into_iter().collect();
    let index: FxHashMap<u32, usize> = tids.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let max_tid = tids.last().copied().unwrap_or(0) as usize;
    let per_thread = if max_tid < 1 << 22 {
        // u32::MAX: no such thread (past every histogram).
        let mut table = vec![u32::MAX; max_tid + 1];
        for (i, &t) in tids.iter().enumerate() {
            table[t as usize] = i as u32;
        }
        latency_histograms(ds, "tid", tids.len(), |t| table.get(t as usize).map(|&i| i as usize))?
    } else {
        latency_histograms(ds, "tid", tids.len(), |t| index.get(&t).copied())?
    };
    let row = |a: Agg, thread: String, comm: String, role: String| {
        let mut latency = LatencyHistogram::new();
        for t in &a.threads {
            if let Some(h) = index.get(t).and_then(|&i| per_thread.get(i)) {
                latency.merge(h);
            }
        }
        let (p50, p99) = percentiles_us(&latency);
        ThreadRow {
            thread,
            comm,
            role,
            threads: a.threads.len() as u64,
            reads: a.reads,
            bytes: a.bytes,
            mean_latency_us: micros(a.lat_sum, a.lat_n),
            p50_latency_us: p50,
            p99_latency_us: p99,
            files: a.files.len() as u64,
            apis: a.apis,
        }
    };
    let mut threads: Vec<ThreadRow> = aggregate(&cells, |c| c.tid)
        .into_iter()
        .map(|(tid, a)| row(a, format!("tid {tid}"), ds.comm_of(tid), ds.role_of(tid)))
        .collect();
    let mut roles: Vec<ThreadRow> = aggregate(&cells, |c| ds.role_of(c.tid))
        .into_iter()
        .map(|(role, a)| row(a, role.clone(), String::new(), role))
        .collect();
    for v in [&mut threads, &mut roles] {
        v.sort_by(|x, y| y.reads.cmp(&x.reads).then_with(|| x.thread.cmp(&y.thread)));
    }
    Ok(ThreadsReport { roles, threads, warnings: ds.warnings.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn o_direct_files_are_named_and_so_is_what_readahead_still_governs() {
        assert!(direct_warnings(&[], &["a"]).is_empty());
        assert_eq!(
            direct_warnings(&["d/t1.ibd", "d/t2.ibd"], &["binlog.000001"]),
            [
                "d/t1.ibd is read with O_DIRECT: readahead does not apply to it",
                "d/t2.ibd is read with O_DIRECT: readahead does not apply to it",
                "read_ahead_kb still governs the 1 file read through the page cache: binlog.000001",
            ]
        );
        let many: Vec<String> = (1..=5).map(|i| format!("t{i}.ibd")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let buffered = ["a", "b", "c", "d", "e", "f", "g"];
        assert_eq!(
            direct_warnings(&many, &buffered),
            [
                "5 files are read with O_DIRECT (t1.ibd, t2.ibd, t3.ibd and 2 more): readahead does not apply to them",
                "read_ahead_kb still governs the 7 files read through the page cache: a, b, c, d, e and 2 more",
            ]
        );
        assert_eq!(direct_warnings(&many[..1], &[]).len(), 1);
    }
}
