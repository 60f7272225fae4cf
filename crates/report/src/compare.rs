//! `report --compare`: the traced trace (A) beside another trace of the same files (B), with
//! what the model predicted for B's setting from A, in total and per file.

use std::fmt::Write as _;

use mysql_io_sim::versus::{Comparison, Side};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::{compact, esc, plot_err, PlotError};

/// Files shown in the per-file table.
const FILES: usize = 15;

const A_COLOR: RGBColor = RGBColor(90, 90, 90);
const B_COLOR: RGBColor = RGBColor(40, 110, 200);
const P_COLOR: RGBColor = RGBColor(150, 190, 240);

/// The section: the two traces named, the totals plotted and tabled, the files tabled.
pub(crate) fn section(out: &mut String, c: &Comparison) -> Result<(), PlotError> {
    let kb = |k: u64| format!("read_ahead_kb {k}");
    let _ = writeln!(
        out,
        "<section id=\"compare\"><h2>Before and after</h2><p>A: <b>{}</b> ({}); B: <b>{}</b> ({}); \
         predicted: the model on A's reads at {} KiB (free mode). Files are matched by the last two \
         components of their paths.</p>",
        esc(&c.a),
        kb(c.a_ra_kb),
        esc(&c.b),
        kb(c.b_ra_kb),
        c.b_ra_kb
    );
    let a = c.total.a.clone().unwrap_or_default();
    let b = c.total.b.clone().unwrap_or_default();
    let p = c.total.predicted_b.clone();
    out.push_str(&totals_svg(&a, &b, p.as_ref())?);

    // The tables `mysql-io compare` prints.
    out.push_str(&c.totals_table().html("compare-total"));
    out.push_str(&c.files_table(FILES).html("compare-files"));
    if c.files.len() > FILES {
        let _ = writeln!(
            out,
            "<p>{} more files: <code>mysql-io compare A B --json</code> lists them all.</p>",
            c.files.len() - FILES
        );
    }
    if !c.warnings.is_empty() {
        let _ = writeln!(out, "<ul class=\"compare-warnings\">");
        for w in &c.warnings {
            let _ = writeln!(out, "<li>{}</li>", esc(w));
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(out, "</section>");
    Ok(())
}

/// Three small bar charts (pages read, device requests, readahead wasted), each with A, B and
/// the prediction for B.
fn totals_svg(a: &Side, b: &Side, p: Option<&Side>) -> Result<String, PlotError> {
    type Get = fn(&Side) -> u64;
    let figures: [(&str, Get); 3] = [
        ("pages read from disk", |s| s.pages_read),
        ("device requests", |s| s.read_ios),
        ("read ahead, never used", |s| s.wasted),
    ];
    let bars: [(&str, Option<&Side>, RGBColor); 3] =
        [("A", Some(a), A_COLOR), ("B", Some(b), B_COLOR), ("predicted B", p, P_COLOR)];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        for (area, (name, get)) in root.split_evenly((1, 3)).iter().zip(figures) {
            let top = bars.iter().filter_map(|(_, s, _)| s.map(get)).max().unwrap_or(0).max(1) as f64 * 1.15;
            let mut chart = ChartBuilder::on(area)
                .caption(name, ("sans-serif", 15))
                .margin(8)
                .x_label_area_size(26)
                .y_label_area_size(50)
                .build_cartesian_2d((0..bars.len()).into_segmented(), 0f64..top)
                .map_err(plot_err)?;
            let label = |v: &SegmentValue<usize>| match v {
                SegmentValue::CenterOf(i) => bars.get(*i).map(|b| b.0.to_string()).unwrap_or_default(),
                _ => String::new(),
            };
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(bars.len())
                .x_label_formatter(&label)
                .y_label_formatter(&|y| compact(*y as u64))
                .light_line_style(WHITE)
                .draw()
                .map_err(plot_err)?;
            chart
                .draw_series(bars.iter().enumerate().filter_map(|(i, (_, s, color))| {
                    let v = get((*s)?) as f64;
                    let mut r = Rectangle::new(
                        [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), v)],
                        color.filled(),
                    );
                    r.set_margin(0, 0, 12, 12);
                    Some(r)
                }))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(format!("<figure class=\"plot compare\">{svg}</figure>\n"))
}
