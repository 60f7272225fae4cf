//! What `mysql-io info` prints: a trace's header, counts per kind, chunks, time range, losses,
//! compression and damage, computed from the chunk index plus a CRC pass over every chunk.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Error;
use crate::meta::Header;
use crate::reader::Trace;
use crate::{EventBody, EventKind};

/// Summary of one trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceSummary {
    /// `major.minor` of the file's format.
    pub format_version: String,
    /// True when the trace was finished and nothing is damaged.
    pub complete: bool,
    /// File size.
    pub file_bytes: u64,
    /// The header record.
    pub header: Header,
    /// Events in the readable chunks.
    pub events: u64,
    /// Events per kind name.
    pub events_by_kind: BTreeMap<String, u64>,
    /// Readable chunks.
    pub chunks: u64,
    /// Smallest event timestamp (trace clock, ns), 0 without events.
    pub t_min: u64,
    /// Largest event timestamp.
    pub t_max: u64,
    /// `t_max - t_min` in seconds.
    pub duration_s: f64,
    /// Wall-clock time of the first event, ns since the Unix epoch.
    pub start_unix_ns: i128,
    /// Events lost before reaching the trace.
    pub lost: u64,
    /// Lost events per kind name (`unknown` when the recorder could not tell).
    pub lost_by_kind: BTreeMap<String, u64>,
    /// Chunk payload bytes before compression.
    pub uncompressed_bytes: u64,
    /// Bytes of chunk records on disk.
    pub chunk_bytes: u64,
    /// `uncompressed_bytes / chunk_bytes`.
    pub compression_ratio: f64,
    /// `file_bytes / events`.
    pub bytes_per_event: f64,
    /// File records.
    pub files: u64,
    /// Thread records.
    pub threads: u64,
    /// Traced processes (header and later records).
    pub processes: u64,
    /// Descriptors open at the start.
    pub open_fds: u64,
    /// Of those, the ones opened with O_DIRECT (readahead and the page cache do not apply to
    /// their reads).
    pub open_fds_direct: u64,
    /// Server counter snapshots.
    pub status_snapshots: u64,
    /// Records of kinds this version does not know.
    pub unknown_records: u64,
    /// Devices (kernel encoding) of the files the trace names.
    pub file_devs: Vec<u32>,
    /// What is wrong with the file, one sentence each; empty when intact.
    pub damage: Vec<String>,
    /// True when some damage is more than a cut-short recording (bad bytes).
    pub corrupt: bool,
    /// The servers' own counters over the recording: per process and source, the change
    /// between its first and last snapshot.
    pub server_status: Vec<StatusDelta>,
}

/// Counters a server reported at two moments, and how much each changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusDelta {
    /// The server process.
    pub pid: u32,
    /// Where the counters come from (`SHOW GLOBAL STATUS`).
    pub source: String,
    /// Seconds between the two snapshots.
    pub seconds: f64,
    /// `last - first` of every counter in both snapshots, by name.
    pub deltas: BTreeMap<String, i64>,
}

/// `SHOW GLOBAL STATUS` counters shown beside the kernel's view (JSON has all of them).
pub const KEY_STATUS_COUNTERS: &[&str] = &[
    "Innodb_data_reads",
    "Innodb_data_read",
    "Innodb_pages_read",
    "Innodb_buffer_pool_read_requests",
    "Innodb_buffer_pool_reads",
    "Innodb_buffer_pool_read_ahead",
    "Innodb_buffer_pool_read_ahead_evicted",
    "Innodb_buffer_pool_read_ahead_rnd",
    "Questions",
];

/// The change of each process's counters between its first and last snapshot (processes with
/// one snapshot have none).
pub fn status_deltas(trace: &Trace<'_>) -> Vec<StatusDelta> {
    let mut by: BTreeMap<(u32, &str), Vec<&crate::meta::StatusSnapshot>> = BTreeMap::new();
    for s in trace.statuses() {
        by.entry((s.pid, s.source.as_str())).or_default().push(s);
    }
    by.into_iter()
        .filter_map(|((pid, source), mut snaps)| {
            snaps.sort_by_key(|s| s.ts);
            let (first, last) = (snaps.first()?, snaps.last()?);
            if snaps.len() < 2 {
                return None;
            }
            let before: BTreeMap<&str, i64> = first.counters.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let deltas = last
                .counters
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.wrapping_sub(*before.get(k.as_str())?))))
                .collect();
            Some(StatusDelta {
                pid,
                source: source.to_string(),
                seconds: last.ts.saturating_sub(first.ts) as f64 / 1e9,
                deltas,
            })
        })
        .collect()
}

impl TraceSummary {
    /// Summarizes `trace`, checking every chunk's CRC (in parallel). Lost-event counts come from the
    /// footer, or by decoding the `lost` events when there is no footer.
    pub fn of(trace: &Trace<'_>) -> Self {
        let mut damage: Vec<String> = trace.damage().iter().map(ToString::to_string).collect();
        let mut corrupt = trace.damage().iter().any(|d| !d.is_truncation());
        let chunk_errors = trace.verify_chunks();
        corrupt |= !chunk_errors.is_empty();
        damage.extend(chunk_errors.iter().map(ToString::to_string));

        let mut by_code: BTreeMap<u8, u64> = BTreeMap::new();
        let (mut uncompressed, mut chunk_bytes) = (0u64, 0u64);
        let (t_min, t_max) = trace.time_range().unwrap_or((0, 0));
        for c in trace.chunks() {
            for &(code, n) in &c.info.kind_counts {
                let e = by_code.entry(code).or_default();
                *e = e.saturating_add(n);
            }
            uncompressed = uncompressed.saturating_add(c.info.uncompressed_len);
            chunk_bytes = chunk_bytes.saturating_add(c.record_len());
        }

        let mut lost: BTreeMap<u8, u64> = BTreeMap::new();
        if let Some(f) = trace.footer() {
            for &(_, kind, n) in &f.totals.lost {
                let e = lost.entry(kind).or_default();
                *e = e.saturating_add(n);
            }
        } else if by_code.contains_key(&EventKind::Lost.code()) {
            let per_chunk = trace.par_chunks(|c| {
                let mut m: BTreeMap<u8, u64> = BTreeMap::new();
                c.for_each(|e| {
                    if let EventBody::Lost(l) = e.body {
                        let n = m.entry(l.kind).or_default();
                        *n = n.saturating_add(l.count);
                    }
                })
                .map(|_| m)
            });
            for r in per_chunk {
                match r {
                    Ok(m) => m.into_iter().for_each(|(k, n)| {
                        let e = lost.entry(k).or_default();
                        *e = e.saturating_add(n);
                    }),
                    // CRC failures were reported above; report decode failures of intact chunks.
                    Err(e @ Error::CorruptChunk { .. }) => {
                        corrupt = true;
                        damage.push(e.to_string());
                    }
                    Err(_) => {}
                }
            }
        }

        let events: u64 = by_code.values().fold(0, |a, &n| a.saturating_add(n));
        let file_bytes = trace.data().len() as u64;
        let header = trace.header().clone();
        let (major, minor) = trace.version();
        TraceSummary {
            format_version: format!("{major}.{minor}"),
            complete: damage.is_empty() && trace.footer().is_some(),
            file_bytes,
            events,
            events_by_kind: by_code.iter().map(|(&c, &n)| (kind_name(c), n)).collect(),
            chunks: trace.chunks().len() as u64,
            t_min,
            t_max,
            duration_s: (t_max - t_min) as f64 / 1e9,
            start_unix_ns: i128::from(t_min) + i128::from(header.clock_offset_ns),
            lost: lost.values().fold(0, |a, &n| a.saturating_add(n)),
            lost_by_kind: lost
                .iter()
                .map(|(&c, &n)| (if c == 0 { "unknown".into() } else { kind_name(c) }, n))
                .collect(),
            uncompressed_bytes: uncompressed,
            chunk_bytes,
            compression_ratio: if chunk_bytes == 0 { 0.0 } else { uncompressed as f64 / chunk_bytes as f64 },
            bytes_per_event: if events == 0 { 0.0 } else { file_bytes as f64 / events as f64 },
            files: trace.files().len() as u64,
            threads: trace.threads().len() as u64,
            processes: (header.processes.len() + trace.processes().len()) as u64,
            open_fds: trace.open_fds().len() as u64,
            open_fds_direct: trace.open_fds().iter().filter(|f| f.flags & crate::O_DIRECT != 0).count()
                as u64,
            status_snapshots: trace.statuses().len() as u64,
            unknown_records: trace.unknown_records(),
            file_devs: {
                let mut d: Vec<u32> = trace.files().iter().map(|f| f.dev).collect();
                d.sort_unstable();
                d.dedup();
                d
            },
            damage,
            corrupt,
            server_status: status_deltas(trace),
            header,
        }
    }
}

fn kind_name(code: u8) -> String {
    EventKind::from_code(code).map_or_else(|| format!("kind_{code}"), |k| k.name().to_string())
}
