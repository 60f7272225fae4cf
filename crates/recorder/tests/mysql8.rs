//! What MySQL 8.0 and 8.4 servers answer, parsed as the recorder parses it: the client's output
//! for the performance_schema thread query and for `SHOW GLOBAL STATUS`, from fixtures written
//! from MySQL's sources and manual (tests/fixtures/MYSQL-SOURCES.md says where each fact comes
//! from). No server needed.

use std::collections::{BTreeMap, HashMap};

use mysql_io_recorder::server::{parse_status, parse_thread_names, KEY_COUNTERS};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `tid<TAB>comm` lines.
fn comms(version: &str) -> BTreeMap<u32, String> {
    fixture(&format!("mysql-{version}-comm.tsv"))
        .lines()
        .map(|l| {
            let (tid, comm) = l.split_once('\t').expect("tid<TAB>comm");
            (tid.parse().expect("tid"), comm.to_string())
        })
        .collect()
}

fn names_of(names: &HashMap<u32, String>, name: &str) -> usize {
    names.values().filter(|n| *n == name).count()
}

#[test]
fn mysql_8_0_thread_names_are_parsed_by_tid() {
    let text = fixture("mysql-8.0-threads.tsv");
    let names = parse_thread_names(&text);
    assert_eq!(names.len(), text.lines().count(), "every row is a thread");
    assert_eq!(names[&1201].as_str(), "thread/sql/main");
    assert_eq!(names[&1207].as_str(), "thread/innodb/io_read_thread");
    assert_eq!(names[&1205].as_str(), "thread/innodb/io_ibuf_thread");
    assert_eq!(names_of(&names, "thread/innodb/io_read_thread"), 4);
    assert_eq!(names_of(&names, "thread/innodb/io_write_thread"), 4);
    assert_eq!(names_of(&names, "thread/innodb/page_flush_thread"), 3);
    assert_eq!(names_of(&names, "thread/innodb/page_flush_coordinator_thread"), 1);
    assert_eq!(names_of(&names, "thread/sql/one_connection"), 8);
}

#[test]
fn mysql_8_4_thread_names_are_parsed_by_tid() {
    let text = fixture("mysql-8.4-threads.tsv");
    let names = parse_thread_names(&text);
    assert_eq!(names.len(), text.lines().count(), "every row is a thread");
    assert_eq!(names[&2301].as_str(), "thread/sql/main");
    assert_eq!(names_of(&names, "thread/innodb/io_read_thread"), 4);
    assert_eq!(names_of(&names, "thread/innodb/log_files_governor_thread"), 1);
    assert_eq!(names_of(&names, "thread/innodb/parallel_read_thread"), 4);
    assert_eq!(names_of(&names, "thread/sql/one_connection"), 6);
    assert_eq!(names_of(&names, "thread/innodb/io_log_thread"), 0);
}

#[test]
fn every_named_thread_is_a_thread_of_the_server() {
    // The recorder reads /proc/PID/task/TID/comm for each tid performance_schema names: the
    // fixtures describe the same server, and its main thread's tid is the pid.
    for (version, pid) in [("8.0", 1201), ("8.4", 2301)] {
        let names = parse_thread_names(&fixture(&format!("mysql-{version}-threads.tsv")));
        let comms = comms(version);
        for tid in names.keys() {
            assert!(comms.contains_key(tid), "{version}: tid {tid} has no comm");
        }
        assert_eq!(comms[&pid], "mysqld", "{version}: the main thread keeps the process name");
        assert_eq!(names[&pid], "thread/sql/main");
        // Threads the instrumentation does not name are not in performance_schema's answer.
        assert!(comms.len() > names.len(), "{version}");
        for (tid, comm) in &comms {
            assert!(comm.len() <= 15, "{version}: {comm} is longer than the kernel keeps");
            if !names.contains_key(tid) {
                assert_eq!(comm, "mysqld", "{version}: unnamed thread {tid}");
            }
        }
    }
}

#[test]
fn thread_rows_without_a_tid_or_a_name_are_left_out() {
    let names = parse_thread_names(
        "1201\tthread/sql/main\nNULL\tthread/sql/one_connection\n\n77\t\n1300\tthread/sql/one_connection\r\n",
    );
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[&1300], "thread/sql/one_connection", "a CR before the newline is not part of the name");
    assert!(parse_thread_names("").is_empty());
}

fn status(version: &str) -> (String, BTreeMap<String, i64>) {
    let text = fixture(&format!("mysql-{version}-global-status.tsv"));
    let parsed = parse_status(&text);
    let map: BTreeMap<String, i64> = parsed.iter().cloned().collect();
    assert_eq!(map.len(), parsed.len(), "{version}: a counter twice");
    (text, map)
}

#[test]
fn every_counter_we_single_out_is_read_from_mysql_8_0_and_8_4() {
    for version in ["8.0", "8.4"] {
        let (_, counters) = status(version);
        for name in KEY_COUNTERS.iter().chain(mysql_io_format::KEY_STATUS_COUNTERS) {
            assert!(counters.contains_key(*name), "{version}: {name} missing");
        }
    }
    let (_, c80) = status("8.0");
    assert_eq!(c80["Innodb_data_reads"], 48390);
    assert_eq!(c80["Innodb_data_read"], 790_646_784);
    assert_eq!(c80["Innodb_buffer_pool_reads"], 40122);
    assert_eq!(c80["Innodb_buffer_pool_read_ahead_rnd"], 0);
    assert_eq!(c80["Questions"], 129_711);
    let (_, c84) = status("8.4");
    assert_eq!(c84["Innodb_pages_read"], 140_313);
    assert_eq!(c84["Innodb_redo_log_current_lsn"], 190_602_911);
    assert!(!c80.contains_key("Innodb_redo_log_current_lsn"), "an 8.0.30+ counter");
}

#[test]
fn text_values_are_skipped_and_do_not_shift_the_rows_after_them() {
    for version in ["8.0", "8.4"] {
        let (text, counters) = status(version);
        for text_valued in [
            "Ssl_cipher",
            "Ssl_version",
            "Compression",
            "Innodb_buffer_pool_dump_status",
            "Innodb_buffer_pool_load_status",
            "Innodb_redo_log_enabled",
            "Current_tls_ca",
            "Caching_sha2_password_rsa_public_key",
            "Rsa_public_key",
        ] {
            assert!(text.contains(&format!("\n{text_valued}\t")), "{version}: fixture lacks {text_valued}");
            assert!(!counters.contains_key(text_valued), "{version}: {text_valued} read as a number");
        }
        // Every other row is a counter: nothing of the multi-line keys became a row of its own.
        let rows = text.lines().count();
        let numeric =
            text.lines().filter(|l| l.split_once('\t').is_some_and(|(_, v)| v.parse::<i64>().is_ok()));
        assert_eq!(counters.len(), numeric.count(), "{version}");
        assert!(counters.len() > 80 && counters.len() < rows, "{version}: {} of {rows}", counters.len());
        // The row after the RSA key is still read with its own value.
        assert!(counters.contains_key("Com_begin"), "{version}");
    }
}

#[test]
fn unescaped_multi_line_values_cannot_make_counters() {
    // With --raw the client would print the key's newlines as they are: its lines have no tab,
    // and a line of the key that happened to look like `name<TAB>number` cannot occur in base64.
    let out = "Bytes_sent\t12\nRsa_public_key\t-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----\nUptime\t30\n";
    assert_eq!(parse_status(out), [("Bytes_sent".to_string(), 12), ("Uptime".to_string(), 30)]);
    assert_eq!(parse_status("Questions\t-1\nBad\t1\textra\n\t5\n"), [("Questions".to_string(), -1)]);
}
