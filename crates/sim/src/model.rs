//! Linux readahead, decision for decision: what `filemap_read` does with a read (which pages it
//! finds, where it misses, which readahead marks it reaches) and what the readahead functions then
//! decide and insert. Two variants, chosen by the trace's kernel:
//!
//! - [`Variant::Split`] (6.11 and later, written after 6.18): `page_cache_sync_ra` and
//!   `page_cache_async_ra` decide separately; async windows ramp the folio order by 2 and end on
//!   an aligned boundary; sync windows start at order 0.
//! - [`Variant::Ondemand`] (up to 6.10, written after Debian's 6.1 and checked against it in a
//!   guest, crates/cli/tests/guest_kprobe.rs): one `ondemand_readahead` for both; a sync miss at
//!   the window's end also ramps; a window whose marker the read would reach at once is merged
//!   with the next one; `filemap_read` moves `prev_pos` as it copies each batch of up to 15
//!   folios (so a trigger inside a long read sees where that batch began), and
//!   `page_cache_next_miss` reports the last slot it looked at when it finds no gap.
//!
//! Indices are 4 KiB page indices and arithmetic wraps like the kernel's unsigned longs. Every
//! decision is logged as the kernel's tracepoints (or probes) report it: the trigger with the
//! state before it, then each window (`ra_order` with the decided window, `ra_unbounded` with the
//! pages to read and the lookahead).

use serde::Serialize;

use crate::cache::{Cache, Folio, Removed};

/// Which kernel's readahead the model follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Linux 6.10 and earlier: `ondemand_readahead`.
    Ondemand,
    /// Linux 6.11 and later: separate sync and async paths.
    Split,
}

impl Variant {
    /// The variant for a kernel release string such as `6.1.0-28-amd64` or `6.18.0`.
    pub fn for_release(release: &str) -> Variant {
        let (major, minor) = mysql_io_format::release_version(release);
        if (major.unwrap_or(6), minor.unwrap_or(11)) >= (6, 11) {
            Variant::Split
        } else {
            Variant::Ondemand
        }
    }
}

/// What the model needs to know of a file's device and filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Geometry {
    /// `bdi->io_pages`: the device's largest request (`max_sectors_kb / 4`).
    pub io_pages: u64,
    /// The mapping takes folios larger than a page (XFS; ext4 from 6.16).
    pub large_folios: bool,
    /// Largest folio order the mapping takes.
    pub max_order: u32,
}

/// A file description's readahead state (`struct file_ra_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RaState {
    /// First page of the current window.
    pub start: u64,
    /// Pages in the window.
    pub size: u64,
    /// Pages of the window left when the marker is reached.
    pub async_size: u64,
    /// Largest window (the device's read_ahead_kb / 4 when the file was opened).
    pub ra_pages: u64,
    /// Folio order of the last window (6.17 and later).
    pub order: u32,
    /// Byte after the last byte the previous read copied (-1: none yet).
    pub prev_pos: i64,
}

impl RaState {
    /// The state of a newly opened file.
    pub fn opened(ra_pages: u64) -> RaState {
        RaState { ra_pages, prev_pos: -1, ..RaState::default() }
    }
}

/// A readahead trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A page was missing (`page_cache_sync_ra`).
    Sync,
    /// A marked folio was reached (`page_cache_async_ra`).
    Async,
}

/// A window the readahead code decided to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// `page_cache_ra_order` (a decided window) or `page_cache_ra_unbounded` (pages to read as
    /// they are).
    pub unbounded: bool,
    /// First page.
    pub index: u64,
    /// Window size (`nr_to_read` for unbounded reads).
    pub size: u64,
    /// Async size (`lookahead_size` for unbounded reads).
    pub async_size: u64,
    /// Folio order as reported (`ra_order` only).
    pub order: u32,
}

/// One readahead decision: its trigger, the state before it, and the windows it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Sync or async.
    pub trigger: Trigger,
    /// Page index the trigger was for.
    pub index: u64,
    /// Pages the read still wanted (`req_count`).
    pub req: u64,
    /// The state before the decision.
    pub before: RaState,
    /// Windows, in order.
    pub windows: Vec<Window>,
}

/// Counters of one simulated file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Reads simulated.
    pub reads: u64,
    /// Pages those reads asked for (within the file).
    pub pages_requested: u64,
    /// Pages inserted into the cache, i.e. read from disk.
    pub pages_read: u64,
    /// Read requests to the device: contiguous runs of one submission, split at `io_pages`.
    pub read_ios: u64,
    /// Inserted pages a read was waiting for (in its range).
    pub demand_inserts: u64,
    /// Inserted pages beyond what the reading thread asked for.
    pub pages_read_ahead: u64,
    /// Read-ahead pages read later while cached.
    pub used: u64,
    /// Read-ahead pages evicted before being read.
    pub evicted_unused: u64,
    /// Sync triggers.
    pub sync_triggers: u64,
    /// Async triggers.
    pub async_triggers: u64,
    /// Windows (`ra_order` and `ra_unbounded`).
    pub windows: u64,
}

impl Counters {
    /// As [`PageFigures`](crate::PageFigures), with the read-ahead pages still unread at the end.
    pub fn figures(&self, unused_at_end: u64) -> crate::PageFigures {
        crate::PageFigures {
            sync_triggers: self.sync_triggers,
            async_triggers: self.async_triggers,
            windows: self.windows,
            window_pages: 0,
            pages_read: self.pages_read,
            read_ios: self.read_ios,
            pages_read_ahead: self.pages_read_ahead,
            used: self.used,
            evicted_unused: self.evicted_unused,
            unused_at_end,
            pages_requested: self.pages_requested,
            demand_inserts: self.demand_inserts,
            direct: false,
        }
    }
}

/// A file description being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// Its file (index into the simulation's files).
    pub file: u32,
    /// Readahead state.
    pub ra: RaState,
    /// `FMODE_RANDOM` (POSIX_FADV_RANDOM).
    pub random: bool,
}

/// The simulation of one setting: the cache, per-file counters, and optionally the decision log.
#[derive(Debug)]
pub struct Engine {
    pub(crate) cache: Cache,
    pub(crate) variant: Variant,
    /// Per file: geometry and size in bytes.
    pub(crate) files: Vec<(Geometry, u64)>,
    pub(crate) counters: Vec<Counters>,
    /// Per file, when logging: the decisions in order.
    pub(crate) log: Option<Vec<Vec<Decision>>>,
    /// The kernel has `page_cache_ra_order` (5.18, RHEL 9.1): before it, `ondemand_readahead`
    /// reads each window with `do_page_cache_ra` and the only window logged is the unbounded one.
    ra_order: bool,
    /// The read being served: file and its pages `first..end` (demand).
    demand: (u32, u64, u64),
    /// The submission being built: file, next page, pages so far.
    run: Option<(u32, u64, u64)>,
}

fn roundup_pow2(n: u64) -> u64 {
    n.max(1).next_power_of_two()
}

fn ilog2(n: u64) -> u32 {
    63 - n.max(1).leading_zeros()
}

fn init_size(req: u64, max: u64) -> u64 {
    let n = roundup_pow2(req);
    if n <= max / 32 {
        n * 4
    } else if n <= max / 4 {
        n * 2
    } else {
        max
    }
}

fn next_size(cur: u64, max: u64) -> u64 {
    if cur < max / 16 {
        4 * cur
    } else if cur <= max / 2 {
        2 * cur
    } else {
        max
    }
}

/// Folios `filemap_read` takes per batch in 6.1 (`PAGEVEC_SIZE`).
const OLD_BATCH: u64 = 15;

impl Engine {
    /// An engine for `files` (geometry, size in bytes); `capacity` bounds the cache (free mode).
    pub fn new(variant: Variant, files: Vec<(Geometry, u64)>, capacity: Option<u64>, log: bool) -> Self {
        let n = files.len();
        Engine {
            cache: Cache::new(n, capacity),
            variant,
            files,
            counters: vec![Counters::default(); n],
            log: log.then(|| vec![Vec::new(); n]),
            ra_order: true,
            demand: (u32::MAX, 0, 0),
            run: None,
        }
    }

    /// Whether the kernel modelled has `page_cache_ra_order` (true unless told otherwise).
    pub fn with_ra_order(mut self, ra_order: bool) -> Self {
        self.ra_order = ra_order;
        self
    }

    fn geo(&self, f: u32) -> Geometry {
        self.files[f as usize].0
    }

    fn isize(&self, f: u32) -> u64 {
        self.files[f as usize].1
    }

    /// `page_cache_next_miss`. Until 6.10 a walk that finds no gap reports the last slot it
    /// read, `index + n - 1`, one less than later kernels (which the cache model follows).
    fn next_miss(&self, f: u32, index: u64, n: u64) -> u64 {
        let miss = self.cache.file(f).next_miss(index, n);
        if self.variant == Variant::Ondemand && n > 0 && miss == index.wrapping_add(n) {
            miss.wrapping_sub(1)
        } else {
            miss
        }
    }

    fn log_decision(&mut self, f: u32, d: Decision) {
        match d.trigger {
            Trigger::Sync => self.counters[f as usize].sync_triggers += 1,
            Trigger::Async => self.counters[f as usize].async_triggers += 1,
        }
        if let Some(log) = &mut self.log {
            log[f as usize].push(d);
        }
    }

    fn log_window(&mut self, f: u32, w: Window) {
        self.counters[f as usize].windows += 1;
        if let Some(log) = &mut self.log {
            if let Some(d) = log[f as usize].last_mut() {
                d.windows.push(w);
            }
        }
    }

    /// Ends the submission being built (`read_pages`).
    fn submit(&mut self) {
        self.run = None;
    }

    /// Adds a folio unless a page of it is cached (`filemap_add_folio`'s EEXIST); counts it.
    fn add(&mut self, f: u32, index: u64, pages: u64, marker: bool) -> bool {
        if self.cache.file(f).any_present(index, pages) {
            return false;
        }
        // A folio the read being served does not touch is read ahead as a whole.
        let (df, first, end) = self.demand;
        let ahead = df != f || end <= index || first >= index + pages;
        let counters = &mut self.counters;
        self.cache.insert(f, index, pages, marker, ahead, &mut |g, r: Removed| {
            counters[g as usize].evicted_unused += r.ahead;
        });
        self.count_inserted(f, index, pages, ahead);
        true
    }

    /// [`Self::add`] of `pages` one-page folios from `index`, all missing (the caller checked),
    /// the one at `mark` (if inside) marked, when the cache has room for them all.
    fn add_pages(&mut self, f: u32, index: u64, pages: u64, mark: Option<u64>) {
        self.cache.insert_pages(f, index, pages, mark);
        self.count_inserted(f, index, pages, false);
    }

    /// Counts pages `index..index + pages` just inserted (`marked_ahead`: all marked read ahead
    /// already): read ahead or waited for, and the device requests they add to the submission
    /// being built.
    fn count_inserted(&mut self, f: u32, index: u64, pages: u64, marked_ahead: bool) {
        // Pages outside the read being served were read ahead.
        let io = self.geo(f).io_pages.max(1);
        let (df, first, end) = self.demand;
        let last = index + pages - 1;
        let (a, b) = if df == f { (first.max(index), (end.saturating_sub(1)).min(last)) } else { (1, 0) };
        let demand = if end > first && a <= b { b - a + 1 } else { 0 };
        let c = &mut self.counters[f as usize];
        c.pages_read += pages;
        c.demand_inserts += demand;
        c.pages_read_ahead += pages - demand;
        if demand < pages && !marked_ahead {
            let fc = self.cache.file_mut(f);
            if demand == 0 {
                fc.set_ahead(index, last);
            } else {
                if a > index {
                    fc.set_ahead(index, a - 1);
                }
                if b < last {
                    fc.set_ahead(b + 1, last);
                }
            }
        }
        // Device requests: contiguous pages of one submission, up to io_pages each.
        let c = &mut self.counters[f as usize];
        let ios = |n: u64| n.div_ceil(io);
        match self.run {
            Some((rf, next, len)) if rf == f && next == index => {
                c.read_ios += ios(len + pages) - ios(len);
                self.run = Some((f, index + pages, len + pages));
            }
            _ => {
                c.read_ios += ios(pages);
                self.run = Some((f, index + pages, pages));
            }
        }
    }

    /// `page_cache_ra_unbounded`: reads `nr` pages from `index` one by one, skipping cached ones,
    /// marking the page `lookahead` before the end.
    fn unbounded(&mut self, f: u32, index: u64, nr: u64, lookahead: u64) {
        self.log_window(f, Window { unbounded: true, index, size: nr, async_size: lookahead, order: 0 });
        let mark = (lookahead <= nr).then(|| nr - lookahead);
        if index.checked_add(nr).is_none() {
            for i in 0..nr {
                let page = index.wrapping_add(i);
                if self.cache.file(f).is_present(page) {
                    self.submit();
                    continue;
                }
                self.add(f, page, 1, mark == Some(i));
            }
        } else {
            // Each run of missing pages goes in at once, as the same one-page folios, when the
            // cache has room for all of them (else page by page, evicting as it goes).
            let mark = mark.map(|m| index + m);
            let mut page = index;
            while page < index + nr {
                let missing = self.cache.file(f).missing_run(page, index + nr - page);
                if missing == 0 {
                    self.submit();
                    page += 1;
                    continue;
                }
                if self.cache.has_room(missing) {
                    self.add_pages(f, page, missing, mark);
                } else {
                    for p in page..page + missing {
                        self.add(f, p, 1, mark == Some(p));
                    }
                }
                page += missing;
            }
        }
        self.submit();
    }

    /// `do_page_cache_ra`: [`Engine::unbounded`] within the file.
    fn do_ra(&mut self, f: u32, index: u64, nr: u64, lookahead: u64) {
        let isize = self.isize(f);
        if isize == 0 {
            return;
        }
        let end = (isize - 1) >> 12;
        if index > end {
            return;
        }
        let nr = if nr > end - index { end - index + 1 } else { nr };
        self.unbounded(f, index, nr, lookahead);
    }

    /// `force_page_cache_ra`: reads what was asked (capped), in 2 MiB chunks, no marker.
    fn force_ra(&mut self, s: &Stream, index: u64, nr: u64) {
        let max = self.geo(s.file).io_pages.max(s.ra.ra_pages);
        let mut left = nr.min(max);
        let mut index = index;
        while left > 0 {
            let chunk = left.min(512);
            self.do_ra(s.file, index, chunk, 0);
            index += chunk;
            left -= chunk;
        }
    }

    /// The window's largest size for a read wanting `req` pages (`ractl_max_pages`).
    fn max_pages(&self, s: &Stream, req: u64) -> u64 {
        let io = self.geo(s.file).io_pages;
        let m = s.ra.ra_pages;
        if req > m && io > m {
            req.min(io)
        } else {
            m
        }
    }

    // ---- 6.11 and later -------------------------------------------------------------------

    fn sync_split(&mut self, s: &mut Stream, index: u64, req: u64) {
        let f = s.file;
        let d = Decision { trigger: Trigger::Sync, index, req, before: s.ra, windows: Vec::new() };
        self.log_decision(f, d);
        let (mut req, mut forced) = (req, s.random);
        if s.ra.ra_pages == 0 {
            req = 1;
            forced = true;
        }
        if forced {
            self.force_ra(s, index, req);
            return;
        }
        let max = self.max_pages(s, req);
        let prev = (s.ra.prev_pos as u64) >> 12;
        let ra = &mut s.ra;
        if index == 0 || req > max || index.wrapping_sub(prev) <= 1 {
            ra.start = index;
            ra.size = init_size(req, max);
            ra.async_size = if ra.size > req { ra.size - req } else { ra.size >> 1 };
        } else {
            let miss = self.cache.file(f).prev_miss(index.wrapping_sub(1), max);
            let mut contig = index.wrapping_sub(miss).wrapping_sub(1);
            if contig <= req {
                self.do_ra(f, index, req, 0);
                return;
            }
            if miss == u64::MAX {
                contig = contig.wrapping_mul(2);
            }
            let ra = &mut s.ra;
            ra.start = index;
            ra.size = contig.wrapping_add(req).min(max);
            ra.async_size = 1;
        }
        s.ra.order = 0;
        self.ra_order_split(s);
    }

    fn async_split(&mut self, s: &mut Stream, folio: Folio, req: u64) {
        let f = s.file;
        if s.ra.ra_pages == 0 {
            return;
        }
        let index = folio.index;
        let d = Decision { trigger: Trigger::Async, index, req, before: s.ra, windows: Vec::new() };
        self.log_decision(f, d);
        self.cache.file_mut(f).clear_marker(index);
        let max = self.max_pages(s, req);
        let ra = s.ra;
        let expected = ra.start.wrapping_add(ra.size).wrapping_sub(ra.async_size) & !(folio.pages - 1);
        if index == expected {
            s.ra.start = ra.start.wrapping_add(ra.size);
            s.ra.size = ra.size.max(next_size(ra.size, max));
        } else {
            let start = self.next_miss(f, index.wrapping_add(1), max);
            if start == 0 || start.wrapping_sub(index) > max {
                return;
            }
            s.ra.start = start;
            s.ra.size = next_size(start.wrapping_sub(index).wrapping_add(req), max);
        }
        s.ra.order += 2;
        let align = 1u64 << s.ra.order.min(max.max(1).trailing_zeros());
        let end = s.ra.start.wrapping_add(s.ra.size);
        let aligned_end = end & !(align - 1);
        if aligned_end > s.ra.start {
            s.ra.size -= end - aligned_end;
        }
        s.ra.async_size = s.ra.size;
        self.ra_order_split(s);
    }

    /// `page_cache_ra_order` of 6.17 and later (the window in `s.ra`, from `s.ra.start`).
    fn ra_order_split(&mut self, s: &mut Stream) {
        let f = s.file;
        let start = s.ra.start;
        self.log_window(
            f,
            Window {
                unbounded: false,
                index: start,
                size: s.ra.size,
                async_size: s.ra.async_size,
                order: s.ra.order,
            },
        );
        let geo = self.geo(f);
        let mut index = start;
        let mut failed = true;
        if geo.large_folios {
            failed = false;
            let isize = self.isize(f);
            let limit = (isize.wrapping_sub(1) >> 12).min(start.wrapping_add(s.ra.size).wrapping_sub(1));
            let mark = start.wrapping_add(s.ra.size).wrapping_sub(s.ra.async_size);
            let order = geo.max_order.min(s.ra.order).min(ilog2(s.ra.size));
            s.ra.order = order;
            // When every page of the window is missing and the cache has room for them all, no
            // folio can fail or evict: they go in without the checks, and are counted at once.
            let total = if index <= limit { limit - index + 1 } else { 0 };
            let clear = total > 0
                && self.cache.has_room(total)
                && self.cache.file(f).missing_run(index, total) == total;
            if clear && order == 0 {
                self.cache.insert_pages(f, index, total, Some(mark));
                index += total;
            }
            while index <= limit {
                let mut k = order;
                if index & ((1u64 << k) - 1) != 0 {
                    k = index.trailing_zeros();
                }
                while k > 0 && index + (1u64 << k) - 1 > limit {
                    k -= 1;
                }
                let n = 1u64 << k;
                let marked = index == mark & !(n - 1);
                if clear {
                    self.cache.insert(f, index, n, marked, false, &mut |_, _| {});
                } else if !self.add(f, index, n, marked) {
                    failed = true;
                    break;
                }
                index += n;
            }
            if clear {
                self.count_inserted(f, start, total, false);
            }
            self.submit();
        } else {
            s.ra.order = 0;
        }
        if failed && s.ra.size > index - start {
            self.do_ra(f, index, s.ra.size - (index - start), s.ra.async_size);
        }
    }

    // ---- 6.10 and earlier ------------------------------------------------------------------

    fn sync_ondemand(&mut self, s: &mut Stream, index: u64, req: u64) {
        let d = Decision { trigger: Trigger::Sync, index, req, before: s.ra, windows: Vec::new() };
        self.log_decision(s.file, d);
        let (mut req, mut forced) = (req, s.random);
        if s.ra.ra_pages == 0 {
            req = 1;
            forced = true;
        }
        if forced {
            self.force_ra(s, index, req);
            return;
        }
        self.ondemand(s, None, index, req);
    }

    fn async_ondemand(&mut self, s: &mut Stream, folio: Folio, req: u64) {
        // The probe sits at the function's entry, before its early returns.
        let d =
            Decision { trigger: Trigger::Async, index: folio.index, req, before: s.ra, windows: Vec::new() };
        self.log_decision(s.file, d);
        if s.ra.ra_pages == 0 {
            return;
        }
        self.cache.file_mut(s.file).clear_marker(folio.index);
        self.ondemand(s, Some(folio), folio.index, req);
    }

    fn ondemand(&mut self, s: &mut Stream, folio: Option<Folio>, index: u64, req: u64) {
        let f = s.file;
        let max = self.max_pages(s, req);
        let order = folio.map_or(0, |x| ilog2(x.pages));
        let initial = 'decide: {
            if index == 0 {
                break 'decide true;
            }
            let ra = s.ra;
            let expected =
                ra.start.wrapping_add(ra.size).wrapping_sub(ra.async_size) & !((1u64 << order) - 1);
            if index == expected || index == ra.start.wrapping_add(ra.size) {
                s.ra.start = ra.start.wrapping_add(ra.size);
                s.ra.size = ra.size.max(next_size(ra.size, max));
                s.ra.async_size = s.ra.size;
                break 'decide false;
            }
            if folio.is_some() {
                let start = self.next_miss(f, index.wrapping_add(1), max);
                if start == 0 || start.wrapping_sub(index) > max {
                    return;
                }
                s.ra.start = start;
                s.ra.size = next_size(start.wrapping_sub(index).wrapping_add(req), max);
                s.ra.async_size = s.ra.size;
                break 'decide false;
            }
            if req > max {
                break 'decide true;
            }
            let prev = (s.ra.prev_pos as u64) >> 12;
            if index.wrapping_sub(prev) <= 1 {
                break 'decide true;
            }
            // Context readahead: pages a sequential stream would have left behind.
            let head = self.cache.file(f).prev_miss(index.wrapping_sub(1), max);
            let mut size = index.wrapping_sub(1).wrapping_sub(head);
            if size <= req {
                self.do_ra(f, index, req, 0);
                return;
            }
            if size >= index {
                size = size.wrapping_mul(2);
            }
            s.ra.start = index;
            s.ra.size = size.wrapping_add(req).min(max);
            s.ra.async_size = 1;
            false
        };
        if initial {
            s.ra.start = index;
            s.ra.size = init_size(req, max);
            s.ra.async_size = if s.ra.size > req { s.ra.size - req } else { s.ra.size };
        }
        // A window whose marker this very read would reach is merged with the next one.
        if index == s.ra.start && s.ra.size == s.ra.async_size {
            let add = next_size(s.ra.size, max);
            if s.ra.size + add <= max {
                s.ra.async_size = add;
                s.ra.size += add;
            } else {
                s.ra.size = max;
                s.ra.async_size = max >> 1;
            }
        }
        self.ra_order_ondemand(s, order);
    }

    /// `page_cache_ra_order` of 6.1 (the window in `s.ra`; `new_order` is the folio's order).
    fn ra_order_ondemand(&mut self, s: &mut Stream, new_order: u32) {
        let f = s.file;
        if !self.ra_order {
            // Before 5.18: `ra_submit`, the window read as it is, in single pages.
            self.do_ra(f, s.ra.start, s.ra.size, s.ra.async_size);
            return;
        }
        let start = s.ra.start;
        self.log_window(
            f,
            Window {
                unbounded: false,
                index: start,
                size: s.ra.size,
                async_size: s.ra.async_size,
                order: new_order,
            },
        );
        let geo = self.geo(f);
        let mut index = start;
        if geo.large_folios && s.ra.size >= 4 {
            let isize = self.isize(f);
            let limit = (isize.wrapping_sub(1) >> 12).min(start.wrapping_add(s.ra.size).wrapping_sub(1));
            let mark = start.wrapping_add(s.ra.size).wrapping_sub(s.ra.async_size);
            let mut order = new_order;
            if order < geo.max_order {
                order = (order + 2).min(geo.max_order);
                while (1u64 << order) > s.ra.size {
                    order -= 1;
                }
            }
            let mut failed = false;
            while index <= limit {
                let mut k = order;
                if index & ((1u64 << k) - 1) != 0 {
                    k = index.trailing_zeros();
                    if k == 1 {
                        k = 0;
                    }
                }
                while index + (1u64 << k) - 1 > limit {
                    k -= 1;
                    if k == 1 {
                        k = 0;
                    }
                }
                let n = 1u64 << k;
                if !self.add(f, index, n, index == mark & !(n - 1)) {
                    failed = true;
                    break;
                }
                index += n;
            }
            if index > limit {
                s.ra.size += index - limit - 1;
                s.ra.async_size += index - limit - 1;
            }
            self.submit();
            if !failed {
                return;
            }
        }
        self.do_ra(f, index, s.ra.size, s.ra.async_size);
    }

    // ---- reads -----------------------------------------------------------------------------

    fn sync_ra(&mut self, s: &mut Stream, index: u64, req: u64) {
        match self.variant {
            Variant::Split => self.sync_split(s, index, req),
            Variant::Ondemand => self.sync_ondemand(s, index, req),
        }
    }

    fn async_ra(&mut self, s: &mut Stream, folio: Folio, req: u64) {
        match self.variant {
            Variant::Split => self.async_split(s, folio, req),
            Variant::Ondemand => self.async_ondemand(s, folio, req),
        }
    }

    /// A buffered read of `count` bytes at `pos` on `s` that copied `copied` bytes (what
    /// `filemap_read` does: find the pages, readahead where they miss or a mark is reached,
    /// create the page the readahead did not bring, copy).
    pub fn read(&mut self, s: &mut Stream, pos: u64, count: u64, copied: u64) {
        self.read_start(s, pos, count, copied);
        if copied > 0 && pos < self.isize(s.file) {
            self.read_done(s, pos + copied.min(count));
        }
    }

    /// A read on `s` returned, having copied up to byte `end`: the description's `prev_pos`
    /// (capped at the end of the file).
    pub fn read_done(&self, s: &mut Stream, end: u64) {
        s.ra.prev_pos = end.min(self.isize(s.file)) as i64;
    }

    /// [`Self::read`] without its end: the description's `prev_pos` is left for the caller to
    /// set when the read returns (other threads' reads on the description may come first).
    pub fn read_start(&mut self, s: &mut Stream, pos: u64, count: u64, copied: u64) {
        let f = s.file;
        let isize = self.isize(f);
        if count == 0 || pos >= isize {
            return;
        }
        let first = pos >> 12;
        let last = (pos + count).div_ceil(4096); // the page after the read
        let end_byte = (pos + copied.min(count)).min(isize);
        let end = end_byte.div_ceil(4096); // the page after what was copied
        self.counters[f as usize].reads += 1;
        self.counters[f as usize].pages_requested += end.saturating_sub(first);
        // Most reads find their pages cached and unmarked: nothing to decide. (Until 6.10 a read
        // of more than a batch also moves `prev_pos` as it goes: those take the long way.)
        let batches = self.variant == Variant::Ondemand;
        if end > first && (!batches || end - first <= OLD_BATCH) {
            if let Some(used) = self.cache.file_mut(f).plain_hit(first, end - 1) {
                self.counters[f as usize].used += used;
                return;
            }
        }
        self.demand = (f, first, end);
        let mut page = first;
        // Until 6.10 `filemap_read` sets `prev_pos` after each folio it copies, and the
        // triggers come at the start of a batch (a miss) or at its last folio (the marked one,
        // which ends a batch): a trigger inside a long read sees where its batch began. Folios
        // left in the batch being copied (0: the next folio starts one).
        let mut left = 0u64;
        while page < end {
            let missing = !self.cache.file(f).is_present(page);
            if batches && (left == 0 || missing) {
                if page > first {
                    s.ra.prev_pos = (page << 12) as i64;
                }
                left = OLD_BATCH;
            }
            if missing {
                self.sync_ra(s, page, last - page);
                if !self.cache.file(f).is_present(page) {
                    // No readahead brought it: the page is read on its own.
                    self.add(f, page, 1, false);
                    self.submit();
                }
            }
            let Some(folio) = self.cache.file(f).folio(page) else { break };
            let marked = self.cache.file(f).has_marker(folio.index);
            if marked {
                self.async_ra(s, folio, last - folio.index);
            }
            let stop = (folio.index + folio.pages).min(end);
            let used = self.cache.file_mut(f).access(page, stop - 1);
            self.counters[f as usize].used += used;
            page = stop;
            left = if marked { 0 } else { left.saturating_sub(1) };
        }
        self.demand = (u32::MAX, 0, 0);
    }

    /// `posix_fadvise(WILLNEED)` or `readahead(2)` on `offset..offset + len` (0: to the end).
    pub fn willneed(&mut self, s: &Stream, offset: u64, len: u64) {
        let first = offset >> 12;
        let pages = if len == 0 { u64::MAX } else { ((offset + len - 1) >> 12) - first + 1 };
        self.force_ra(s, first, pages);
    }

    /// Pages `first..=last` of a file leave the cache (a recorded deletion, a DONTNEED).
    pub fn remove(&mut self, f: u32, first: u64, last: u64) {
        let r = self.cache.remove(f, first, last);
        self.counters[f as usize].evicted_unused += r.ahead;
    }

    /// A page cached by something the model does not follow (a recorded insert in oracle mode,
    /// a page cached before the trace): it takes room, and was not read ahead.
    pub fn external(&mut self, f: u32, index: u64, pages: u64) {
        if pages == 1 {
            self.cache.preload(f, index);
        } else if !self.cache.file(f).any_present(index, pages) {
            let counters = &mut self.counters;
            self.cache.insert(f, index, pages, false, false, &mut |g, r: Removed| {
                counters[g as usize].evicted_unused += r.ahead;
            });
        }
    }

    /// Pages `index..index + pages` were cached before the trace, each a folio of its own, in
    /// this order (those cached already are skipped): they take room, and were not read ahead.
    pub fn cached_before(&mut self, f: u32, index: u64, pages: u64) {
        let end = index.saturating_add(pages);
        let mut p = index;
        while p < end {
            let missing = self.cache.file(f).missing_run(p, end - p);
            if missing == 0 {
                p += 1;
            } else if self.cache.has_room(missing) {
                self.cache.insert_pages(f, p, missing, None);
                p += missing;
            } else {
                self.cache.preload(f, p);
                p += 1;
            }
        }
    }

    /// The folio starting at `head` carries the readahead mark (one cached before the trace).
    pub fn mark(&mut self, f: u32, head: u64) {
        self.cache.file_mut(f).set_marker(head);
    }

    /// Read-ahead pages still unread, per file (at the end of the run).
    pub fn unused(&self) -> Vec<u64> {
        self.cache.files.iter().map(|c| c.ahead_pages()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One 16 MiB file on a device taking 1280 KiB requests.
    fn engine(variant: Variant, large_folios: bool) -> Engine {
        let geo = Geometry { io_pages: 320, large_folios, max_order: 9 };
        Engine::new(variant, vec![(geo, 16 << 20)], None, true)
    }

    fn stream(ra_pages: u64) -> Stream {
        Stream { file: 0, ra: RaState::opened(ra_pages), random: false }
    }

    /// (trigger, index, windows as (index, size, async size, order)).
    type Seen = Vec<(Trigger, u64, Vec<(u64, u64, u64, u32)>)>;

    fn decisions(e: &Engine) -> Seen {
        e.log.as_ref().expect("logging")[0]
            .iter()
            .map(|d| {
                (
                    d.trigger,
                    d.index,
                    d.windows.iter().map(|w| (w.index, w.size, w.async_size, w.order)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn sequential_4k_reads_ramp_like_the_recorded_kernel() {
        // Recorded on Linux 6.18, ext4 with large folios, read_ahead_kb 128: 4 KiB reads from
        // page 0 (trace of the xarray-walk experiment, docs/simulate.md).
        let mut e = engine(Variant::Split, true);
        let mut s = stream(32);
        for i in 0..100 {
            e.read(&mut s, i * 4096, 4096, 4096);
        }
        use Trigger::{Async as A, Sync as S};
        let want: Seen = vec![
            (S, 0, vec![(0, 4, 3, 0)]),
            (A, 1, vec![(4, 8, 8, 2)]),
            (A, 4, vec![(12, 4, 4, 4)]),
            (A, 12, vec![(16, 8, 8, 4)]),
            (A, 16, vec![(24, 8, 8, 5)]),
            (A, 24, vec![(32, 16, 16, 5)]),
            (A, 32, vec![(48, 16, 16, 6)]),
            (A, 48, vec![(64, 32, 32, 6)]),
            (A, 64, vec![(96, 32, 32, 7)]),
            (A, 96, vec![(128, 32, 32, 7)]),
        ];
        assert_eq!(decisions(&e), want);
        assert_eq!(e.counters[0].pages_read, 160);
        assert_eq!(e.counters[0].reads, 100);
    }

    #[test]
    fn before_page_cache_ra_order_windows_are_read_as_decided() {
        // Kernels before 5.18 decide the same windows and read them with do_page_cache_ra alone:
        // only unbounded windows are logged, even on a filesystem that would take large folios.
        let mut with = engine(Variant::Ondemand, false);
        let mut without = Engine::new(
            Variant::Ondemand,
            vec![(Geometry { io_pages: 320, large_folios: true, max_order: 9 }, 16 << 20)],
            None,
            true,
        )
        .with_ra_order(false);
        let (mut s1, mut s2) = (stream(32), stream(32));
        for i in 0..16 {
            with.read(&mut s1, i * 16384, 16384, 16384);
            without.read(&mut s2, i * 16384, 16384, 16384);
        }
        type Unbounded = Vec<(Trigger, u64, Vec<(u64, u64, u64)>)>;
        let unbounded = |e: &Engine| -> Unbounded {
            e.log.as_ref().expect("logging")[0]
                .iter()
                .map(|d| {
                    let w = d.windows.iter().filter(|w| w.unbounded).map(|w| (w.index, w.size, w.async_size));
                    (d.trigger, d.index, w.collect())
                })
                .collect()
        };
        let log = &without.log.as_ref().expect("logging")[0];
        assert!(log.iter().flat_map(|d| &d.windows).all(|w| w.unbounded && w.order == 0), "{log:?}");
        assert_eq!(unbounded(&without), unbounded(&with));
        assert_eq!(without.counters[0].windows * 2, with.counters[0].windows);
        assert_eq!(without.counters[0].pages_read, 120);
        assert_eq!(without.counters[0].read_ios, 5);
    }

    #[test]
    fn sequential_16k_reads_without_large_folios_on_both_variants() {
        // Page-sized folios: the window goes 8 (async 4), 16, 32, then 32 every 8 reads; each
        // decided window is read as it is (page_cache_ra_order falls back to the unbounded read).
        for variant in [Variant::Split, Variant::Ondemand] {
            let mut e = engine(variant, false);
            let mut s = stream(32);
            for i in 0..16 {
                e.read(&mut s, i * 16384, 16384, 16384);
            }
            let log = &e.log.as_ref().expect("logging")[0];
            let decided: Vec<(u64, u64, u64)> = log
                .iter()
                .flat_map(|d| &d.windows)
                .filter(|w| !w.unbounded)
                .map(|w| (w.index, w.size, w.async_size))
                .collect();
            let read: Vec<(u64, u64)> = log
                .iter()
                .flat_map(|d| &d.windows)
                .filter(|w| w.unbounded)
                .map(|w| (w.index, w.size))
                .collect();
            let want = [(0, 8, 4), (8, 16, 16), (24, 32, 32), (56, 32, 32), (88, 32, 32)];
            assert_eq!(decided, want, "{variant:?}");
            assert_eq!(read, want.map(|w| (w.0, w.1)), "{variant:?}");
            // 120 pages read in 5 submissions; only the first read's 4 pages were waited for.
            let c = e.counters[0];
            assert_eq!((c.pages_read, c.read_ios, c.demand_inserts), (120, 5, 4), "{variant:?}");
        }
    }

    #[test]
    fn ondemand_one_mib_reads_see_prev_pos_move_batch_by_batch() {
        // Recorded on Debian's 6.1 (guest_kprobe.rs), ext4 on virtio, read_ahead_kb 128: 1 MiB
        // reads from page 0. The first read's async trigger, at page 128, comes in its ninth
        // batch of 15 folios, when prev_pos is the start of that batch (page 120); the next
        // ones come at the start of a read and see the previous read's end.
        let mut e = engine(Variant::Ondemand, false);
        let mut s = stream(32);
        for i in 0..3 {
            e.read(&mut s, i << 20, 1 << 20, 1 << 20);
        }
        let log = &e.log.as_ref().expect("logging")[0];
        let seen: Vec<(Trigger, u64, u64, i64)> =
            log.iter().map(|d| (d.trigger, d.index, d.req, d.before.prev_pos)).collect();
        use Trigger::{Async as A, Sync as S};
        assert_eq!(
            seen,
            [(S, 0, 256, -1), (A, 128, 128, 120 * 4096), (A, 256, 256, 1 << 20), (A, 512, 256, 2 << 20)]
        );
        assert_eq!(
            log[1].windows[0],
            Window { unbounded: false, index: 256, size: 256, async_size: 256, order: 0 }
        );
        // The split variant (6.11+) sets prev_pos once a read is done.
        let mut e = engine(Variant::Split, false);
        let mut s = stream(32);
        e.read(&mut s, 0, 1 << 20, 1 << 20);
        let log = &e.log.as_ref().expect("logging")[0];
        assert_eq!(log[1].before.prev_pos, -1);
    }

    #[test]
    fn ondemand_next_miss_without_a_gap_reports_the_last_slot() {
        // A marked page 99 followed by 32 cached pages, reached without readahead state: 6.1's
        // page_cache_next_miss(100, 32) finds no gap and says 131, which is 32 pages on, so a
        // window starts there (decided, then read as it is); later kernels say 132, too far,
        // and decide nothing.
        for (variant, want) in [(Variant::Ondemand, vec![(131, 32, 32, 0); 2]), (Variant::Split, vec![])] {
            let mut e = engine(variant, false);
            for p in 99..132 {
                e.external(0, p, 1);
            }
            e.mark(0, 99);
            let mut s = stream(32);
            e.read(&mut s, 99 * 4096, 4096, 4096);
            assert_eq!(decisions(&e), [(Trigger::Async, 99, want)], "{variant:?}");
        }
    }

    #[test]
    fn read_ahead_kb_zero_reads_each_missing_page_on_its_own() {
        let mut e = engine(Variant::Split, false);
        let mut s = stream(0);
        e.read(&mut s, 40960, 16384, 16384);
        let d = decisions(&e);
        assert_eq!(
            d.iter().map(|d| (d.0, d.1)).collect::<Vec<_>>(),
            [10, 11, 12, 13].map(|i| (Trigger::Sync, i))
        );
        let c = e.counters[0];
        assert_eq!((c.pages_read, c.read_ios, c.pages_read_ahead), (4, 4, 0));
    }

    #[test]
    fn fadv_random_reads_exactly_the_request() {
        let mut e = engine(Variant::Split, false);
        let mut s = Stream { random: true, ..stream(32) };
        e.read(&mut s, 409600, 16384, 16384);
        assert_eq!(decisions(&e), [(Trigger::Sync, 100, vec![(100, 4, 0, 0)])]);
        let c = e.counters[0];
        assert_eq!((c.pages_read, c.read_ios, c.pages_read_ahead), (4, 1, 0));
    }
}
