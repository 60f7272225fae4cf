//! Running the built `mysql-io` as a user would, for the tests that need no root.

// Each test binary uses what it needs of these.
#![allow(dead_code)]

use std::process::{Command, Output};

/// `mysql-io ARGS`, its output captured.
pub(crate) fn mysql_io(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mysql-io")).args(args).output().expect("run mysql-io")
}

/// Output bytes as text.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `mysql-io ARGS`, which must succeed: what it printed.
pub(crate) fn ok(args: &[&str]) -> String {
    let out = mysql_io(args);
    assert!(out.status.success(), "{args:?} failed: {}", text(&out.stderr));
    text(&out.stdout)
}
