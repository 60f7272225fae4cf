//! `analyze sequentiality`: how sequential the reads are, with the definitions of the brief.
//!
//! Reads are ordered by time on each open file description (the kernel keeps readahead state per
//! description). For each read, `prev_end` is where the previous read on the same description
//! ended (its offset plus the bytes it returned, or asked for when the result is unknown):
//! - sequential: `offset == prev_end` (the first read on a description is not);
//! - near-sequential: `prev_end <= offset <= prev_end + 64 KiB` (includes sequential);
//! - reverse: `offset + length == previous offset`;
//! - random: the rest (`1 - near - reverse`), the first reads included.
//!
//! The jump distance is `offset - prev_end`; a run is a maximal sequence of consecutive reads on
//! one description, each sequential to the one before, within one group. Ratios are computed per
//! description and summed into the chosen groups.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

use crate::dataset::Dataset;
use crate::AnalyzeError;

/// How reads are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// By file (device, inode).
    File,
    /// By open file description.
    Ofd,
    /// By thread.
    Thread,
    /// By thread role (name without numeric suffix, or the server's thread name).
    Role,
    /// By table (`schema.table`, partitions folded; other files by name).
    Table,
}

impl GroupBy {
    /// Parses `file|ofd|thread|role|table`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "file" => GroupBy::File,
            "ofd" => GroupBy::Ofd,
            "thread" => GroupBy::Thread,
            "role" => GroupBy::Role,
            "table" => GroupBy::Table,
            _ => return None,
        })
    }
}

/// Near-sequential window after the previous read's end.
pub const NEAR_BYTES: i64 = 64 << 10;

/// Jump-distance buckets (bytes from the previous read's end), in order.
pub const JUMP_BUCKETS: [&str; 12] = [
    "first",
    "<-16M",
    "-16M..-1M",
    "-1M..-64K",
    "-64K..-4K",
    "-4K..0",
    "0",
    "0..4K",
    "4K..64K",
    "64K..1M",
    "1M..16M",
    ">16M",
];

/// Run-length buckets (reads in a run), in order.
pub const RUN_BUCKETS: [&str; 8] = ["1", "2", "3-4", "5-8", "9-16", "17-32", "33-64", ">64"];

fn jump_bucket(d: Option<i64>) -> u8 {
    const K: i64 = 1 << 10;
    const M: i64 = 1 << 20;
    match d {
        None => 0,
        Some(d) if d < -16 * M => 1,
        Some(d) if d < -M => 2,
        Some(d) if d < -64 * K => 3,
        Some(d) if d < -4 * K => 4,
        Some(d) if d < 0 => 5,
        Some(0) => 6,
        Some(d) if d <= 4 * K => 7,
        Some(d) if d <= 64 * K => 8,
        Some(d) if d <= M => 9,
        Some(d) if d <= 16 * M => 10,
        Some(_) => 11,
    }
}

fn run_bucket(n: u64) -> usize {
    match n {
        0 | 1 => 0,
        2 => 1,
        3..=4 => 2,
        5..=8 => 3,
        9..=16 => 4,
        17..=32 => 5,
        33..=64 => 6,
        _ => 7,
    }
}

/// A histogram bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Bucket label.
    pub bucket: &'static str,
    /// How many (reads for jumps, runs for run lengths).
    pub count: u64,
}

/// The sequentiality of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeqRow {
    /// What the group is: a path, `ofd N (path)`, `tid N (name)`, a role, a table.
    pub group: String,
    /// Reads.
    pub reads: u64,
    /// Bytes read (returned; asked when unknown).
    pub bytes: u64,
    /// 4 KiB pages touched.
    pub pages: u64,
    /// Share of reads starting where the previous one on the description ended.
    pub seq_ratio: f64,
    /// Share starting within 64 KiB after it (includes sequential).
    pub near_seq_ratio: f64,
    /// Share ending where the previous one started.
    pub reverse_ratio: f64,
    /// The rest: `1 - near_seq_ratio - reverse_ratio`.
    pub random_ratio: f64,
    /// Jump distances, bytes from the previous read's end.
    pub jump_histogram: Vec<Bucket>,
    /// Lengths of sequential runs, in reads.
    pub run_length_histogram: Vec<Bucket>,
}

/// The result of `analyze sequentiality`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeqReport {
    /// How the rows are grouped.
    pub by: GroupBy,
    /// Groups, most reads first.
    pub rows: Vec<SeqRow>,
    /// All reads together.
    pub total: SeqRow,
    /// What limits the answer.
    pub warnings: Vec<String>,
}

/// Group id of every read for `by` (ids index `labels`).
fn group_ids(ds: &Dataset, by: GroupBy) -> Result<(Vec<u32>, Vec<String>), AnalyzeError> {
    let n = ds.reads.height();
    let mut labels: Vec<String> = Vec::new();
    let mut ids: BTreeMap<String, u32> = BTreeMap::new();
    let mut intern = |label: String| -> u32 {
        let next = ids.len() as u32;
        *ids.entry(label.clone()).or_insert_with(|| {
            labels.push(label);
            next
        })
    };
    let file = ds.reads.column("file")?.u32()?;
    let mut out = Vec::with_capacity(n);
    match by {
        GroupBy::File => {
            // File ids are already dense: use them as they are.
            labels = ds.files.iter().map(|f| f.path.clone()).collect();
            out.extend(file.into_no_null_iter());
        }
        GroupBy::Table => {
            let per_file: Vec<u32> = ds.files.iter().map(|f| intern(f.table.clone())).collect();
            out.extend(file.into_no_null_iter().map(|f| per_file[f as usize]));
        }
        GroupBy::Ofd => {
            let stream = ds.reads.column("stream")?.u32()?;
            let mut seen: BTreeMap<u32, u32> = BTreeMap::new();
            for (s, f) in stream.into_no_null_iter().zip(file.into_no_null_iter()) {
                let id = *seen
                    .entry(s)
                    .or_insert_with(|| intern(format!("ofd {s} ({})", ds.files[f as usize].path)));
                out.push(id);
            }
        }
        GroupBy::Thread | GroupBy::Role => {
            let tid = ds.reads.column("tid")?.u32()?;
            let mut seen: BTreeMap<u32, u32> = BTreeMap::new();
            for t in tid.into_no_null_iter() {
                let id = *seen.entry(t).or_insert_with(|| match by {
                    GroupBy::Thread => intern(format!("tid {t} ({})", ds.comm_of(t))),
                    _ => intern(ds.role_of(t)),
                });
                out.push(id);
            }
        }
    }
    Ok((out, labels))
}

/// Analyzes the sequentiality of the reads of `ds`, grouped `by`.
pub fn sequentiality(ds: &Dataset, by: GroupBy) -> Result<SeqReport, AnalyzeError> {
    let (groups, labels) = group_ids(ds, by)?;
    let mut df = ds.reads.select(["stream", "ts", "pos", "count", "ret"])?;
    df.with_column(Column::new("group".into(), groups))?;
    let df = df.sort(["stream", "ts"], SortMultipleOptions::default().with_maintain_order(true))?;

    // One ordered pass: flags, jump bucket and run id of every read.
    let stream = df.column("stream")?.u32()?;
    let pos = df.column("pos")?.i64()?;
    let count = df.column("count")?.u64()?;
    let ret = df.column("ret")?.i64()?;
    let group = df.column("group")?.u32()?;
    let n = df.height();
    let (mut seq, mut near, mut reverse) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut jump, mut run, mut bytes, mut pages) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut prev: Option<(u32, i64, i64, u32)> = None; // stream, offset, end, group
    let mut run_id = 0u64;
    for i in 0..n {
        let (s, p, c, g) = (
            stream.get(i).unwrap_or(0),
            pos.get(i).unwrap_or(0),
            count.get(i).unwrap_or(0),
            group.get(i).unwrap_or(0),
        );
        let len = match ret.get(i) {
            Some(r) if r >= 0 => r,
            _ => c as i64,
        };
        let (is_seq, is_near, is_rev, d) = match prev {
            Some((ps, poff, pend, _)) if ps == s => {
                let d = p.wrapping_sub(pend);
                (d == 0, (0..=NEAR_BYTES).contains(&d), p.wrapping_add(len) == poff, Some(d))
            }
            _ => (false, false, false, None),
        };
        if !is_seq || prev.is_some_and(|(_, _, _, pg)| pg != g) {
            run_id += 1;
        }
        seq.push(is_seq);
        near.push(is_near);
        reverse.push(is_rev && !is_near);
        jump.push(jump_bucket(d));
        run.push(run_id);
        bytes.push(len.max(0) as u64);
        pages.push(if c == 0 {
            0
        } else {
            ((p as u64).wrapping_add(c).div_ceil(4096)).saturating_sub(p as u64 / 4096)
        });
        prev = Some((s, p, p.wrapping_add(len), g));
    }
    let derived = DataFrame::new_infer_height(vec![
        df.column("group")?.clone(),
        Column::new("seq".into(), seq),
        Column::new("near".into(), near),
        Column::new("reverse".into(), reverse),
        Column::new("jump".into(), jump),
        Column::new("run".into(), run),
        Column::new("bytes".into(), bytes),
        Column::new("pages".into(), pages),
    ])?;

    let sums = derived
        .clone()
        .lazy()
        .group_by([col("group")])
        .agg([
            len().alias("reads"),
            col("bytes").sum(),
            col("pages").sum(),
            col("seq").cast(DataType::UInt64).sum(),
            col("near").cast(DataType::UInt64).sum(),
            col("reverse").cast(DataType::UInt64).sum(),
        ])
        .collect()?;
    let jumps =
        derived.clone().lazy().group_by([col("group"), col("jump")]).agg([len().alias("n")]).collect()?;
    let runs = derived
        .lazy()
        .group_by([col("group"), col("run")])
        .agg([len().alias("n")])
        .group_by([col("group"), col("n")])
        .agg([len().alias("runs")])
        .collect()?;

    // Assemble rows.
    let mut acc: BTreeMap<u32, Acc> = BTreeMap::new();
    let g = sums.column("group")?.u32()?;
    let reads = sums.column("reads")?.cast(&DataType::UInt64)?;
    let reads = reads.u64()?;
    let (b, pg, sq, nr, rv) = (
        sums.column("bytes")?.u64()?,
        sums.column("pages")?.u64()?,
        sums.column("seq")?.u64()?,
        sums.column("near")?.u64()?,
        sums.column("reverse")?.u64()?,
    );
    for i in 0..sums.height() {
        let a = acc.entry(g.get(i).unwrap_or(0)).or_default();
        a.reads += reads.get(i).unwrap_or(0);
        a.bytes += b.get(i).unwrap_or(0);
        a.pages += pg.get(i).unwrap_or(0);
        a.seq += sq.get(i).unwrap_or(0);
        a.near += nr.get(i).unwrap_or(0);
        a.reverse += rv.get(i).unwrap_or(0);
    }
    let (jg, jb) = (jumps.column("group")?.u32()?, jumps.column("jump")?.u8()?);
    let jn = jumps.column("n")?.cast(&DataType::UInt64)?;
    let jn = jn.u64()?;
    for i in 0..jumps.height() {
        let a = acc.entry(jg.get(i).unwrap_or(0)).or_default();
        a.jumps[jb.get(i).unwrap_or(0) as usize % JUMP_BUCKETS.len()] += jn.get(i).unwrap_or(0);
    }
    let (rg, rl) = (runs.column("group")?.u32()?, runs.column("n")?.cast(&DataType::UInt64)?);
    let rl = rl.u64()?;
    let rc = runs.column("runs")?.cast(&DataType::UInt64)?;
    let rc = rc.u64()?;
    for i in 0..runs.height() {
        let a = acc.entry(rg.get(i).unwrap_or(0)).or_default();
        a.runs[run_bucket(rl.get(i).unwrap_or(1))] += rc.get(i).unwrap_or(0);
    }
    let mut total = Acc::default();
    let mut rows: Vec<SeqRow> = acc
        .iter()
        .map(|(&gid, a)| {
            total.add(a);
            a.row(labels.get(gid as usize).cloned().unwrap_or_else(|| format!("group {gid}")))
        })
        .collect();
    rows.sort_by(|a, b| b.reads.cmp(&a.reads).then_with(|| a.group.cmp(&b.group)));
    let mut warnings = ds.warnings.clone();
    if ds.reads.height() == 0 {
        warnings.push("the trace (with these filters) holds no reads".into());
    }
    Ok(SeqReport { by, rows, total: total.row("total".into()), warnings })
}

#[derive(Debug, Default, Clone)]
struct Acc {
    reads: u64,
    bytes: u64,
    pages: u64,
    seq: u64,
    near: u64,
    reverse: u64,
    jumps: [u64; JUMP_BUCKETS.len()],
    runs: [u64; RUN_BUCKETS.len()],
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.reads += o.reads;
        self.bytes += o.bytes;
        self.pages += o.pages;
        self.seq += o.seq;
        self.near += o.near;
        self.reverse += o.reverse;
        for (a, b) in self.jumps.iter_mut().zip(&o.jumps) {
            *a += b;
        }
        for (a, b) in self.runs.iter_mut().zip(&o.runs) {
            *a += b;
        }
    }

    fn row(&self, group: String) -> SeqRow {
        let r = self.reads.max(1) as f64;
        let near = self.near as f64 / r;
        let reverse = self.reverse as f64 / r;
        SeqRow {
            group,
            reads: self.reads,
            bytes: self.bytes,
            pages: self.pages,
            seq_ratio: self.seq as f64 / r,
            near_seq_ratio: near,
            reverse_ratio: reverse,
            random_ratio: if self.reads == 0 { 0.0 } else { (1.0 - near - reverse).max(0.0) },
            jump_histogram: JUMP_BUCKETS
                .iter()
                .zip(self.jumps)
                .map(|(&bucket, count)| Bucket { bucket, count })
                .collect(),
            run_length_histogram: RUN_BUCKETS
                .iter()
                .zip(self.runs)
                .map(|(&bucket, count)| Bucket { bucket, count })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_line_up_with_the_near_window() {
        assert_eq!(JUMP_BUCKETS[jump_bucket(Some(0)) as usize], "0");
        assert_eq!(JUMP_BUCKETS[jump_bucket(Some(NEAR_BYTES)) as usize], "4K..64K");
        assert_eq!(JUMP_BUCKETS[jump_bucket(Some(NEAR_BYTES + 1)) as usize], "64K..1M");
        assert_eq!(JUMP_BUCKETS[jump_bucket(Some(-1)) as usize], "-4K..0");
        assert_eq!(JUMP_BUCKETS[jump_bucket(None) as usize], "first");
        assert_eq!(RUN_BUCKETS[run_bucket(64)], "33-64");
        assert_eq!(RUN_BUCKETS[run_bucket(65)], ">64");
    }
}
