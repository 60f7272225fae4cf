//! `mysql-io replay` without root: the MariaDB recording in testdata replays onto stand-ins in a
//! temporary directory (no setting changed, so no root needed), and `compare` of a trace with
//! itself shows no difference.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn mysql_io() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mysql-io"))
}

fn testdata() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mariadb-sysbench.mio")
}

#[test]
fn the_mariadb_recording_replays_onto_stand_ins() {
    let dir = tempfile::tempdir_in("/var/tmp").expect("tempdir");
    let standins = dir.path().join("s");
    let out = mysql_io()
        .arg("replay")
        .arg(testdata())
        .arg("--create")
        .arg(&standins)
        .args(["--speed", "max", "--json"])
        .output()
        .expect("run replay");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // Every recorded read (none failed, none on unresolved files), from 5 threads on 22 files.
    assert_eq!(v["reads"], 192_668, "{v}");
    assert_eq!(v["reads_planned"], 192_668);
    assert_eq!((v["threads"].as_u64(), v["files"].as_u64()), (Some(5), Some(22)));
    assert_eq!(v["errors"], 0);
    // The stand-ins keep the recorded paths under the directory, at the recorded sizes.
    let ibdata = standins.join("tmp/mysql-io-demo.gPH01n/server/mnt/data/ibdata1");
    let meta = std::fs::metadata(&ibdata).expect("stand-in ibdata1");
    assert!(meta.len() > 0);
    // Real data, not a hole.
    use std::os::unix::fs::MetadataExt;
    assert!(meta.blocks() * 512 >= meta.len());
    assert!(err.contains("stand-in files"), "{err}");
}

#[test]
fn replay_refuses_bad_input_with_one_sentence() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "--map FROM=TO"),
        (&["--map", "/nowhere=/tmp"], "is not under any --map"),
        (&["--map", "bad"], "FROM=TO"),
        (&["--create", "/tmp", "--speed", "fast"], "is not a speed"),
    ];
    for (args, want) in cases {
        let out = mysql_io().arg("replay").arg(testdata()).args(*args).output().expect("run replay");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = mysql_io().args(["replay", "/nonexistent.mio", "--create", "/tmp/x"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[cfg(feature = "analysis")]
#[test]
fn compare_of_a_trace_with_itself_shows_no_difference() {
    let out = mysql_io()
        .arg("compare")
        .arg(testdata())
        .arg(testdata())
        .args(["--ra-kb", "128", "--json"])
        .output()
        .expect("run compare");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let t = &v["total"];
    for k in ["reads", "pages_read", "read_ios", "used", "wasted"] {
        assert_eq!(t["a"][k], t["b"][k], "{k}: {t}");
    }
    assert_eq!(t["a"]["pages_read"], 33_954);
    // The prediction at 128 KiB is the model's, beside the kernel's.
    assert_eq!(t["predicted_b"]["pages_read"], 33_866);
    assert_eq!(v["files"].as_array().map(Vec::len), Some(22));
}

#[test]
fn replay_refuses_files_a_running_server_has_open() {
    let dir = tempfile::tempdir_in("/var/tmp").expect("tempdir");
    let standins = dir.path().join("s");
    let out = mysql_io()
        .arg("replay")
        .arg(testdata())
        .arg("--create")
        .arg(&standins)
        .args(["--speed", "max"])
        .output()
        .expect("run replay");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A "server": sleep under the name mysqld, holding a data file open.
    let server = dir.path().join("mysqld");
    std::fs::copy("/bin/sleep", &server).expect("copy sleep");
    let ibdata = standins.join("tmp/mysql-io-demo.gPH01n/server/mnt/data/ibdata1");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 3<'{}'; exec '{}' 30", ibdata.display(), server.display()))
        .spawn()
        .expect("start the fake server");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let map = format!("/={}/", standins.display());
    let out = mysql_io().arg("replay").arg(testdata()).args(["--map", &map]).output().expect("run replay");
    let forced =
        mysql_io().arg("replay").arg(testdata()).args(["--map", &map, "--speed", "max", "--force"]).output();
    let _ = child.kill();
    let _ = child.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--force") && err.contains("mysqld"), "{err}");
    let forced = forced.expect("run replay --force");
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
}
