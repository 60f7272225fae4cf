//! The simulated page cache: per file, which pages are cached, how they group into folios, which
//! folio carries the readahead mark (`PG_readahead`), which pages were read ahead and not read
//! yet, and which were read since the eviction clock last passed.
//!
//! Pages are kept as bits in 64-page blocks. A folio is a run of present pages starting at a page
//! whose `head` bit is set and ending before the next head or the first missing page, so a folio's
//! size never needs storing. Eviction (free mode) is a CLOCK over folios in insertion order: a
//! folio read since the hand last passed gets a second chance, others go. Linux keeps two LRU
//! lists with the same intent (pages read once go before pages read again); CLOCK is its usual
//! cheap stand-in.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

const BLOCK: u64 = 64;

/// Bits `lo..=hi` of a block.
pub(crate) fn bits(lo: u64, hi: u64) -> u64 {
    debug_assert!(lo <= hi && hi < BLOCK);
    (u64::MAX >> (63 - (hi - lo))) << lo
}

#[derive(Debug, Default, Clone, Copy)]
struct Block {
    present: u64,
    head: u64,
    marker: u64,
    ahead: u64,
    referenced: u64,
}

/// Blocks per leaf of [`Blocks`]: 4096 pages, 16 MiB of file.
const LEAF: u64 = 64;
/// Leaves kept in the table (files up to 16 TiB); blocks further out go to a hash map.
const MAX_LEAVES: u64 = 1 << 20;

/// One file's blocks: a table of 64-block leaves allocated as pages arrive (a lookup is two
/// indexings, no hashing), with a hash map for page indices beyond 16 TiB.
#[derive(Debug, Default, Clone)]
struct Blocks {
    leaves: Vec<Option<Box<[Block; LEAF as usize]>>>,
    far: FxHashMap<u64, Block>,
}

impl Blocks {
    #[inline]
    fn get(&self, b: u64) -> Block {
        let l = b / LEAF;
        if l >= MAX_LEAVES {
            return self.far.get(&b).copied().unwrap_or_default();
        }
        match self.leaves.get(l as usize) {
            Some(Some(leaf)) => leaf[(b % LEAF) as usize],
            _ => Block::default(),
        }
    }

    #[inline]
    fn get_mut(&mut self, b: u64) -> Option<&mut Block> {
        let l = b / LEAF;
        if l >= MAX_LEAVES {
            return self.far.get_mut(&b);
        }
        match self.leaves.get_mut(l as usize) {
            Some(Some(leaf)) => Some(&mut leaf[(b % LEAF) as usize]),
            _ => None,
        }
    }

    #[inline]
    fn entry(&mut self, b: u64) -> &mut Block {
        let l = (b / LEAF) as usize;
        if !self.leaves.get(l).is_some_and(Option::is_some) {
            return self.new_entry(b);
        }
        match &mut self.leaves[l] {
            Some(leaf) => &mut leaf[(b % LEAF) as usize],
            None => unreachable!("checked above"),
        }
    }

    /// [`Self::entry`] when its leaf is missing.
    #[cold]
    fn new_entry(&mut self, b: u64) -> &mut Block {
        let l = b / LEAF;
        if l >= MAX_LEAVES {
            return self.far.entry(b).or_default();
        }
        let l = l as usize;
        if self.leaves.len() <= l {
            self.leaves.resize_with(l + 1, || None);
        }
        &mut self.leaves[l].get_or_insert_with(|| Box::new([Block::default(); LEAF as usize]))
            [(b % LEAF) as usize]
    }

    fn values(&self) -> impl Iterator<Item = &Block> {
        self.leaves.iter().flatten().flat_map(|l| l.iter()).chain(self.far.values())
    }
}

/// Splits `first..=last` into per-block pieces: (block, lo bit, hi bit).
pub(crate) fn pieces(first: u64, last: u64) -> impl Iterator<Item = (u64, u64, u64)> {
    (first / BLOCK..=last / BLOCK).map(move |b| {
        let lo = first.max(b * BLOCK) - b * BLOCK;
        let hi = last.min(b * BLOCK + BLOCK - 1) - b * BLOCK;
        (b, lo, hi)
    })
}

/// Slots in a node of the page cache's xarray, and the bits of an index each level takes.
const XA_CHUNK: u64 = 64;
const XA_SHIFT: u32 = 6;

/// The index bits below a node at `shift` (its range less one).
fn node_mask(shift: u32) -> u64 {
    if shift + XA_SHIFT >= 64 {
        u64::MAX
    } else {
        (1u64 << (shift + XA_SHIFT)) - 1
    }
}

/// An xarray slot's content, as a walk sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum XaEntry {
    Empty,
    /// A folio, or a slot pointing to the folio's first slot.
    Folio,
    Node,
}

/// Where an xarray walk (`struct xa_state`) stands: the index it reports, and the slot it is
/// on (`offset` in the node at `shift` whose range starts at `base`), which need not agree.
#[derive(Debug, Clone, Copy)]
struct XaWalk {
    index: u64,
    shift: u32,
    base: u64,
    offset: i64,
}

/// A folio: its first page and its number of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Folio {
    pub(crate) index: u64,
    pub(crate) pages: u64,
}

/// What leaving the cache took away.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Removed {
    /// Pages removed.
    pub(crate) pages: u64,
    /// Of those, pages read ahead and never read.
    pub(crate) ahead: u64,
}

/// One file's cached pages.
#[derive(Debug, Default, Clone)]
pub(crate) struct FileCache {
    blocks: Blocks,
}

impl FileCache {
    #[inline]
    fn block(&self, b: u64) -> Block {
        self.blocks.get(b)
    }

    #[inline]
    pub(crate) fn is_present(&self, page: u64) -> bool {
        self.block(page / BLOCK).present >> (page % BLOCK) & 1 == 1
    }

    /// Whether any page of `first..first + n` is cached.
    pub(crate) fn any_present(&self, first: u64, n: u64) -> bool {
        n > 0 && pieces(first, first + n - 1).any(|(b, lo, hi)| self.block(b).present & bits(lo, hi) != 0)
    }

    /// The folio holding `page`, if cached.
    pub(crate) fn folio(&self, page: u64) -> Option<Folio> {
        if !self.is_present(page) {
            return None;
        }
        // The head: the nearest head bit at or before `page` (a folio's pages are all present).
        let index;
        let mut b = page / BLOCK;
        let mut upto = page % BLOCK;
        loop {
            let blk = self.block(b);
            let heads = blk.head & bits(0, upto);
            if heads != 0 {
                index = b * BLOCK + 63 - u64::from(heads.leading_zeros());
                break;
            }
            // No head in this block: the folio started earlier, unless the block's first page is
            // missing (a head is always set on insertion; be safe on inconsistent input).
            if b == 0 || blk.present & 1 == 0 {
                index = b * BLOCK;
                break;
            }
            b -= 1;
            upto = BLOCK - 1;
        }
        // The end: the next head or missing page after the head.
        let mut end = index + 1;
        loop {
            let (b, bit) = (end / BLOCK, end % BLOCK);
            let blk = self.block(b);
            let stop = (blk.head | !blk.present) & (u64::MAX << bit);
            if stop != 0 {
                end = b * BLOCK + u64::from(stop.trailing_zeros());
                break;
            }
            end = (b + 1) * BLOCK;
        }
        Some(Folio { index, pages: end - index })
    }

    /// Caches pages `index..index + pages` as one folio (the caller checked they were missing).
    pub(crate) fn insert(&mut self, index: u64, pages: u64, marker: bool, ahead: bool) {
        let last = index + pages - 1;
        let (b, lo, hi) = (index / BLOCK, index % BLOCK, last % BLOCK);
        if last / BLOCK == b && hi < BLOCK - 1 {
            // Within one block, and so is the page after it.
            let m = bits(lo, hi);
            let blk = self.blocks.entry(b);
            blk.present |= m;
            blk.head = blk.head & !m | 1 << lo;
            blk.marker = blk.marker & !m | u64::from(marker) << lo;
            blk.referenced &= !m;
            blk.ahead = if ahead { blk.ahead | m } else { blk.ahead & !m };
            // A folio ends where the next one starts.
            blk.head |= blk.present & 1 << (hi + 1);
            return;
        }
        for (b, lo, hi) in pieces(index, last) {
            let m = bits(lo, hi);
            let blk = self.blocks.entry(b);
            blk.present |= m;
            blk.head &= !m;
            blk.marker &= !m;
            blk.referenced &= !m;
            if ahead {
                blk.ahead |= m;
            } else {
                blk.ahead &= !m;
            }
        }
        let blk = self.blocks.entry(index / BLOCK);
        blk.head |= 1 << (index % BLOCK);
        if marker {
            blk.marker |= 1 << (index % BLOCK);
        }
        // A folio ends where the next one starts.
        let next = last + 1;
        if self.is_present(next) {
            self.blocks.entry(next / BLOCK).head |= 1 << (next % BLOCK);
        }
    }

    /// Caches pages `index..index + pages` as one-page folios (the caller checked they were
    /// missing), the one at `mark` (if among them) marked, none read ahead yet.
    pub(crate) fn insert_pages(&mut self, index: u64, pages: u64, mark: Option<u64>) {
        let last = index + pages - 1;
        for (b, lo, hi) in pieces(index, last) {
            let m = bits(lo, hi);
            let blk = self.blocks.entry(b);
            blk.present |= m;
            blk.head |= m;
            blk.marker &= !m;
            blk.referenced &= !m;
            blk.ahead &= !m;
        }
        if let Some(p) = mark.filter(|p| (index..=last).contains(p)) {
            self.blocks.entry(p / BLOCK).marker |= 1 << (p % BLOCK);
        }
        let next = last + 1;
        if self.is_present(next) {
            self.blocks.entry(next / BLOCK).head |= 1 << (next % BLOCK);
        }
    }

    /// How many pages from `page` on (at most `n`) are missing, one after another.
    pub(crate) fn missing_run(&self, page: u64, n: u64) -> u64 {
        let mut p = page;
        let end = page + n;
        while p < end {
            let (b, bit) = (p / BLOCK, p % BLOCK);
            let here = self.block(b).present >> bit;
            if here != 0 {
                return (p + u64::from(here.trailing_zeros())).min(end) - page;
            }
            p = (b + 1) * BLOCK;
        }
        n
    }

    /// Removes pages `first..=last` (a deleted folio, or a range being dropped).
    pub(crate) fn remove(&mut self, first: u64, last: u64) -> Removed {
        let mut out = Removed::default();
        for (b, lo, hi) in pieces(first, last) {
            let m = bits(lo, hi);
            if let Some(blk) = self.blocks.get_mut(b) {
                out.pages += u64::from((blk.present & m).count_ones());
                out.ahead += u64::from((blk.ahead & blk.present & m).count_ones());
                blk.present &= !m;
                blk.head &= !m;
                blk.marker &= !m;
                blk.ahead &= !m;
                blk.referenced &= !m;
            }
        }
        // What is left of a folio cut in two starts a folio of its own.
        let next = last.wrapping_add(1);
        if next != 0 && self.is_present(next) {
            self.blocks.entry(next / BLOCK).head |= 1 << (next % BLOCK);
        }
        out
    }

    /// Marks pages `first..=last` as read ahead (not asked for by the read that brought them).
    pub(crate) fn set_ahead(&mut self, first: u64, last: u64) {
        for (b, lo, hi) in pieces(first, last) {
            if let Some(blk) = self.blocks.get_mut(b) {
                blk.ahead |= bits(lo, hi) & blk.present;
            }
        }
    }

    /// Whether the folio starting at `head` carries the readahead mark.
    pub(crate) fn has_marker(&self, head: u64) -> bool {
        self.block(head / BLOCK).marker >> (head % BLOCK) & 1 == 1
    }

    /// Sets the readahead mark on the folio starting at `head`, if cached.
    pub(crate) fn set_marker(&mut self, head: u64) {
        if let Some(blk) = self.blocks.get_mut(head / BLOCK) {
            let bit = 1 << (head % BLOCK);
            if blk.present & blk.head & bit != 0 {
                blk.marker |= bit;
            }
        }
    }

    /// Clears the readahead mark of the folio starting at `head`.
    pub(crate) fn clear_marker(&mut self, head: u64) {
        if let Some(blk) = self.blocks.get_mut(head / BLOCK) {
            blk.marker &= !(1 << (head % BLOCK));
        }
    }

    /// A read copies pages `first..=last`: they are referenced, and those read ahead are now used.
    /// Returns how many read-ahead pages this used.
    pub(crate) fn access(&mut self, first: u64, last: u64) -> u64 {
        let mut used = 0;
        for (b, lo, hi) in pieces(first, last) {
            if let Some(blk) = self.blocks.get_mut(b) {
                let m = bits(lo, hi) & blk.present;
                used += u64::from((blk.ahead & m).count_ones());
                blk.ahead &= !m;
                blk.referenced |= m;
            }
        }
        used
    }

    /// A read of pages `first..=last` that needs no decision: all of them cached in one block,
    /// none of their folios (including the one the first page is part of) marked. Does what
    /// [`Self::access`] does and returns the read-ahead pages it used; `None` (nothing changed)
    /// when the read is not such a plain hit.
    #[inline]
    pub(crate) fn plain_hit(&mut self, first: u64, last: u64) -> Option<u64> {
        let b = first / BLOCK;
        if last / BLOCK != b {
            return None;
        }
        let blk = self.blocks.get_mut(b)?;
        let (lo, hi) = (first % BLOCK, last % BLOCK);
        let m = bits(lo, hi);
        let heads = blk.head & bits(0, lo);
        if blk.present & m != m || heads == 0 {
            return None;
        }
        // The first page's folio starts at the nearest head at or below it; marks sit on heads.
        let head = 63 - u64::from(heads.leading_zeros());
        if blk.marker & bits(head, hi) != 0 {
            return None;
        }
        let used = u64::from((blk.ahead & m).count_ones());
        blk.ahead &= !m;
        blk.referenced |= m;
        Some(used)
    }

    /// What the page cache's xarray holds in slot `offset` of the node at `shift` whose range
    /// starts at `base`: nothing, an entry (a folio or a slot pointing to one), or a node below.
    fn xa_entry(&self, shift: u32, base: u64, offset: u64) -> XaEntry {
        let first = base.wrapping_add(offset << shift);
        if shift == 0 {
            return if self.is_present(first) { XaEntry::Folio } else { XaEntry::Empty };
        }
        let span = 1u64 << shift;
        match self.folio(first) {
            // Folios are naturally aligned: one of this size or more covers the whole slot.
            Some(f) if f.pages >= span => XaEntry::Folio,
            _ if self.any_present(first, span) => XaEntry::Node,
            _ => XaEntry::Empty,
        }
    }

    /// `xas_load` at `index`: where the walk stands afterwards, or `None` when the slot is empty.
    /// A folio of 2^k pages sits in the node whose slots span 2^(6*floor(k/6)) pages; the walk
    /// is put on the folio's first slot there (a pointing slot sends it there) and keeps `index`.
    fn xa_load(&self, index: u64) -> Option<XaWalk> {
        let f = self.folio(index)?;
        let mut shift = 0;
        while shift + XA_SHIFT < 64 && f.pages >> (shift + XA_SHIFT) != 0 {
            shift += XA_SHIFT;
        }
        let base = index & !node_mask(shift);
        Some(XaWalk { index, shift, base, offset: ((f.index >> shift) & (XA_CHUNK - 1)) as i64 })
    }

    /// Descends from the walk's slot while it holds a node, each time to the child's slot for
    /// the walk's index (which need not lie in the child's range: that is how the kernel's walk
    /// comes to read slots other than the index it reports).
    fn xa_descend(&self, w: &mut XaWalk) -> bool {
        loop {
            match self.xa_entry(w.shift, w.base, w.offset as u64) {
                XaEntry::Empty => return false,
                XaEntry::Folio => return true,
                XaEntry::Node => {
                    w.base = w.base.wrapping_add((w.offset as u64) << w.shift);
                    w.shift -= XA_SHIFT;
                    w.offset = ((w.index >> w.shift) & (XA_CHUNK - 1)) as i64;
                }
            }
        }
    }

    /// `xas_prev`: one slot down. `false`: the slot is empty or the walk left the array.
    fn xa_prev(&self, w: &mut XaWalk) -> bool {
        w.index = w.index.wrapping_sub(1);
        if w.shift == 0 && w.offset != 0 {
            w.offset -= 1;
            return self.is_present(w.base + w.offset as u64);
        }
        if w.offset != ((w.index >> w.shift) & (XA_CHUNK - 1)) as i64 {
            w.offset -= 1;
        }
        while w.offset < 0 {
            // Up to the parent, on the slot before this node's; past the first node of the array
            // there is nothing.
            if w.base == 0 || w.shift + 2 * XA_SHIFT >= 64 {
                return false;
            }
            let slot = ((w.base >> (w.shift + XA_SHIFT)) & (XA_CHUNK - 1)) as i64;
            w.shift += XA_SHIFT;
            w.base &= !node_mask(w.shift);
            w.offset = slot - 1;
        }
        self.xa_descend(w)
    }

    /// `xas_next`: one slot up. `false`: the slot is empty or the walk left the array.
    fn xa_next(&self, w: &mut XaWalk) -> bool {
        w.index = w.index.wrapping_add(1);
        let last = (XA_CHUNK - 1) as i64;
        if w.shift == 0 && w.offset != last {
            w.offset += 1;
            return self.is_present(w.base + w.offset as u64);
        }
        if w.offset != ((w.index >> w.shift) & (XA_CHUNK - 1)) as i64 {
            w.offset += 1;
        }
        while w.offset > last {
            // Up to the parent, on the slot after this node's (past the array's last node the
            // parent's slots are empty).
            if w.shift + 2 * XA_SHIFT >= 64 {
                return false;
            }
            let slot = ((w.base >> (w.shift + XA_SHIFT)) & (XA_CHUNK - 1)) as i64;
            w.shift += XA_SHIFT;
            w.base &= !node_mask(w.shift);
            w.offset = slot + 1;
        }
        self.xa_descend(w)
    }

    /// `page_cache_next_miss` (6.10 and later): walking up from `index` over at most `n`
    /// slots, the index of the first one empty, or `index + n` when none is (0 when the walk
    /// wraps past the last index).
    ///
    /// The walk is the kernel's xarray walk (`xas_next`), index and slot apart: started inside
    /// a folio it stands on the folio's first slot but reports the index it was given, and it
    /// reads the slot `skew` below the index it reports until it leaves that node, where the
    /// xarray puts it back in step, having skipped `skew` slots of the next node.
    pub(crate) fn next_miss(&self, index: u64, n: u64) -> u64 {
        if n == 0 {
            return index;
        }
        let Some(mut w) = self.xa_load(index) else { return index };
        for _ in 1..n {
            if !self.xa_next(&mut w) {
                return w.index;
            }
            if w.index == 0 {
                return 0;
            }
        }
        index.wrapping_add(n)
    }

    /// `page_cache_prev_miss`: walking down from `index` over at most `n` slots, the index of
    /// the first one empty, or of the last one read when all are full (`u64::MAX` once the
    /// walk passes page 0).
    ///
    /// The walk is the kernel's (`xas_prev`), index and slot apart as in [`Self::next_miss`]:
    /// started inside a folio of 2 to 32 pages, `skew` pages from its start, it reads slots
    /// `skew` below the index it reports; stepping below that node it climbs to the parent
    /// and comes down again by the reported index, landing 64 pages under it (4096 when the node
    /// was its parent's first, and so on), unless `skew` is 1, when it reads the folio's first
    /// slot once more and is back in step. Started inside a folio of 128 pages or more past its
    /// first 64, the parent's slots go by one per step until one holds a node.
    pub(crate) fn prev_miss(&self, index: u64, n: u64) -> u64 {
        if n == 0 {
            return index;
        }
        let Some(mut w) = self.xa_load(index) else { return index };
        for _ in 1..n {
            if !self.xa_prev(&mut w) || w.index == u64::MAX {
                return w.index;
            }
        }
        w.index
    }

    /// Cached pages.
    #[cfg(test)]
    fn pages(&self) -> u64 {
        self.blocks.values().map(|b| u64::from(b.present.count_ones())).sum()
    }

    /// Pages read ahead and never read.
    pub(crate) fn ahead_pages(&self) -> u64 {
        self.blocks.values().map(|b| u64::from((b.ahead & b.present).count_ones())).sum()
    }

    /// Whether `head` starts a folio.
    fn is_head(&self, head: u64) -> bool {
        let blk = self.block(head / BLOCK);
        blk.present & blk.head >> (head % BLOCK) & 1 == 1
    }

    /// Whether any page of the folio was read since the clock last passed; clears the marks.
    fn take_referenced(&mut self, f: Folio) -> bool {
        let mut any = false;
        for (b, lo, hi) in pieces(f.index, f.index + f.pages - 1) {
            if let Some(blk) = self.blocks.get_mut(b) {
                any |= blk.referenced & bits(lo, hi) != 0;
                blk.referenced &= !bits(lo, hi);
            }
        }
        any
    }
}

/// All simulated files' caches, with the eviction clock of free mode.
#[derive(Debug, Default, Clone)]
pub(crate) struct Cache {
    pub(crate) files: Vec<FileCache>,
    /// Folios in insertion order (file, first page); stale entries are skipped.
    clock: VecDeque<(u32, u64)>,
    /// Pages the cache may hold (free mode); `None`: unbounded.
    capacity: Option<u64>,
    /// Pages cached now.
    resident: u64,
}

impl Cache {
    pub(crate) fn new(files: usize, capacity: Option<u64>) -> Self {
        Cache { files: vec![FileCache::default(); files], clock: VecDeque::new(), capacity, resident: 0 }
    }

    pub(crate) fn file(&self, f: u32) -> &FileCache {
        &self.files[f as usize]
    }

    pub(crate) fn file_mut(&mut self, f: u32) -> &mut FileCache {
        &mut self.files[f as usize]
    }

    /// Caches a folio; in free mode, evicts as needed first and reports what that took away per
    /// file through `evicted`.
    pub(crate) fn insert(
        &mut self,
        f: u32,
        index: u64,
        pages: u64,
        marker: bool,
        ahead: bool,
        evicted: &mut impl FnMut(u32, Removed),
    ) {
        if let Some(cap) = self.capacity {
            while self.resident + pages > cap && !self.clock.is_empty() {
                self.evict_one(evicted);
            }
            self.clock.push_back((f, index));
        }
        self.files[f as usize].insert(index, pages, marker, ahead);
        self.resident += pages;
    }

    /// Whether `pages` more fit without evicting anything.
    pub(crate) fn has_room(&self, pages: u64) -> bool {
        self.capacity.is_none_or(|cap| self.resident + pages <= cap)
    }

    /// [`FileCache::insert_pages`], when the cache has room for them ([`Self::has_room`]).
    pub(crate) fn insert_pages(&mut self, f: u32, index: u64, pages: u64, mark: Option<u64>) {
        debug_assert!(self.has_room(pages));
        if self.capacity.is_some() {
            self.clock.extend((index..index + pages).map(|p| (f, p)));
        }
        self.files[f as usize].insert_pages(index, pages, mark);
        self.resident += pages;
    }

    /// Removes pages of a file (a recorded deletion, a DONTNEED).
    pub(crate) fn remove(&mut self, f: u32, first: u64, last: u64) -> Removed {
        let r = self.files[f as usize].remove(first, last);
        self.resident -= r.pages.min(self.resident);
        r
    }

    fn evict_one(&mut self, evicted: &mut impl FnMut(u32, Removed)) {
        // Bounded: every folio is passed over at most once before one goes.
        let mut budget = self.clock.len() * 2 + 1;
        while let Some((f, head)) = self.clock.pop_front() {
            budget -= 1;
            let fc = &mut self.files[f as usize];
            if !fc.is_head(head) {
                continue; // gone already
            }
            let Some(folio) = fc.folio(head) else { continue };
            if fc.take_referenced(folio) && budget > 0 {
                self.clock.push_back((f, head));
                continue;
            }
            let r = self.remove(f, folio.index, folio.index + folio.pages - 1);
            evicted(f, r);
            return;
        }
    }

    /// Counts a page that was cached before the trace started (free mode): it takes room.
    pub(crate) fn preload(&mut self, f: u32, page: u64) {
        if self.files[f as usize].is_present(page) {
            return;
        }
        if self.capacity.is_some() {
            self.clock.push_back((f, page));
        }
        self.files[f as usize].insert(page, 1, false, false);
        self.resident += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folios_span_blocks_and_split_on_removal() {
        let mut c = FileCache::default();
        c.insert(60, 8, true, true); // pages 60..67, across a block boundary
        c.insert(68, 4, false, false);
        assert_eq!(c.folio(66), Some(Folio { index: 60, pages: 8 }));
        assert_eq!(c.folio(68), Some(Folio { index: 68, pages: 4 }));
        assert!(c.has_marker(60) && !c.has_marker(68));
        assert_eq!(c.access(62, 69), 6);
        let r = c.remove(60, 61);
        assert_eq!(r, Removed { pages: 2, ahead: 2 });
        // The rest of the folio starts at 62 now.
        assert_eq!(c.folio(63), Some(Folio { index: 62, pages: 6 }));
        assert_eq!(c.pages(), 10);
    }

    #[test]
    fn misses_are_found_like_the_kernel_finds_them() {
        let mut c = FileCache::default();
        for p in 0..10 {
            c.insert(p, 1, false, false);
        }
        assert_eq!(c.next_miss(3, 20), 10);
        assert_eq!(c.next_miss(3, 4), 7);
        // Looking down from 9 over 20 pages passes page 0: cached from the start.
        assert_eq!(c.prev_miss(9, 20), u64::MAX);
        assert_eq!(c.prev_miss(9, 4), 6);
        c.remove(4, 4);
        assert_eq!(c.prev_miss(9, 20), 4);
        assert_eq!(c.next_miss(20, 5), 20);
    }

    #[test]
    fn walks_that_start_inside_a_large_folio_are_off_like_the_kernels() {
        // Measured on 6.18 (two streams on one descriptor): folios 24..31 and 32..47, and an
        // async readahead at 24 looking from 25 for the first missing page reported 49, not 48.
        let mut c = FileCache::default();
        c.insert(24, 8, false, false);
        c.insert(32, 16, false, false);
        assert_eq!(c.next_miss(25, 32), 49);
        assert_eq!(c.next_miss(24, 32), 48);
        // Past the leaf node the walk is back in step, and slots it skipped are not looked at:
        // the missing page 64 goes unseen.
        let mut c = FileCache::default();
        c.insert(56, 8, false, false);
        for p in 65..71 {
            c.insert(p, 1, false, false);
        }
        assert_eq!(c.next_miss(57, 32), 71);
        // Downwards: from inside folio 64..71 the walk drops into the node below 64 pages
        // under the index it reports.
        let mut c = FileCache::default();
        for p in (0..64).filter(|&p| p != 3) {
            c.insert(p, 1, false, false);
        }
        c.insert(64, 8, false, false);
        assert_eq!(c.prev_miss(70, 40), 67);
        assert_eq!(c.prev_miss(64, 80), 3);
        assert_eq!(c.prev_miss(64, 40), 25);
    }

    #[test]
    fn walks_down_from_inside_a_folio_climb_the_xarray_like_the_kernels() {
        // One page into folio 64..71 the walk reads the folio's first slot twice and is then in
        // step: the missing page 63 is found where it is.
        let mut c = FileCache::default();
        for p in 0..63 {
            c.insert(p, 1, false, false);
        }
        c.insert(64, 8, false, false);
        assert_eq!(c.prev_miss(65, 10), 63);
        // Five pages into folio 4096..4103, whose leaf is the first of its parent: the walk
        // climbs two levels and lands 4096 pages below the index it reports (page 4 for 4100),
        // and finds page 2 missing while reporting 4098.
        let mut c = FileCache::default();
        for p in (0..64).filter(|&p| p != 2) {
            c.insert(p, 1, false, false);
        }
        c.insert(4096, 8, false, false);
        assert_eq!(c.prev_miss(4101, 20), 4098);
        // Inside folio 128..255 (two slots of the parent node) past its first 64 pages: the walk
        // stands on the folio's first slot, steps to the slot before it, a leaf, and comes down
        // by the reported index 199 to page 71, missing.
        let mut c = FileCache::default();
        for p in (0..128).filter(|&p| p != 71) {
            c.insert(p, 1, false, false);
        }
        c.insert(128, 128, false, false);
        assert_eq!(c.prev_miss(200, 10), 199);
        assert_eq!(c.prev_miss(128, 10), 119);
        // Upwards from inside it the walk catches up with its index within the folio.
        c.insert(256, 4, false, false);
        assert_eq!(c.next_miss(200, 100), 260);
    }

    #[test]
    fn the_clock_spares_folios_read_since_it_last_passed() {
        let mut cache = Cache::new(1, Some(8));
        let mut gone = Vec::new();
        for i in 0..8 {
            cache.insert(0, i, 1, false, true, &mut |f, r| gone.push((f, r)));
        }
        cache.file_mut(0).access(0, 0);
        cache.insert(0, 8, 1, false, true, &mut |f, r| gone.push((f, r)));
        // Page 0 was read: page 1 goes instead.
        assert!(cache.file(0).is_present(0) && !cache.file(0).is_present(1));
        assert_eq!(gone, vec![(0, Removed { pages: 1, ahead: 1 })]);
    }
}
