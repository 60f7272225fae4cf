//! Finding the server's command-dispatch function by its symbol, for `record --statements`.
//!
//! Every client command (a query, a prepared-statement execution, a ping...) goes through one
//! C++ function of the server, `dispatch_command`, whose arguments carry the command and its
//! text. A uprobe and a uretprobe on it bracket each statement. Its mangled name differs between
//! MariaDB and MySQL, and between MariaDB versions, and so does where its arguments are: this
//! module knows the names (never addresses) and says which [`ArgLayout`] each has.
//!
//! [`find_in_names`] is the pure part (tested from symbol lists); [`find_in_binary`] reads an ELF
//! file's `.symtab` and `.dynsym` and gives it the names of the functions the file defines.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSymbol, SymbolKind};

/// Where the command-dispatch function's arguments are (System V calling convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgLayout {
    /// MariaDB: `dispatch_command(enum_server_command command, THD *thd, char *packet,
    /// uint packet_length, ...)`. The command is argument 1, the statement text (for `COM_QUERY`
    /// and `COM_STMT_PREPARE`) is `packet` (argument 3) with `packet_length` bytes (argument 4);
    /// for `COM_STMT_EXECUTE` the packet starts with the 4-byte statement id.
    MariaDb,
    /// MySQL: `dispatch_command(THD *thd, const COM_DATA *com_data, enum_server_command
    /// command)`. The command is argument 3; for `COM_QUERY` and `COM_STMT_PREPARE`, `com_data`
    /// points at `{const char *query; unsigned int length}`, for `COM_STMT_EXECUTE` at
    /// `{unsigned long stmt_id; ...}`.
    MySql,
}

/// The command-dispatch function found in a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchFn {
    /// Its mangled symbol name, to attach the probes to.
    pub symbol: String,
    /// Where its arguments are.
    pub layout: ArgLayout,
    /// The servers that have this function, for messages (e.g. "MariaDB 10.6+").
    pub servers: &'static str,
}

/// The servers whose dispatch function this version knows, for messages.
pub const SUPPORTED_SERVERS: &str = "MariaDB 10.4 and later, MySQL 5.7, 8.0 and 8.4";

/// One known dispatch function.
struct Candidate {
    symbol: &'static str,
    layout: ArgLayout,
    servers: &'static str,
}

/// The known dispatch functions, most preferred first (a binary has only one of them, but should
/// one have several, the first listed wins, so that the answer never depends on symbol order).
const CANDIDATES: &[Candidate] = &[
    // bool dispatch_command(enum enum_server_command command, THD *thd, char *packet,
    //                       uint packet_length, bool blocking)
    Candidate {
        symbol: "_Z16dispatch_command19enum_server_commandP3THDPcjb",
        layout: ArgLayout::MariaDb,
        servers: "MariaDB 10.6+",
    },
    // bool dispatch_command(enum enum_server_command command, THD *thd, char *packet,
    //                       uint packet_length, bool is_com_multi, bool is_next_command)
    Candidate {
        symbol: "_Z16dispatch_command19enum_server_commandP3THDPcjbb",
        layout: ArgLayout::MariaDb,
        servers: "MariaDB 10.4/10.5",
    },
    // bool dispatch_command(THD *thd, const COM_DATA *com_data, enum enum_server_command command)
    Candidate {
        symbol: "_Z16dispatch_commandP3THDPK8COM_DATA19enum_server_command",
        layout: ArgLayout::MySql,
        servers: "MySQL 5.7/8.0/8.4",
    },
];

/// Why the dispatch function could not be found. Each message is one sentence naming the binary
/// and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The file could not be read.
    #[error("cannot read the server binary {}: {source}; statements cannot be recorded without it (check the path and that it is readable)", path.display())]
    Read {
        /// The binary.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an ELF file this module can read.
    #[error("{} is not an ELF executable ({source}): give the server binary itself (mariadbd or mysqld), not a wrapper script or link to one", path.display())]
    Parse {
        /// The binary.
        path: PathBuf,
        /// What the ELF reader said.
        #[source]
        source: object::Error,
    },
    /// Neither `.symtab` nor `.dynsym` names a function the binary defines: it is stripped.
    #[error("{} is stripped (neither its symbol table nor its dynamic symbol table names its own functions), so its command-dispatch function cannot be found and recording goes on without statements: to record statements, run a server build that keeps its symbols or at least its dynamic symbol table (distribution packages normally do)", path.display())]
    NoSymbols {
        /// The binary.
        path: PathBuf,
    },
    /// The binary names its functions, but none is a dispatch function this version knows.
    #[error("{} names {functions} functions but no command-dispatch function this version of mysql-io knows, so recording goes on without statements: statements can be recorded from {SUPPORTED_SERVERS}", path.display())]
    Unknown {
        /// The binary.
        path: PathBuf,
        /// How many defined functions its symbol tables name.
        functions: usize,
    },
}

/// Finds the dispatch function among symbol names (the functions a binary defines).
///
/// Names must match exactly: compiler clones such as `...jb.cold` or `...isra.0` are other
/// functions. Returns `None` when no known name is there.
pub fn find_in_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<DispatchFn> {
    // The index of the best candidate seen so far (lowest index = most preferred).
    let mut best: Option<usize> = None;
    for name in names {
        if let Some(i) = CANDIDATES.iter().position(|c| c.symbol == name) {
            best = Some(best.map_or(i, |b| b.min(i)));
            if i == 0 {
                break;
            }
        }
    }
    best.map(|i| {
        let c = &CANDIDATES[i];
        DispatchFn { symbol: c.symbol.to_owned(), layout: c.layout, servers: c.servers }
    })
}

/// Finds the dispatch function in a server binary, from the functions its `.symtab` and
/// `.dynsym` define (undefined imports and data symbols do not count).
pub fn find_in_binary(path: &Path) -> Result<DispatchFn, DispatchError> {
    let data = std::fs::read(path).map_err(|source| DispatchError::Read { path: path.to_owned(), source })?;
    let file = object::File::parse(data.as_slice())
        .map_err(|source| DispatchError::Parse { path: path.to_owned(), source })?;
    let mut names: Vec<&str> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.is_definition() && s.kind() == SymbolKind::Text)
        .filter_map(|s| s.name().ok())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(DispatchError::NoSymbols { path: path.to_owned() });
    }
    match find_in_names(names.iter().copied()) {
        Some(found) => Ok(found),
        None => {
            // A function in both tables is counted once.
            names.sort_unstable();
            names.dedup();
            Err(DispatchError::Unknown { path: path.to_owned(), functions: names.len() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::process::Command;

    const MARIADBD: &str = "/usr/sbin/mariadbd";

    /// The symbol names of a fixture list (comment lines start with `#`).
    fn fixture(name: &str) -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/symbols").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        assert!(
            header.starts_with('#'),
            "{}: the first line must say what the list stands for",
            path.display()
        );
        lines.map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
    }

    fn find_in_fixture(name: &str) -> Option<DispatchFn> {
        let names = fixture(name);
        find_in_names(names.iter().map(String::as_str))
    }

    /// Runs a binutils tool, failing the test with its output if it fails.
    fn run(tool: &str, args: &[&std::ffi::OsStr]) {
        let out = Command::new(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool} (install binutils): {e}"));
        assert!(out.status.success(), "{tool} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A copy of /bin/true in `dir`, to strip.
    fn copy_of_true(dir: &Path) -> PathBuf {
        let path = dir.join("true");
        std::fs::copy("/bin/true", &path).expect("copy /bin/true");
        path
    }

    #[test]
    fn the_installed_mariadbd_has_the_10_6_dispatch_function() {
        let path = Path::new(MARIADBD);
        assert!(
            path.exists(),
            "{MARIADBD} is missing: install mariadb-server (apt-get install mariadb-server), this test reads the real binary"
        );
        let found = find_in_binary(path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.symbol, "_Z16dispatch_command19enum_server_commandP3THDPcjb");
        assert_eq!(found.layout, ArgLayout::MariaDb);
        assert_eq!(found.servers, "MariaDB 10.6+");
    }

    #[test]
    fn mysql_8_0_and_8_4_symbols_give_the_com_data_layout() {
        for name in ["mysql-8.0.txt", "mysql-8.4.txt"] {
            let found = find_in_fixture(name).unwrap_or_else(|| panic!("{name}: not found"));
            assert_eq!(found.symbol, "_Z16dispatch_commandP3THDPK8COM_DATA19enum_server_command", "{name}");
            assert_eq!(found.layout, ArgLayout::MySql, "{name}");
            assert_eq!(found.servers, "MySQL 5.7/8.0/8.4", "{name}");
        }
    }

    #[test]
    fn mariadb_10_5_symbols_give_the_six_argument_function() {
        let found = find_in_fixture("mariadb-10.5.txt").expect("found");
        assert_eq!(found.symbol, "_Z16dispatch_command19enum_server_commandP3THDPcjbb");
        assert_eq!(found.layout, ArgLayout::MariaDb);
        assert_eq!(found.servers, "MariaDB 10.4/10.5");
    }

    #[test]
    fn fixtures_hold_decoys_that_are_not_taken() {
        // The lists are only a fair test if they hold look-alikes next to the real name.
        let names = fixture("mysql-8.0.txt");
        for decoy in ["_Z20dispatch_sql_commandP3THDP12Parser_state", "_Z10do_commandP3THD"] {
            assert!(names.iter().any(|n| n == decoy), "mysql-8.0.txt lacks the decoy {decoy}");
        }
        assert_eq!(find_in_fixture("unknown-server.txt"), None);
    }

    #[test]
    fn names_must_match_exactly() {
        let near_misses = [
            "_Z16dispatch_command19enum_server_commandP3THDPcjb.cold",
            "_Z16dispatch_command19enum_server_commandP3THDPcjb.isra.0",
            "_Z16dispatch_commandP3THDPK8COM_DATA19enum_server_command.part.0",
            "dispatch_command",
            "_Z16dispatch_command19enum_server_commandP3THDPcj",
            "",
        ];
        assert_eq!(find_in_names(near_misses), None);
        assert_eq!(find_in_names([]), None);
    }

    #[test]
    fn the_preferred_candidate_wins_whatever_the_order() {
        let both = [
            "_Z16dispatch_commandP3THDPK8COM_DATA19enum_server_command",
            "_Z16dispatch_command19enum_server_commandP3THDPcjb",
        ];
        let forward = find_in_names(both).expect("found");
        let backward = find_in_names(both.iter().rev().copied()).expect("found");
        assert_eq!(forward, backward);
        assert_eq!(forward.layout, ArgLayout::MariaDb);
    }

    #[test]
    fn every_candidate_is_found_on_its_own() {
        for c in CANDIDATES {
            let found = find_in_names([c.symbol]).expect("found");
            assert_eq!((found.symbol.as_str(), found.layout, found.servers), (c.symbol, c.layout, c.servers));
        }
    }

    /// The C library this test process runs with: a real ELF file whose `.dynsym` defines
    /// thousands of functions, none of them a dispatch function.
    fn libc_path() -> PathBuf {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
        maps.lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .find(|p| Path::new(p).file_name().is_some_and(|f| f.to_string_lossy().starts_with("libc.so")))
            .map(PathBuf::from)
            .expect("this test process maps libc.so")
    }

    #[test]
    fn a_binary_without_the_function_is_unknown_and_the_message_names_the_servers() {
        let path = libc_path();
        let err = find_in_binary(&path).expect_err("libc has no dispatch function");
        assert!(matches!(err, DispatchError::Unknown { functions, .. } if functions > 100), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
        assert!(msg.contains("MariaDB 10.4 and later") && msg.contains("MySQL 5.7, 8.0 and 8.4"), "{msg}");
        assert!(msg.contains("without statements"), "{msg}");
    }

    #[test]
    fn a_binary_stripped_of_both_symbol_tables_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = copy_of_true(dir.path());
        run(
            "objcopy",
            &[
                "--strip-all".as_ref(),
                "-R".as_ref(),
                ".dynsym".as_ref(),
                "-R".as_ref(),
                ".dynstr".as_ref(),
                path.as_os_str(),
            ],
        );
        let out = Command::new("readelf").arg("-S").arg("-W").arg(&path).output().expect("readelf");
        let sections = String::from_utf8_lossy(&out.stdout);
        assert!(!sections.contains(".symtab") && !sections.contains(".dynsym"), "{sections}");
        let err = find_in_binary(&path).expect_err("stripped");
        assert!(matches!(err, DispatchError::NoSymbols { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
        assert!(msg.contains("without statements"), "{msg}");
        assert!(msg.contains("dynamic symbol table"), "{msg}");
    }

    #[test]
    fn a_stripped_executable_whose_dynsym_only_imports_counts_as_stripped() {
        // strip --strip-all keeps .dynsym, but an ordinary executable's .dynsym names only what
        // it imports from libc: no function of its own.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = copy_of_true(dir.path());
        run("strip", &["--strip-all".as_ref(), path.as_os_str()]);
        let err = find_in_binary(&path).expect_err("stripped");
        assert!(matches!(err, DispatchError::NoSymbols { .. }), "{err:?}");
    }

    #[test]
    fn a_file_that_is_not_elf_is_a_parse_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("mysqld_safe");
        std::fs::write(&script, "#!/bin/sh\nexec /usr/sbin/mariadbd \"$@\"\n").expect("write");
        let err = find_in_binary(&script).expect_err("not ELF");
        assert!(matches!(err, DispatchError::Parse { .. }), "{err:?}");
        assert!(err.to_string().contains(&*script.to_string_lossy()), "{err}");

        for bytes in [&b""[..], b"\x7fELF", b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0garbage"] {
            let path = dir.path().join("bad");
            std::fs::write(&path, bytes).expect("write");
            let err = find_in_binary(&path).expect_err("bad ELF");
            assert!(matches!(err, DispatchError::Parse { .. }), "{bytes:?}: {err:?}");
        }
    }

    #[test]
    fn a_truncated_server_binary_does_not_panic() {
        let data = std::fs::read(MARIADBD).expect("install mariadb-server: read /usr/sbin/mariadbd");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cut");
        for len in [64, 4096, data.len() / 2] {
            std::fs::write(&path, &data[..len]).expect("write");
            // Any answer will do, as long as it is one.
            let _ = find_in_binary(&path);
        }
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("no-such-mariadbd");
        let err = find_in_binary(&path).expect_err("missing");
        assert!(
            matches!(&err, DispatchError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }
}
