//! Read buffers aligned to 4096 bytes (O_DIRECT needs the memory aligned to the logical block).

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment and size granule of every buffer.
pub(super) const ALIGN: usize = 4096;

/// `slots` zeroed buffers of `slot_len` bytes (a multiple of [`ALIGN`]) in one allocation.
#[derive(Debug)]
pub(super) struct AlignedBufs {
    ptr: NonNull<u8>,
    layout: Layout,
    slot_len: usize,
}

// SAFETY: the allocation is owned exclusively by this value; moving it to another thread is
// like moving a Vec<u8>.
unsafe impl Send for AlignedBufs {}

/// Rounds a read size up to a whole number of granules (at least one).
pub(super) fn slot_len(max_count: u32) -> usize {
    (max_count as usize).max(1).div_ceil(ALIGN) * ALIGN
}

impl AlignedBufs {
    /// `None` if the size overflows or the allocator fails.
    pub(super) fn new(slots: usize, slot_len: usize) -> Option<Self> {
        debug_assert!(slot_len % ALIGN == 0 && slot_len > 0);
        let size = slots.max(1).checked_mul(slot_len)?;
        let layout = Layout::from_size_align(size, ALIGN).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc::alloc_zeroed(layout) })?;
        Some(Self { ptr, layout, slot_len })
    }

    /// Total size, bytes.
    pub(super) fn size(slots: usize, slot_len: usize) -> usize {
        slots.max(1).saturating_mul(slot_len)
    }

    /// Start of buffer `i`; its `slot_len` bytes are writable while `self` lives.
    #[inline]
    pub(super) fn slot(&self, i: usize) -> *mut u8 {
        assert!((i + 1) * self.slot_len <= self.layout.size(), "buffer slot {i} out of range");
        // SAFETY: the assert keeps the offset inside the allocation.
        unsafe { self.ptr.as_ptr().add(i * self.slot_len) }
    }

    /// The bytes of buffer `i` (for tests).
    #[cfg(test)]
    pub(super) fn bytes(&self, i: usize) -> &[u8] {
        // SAFETY: `slot` returns `slot_len` initialized (zeroed, then read into) bytes inside the
        // allocation; no write happens while the shared borrow of `self` lives.
        unsafe { std::slice::from_raw_parts(self.slot(i), self.slot_len) }
    }
}

impl Drop for AlignedBufs {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this very layout, freed once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}
