//! Image grids as PNG: a font contact sheet, "original vs reconstruction" comparisons.

use std::path::Path;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};

use crate::plot::encode_png;
use crate::run_dir::write_atomic;
use crate::{Error, Result};

/// One image of a grid, borrowed from the caller.
#[derive(Clone, Copy, Debug)]
pub enum GridImage<'a> {
    /// Grey `u8` image, row-major `[rows, cols]`, 0 = black.
    Grey {
        /// Height, pixels.
        rows: usize,
        /// Width, pixels.
        cols: usize,
        /// `rows * cols` grey levels.
        pixels: &'a [u8],
    },
    /// Grey `f32` image, row-major `[rows, cols]`, values in `[0, 1]` (clamped), e.g. a reconstruction.
    GreyF32 {
        /// Height, pixels.
        rows: usize,
        /// Width, pixels.
        cols: usize,
        /// `rows * cols` values.
        data: &'a [f32],
    },
    /// RGB `f32` image, channel-first `[3, height, width]`, values in `[0, 1]` (clamped).
    Rgb {
        /// Height, pixels.
        height: usize,
        /// Width, pixels.
        width: usize,
        /// `3 * height * width` values.
        data: &'a [f32],
    },
}

impl GridImage<'_> {
    fn dims(&self) -> (usize, usize) {
        match *self {
            GridImage::Grey { rows, cols, .. } | GridImage::GreyF32 { rows, cols, .. } => {
                (rows, cols)
            }
            GridImage::Rgb { height, width, .. } => (height, width),
        }
    }

    fn check(&self, index: usize) -> Result<()> {
        let (h, w) = self.dims();
        let (len, want, shape) = match self {
            GridImage::Grey { pixels, .. } => (pixels.len(), h * w, format!("[{h}, {w}] grey u8")),
            GridImage::GreyF32 { data, .. } => (data.len(), h * w, format!("[{h}, {w}] grey f32")),
            GridImage::Rgb { data, .. } => {
                (data.len(), 3 * h * w, format!("[3, {h}, {w}] RGB f32"))
            }
        };
        if len != want || h == 0 || w == 0 {
            return Err(Error::Invalid {
                what: format!("grid image {index}"),
                expected: format!("{want} values for a non-empty {shape} image"),
                got: format!("{len} values"),
            });
        }
        Ok(())
    }

    /// RGB8 of pixel `(y, x)`.
    fn rgb(&self, y: usize, x: usize) -> [u8; 3] {
        let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        match *self {
            GridImage::Grey { cols, pixels, .. } => [pixels[y * cols + x]; 3],
            GridImage::GreyF32 { cols, data, .. } => [q(data[y * cols + x]); 3],
            GridImage::Rgb {
                height,
                width,
                data,
            } => {
                let i = y * width + x;
                let plane = height * width;
                [q(data[i]), q(data[plane + i]), q(data[2 * plane + i])]
            }
        }
    }
}

/// Gap between cells and around the grid, pixels.
pub const GRID_PAD: usize = 2;
/// Height of the label strip under each cell when labels are given, pixels.
pub const GRID_LABEL_HEIGHT: usize = 14;

/// Size `(width, height)` in pixels of the grid [`image_grid`] draws: cells of
/// `max_h * cell_scale` by `max_w * cell_scale` pixels (plus [`GRID_LABEL_HEIGHT`] with labels), `cols` per
/// row, [`GRID_PAD`] pixels between cells and around the grid.
pub fn grid_size(
    images: &[GridImage<'_>],
    cols: usize,
    cell_scale: usize,
    labels: bool,
) -> (usize, usize) {
    let (mh, mw) = images
        .iter()
        .map(GridImage::dims)
        .fold((0, 0), |(a, b), (h, w)| (a.max(h), b.max(w)));
    let cols = cols.max(1);
    let rows = images.len().div_ceil(cols);
    let cell_h = mh * cell_scale + if labels { GRID_LABEL_HEIGHT } else { 0 };
    (
        cols * (mw * cell_scale + GRID_PAD) + GRID_PAD,
        rows * (cell_h + GRID_PAD) + GRID_PAD,
    )
}

/// Draws `text` (DejaVu Sans, 11 px) centred in the box `[x0, x0 + width) x [y0, y0 + GRID_LABEL_HEIGHT)`,
/// clipped to it, black on the existing background.
fn draw_label(img: &mut image::RgbImage, text: &str, x0: usize, y0: usize, width: usize) {
    let Ok(font) = FontRef::try_from_slice(dejavu::sans::regular()) else {
        return;
    };
    let scale = PxScale::from(11.0);
    let sf = font.as_scaled(scale);
    let total: f32 = text.chars().map(|c| sf.h_advance(font.glyph_id(c))).sum();
    let mut pen = x0 as f32 + ((width as f32 - total) / 2.0).max(0.0);
    let baseline = y0 as f32 + 1.0 + sf.ascent();
    for c in text.chars() {
        let id = font.glyph_id(c);
        let glyph = id.with_scale_and_position(scale, ab_glyph::point(pen, baseline));
        pen += sf.h_advance(id);
        let Some(og) = font.outline_glyph(glyph) else {
            continue;
        };
        let b = og.px_bounds();
        og.draw(|gx, gy, cov| {
            let x = b.min.x as i64 + i64::from(gx);
            let y = b.min.y as i64 + i64::from(gy);
            let inside = x >= x0 as i64
                && x < (x0 + width) as i64
                && y >= y0 as i64
                && y < (y0 + GRID_LABEL_HEIGHT) as i64
                && x < i64::from(img.width())
                && y < i64::from(img.height());
            if inside {
                let p = img.get_pixel_mut(x as u32, y as u32);
                for ch in p.0.iter_mut() {
                    *ch = (f32::from(*ch) * (1.0 - cov.clamp(0.0, 1.0))).round() as u8;
                }
            }
        });
    }
}

/// Writes a PNG grid of `images` to `path` atomically: `cols` cells per row, each image scaled up by
/// `cell_scale` with nearest-neighbour sampling (so every image pixel becomes a `cell_scale²` block) and
/// centred in its cell, white background and gaps, and `labels[i]` (if given) under image `i`.
/// The layout is [`grid_size`].
///
/// # Errors
/// [`Error::Invalid`] when there is no image, `cols` or `cell_scale` is 0 (or `cell_scale > 64`), an
/// image's data length does not match its shape, `labels` has another length than `images`, or the grid
/// would exceed 16,384 pixels per side; [`Error::Render`] / [`Error::Io`] when encoding or writing fails.
pub fn image_grid(
    path: &Path,
    images: &[GridImage<'_>],
    cols: usize,
    cell_scale: usize,
    labels: Option<&[String]>,
) -> Result<()> {
    let bad = |what: &str, expected: &str, got: String| {
        Err(Error::Invalid {
            what: format!("{what} of grid {}", path.display()),
            expected: expected.into(),
            got,
        })
    };
    if images.is_empty() {
        return bad("images", "at least one image", "none".into());
    }
    if cols == 0 {
        return bad("cols", "at least 1 column", "0".into());
    }
    if !(1..=64).contains(&cell_scale) {
        return bad("cell_scale", "1..=64", cell_scale.to_string());
    }
    if let Some(l) = labels {
        if l.len() != images.len() {
            return bad(
                "labels",
                "one label per image",
                format!("{} labels for {} images", l.len(), images.len()),
            );
        }
    }
    for (i, im) in images.iter().enumerate() {
        im.check(i)?;
    }
    let (w, h) = grid_size(images, cols, cell_scale, labels.is_some());
    if w > 16_384 || h > 16_384 {
        return bad("size", "at most 16384 pixels per side", format!("{w}x{h}"));
    }
    let (mh, mw) = images
        .iter()
        .map(GridImage::dims)
        .fold((0, 0), |(a, b), (h, w)| (a.max(h), b.max(w)));
    let cell_w = mw * cell_scale;
    let cell_h = mh * cell_scale
        + if labels.is_some() {
            GRID_LABEL_HEIGHT
        } else {
            0
        };
    let mut img = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([255, 255, 255]));
    for (i, im) in images.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let cx = GRID_PAD + c * (cell_w + GRID_PAD);
        let cy = GRID_PAD + r * (cell_h + GRID_PAD);
        let (ih, iw) = im.dims();
        let ox = cx + (mw - iw) * cell_scale / 2;
        let oy = cy + (mh - ih) * cell_scale / 2;
        for y in 0..ih * cell_scale {
            for x in 0..iw * cell_scale {
                let p = im.rgb(y / cell_scale, x / cell_scale);
                img.put_pixel((ox + x) as u32, (oy + y) as u32, image::Rgb(p));
            }
        }
        if let Some(l) = labels {
            draw_label(&mut img, &l[i], cx, cy + mh * cell_scale, cell_w);
        }
    }
    let png = encode_png(path, img.into_raw(), w as u32, h as u32)?;
    write_atomic(path, &png)
}
