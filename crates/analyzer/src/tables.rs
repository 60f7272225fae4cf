//! `analyze files` and `analyze threads`: who reads what, how much, how fast, through which API.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

use crate::dataset::{Dataset, APIS};
use crate::readahead::RaReport;
use crate::AnalyzeError;

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
    /// Mean latency of the reads whose completion was recorded, microseconds.
    pub mean_latency_us: f64,
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
    /// Mean latency, microseconds.
    pub mean_latency_us: f64,
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

/// Reads, bytes, latency and API counts per value of `key` (a u32 column).
struct Agg {
    key: Vec<u32>,
    reads: Vec<u64>,
    bytes: Vec<u64>,
    lat_sum: Vec<u64>,
    lat_n: Vec<u64>,
    lat_max: Vec<u64>,
    files: Vec<u64>,
    apis: BTreeMap<u32, ApiCounts>,
}

/// Aggregates the reads per `keys` (one key per read row).
fn aggregate(ds: &Dataset, keys: Vec<u32>) -> Result<Agg, AnalyzeError> {
    let key = "key";
    let mut reads = ds.reads.select(["file", "api", "ret", "count", "latency_ns"])?;
    reads.with_column(Column::new(key.into(), keys))?;
    let df = reads.lazy().with_column(
        when(col("ret").gt_eq(lit(0i64)))
            .then(col("ret"))
            .otherwise(col("count").cast(DataType::Int64))
            .cast(DataType::UInt64)
            .alias("bytes"),
    );
    let sums = df
        .clone()
        .group_by([col(key)])
        .agg([
            len().cast(DataType::UInt64).alias("reads"),
            col("bytes").sum().alias("bytes"),
            col("latency_ns").sum().alias("lat_sum"),
            col("latency_ns").count().cast(DataType::UInt64).alias("lat_n"),
            col("latency_ns").max().alias("lat_max"),
            col("file").n_unique().cast(DataType::UInt64).alias("files"),
        ])
        .collect()?;
    let apis =
        df.group_by([col(key), col("api")]).agg([len().cast(DataType::UInt64).alias("n")]).collect()?;
    let u64s = |name: &str| -> Result<Vec<u64>, AnalyzeError> {
        Ok(sums.column(name)?.cast(&DataType::UInt64)?.u64()?.iter().map(|v| v.unwrap_or(0)).collect())
    };
    let mut api_map: BTreeMap<u32, ApiCounts> = BTreeMap::new();
    let (ak, aa, an) = (apis.column(key)?.u32()?, apis.column("api")?.u8()?, apis.column("n")?.u64()?);
    for i in 0..apis.height() {
        let api = APIS.get(aa.get(i).unwrap_or(0) as usize).copied().unwrap_or("other");
        *api_map.entry(ak.get(i).unwrap_or(0)).or_default().entry(api).or_default() += an.get(i).unwrap_or(0);
    }
    Ok(Agg {
        key: sums.column(key)?.u32()?.iter().map(|v| v.unwrap_or(0)).collect(),
        reads: u64s("reads")?,
        bytes: u64s("bytes")?,
        lat_sum: u64s("lat_sum")?,
        lat_n: u64s("lat_n")?,
        lat_max: u64s("lat_max")?,
        files: u64s("files")?,
        apis: api_map,
    })
}

fn micros(sum: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        sum as f64 / n as f64 / 1000.0
    }
}

/// `analyze files`: every file read, with the hit ratios of `ra` (the readahead pass).
pub fn files(ds: &Dataset, ra: &RaReport) -> Result<FilesReport, AnalyzeError> {
    let keys = ds.reads.column("file")?.u32()?.into_no_null_iter().collect();
    let a = aggregate(ds, keys)?;
    let hit: BTreeMap<&str, (f64, u64)> =
        ra.files.iter().map(|r| (r.file.as_str(), (r.hit_ratio, r.pages_requested))).collect();
    let direct: std::collections::BTreeSet<String> = ds.direct_files()?.into_iter().collect();
    let mut rows: Vec<FileRow> = (0..a.key.len())
        .map(|i| {
            let f = &ds.files[a.key[i] as usize];
            let is_direct = direct.contains(&f.path);
            FileRow {
                file: f.path.clone(),
                table: f.table.clone(),
                reads: a.reads[i],
                bytes: a.bytes[i],
                mean_latency_us: micros(a.lat_sum[i], a.lat_n[i]),
                max_latency_us: a.lat_max[i] as f64 / 1000.0,
                direct: is_direct,
                hit_ratio: hit
                    .get(f.path.as_str())
                    .filter(|(_, req)| *req > 0 && !is_direct)
                    .map(|(h, _)| *h),
                apis: a.apis.get(&a.key[i]).cloned().unwrap_or_default(),
            }
        })
        .collect();
    rows.sort_by(|x, y| y.reads.cmp(&x.reads).then_with(|| x.file.cmp(&y.file)));
    let mut warnings = ds.warnings.clone();
    warnings
        .extend(direct.iter().map(|p| format!("{p} is read with O_DIRECT: readahead does not apply to it")));
    Ok(FilesReport { files: rows, warnings })
}

/// `analyze threads`: every thread that read, and the same per role.
pub fn threads(ds: &Dataset) -> Result<ThreadsReport, AnalyzeError> {
    let tids: Vec<u32> = ds.reads.column("tid")?.u32()?.into_no_null_iter().collect();
    let mut role_names: Vec<String> = Vec::new();
    let mut role_ids: BTreeMap<String, u32> = BTreeMap::new();
    let mut role_of_tid: BTreeMap<u32, u32> = BTreeMap::new();
    let role_keys: Vec<u32> = tids
        .iter()
        .map(|&t| {
            *role_of_tid.entry(t).or_insert_with(|| {
                let name = ds.role_of(t);
                let next = role_ids.len() as u32;
                *role_ids.entry(name.clone()).or_insert_with(|| {
                    role_names.push(name);
                    next
                })
            })
        })
        .collect();
    let threads_per_role: BTreeMap<u32, u64> = role_of_tid.values().fold(BTreeMap::new(), |mut m, &r| {
        *m.entry(r).or_default() += 1;
        m
    });
    let row = |a: &Agg, i: usize, thread: String, comm: String, role: String, threads: u64| ThreadRow {
        thread,
        comm,
        role,
        threads,
        reads: a.reads[i],
        bytes: a.bytes[i],
        mean_latency_us: micros(a.lat_sum[i], a.lat_n[i]),
        apis: a.apis.get(&a.key[i]).cloned().unwrap_or_default(),
        files: a.files[i],
    };
    let a = aggregate(ds, tids)?;
    let mut threads: Vec<ThreadRow> = (0..a.key.len())
        .map(|i| {
            let tid = a.key[i];
            row(&a, i, format!("tid {tid}"), ds.comm_of(tid), ds.role_of(tid), 1)
        })
        .collect();
    let r = aggregate(ds, role_keys)?;
    let mut roles: Vec<ThreadRow> = (0..r.key.len())
        .map(|i| {
            let name = role_names[r.key[i] as usize].clone();
            row(
                &r,
                i,
                name.clone(),
                String::new(),
                name,
                threads_per_role.get(&r.key[i]).copied().unwrap_or(0),
            )
        })
        .collect();
    for v in [&mut threads, &mut roles] {
        v.sort_by(|x, y| y.reads.cmp(&x.reads).then_with(|| x.thread.cmp(&y.thread)));
    }
    Ok(ThreadsReport { roles, threads, warnings: ds.warnings.clone() })
}
