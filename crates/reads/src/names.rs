//! Names the analyses group by: a thread's role and a file's table, and the trace's threads
//! with their roles.

use std::collections::BTreeMap;

use mysql_io_format::Trace;

/// A thread as the trace names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadName {
    /// Process.
    pub pid: u32,
    /// Kernel name (the last one recorded).
    pub comm: String,
    /// Role (see [`role`]).
    pub role: String,
}

/// Every thread the trace names, by tid: its last recorded kernel name, and its role from that
/// name, or from the server's name for it once the trace has one (a server role outlives later
/// renames).
pub fn threads(trace: &Trace<'_>) -> BTreeMap<u32, ThreadName> {
    let mut threads: BTreeMap<u32, ThreadName> = BTreeMap::new();
    let mut infos: Vec<&mysql_io_format::ThreadInfo> = trace.threads().iter().collect();
    infos.sort_by_key(|t| t.ts);
    for t in infos {
        let e = threads.entry(t.tid).or_insert_with(|| ThreadName {
            pid: t.pid,
            comm: String::new(),
            role: String::new(),
        });
        e.comm = t.comm.clone();
        if !t.role.is_empty() || e.role.is_empty() {
            e.role = role(&t.comm, &t.role);
        }
    }
    threads
}

/// The role a read's thread is counted under: its role when the trace names the thread, else
/// `tid N`.
pub fn role_of(threads: &BTreeMap<u32, ThreadName>, tid: u32) -> String {
    threads.get(&tid).map_or_else(|| unnamed_role(tid), |t| t.role.clone())
}

/// The role of a thread the trace does not name.
pub fn unnamed_role(tid: u32) -> String {
    format!("tid {tid}")
}

/// A thread's role: the server's own thread name when the trace has one (the last part of a
/// performance_schema name like `thread/innodb/io_read_thread`); else, for the kernel names
/// MySQL 8.0.27+ gives its threads, the role performance_schema would give them
/// ([`MYSQL_THREAD_NAMES`]: `ib_io_rd-3` -> `io_read_thread`, `connection` -> `one_connection`),
/// so a MySQL 8 trace groups the same with or without performance_schema; else the kernel name
/// without its numeric suffix (`iou-wrk-4242` -> `iou-wrk`, `mariadbd` as is).
pub fn role(comm: &str, server_name: &str) -> String {
    if !server_name.is_empty() {
        return server_name.rsplit('/').next().unwrap_or(server_name).to_string();
    }
    if let Some(role) = mysql_role(comm) {
        return role.to_string();
    }
    let trimmed = comm.trim_end_matches(|c: char| c.is_ascii_digit());
    let trimmed = if trimmed.len() < comm.len() {
        trimmed.trim_end_matches(['-', '_', '/', ':', '.'])
    } else {
        trimmed
    };
    if trimmed.is_empty() {
        comm.to_string()
    } else {
        trimmed.to_string()
    }
}

/// The kernel name MySQL 8.0.27+ gives each kind of thread (before any `-N` sequence number)
/// and the last part of the thread's performance_schema name. From the servers'
/// performance_schema thread registrations (`all_innodb_threads` in InnoDB's `ha_innodb.cc`,
/// the server's thread keys) and `ps -L` listings of MySQL 8.0.28; the recorder's
/// `tests/fixtures/MYSQL-SOURCES.md` says where each comes from. The main thread is not here:
/// it keeps the process's name, `mysqld`, which every thread has when the server runs without
/// performance_schema.
pub const MYSQL_THREAD_NAMES: &[(&str, &str)] = &[
    // InnoDB I/O: the asynchronous read and write threads (numbered from 1), the insert buffer's
    // and (8.0 before the redo log rework) the log's.
    ("ib_io_rd", "io_read_thread"),
    ("ib_io_wr", "io_write_thread"),
    ("ib_io_ibuf", "io_ibuf_thread"),
    ("ib_io_log", "io_log_thread"),
    // Page cleaners: the coordinator (a singleton) and its workers.
    ("ib_pg_flush_co", "page_flush_coordinator_thread"),
    ("ib_pg_flush", "page_flush_thread"),
    // Redo log.
    ("ib_log_writer", "log_writer_thread"),
    ("ib_log_flush", "log_flusher_thread"),
    ("ib_log_wr_notif", "log_write_notifier_thread"),
    ("ib_log_fl_notif", "log_flush_notifier_thread"),
    ("ib_log_checkpt", "log_checkpointer_thread"),
    ("ib_log_files_g", "log_files_governor_thread"),
    ("ib_log_arch", "log_archiver_thread"),
    ("ib_page_arch", "page_archiver_thread"),
    ("ib_recv_write", "recv_writer_thread"),
    // Server-wide InnoDB background work ("ib_src_main" is spelt so in the source).
    ("ib_src_main", "srv_master_thread"),
    ("ib_srv_purge", "srv_purge_thread"),
    ("ib_srv_wkr", "srv_worker_thread"),
    ("ib_srv_lock_to", "srv_lock_timeout_thread"),
    ("ib_srv_err_mon", "srv_error_monitor_thread"),
    ("ib_srv_mon", "srv_monitor_thread"),
    ("ib_buf_resize", "buf_resize_thread"),
    ("ib_buf_dump", "buf_dump_thread"),
    ("ib_dict_stats", "dict_stats_thread"),
    ("ib_fts_opt", "fts_optimize_thread"),
    ("ib_fts_merge", "fts_parallel_merge_thread"),
    ("ib_fts_token", "fts_parallel_tokenization_thread"),
    ("ib_clone_gtid", "clone_gtid_thread"),
    ("ib_clone_ddl", "clone_ddl_thread"),
    ("ib_ts_encrypt", "srv_ts_alter_encrypt_thread"),
    ("ib_tx_recov", "trx_recovery_rollback_thread"),
    // Work a statement hands to helper threads: parallel scans, index builds.
    ("ib_par_rd", "parallel_read_thread"),
    ("ib_par_rseg", "parallel_rseg_init_thread"),
    ("ib_ddl", "ddl_thread"),
    // The SQL layer.
    ("connection", "one_connection"),
    ("evt_sched", "event_scheduler"),
    ("sig_handler", "signal_handler"),
    ("gtid_zip", "compress_gtid_table"),
];

/// The performance_schema role of a MySQL 8 kernel thread name: the name, or the name without
/// a `-N` sequence number, looked up in [`MYSQL_THREAD_NAMES`].
fn mysql_role(comm: &str) -> Option<&'static str> {
    let lookup = |name: &str| MYSQL_THREAD_NAMES.iter().find(|(os, _)| *os == name).map(|(_, role)| *role);
    lookup(comm).or_else(|| {
        let (stem, n) = comm.rsplit_once('-')?;
        (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
        lookup(stem)
    })
}

/// The table a file belongs to: `schema/table.ibd` -> `schema.table`, partitions folded
/// (`t#p#p0.ibd`, `t#P#p0#SP#s0.ibd` -> `schema.t`); other files keep their file name (`ibdata1`,
/// `ib_logfile0`, `binlog.000001`).
pub fn table(path: &str) -> String {
    let mut parts = path.rsplit('/');
    let file = parts.next().unwrap_or(path);
    let Some(stem) = file.strip_suffix(".ibd") else {
        return file.to_string();
    };
    let stem = match stem.find("#p#").or_else(|| stem.find("#P#")) {
        Some(i) => &stem[..i],
        None => stem,
    };
    match parts.next() {
        Some(schema) if !schema.is_empty() => format!("{schema}.{stem}"),
        _ => stem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert_eq!(role("iou-wrk-4242", ""), "iou-wrk");
        assert_eq!(role("mariadbd", ""), "mariadbd");
        assert_eq!(role("mysqld", ""), "mysqld");
        assert_eq!(role("worker-0", ""), "worker");
        assert_eq!(role("12345", ""), "12345");
        assert_eq!(role("kswapd0", ""), "kswapd");
        assert_eq!(role("mariadbd", "thread/sql/one_connection"), "one_connection");
        // A server name wins over any kernel name.
        assert_eq!(role("ib_io_rd-3", "thread/innodb/io_write_thread"), "io_write_thread");
    }

    #[test]
    fn mysql_8_kernel_names_take_performance_schema_roles() {
        assert_eq!(role("ib_io_rd-3", ""), "io_read_thread");
        assert_eq!(role("ib_io_wr-12", ""), "io_write_thread");
        assert_eq!(role("connection", ""), "one_connection");
        assert_eq!(role("ib_pg_flush_co", ""), "page_flush_coordinator_thread");
        assert_eq!(role("ib_pg_flush-1", ""), "page_flush_thread");
        assert_eq!(role("ib_src_main", ""), "srv_master_thread");
        // Only a `-N` sequence number is dropped before the lookup; other names keep today's
        // trimming.
        assert_eq!(role("ib_io_rd", ""), "io_read_thread");
        assert_eq!(role("ib_io_rd-", ""), "ib_io_rd-");
        assert_eq!(role("ib_io_rdx-1", ""), "ib_io_rdx");
        assert_eq!(role("connection-2", ""), "one_connection");
        assert_eq!(role("connections", ""), "connections");
    }

    #[test]
    fn the_table_is_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for (os, ps) in MYSQL_THREAD_NAMES {
            // The kernel keeps 15 bytes; numbered kinds need room for "-NN" (pfs_instr_class.cc).
            assert!(os.len() <= 15, "{os}");
            assert!(seen.insert(*os), "{os} twice");
            assert!(!ps.contains('/') && !ps.is_empty(), "{ps}");
            assert!(!os.ends_with(|c: char| c.is_ascii_digit()), "{os}");
        }
    }

    /// `tid<TAB>field` lines of one of the recorder's MySQL fixtures.
    fn fixture(text: &str) -> std::collections::BTreeMap<u32, &str> {
        text.lines()
            .map(|l| {
                let (tid, v) = l.split_once('\t').expect("tid<TAB>value");
                (tid.parse().expect("tid"), v)
            })
            .collect()
    }

    /// Every thread of the MySQL 8.0 and 8.4 fixtures: the role from its kernel name alone equals
    /// the role from its performance_schema name, and every thread performance_schema names
    /// that does not carry the process's name has a kernel name in the table.
    #[test]
    fn mysql_8_roles_are_the_same_with_or_without_performance_schema() {
        let servers = [
            (
                "8.0",
                include_str!("../../recorder/tests/fixtures/mysql-8.0-threads.tsv"),
                include_str!("../../recorder/tests/fixtures/mysql-8.0-comm.tsv"),
            ),
            (
                "8.4",
                include_str!("../../recorder/tests/fixtures/mysql-8.4-threads.tsv"),
                include_str!("../../recorder/tests/fixtures/mysql-8.4-comm.tsv"),
            ),
        ];
        for (version, ps, comms) in servers {
            let (ps, comms) = (fixture(ps), fixture(comms));
            let mut compared = std::collections::BTreeSet::new();
            for (tid, comm) in &comms {
                let Some(name) = ps.get(tid) else {
                    // Not named by performance_schema: the kernel name is all there is.
                    assert_eq!(role(comm, ""), *comm, "{version}: tid {tid}");
                    continue;
                };
                let with_ps = role(comm, name);
                if *comm == "mysqld" {
                    // The main thread: its kernel name says nothing (every thread has it when
                    // performance_schema is off).
                    assert_eq!(with_ps, "main", "{version}: tid {tid}");
                    assert_eq!(role(comm, ""), "mysqld");
                    continue;
                }
                assert!(mysql_role(comm).is_some(), "{version}: no role for kernel name {comm} ({name})");
                assert_eq!(role(comm, ""), with_ps, "{version}: tid {tid} {comm} = {name}");
                compared.insert(with_ps);
            }
            for expected in ["io_read_thread", "io_write_thread", "one_connection", "page_flush_thread"] {
                assert!(compared.contains(expected), "{version}: no {expected} compared");
            }
            assert!(compared.len() >= 25, "{version}: {compared:?}");
        }
    }

    #[test]
    fn mariadb_threads_keep_todays_roles() {
        // MariaDB names every thread `mariadbd`; its roles come from performance_schema only.
        assert_eq!(role("mariadbd", ""), "mariadbd");
        assert_eq!(role("mariadbd", "thread/innodb/page_cleaner_thread"), "page_cleaner_thread");
        assert_eq!(role("mysqld", "thread/sql/one_connection"), "one_connection");
    }

    #[test]
    fn tables() {
        assert_eq!(table("/var/lib/mysql/sbtest/sbtest1.ibd"), "sbtest.sbtest1");
        assert_eq!(table("/d/shop/orders#p#p2024.ibd"), "shop.orders");
        assert_eq!(table("/d/shop/orders#P#p0#SP#s1.ibd"), "shop.orders");
        assert_eq!(table("/var/lib/mysql/ibdata1"), "ibdata1");
        assert_eq!(table("binlog.000001"), "binlog.000001");
        assert_eq!(table("t.ibd"), "t");
    }
}
