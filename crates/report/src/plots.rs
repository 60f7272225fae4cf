//! The evidence plots, drawn as inline SVG with `plotters` from an [`Evidence`]: offset against
//! time per file, read latency per role, reads per second per role, sequential-run lengths.
//!
//! Every plot has a bounded number of elements whatever the trace's length: the offset grids
//! at most [`TIME_BINS`] × [`OFFSET_BINS`] cells and
//! [`MAX_WINDOWS`](crate::evidence::MAX_WINDOWS) windows, the rates at most
//! [`MAX_RATE_BINS`](crate::evidence::MAX_RATE_BINS) points per role, the latency curves two
//! points per histogram bucket.

use std::fmt::Write as _;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::evidence::{Evidence, FileEvidence, RoleEvidence, Trigger, OFFSET_BINS, TIME_BINS};
use crate::{compact, plot_err, PlotError};

/// Colours of the roles, most reads first; roles past the last share it.
pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(150, 150, 150),
];

/// Roles drawn in the latency and rate plots (the table lists every role).
pub(crate) const PLOTTED_ROLES: usize = PALETTE.len() - 1;

/// A role's colour.
pub(crate) fn role_color(i: usize) -> RGBColor {
    PALETTE[i.min(PALETTE.len() - 1)]
}

/// Colour of a readahead window by its trigger.
pub(crate) fn trigger_color(t: Trigger) -> RGBColor {
    match t {
        Trigger::Sync => RGBColor(0, 0, 0),
        Trigger::Async => RGBColor(230, 110, 0),
        Trigger::Other => RGBColor(200, 40, 40),
    }
}

/// `#rrggbb` of a colour, for the HTML legends.
pub(crate) fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Bytes as a short axis label.
fn size_label(b: f64) -> String {
    const K: f64 = 1024.0;
    match b {
        b if b >= K * K * K => format!("{:.1} GiB", b / (K * K * K)),
        b if b >= K * K => format!("{:.0} MiB", b / (K * K)),
        b if b >= K => format!("{:.0} KiB", b / K),
        b => format!("{b:.0} B"),
    }
}

/// Microseconds as a short axis label.
fn micros_label(us: f64) -> String {
    match us {
        us if us >= 1000.0 => format!("{:.0} ms", us / 1000.0),
        us if us >= 1.0 => format!("{us:.0} µs"),
        us => format!("{us:.1} µs"),
    }
}

fn secs(ev: &Evidence, ts: u64) -> f64 {
    ts.saturating_sub(ev.t0) as f64 / 1e9
}

/// Shades of a cell's colour: a cell with few reads is fainter (the shade grows with the
/// logarithm of its reads), in this many steps.
const SHADES: usize = 4;

/// One file: a cell per (time, offset) bin with reads, in the colour of the role with most of
/// them (fainter for fewer reads), and the readahead windows as vertical bars over the bytes
/// they covered (black: sync, orange: async, red: no trigger seen).
///
/// The axes are `plotters`'; the cells and windows are written as one SVG path per colour (a
/// subpath per cell or window, about 20 bytes each instead of a 90-byte element), each with
/// `data-n`, its number of subpaths.
pub(crate) fn offset_time_svg(ev: &Evidence, f: &FileEvidence) -> Result<String, PlotError> {
    let span = (ev.t1.saturating_sub(ev.t0) as f64 / 1e9).max(1e-3);
    let extent = f.extent.max(1) as f64;
    let (dt, doff) = (span / f64::from(TIME_BINS), extent / f64::from(OFFSET_BINS));
    let most = f.cells.iter().map(|c| c.reads).max().unwrap_or(1).max(2) as f64;
    let mut svg = String::new();
    // (colour, opacity, stroke width or 0 for a fill, path data, subpaths)
    let mut paths: Vec<(RGBColor, f64, u32, String, usize)> = Vec::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..span, 0f64..extent)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("seconds into the trace")
            .y_desc("offset")
            .y_label_formatter(&|y| size_label(*y))
            .draw()
            .map_err(plot_err)?;
        let at = |x: f64, y: f64| chart.backend_coord(&(x, y));
        let mut by_colour: std::collections::BTreeMap<(usize, usize), (String, usize)> = Default::default();
        for c in &f.cells {
            let shade = ((c.reads as f64).ln() / most.ln() * SHADES as f64).ceil().clamp(1.0, SHADES as f64);
            let (x0, y0) = at(f64::from(c.t) * dt, f64::from(c.o + 1) * doff);
            let (x1, y1) = at(f64::from(c.t + 1) * dt, f64::from(c.o) * doff);
            let e = by_colour.entry((c.role.min(PALETTE.len() - 1), shade as usize)).or_default();
            let _ = write!(e.0, "M{x0} {y0}h{}v{}h{}z", x1 - x0, y1 - y0, x0 - x1);
            e.1 += 1;
        }
        for ((role, shade), (d, n)) in by_colour {
            paths.push((role_color(role), 0.25 + 0.75 * shade as f64 / SHADES as f64, 0, d, n));
        }
        for trigger in [Trigger::Sync, Trigger::Async, Trigger::Other] {
            let (mut d, mut n) = (String::new(), 0);
            for w in f.drawn.iter().filter(|w| w.trigger == trigger) {
                let x = secs(ev, w.ts);
                let (x0, y0) = at(x, w.start as f64);
                let (_, y1) = at(x, w.start.saturating_add(w.len.max(1)) as f64);
                let _ = write!(d, "M{x0} {y0}V{}", y1.min(y0 - 1));
                n += 1;
            }
            if n > 0 {
                paths.push((trigger_color(trigger), 1.0, 2, d, n));
            }
        }
        root.present().map_err(plot_err)?;
    }
    let mut data = String::new();
    for (c, opacity, width, d, n) in paths {
        let kind = if width == 0 { "cells" } else { "windows" };
        let paint = if width == 0 {
            format!("fill=\"{}\" fill-opacity=\"{opacity:.2}\" stroke=\"none\"", hex(c))
        } else {
            format!("fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\"", hex(c))
        };
        let _ = writeln!(data, "<path class=\"{kind}\" data-n=\"{n}\" {paint} d=\"{d}\"/>");
    }
    let end = svg.rfind("</svg>").ok_or_else(|| PlotError("the SVG has no end".into()))?;
    svg.insert_str(end, &data);
    Ok(svg)
}

/// The share of each plotted role's reads completed within a latency (log axis), with marks at
/// p50, p95 and p99.
pub(crate) fn latency_svg(roles: &[RoleEvidence]) -> Result<String, PlotError> {
    let roles: Vec<(usize, &RoleEvidence)> =
        roles.iter().enumerate().filter(|(_, r)| !r.latency.is_empty()).take(PLOTTED_ROLES).collect();
    let ns = |v: u64| (v.max(100)) as f64 / 1000.0;
    let lo = roles.iter().filter_map(|(_, r)| r.latency.percentile(0)).min().unwrap_or(1_000);
    let hi = roles.iter().filter_map(|(_, r)| r.latency.percentile(100)).max().unwrap_or(10_000);
    let (lo, hi) = (ns(lo) / 1.5, (ns(hi) * 1.5).max(ns(lo) * 2.0));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(50)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("read latency (log scale)")
            .y_desc("share of reads")
            .x_label_formatter(&|x| micros_label(*x))
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        for &(i, r) in &roles {
            let n = r.latency.len() as f64;
            let mut seen = 0u64;
            let mut points = Vec::new();
            for (low, high, count) in r.latency.buckets() {
                points.push((ns(low), seen as f64 / n));
                seen += count;
                points.push((ns(high), seen as f64 / n));
            }
            let color = role_color(i);
            chart.draw_series(LineSeries::new(points, color.stroke_width(2))).map_err(plot_err)?;
            chart
                .draw_series([50u32, 95, 99].into_iter().filter_map(|p| {
                    let v = r.latency.percentile(p)?;
                    Some(Circle::new((ns(v), f64::from(p) / 100.0), 4, color.filled()))
                }))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Reads started per second, per plotted role, bin by bin.
pub(crate) fn rate_svg(ev: &Evidence) -> Result<String, PlotError> {
    let width = ev.rate_bin_ns as f64 / 1e9;
    let roles: Vec<(usize, &RoleEvidence)> = ev.roles.iter().enumerate().take(PLOTTED_ROLES).collect();
    let bins = roles.first().map_or(1, |(_, r)| r.per_bin.len()).max(1);
    let top =
        roles.iter().flat_map(|(_, r)| r.per_bin.iter()).copied().max().unwrap_or(1).max(1) as f64 / width;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..(bins as f64 * width), 0f64..top * 1.1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("seconds into the trace")
            .y_desc("reads per second")
            .y_label_formatter(&|y| compact(*y as u64))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        for &(i, r) in &roles {
            let points =
                r.per_bin.iter().enumerate().map(|(b, &n)| ((b as f64 + 0.5) * width, n as f64 / width));
            chart.draw_series(LineSeries::new(points, role_color(i).stroke_width(2))).map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Sequential runs by length: one bar per bucket.
pub(crate) fn runs_svg(runs: &[u64], labels: &[&str]) -> Result<String, PlotError> {
    let n = runs.len();
    let top = runs.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d((0..n).into_segmented(), 0f64..top)
            .map_err(plot_err)?;
        let name = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).map(|s| s.to_string()).unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&name)
            .x_desc("reads in the run")
            .y_desc("runs")
            .y_label_formatter(&|y| compact(*y as u64))
            .light_line_style(WHITE)
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(runs.iter().enumerate().map(|(i, &c)| {
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), c as f64)],
                    RGBColor(70, 110, 170).filled(),
                );
                bar.set_margin(0, 0, 8, 8);
                bar
            }))
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}
