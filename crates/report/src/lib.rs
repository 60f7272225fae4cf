//! `mysql-io report`: one HTML page that ends with a decision and shows the evidence for it.
//!
//! The page is self-contained: styles inline, plots as inline SVG drawn with `plotters`, no
//! script, no font, no image or link it would have to fetch, so it opens offline on a laptop
//! and can be mailed around. The verdict per block device comes first, then the sweep behind
//! it, the readahead the kernel did per file and the model's agreement with it: all from what
//! `simulate` computes (one definition of every figure, `crates/sim`). Then the reads
//! themselves ([`evidence`], one pass over the trace with `crates/reads`' definition of a read,
//! drawn by `plots`): offset against time for the files with most reads, coloured by thread
//! role, with the kernel's readahead windows (sync and async apart); read latency per role as
//! a distribution with p50/p95/p99 (the histograms `analyze threads` uses); reads per second per
//! role; and the lengths of sequential runs as `analyze sequentiality` counts them (the same
//! walk, `mysql_io_reads::sequence`). Every plot has a bounded number of elements, so the page
//! stays small whatever the trace's length.
//!
//! A trace recorded with `record --statements` adds a section with the statements the reads were
//! made for: the table `analyze statements` prints, built by the caller ([`Statements`]).
//!
//! With `--compare`, a section before the verdict puts the trace beside another trace of the
//! same files ([`mysql_io_sim::versus`]), with the tables `mysql-io compare` prints.

mod compare;
pub mod evidence;
mod plots;

use std::fmt::Write as _;

pub use evidence::{gather, Evidence};
use mysql_io_output::escape_html as esc;
use mysql_io_reads::sequence::RUN_BUCKETS;
use mysql_io_sim::verdict::{short_path, thousands};
use mysql_io_sim::versus::Comparison;
use mysql_io_sim::{DeviceVerdict, Point, SimReport};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// What the page says about the trace itself.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The trace file, as the user named it.
    pub trace: String,
    /// Host it was recorded on.
    pub host: String,
    /// Kernel release.
    pub kernel: String,
    /// Seconds the trace covers.
    pub seconds: f64,
    /// Events in it.
    pub events: u64,
}

/// The statements the reads were made for, as `analyze statements` shows them: its per-digest
/// table (the first rows), the sentence of where the reads went, and what the columns count.
#[derive(Debug, Clone)]
pub struct Statements {
    /// The per-digest table.
    pub table: mysql_io_output::Table,
    /// Statement groups the table leaves out.
    pub more: usize,
    /// Reads inside statements, outside them, in the background.
    pub summary: String,
    /// What the columns count.
    pub note: String,
}

/// A plot that could not be drawn.
#[derive(Debug)]
pub struct PlotError(String);

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a plot could not be drawn: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

pub(crate) fn plot_err<E: std::fmt::Debug>(e: E) -> PlotError {
    PlotError(format!("{e:?}"))
}

/// The page for `sim` (a free-mode simulation of the trace described by `meta`), with the
/// warnings the commands would print, the trace beside another one when `compare` is given,
/// the `evidence` gathered from the same trace ([`gather`]), and its statements when it has
/// some.
pub fn html(
    meta: &Meta,
    sim: &SimReport,
    warnings: &[String],
    compare: Option<&Comparison>,
    evidence: &Evidence,
    statements: Option<&Statements>,
) -> Result<String, PlotError> {
    let mut out = String::with_capacity(64 << 10);
    let title = format!("mysql-io report: {}", meta.trace);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        out,
        "<p class=\"meta\">host <b>{}</b>, Linux {}, {:.1} s, {} events, {} reads simulated per setting; model: {}</p>",
        esc(if meta.host.is_empty() { "(not recorded)" } else { &meta.host }),
        esc(&meta.kernel),
        meta.seconds,
        thousands(meta.events),
        thousands(sim.recorded.total.reads),
        esc(model_name(sim)),
    );

    if let Some(c) = compare {
        compare::section(&mut out, c)?;
    }

    // The verdict (first, without --compare).
    let _ = writeln!(out, "<section id=\"verdict\"><h2>Verdict per device</h2>");
    if sim.devices.is_empty() {
        let _ = writeln!(out, "<p>No buffered reads of files on a block device: nothing to decide.</p>");
    }
    for d in &sim.devices {
        device_section(&mut out, d)?;
    }
    let _ = writeln!(out, "</section>");

    // The kernel's readahead per file, at the recorded setting.
    let _ = writeln!(out, "<section id=\"files\"><h2>Readahead per file, as the kernel did it</h2>");
    let files: Vec<_> = sim.recorded.files.iter().filter(|f| f.pages_read_ahead > 0).take(15).collect();
    if files.is_empty() {
        let _ = writeln!(out, "<p>The kernel read nothing ahead for these files.</p>");
    } else {
        let bars: Vec<(String, u64, u64)> =
            files.iter().map(|f| (short_path(&f.file).to_string(), f.used, f.wasted)).collect();
        let _ = writeln!(
            out,
            "<p>Pages (4 KiB) the kernel read ahead that a later read used, and that were never used \
             (evicted unread or still unread when the trace ended), for the {} files with most pages read.</p>",
            files.len()
        );
        out.push_str(&used_wasted_svg(&bars)?);
    }
    let _ = writeln!(out, "</section>");

    evidence_sections(&mut out, evidence)?;
    if let Some(s) = statements {
        statements_section(&mut out, s);
    }

    // The model against the kernel.
    if let Some(e) = sim.model_error.last() {
        let _ = writeln!(
            out,
            "<section id=\"model\"><h2>The model against the kernel</h2><p>At the recorded setting the model reads \
             {:+.1}% pages and makes {:+.1}% device requests against what the kernel did, and reproduces {} of the \
             kernel's {} readahead decisions exactly ({:.1}%). The verdict's trust comes from these figures, per \
             device.</p></section>",
            e.pages_read * 100.0,
            e.read_ios * 100.0,
            thousands(e.decisions.exact),
            thousands(e.decisions.recorded),
            e.decisions_exact * 100.0
        );
    }
    if !warnings.is_empty() {
        let _ = writeln!(out, "<section id=\"warnings\"><h2>Limits of this trace</h2><ul>");
        for w in warnings {
            let _ = writeln!(out, "<li>{}</li>", esc(w));
        }
        let _ = writeln!(out, "</ul></section>");
    }
    let _ = writeln!(
        out,
        "<footer>Definitions: docs/simulate.md (the verdict, the model) and docs/analysis.md (the figures) \
         of mysql-io.</footer></body></html>"
    );
    Ok(out)
}

/// Offset against time per file, latency and reads per second per role, sequential runs.
fn evidence_sections(out: &mut String, ev: &Evidence) -> Result<(), PlotError> {
    let legend = |out: &mut String| {
        let _ = write!(out, "<p class=\"legend\">");
        for (i, r) in ev.roles.iter().enumerate().take(plots::PLOTTED_ROLES) {
            let _ = write!(out, "{} ", swatch(plots::role_color(i), &r.role));
        }
        if ev.roles.len() > plots::PLOTTED_ROLES {
            let _ = write!(
                out,
                "{} ",
                swatch(
                    plots::role_color(plots::PLOTTED_ROLES),
                    &format!("{} other roles", ev.roles.len() - plots::PLOTTED_ROLES)
                )
            );
        }
        let _ = writeln!(out, "</p>");
    };

    // Offset against time.
    let _ = writeln!(out, "<section id=\"offsets\"><h2>Where each file was read, over time</h2>");
    if ev.files.is_empty() {
        let _ = writeln!(out, "<p>No reads of a known file.</p>");
    } else {
        let _ = writeln!(
            out,
            "<p>The {} files with most reads: each cell is a slice of time and of the file holding reads that \
             started there, in the colour of the thread role with most of them (fainter: fewer reads). \
             The kernel's readahead windows are vertical bars over the bytes each one read ahead: {}, {} and {}.</p>",
            ev.files.len(),
            swatch(plots::trigger_color(evidence::Trigger::Sync), "sync (a read missed)"),
            swatch(plots::trigger_color(evidence::Trigger::Async), "async (a read reached a marked page)"),
            swatch(plots::trigger_color(evidence::Trigger::Other), "no trigger seen (forced, or the trigger in the chunk before)"),
        );
        legend(out);
        for f in &ev.files {
            let shown = if f.drawn.len() as u64 == f.windows {
                String::new()
            } else {
                format!(", {} drawn", thousands(f.drawn.len() as u64))
            };
            let _ = writeln!(
                out,
                "<h3>{}</h3><p>{} reads; {} readahead windows ({} sync, {} async, {} without a trigger{shown}); offsets 0 to {}.</p>",
                esc(short_path(&f.path)),
                thousands(f.reads),
                thousands(f.windows),
                thousands(f.by_trigger[0]),
                thousands(f.by_trigger[1]),
                thousands(f.by_trigger[2]),
                bytes(f.extent),
            );
            let _ = writeln!(
                out,
                "<figure class=\"plot offset-time\" data-file=\"{}\" data-reads=\"{}\" data-cells=\"{}\" data-windows=\"{}\" data-windows-drawn=\"{}\">{}</figure>",
                esc(&f.path),
                f.reads,
                f.cells.len(),
                f.windows,
                f.drawn.len(),
                plots::offset_time_svg(ev, f)?
            );
        }
    }
    let _ = writeln!(out, "</section>");

    // Latency per role.
    let _ = writeln!(out, "<section id=\"latency\"><h2>Read latency per thread role</h2>");
    if ev.roles.is_empty() {
        let _ = writeln!(out, "<p>No reads.</p>");
    } else {
        let _ = writeln!(
            out,
            "<p>Share of each role's reads that took at most a given time, from entry to return as the probes timed \
             them (reads whose return was not recorded are left out); dots at the median, p95 and p99. Percentiles \
             are within 1.6% of the exact values (docs/analysis.md).</p>"
        );
        legend(out);
        let _ =
            writeln!(out, "<figure class=\"plot latency-cdf\">{}</figure>", plots::latency_svg(&ev.roles)?);
        let _ = writeln!(
            out,
            "<table class=\"roles\"><tr><th>role</th><th>threads</th><th>reads</th><th>timed</th><th>p50</th><th>p95</th><th>p99</th></tr>"
        );
        for r in &ev.roles {
            let p = |q: u32| r.latency.percentile(q);
            let attr = |v: Option<u64>| v.map_or_else(String::new, |v| v.to_string());
            let cell = |v: Option<u64>| {
                v.map_or_else(|| "-".to_string(), |v| format!("{:.1} µs", v as f64 / 1000.0))
            };
            let _ = writeln!(
                out,
                "<tr data-role=\"{}\" data-reads=\"{}\" data-p50-ns=\"{}\" data-p95-ns=\"{}\" data-p99-ns=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.role),
                r.reads,
                attr(p(50)),
                attr(p(95)),
                attr(p(99)),
                esc(&r.role),
                r.threads,
                thousands(r.reads),
                thousands(r.latency.len()),
                cell(p(50)),
                cell(p(95)),
                cell(p(99)),
            );
        }
        let _ = writeln!(out, "</table>");
    }
    let _ = writeln!(out, "</section>");

    // Reads per second per role.
    let _ = writeln!(out, "<section id=\"rate\"><h2>Reads per second per thread role</h2>");
    if ev.roles.is_empty() {
        let _ = writeln!(out, "<p>No reads.</p>");
    } else {
        let width = ev.rate_bin_ns / 1_000_000_000;
        let _ = writeln!(
            out,
            "<p>Reads started per second, averaged over {} {} at a time.</p>",
            width,
            if width == 1 { "second" } else { "seconds" }
        );
        legend(out);
        let _ = writeln!(
            out,
            "<figure class=\"plot reads-per-second\" data-bins=\"{}\" data-bin-seconds=\"{width}\" data-roles=\"{}\">{}</figure>",
            ev.roles.first().map_or(0, |r| r.per_bin.len()),
            ev.roles.len().min(plots::PLOTTED_ROLES),
            plots::rate_svg(ev)?
        );
    }
    let _ = writeln!(out, "</section>");

    // Sequential runs.
    let _ = writeln!(out, "<section id=\"runs\"><h2>Sequential runs</h2>");
    let _ = writeln!(
        out,
        "<p>A run is a maximal sequence of reads on one open file description, in time order, each starting where \
         the one before ended (as <code>analyze sequentiality</code> counts them, per file). Long runs are what \
         readahead helps; runs of one read are random reads. {} reads in {} runs.</p>",
        thousands(ev.reads),
        thousands(ev.runs.iter().sum())
    );
    let _ = writeln!(
        out,
        "<figure class=\"plot run-lengths\">{}</figure>",
        plots::runs_svg(&ev.runs, &RUN_BUCKETS)?
    );
    let _ = write!(out, "<table class=\"runs\"><tr><th>reads in the run</th>");
    for b in RUN_BUCKETS {
        let _ = write!(out, "<th>{b}</th>");
    }
    let _ = writeln!(out, "</tr>");
    let rows = std::iter::once(("all files".to_string(), String::new(), &ev.runs))
        .chain(ev.files.iter().map(|f| (short_path(&f.path).to_string(), f.path.clone(), &f.runs)));
    for (label, path, runs) in rows {
        let _ = write!(out, "<tr data-file=\"{}\"><td>{}</td>", esc(&path), esc(&label));
        for (b, n) in RUN_BUCKETS.iter().zip(runs.iter()) {
            let _ = write!(out, "<td data-bucket=\"{}\">{}</td>", esc(b), thousands(*n));
        }
        let _ = writeln!(out, "</tr>");
    }
    let _ = writeln!(out, "</table></section>");
    Ok(())
}

/// The statements the reads were made for.
fn statements_section(out: &mut String, s: &Statements) {
    let _ = writeln!(out, "<section id=\"statements\"><h2>Statements</h2>");
    let _ = writeln!(
        out,
        "<p>Which statements the reads were made for: a read is a statement's when it started on the thread \
         that ran the statement, while it ran. {}.</p>",
        esc(&s.summary)
    );
    out.push_str(&s.table.html("statements"));
    if s.more > 0 {
        let _ = writeln!(
            out,
            "<p>{} more statements: <code>mysql-io analyze statements</code> lists them all.</p>",
            thousands(s.more as u64)
        );
    }
    let _ = writeln!(out, "<pre class=\"note\">{}</pre></section>", esc(&s.note));
}

/// A coloured square and its label.
fn swatch(c: RGBColor, label: &str) -> String {
    format!("<span class=\"swatch\" style=\"background:{}\"></span>{}", plots::hex(c), esc(label))
}

/// Bytes in a short unit.
fn bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    match f {
        f if f >= K * K * K => format!("{:.1} GiB", f / (K * K * K)),
        f if f >= K * K => format!("{:.1} MiB", f / (K * K)),
        f if f >= K => format!("{:.1} KiB", f / K),
        _ => format!("{b} bytes"),
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.2em;border-bottom:1px solid #ccc}h3{font-size:1.05em}\
.meta{color:#555}.decision{font-size:1.1em;font-weight:bold}\
pre{background:#f4f4f4;padding:.6em;overflow-x:auto}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.15em .6em;text-align:right}\
td:first-child,th:first-child{text-align:left}td.n{text-align:right}\
footer{color:#777;margin-top:2em;font-size:.9em}\
.swatch{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .8em;vertical-align:middle}";

fn model_name(sim: &SimReport) -> &'static str {
    match (sim.variant, sim.ra_order) {
        (mysql_io_sim::Variant::Split, _) => "Linux 6.11+ readahead",
        (mysql_io_sim::Variant::Ondemand, true) => "Linux 5.18-6.10 readahead",
        (mysql_io_sim::Variant::Ondemand, false) => "Linux before 5.18 readahead",
    }
}

/// One device: the decision, its reasons, the commands, the sweep plotted and tabled.
fn device_section(out: &mut String, d: &DeviceVerdict) -> Result<(), PlotError> {
    let _ = writeln!(
        out,
        "<article class=\"device\" data-device=\"{}\"><h3>{}</h3>",
        esc(&d.device),
        esc(&d.device)
    );
    let mut text = d.text.iter();
    if let Some(first) = text.next() {
        let _ = writeln!(out, "<p class=\"decision\">{}</p>", esc(first));
    }
    let _ = writeln!(out, "<ul>");
    for t in text {
        let _ = writeln!(out, "<li>{}</li>", esc(t));
    }
    let _ = writeln!(out, "</ul>");
    if let Some(a) = &d.apply {
        let mut cmds = format!("# as root, until reboot\n{}\n", a.now);
        if let Some(b) = &a.blockdev {
            let _ = writeln!(cmds, "# or the same in 512-byte sectors\n{b}");
        }
        if let (Some(rule), Some(file)) = (&a.udev_rule, &a.udev_file) {
            let _ = writeln!(cmds, "# to keep it across reboots, this line in {file}\n{rule}");
        }
        let _ = writeln!(out, "<pre class=\"commands\">{}</pre>", esc(&cmds));
    }
    if d.sweep.len() > 1 && d.sweep.iter().any(|p| p.pages_read > 0) {
        let _ = writeln!(
            out,
            "<p>The model on {} at each read_ahead_kb (black: now, green: recommended):</p>",
            esc(&d.device)
        );
        out.push_str(&sweep_svg(d)?);
        // The table `mysql-io simulate` prints under the device's verdict.
        out.push_str(&d.sweep_table().html("sweep"));
    }
    let _ = writeln!(out, "</article>");
    Ok(())
}

/// Four small plots of the sweep, one figure each against the setting, the recorded and the
/// recommended settings marked.
fn sweep_svg(d: &DeviceVerdict) -> Result<String, PlotError> {
    type Key = fn(&Point) -> u64;
    let figures: [(&str, Key); 4] = [
        ("pages read from disk", |p| p.pages_read),
        ("device requests", |p| p.read_ios),
        ("pages reads waited for", |p| p.waited),
        ("read ahead, never used", |p| p.wasted),
    ];
    let n = d.sweep.len();
    let labels: Vec<String> = d.sweep.iter().map(|p| p.ra_kb.to_string()).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        for (area, (name, key)) in root.split_evenly((2, 2)).iter().zip(figures) {
            let top = d.sweep.iter().map(key).max().unwrap_or(0).max(1) as f64 * 1.1;
            let mut chart = ChartBuilder::on(area)
                .caption(name, ("sans-serif", 15))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(-0.3f64..(n as f64 - 0.7), 0f64..top)
                .map_err(plot_err)?;
            let label = |x: &f64| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            };
            chart
                .configure_mesh()
                .x_labels(n)
                .x_label_formatter(&label)
                .x_desc("read_ahead_kb (KiB)")
                .y_label_formatter(&|y| compact(*y as u64))
                .light_line_style(WHITE)
                .draw()
                .map_err(plot_err)?;
            let at = |i: usize, p: &Point| (i as f64, key(p) as f64);
            chart
                .draw_series(LineSeries::new(
                    d.sweep.iter().enumerate().map(|(i, p)| at(i, p)),
                    BLUE.stroke_width(2),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(d.sweep.iter().enumerate().map(|(i, p)| {
                    let style = if Some(p.ra_kb) == d.recommended_ra_kb {
                        GREEN.filled()
                    } else if p.ra_kb == d.current_ra_kb {
                        BLACK.filled()
                    } else {
                        BLUE.filled()
                    };
                    let size = if style.color == BLUE.to_rgba() { 3 } else { 6 };
                    Circle::new(at(i, p), size, style)
                }))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(format!("<figure class=\"plot sweep\">{svg}</figure>\n"))
}

/// Horizontal bars, one per file: read-ahead pages used (green) and never used (red).
fn used_wasted_svg(bars: &[(String, u64, u64)]) -> Result<String, PlotError> {
    let n = bars.len();
    let top = bars.iter().map(|b| b.1 + b.2).max().unwrap_or(0).max(1) as f64 * 1.05;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, (60 + 26 * n) as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(230)
            .build_cartesian_2d(0f64..top, (0..n).into_segmented())
            .map_err(plot_err)?;
        let name = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => bars.get(*i).map(|b| b.0.clone()).unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&name)
            .x_label_formatter(&|x| compact(*x as u64))
            .x_desc("pages read ahead (4 KiB)")
            .light_line_style(WHITE)
            .draw()
            .map_err(plot_err)?;
        let rect = |i: usize, from: f64, to: f64, color: RGBColor| {
            Rectangle::new([(from, SegmentValue::Exact(i)), (to, SegmentValue::Exact(i + 1))], color.filled())
        };
        chart
            .draw_series(
                bars.iter().enumerate().map(|(i, b)| rect(i, 0.0, b.1 as f64, RGBColor(80, 160, 80))),
            )
            .map_err(plot_err)?
            .label("used")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], RGBColor(80, 160, 80).filled()));
        chart
            .draw_series(
                bars.iter()
                    .enumerate()
                    .map(|(i, b)| rect(i, b.1 as f64, (b.1 + b.2) as f64, RGBColor(200, 70, 60))),
            )
            .map_err(plot_err)?
            .label("never used")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], RGBColor(200, 70, 60).filled()));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(format!("<figure class=\"plot used-wasted\">{svg}</figure>\n"))
}

pub(crate) fn compact(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.0}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_paths_shortened_by_the_verdicts_rule() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(short_path("/var/lib/mysql/shop/orders.ibd"), "shop/orders.ibd");
        assert_eq!(short_path("ibdata1"), "ibdata1");
    }
}
