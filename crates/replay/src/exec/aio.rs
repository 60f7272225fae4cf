//! Linux native AIO through the raw syscalls (`io_setup`, `io_submit`, `io_getevents`,
//! `io_destroy`); no libaio.

use std::io;
use std::os::fd::RawFd;
use std::ptr;

use crate::plan::PlanRead;

use super::clock;
use super::engine::{Engine, Slot, Slots, Wait};
use super::worker::Tally;
use super::ExecError;

/// `IOCB_CMD_PREAD`.
const IOCB_CMD_PREAD: u16 = 0;

/// The kernel's `struct iocb` (64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct Iocb {
    /// Returned in `IoEvent::data`: the slot.
    data: u64,
    /// `aio_key` and `aio_rw_flags`, two u32 whose order follows the byte order; both stay 0.
    key_and_rw_flags: u64,
    opcode: u16,
    reqprio: i16,
    fildes: u32,
    buf: u64,
    nbytes: u64,
    offset: i64,
    reserved2: u64,
    flags: u32,
    resfd: u32,
}

const _: () = assert!(std::mem::size_of::<Iocb>() == 64);

/// The kernel's `struct io_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}

const _: () = assert!(std::mem::size_of::<IoEvent>() == 32);

fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// One AIO context with `depth` slots.
#[derive(Debug)]
pub(super) struct AioEngine {
    tid: u32,
    ctx: libc::c_ulong,
    slots: Slots,
    /// One iocb per slot (the kernel copies it at submission; it stays here for clarity).
    iocbs: Box<[Iocb]>,
    /// Slots prepared and not yet submitted, in order.
    queued: Vec<u32>,
    /// Pointers handed to io_submit (rebuilt per call, capacity `depth`: no allocation).
    ptrs: Vec<*mut Iocb>,
    events: Box<[IoEvent]>,
    in_kernel: usize,
}

impl AioEngine {
    /// Allocates the slot buffers and creates the context.
    pub(super) fn new(tid: u32, depth: u32, slot_len: usize) -> Result<Self, ExecError> {
        let slots = Slots::new(depth, slot_len).ok_or(ExecError::Alloc {
            tid,
            bytes: super::buf::AlignedBufs::size(depth as usize, slot_len),
        })?;
        let mut ctx: libc::c_ulong = 0;
        // SAFETY: io_setup writes the new context id into `ctx`, which starts at 0 as required.
        let rc = unsafe {
            libc::syscall(libc::SYS_io_setup, depth as libc::c_long, &mut ctx as *mut libc::c_ulong)
        };
        if rc < 0 {
            return Err(ExecError::AioSetup { tid, depth, source: io::Error::last_os_error() });
        }
        Ok(Self {
            tid,
            ctx,
            slots,
            iocbs: vec![Iocb::default(); depth as usize].into_boxed_slice(),
            queued: Vec::with_capacity(depth as usize),
            ptrs: Vec::with_capacity(depth as usize),
            events: vec![IoEvent::default(); depth as usize].into_boxed_slice(),
            in_kernel: 0,
        })
    }

    #[cfg(test)]
    pub(super) fn slots(&self) -> &Slots {
        &self.slots
    }

    /// Fails queued read `k` (in `queued`) with `-errno` without it reaching the kernel.
    fn fail_queued(&mut self, k: usize, errno: i32, tally: &mut Tally<'_>) {
        let s = self.queued[k];
        self.slots.complete(s, -i64::from(errno), clock::now_ns(), tally);
    }
}

impl Engine for AioEngine {
    fn free_slots(&self) -> usize {
        self.slots.free_count()
    }

    fn in_flight(&self) -> usize {
        self.in_kernel
    }

    fn prepare(&mut self, index: u32, read: &PlanRead, fd: RawFd, due: u64) {
        let Some(s) = self.slots.take(Slot { index, count: read.count, due, start: 0 }) else {
            debug_assert!(false, "prepare without a free slot");
            return;
        };
        self.iocbs[s as usize] = Iocb {
            data: u64::from(s),
            opcode: IOCB_CMD_PREAD,
            fildes: fd as u32,
            buf: self.slots.buf(s) as u64,
            nbytes: u64::from(read.count),
            offset: read.pos as i64,
            ..Iocb::default()
        };
        self.queued.push(s);
    }

    fn submit(&mut self, tally: &mut Tally<'_>) -> Result<(), ExecError> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let start = clock::now_ns();
        for &s in &self.queued {
            self.slots.set_start(s, start);
        }
        let mut done = 0;
        while done < self.queued.len() {
            self.ptrs.clear();
            let base = self.iocbs.as_mut_ptr();
            for &s in &self.queued[done..] {
                // SAFETY: `s` < depth = iocbs.len(), so the pointer stays inside the slice.
                self.ptrs.push(unsafe { base.add(s as usize) });
            }
            // SAFETY: `ptrs` holds `ptrs.len()` pointers to initialized iocbs whose buffers are
            // this engine's slot buffers, alive until the completion is reaped (drained on drop).
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_io_submit,
                    self.ctx,
                    self.ptrs.len() as libc::c_long,
                    self.ptrs.as_mut_ptr(),
                )
            };
            if rc > 0 {
                done += rc as usize;
                self.in_kernel += rc as usize;
                continue;
            }
            let e = if rc == 0 { libc::EAGAIN } else { last_errno() };
            match e {
                libc::EINTR => {}
                libc::EAGAIN if self.in_kernel > 0 => {
                    // Out of kernel resources: make room, then go on.
                    self.reap(Wait::One, tally)?;
                }
                // The first iocb left was refused (bad descriptor, bad offset, no resources with
                // nothing in flight to wait for...): that read's result; go on with the next.
                _ => {
                    self.fail_queued(done, e, tally);
                    done += 1;
                }
            }
        }
        self.queued.clear();
        Ok(())
    }

    fn reap(&mut self, wait: Wait, tally: &mut Tally<'_>) -> Result<usize, ExecError> {
        if self.in_kernel == 0 {
            return Ok(0);
        }
        let zero = clock::timespec(0);
        let limit;
        let (min_nr, timeout): (libc::c_long, *const libc::timespec) = match wait {
            Wait::No => (0, &zero),
            Wait::One => (1, ptr::null()),
            Wait::For(ns) => {
                limit = clock::timespec(ns);
                (1, &limit)
            }
        };
        let rc = loop {
            // SAFETY: `events` has room for `events.len()` entries; `timeout` is null or points
            // to a timespec that outlives the call.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_io_getevents,
                    self.ctx,
                    min_nr,
                    self.events.len() as libc::c_long,
                    self.events.as_mut_ptr(),
                    timeout,
                )
            };
            if rc >= 0 {
                break rc as usize;
            }
            match last_errno() {
                libc::EINTR if wait == Wait::One => {}
                libc::EINTR => break 0,
                e => {
                    return Err(ExecError::Async {
                        tid: self.tid,
                        what: "io_getevents",
                        source: io::Error::from_raw_os_error(e),
                    })
                }
            }
        };
        let now = clock::now_ns();
        for i in 0..rc {
            let ev = self.events[i];
            if self.slots.is_taken(ev.data) {
                self.slots.complete(ev.data as u32, ev.res, now, tally);
                self.in_kernel -= 1;
            }
        }
        Ok(rc)
    }
}

impl Drop for AioEngine {
    fn drop(&mut self) {
        // io_destroy cancels what it can and waits for the rest, so the slot buffers (dropped
        // after this) are no longer written to.
        // SAFETY: `ctx` came from io_setup and is destroyed once.
        unsafe { libc::syscall(libc::SYS_io_destroy, self.ctx) };
    }
}
