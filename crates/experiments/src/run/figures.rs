//! The figures of a run report: sample images of the dataset and the defence trade-off plot.

use std::path::Path;

use privsplit_data::ImageSet;
use privsplit_report::{image_grid, line_plot, GridImage, LinePlot, Series};

use super::report::RunReport;
use crate::Result;

/// A grid of test images: one row per font, ten samples each, labelled with their character.
///
/// # Errors
/// Report-writing errors.
pub fn write_sample_grid(set: &ImageSet, path: &Path) -> Result<()> {
    let per_row = 10;
    let fonts = set.sensitive_names.len().max(1);
    let sens = set.sensitive.as_deref();
    let px = set.rows * set.cols;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for f in 0..fonts {
        let idx = (0..set.n)
            .filter(|&i| sens.is_none_or(|s| s[i] as usize == f))
            .take(per_row);
        for i in idx {
            images.push(GridImage::Grey {
                rows: set.rows,
                cols: set.cols,
                pixels: &set.pixels[i * px..(i + 1) * px],
            });
            labels.push(
                set.class_names
                    .get(set.labels[i] as usize)
                    .cloned()
                    .unwrap_or_default(),
            );
        }
    }
    image_grid(path, &images, per_row, 3, Some(&labels))?;
    Ok(())
}

/// Main-task and collateral accuracy (%) per alpha, with chance, as PNG at `path` and SVG next to it: the
/// mean over the run's seeds, with error bars of one sample standard deviation when there is more than one
/// seed.
///
/// # Errors
/// Report-writing errors.
pub fn write_tradeoff_plot(r: &RunReport<'_>, path: &Path) -> Result<()> {
    let rows = &r.collateral.per_alpha;
    let pct = |v: f32| f64::from(v) * 100.0;
    let mut series = vec![Series {
        name: "main task (characters)".into(),
        points: rows
            .iter()
            .map(|a| (f64::from(a.alpha), pct(a.main_accuracy)))
            .collect(),
    }];
    let mut y_errors = vec![rows.iter().map(|a| pct(a.main_accuracy_std)).collect()];
    for attacker in r.attackers() {
        let found: Vec<_> = rows
            .iter()
            .filter_map(|a| {
                a.attacks
                    .iter()
                    .find(|x| x.attacker == attacker.name())
                    .map(|x| (a.alpha, x))
            })
            .collect();
        series.push(Series {
            name: format!("collateral ({})", attacker.name()),
            points: found
                .iter()
                .map(|(alpha, x)| (f64::from(*alpha), pct(x.collateral_accuracy)))
                .collect(),
        });
        y_errors.push(found.iter().map(|(_, x)| pct(x.collateral_std)).collect());
    }
    let chance = pct(r.collateral.chance);
    series.push(Series {
        name: "chance (font)".into(),
        points: rows.iter().map(|a| (f64::from(a.alpha), chance)).collect(),
    });
    let seeds = r.collateral.seeds.len();
    let (title, y_errors) = if seeds > 1 {
        (
            format!("Semi-adversarial defence: accuracy vs alpha (mean ± std, {seeds} seeds)"),
            y_errors,
        )
    } else {
        (
            "Semi-adversarial defence: accuracy vs alpha".to_string(),
            Vec::new(),
        )
    };
    line_plot(
        path,
        &LinePlot {
            title,
            x_label: "alpha (weight of -L_font)".into(),
            y_label: "test accuracy (%)".into(),
            series,
            y_range: Some((0.0, 100.0)),
            y_errors,
            ..LinePlot::default()
        },
    )?;
    Ok(())
}
