//! Line charts as SVG files, drawn with plotters: the suspended-tasks sweep and the
//! microbenchmarks' graphs.

use plotters::prelude::*;
use std::path::Path;

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// The legend's text.
    pub name: String,
    /// (x, y) points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (figures published elsewhere, not measured in this run).
    pub dashed: bool,
}

/// A line chart: both axes logarithmic or not, as chosen.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// The caption.
    pub title: String,
    /// What x is.
    pub x_label: String,
    /// What y is.
    pub y_label: String,
    /// A logarithmic x axis.
    pub x_log: bool,
    /// A logarithmic y axis.
    pub y_log: bool,
    /// The lines.
    pub series: Vec<Series>,
}

const COLORS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

/// The range of `v` padded for drawing (a log range stays positive).
fn range(v: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in v.filter(|x| x.is_finite() && (!log || *x > 0.0)) {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if !lo.is_finite() {
        return (1.0, 10.0);
    }
    if log {
        (lo / 1.5, hi * 1.5)
    } else {
        let pad = ((hi - lo) * 0.05).max(hi.abs() * 0.05).max(1e-9);
        ((lo - pad).min(0.0), hi + pad)
    }
}

fn plot_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Writes `chart` to `path` as an SVG file (800 x 480).
pub fn write_line_chart(path: &Path, chart: &LineChart) -> std::io::Result<()> {
    // Into an existing folder only (a mistyped path should not create folders).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no folder {}", dir.display()),
            ));
        }
    }
    let all = || chart.series.iter().flat_map(|s| s.points.iter().copied());
    let (x0, x1) = range(all().map(|p| p.0), chart.x_log);
    let (y0, y1) = range(all().map(|p| p.1), chart.y_log);
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    // The four axis combinations are four coordinate types.
    macro_rules! draw {
        ($x:expr, $y:expr) => {{
            let mut ch = builder.build_cartesian_2d($x, $y).map_err(plot_error)?;
            ch.configure_mesh()
                .x_desc(chart.x_label.as_str())
                .y_desc(chart.y_label.as_str())
                .draw()
                .map_err(plot_error)?;
            for (i, s) in chart.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let style = color.stroke_width(2);
                let points = s
                    .points
                    .iter()
                    .copied()
                    .filter(|&(x, y)| (!chart.x_log || x > 0.0) && (!chart.y_log || y > 0.0));
                if s.dashed {
                    ch.draw_series(DashedLineSeries::new(points, 6, 4, style))
                        .map_err(plot_error)?
                } else {
                    ch.draw_series(LineSeries::new(points, style))
                        .map_err(plot_error)?
                }
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
                });
                ch.draw_series(
                    s.points
                        .iter()
                        .filter(|&&(x, y)| (!chart.x_log || x > 0.0) && (!chart.y_log || y > 0.0))
                        .map(|&p| Circle::new(p, 3, color.filled())),
                )
                .map_err(plot_error)?;
            }
            ch.configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(plot_error)?;
        }};
    }
    match (chart.x_log, chart.y_log) {
        (true, true) => draw!((x0..x1).log_scale(), (y0..y1).log_scale()),
        (true, false) => draw!((x0..x1).log_scale(), y0..y1),
        (false, true) => draw!(x0..x1, (y0..y1).log_scale()),
        (false, false) => draw!(x0..x1, y0..y1),
    }
    root.present().map_err(plot_error)?;
    Ok(())
}
