//! Value tables that turn a recurring value into a small index: [`MtfList`] (move-to-front, for the
//! id spaces of [`Recall`](crate::columns) columns) and [`FifoTable`] (first-in-first-out, for the
//! tid column). Encoder and decoder update them identically, so they are never stored.

use crate::varint::{self, Cursor, StreamError};

/// A move-to-front list of recently seen values.
///
/// Stored form of a value: varint `k`; `k = 1..=len` means "the value at position `k - 1`",
/// `k = 0` means "not in the list", followed by a zigzag varint of the value minus the list's
/// first value (0 when the list is empty). Either way the value then moves to the front, and the
/// list keeps at most `cap` values.
#[derive(Debug, Clone)]
pub(crate) struct MtfList {
    values: Vec<u64>,
    cap: usize,
}

impl MtfList {
    pub(crate) fn new(cap: usize) -> Self {
        MtfList { values: Vec::with_capacity(cap), cap }
    }

    pub(crate) fn clear(&mut self) {
        self.values.clear();
    }

    #[inline]
    fn move_to_front(&mut self, i: usize, v: u64) {
        if i < self.values.len() {
            self.values.copy_within(0..i, 1);
            self.values[0] = v;
        } else {
            if self.values.len() == self.cap {
                self.values.pop();
            }
            self.values.insert(0, v);
        }
    }

    #[inline]
    pub(crate) fn put(&mut self, v: u64, out: &mut Vec<u8>) {
        match self.values.iter().position(|&x| x == v) {
            Some(i) => {
                varint::put(out, i as u64 + 1);
                self.move_to_front(i, v);
            }
            None => {
                let base = self.values.first().copied().unwrap_or(0);
                out.push(0);
                varint::put(out, varint::zigzag(v.wrapping_sub(base) as i64));
                self.move_to_front(usize::MAX, v);
            }
        }
    }

    #[inline]
    pub(crate) fn get(&mut self, cur: &mut Cursor<'_>) -> Result<u64, StreamError> {
        let k = cur.varint()?;
        if k == 0 {
            let base = self.values.first().copied().unwrap_or(0);
            let v = base.wrapping_add(varint::unzigzag(cur.varint()?) as u64);
            self.move_to_front(usize::MAX, v);
            Ok(v)
        } else {
            let i = usize::try_from(k - 1).unwrap_or(usize::MAX);
            let v = *self.values.get(i).ok_or(StreamError::BadIndex)?;
            self.move_to_front(i, v);
            Ok(v)
        }
    }
}

/// A fixed table of recently seen values with first-in-first-out replacement: like [`MtfList`]
/// but hits do not reorder, so decoding is O(1) (used for the tid column, read for every event).
///
/// Stored form: varint `k`; `k = 1..=filled` means "the value in slot `k - 1`", `k = 0` means "not
/// in the table", followed by a zigzag varint of the value minus the previous value; a new value
/// then takes the next slot round-robin (replacing the oldest once the table is full).
#[derive(Debug, Clone)]
pub(crate) struct FifoTable {
    slots: Vec<u64>,
    filled: usize,
    next: usize,
    prev: u64,
}

impl FifoTable {
    pub(crate) fn new(cap: usize) -> Self {
        assert!(cap.is_power_of_two(), "FIFO table sizes are powers of two");
        FifoTable { slots: vec![0; cap], filled: 0, next: 0, prev: 0 }
    }

    pub(crate) fn clear(&mut self) {
        self.filled = 0;
        self.next = 0;
        self.prev = 0;
    }

    #[inline]
    fn insert(&mut self, v: u64) {
        self.slots[self.next] = v;
        self.next = (self.next + 1) & (self.slots.len() - 1);
        self.filled = (self.filled + 1).min(self.slots.len());
    }

    #[inline]
    pub(crate) fn put(&mut self, v: u64, out: &mut Vec<u8>) {
        match self.slots[..self.filled].iter().position(|&x| x == v) {
            Some(i) => varint::put(out, i as u64 + 1),
            None => {
                out.push(0);
                varint::put(out, varint::zigzag(v.wrapping_sub(self.prev) as i64));
                self.insert(v);
            }
        }
        self.prev = v;
    }

    #[inline(always)]
    pub(crate) fn get(&mut self, cur: &mut Cursor<'_>) -> Result<u64, StreamError> {
        let k = cur.varint()?;
        let v = if k == 0 {
            let v = self.prev.wrapping_add(varint::unzigzag(cur.varint()?) as u64);
            self.insert(v);
            v
        } else {
            let i = usize::try_from(k - 1).unwrap_or(usize::MAX);
            if i >= self.filled {
                return Err(StreamError::BadIndex);
            }
            self.slots[i]
        };
        self.prev = v;
        Ok(v)
    }
}

/// Number of id spaces with a recall list (see `columns::RECALL_*`).
const RECALL_SPACES: usize = 4;
/// Values each recall list keeps.
pub(crate) const RECALL_LEN: usize = 64;

/// The recall lists of one chunk.
#[derive(Debug, Clone)]
pub(crate) struct RecallLists([MtfList; RECALL_SPACES]);

impl Default for RecallLists {
    fn default() -> Self {
        RecallLists(std::array::from_fn(|_| MtfList::new(RECALL_LEN)))
    }
}

impl RecallLists {
    pub(crate) fn clear(&mut self) {
        self.0.iter_mut().for_each(MtfList::clear);
    }

    #[inline]
    pub(crate) fn list(&mut self, space: usize) -> &mut MtfList {
        &mut self.0[space]
    }
}
