//! `mysql-io simulate`: the model run at each asked `read_ahead_kb`, side by side with what the
//! kernel did at the recorded setting, the model's error there, and a recommendation per file.

use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::accounting::PageFigures;
use crate::compare::{agree, describe, Agreement, NOTED};
use crate::input::{Input, Op};
use crate::model::{Counters, Decision, Variant};
use crate::run::{op_file, run_group, FileRun, Mode, Outcome, RunSpec};
use crate::verdict::{
    choose, points, verdicts, wasted_weight as file_weight, DeviceVerdict, FileFacts, HostMemory, Point,
};

/// What to simulate.
#[derive(Clone, Copy)]
#[allow(missing_debug_implementations)] // holds a closure
pub struct Options<'a> {
    /// `read_ahead_kb` values to simulate.
    pub ra_kb: &'a [u64],
    /// Cache model.
    pub mode: Mode,
    /// Cache capacity in MiB for free mode (`None`: from the trace).
    pub cache_mb: Option<u64>,
    /// Model to use (`None`: the one for the trace's kernel).
    pub variant: Option<Variant>,
    /// Which files to report (by path); all are simulated.
    pub select: &'a (dyn Fn(&str) -> bool + Sync),
    /// Keep both decision logs (the kernel's and the model's at the recorded setting) in the
    /// report, per shown file.
    pub log_decisions: bool,
}

/// The kernel's and the model's readahead decisions for one file, at the recorded setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionLog {
    /// Path.
    pub file: String,
    /// As recorded (the state before each decision is partly unknown: see `docs/simulate.md`).
    pub kernel: Vec<Decision>,
    /// As simulated.
    pub model: Vec<Decision>,
}

/// Figures of one file (or all) at one setting, simulated or recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Path, or "total".
    pub file: String,
    /// The setting (KiB); for recorded rows, the file's recorded setting (0 for a total mixing
    /// settings).
    pub ra_kb: u64,
    /// Reads.
    pub reads: u64,
    /// Pages read from disk (inserted into the cache).
    pub pages_read: u64,
    /// Bytes read from disk.
    pub bytes_read: u64,
    /// Device requests: contiguous runs of one submission, split at `max_sectors_kb`.
    pub read_ios: u64,
    /// Pages reads asked for.
    pub pages_requested: u64,
    /// Of those, pages the read had to wait for (misses).
    pub demand_inserts: u64,
    /// `1 - demand_inserts / pages_requested`.
    pub hit_ratio: f64,
    /// Pages read beyond what the reading thread asked for.
    pub pages_read_ahead: u64,
    /// Read-ahead pages read later.
    pub used: u64,
    /// Read-ahead pages evicted unread or still unread at the end.
    pub wasted: u64,
    /// Sync readahead triggers.
    pub sync_triggers: u64,
    /// Async readahead triggers.
    pub async_triggers: u64,
}

impl Figures {
    /// The row of `file` at `ra_kb`: `reads`, and the rest from the shared figures.
    fn of(file: String, ra_kb: u64, reads: u64, p: &PageFigures) -> Self {
        Figures {
            file,
            ra_kb,
            reads,
            pages_read: p.pages_read,
            bytes_read: p.bytes_read(),
            read_ios: p.read_ios,
            pages_requested: p.pages_requested,
            demand_inserts: p.demand_inserts,
            hit_ratio: p.hit_ratio(),
            pages_read_ahead: p.pages_read_ahead,
            used: p.used,
            wasted: p.wasted(),
            sync_triggers: p.sync_triggers,
            async_triggers: p.async_triggers,
        }
    }
}

/// Rows of (path, setting, reads, figures), and their total at `ra_kb`.
fn rows(rows: Vec<(String, u64, u64, PageFigures)>, ra_kb: u64) -> SettingReport {
    let (mut reads, mut sum) = (0, PageFigures::default());
    let files = rows
        .into_iter()
        .map(|(file, kb, n, p)| {
            reads += n;
            sum.add(&p);
            Figures::of(file, kb, n, &p)
        })
        .collect();
    SettingReport { ra_kb, total: Figures::of("total".into(), ra_kb, reads, &sum), files }
}

/// One setting: per file and in total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingReport {
    /// The setting (KiB; for the recorded rows, 0 when files had different settings).
    pub ra_kb: u64,
    /// All selected files.
    pub total: Figures,
    /// Per file, in the report's file order.
    pub files: Vec<Figures>,
}

/// The model against the kernel at the recorded setting, for one file or all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelError {
    /// Path, or "total".
    pub file: String,
    /// `(model - kernel) / kernel` of pages read (0 when both are 0).
    pub pages_read: f64,
    /// The same for device requests.
    pub read_ios: f64,
    /// `model - kernel` of the hit ratio.
    pub hit_ratio: f64,
    /// Readahead decisions reproduced.
    pub decisions: Agreement,
    /// `decisions.exact / decisions.recorded`.
    pub decisions_exact: f64,
    /// The first recorded decision the model did not reproduce exactly, with the model's
    /// decision for the same trigger when it made one.
    pub first_difference: Option<(Decision, Option<Decision>)>,
    /// The first few such decisions ([`crate::compare::NOTED`]) in words, with their file, for
    /// the text output (in the total row, the first few of all files).
    #[serde(skip)]
    pub differences: Vec<(String, String)>,
}

/// What to do about one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Path.
    pub file: String,
    /// The recorded setting (KiB).
    pub current_ra_kb: u64,
    /// The best setting simulated (KiB); `None` when readahead does not apply.
    pub suggested_ra_kb: Option<u64>,
    /// In plain words, with the figures behind it.
    pub advice: String,
    /// What limits the advice.
    pub caveats: Vec<String>,
}

/// The result of `mysql-io simulate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// Cache model.
    pub mode: Mode,
    /// Readahead model.
    pub variant: Variant,
    /// The modelled kernel has `page_cache_ra_order` (5.18 and later, RHEL 9.1 and later); before
    /// it, windows are read in single pages and no `ra_order` window is decided.
    pub ra_order: bool,
    /// Cache capacity in pages (free mode; `None`: unbounded).
    pub capacity_pages: Option<u64>,
    /// What the kernel did, as recorded.
    pub recorded: SettingReport,
    /// The model at the recorded setting.
    pub model_at_recorded: SettingReport,
    /// The model's error at the recorded setting, per file then in total.
    pub model_error: Vec<ModelError>,
    /// The model at each asked setting.
    pub settings: Vec<SettingReport>,
    /// Per file.
    pub recommendations: Vec<Recommendation>,
    /// Per block device: the setting to use and why (free mode; empty in oracle mode). The
    /// decision: `docs/simulate.md#the-verdict-per-device`.
    pub devices: Vec<DeviceVerdict>,
    /// The recorded host's memory (zeros when the trace does not record it).
    pub memory: HostMemory,
    /// Reads simulated, over all settings.
    pub reads_simulated: u64,
    /// Seconds the simulation took (all settings, all cores).
    pub seconds: f64,
    /// What limits the answer.
    pub warnings: Vec<String>,
    /// Decision logs, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decision_logs: Vec<DecisionLog>,
}

/// `(model - kernel) / kernel`: 0 when both are 0, 1 (+100%) from nothing to something.
pub(crate) fn rel(model: u64, kernel: u64) -> f64 {
    if kernel == 0 {
        if model == 0 {
            0.0
        } else {
            1.0
        }
    } else {
        (model as f64 - kernel as f64) / kernel as f64
    }
}

/// Pages the kernel inserted into the traced files' cache while recording.
fn kernel_inserts(input: &Input) -> u64 {
    input.kernel.iter().map(|k| k.pages_read).sum()
}

/// Whether free mode bounds its cache by default: when the kernel evicted the traced files'
/// pages while recording, at least 1% of what it read. A handful of evictions (reclaim taking
/// a few pages read once, a file truncated) say little about how much cache the files may use,
/// and bounding them to the most they held would make every larger setting evict.
fn cache_bounded(input: &Input) -> bool {
    input.evictions > 0 && input.evictions * 100 >= kernel_inserts(input)
}

/// Free mode's cache when neither `--cache-mb` nor the kernel's evictions bound it: the memory
/// the recorded host had available at the start (`MemAvailable`, which counts reclaimable page
/// cache), in pages. `None` when the trace does not record it, or when it is more than all the
/// traced files could ever fill (no eviction can happen, and unbounded files simulate in
/// parallel).
fn memory_bound(input: &Input) -> Option<u64> {
    let pages = input.memory.available_kb / 4;
    let fill: u64 = input.files.iter().map(|f| f.size.div_ceil(4096)).sum();
    (pages > 0 && pages < fill).then_some(pages)
}

/// Runs every asked setting (and the recorded one) over `input`.
pub fn simulate(input: &Input, o: &Options<'_>) -> SimReport {
    let started = Instant::now();
    let variant = o.variant.unwrap_or(input.variant);
    let by_evictions = o.cache_mb.is_none() && cache_bounded(input);
    let by_memory = memory_bound(input).filter(|_| o.cache_mb.is_none() && !by_evictions);
    let capacity = match (o.mode, o.cache_mb) {
        (Mode::Oracle, _) => None,
        (Mode::Free, Some(mb)) => Some(mb * 256),
        (Mode::Free, None) if by_evictions => Some(input.peak_resident.max(1)),
        (Mode::Free, None) => by_memory,
    };

    // Operations per file: files are independent unless a bounded cache ties them together.
    let nfiles = input.files.len();
    // Each group's operations are copied out in time order, so a run reads them in a row.
    // Free mode ignores the recorded inserts and deletions: leave them out of the lists.
    let wanted = |op: &Op| o.mode == Mode::Oracle || !matches!(op, Op::Add { .. } | Op::Delete { .. });
    let groups: Vec<(Vec<u32>, Vec<Op>)> = if capacity.is_none() {
        let mut by_file: Vec<Vec<Op>> = vec![Vec::new(); nfiles];
        for op in input.ops.iter().filter(|op| wanted(op)) {
            by_file[op_file(input, op) as usize].push(*op);
        }
        by_file
            .into_iter()
            .enumerate()
            .filter(|(_, ops)| !ops.is_empty())
            .map(|(f, ops)| (vec![f as u32], ops))
            .collect()
    } else {
        let all = input.ops.iter().filter(|op| wanted(op)).copied().collect();
        vec![((0..nfiles as u32).collect(), all)]
    };
    // Settings: the recorded one first (with the decision log), then the asked ones.
    let settings: Vec<Option<u64>> = std::iter::once(None).chain(o.ra_kb.iter().map(|&k| Some(k))).collect();
    let tasks: Vec<(usize, usize)> =
        (0..settings.len()).flat_map(|s| (0..groups.len()).map(move |g| (s, g))).collect();
    let results: Vec<(usize, usize, Vec<FileRun>)> = tasks
        .par_iter()
        .map(|&(s, g)| {
            let (files, ops) = &groups[g];
            (
                s,
                g,
                run_group(
                    input,
                    files,
                    ops,
                    RunSpec { ra_kb: settings[s], mode: o.mode, variant, capacity, log: s == 0 },
                ),
            )
        })
        .collect();
    let mut outcomes: Vec<Outcome> = settings
        .iter()
        .map(|&ra_kb| Outcome {
            ra_kb,
            counters: vec![Counters::default(); nfiles],
            unused_at_end: vec![0; nfiles],
            decisions: ra_kb.is_none().then(|| vec![Vec::new(); nfiles]),
        })
        .collect();
    for (s, g, per_file) in results {
        for (&f, run) in groups[g].0.iter().zip(per_file) {
            let out = &mut outcomes[s];
            out.counters[f as usize] = run.counters;
            out.unused_at_end[f as usize] = run.unused_at_end;
            if let (Some(all), Some(d)) = (&mut out.decisions, run.decisions) {
                all[f as usize] = d;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let reads_simulated: u64 = outcomes.iter().flat_map(|o| o.counters.iter()).map(|c| c.reads).sum();

    // Files to show: selected, read through the page cache; most pages read first.
    let mut shown: Vec<usize> = (0..nfiles)
        .filter(|&f| (o.select)(&input.files[f].path) && outcomes[0].counters[f].reads > 0)
        .collect();
    shown.sort_by(|&a, &b| {
        input.kernel[b]
            .pages_read
            .cmp(&input.kernel[a].pages_read)
            .then(input.files[a].path.cmp(&input.files[b].path))
    });
    let path = |f: usize| input.files[f].path.clone();

    let setting_report = |out: &Outcome| -> SettingReport {
        let files = shown
            .iter()
            .map(|&f| {
                let kb = out.ra_kb.unwrap_or(input.files[f].recorded_ra_kb);
                (path(f), kb, out.counters[f].reads, out.counters[f].figures(out.unused_at_end[f]))
            })
            .collect();
        rows(files, out.ra_kb.unwrap_or_else(|| common_setting(input, &shown)))
    };
    let recorded = rows(
        shown
            .iter()
            .map(|&f| {
                (path(f), input.files[f].recorded_ra_kb, outcomes[0].counters[f].reads, input.kernel[f])
            })
            .collect(),
        common_setting(input, &shown),
    );
    let model_at_recorded = setting_report(&outcomes[0]);

    // The model against the kernel.
    let empty = Vec::new();
    let sim_decisions = outcomes[0].decisions.as_ref();
    let mut total_agreement = Agreement::default();
    let mut model_error: Vec<ModelError> = shown
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let sim = sim_decisions.map_or(&empty, |d| &d[f]);
            let mut noted = Vec::new();
            let a = agree(&input.recorded[f], sim, input.recorded_start, Some(&mut noted));
            total_agreement.add(&a);
            let (m, k) = (&model_at_recorded.files[i], &recorded.files[i]);
            ModelError {
                file: path(f),
                pages_read: rel(m.pages_read, k.pages_read),
                read_ios: rel(m.read_ios, k.read_ios),
                hit_ratio: m.hit_ratio - k.hit_ratio,
                decisions: a,
                decisions_exact: a.exact_rate(),
                first_difference: noted.first().cloned(),
                differences: noted
                    .iter()
                    .map(|(r, m)| (path(f), describe(r, m.as_ref(), input.recorded_start)))
                    .collect(),
            }
        })
        .collect();
    let (m, k) = (&model_at_recorded.total, &recorded.total);
    model_error.push(ModelError {
        file: "total".into(),
        pages_read: rel(m.pages_read, k.pages_read),
        read_ios: rel(m.read_ios, k.read_ios),
        hit_ratio: m.hit_ratio - k.hit_ratio,
        decisions: total_agreement,
        decisions_exact: total_agreement.exact_rate(),
        first_difference: None,
        differences: model_error.iter().flat_map(|e| e.differences.iter().cloned()).take(NOTED).collect(),
    });

    let settings_reports: Vec<SettingReport> = outcomes[1..].iter().map(setting_report).collect();
    // The page cache was tight when it was bounded and, at some setting, the model evicted
    // pages it had read ahead before they were used: at least 1% of what it read (the rule
    // `cache_bounded` applies to the kernel's evictions).
    let tight = capacity.is_some()
        && outcomes.iter().any(|o| {
            let evicted: u64 = o.counters.iter().map(|c| c.evicted_unused).sum();
            let read: u64 = o.counters.iter().map(|c| c.pages_read).sum();
            evicted > 0 && evicted * 100 >= read
        });
    // Oracle mode replays the pages the kernel read at the recorded setting: at other settings
    // they are there whether or not the model would read them, so those rows are no prediction.
    let recommendations = if o.mode == Mode::Free {
        shown
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                recommend(
                    input,
                    f,
                    &settings_reports,
                    i,
                    &model_error[i],
                    &model_at_recorded.files[i],
                    file_weight(recorded.files[i].pages_read, recorded.files[i].read_ios, tight),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let devices = if o.mode == Mode::Free {
        let facts: Vec<FileFacts<'_>> = shown
            .iter()
            .enumerate()
            .map(|(i, &f)| FileFacts {
                dev: input.files[f].dev,
                direct_reads: input.files[f].direct_reads,
                kernel: &recorded.files[i],
                model_now: &model_at_recorded.files[i],
                settings: settings_reports.iter().map(|s| &s.files[i]).collect(),
                agreement: model_error[i].decisions,
            })
            .collect();
        let direct_only: Vec<(u32, String, u64)> = (0..nfiles)
            .filter(|&f| {
                input.files[f].direct_reads > 0
                    && outcomes[0].counters[f].reads == 0
                    && (o.select)(&input.files[f].path)
            })
            .map(|f| (input.files[f].dev, path(f), input.files[f].direct_reads))
            .collect();
        verdicts(&facts, &direct_only, &input.devices, input.memory, capacity, tight)
    } else {
        Vec::new()
    };

    let mut warnings: Vec<String> = input.damaged.clone();
    if o.mode == Mode::Oracle && !o.ra_kb.is_empty() {
        warnings.push(
            "oracle mode replays the kernel's own page-cache inserts, made at the recorded setting: rows at other settings are no prediction and no recommendation is made (use --mode free)"
                .into(),
        );
    }
    if input.direct_reads > 0 {
        warnings.push(format!(
            "{} reads used O_DIRECT: they bypass the page cache and are not simulated",
            input.direct_reads
        ));
    }
    if input.unresolved_reads > 0 {
        warnings.push(format!(
            "{} reads went through io_uring registered files the recorder could not resolve: they are not simulated",
            input.unresolved_reads
        ));
    }
    if input.recorded.iter().all(Vec::is_empty) && input.ops.iter().any(|op| matches!(op, Op::Read { .. })) {
        warnings.push(
            "the trace has no readahead decisions (not captured on the recorded kernel): the model cannot be checked against them"
                .into(),
        );
    }
    if o.mode == Mode::Free && o.cache_mb.is_none() && input.evictions > 0 && by_memory.is_none() {
        let share = 100.0 * input.evictions as f64 / kernel_inserts(input).max(1) as f64;
        warnings.push(match capacity {
            Some(pages) => format!(
                "the kernel evicted {} pages of the traced files while recording ({share:.1}% of the pages it read): the simulated cache holds {} MiB, the most they held at once (--cache-mb changes it)",
                input.evictions,
                pages / 256
            ),
            None => format!(
                "the kernel evicted {} pages of the traced files while recording, {share:.2}% of the pages it read: too few to tell how much cache they may use, so the simulated cache is unbounded (--cache-mb bounds it)",
                input.evictions
            ),
        });
    }
    if o.mode == Mode::Free {
        if let Some(pages) = by_memory {
            warnings.push(format!(
                "the simulated page cache holds {} MiB, the memory the recorded host had available when recording started (MemAvailable; --cache-mb changes it)",
                pages / 256
            ));
        }
    }
    let decision_logs = if o.log_decisions {
        shown
            .iter()
            .map(|&f| DecisionLog {
                file: path(f),
                kernel: input.recorded[f].clone(),
                model: sim_decisions.map_or_else(Vec::new, |d| d[f].clone()),
            })
            .collect()
    } else {
        Vec::new()
    };
    SimReport {
        mode: o.mode,
        variant,
        ra_order: input.ra_order,
        capacity_pages: capacity,
        recorded,
        model_at_recorded,
        model_error,
        settings: settings_reports,
        recommendations,
        devices,
        memory: input.memory,
        reads_simulated,
        seconds,
        warnings,
        decision_logs,
    }
}

/// The files' common recorded setting, or 0 when they differ.
fn common_setting(input: &Input, files: &[usize]) -> u64 {
    let mut kb = files.iter().map(|&f| input.files[f].recorded_ra_kb);
    let first = kb.next().unwrap_or(0);
    if kb.all(|k| k == first) {
        first
    } else {
        0
    }
}

fn pct(x: f64) -> String {
    format!("{:+.0}%", x * 100.0)
}

/// The advice for one file (`i`: its row in the setting reports).
fn recommend(
    input: &Input,
    f: usize,
    settings: &[SettingReport],
    i: usize,
    err: &ModelError,
    now_model: &Figures,
    wasted_weight: f64,
) -> Recommendation {
    let file = &input.files[f];
    let current = file.recorded_ra_kb;
    let mut caveats = vec![
        "read_ahead_kb is a device setting: it changes readahead for every file on the device".to_string(),
        "a file keeps the setting it was opened with: reopen it (restart the server) after a change"
            .to_string(),
    ];
    if err.pages_read.abs() > 0.05 || err.read_ios.abs() > 0.05 {
        caveats.push(format!(
            "at the recorded setting the model is off by {} in pages read and {} in read requests: treat the figures as indicative",
            pct(err.pages_read),
            pct(err.read_ios)
        ));
    }
    if file.direct_reads > 0 {
        caveats.push(format!("{} reads of it used O_DIRECT and bypass readahead", file.direct_reads));
    }
    let rows: Vec<&Figures> = settings.iter().map(|s| &s.files[i]).collect();
    if rows.is_empty() {
        return Recommendation {
            file: file.path.clone(),
            current_ra_kb: current,
            suggested_ra_kb: None,
            advice: "no setting was simulated".into(),
            caveats,
        };
    }
    // The same ranking as the device verdict's, over the simulated settings and the model at
    // the recorded one.
    let (points, at) =
        points(current, Point::of(current, now_model), rows.iter().map(|r| Point::of(r.ra_kb, r)));
    let chosen = points[choose(&points, at, wasted_weight)].ra_kb;
    let now = rows.iter().find(|r| r.ra_kb == current).copied().unwrap_or(now_model);
    let best = rows.iter().find(|r| r.ra_kb == chosen).copied().unwrap_or(now);
    let advice = if best.ra_kb == current {
        format!(
            "keep {current} KiB: no simulated setting reads less or waits less ({} pages from disk in {} requests, hit ratio {:.1}%)",
            now.pages_read,
            now.read_ios,
            now.hit_ratio * 100.0
        )
    } else {
        format!(
            "{} KiB instead of {current}: pages read {}, read requests {}, reads waiting for the disk {} (hit ratio {:.1}% -> {:.1}%)",
            best.ra_kb,
            pct(rel(best.pages_read, now.pages_read)),
            pct(rel(best.read_ios, now.read_ios)),
            pct(rel(best.demand_inserts, now.demand_inserts)),
            now.hit_ratio * 100.0,
            best.hit_ratio * 100.0
        )
    };
    Recommendation {
        file: file.path.clone(),
        current_ra_kb: current,
        suggested_ra_kb: Some(best.ra_kb),
        advice,
        caveats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{FileIn, StreamIn};
    use crate::model::Geometry;
    use crate::PageFigures;

    /// One 16 MiB file read from start to end in 16 KiB reads, after a kernel that read 4096
    /// pages for it and evicted `evictions`, holding at most 4000 at once.
    fn input(evictions: u64) -> Input {
        let ops = (0..1024u64)
            .flat_map(|i| {
                let pos = i * 16384;
                [
                    Op::Read { stream: 0, pos, count: 16384, copied: 16384 },
                    Op::ReadDone { stream: 0, end: pos + 16384 },
                ]
            })
            .collect();
        Input {
            files: vec![FileIn {
                dev: 1,
                ino: 2,
                path: "/data/t.ibd".into(),
                size: 16 << 20,
                geometry: Geometry { io_pages: 320, large_folios: false, max_order: 0 },
                recorded_ra_kb: 128,
                direct_reads: 0,
            }],
            streams: vec![StreamIn { file: 0, opened: true }],
            ops,
            cached_at_start: vec![Vec::new()],
            marked_at_start: vec![Vec::new()],
            recorded: vec![Vec::new()],
            kernel: vec![PageFigures { pages_read: 4096, ..PageFigures::default() }],
            recorded_start: false,
            variant: Variant::Split,
            ra_order: true,
            peak_resident: 4000,
            evictions,
            direct_reads: 0,
            unresolved_reads: 0,
            damaged: Vec::new(),
            devices: Vec::new(),
            memory: HostMemory::default(),
        }
    }

    fn run(input: &Input, cache_mb: Option<u64>) -> SimReport {
        let all = |_: &str| true;
        let o = Options {
            ra_kb: &[512],
            mode: Mode::Free,
            cache_mb,
            variant: None,
            select: &all,
            log_decisions: false,
        };
        simulate(input, &o)
    }

    #[test]
    fn free_mode_bounds_its_cache_only_when_the_kernel_evicted_a_real_share() {
        // No evictions, or a handful (under 1% of the 4096 pages read): unbounded, said so when
        // there were some.
        let r = run(&input(0), None);
        assert_eq!(r.capacity_pages, None);
        assert!(r.warnings.iter().all(|w| !w.contains("evicted")), "{:?}", r.warnings);
        let r = run(&input(40), None);
        assert_eq!(r.capacity_pages, None);
        assert!(r.warnings.iter().any(|w| w.contains("evicted 40 pages") && w.contains("unbounded")));
        // At 512 KiB the whole file is read once, nothing twice.
        assert_eq!(r.settings[0].total.pages_read, 4096);
        // 1% or more: bounded to the most the file held.
        let r = run(&input(41), None);
        assert_eq!(r.capacity_pages, Some(4000));
        assert!(r.warnings.iter().any(|w| w.contains("holds 15 MiB")));
        // --cache-mb decides whatever the trace shows.
        let r = run(&input(41), Some(64));
        assert_eq!(r.capacity_pages, Some(64 * 256));
        assert!(r.warnings.iter().all(|w| !w.contains("evicted")), "{:?}", r.warnings);
    }

    #[test]
    fn free_mode_is_bounded_by_the_recorded_hosts_available_memory() {
        // 8 MiB available for a 16 MiB file read whole: the cache holds 2048 pages, said so.
        let mut small = input(0);
        small.memory = HostMemory { total_kb: 1 << 20, available_kb: 8192, page_cache_kb: 0 };
        let r = run(&small, None);
        assert_eq!(r.capacity_pages, Some(2048));
        assert!(
            r.warnings.iter().any(|w| w.contains("holds 8 MiB") && w.contains("MemAvailable")),
            "{:?}",
            r.warnings
        );
        // More than the file could fill: unbounded, nothing said.
        let mut large = input(0);
        large.memory = HostMemory { total_kb: 1 << 20, available_kb: 1 << 19, page_cache_kb: 0 };
        let r = run(&large, None);
        assert_eq!(r.capacity_pages, None);
        assert!(r.warnings.iter().all(|w| !w.contains("MemAvailable")), "{:?}", r.warnings);
        // The kernel's evictions, then --cache-mb, come first.
        let mut evicted = input(41);
        evicted.memory = small.memory;
        assert_eq!(run(&evicted, None).capacity_pages, Some(4000));
        assert_eq!(run(&small, Some(64)).capacity_pages, Some(64 * 256));
    }
}
