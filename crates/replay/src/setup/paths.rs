//! Recorded paths to local paths (`--map FROM=TO`), and checking the local files.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::SetupError;
use crate::plan::PlanFile;

/// Where the recorded files are on this machine: `FROM=TO` pairs, each moving the tree under
/// the recorded directory FROM to the local directory TO.
///
/// Prefixes match whole path components (`/data=/x` maps `/data/a` but not `/database/a`), and
/// the longest matching FROM wins (`/data=/x` and `/data/logs=/fast` map `/data/logs/l0` to
/// `/fast/l0`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathMap(Vec<(PathBuf, PathBuf)>);

impl PathMap {
    /// Parses `--map` arguments, each `FROM=TO` (split at the first `=`).
    pub fn parse(args: &[String]) -> Result<Self, SetupError> {
        let mut pairs: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(args.len());
        for arg in args {
            let Some((from, to)) = arg.split_once('=') else {
                return Err(SetupError::BadMap { arg: arg.clone(), why: "has no `=`" });
            };
            if from.is_empty() {
                return Err(SetupError::BadMap { arg: arg.clone(), why: "has an empty FROM" });
            }
            if to.is_empty() {
                return Err(SetupError::BadMap { arg: arg.clone(), why: "has an empty TO" });
            }
            let from = PathBuf::from(from);
            // Path equality compares components, so "/a/" and "/a" are the same FROM.
            if pairs.iter().any(|(f, _)| *f == from) {
                return Err(SetupError::DuplicateMap { from });
            }
            pairs.push((from, PathBuf::from(to)));
        }
        Ok(PathMap(pairs))
    }

    /// The `(FROM, TO)` pairs, in the order given.
    pub fn pairs(&self) -> &[(PathBuf, PathBuf)] {
        &self.0
    }

    /// No `--map` was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The local path of a recorded one, or `None` if no FROM is a prefix of it.
    pub fn map(&self, recorded: &Path) -> Option<PathBuf> {
        let (to, rest) = self
            .0
            .iter()
            .filter_map(|(from, to)| {
                recorded.strip_prefix(from).ok().map(|rest| (from.components().count(), to, rest))
            })
            .max_by_key(|(len, _, _)| *len)
            .map(|(_, to, rest)| (to, rest))?;
        // `join("")` would add a trailing slash.
        Some(if rest.as_os_str().is_empty() { to.clone() } else { to.join(rest) })
    }

    /// Maps the trace's `(recorded path, recorded size)` pairs, keeping their order.
    ///
    /// An empty map keeps every path as recorded (a replay on the recording machine). Otherwise
    /// every path must be covered; the error names the first that is not and how many are not.
    pub fn map_all(&self, recorded: &[(PathBuf, u64)]) -> Result<Vec<PlanFile>, SetupError> {
        if self.is_empty() {
            return Ok(recorded
                .iter()
                .map(|(path, size)| PlanFile { path: path.clone(), size: *size })
                .collect());
        }
        let mut out = Vec::with_capacity(recorded.len());
        let mut unmapped: Option<(&Path, usize)> = None;
        for (path, size) in recorded {
            match self.map(path) {
                Some(local) => out.push(PlanFile { path: local, size: *size }),
                None => {
                    let (_, count) = unmapped.get_or_insert((path, 0));
                    *count += 1;
                }
            }
        }
        match unmapped {
            None => Ok(out),
            Some((first, count)) => {
                Err(SetupError::Unmapped { first: first.to_owned(), count, total: recorded.len() })
            }
        }
    }
}

/// Checks that every replay file exists and is at least as large as when it was recorded.
///
/// A larger file is fine (the reads stay within the recorded size). A smaller one would make the
/// reads past its end return short and cost no I/O, so it is an error, as is a missing file. Block
/// devices (raw InnoDB data files) are measured by seeking to their end.
pub fn check_sizes(files: &[PlanFile]) -> Result<(), SetupError> {
    let mut missing: Option<(&Path, usize)> = None;
    let mut short: Option<(&Path, u64, u64, usize)> = None;
    for file in files {
        let size = match size_of(&file.path) {
            Ok(size) => size,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.get_or_insert((&file.path, 0)).1 += 1;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                return Err(SetupError::NotAFile { path: file.path.clone() });
            }
            Err(source) => return Err(SetupError::io("read the size of", &file.path, source)),
        };
        if size < file.size {
            short.get_or_insert((&file.path, size, file.size, 0)).3 += 1;
        }
    }
    if let Some((first, count)) = missing {
        return Err(SetupError::Missing { first: first.to_owned(), count });
    }
    if let Some((path, actual, recorded, count)) = short {
        return Err(SetupError::Short { path: path.to_owned(), actual, recorded, count });
    }
    Ok(())
}

/// The size of a regular file or a block device; `InvalidInput` for anything else.
fn size_of(path: &Path) -> io::Result<u64> {
    let meta = fs::metadata(path)?;
    let kind = meta.file_type();
    if kind.is_file() {
        Ok(meta.len())
    } else if kind.is_block_device() {
        File::open(path)?.seek(SeekFrom::End(0))
    } else {
        Err(io::Error::from(io::ErrorKind::InvalidInput))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(args: &[&str]) -> PathMap {
        PathMap::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parses")
    }

    fn parse_err(arg: &str) -> String {
        PathMap::parse(&[arg.to_owned()]).expect_err("rejected").to_string()
    }

    #[test]
    fn maps_by_whole_components_and_longest_prefix() {
        let m = map(&["/data=/x", "/data/logs/=/fast", "rel=/r"]);
        let get = |p: &str| m.map(Path::new(p));
        assert_eq!(get("/data/a"), Some("/x/a".into()));
        assert_eq!(get("/data/db/t.ibd"), Some("/x/db/t.ibd".into()));
        assert_eq!(get("/database/a"), None);
        assert_eq!(get("/data"), Some("/x".into()));
        assert_eq!(get("/data/"), Some("/x".into()));
        assert_eq!(get("/data/logs/ib_logfile0"), Some("/fast/ib_logfile0".into()));
        assert_eq!(get("/data/logsX"), Some("/x/logsX".into()));
        assert_eq!(get("/other/data/a"), None);
        assert_eq!(get("rel/a"), Some("/r/a".into()));
        assert_eq!(get("/rel/a"), None);
        assert_eq!(get(""), None);

        let root = map(&["/=/mnt/copy"]);
        assert_eq!(
            root.map(Path::new("/var/lib/mysql/ibdata1")),
            Some("/mnt/copy/var/lib/mysql/ibdata1".into())
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse_err("/data").contains("has no `=`"), "{}", parse_err("/data"));
        assert!(parse_err("=/x").contains("empty FROM"));
        assert!(parse_err("/data=").contains("empty TO"));
        let dup = PathMap::parse(&["/a=/x".to_owned(), "/a/=/y".to_owned()]).expect_err("duplicate");
        assert!(matches!(dup, SetupError::DuplicateMap { .. }), "{dup}");
        // Only the first `=` splits.
        assert_eq!(map(&["/a=/b=c"]).map(Path::new("/a/f")), Some("/b=c/f".into()));
    }

    #[test]
    fn map_all_names_the_first_unmapped_path() {
        let recorded: Vec<(PathBuf, u64)> =
            vec![("/data/a".into(), 1), ("/logs/l".into(), 2), ("/data/b".into(), 3), ("/tmp/t".into(), 4)];
        let err = map(&["/data=/x"]).map_all(&recorded).expect_err("unmapped");
        let SetupError::Unmapped { first, count, total } = &err else { panic!("{err}") };
        assert_eq!((first.as_path(), *count, *total), (Path::new("/logs/l"), 2, 4));
        assert!(err.to_string().starts_with("/logs/l is not under any --map FROM (2 of the trace's 4"));

        let ok = map(&["/data=/x", "/=/y"]).map_all(&recorded).expect("all mapped");
        assert_eq!(ok[0], PlanFile { path: "/x/a".into(), size: 1 });
        assert_eq!(ok[1], PlanFile { path: "/y/logs/l".into(), size: 2 });
        assert_eq!(ok.len(), 4);

        let same = PathMap::default().map_all(&recorded).expect("identity");
        assert_eq!(same[3], PlanFile { path: "/tmp/t".into(), size: 4 });
    }

    #[test]
    fn check_sizes_reports_missing_short_and_odd_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = |name: &str| dir.path().join(name);
        fs::write(f("exact"), vec![1u8; 100]).expect("write");
        fs::write(f("bigger"), vec![1u8; 200]).expect("write");
        fs::write(f("short"), vec![1u8; 50]).expect("write");
        fs::write(f("short2"), vec![1u8; 10]).expect("write");
        let file = |name: &str, size| PlanFile { path: f(name), size };

        check_sizes(&[file("exact", 100), file("bigger", 100)]).expect("fine");

        let err =
            check_sizes(&[file("exact", 100), file("short", 100), file("short2", 20)]).expect_err("short");
        let msg = err.to_string();
        assert!(matches!(err, SetupError::Short { actual: 50, recorded: 100, count: 2, .. }), "{msg}");
        assert!(
            msg.contains("short has 50 bytes but had 100 bytes when recorded (and 1 more is short)"),
            "{msg}"
        );
        assert!(msg.contains("--create"), "{msg}");

        let err = check_sizes(&[file("short", 100), file("gone", 1), file("gone2", 1)]).expect_err("missing");
        assert!(matches!(&err, SetupError::Missing { first, count: 2 } if first.ends_with("gone")), "{err}");

        let err = check_sizes(&[PlanFile { path: dir.path().to_owned(), size: 1 }]).expect_err("a directory");
        assert!(matches!(err, SetupError::NotAFile { .. }), "{err}");
    }
}
