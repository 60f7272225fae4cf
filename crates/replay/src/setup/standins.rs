//! `--create DIR`: full-size stand-ins for the recorded files, filled with real data.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use super::{sys, SetupError};
use crate::plan::PlanFile;

/// Size of each write, and of each block of distinct pattern.
const BLOCK: usize = 1 << 20;

/// What [`create_standins`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CreateReport {
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Wall time, including the final fsyncs.
    pub seconds: f64,
}

impl CreateReport {
    /// Write throughput in MiB/s (0 when nothing was written).
    pub fn mib_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / f64::from(1u32 << 20) / self.seconds
        } else {
            0.0
        }
    }
}

/// Writes a stand-in for each recorded file under `dir` and returns the files to replay (in the
/// order given) with what was done.
///
/// The recorded path `/var/lib/mysql/db/t.ibd` becomes `DIR/var/lib/mysql/db/t.ibd`, so names
/// (and the reports that show them) stay recognisable. `dir` must be empty, or not exist yet (it
/// is then created); nothing is ever written outside it, and a recorded path with a `..`
/// component is refused. A path listed twice gets one file of the larger size.
///
/// Every byte is really written: the files are neither sparse nor preallocated, because holes and
/// unwritten extents read back as zeros without touching the disk, which would make the replay
/// measure nothing. Each 1 MiB block gets its own cheap pseudo-random pattern (so neither
/// compression nor deduplication shrinks it). Each file is fsynced, then its pages are dropped
/// from the page cache (`posix_fadvise(DONTNEED)`), so the replay starts cold on them.
///
/// `progress(bytes_done, bytes_total)` is called after every block.
pub fn create_standins(
    dir: &Path,
    recorded: &[(PathBuf, u64)],
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<PlanFile>, CreateReport), SetupError> {
    // Relative paths first, so a bad one is refused before anything is written.
    let mut relative = Vec::with_capacity(recorded.len());
    for (path, _) in recorded {
        relative
            .push(inside_path(path).ok_or_else(|| SetupError::UnsafeRecordedPath { path: path.clone() })?);
    }
    let mut sizes: BTreeMap<&Path, u64> = BTreeMap::new();
    for (rel, (_, size)) in relative.iter().zip(recorded) {
        let entry = sizes.entry(rel.as_path()).or_default();
        *entry = (*entry).max(*size);
    }
    let total: u64 = sizes.values().sum();

    prepare_dir(dir)?;
    // Absolute paths read better in reports and let the live-server check compare them.
    let dir = &fs::canonicalize(dir).map_err(|e| SetupError::io("resolve", dir, e))?;
    let free = sys::available_bytes(dir).map_err(|e| SetupError::io("measure the free space of", dir, e))?;
    if free < total {
        return Err(SetupError::NoSpace { dir: dir.to_owned(), need: total, free });
    }

    let started = Instant::now();
    let mut buf = vec![0u8; BLOCK];
    let mut done = 0u64;
    for (index, (rel, size)) in sizes.iter().enumerate() {
        let path = dir.join(rel);
        write_standin(&path, *size, index as u64, &mut buf, &mut |n| {
            done += n;
            progress(done, total);
        })?;
    }
    let report = CreateReport { files: sizes.len(), bytes: total, seconds: started.elapsed().as_secs_f64() };
    let files = relative
        .iter()
        .zip(recorded)
        .map(|(rel, (_, size))| PlanFile { path: dir.join(rel), size: *size })
        .collect();
    Ok((files, report))
}

/// The recorded path made relative (leading `/` and `.` components dropped), or `None` if it
/// is empty or could climb out with `..`.
fn inside_path(recorded: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in recorded.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Creates `dir` if missing; refuses it if it has anything in it.
fn prepare_dir(dir: &Path) -> Result<(), SetupError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(SetupError::CreateDirNotEmpty { dir: dir.to_owned() });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| SetupError::io("create the directory", dir, e))
        }
        Err(e) => Err(SetupError::io("list the directory", dir, e)),
    }
}

fn write_standin(
    path: &Path,
    size: u64,
    file_index: u64,
    buf: &mut [u8],
    written: &mut dyn FnMut(u64),
) -> Result<(), SetupError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| SetupError::io("create the directory", parent, e))?;
    }
    // create_new: the directory was empty, so anything already there is a clash between two
    // recorded paths (a file that is also another file's directory), never something to clobber.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| SetupError::io("create", path, e))?;
    let mut left = size;
    let mut block = 0u64;
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        fill(&mut buf[..n], seed(file_index, block));
        file.write_all(&buf[..n]).map_err(|e| SetupError::io("write", path, e))?;
        written(n as u64);
        left -= n as u64;
        block += 1;
    }
    file.sync_all().map_err(|e| SetupError::io("fsync", path, e))?;
    drop_pages(&file, path)
}

fn drop_pages(file: &File, path: &Path) -> Result<(), SetupError> {
    sys::fadvise_dontneed(file).map_err(|e| SetupError::io("drop the cached pages of", path, e))
}

/// A distinct non-zero seed per (file, block) (splitmix64 of both).
fn seed(file: u64, block: u64) -> u64 {
    let mut z = file.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ block.wrapping_add(0x6a09_e667_f3bc_c909);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z | 1
}

/// Fills `buf` with xorshift64 output from a non-zero seed.
fn fill(buf: &mut [u8], mut x: u64) {
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    use super::super::testutil::cached_pages;
    use super::*;

    #[test]
    fn writes_real_full_size_files_and_drops_their_pages() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("standins"); // does not exist yet
        let recorded: Vec<(PathBuf, u64)> = vec![
            ("/var/lib/mysql/ibdata1".into(), 3 * BLOCK as u64 + 123),
            ("/var/lib/mysql/db/t1.ibd".into(), 4096),
            ("/var/lib/mysql/db/empty.ibd".into(), 0),
            ("./relative/f".into(), 10),
            ("/var/lib/mysql/db/t1.ibd".into(), 8192), // listed twice: one file, the larger size
        ];
        let calls = Cell::new(0u64);
        let last = Cell::new((0, 0));
        let (files, report) = create_standins(&dir, &recorded, &|done, total| {
            calls.set(calls.get() + 1);
            last.set((done, total));
        })
        .expect("created");

        let total = 3 * BLOCK as u64 + 123 + 8192 + 10;
        assert_eq!(report.files, 4);
        assert_eq!(report.bytes, total);
        assert!(report.seconds > 0.0 && report.mib_per_sec() > 0.0);
        assert_eq!(last.get(), (total, total));
        assert_eq!(calls.get(), 4 + 1 + 1);

        assert_eq!(files.len(), recorded.len());
        assert_eq!(
            files[0],
            PlanFile { path: dir.join("var/lib/mysql/ibdata1"), size: 3 * BLOCK as u64 + 123 }
        );
        assert_eq!(files[1].path, dir.join("var/lib/mysql/db/t1.ibd"));
        assert_eq!(files[1].size, 4096, "each entry keeps its own recorded size");
        assert_eq!(files[3].path, dir.join("relative/f"));
        super::super::check_sizes(&files).expect("every stand-in is large enough");

        for file in &files {
            let meta = fs::metadata(&file.path).expect("exists");
            let expected = if file.size == 4096 { 8192 } else { file.size };
            assert_eq!(meta.len(), expected, "{}", file.path.display());
            assert!(meta.blocks() * 512 >= meta.len(), "{} is sparse", file.path.display());
        }

        let mut data = Vec::new();
        File::open(&files[0].path).expect("open").read_to_end(&mut data).expect("read");
        let word = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
        assert_ne!(word(0), 0);
        assert_ne!(word(0), word(BLOCK), "blocks differ");
        assert_ne!(word(BLOCK), word(2 * BLOCK));
        let zeros = data.iter().filter(|b| **b == 0).count();
        assert!(zeros < data.len() / 100, "{zeros} zero bytes: not random-looking");

        // Everything written was fsynced and dropped (reading ibdata1 above brought it back).
        if let Some(pages) = cached_pages(&files[1].path) {
            assert_eq!(pages, 0, "t1.ibd's pages are still cached");
        }
    }

    #[test]
    fn refuses_a_non_empty_dir_and_paths_that_climb_out() {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::write(tmp.path().join("something"), b"x").expect("write");
        let err = create_standins(tmp.path(), &[("/a".into(), 1)], &|_, _| {}).expect_err("not empty");
        assert!(matches!(err, SetupError::CreateDirNotEmpty { .. }), "{err}");

        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).expect("mkdir");
        for bad in ["/data/../../etc/passwd", "", "/"] {
            let err = create_standins(&empty, &[("/ok".into(), 1), (bad.into(), 1)], &|_, _| {})
                .expect_err("unsafe path");
            assert!(matches!(err, SetupError::UnsafeRecordedPath { .. }), "{bad}: {err}");
        }
        assert!(fs::read_dir(&empty).expect("list").next().is_none(), "nothing was written");
        assert!(!tmp.path().join("etc").exists());
    }

    #[test]
    fn refuses_more_than_the_free_space() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err =
            create_standins(tmp.path(), &[("/huge".into(), u64::MAX / 2)], &|_, _| {}).expect_err("no space");
        assert!(matches!(err, SetupError::NoSpace { .. }), "{err}");
    }

    #[test]
    fn pattern_is_cheap_and_distinct() {
        let mut a = vec![0u8; 20];
        let mut b = vec![0u8; 20];
        fill(&mut a, seed(0, 0));
        fill(&mut b, seed(0, 1));
        assert_ne!(a, b);
        assert!(a.iter().any(|x| *x != 0));
        assert_ne!(seed(1, 0), seed(0, 1));
    }
}
