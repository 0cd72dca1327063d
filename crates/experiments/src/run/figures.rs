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

/// Main-task and collateral accuracy (%) per alpha, with chance, as PNG at `path` and SVG next to it.
///
/// # Errors
/// Report-writing errors.
pub fn write_tradeoff_plot(r: &RunReport<'_>, path: &Path) -> Result<()> {
    let rows = &r.collateral.per_alpha;
    let mut series = vec![Series {
        name: "main task (characters)".into(),
        points: rows
            .iter()
            .map(|a| (f64::from(a.alpha), f64::from(a.main_accuracy) * 100.0))
            .collect(),
    }];
    for attacker in r.attackers() {
        series.push(Series {
            name: format!("collateral ({})", attacker.name()),
            points: rows
                .iter()
                .filter_map(|a| {
                    a.attacks
                        .iter()
                        .find(|x| x.attacker == attacker.name())
                        .map(|x| (f64::from(a.alpha), f64::from(x.collateral_accuracy) * 100.0))
                })
                .collect(),
        });
    }
    let chance = f64::from(r.collateral.chance) * 100.0;
    series.push(Series {
        name: "chance (font)".into(),
        points: rows.iter().map(|a| (f64::from(a.alpha), chance)).collect(),
    });
    line_plot(
        path,
        &LinePlot {
            title: "Semi-adversarial defence: accuracy vs alpha".into(),
            x_label: "alpha (weight of -L_font)".into(),
            y_label: "test accuracy (%)".into(),
            series,
            y_range: Some((0.0, 100.0)),
            ..LinePlot::default()
        },
    )?;
    Ok(())
}
