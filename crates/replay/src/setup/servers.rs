//! Running MySQL/MariaDB servers that use the replay files.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::SetupError;

/// A running server process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProcess {
    /// Its pid.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`, at most 15 bytes).
    pub comm: String,
}

/// How a server uses a replay file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseKind {
    /// The server has the file open on this descriptor.
    OpenFd(u32),
    /// The file is under the server's working directory, which for mysqld is its data directory;
    /// the server may open the file at any time even if it has it closed now.
    UnderWorkingDir,
}

impl fmt::Display for UseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UseKind::OpenFd(fd) => write!(f, "open on fd {fd}"),
            UseKind::UnderWorkingDir => f.write_str("under its data directory"),
        }
    }
}

/// A replay file used by a running server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUse {
    /// The replay file, as given.
    pub path: PathBuf,
    /// The server's pid.
    pub pid: u32,
    /// The server's command name.
    pub comm: String,
    /// How it uses the file.
    pub how: UseKind,
}

/// What [`live_server_files`] found.
#[derive(Debug, Default)]
pub struct LiveServers {
    /// Every running server process.
    pub servers: Vec<ServerProcess>,
    /// Replay files they use: one entry per (file, server), an open descriptor preferred over the
    /// working directory.
    pub uses: Vec<ServerUse>,
    /// Servers whose descriptors could not be listed (not root and not the same user), with why.
    pub hidden: Vec<(ServerProcess, io::Error)>,
}

impl LiveServers {
    /// `Ok` when no server uses a replay file and none was hidden from the check; otherwise the
    /// error for the CLI to print unless `--force`.
    pub fn refuse(&self) -> Result<(), SetupError> {
        if let Some(first) = self.uses.first() {
            let count = self.uses.iter().map(|u| &u.path).collect::<std::collections::HashSet<_>>().len();
            return Err(SetupError::LiveServer {
                path: first.path.clone(),
                pid: first.pid,
                comm: first.comm.clone(),
                how: first.how,
                count,
            });
        }
        if let Some((server, source)) = self.hidden.first() {
            return Err(SetupError::ServerHidden {
                pid: server.pid,
                comm: server.comm.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            });
        }
        Ok(())
    }
}

/// Whether a command name is a MySQL or MariaDB server: `mysqld`, `mariadbd` and variants such as
/// `mysqld-debug`, but not the wrapper scripts (`mysqld_safe`, `mysqld_multi`, `mariadbd-safe`),
/// which hold no data files.
fn is_server(comm: &str) -> bool {
    ["mysqld", "mariadbd"].iter().any(|base| {
        comm.strip_prefix(base).is_some_and(|rest| {
            !["_safe", "-safe", "_multi", "-multi"].iter().any(|script| rest.starts_with(script))
        })
    })
}

/// `(st_dev, st_ino)`, which identifies a file whatever path or mount namespace it is seen from.
fn file_id(meta: &fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Finds running `mysqld`/`mariadbd` processes that use any of `paths`.
///
/// Each server's open descriptors (`/proc/PID/fd/*`) are compared with the replay files by
/// `(st_dev, st_ino)`, so hard links, bind mounts and other mount namespaces do not hide a match;
/// where a descriptor cannot be stat'ed its link text is compared with the canonical path. A
/// replay file under a server's working directory (its data directory) counts too, since the
/// server may open it later.
///
/// Reading another user's `/proc/PID/fd` needs root (or `CAP_SYS_PTRACE`): servers that could not
/// be inspected are listed in [`LiveServers::hidden`].
pub fn live_server_files(paths: &[PathBuf]) -> LiveServers {
    scan(Path::new("/proc"), paths)
}

fn scan(proc_root: &Path, paths: &[PathBuf]) -> LiveServers {
    // Several replay paths can be one file (hard links): each gets reported.
    let mut by_id: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    let mut by_path: HashMap<PathBuf, usize> = HashMap::new();
    // Directories above each file (not "/"): a server working there makes the file "in use".
    let mut by_dir: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    for (i, path) in paths.iter().enumerate() {
        if let Ok(meta) = fs::metadata(path) {
            by_id.entry(file_id(&meta)).or_default().push(i);
        }
        if let Ok(canonical) = fs::canonicalize(path) {
            for dir in canonical.ancestors().skip(1).filter(|d| d.parent().is_some()) {
                if let Ok(meta) = fs::metadata(dir) {
                    by_dir.entry(file_id(&meta)).or_default().push(i);
                }
            }
            by_path.insert(canonical, i);
        }
    }

    let mut found = LiveServers::default();
    let Ok(entries) = fs::read_dir(proc_root) else { return found };
    let mut pids: Vec<u32> = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    for pid in pids {
        let proc_dir = proc_root.join(pid.to_string());
        let Ok(comm) = fs::read_to_string(proc_dir.join("comm")) else { continue };
        let comm = comm.trim_end_matches('\n').to_owned();
        if !is_server(&comm) {
            continue;
        }
        let server = ServerProcess { pid, comm: comm.clone() };
        let mut uses: Vec<(usize, UseKind)> = Vec::new();
        match fs::read_dir(proc_dir.join("fd")) {
            Ok(fds) => {
                for fd_entry in fds.flatten() {
                    let Some(fd) = fd_entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                        continue;
                    };
                    let link = fd_entry.path();
                    let hits: Vec<usize> = match fs::metadata(&link) {
                        Ok(meta) => by_id.get(&file_id(&meta)).cloned().unwrap_or_default(),
                        Err(_) => fs::read_link(&link)
                            .ok()
                            .and_then(|target| by_path.get(&target).copied())
                            .into_iter()
                            .collect(),
                    };
                    for i in hits {
                        if !uses.iter().any(|(j, _)| *j == i) {
                            uses.push((i, UseKind::OpenFd(fd)));
                        }
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // it just exited
            Err(e) => found.hidden.push((server.clone(), e)),
        }
        if let Ok(cwd) = fs::metadata(proc_dir.join("cwd")) {
            for &i in by_dir.get(&file_id(&cwd)).into_iter().flatten() {
                if !uses.iter().any(|(j, _)| *j == i) {
                    uses.push((i, UseKind::UnderWorkingDir));
                }
            }
        }
        uses.sort_by_key(|(i, _)| *i);
        found.uses.extend(uses.into_iter().map(|(i, how)| ServerUse {
            path: paths[i].clone(),
            pid,
            comm: comm.clone(),
            how,
        }));
        found.servers.push(server);
    }
    found
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};
    use std::thread;
    use std::time::{Duration, Instant};

    use super::super::testutil::ChildGuard;
    use super::*;

    #[test]
    fn recognises_server_names() {
        for name in ["mysqld", "mariadbd", "mysqld-debug", "mysqld.bin"] {
            assert!(is_server(name), "{name}");
        }
        for name in ["mysqld_safe", "mariadbd-safe", "mysqld_multi", "mysql", "sleep", "xmysqld", ""] {
            assert!(!is_server(name), "{name}");
        }
    }

    /// A copy of sleep named `mysqld`, holding one file open and working in another directory.
    #[test]
    fn finds_files_a_fake_mysqld_uses() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bin = tmp.path().join("mysqld");
        fs::copy("/bin/sleep", &bin).expect("copy sleep");
        let open_file = tmp.path().join("open.ibd");
        let unrelated = tmp.path().join("unrelated.ibd");
        let datadir = tmp.path().join("datadir");
        fs::create_dir(&datadir).expect("mkdir");
        let in_datadir = datadir.join("t.ibd");
        for f in [&open_file, &unrelated, &in_datadir] {
            fs::write(f, b"data").expect("write");
        }
        let link = tmp.path().join("hardlink.ibd");
        fs::hard_link(&open_file, &link).expect("hard link");

        let child = Command::new("sh")
            .args(["-c", "exec 7<\"$1\"; exec \"$2\" 30", "sh"])
            .arg(&open_file)
            .arg(&bin)
            .current_dir(&datadir)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn");
        let child = ChildGuard::wrap(child);
        let pid = child.pid();
        let start = Instant::now();
        while fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim() != "mysqld").unwrap_or(true) {
            assert!(start.elapsed() < Duration::from_secs(10), "the child never became mysqld");
            thread::sleep(Duration::from_millis(10));
        }

        let paths = vec![unrelated.clone(), open_file.clone(), link.clone(), in_datadir.clone()];
        let found = live_server_files(&paths);
        let ours: Vec<&ServerUse> = found.uses.iter().filter(|u| u.pid == pid).collect();
        assert!(found.servers.iter().any(|s| s.pid == pid && s.comm == "mysqld"));
        assert_eq!(
            ours.iter().map(|u| (u.path.as_path(), u.how)).collect::<Vec<_>>(),
            vec![
                (open_file.as_path(), UseKind::OpenFd(7)),
                (link.as_path(), UseKind::OpenFd(7)),
                (in_datadir.as_path(), UseKind::UnderWorkingDir),
            ]
        );
        let err = found.refuse().expect_err("in use");
        let msg = err.to_string();
        assert!(msg.contains("open.ibd is used by the running mysqld"), "{msg}");
        assert!(msg.contains("open on fd 7") && msg.ends_with("stop the server or pass --force"), "{msg}");
        assert!(msg.contains("(and 2 more are in use)"), "{msg}");

        let none = live_server_files(&[unrelated]);
        assert!(none.uses.iter().all(|u| u.pid != pid));
        drop(child);
    }
}
