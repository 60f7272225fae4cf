//! What the server itself can tell: its own thread names (performance_schema) and its status
//! counters (`SHOW GLOBAL STATUS`), asked through the server's client program (`mariadb` or
//! `mysql`) on the server's unix socket, so the user's client configuration (`~/.my.cnf`, or
//! the option file given with `--mysql-defaults-file`; `MYSQL_PWD`) and socket authentication
//! work as they do for them.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one query may take (the client is killed after that).
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Status counters worth showing beside the kernel's view (all are stored).
pub const KEY_COUNTERS: &[&str] = &[
    "Innodb_data_reads",
    "Innodb_data_read",
    "Innodb_buffer_pool_reads",
    "Innodb_buffer_pool_read_requests",
    "Innodb_buffer_pool_read_ahead",
    "Innodb_buffer_pool_read_ahead_evicted",
    "Innodb_buffer_pool_read_ahead_rnd",
    "Innodb_pages_read",
    "Questions",
];

/// Where and how to ask a server.
#[derive(Debug, Clone)]
pub struct ServerLink {
    /// The server's process.
    pub pid: u32,
    /// Its unix socket.
    pub socket: PathBuf,
    client: PathBuf,
    user: Option<String>,
    defaults_file: Option<PathBuf>,
}

/// The client program: `mariadb`, else `mysql`, from PATH.
pub fn find_client() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["mariadb", "mysql"].iter().find_map(|name| {
        std::env::split_paths(&path).map(|d| d.join(name)).find(|p| {
            std::fs::metadata(p).is_ok_and(|m| {
                m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
    })
}

/// The unix socket `pid` listens on, from its socket descriptors and `/proc/net/unix`.
pub fn find_socket(pid: u32) -> Option<PathBuf> {
    let mut inodes = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let t = target.to_string_lossy();
            if let Some(n) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                if let Ok(n) = n.parse::<u64>() {
                    inodes.push(n);
                }
            }
        }
    }
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    classic_socket(listening_paths(&table, &inodes))
}

/// The classic-protocol socket among a server's listening sockets: MySQL 8 also listens for
/// its X Plugin (`mysqlx.sock` by default, `mysqlx_socket`), which the client cannot speak.
fn classic_socket(paths: Vec<PathBuf>) -> Option<PathBuf> {
    paths.into_iter().find(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().contains("mysqlx")))
}

/// Paths of the listening sockets among `inodes` in a `/proc/net/unix` table.
fn listening_paths(table: &str, inodes: &[u64]) -> Vec<PathBuf> {
    const ACCEPTING: u64 = 0x10000; // __SO_ACCEPTCON: a listening socket
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // Num RefCount Protocol Flags Type St Inode [Path]
            let f: Vec<&str> = line.split_whitespace().collect();
            let flags = u64::from_str_radix(f.get(3)?, 16).ok()?;
            let inode: u64 = f.get(6)?.parse().ok()?;
            let path = f.get(7)?;
            (flags & ACCEPTING != 0 && inodes.contains(&inode) && path.starts_with('/'))
                .then(|| PathBuf::from(path))
        })
        .collect()
}

impl ServerLink {
    /// A link to the server `pid` through `socket` (found when `None`), as `user` (the client's
    /// default when `None`). Says why when there is none.
    pub fn new(
        pid: u32,
        socket: Option<&Path>,
        user: Option<&str>,
        defaults_file: Option<&Path>,
    ) -> Result<ServerLink, String> {
        let client = find_client().ok_or_else(|| {
            "no mariadb or mysql client program in PATH to ask the server for its thread names and counters (install mariadb-client or mysql-client, or pass --no-server-queries)".to_string()
        })?;
        let socket = match socket {
            Some(s) => s.to_path_buf(),
            None => find_socket(pid).ok_or_else(|| {
                format!("process {pid} listens on no classic-protocol unix socket (an X Plugin socket does not do): pass --mysql-socket PATH to ask the server for its thread names and counters")
            })?,
        };
        Ok(ServerLink {
            pid,
            socket,
            client,
            user: user.map(str::to_string),
            defaults_file: defaults_file.map(Path::to_path_buf),
        })
    }

    /// Runs one statement; what the client printed (tab-separated rows, no header).
    fn query(&self, sql: &str) -> Result<String, String> {
        let mut cmd = Command::new(&self.client);
        // The client takes --defaults-file only as its first argument.
        if let Some(f) = &self.defaults_file {
            cmd.arg(format!("--defaults-file={}", f.display()));
        }
        cmd.arg(format!("--socket={}", self.socket.display())).args([
            "--batch",
            "--skip-column-names",
            "--connect-timeout=3",
        ]);
        if let Some(u) = &self.user {
            cmd.arg(format!("--user={u}"));
        }
        let mut child = cmd
            .arg(format!("--execute={sql}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.client.display()))?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if started.elapsed() > QUERY_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("the server on {} did not answer within 5 s", self.socket.display()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(e.to_string()),
            }
        };
        let (mut out, mut err) = (String::new(), String::new());
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        if !status.success() {
            return Err(format!("{} on {}: {}", self.client.display(), self.socket.display(), err.trim()));
        }
        Ok(out)
    }

    /// performance_schema's name of each OS thread of the server (tid → name, e.g.
    /// `thread/sql/one_connection`). An error with a reason when performance_schema lists no
    /// thread (it is off).
    pub fn thread_names(&self) -> Result<HashMap<u32, String>, String> {
        let names = parse_thread_names(&self.query(THREADS_QUERY)?);
        if names.is_empty() {
            return Err(
                "performance_schema lists no threads (it is off: start the server with --performance-schema=ON to get thread roles)"
                    .into(),
            );
        }
        Ok(names)
    }

    /// The numeric counters of `SHOW GLOBAL STATUS`.
    pub fn status(&self) -> Result<Vec<(String, i64)>, String> {
        Ok(parse_status(&self.query(STATUS_QUERY)?))
    }
}

/// The statement [`ServerLink::thread_names`] runs (the same on MariaDB and MySQL 8.0/8.4).
pub const THREADS_QUERY: &str =
    "SELECT THREAD_OS_ID, NAME FROM performance_schema.threads WHERE THREAD_OS_ID IS NOT NULL";

/// The statement [`ServerLink::status`] runs.
pub const STATUS_QUERY: &str = "SHOW GLOBAL STATUS";

/// The rows of the client's `--batch --skip-column-names` output: one a line, fields split at
/// tabs. The client escapes tabs, newlines and backslashes inside values (`\t`, `\n`, `\\`),
/// so a value never spans lines or fields.
fn rows(out: &str) -> impl Iterator<Item = Vec<&str>> {
    out.lines().filter(|l| !l.is_empty()).map(|l| l.strip_suffix('\r').unwrap_or(l).split('\t').collect())
}

/// The answer to [`THREADS_QUERY`] as the client prints it (`THREAD_OS_ID<TAB>NAME` a line):
/// tid → performance_schema name. Rows whose tid is not a number (`NULL`) or that lack a name are
/// left out.
pub fn parse_thread_names(out: &str) -> HashMap<u32, String> {
    rows(out)
        .filter_map(|r| match r.as_slice() {
            [tid, name, ..] if !name.is_empty() => Some((tid.parse().ok()?, (*name).to_string())),
            _ => None,
        })
        .collect()
}

/// The answer to [`STATUS_QUERY`] as the client prints it (`Variable_name<TAB>Value` a line):
/// the counters whose value is an integer, in the server's order. Text values (`Ssl_cipher`
/// empty, `Innodb_buffer_pool_dump_status` a sentence, `ON`/`OFF`) are left out.
pub fn parse_status(out: &str) -> Vec<(String, i64)> {
    rows(out)
        .filter_map(|r| match r.as_slice() {
            [name, value] if !name.is_empty() => Some(((*name).to_string(), value.parse::<i64>().ok()?)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_unix_sockets_are_found_by_inode() {
        let table = "\
Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 41234 /run/mysqld/mysqld.sock
0000000000000000: 00000002 00000000 00000000 0001 03 41235 /run/mysqld/mysqld.sock
0000000000000000: 00000002 00000000 00010000 0001 01 777 /run/other.sock
0000000000000000: 00000002 00000000 00010000 0001 01 41236 @abstract
";
        assert_eq!(
            listening_paths(table, &[41234, 41235, 41236]),
            [PathBuf::from("/run/mysqld/mysqld.sock")]
        );
        assert!(listening_paths(table, &[1]).is_empty());
    }

    #[test]
    fn the_x_plugin_socket_is_not_the_one_asked() {
        // MySQL 8.0/8.4 on Debian/Ubuntu and RHEL: the X Plugin's socket may come first.
        let paths = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            classic_socket(paths(&["/var/run/mysqld/mysqlx.sock", "/var/run/mysqld/mysqld.sock"])),
            Some(PathBuf::from("/var/run/mysqld/mysqld.sock"))
        );
        assert_eq!(
            classic_socket(paths(&["/var/lib/mysql/mysql.sock", "/var/lib/mysql/mysqlx.sock"])),
            Some(PathBuf::from("/var/lib/mysql/mysql.sock"))
        );
        assert_eq!(classic_socket(paths(&["/tmp/mysqlx.sock"])), None);
        assert_eq!(classic_socket(Vec::new()), None);
    }
}
