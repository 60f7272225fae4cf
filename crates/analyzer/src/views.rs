//! What the analyses print: each table's columns, units and formats, defined once
//! ([`mysql_io_output::Table`]), for `analyze` (terminal table and CSV) and `report` (HTML).
//! JSON is the serialisation of the report structs.

use mysql_io_output::{Cell, Column, Table};

use crate::readahead::{RaReport, RaRow};
use crate::seq::{SeqReport, SeqRow, JUMP_BUCKETS, RUN_BUCKETS};
use crate::statements::{StatementRow, StatementsReport};
use crate::tables::{ApiCounts, FileRow, FilesReport, ThreadRow, ThreadsReport};

/// What the latency columns are, printed under the tables that show them.
pub const LATENCY_NOTE: &str =
    "mean, p50, p99: read latency in us (mean, median, 99th percentile, these two within 1.6%)\n\
         from entry to return as the probes timed it, some of their own time included\n\
         (docs/recorder.md#latency); reads whose return was not recorded are left out (- if all are)\n";

/// What the readahead table counts, printed under it.
pub const READAHEAD_NOTE: &str =
    "pages of 4 KiB; wasted = evicted before use + never used before the trace ends\n";

/// The two APIs a row used most, with their shares (`pread64 97%, read 3%`).
fn top_apis(a: &ApiCounts) -> String {
    let total: u64 = a.values().sum();
    let mut v: Vec<(&&str, &u64)> = a.iter().collect();
    v.sort_by(|x, y| y.1.cmp(x.1));
    v.iter()
        .take(2)
        .map(|(k, n)| format!("{k} {:.0}%", **n as f64 * 100.0 / total.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every API with its count (`pread64=97 read=3`).
fn all_apis(a: &ApiCounts) -> String {
    a.iter().map(|(k, n)| format!("{k}={n}")).collect::<Vec<_>>().join(" ")
}

fn latency_columns() -> [Column; 3] {
    [
        Column::both("mean_latency_us", "mean"),
        Column::both("p50_latency_us", "p50"),
        Column::both("p99_latency_us", "p99"),
    ]
}

/// Mean, p50 and p99 in microseconds; `-` where no completion was recorded (the percentiles
/// are then unknown and the mean is 0 only for want of reads to average).
fn latency_cells(mean: f64, p50: Option<f64>, p99: Option<f64>) -> [Cell; 3] {
    let m = Cell::us(Some(mean));
    let mean = if p50.is_some() { m } else { Cell::new("-", m.raw()) };
    [mean, Cell::us(p50), Cell::us(p99)]
}

impl SeqReport {
    /// The first `top` groups and the total: the shares of each kind of step in the terminal,
    /// every figure and both histograms' buckets in CSV.
    pub fn table(&self, top: usize) -> Table {
        let label = format!("{:?}", self.by).to_lowercase();
        let mut columns = vec![
            Column::both("group", label),
            Column::both("reads", "reads"),
            Column::both("bytes", "read"),
            Column::csv("pages"),
            Column::both("seq_ratio", "seq"),
            Column::both("near_seq_ratio", "near"),
            Column::both("reverse_ratio", "reverse"),
            Column::both("random_ratio", "random"),
        ];
        columns.extend(JUMP_BUCKETS.iter().map(|b| Column::csv(format!("jump_{b}"))));
        columns.extend(RUN_BUCKETS.iter().map(|b| Column::csv(format!("runs_{b}"))));
        let mut t = Table::new(columns);
        let row = |x: &SeqRow| {
            let mut v = vec![
                Cell::path(&x.group, 44),
                Cell::count(x.reads),
                Cell::bytes(x.bytes),
                Cell::plain(x.pages),
                Cell::ratio(x.seq_ratio),
                Cell::ratio(x.near_seq_ratio),
                Cell::ratio(x.reverse_ratio),
                Cell::ratio(x.random_ratio),
            ];
            v.extend(x.jump_histogram.iter().map(|b| Cell::plain(b.count)));
            v.extend(x.run_length_histogram.iter().map(|b| Cell::plain(b.count)));
            v
        };
        for x in self.rows.iter().take(top).chain(std::iter::once(&self.total)) {
            t.push(row(x));
        }
        t
    }
}

impl FilesReport {
    /// The first `top` files.
    pub fn table(&self, top: usize) -> Table {
        let mut columns = vec![
            Column::both("file", "file"),
            Column::csv("table"),
            Column::both("reads", "reads"),
            Column::both("bytes", "read"),
        ];
        columns.extend(latency_columns());
        columns.extend([
            Column::csv("max_latency_us"),
            Column::shown("hits"),
            Column::csv("direct"),
            Column::csv("hit_ratio"),
            Column::shown("api"),
            Column::csv("apis"),
        ]);
        let mut t = Table::new(columns);
        let row = |x: &FileRow| {
            let mut v = vec![
                Cell::path(&x.file, 28),
                Cell::text(&x.table),
                Cell::count(x.reads),
                Cell::bytes(x.bytes),
            ];
            v.extend(latency_cells(x.mean_latency_us, x.p50_latency_us, x.p99_latency_us));
            v.extend([
                Cell::new("", format!("{:.3}", x.max_latency_us)),
                // O_DIRECT files have no hit ratio: the page cache is not used.
                if x.direct {
                    Cell::text("O_DIRECT")
                } else {
                    x.hit_ratio.map_or_else(|| Cell::text("-"), Cell::ratio)
                },
                Cell::text(x.direct.to_string()),
                Cell::new("", x.hit_ratio.map(|h| format!("{h:.6}")).unwrap_or_default()),
                Cell::text(top_apis(&x.apis)),
                Cell::text(all_apis(&x.apis)),
            ]);
            v
        };
        for x in self.files.iter().take(top) {
            t.push(row(x));
        }
        t
    }
}

impl ThreadsReport {
    /// The first `top` thread roles, and the first `top` threads: two tables in the terminal,
    /// one CSV ([`mysql_io_output::csv`] of both) whose `kind` says which.
    pub fn tables(&self, top: usize) -> (Table, Table) {
        let columns = |first: Vec<Column>, threads: Column| {
            let mut c = vec![Column::csv("kind"), Column::csv("thread"), Column::csv("comm")];
            c.extend(first);
            c.extend([threads, Column::both("reads", "reads"), Column::both("bytes", "read")]);
            c.extend(latency_columns());
            c.extend([Column::both("files", "files"), Column::shown("api"), Column::csv("apis")]);
            c
        };
        let row = |kind: &str, first: Vec<Cell>, x: &ThreadRow| {
            let mut v = vec![Cell::text(kind), Cell::text(&x.thread), Cell::text(&x.comm)];
            v.extend(first);
            v.extend([Cell::plain(x.threads), Cell::count(x.reads), Cell::bytes(x.bytes)]);
            v.extend(latency_cells(x.mean_latency_us, x.p50_latency_us, x.p99_latency_us));
            v.extend([Cell::plain(x.files), Cell::text(top_apis(&x.apis)), Cell::text(all_apis(&x.apis))]);
            v
        };
        let mut roles =
            Table::new(columns(vec![Column::both("role", "role")], Column::both("threads", "threads")));
        for x in self.roles.iter().take(top) {
            roles.push(row("role", vec![Cell::path(&x.role, 28)], x));
        }
        let mut threads = Table::new(columns(
            vec![Column::shown("thread"), Column::both("role", "role")],
            Column::csv("threads"),
        ));
        for x in self.threads.iter().take(top) {
            // The tid alone (JSON has `tid N`): the latency columns need the room.
            let tid = x.thread.trim_start_matches("tid ");
            let shown = Cell::text(format!("{tid} {}", mysql_io_output::tail(&x.comm, 16)));
            threads.push(row("thread", vec![shown, Cell::path(&x.role, 20)], x));
        }
        (roles, threads)
    }
}

impl RaReport {
    /// The first `top` files and the total.
    pub fn table(&self, top: usize) -> Table {
        let mut t = Table::new(vec![
            Column::both("file", "file"),
            Column::csv("sync_triggers"),
            Column::csv("async_triggers"),
            Column::both("windows", "windows"),
            Column::csv("window_pages"),
            Column::csv("pages_read"),
            Column::csv("read_ios"),
            Column::both("pages_read_ahead", "read ahead"),
            Column::both("used", "used"),
            Column::csv("evicted_unused"),
            Column::csv("unused_at_end"),
            Column::both("wasted", "wasted"),
            Column::csv("pages_requested"),
            Column::csv("demand_inserts"),
            Column::shown("hits"),
            Column::csv("hit_ratio"),
            Column::csv("direct"),
        ]);
        let row = |x: &RaRow| {
            let ahead = x.pages_read_ahead.max(1) as f64;
            let share = |n: u64| {
                Cell::new(
                    format!("{} ({})", mysql_io_output::thousands(n), mysql_io_output::pct(n as f64 / ahead)),
                    n.to_string(),
                )
            };
            vec![
                Cell::path(&x.file, 34),
                Cell::plain(x.sync_triggers),
                Cell::plain(x.async_triggers),
                Cell::count(x.windows),
                Cell::plain(x.window_pages),
                Cell::plain(x.pages_read),
                Cell::plain(x.read_ios),
                Cell::count(x.pages_read_ahead),
                share(x.used),
                Cell::plain(x.evicted_unused),
                Cell::plain(x.unused_at_end),
                share(x.wasted),
                Cell::plain(x.pages_requested),
                Cell::plain(x.demand_inserts),
                if x.direct { Cell::text("O_DIRECT") } else { Cell::ratio(x.hit_ratio) },
                Cell::new("", format!("{:.6}", x.hit_ratio)),
                Cell::text(x.direct.to_string()),
            ]
        };
        for x in self.files.iter().take(top).chain(std::iter::once(&self.total)) {
            t.push(row(x));
        }
        t
    }
}

/// What the statements tables count, printed under them.
pub const STATEMENTS_NOTE: &str =
    "runs: statements run; mean, p99: their latency in us, dispatch to return; a read is a\n\
         statement's when it started on the statement's thread while the statement ran\n\
         disk: pages its reads inserted into the page cache (read from disk, readahead included)\n\
         seq: share of its reads starting where the previous read on the description ended\n\
         ra: readahead decisions its reads triggered; wasted: pages its thread read ahead while it\n\
         ran that were never read (evicted first or unread at the end; CSV and JSON add ra_used,\n\
         digests, bytes, latency sums)\n";

/// What the statements table per thread counts, printed under it.
pub const STATEMENT_THREADS_NOTE: &str =
    "runs: statements the thread ran; digests: statement groups among them; a read is in a\n\
         statement when it started while the thread ran the statement; disk: pages its reads\n\
         inserted into the page cache (read from disk, readahead included)\n";

impl StatementsReport {
    /// The first `top` statement groups, then the reads outside statements and the background
    /// reads (always shown: what no statement explains). The terminal leaves bytes to CSV: the
    /// statement's text needs the room.
    pub fn table(&self, top: usize) -> Table {
        let mut t = Table::new(vec![
            Column::both("statement", "statement"),
            Column::csv("kind"),
            Column::csv("digest"),
            Column::both("statements", "runs"),
            Column::csv("commands"),
            Column::csv("total_latency_ms"),
            Column::both("mean_latency_us", "mean"),
            Column::both("p99_latency_us", "p99"),
            Column::both("reads", "reads"),
            Column::csv("bytes"),
            Column::both("pages_from_disk", "disk"),
            Column::both("seq_ratio", "seq"),
            Column::csv("ra_sync"),
            Column::csv("ra_async"),
            Column::both("readahead_triggered", "ra"),
            Column::csv("ra_used"),
            Column::both("ra_wasted", "wasted"),
        ]);
        let row = |x: &StatementRow| {
            let timed = x.statements > 0;
            vec![
                Cell::start(&x.statement, 38),
                Cell::text(x.kind.name()),
                Cell::text(x.digest.clone().unwrap_or_default()),
                if timed || x.digest.is_some() { Cell::count(x.statements) } else { Cell::new("-", "") },
                Cell::text(x.commands.iter().map(|(k, n)| format!("{k}={n}")).collect::<Vec<_>>().join(" ")),
                if timed { Cell::new("", format!("{:.3}", x.total_latency_ms)) } else { Cell::text("") },
                Cell::us(x.mean_latency_us),
                Cell::us(x.p99_latency_us),
                Cell::count(x.reads),
                Cell::bytes(x.bytes),
                Cell::count(x.pages_from_disk),
                x.seq_ratio.map_or_else(|| Cell::new("-", ""), Cell::ratio),
                Cell::plain(x.ra_sync),
                Cell::plain(x.ra_async),
                Cell::count(x.readahead_triggered),
                Cell::count(x.ra_used),
                Cell::count(x.ra_wasted),
            ]
        };
        for x in self.rows.iter().take(top).chain([&self.outside_statements, &self.background]) {
            t.push(row(x));
        }
        t
    }

    /// The first `top` threads.
    pub fn threads_table(&self, top: usize) -> Table {
        let mut t = Table::new(vec![
            Column::csv("pid"),
            Column::csv("tid"),
            Column::csv("comm"),
            Column::shown("thread"),
            Column::both("role", "role"),
            Column::both("statements", "runs"),
            Column::both("digests", "digests"),
            Column::both("reads", "reads"),
            Column::csv("reads_in_statements"),
            Column::both("bytes", "read"),
            Column::both("pages_from_disk", "disk"),
            Column::both("in_statements_ratio", "in stmts"),
        ]);
        for x in self.threads.iter().take(top) {
            t.push(vec![
                Cell::plain(u64::from(x.pid)),
                Cell::plain(u64::from(x.tid)),
                Cell::text(&x.comm),
                Cell::text(format!("{} {}", x.tid, mysql_io_output::tail(&x.comm, 16))),
                Cell::path(&x.role, 20),
                Cell::count(x.statements),
                Cell::plain(x.digests),
                Cell::count(x.reads),
                Cell::plain(x.reads_in_statements),
                Cell::bytes(x.bytes),
                Cell::count(x.pages_from_disk),
                x.in_statements_ratio.map_or_else(|| Cell::new("-", ""), Cell::ratio),
            ]);
        }
        t
    }

    /// Where the reads went, in one sentence: inside statements, outside them on their threads,
    /// on the other threads.
    pub fn summary(&self) -> String {
        let share = |n: u64| mysql_io_output::pct(n as f64 / self.reads.max(1) as f64);
        let (out, bg) = (self.outside_statements.reads, self.background.reads);
        format!(
            "{} of {} reads ({}) started inside one of {} statements; {} ({}) on their threads between \
             statements; {} ({}) on threads that ran none (background)",
            mysql_io_output::thousands(self.reads_in_statements),
            mysql_io_output::thousands(self.reads),
            share(self.reads_in_statements),
            mysql_io_output::thousands(self.statements),
            mysql_io_output::thousands(out),
            share(out),
            mysql_io_output::thousands(bg),
            share(bg),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_cells_show_a_decimal_below_10_us_and_a_dash_when_unknown() {
        let shown = |c: [Cell; 3]| c.map(|c| c.shown().to_string());
        assert_eq!(shown(latency_cells(19.36, Some(11.39), Some(141.31))), ["19", "11", "141"]);
        assert_eq!(shown(latency_cells(5.27, Some(3.23), Some(21.39))), ["5.3", "3.2", "21"]);
        // No completed read: the mean is 0 only because there is nothing to average.
        let none = latency_cells(0.0, None, None);
        assert_eq!(none.clone().map(|c| c.shown().to_string()), ["-", "-", "-"]);
        assert_eq!(none.map(|c| c.raw().to_string()), ["0.000", "", ""]);
    }
}
