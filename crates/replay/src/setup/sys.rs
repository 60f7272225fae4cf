//! The few system calls std does not offer: `sync`, `posix_fadvise` and `statvfs`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Writes every dirty page of every filesystem to disk (`sync(2)`).
pub(super) fn sync_all_filesystems() {
    // SAFETY: sync(2) takes no arguments, touches no memory of ours and cannot fail.
    unsafe { libc::sync() }
}

/// Asks the kernel to drop the file's clean, unmapped pages from the page cache.
pub(super) fn fadvise_dontneed(file: &File) -> io::Result<()> {
    // SAFETY: the descriptor is valid for the call (borrowed from a live `File`); offset 0 with
    // length 0 means "to the end of the file"; no memory of ours is passed.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    // posix_fadvise returns the error number instead of setting errno.
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Bytes an unprivileged user may still write on the filesystem holding `path` (`f_bavail`).
pub(super) fn available_bytes(path: &Path) -> io::Result<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut out = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `out` points to
    // writable memory of the size statvfs(3) fills in.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), out.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled in the whole struct.
    let st = unsafe { out.assume_init() };
    // The field types are u64 here but narrower on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}
