//! Main-task training of the split network alone (no sensitive attribute, so no attack).

use std::time::Instant;

use burn::module::Module;
use privsplit_data::Split;
use privsplit_models::quadratic::{QuadraticConfig, QuadraticWeights};
use privsplit_models::tensor::Features;
use privsplit_models::train::{accuracy, fit, predict, Progress};
use serde::{Deserialize, Serialize};

use super::{check_split, init_network, CollateralConfig, TrainedSplit};
use crate::Result;

/// Main-task training of the split network alone (no sensitive attribute needed): the figure to compare with
/// the authors' 97.54 % MNIST accuracy of the quadratic network (Ryffel et al. 2019, §4), here on any
/// labelled image set (Fashion-MNIST, font characters).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MainTaskOutcome {
    /// Sizes of the networks.
    pub network: QuadraticConfig,
    /// Training images.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Float test accuracy, in `[0, 1]`.
    pub test_accuracy: f32,
    /// Wall time of training (s).
    pub seconds: f64,
    /// The private part in functional-encryption form.
    pub weights: QuadraticWeights,
    /// The trained network (inference device, eval mode); not serialised.
    #[serde(skip)]
    pub trained: Option<TrainedSplit>,
}

/// Trains the quadratic private part and the public head on `data`'s main task for `cfg.plain_epochs` epochs
/// (`cfg`'s network sizes, batch, learning rate and seed) and reports the test accuracy.
///
/// # Errors
/// [`Error::Invalid`] on a bad config or mismatched splits; [`Error::Model`] when training fails.
pub fn run_main_task(
    cfg: &CollateralConfig,
    data: &Split,
    progress: &mut dyn FnMut(Progress),
) -> Result<MainTaskOutcome> {
    let net = check_split(cfg, data, false)?;
    let (tr, te) = (&data.train, &data.test);
    let device = cfg.device.resolve()?.autodiff();
    let start = Instant::now();
    let x_train = Features::from_images(tr)?;
    let x_test = Features::from_images(te)?;
    let model = init_network(&net, &device, cfg.seed)?;
    let train = cfg.train_config(cfg.plain_epochs, cfg.seed + 2);
    let model = fit(
        model,
        &x_train,
        &tr.labels,
        &train,
        &device,
        "main task",
        progress,
        None,
    )?;
    let trained = TrainedSplit {
        private: model.private.valid(),
        head: model.head.valid(),
    };
    let z_test = trained.private.outputs(&x_test)?;
    let test_accuracy = accuracy(&predict(&trained.head, &z_test, 1024)?, &te.labels);
    Ok(MainTaskOutcome {
        network: net,
        train_images: tr.n,
        test_images: te.n,
        epochs: cfg.plain_epochs,
        test_accuracy,
        seconds: start.elapsed().as_secs_f64(),
        weights: trained.private.export()?,
        trained: Some(trained),
    })
}
