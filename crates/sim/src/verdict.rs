//! The answer per block device. `read_ahead_kb` is a setting of the device (of its queue), not
//! of a file: every file on it reads ahead with the same maximum window. So the decision is made
//! per device, on the sum of its files' simulated figures, and the files that would each do best
//! at another setting are named with their share of the device's reads.
//!
//! The ranking, for one device (or one file), over the recorded setting and every simulated one:
//! 1. **Waits first**: the pages reads had to wait for (misses). Settings within 2% (+1 page) of
//!    the fewest stay in.
//! 2. **Disk work**: device requests; when memory is tight (the simulated page cache is bounded
//!    and the model had to evict at some setting), each page read ahead and never used also
//!    counts, as `1 / P` of a request with `P` the pages per request the kernel made at the
//!    recorded setting: a wasted page pushed a cached one out, which comes back at that cost.
//!    Within 2% of the least stay in.
//! 3. **Pages read** from disk, within 2% of the least.
//!
//! Of what is left, the recorded setting when it is among them (no change is worth making),
//! else the smallest. Figures are the model's at both settings, so the model's own error at the
//! recorded setting (stated as the trust) cancels out of the predicted change.

use mysql_io_format::{dev_major, dev_minor};
use serde::Serialize;

use crate::compare::Agreement;
use crate::report::{rel, Figures};

/// A block device as the trace's header describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceIn {
    /// Device number (kernel encoding, as in events).
    pub dev: u32,
    /// Kernel name (`nvme0n1p2`, `loop3`, `dm-1`).
    pub name: String,
    /// The device whose `queue/read_ahead_kb` governs this one: the disk for a partition, the
    /// device itself otherwise.
    pub settings_of: String,
    /// `read_ahead_kb` when recording started.
    pub read_ahead_kb: u64,
    /// Rotational (a disk with heads).
    pub rotational: bool,
}

/// The recorded host's memory when recording started (0: not recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HostMemory {
    /// `MemTotal`, KiB.
    pub total_kb: u64,
    /// `MemAvailable`, KiB.
    pub available_kb: u64,
    /// `Cached` (the page cache), KiB.
    pub page_cache_kb: u64,
}

/// One setting's figures for a device, summed over its files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Point {
    /// `read_ahead_kb`.
    pub ra_kb: u64,
    /// Buffered reads.
    pub reads: u64,
    /// Pages read from disk.
    pub pages_read: u64,
    /// Device requests.
    pub read_ios: u64,
    /// Pages reads asked for.
    pub pages_requested: u64,
    /// Pages reads had to wait for.
    pub waited: u64,
    /// Pages read ahead.
    pub read_ahead: u64,
    /// Read-ahead pages never read (evicted unread, or unread at the end).
    pub wasted: u64,
}

impl Point {
    pub(crate) fn of(ra_kb: u64, f: &Figures) -> Self {
        let mut p = Point { ra_kb, ..Point::default() };
        p.add(f);
        p
    }

    fn add(&mut self, f: &Figures) {
        self.reads += f.reads;
        self.pages_read += f.pages_read;
        self.read_ios += f.read_ios;
        self.pages_requested += f.pages_requested;
        self.waited += f.demand_inserts;
        self.read_ahead += f.pages_read_ahead;
        self.wasted += f.wasted;
    }

    /// `1 - waited / requested`.
    pub fn hit_ratio(&self) -> f64 {
        if self.pages_requested == 0 {
            0.0
        } else {
            1.0 - self.waited as f64 / self.pages_requested as f64
        }
    }
}

/// The ranking of the module's documentation over `points`: the index chosen. `current` is the
/// index of the recorded setting; `wasted_weight` what a wasted page counts, in requests.
pub fn choose(points: &[Point], current: usize, wasted_weight: f64) -> usize {
    let near = |a: f64, b: f64| a <= b * 1.02 + 1.0;
    let keep = |pool: Vec<usize>, key: &dyn Fn(&Point) -> f64| -> Vec<usize> {
        let min = pool.iter().map(|&i| key(&points[i])).fold(f64::INFINITY, f64::min);
        pool.into_iter().filter(|&i| near(key(&points[i]), min)).collect()
    };
    let all: Vec<usize> = (0..points.len()).collect();
    let pool = keep(all, &|p| p.waited as f64);
    let pool = keep(pool, &|p| p.read_ios as f64 + wasted_weight * p.wasted as f64);
    let pool = keep(pool, &|p| p.pages_read as f64);
    if pool.contains(&current) {
        return current;
    }
    pool.into_iter().min_by_key(|&i| points[i].ra_kb).unwrap_or(current)
}

/// What one wasted page counts in device requests: nothing when memory is not tight, else
/// `1 / P` with `P` the pages per request the kernel made (`pages_read / read_ios` at the
/// recorded setting): what reading a pushed-out page back costs.
pub(crate) fn wasted_weight(pages_read: u64, read_ios: u64, tight: bool) -> f64 {
    if !tight {
        return 0.0;
    }
    let per_request = if read_ios > 0 { pages_read as f64 / read_ios as f64 } else { 1.0 };
    1.0 / per_request.max(1.0)
}

/// How far the model can be trusted on a device, from its agreement with the kernel at the
/// recorded setting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trust {
    /// `high`, `moderate` or `low`.
    pub level: &'static str,
    /// Share of the kernel's readahead decisions the model reproduced exactly (`None` when the
    /// trace has none).
    pub decisions_exact: Option<f64>,
    /// Decisions the kernel made.
    pub decisions: u64,
    /// `(model - kernel) / kernel` of pages read.
    pub pages_read_error: f64,
    /// The same for device requests.
    pub read_ios_error: f64,
}

impl Trust {
    fn of(model: &Point, kernel: &Point, a: &Agreement) -> Self {
        let pages_read_error = rel(model.pages_read, kernel.pages_read);
        let read_ios_error = rel(model.read_ios, kernel.read_ios);
        let decisions_exact = (a.recorded > 0).then(|| a.exact_rate());
        let worst = pages_read_error.abs().max(read_ios_error.abs());
        let exact = decisions_exact.unwrap_or(1.0);
        let level = if worst <= 0.05 && exact >= 0.95 {
            "high"
        } else if worst <= 0.15 && exact >= 0.80 {
            "moderate"
        } else {
            "low"
        };
        Trust { level, decisions_exact, decisions: a.recorded, pages_read_error, read_ios_error }
    }
}

/// A file on a device, with the setting it would do best at on its own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileShare {
    /// Path.
    pub file: String,
    /// Buffered reads.
    pub reads: u64,
    /// Reads with O_DIRECT (readahead does not apply).
    pub direct_reads: u64,
    /// The setting the ranking picks for this file alone (`None`: no buffered reads).
    pub best_ra_kb: Option<u64>,
}

/// The verdict for one block device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceVerdict {
    /// Kernel name of the device the files are on, or `MAJ:MIN` when the trace does not name it.
    pub device: String,
    /// Device number.
    pub dev: u32,
    /// The device whose `queue/read_ahead_kb` is the setting (the disk, for a partition); empty
    /// when the files are not on a block device the trace knows.
    pub settings_of: String,
    /// The setting when recording started.
    pub current_ra_kb: u64,
    /// The setting to use; `None` when readahead does not apply (no buffered reads).
    pub recommended_ra_kb: Option<u64>,
    /// Its files, most reads first.
    pub files: Vec<FileShare>,
    /// Buffered reads of its files.
    pub reads: u64,
    /// O_DIRECT reads of its files.
    pub direct_reads: u64,
    /// What the kernel did at the recorded setting.
    pub kernel: Point,
    /// The model at the recorded setting.
    pub now: Point,
    /// The model at the recommended setting (`now` when it is the recorded one).
    pub then: Point,
    /// The model at every setting, ascending (the recorded one included).
    pub sweep: Vec<Point>,
    /// Memory was tight, so wasted readahead counted against a setting.
    pub memory_tight: bool,
    /// What one wasted page counted, in device requests (0 when memory was not tight).
    pub wasted_weight: f64,
    /// How far to trust the prediction.
    pub trust: Trust,
    /// Settings the files would each pick, with their share of the device's buffered reads,
    /// largest share first (one entry when they agree).
    pub split: Vec<(u64, f64)>,
    /// How to apply the recommendation (`None` when it is to keep the setting).
    pub apply: Option<Apply>,
    /// The verdict in sentences.
    pub text: Vec<String>,
}

/// The commands that set a device's `read_ahead_kb`, as root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Apply {
    /// Sets it now, until reboot: `echo N > /sys/block/DISK/queue/read_ahead_kb`.
    pub now: String,
    /// The same with `blockdev` (in 512-byte sectors); `None` when the files are not on a
    /// block device the trace knows.
    pub blockdev: Option<String>,
    /// A udev rule that sets it whenever the device appears (keeps it across reboots)...
    pub udev_rule: Option<String>,
    /// ...in this file.
    pub udev_file: Option<String>,
}

/// What [`verdicts`] needs per shown file: its row in the reports, and facts from the input.
#[derive(Debug, Clone)]
pub(crate) struct FileFacts<'a> {
    pub dev: u32,
    pub direct_reads: u64,
    pub kernel: &'a Figures,
    pub model_now: &'a Figures,
    pub settings: Vec<&'a Figures>,
    pub agreement: Agreement,
}

/// Files that were read only with O_DIRECT: (device, path, reads).
pub(crate) type DirectOnly = (u32, String, u64);

/// The verdict of every device with read files, most reads first.
pub(crate) fn verdicts(
    files: &[FileFacts<'_>],
    direct_only: &[DirectOnly],
    devices: &[DeviceIn],
    memory: HostMemory,
    cache_pages: Option<u64>,
    tight: bool,
) -> Vec<DeviceVerdict> {
    let mut devs: Vec<u32> = files.iter().map(|f| f.dev).chain(direct_only.iter().map(|d| d.0)).collect();
    devs.sort_unstable();
    devs.dedup();
    let mut out: Vec<DeviceVerdict> = devs
        .into_iter()
        .map(|dev| {
            let mine: Vec<&FileFacts<'_>> = files.iter().filter(|f| f.dev == dev).collect();
            let direct: Vec<&DirectOnly> = direct_only.iter().filter(|d| d.0 == dev).collect();
            device_verdict(
                dev,
                &mine,
                &direct,
                devices.iter().find(|d| d.dev == dev),
                memory,
                cache_pages,
                tight,
            )
        })
        .collect();
    out.sort_by(|a, b| (b.reads + b.direct_reads).cmp(&(a.reads + a.direct_reads)).then(a.dev.cmp(&b.dev)));
    out
}

/// The points of one file or device: the recorded setting's first, then the simulated ones that
/// differ from it, ascending. Returns them and the recorded one's index.
pub(crate) fn points(current: u64, now: Point, settings: impl Iterator<Item = Point>) -> (Vec<Point>, usize) {
    let mut v: Vec<Point> = settings.filter(|p| p.ra_kb != current).collect();
    v.push(Point { ra_kb: current, ..now });
    v.sort_by_key(|p| p.ra_kb);
    let at = v.iter().position(|p| p.ra_kb == current).unwrap_or(0);
    (v, at)
}

fn device_verdict(
    dev: u32,
    files: &[&FileFacts<'_>],
    direct_only: &[&DirectOnly],
    device: Option<&DeviceIn>,
    memory: HostMemory,
    cache_pages: Option<u64>,
    tight: bool,
) -> DeviceVerdict {
    let name = device.map_or_else(|| format!("{}:{}", dev_major(dev), dev_minor(dev)), |d| d.name.clone());
    let settings_of = device.map(|d| d.settings_of.clone()).unwrap_or_default();
    let current =
        device.map(|d| d.read_ahead_kb).or_else(|| files.first().map(|f| f.kernel.ra_kb)).unwrap_or(0);
    let mut kernel = Point { ra_kb: current, ..Point::default() };
    let mut now = Point { ra_kb: current, ..Point::default() };
    let mut agreement = Agreement::default();
    let nsettings = files.first().map_or(0, |f| f.settings.len());
    let mut sims: Vec<Point> =
        (0..nsettings).map(|s| Point { ra_kb: files[0].settings[s].ra_kb, ..Point::default() }).collect();
    for f in files {
        kernel.add(f.kernel);
        now.add(f.model_now);
        agreement.add(&f.agreement);
        for (p, fig) in sims.iter_mut().zip(&f.settings) {
            p.add(fig);
        }
    }
    let wasted_weight = wasted_weight(kernel.pages_read, kernel.read_ios, tight);
    let (sweep, at) = points(current, now, sims.into_iter());
    let reads = now.reads;
    let recommended = (reads > 0).then(|| sweep[choose(&sweep, at, wasted_weight)].ra_kb);
    let then = recommended.and_then(|k| sweep.iter().find(|p| p.ra_kb == k)).copied().unwrap_or(now);

    let mut shares: Vec<FileShare> = files
        .iter()
        .map(|f| {
            let (pts, i) = points(
                current,
                Point::of(current, f.model_now),
                f.settings.iter().map(|fig| Point::of(fig.ra_kb, fig)),
            );
            FileShare {
                file: f.kernel.file.clone(),
                reads: f.kernel.reads,
                direct_reads: f.direct_reads,
                best_ra_kb: (f.kernel.reads > 0).then(|| pts[choose(&pts, i, wasted_weight)].ra_kb),
            }
        })
        .chain(direct_only.iter().map(|d| FileShare {
            file: d.1.clone(),
            reads: 0,
            direct_reads: d.2,
            best_ra_kb: None,
        }))
        .collect();
    shares.sort_by(|a, b| {
        (b.reads + b.direct_reads).cmp(&(a.reads + a.direct_reads)).then(a.file.cmp(&b.file))
    });
    let direct_reads: u64 = shares.iter().map(|s| s.direct_reads).sum();
    let mut split: Vec<(u64, f64)> = Vec::new();
    for s in shares.iter().filter(|s| s.reads > 0) {
        let k = s.best_ra_kb.unwrap_or(current);
        let w = s.reads as f64 / reads.max(1) as f64;
        match split.iter_mut().find(|(kb, _)| *kb == k) {
            Some(e) => e.1 += w,
            None => split.push((k, w)),
        }
    }
    split.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let trust = Trust::of(&now, &kernel, &agreement);
    let apply = recommended.filter(|&k| k != current).map(|k| commands(&name, &settings_of, k));
    let mut v = DeviceVerdict {
        device: name,
        dev,
        settings_of,
        current_ra_kb: current,
        recommended_ra_kb: recommended,
        files: shares,
        reads,
        direct_reads,
        kernel,
        now,
        then,
        sweep,
        memory_tight: tight,
        wasted_weight,
        trust,
        split,
        apply,
        text: Vec::new(),
    };
    v.text = sentences(&v, memory, cache_pages, device.is_some_and(|d| d.rotational));
    v
}

/// The commands that set `kb` on `device` now and keep it across reboots.
fn commands(device: &str, settings_of: &str, kb: u64) -> Apply {
    if settings_of.is_empty() {
        // Not a block device the trace knows: its backing device info still has the setting.
        return Apply {
            now: format!("echo {kb} > /sys/class/bdi/{device}/read_ahead_kb"),
            blockdev: None,
            udev_rule: None,
            udev_file: None,
        };
    }
    Apply {
        now: format!("echo {kb} > /sys/block/{settings_of}/queue/read_ahead_kb"),
        blockdev: Some(format!("blockdev --setra {} /dev/{device}", kb * 2)),
        udev_rule: Some(format!(
            "ACTION==\"add|change\", KERNEL==\"{settings_of}\", ATTR{{queue/read_ahead_kb}}=\"{kb}\""
        )),
        udev_file: Some(format!("/etc/udev/rules.d/60-read-ahead-{settings_of}.rules")),
    }
}

pub use mysql_io_output::thousands;

/// `old -> new (+x%)`.
fn change(old: u64, new: u64) -> String {
    if old == new {
        format!("{} (no change)", thousands(old))
    } else {
        format!("{} -> {} ({:+.0}%)", thousands(old), thousands(new), rel(new, old) * 100.0)
    }
}

/// A cache size given in 4 KiB pages, in MiB or KiB.
fn size(pages: u64) -> String {
    if pages >= 256 {
        format!("{} MiB", pages / 256)
    } else {
        format!("{} KiB", pages * 4)
    }
}

fn gib(kb: u64) -> String {
    format!("{:.1} GiB", kb as f64 / (1024.0 * 1024.0))
}

/// `schema/table.ibd`: the last two components of a path, which say which table.
pub fn short_path(path: &str) -> &str {
    let mut cut = path.rmatch_indices('/').map(|(i, _)| i);
    match (cut.next(), cut.next()) {
        (Some(_), Some(i)) => &path[i + 1..],
        _ => path,
    }
}

/// The verdict in sentences: the decision, the files, the predicted change, trust, memory, and
/// how to apply it.
fn sentences(
    v: &DeviceVerdict,
    memory: HostMemory,
    cache_pages: Option<u64>,
    rotational: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let kind = if rotational { " (rotational)" } else { "" };
    let on = if v.settings_of.is_empty() || v.settings_of == v.device {
        format!("{}{kind}", v.device)
    } else {
        format!("{}{kind}, a partition of {} whose setting it uses", v.device, v.settings_of)
    };
    let Some(rec) = v.recommended_ra_kb else {
        out.push(format!(
            "{on}: every read of its files used O_DIRECT ({} reads), which bypasses the page cache: read_ahead_kb does not matter for them; leave it at {} KiB",
            thousands(v.direct_reads),
            v.current_ra_kb
        ));
        return out;
    };
    if v.kernel.pages_read == 0 && v.now.pages_read == 0 {
        out.push(format!(
            "{on}: keep read_ahead_kb at {} KiB: its files' {} reads found every page cached, nothing was read from disk",
            v.current_ra_kb,
            thousands(v.reads)
        ));
        return out;
    }
    // Mostly O_DIRECT: the setting reaches only the few buffered reads, which the decision says.
    let total = v.reads + v.direct_reads;
    let only = if v.direct_reads * 2 > total {
        format!(
            " ({:.1}% of the reads of its files used O_DIRECT and bypass readahead: this concerns the other {})",
            v.direct_reads as f64 * 100.0 / total as f64,
            thousands(v.reads)
        )
    } else {
        String::new()
    };
    out.push(if rec == v.current_ra_kb {
        format!("{on}: keep read_ahead_kb at {rec} KiB: no simulated setting waits less or reads less{only}")
    } else {
        format!("{on}: set read_ahead_kb to {rec} KiB (now {} KiB){only}", v.current_ra_kb)
    });
    let named: Vec<String> = v
        .files
        .iter()
        .take(3)
        .map(|f| {
            format!(
                "{} {:.0}%",
                short_path(&f.file),
                (f.reads + f.direct_reads) as f64 * 100.0 / total.max(1) as f64
            )
        })
        .collect();
    let more = v.files.len().saturating_sub(3);
    let mut files = format!(
        "files: {} ({}{}), {} reads",
        v.files.len(),
        named.join(", "),
        if more > 0 { format!(", {more} more") } else { String::new() },
        thousands(total)
    );
    if v.direct_reads > 0 {
        files.push_str(&format!(
            "; {:.1}% of them used O_DIRECT, which readahead does not apply to",
            v.direct_reads as f64 * 100.0 / total.max(1) as f64
        ));
    }
    out.push(files);
    if rec != v.current_ra_kb {
        let (a, b) = (&v.now, &v.then);
        out.push(format!(
            "predicted, {} -> {rec} KiB: pages read from disk {}, device requests {}, pages that reads waited for {}, read-ahead pages never used {}",
            v.current_ra_kb,
            change(a.pages_read, b.pages_read),
            change(a.read_ios, b.read_ios),
            change(a.waited, b.waited),
            change(a.wasted, b.wasted)
        ));
    } else {
        let a = &v.now;
        out.push(format!(
            "at {} KiB the model reads {} pages from disk in {} requests; reads waited for {} pages; {} pages read ahead were never used",
            v.current_ra_kb,
            thousands(a.pages_read),
            thousands(a.read_ios),
            thousands(a.waited),
            thousands(a.wasted)
        ));
    }
    if v.split.len() > 1 {
        // Files with under 1% of the reads say little: named together.
        let big: Vec<&(u64, f64)> = v.split.iter().filter(|(_, w)| *w >= 0.01).collect();
        let small: Vec<&(u64, f64)> = v.split.iter().filter(|(_, w)| *w < 0.01).collect();
        let mut parts: Vec<String> =
            big.iter().map(|(k, w)| format!("{k} KiB for {:.0}% of the reads", w * 100.0)).collect();
        if !small.is_empty() {
            let rest = small.iter().map(|(_, w)| w).sum::<f64>() * 100.0;
            let rest = if rest < 0.1 { "under 0.1%".to_string() } else { format!("{rest:.1}%") };
            parts.push(format!("other settings for the remaining {rest}"));
        }
        if big.len() > 1 || !small.is_empty() && !big.is_empty() {
            out.push(format!(
                "its files differ: each on its own would do best at {}; the device has one setting, chosen on their sum",
                parts.join(", ")
            ));
        }
    }
    let t = &v.trust;
    let decisions = match t.decisions_exact {
        Some(x) => format!(
            "reproduced {:.1}% of the kernel's {} readahead decisions exactly, ",
            x * 100.0,
            thousands(t.decisions)
        ),
        None => "had no readahead decisions to check (not recorded), ".to_string(),
    };
    out.push(format!(
        "trust: {} (at the recorded setting the model {decisions}pages read {:+.1}%, requests {:+.1}% against the kernel)",
        t.level,
        t.pages_read_error * 100.0,
        t.read_ios_error * 100.0
    ));
    let host = if memory.total_kb > 0 {
        format!(
            "the host had {} of memory, {} available and {} of page cache when recording started",
            gib(memory.total_kb),
            gib(memory.available_kb),
            gib(memory.page_cache_kb)
        )
    } else {
        "the trace does not record the host's memory".to_string()
    };
    out.push(if v.memory_tight {
        format!(
            "memory: tight ({host}; the simulated page cache of {} evicted pages read ahead before they were used): each wasted page counted as {:.2} of a device request",
            size(cache_pages.unwrap_or(0)),
            v.wasted_weight
        )
    } else {
        let cache = match cache_pages {
            Some(p) => format!("the simulated page cache of {} evicted unused read-ahead pages amounting to under 1% of what it read", size(p)),
            None => "the simulated page cache is unbounded, as the recording showed no real eviction".to_string(),
        };
        format!(
            "memory: not tight for these files ({host}; {cache}), so wasted readahead costs only disk time{}",
            if memory.total_kb == 0 { "; if the server's memory is tight, simulate with --cache-mb N, the page cache its files may use" } else { "" }
        )
    });
    if v.apply.is_some() {
        out.push(
            "an open file keeps the setting it was opened with: the change reaches InnoDB's files when the server reopens them (restart it)"
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ra_kb: u64, waited: u64, read_ios: u64, pages_read: u64, wasted: u64) -> Point {
        Point {
            ra_kb,
            reads: 100,
            pages_read,
            read_ios,
            pages_requested: 1000,
            waited,
            read_ahead: 0,
            wasted,
        }
    }

    #[test]
    fn waits_decide_first_then_requests_then_pages() {
        let pts = [p(32, 500, 400, 1000, 0), p(128, 100, 150, 1200, 50), p(512, 90, 40, 1800, 600)];
        // 512 waits least.
        assert_eq!(choose(&pts, 1, 0.0), 2);
        // Within 2% on waits: requests decide.
        let pts = [p(32, 100, 400, 1000, 0), p(128, 101, 150, 1200, 50), p(512, 100, 40, 1800, 600)];
        assert_eq!(choose(&pts, 1, 0.0), 2);
        // Ties everywhere: the recorded setting stays.
        let pts = [p(32, 100, 100, 1000, 0), p(128, 100, 100, 1000, 0)];
        assert_eq!(choose(&pts, 1, 0.0), 1);
        // Ties and the recorded one worse: the smallest of the best.
        let pts = [p(32, 100, 100, 1000, 0), p(64, 100, 100, 1000, 0), p(128, 300, 100, 1000, 0)];
        assert_eq!(choose(&pts, 2, 0.0), 0);
    }

    #[test]
    fn wasted_readahead_counts_only_when_memory_is_tight() {
        // Same waits; 512 saves 110 requests but wastes 2000 pages.
        let pts = [p(128, 100, 150, 1200, 50), p(512, 100, 40, 3000, 2000)];
        assert_eq!(choose(&pts, 0, 0.0), 1);
        // At 8 pages a request, 2000 wasted pages weigh 250 requests: 290 > 150.
        assert_eq!(choose(&pts, 0, 1.0 / 8.0), 0);
    }

    #[test]
    fn commands_set_the_disk_of_a_partition() {
        let c = commands("nvme0n1p2", "nvme0n1", 512);
        assert_eq!(c.now, "echo 512 > /sys/block/nvme0n1/queue/read_ahead_kb");
        assert_eq!(c.blockdev.as_deref(), Some("blockdev --setra 1024 /dev/nvme0n1p2"));
        let rule = c.udev_rule.unwrap_or_default();
        assert!(rule.contains("KERNEL==\"nvme0n1\"") && rule.contains("=\"512\""), "{rule}");
    }
}
