//! The partition-point defences on a quarter-width small CNN and the synthetic seven-segment digits: each
//! step moves exactly the networks it trains (checked against independent re-runs), NoPeek lowers the
//! distance correlation of the feature map it trains, the defended model joins back into the usual weight
//! format, and bad input is rejected.
#![allow(clippy::unwrap_used)] // tests: a panic with the error is the failure report

use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor};
use privsplit_attacks::decoder::DecoderConfig;
use privsplit_attacks::rmle::InputNorm;
use privsplit_defenses::dcor::distance_correlation;
use privsplit_defenses::nopeek::{NoPeekOptimizers, NoPeekOptions};
use privsplit_defenses::partition_defence::{
    train_defence, DefenceData, PairBatch, PartitionDefence, SplitPair,
};
use privsplit_defenses::reconstruction::{ReconNetworks, ReconOptimizers, ReconstructionOptions};
use privsplit_defenses::semi_adversarial::SemiAdversarialConfig;
use privsplit_defenses::synthetic::seven_segment_set;
use privsplit_models::classifier::{images_tensor, labels};
use privsplit_models::stage::StagedModel;
use privsplit_models::train::{cross_entropy, parameter_values, OptimizerConfig};
use privsplit_models::weights::{load_model, save_model};
use privsplit_models::zoo::{build, ArchConfig};

const K: usize = 2;

fn arch() -> ArchConfig {
    ArchConfig::small_cnn().with_width(0.25)
}

/// A model drawn from `seed` alone (`seeded_init`; the device RNG is shared by parallel tests).
fn model(seed: u64) -> StagedModel {
    privsplit_models::train::seeded_init(build(&arch(), &Device::flex()).unwrap(), seed)
}

fn data(n: usize) -> (Tensor<4>, Vec<usize>) {
    let set = seven_segment_set(n, 3);
    let dev = Device::flex();
    (images_tensor(&set, 0, n, &dev).unwrap(), labels(&set, 0, n))
}

fn batch(x: &Tensor<4>, y: &[usize], dev: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let l: Vec<i64> = y.iter().map(|&v| v as i64).collect();
    (
        x.clone().to_device(dev),
        Tensor::<1, Int>::from_ints(l.as_slice(), dev),
    )
}

fn small_decoder() -> DecoderConfig {
    DecoderConfig {
        channels: 8,
        min_channels: 4,
    }
}

#[test]
fn reconstruction_step_moves_each_network_as_trained_alone() {
    let (x, y) = data(16);
    let pair = SplitPair::new(model(1), K, &Device::flex()).unwrap();
    let dev = pair.device.clone();
    let nets = ReconNetworks::new(pair, &small_decoder(), 2).unwrap();
    let opts = ReconstructionOptions {
        extra_adversary_steps: 0,
        clip_grad_norm: None,
        ..ReconstructionOptions::default()
    };
    let sgd = OptimizerConfig::sgd(0.05, 0.0);
    let mut opt = ReconOptimizers::new(&sgd);
    let (xb, yb) = batch(&x, &y, &dev);
    let norm = InputNorm::default();
    let before = (
        parameter_values(&nets.pair.trusted),
        parameter_values(&nets.pair.untrusted),
        parameter_values(&nets.decoder),
    );
    let step = |x: &Tensor<4>, y: &Tensor<1, Int>, alpha: f32| PairBatch {
        x: x.clone(),
        y: y.clone(),
        norm: &norm,
        alpha,
        lr: 0.05,
    };
    let (after, report) = opts
        .step(nets.clone(), &mut opt, step(&xb, &yb, 1.0))
        .unwrap();
    assert_eq!(report.batch, 16);
    assert!(report.main.is_finite() && report.sensitive > 0.0 && report.sensitive < 1.0);

    // U after the step = U trained alone on the detached feature maps of the initial T.
    let fm = nets.pair.trusted.forward(xb.clone()).unwrap().detach();
    let loss = cross_entropy(
        nets.pair
            .untrusted
            .forward(fm.clone())
            .unwrap()
            .flatten::<2>(1, 3),
        yb.clone(),
    );
    let g = GradientsParams::from_grads(loss.backward(), &nets.pair.untrusted);
    let u_alone = sgd.init().step(0.05, nets.pair.untrusted.clone(), g);
    assert_eq!(
        parameter_values(&after.pair.untrusted),
        parameter_values(&u_alone)
    );
    // D likewise, on the reconstruction loss.
    let loss = (nets.decoder.forward(fm) - xb.clone())
        .powi_scalar(2)
        .mean();
    let g = GradientsParams::from_grads(loss.backward(), &nets.decoder);
    let d_alone = sgd.init().step(0.05, nets.decoder.clone(), g);
    assert_eq!(parameter_values(&after.decoder), parameter_values(&d_alone));
    // T moved; the originals did not.
    assert_ne!(parameter_values(&after.pair.trusted), before.0);
    assert_eq!(parameter_values(&nets.pair.trusted), before.0);
    assert_eq!(parameter_values(&nets.pair.untrusted), before.1);
    assert_eq!(parameter_values(&nets.decoder), before.2);

    // alpha changes only T's step: at alpha 0 T follows L_main alone, and differs from alpha 1's T.
    let mut opt0 = ReconOptimizers::new(&sgd);
    let (zero, _) = opts
        .step(nets.clone(), &mut opt0, step(&xb, &yb, 0.0))
        .unwrap();
    assert_eq!(
        parameter_values(&zero.pair.untrusted),
        parameter_values(&after.pair.untrusted)
    );
    assert_ne!(
        parameter_values(&zero.pair.trusted),
        parameter_values(&after.pair.trusted)
    );
}

#[test]
fn nopeek_lowers_the_distance_correlation_of_the_feature_map() {
    let (x, y) = data(64);
    let base = model(4);
    let dcor_at_k = |m: &StagedModel| -> f32 {
        let fm = m.forward_range(x.clone(), 0, K).unwrap();
        distance_correlation(x.clone().flatten::<2>(1, 3), fm.flatten::<2>(1, 3)).into_scalar()
    };
    let start = dcor_at_k(&base);
    let run = |alpha: f32| -> StagedModel {
        let mut pair = SplitPair::new(base.clone(), K, &Device::flex()).unwrap();
        let (xb, yb) = batch(&x, &y, &pair.device);
        let mut opt = NoPeekOptimizers::new(&OptimizerConfig::adam(3e-3));
        for _ in 0..40 {
            let batch = PairBatch {
                x: xb.clone(),
                y: yb.clone(),
                norm: &InputNorm::default(),
                alpha,
                lr: 3e-3,
            };
            let (p, r) = NoPeekOptions::default()
                .step(pair, &mut opt, batch)
                .unwrap();
            assert!(
                r.sensitive >= 0.0 && r.sensitive <= 1.0001,
                "{}",
                r.sensitive
            );
            pair = p;
        }
        pair.into_model().unwrap()
    };
    let (plain, defended) = (dcor_at_k(&run(0.0)), dcor_at_k(&run(20.0)));
    assert!(
        defended < plain - 0.01 && defended < start,
        "dCor at k: start {start}, alpha 0 {plain}, alpha 20 {defended}"
    );
}

#[test]
fn guarded_defences_train_join_and_round_trip_through_the_weight_format() {
    let (x, y) = data(48);
    let norm = InputNorm::default();
    let d = DefenceData {
        images: &x,
        labels: &y,
        norm: &norm,
    };
    let cfg = SemiAdversarialConfig {
        alpha: 0.5,
        epochs: 1,
        batch_size: 16,
        optimizer: OptimizerConfig::adam(1e-3),
        seed: 3,
    };
    let pair = SplitPair::new(model(5), K, &Device::flex()).unwrap();
    let nets = ReconNetworks::new(pair.clone(), &small_decoder(), 6).unwrap();
    let out = train_defence(
        &ReconstructionOptions::default(),
        nets,
        &mut ReconOptimizers::new(&cfg.optimizer),
        &d,
        &cfg,
        "recon",
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out.steps, 3);
    assert!(out.baseline.accuracy.is_finite());
    let defended = out.trio.pair.into_model().unwrap();
    let tmp = std::env::temp_dir().join(format!(
        "privsplit-defended-{}.safetensors",
        std::process::id()
    ));
    save_model(&defended, &tmp).unwrap();
    let loaded = load_model(&arch(), &tmp, &Device::flex()).unwrap();
    let _ = std::fs::remove_file(&tmp);
    let a = defended.forward(x.clone()).unwrap();
    let b = loaded.forward(x.clone()).unwrap();
    assert_eq!(
        (a - b).abs().max().into_scalar::<f32>(),
        0.0,
        "saved and loaded defended model differ"
    );

    let nopeek = |data: &DefenceData<'_>| {
        train_defence(
            &NoPeekOptions::default(),
            pair.clone(),
            &mut NoPeekOptimizers::new(&cfg.optimizer),
            data,
            &cfg,
            "nopeek",
            &mut |_| {},
        )
    };
    let out = nopeek(&d).unwrap();
    assert_eq!(out.steps, 3);
    assert_ne!(
        parameter_values(&out.trio.trusted),
        parameter_values(&pair.trusted)
    );

    // Bad input is rejected with the input named.
    let short = &y[..10];
    let bad = DefenceData { labels: short, ..d };
    let e = nopeek(&bad).unwrap_err();
    assert!(e.to_string().contains("defence training set"), "{e}");
    let big = vec![10usize; 48];
    let e = nopeek(&DefenceData { labels: &big, ..d }).unwrap_err();
    assert!(e.to_string().contains("label"), "{e}");
    assert!(SplitPair::new(model(5), 0, &Device::flex()).is_err());
    let bad_cap = ReconstructionOptions {
        mse_cap: 0.0,
        ..ReconstructionOptions::default()
    };
    assert!(bad_cap.validate().is_err());
    let bad_clip = NoPeekOptions {
        clip_grad_norm: Some(-1.0),
        ..NoPeekOptions::default()
    };
    assert!(bad_clip.validate().is_err());
}
