//! A tiny synthetic two-"font" digit set for tests and smoke runs (NOT the font-character dataset of
//! `privsplit_data::fonts`): digits drawn as seven-segment patterns on 28 x 28 grey images, in two drawing
//! styles that play the role of the sensitive attribute.
//!
//! - style 0 (`"upright-thin"`): upright strokes 2 px wide;
//! - style 1 (`"slanted-bold"`): strokes 3 px wide, sheared (italic) by 0.25 px per row.
//!
//! Each image is shifted by up to ±2 px, its ink scaled by a factor in `[0.6, 1]`, and uniform noise up to
//! 20 grey levels added. Everything is drawn from `seed`.

use privsplit_data::{ImageSet, Split};
use rand::{Rng, SeedableRng};

/// Segments lit for each digit 0-9: a, b, c, d, e, f, g (top, top-right, bottom-right, bottom, bottom-left,
/// top-left, middle), as in a seven-segment display.
const SEGMENTS: [[bool; 7]; 10] = [
    [true, true, true, true, true, true, false],
    [false, true, true, false, false, false, false],
    [true, true, false, true, true, false, true],
    [true, true, true, true, false, false, true],
    [false, true, true, false, false, true, true],
    [true, false, true, true, false, true, true],
    [true, false, true, true, true, true, true],
    [true, true, true, false, false, false, false],
    [true, true, true, true, true, true, true],
    [true, true, true, true, false, true, true],
];

/// A train/test split of synthetic seven-segment digits in two styles (see the module docs).
/// Labels and styles are balanced (image `i` has digit `i % 10` and style `(i / 10) % 2`).
pub fn seven_segment_split(n_train: usize, n_test: usize, seed: u64) -> Split {
    Split {
        train: seven_segment_set(n_train, seed),
        test: seven_segment_set(n_test, seed ^ 0x5EED_7E57),
    }
}

/// `n` synthetic images (see [`seven_segment_split`]).
pub fn seven_segment_set(n: usize, seed: u64) -> ImageSet {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (rows, cols) = (28usize, 28usize);
    let mut pixels = Vec::with_capacity(n * rows * cols);
    let mut labels = Vec::with_capacity(n);
    let mut sensitive = Vec::with_capacity(n);
    for i in 0..n {
        let digit = i % 10;
        let style = (i / 10) % 2;
        let (width, shear) = if style == 0 {
            (2i32, 0.0f32)
        } else {
            (3i32, 0.25f32)
        };
        let dx: i32 = rng.gen_range(-2..=2);
        let dy: i32 = rng.gen_range(-2..=2);
        let ink: f32 = rng.gen_range(0.6..1.0);
        let mut img = vec![0.0f32; rows * cols];
        // Digit box: columns 8..20, rows 4..24 before the shift.
        let (x0, x1, y0, ym, y1) = (8 + dx, 19 + dx, 4 + dy, 13 + dy, 23 + dy);
        let hline = |img: &mut Vec<f32>, y: i32| {
            for t in 0..width {
                for x in x0..=x1 {
                    put(img, rows, cols, x, y + t - width / 2, shear, 14);
                }
            }
        };
        let seg = SEGMENTS[digit];
        if seg[0] {
            hline(&mut img, y0);
        }
        if seg[6] {
            hline(&mut img, ym);
        }
        if seg[3] {
            hline(&mut img, y1);
        }
        let vline = |img: &mut Vec<f32>, x: i32, ya: i32, yb: i32| {
            for t in 0..width {
                for y in ya..=yb {
                    put(img, rows, cols, x + t - width / 2, y, shear, 14);
                }
            }
        };
        if seg[5] {
            vline(&mut img, x0, y0, ym);
        }
        if seg[1] {
            vline(&mut img, x1, y0, ym);
        }
        if seg[4] {
            vline(&mut img, x0, ym, y1);
        }
        if seg[2] {
            vline(&mut img, x1, ym, y1);
        }
        for v in img {
            let noise: f32 = rng.gen_range(0.0..20.0);
            pixels.push((v * ink * 235.0 + noise).round().clamp(0.0, 255.0) as u8);
        }
        labels.push(digit as u8);
        sensitive.push(style as u8);
    }
    ImageSet {
        pixels,
        n,
        rows,
        cols,
        labels,
        class_names: (0..10).map(|d| d.to_string()).collect(),
        sensitive: Some(sensitive),
        sensitive_names: vec!["upright-thin".into(), "slanted-bold".into()],
    }
}

/// Sets pixel `(x + shear * (centre_row - y), y)` to 1 when inside the image.
fn put(img: &mut [f32], rows: usize, cols: usize, x: i32, y: i32, shear: f32, centre_row: i32) {
    let xs = x + (shear * (centre_row - y) as f32).round() as i32;
    if (0..cols as i32).contains(&xs) && (0..rows as i32).contains(&y) {
        img[y as usize * cols + xs as usize] = 1.0;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn synthetic_set_is_balanced_seeded_and_styled() {
        let a = seven_segment_set(40, 1);
        assert_eq!(a, seven_segment_set(40, 1));
        assert_ne!(a.pixels, seven_segment_set(40, 2).pixels);
        assert_eq!(a.pixels.len(), 40 * 784);
        let s = a.sensitive.as_ref().unwrap();
        assert_eq!(s.iter().filter(|&&v| v == 1).count(), 20);
        // Bold style has more ink on average than thin style.
        let ink = |style: u8| -> f64 {
            (0..40)
                .filter(|&i| s[i] == style)
                .map(|i| {
                    a.pixels[i * 784..(i + 1) * 784]
                        .iter()
                        .map(|&p| f64::from(p))
                        .sum::<f64>()
                })
                .sum()
        };
        assert!(ink(1) > ink(0));
    }
}
