//! The synchronous read syscalls. Each returns bytes read or a negative errno and retries on
//! EINTR. The caller guarantees `buf` points to at least `count` writable bytes.

use std::io;
use std::os::fd::RawFd;

fn errno() -> i64 {
    -i64::from(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
}

/// Runs `f` until it is not interrupted; maps -1 to `-errno`.
#[inline]
fn retry(mut f: impl FnMut() -> isize) -> i64 {
    loop {
        let rc = f();
        if rc >= 0 {
            return rc as i64;
        }
        let e = errno();
        if e != -i64::from(libc::EINTR) {
            return e;
        }
    }
}

fn iovec(buf: *mut u8, count: u32) -> libc::iovec {
    libc::iovec { iov_base: buf.cast(), iov_len: count as usize }
}

/// `pread64(fd, buf, count, pos)`.
#[inline]
pub(super) fn pread(fd: RawFd, buf: *mut u8, count: u32, pos: u64) -> i64 {
    // SAFETY: the caller guarantees `count` writable bytes at `buf`; a bad fd or offset is an
    // errno, not undefined behaviour.
    retry(|| unsafe { libc::pread64(fd, buf.cast(), count as usize, pos as libc::off64_t) })
}

/// `preadv(fd, [buf; count], 1, pos)`.
#[inline]
pub(super) fn preadv(fd: RawFd, buf: *mut u8, count: u32, pos: u64) -> i64 {
    let iov = iovec(buf, count);
    // SAFETY: one valid iovec over `count` writable bytes (caller's guarantee).
    retry(|| unsafe { libc::preadv64(fd, &iov, 1, pos as libc::off64_t) })
}

/// `preadv2(fd, [buf; count], 1, pos, 0)`.
#[inline]
pub(super) fn preadv2(fd: RawFd, buf: *mut u8, count: u32, pos: u64) -> i64 {
    let iov = iovec(buf, count);
    // SAFETY: one valid iovec over `count` writable bytes (caller's guarantee); no flags.
    retry(|| unsafe { libc::preadv64v2(fd, &iov, 1, pos as libc::off64_t, 0) })
}

/// Sets the description's position to `pos`, then `read` (or `readv` with one iovec).
#[inline]
pub(super) fn read_at_position(fd: RawFd, buf: *mut u8, count: u32, pos: u64, vectored: bool) -> i64 {
    // SAFETY: lseek only moves the description's position.
    let rc = unsafe { libc::lseek64(fd, pos as libc::off64_t, libc::SEEK_SET) };
    if rc < 0 {
        return errno();
    }
    if vectored {
        let iov = iovec(buf, count);
        // SAFETY: one valid iovec over `count` writable bytes (caller's guarantee).
        retry(|| unsafe { libc::readv(fd, &iov, 1) })
    } else {
        // SAFETY: `count` writable bytes at `buf` (caller's guarantee).
        retry(|| unsafe { libc::read(fd, buf.cast(), count as usize) })
    }
}
