//! Line plots with `plotters`: PNG (bitmap backend rendered in memory, text drawn with DejaVu Sans via
//! `ab_glyph`) and the same plot as SVG (vector backend) for papers.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use serde::{Deserialize, Serialize};

use crate::run_dir::write_atomic;
use crate::{Error, Result};

/// One named curve: `(x, y)` points, drawn in the given order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points `(x, y)`; every coordinate must be finite.
    pub points: Vec<(f64, f64)>,
}

/// A line plot: e.g. collateral accuracy vs the defence weight `alpha`, or SSIM / PSNR (dB) of a
/// reconstruction per partition point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinePlot {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis (with units).
    pub x_label: String,
    /// Label of the y axis (with units).
    pub y_label: String,
    /// The curves, one colour each (Tableau-10 palette, then repeated).
    pub series: Vec<Series>,
    /// Fixed y range `(min, max)`; `None` fits the data with 5 % margins.
    pub y_range: Option<(f64, f64)>,
    /// Image size `(width, height)` in pixels. Default `(800, 500)`.
    pub size: (u32, u32),
    /// Half-widths of vertical error bars drawn at `y ± e` (e.g. one sample standard deviation over seeds),
    /// in the y axis' units: index-aligned with `series`, then with that series' points. Empty (the
    /// default), or an empty entry for a series, draws no bars for it.
    pub y_errors: Vec<Vec<f64>>,
}

impl Default for LinePlot {
    fn default() -> Self {
        Self {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            y_range: None,
            size: (800, 500),
            y_errors: Vec::new(),
        }
    }
}

const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The font family name plots use; DejaVu Sans is registered under it on first use.
const FAMILY: &str = "sans-serif";

fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans is a valid font; should registration fail anyway, text falls back to nothing drawn and
        // the plot is still written.
        let _ = register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold());
    });
}

fn render_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Render {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Range `[lo, hi]` of `values` widened by `margin` of its span (or by 1 when the span is 0).
fn padded_range(mut values: impl Iterator<Item = f64>, margin: f64) -> Option<(f64, f64)> {
    let first = values.next()?;
    let (lo, hi) = values.fold((first, first), |(a, b), v| (a.min(v), b.max(v)));
    let span = hi - lo;
    Some(if span > 0.0 {
        (lo - margin * span, hi + margin * span)
    } else {
        (lo - 1.0, hi + 1.0)
    })
}

/// Encodes an RGB8 buffer `[height, width, 3]` as PNG bytes.
pub(crate) fn encode_png(path: &Path, rgb: Vec<u8>, w: u32, h: u32) -> Result<Vec<u8>> {
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or_else(|| Error::Invalid {
        what: format!("image buffer for {}", path.display()),
        expected: format!("{} bytes ({w}x{h} RGB)", u64::from(w) * u64::from(h) * 3),
        got: "another length".into(),
    })?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| render_err(path, e))?;
    Ok(out.into_inner())
}

/// Draws `plot` and writes it as a PNG to `path` and as an SVG to `path` with the extension `svg`, both
/// atomically (rendered in memory, then written).
///
/// # Errors
/// [`Error::Invalid`] when there is no point at all, a coordinate is not finite, the size is outside
/// `64..=8192` pixels per side, `y_range` is empty, or `y_errors` has more entries than `series`, an entry
/// whose length is not its series' point count, or a half-width that is negative or not finite; [`Error::Render`] when drawing or encoding fails;
/// [`Error::Io`] when the file cannot be written.
pub fn line_plot(path: &Path, plot: &LinePlot) -> Result<()> {
    let (w, h) = plot.size;
    if !(64..=8192).contains(&w) || !(64..=8192).contains(&h) {
        return Err(Error::Invalid {
            what: format!("plot size for {}", path.display()),
            expected: "64..=8192 pixels per side".into(),
            got: format!("{w}x{h}"),
        });
    }
    check_errors(plot)?;
    let all = || plot.series.iter().flat_map(|s| s.points.iter().copied());
    // The fitted y range covers the error bars' ends.
    let bar_ends = || {
        plot.series
            .iter()
            .zip(&plot.y_errors)
            .flat_map(|(s, e)| s.points.iter().zip(e).flat_map(|(p, e)| [p.1 - e, p.1 + e]))
    };
    if let Some((s, p)) = plot.series.iter().find_map(|s| {
        s.points
            .iter()
            .find(|p| !(p.0.is_finite() && p.1.is_finite()))
            .map(|p| (s, p))
    }) {
        return Err(Error::Invalid {
            what: format!("series {:?} of plot {:?}", s.name, plot.title),
            expected: "finite coordinates".into(),
            got: format!("{p:?}"),
        });
    }
    let Some((x0, x1)) = padded_range(all().map(|p| p.0), 0.02) else {
        return Err(Error::Invalid {
            what: format!("plot {:?}", plot.title),
            expected: "at least one point".into(),
            got: format!("{} series without points", plot.series.len()),
        });
    };
    let (y0, y1) = match plot.y_range {
        Some((a, b)) if a.is_finite() && b.is_finite() && a < b => (a, b),
        Some(r) => {
            return Err(Error::Invalid {
                what: format!("y range of plot {:?}", plot.title),
                expected: "finite (min, max) with min < max".into(),
                got: format!("{r:?}"),
            })
        }
        None => padded_range(all().map(|p| p.1).chain(bar_ends()), 0.05).unwrap_or((0.0, 1.0)),
    };
    ensure_font();
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    draw(
        BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area(),
        plot,
        (x0..x1, y0..y1),
        path,
    )?;
    write_atomic(path, &encode_png(path, buf, w, h)?)?;
    let svg_path = path.with_extension("svg");
    let mut svg = String::new();
    draw(
        SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area(),
        plot,
        (x0..x1, y0..y1),
        &svg_path,
    )?;
    write_atomic(&svg_path, svg.as_bytes())
}

/// Checks `plot.y_errors` against `plot.series` (see [`line_plot`]'s errors).
fn check_errors(plot: &LinePlot) -> Result<()> {
    let bad = |expected: String, got: String| {
        Err(Error::Invalid {
            what: format!("y_errors of plot {:?}", plot.title),
            expected,
            got,
        })
    };
    if plot.y_errors.len() > plot.series.len() {
        return bad(
            format!("at most one entry per series ({})", plot.series.len()),
            format!("{} entries", plot.y_errors.len()),
        );
    }
    for (s, e) in plot.series.iter().zip(&plot.y_errors) {
        if !e.is_empty() && e.len() != s.points.len() {
            return bad(
                format!(
                    "{} half-widths for series {:?} (one per point)",
                    s.points.len(),
                    s.name
                ),
                e.len().to_string(),
            );
        }
        if let Some(v) = e.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return bad(
                format!("finite half-widths >= 0 for series {:?}", s.name),
                v.to_string(),
            );
        }
    }
    Ok(())
}

type Ranges = (std::ops::Range<f64>, std::ops::Range<f64>);

/// Draws `plot` on `root` (any plotters backend); `path` only names the output in errors.
fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    plot: &LinePlot,
    (xs, ys): Ranges,
    path: &Path,
) -> Result<()> {
    {
        root.fill(&WHITE).map_err(|e| render_err(path, e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&plot.title, (FAMILY, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(xs, ys)
            .map_err(|e| render_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc(plot.x_label.as_str())
            .y_desc(plot.y_label.as_str())
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| render_err(path, e))?;
        for (i, s) in plot.series.iter().enumerate() {
            let (r, g, b) = PALETTE[i % PALETTE.len()];
            let color = RGBColor(r, g, b);
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(|e| render_err(path, e))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| render_err(path, e))?;
            if let Some(errors) = plot.y_errors.get(i) {
                chart
                    .draw_series(s.points.iter().zip(errors).map(|(&(x, y), &e)| {
                        ErrorBar::new_vertical(x, y - e, y, y + e, color.stroke_width(1), 8)
                    }))
                    .map_err(|e| render_err(path, e))?;
            }
        }
        if plot.series.iter().any(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .label_font((FAMILY, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(|e| render_err(path, e))?;
        }
        root.present().map_err(|e| render_err(path, e))?;
    }
    Ok(())
}
