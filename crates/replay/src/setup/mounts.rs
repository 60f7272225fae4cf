//! `/proc/self/mountinfo`, to name a file's filesystem and to find the cgroup hierarchies.

use std::fs;
use std::path::{Path, PathBuf};

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mount {
    /// `st_dev` of files on this mount.
    pub(super) major: u32,
    pub(super) minor: u32,
    /// The directory of the filesystem that is mounted (for bind mounts and cgroups, not "/").
    pub(super) root: PathBuf,
    /// Where it is mounted.
    pub(super) mount_point: PathBuf,
    pub(super) fstype: String,
    pub(super) source: String,
    /// The filesystem's own options (for cgroup v1: which controllers).
    pub(super) super_options: String,
}

/// The current mount table; empty if it cannot be read.
pub(super) fn mounts() -> Vec<Mount> {
    fs::read_to_string("/proc/self/mountinfo").map(|s| parse(&s)).unwrap_or_default()
}

fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    // id parent major:minor root mount-point options [optional fields...] - fstype source super
    let (head, tail) = line.split_once(" - ")?;
    let mut head = head.split(' ');
    let _id = head.next()?;
    let _parent = head.next()?;
    let (major, minor) = head.next()?.split_once(':')?;
    let root = unescape(head.next()?);
    let mount_point = unescape(head.next()?);
    let mut tail = tail.split(' ');
    let fstype = tail.next()?.to_owned();
    let source = tail.next().map(|s| unescape(s).to_string_lossy().into_owned()).unwrap_or_default();
    let super_options = tail.next().unwrap_or_default().to_owned();
    Some(Mount {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root,
        mount_point,
        fstype,
        source,
        super_options,
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && is_octal(&bytes[i + 1..i + 4]) {
            out.push((bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

fn is_octal(b: &[u8]) -> bool {
    b.len() == 3 && b[0] <= b'3' && b.iter().all(|c| (b'0'..=b'7').contains(c))
}

/// The mount whose files have device `major:minor`, preferring the one whose mount point is the
/// longest prefix of `path` (a filesystem can be mounted in several places).
pub(super) fn mount_of(mounts: &[Mount], major: u32, minor: u32, path: &Path) -> Option<Mount> {
    mounts
        .iter()
        .filter(|m| m.major == major && m.minor == minor)
        .max_by_key(
            |m| {
                if path.starts_with(&m.mount_point) {
                    m.mount_point.components().count() + 1
                } else {
                    0
                }
            },
        )
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
36 31 0:33 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
50 22 254:0 /srv/a\\040b /mnt/with\\040space rw - ext4 /dev/vda rw
";

    #[test]
    fn parses_mountinfo() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 5);
        assert_eq!(m[1].fstype, "cgroup");
        assert_eq!(m[1].super_options, "rw,memory");
        assert_eq!(m[2].fstype, "cgroup2");
        assert_eq!(m[2].mount_point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!((m[3].major, m[3].minor), (254, 0));
        assert_eq!(m[4].root, Path::new("/srv/a b"));
        assert_eq!(m[4].mount_point, Path::new("/mnt/with space"));
        let hit = mount_of(&m, 254, 0, Path::new("/mnt/with space/x")).expect("found");
        assert_eq!(hit.mount_point, Path::new("/mnt/with space"));
        let hit = mount_of(&m, 254, 0, Path::new("/etc/x")).expect("found");
        assert_eq!(hit.mount_point, Path::new("/"));
        assert!(mount_of(&m, 9, 9, Path::new("/")).is_none());
    }

    #[test]
    fn reads_this_machine() {
        assert!(mounts().iter().any(|m| m.mount_point == Path::new("/")));
    }
}
