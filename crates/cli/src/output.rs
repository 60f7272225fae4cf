//! Printing helpers shared by the subcommands: output format choice, number formatting, and
//! broken-pipe detection (`mysql-io info x.mio | head` is not an error).

use std::io::Write;

/// How a subcommand prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned text for a terminal.
    Table,
    /// One JSON document.
    Json,
}

/// How an analysis prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TableFormat {
    /// Aligned text for a terminal (100 columns).
    Table,
    /// One JSON document.
    Json,
    /// Comma-separated values, one row per line, with a header.
    Csv,
}

/// Like `eprintln!`, but a stderr that cannot be written (the terminal hung up, the ssh session
/// is gone) is not a panic: what the recorder says on the way out is lost, the trace is not.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use say;

#[cfg(feature = "analysis")]
pub(crate) use mysql_io_output::pct;
pub(crate) use mysql_io_output::{bytes, thousands};

/// True when `e` comes from writing to a closed pipe.
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes in one line, `outer: inner: ...`, leaving out a cause whose text the
/// line already holds (an error that writes its source into its own message, as `cannot read
/// X: No such file or directory` does, would otherwise say it twice).
pub(crate) fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Writes `s` to stdout, reporting a failed write (e.g. a closed pipe) as an error.
pub(crate) fn print(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A server's counters over the recording: `server     1234 SHOW GLOBAL STATUS, over 21.9 s:`
/// then the key counters that changed, wrapped within 100 columns.
pub(crate) fn status_line(d: &mysql_io_format::StatusDelta) -> String {
    let shown: Vec<String> = mysql_io_format::KEY_STATUS_COUNTERS
        .iter()
        .filter_map(|k| {
            d.deltas
                .get(*k)
                .filter(|v| **v != 0)
                .map(|v| format!("{k} {}{}", if *v > 0 { "+" } else { "" }, thousands_i(*v)))
        })
        .collect();
    let mut out = format!("server     {} {}, change over {:.1} s:", d.pid, d.source, d.seconds);
    if shown.is_empty() {
        out.push_str(" none in the InnoDB read counters");
        return out;
    }
    let mut line = String::new();
    for item in shown {
        if !line.is_empty() && 11 + line.len() + 2 + item.len() > 100 {
            out.push_str(&format!("\n           {line}"));
            line.clear();
        }
        if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(&item);
    }
    out.push_str(&format!("\n           {line}"));
    out
}

fn thousands_i(v: i64) -> String {
    if v < 0 {
        format!("-{}", thousands(v.unsigned_abs()))
    } else {
        thousands(v as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_says_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(io)
            .context("cannot read x.mio: No such file or directory")
            .context("x.mio cannot be analyzed");
        assert_eq!(error_line(&e), "x.mio cannot be analyzed: cannot read x.mio: No such file or directory");
        let e = anyhow::anyhow!("disk full").context("writing the trace failed");
        assert_eq!(error_line(&e), "writing the trace failed: disk full");
    }
}
