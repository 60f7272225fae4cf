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
//! description and summed into the chosen groups. The walk and the buckets are
//! `mysql_io_reads::sequence`, which the report's run lengths use too.

use mysql_io_reads::sequence::{jump_bucket, run_bucket, stream_order, Walk};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::dataset::{values, Dataset};
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

pub use mysql_io_reads::sequence::{JUMP_BUCKETS, NEAR_BYTES, RUN_BUCKETS};

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

/// Group id of every read for `by` (ids index the returned labels).
fn group_ids(ds: &Dataset, by: GroupBy) -> Result<(Vec<u32>, Vec<String>), AnalyzeError> {
    let mut labels: Vec<String> = Vec::new();
    let mut ids: FxHashMap<String, u32> = FxHashMap::default();
    let mut intern = |label: String| -> u32 {
        let next = ids.len() as u32;
        *ids.entry(label.clone()).or_insert_with(|| {
            labels.push(label);
            next
        })
    };
    let (file, _) = values(ds.reads.column("file")?.u32()?)?;
    let out = match by {
        // File ids are already dense: use them as they are.
        GroupBy::File => {
            labels = ds.files.iter().map(|f| f.path.clone()).collect();
            file.to_vec()
        }
        GroupBy::Table => {
            let per_file: Vec<u32> = ds.files.iter().map(|f| intern(f.table.clone())).collect();
            file.iter().map(|&f| per_file[f as usize]).collect()
        }
        GroupBy::Ofd => {
            let (stream, _) = values(ds.reads.column("stream")?.u32()?)?;
            let mut seen: FxHashMap<u32, u32> = FxHashMap::default();
            stream
                .iter()
                .zip(file)
                .map(|(&s, &f)| {
                    *seen
                        .entry(s)
                        .or_insert_with(|| intern(format!("ofd {s} ({})", ds.files[f as usize].path)))
                })
                .collect()
        }
        GroupBy::Thread | GroupBy::Role => {
            let (tid, _) = values(ds.reads.column("tid")?.u32()?)?;
            let mut seen: FxHashMap<u32, u32> = FxHashMap::default();
            let mut last: Option<(u32, u32)> = None;
            tid.iter()
                .map(|&t| match last {
                    Some((lt, id)) if lt == t => id,
                    _ => {
                        let id = *seen.entry(t).or_insert_with(|| match by {
                            GroupBy::Thread => intern(format!("tid {t} ({})", ds.comm_of(t))),
                            _ => intern(ds.role_of(t)),
                        });
                        last = Some((t, id));
                        id
                    }
                })
                .collect()
        }
    };
    Ok((out, labels))
}

/// Analyzes the sequentiality of the reads of `ds`, grouped `by`.
pub fn sequentiality(ds: &Dataset, by: GroupBy) -> Result<SeqReport, AnalyzeError> {
    let (groups, labels) = group_ids(ds, by)?;
    let r = &ds.reads;
    let (stream, _) = values(r.column("stream")?.u32()?)?;
    let (ts, _) = values(r.column("ts")?.u64()?)?;
    let (pos, _) = values(r.column("pos")?.i64()?)?;
    let (count, _) = values(r.column("count")?.u32()?)?;
    let (ret, ret_known) = values(r.column("ret")?.i32()?)?;
    let order = stream_order(stream, ts);

    // One ordered pass: each read is compared with the one before it on its description.
    let mut acc: Vec<Acc> =
        vec![Acc::default(); labels.len().max(groups.iter().max().map_or(0, |&g| g as usize + 1))];
    let mut walk = Walk::new();
    for &row in &order {
        let i = row as usize;
        let (s, p, c, g) = (stream[i], pos[i], i64::from(count[i]), groups[i]);
        let len = match ret_known.is_none_or(|v| v.get_bit(i)) {
            true if ret[i] >= 0 => i64::from(ret[i]),
            _ => c,
        };
        let (step, ended) = walk.step(s, p, len, g);
        if let Some((rg, n)) = ended {
            acc[rg as usize].runs[run_bucket(n)] += 1;
        }
        let a = &mut acc[g as usize];
        if step.jump.is_some() {
            let near = step.near();
            a.seq += u64::from(step.sequential());
            a.near += u64::from(near);
            a.reverse += u64::from(!near && step.reverse);
        }
        a.jumps[jump_bucket(step.jump)] += 1;
        a.reads += 1;
        a.bytes += len.max(0) as u64;
        if c > 0 {
            a.pages += ((p as u64).wrapping_add(c as u64).div_ceil(4096)).saturating_sub(p as u64 / 4096);
        }
    }
    if let Some((rg, n)) = walk.finish() {
        acc[rg as usize].runs[run_bucket(n)] += 1;
    }

    let mut total = Acc::default();
    let mut rows: Vec<SeqRow> = acc
        .iter()
        .enumerate()
        .filter(|(_, a)| a.reads > 0)
        .map(|(gid, a)| {
            total.add(a);
            a.row(labels.get(gid).cloned().unwrap_or_else(|| format!("group {gid}")))
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
