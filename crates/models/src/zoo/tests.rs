//! Tests of the zoo: shapes, parameter counts, split/join round trips.

use super::*;
use crate::weights::{load_model, load_partition, save_model, save_partition, Side};
use burn::module::Module;
use burn::tensor::{Distribution, Tensor};

fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar()
}

fn tiny_zoo() -> Vec<ArchConfig> {
    vec![
        ArchConfig::small_cnn(),
        ArchConfig::vgg16(32, 5).with_width(1.0 / 16.0),
        ArchConfig::resnet50(32, 5).with_width(1.0 / 16.0),
        ArchConfig::efficientnet_b0(32, 5).with_width(0.25),
        ArchConfig::efficientnet_lite0(32, 5),
    ]
}

#[test]
fn split_equals_full_model_at_every_partition_point() {
    let dev = Device::flex();
    for arch in tiny_zoo() {
        let model = build(&arch, &dev).expect("build").valid();
        let n = model.num_stages();
        let [c, h, w] = model.input_shape();
        let x = Tensor::<4>::random([2, c, h, w], Distribution::Normal(0.0, 1.0), &dev);
        let full = model.forward_range(x.clone(), 0, n).expect("full");
        // Every stage's output has the shape its StageInfo announces.
        let mut y = x.clone();
        for (i, info) in model.stage_infos().iter().enumerate() {
            y = model.forward_range(y, i, i + 1).expect("stage");
            assert_eq!(
                y.dims()[1..],
                info.output_shape,
                "{:?} stage {} ({})",
                arch.kind,
                i,
                info.name
            );
        }
        for k in 0..=n {
            let (trusted, untrusted) = model.clone().split(k).expect("split");
            assert_eq!(trusted.range(), (0, k));
            assert_eq!(untrusted.input_shape(), trusted.output_shape());
            let fm = trusted.forward(x.clone()).expect("trusted");
            let out = untrusted.forward(fm).expect("untrusted");
            assert_eq!(out.dims(), full.dims());
            assert_eq!(
                max_abs_diff(out, full.clone()),
                0.0,
                "{:?} k={k}",
                arch.kind
            );
            // Split then join is the full model again.
            let joined = StagedModel::join(trusted.clone(), untrusted.clone()).expect("join");
            assert_eq!(
                max_abs_diff(
                    joined.forward_range(x.clone(), 0, n).expect("joined"),
                    full.clone()
                ),
                0.0
            );
            // The parts swapped do not join.
            assert!(StagedModel::join(untrusted, trusted.clone()).is_err());
        }
        let (t2, _) = model.clone().split(1).expect("split");
        let (_, u3) = model.clone().split(n.min(3)).expect("split");
        assert!(StagedModel::join(t2, u3).is_err());
        assert!(model.clone().split(n + 1).is_err());
    }
}

/// Coarse points end where the published designs end a stage: a pool or fc layer (VGG-16), the last
/// block of a layer (ResNet-50: the next block changes resolution or is the head), a stage's last
/// MBConv block (EfficientNet: the next block changes channels).
#[test]
fn coarse_points_are_stage_boundaries() {
    let dev = Device::flex();
    for arch in tiny_zoo() {
        let model = build(&arch, &dev).expect("build");
        let infos = model.stage_infos();
        let n = model.num_stages();
        let pts = arch.coarse_points();
        assert_eq!((pts[0], pts[pts.len() - 1]), (0, n), "{:?}", arch.kind);
        assert!(pts.windows(2).all(|w| w[0] < w[1]));
        for &k in &pts[1..pts.len() - 1] {
            let (last, next) = (&infos[k - 1], &infos[k]);
            let ok = match arch.kind {
                ArchKind::Vgg16 => last.name.starts_with("pool") || last.name.starts_with("fc"),
                ArchKind::ResNet50 => {
                    last.name == "stem"
                        || next.name == "head"
                        || next.output_shape[1] < last.output_shape[1]
                }
                ArchKind::EfficientNetB0 | ArchKind::EfficientNetLite0 => {
                    next.output_shape[0] != last.output_shape[0]
                }
                _ => true,
            };
            assert!(
                ok,
                "{:?} k={k} after {} before {}",
                arch.kind, last.name, next.name
            );
        }
    }
}

#[test]
fn small_cnn_stage_shapes_and_names() {
    let model = build(&ArchConfig::small_cnn(), &Device::flex()).expect("build");
    let infos = model.stage_infos();
    let names: Vec<_> = infos.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2"]);
    let shapes: Vec<_> = infos.iter().map(|i| i.output_shape).collect();
    assert_eq!(
        shapes,
        [
            [32, 28, 28],
            [32, 14, 14],
            [64, 14, 14],
            [64, 7, 7],
            [128, 1, 1],
            [10, 1, 1]
        ]
    );
    // conv1: 32*(9+1); conv2: 64*(32*9+1); fc1: 3136*128+128; fc2: 128*10+10.
    let params: Vec<_> = infos.iter().map(|i| i.params).collect();
    assert_eq!(params, [320, 0, 18_496, 0, 401_536, 1_290]);
    assert_eq!(infos[0].flops, 2 * 32 * 28 * 28 * 9 + 32 * 28 * 28);
}

#[test]
fn imagenet_size_architectures_have_the_published_parameter_counts() {
    // torchvision resnet50: 25,557,032; efficientnet_b0: 5,288,548; EfficientNet-Lite0 (TF): 4,652,008.
    let dev = Device::flex();
    for (arch, params, stages, last_fm) in [
        (
            ArchConfig::resnet50(224, 1000),
            25_557_032usize,
            18usize,
            [2048, 7, 7],
        ),
        (
            ArchConfig::efficientnet_b0(224, 1000),
            5_288_548,
            18,
            [320, 7, 7],
        ),
        (
            ArchConfig::efficientnet_lite0(224, 1000),
            4_652_008,
            18,
            [320, 7, 7],
        ),
    ] {
        let m = build(&arch, &dev).expect("build");
        // burn's num_params also counts batch-norm running mean/variance; StageInfo counts trainable ones.
        assert_eq!(
            m.stage_infos().iter().map(|i| i.params).sum::<usize>(),
            params,
            "{:?}",
            arch.kind
        );
        assert_eq!(m.num_stages(), stages);
        assert_eq!(m.shape_at(stages - 1).expect("k"), last_fm);
    }
    let stem = build(&ArchConfig::resnet50(224, 1000), &dev)
        .expect("build")
        .stage_infos()[0]
        .clone();
    assert_eq!(stem.output_shape, [64, 56, 56]);
}

#[test]
fn bad_inputs_are_rejected_with_the_input_named() {
    let dev = Device::flex();
    let model = build(&ArchConfig::small_cnn(), &dev).expect("build");
    let x = Tensor::<4>::zeros([1, 3, 28, 28], &dev);
    let err = model
        .forward_range(x, 0, 6)
        .expect_err("channels")
        .to_string();
    assert!(
        err.contains("[batch, 1, 28, 28]") && err.contains("[1, 3, 28, 28]"),
        "{err}"
    );
    let err = model.clone().split(7).expect_err("k").to_string();
    assert!(
        err.contains("partition point") && err.contains("0..=6"),
        "{err}"
    );
    assert!(build(&ArchConfig::vgg16(40, 10), &dev).is_err());
    assert!(build(&ArchConfig::small_cnn().with_width(0.0), &dev).is_err());
}

#[test]
fn weights_round_trip_partition_loading_and_mismatch_rejection() {
    let dev = Device::flex();
    let dir = std::env::temp_dir().join(format!("privsplit-weights-{}", std::process::id()));
    let arch = ArchConfig::small_cnn().with_width(0.25);
    let model = build(&arch, &dev).expect("build");
    let path = dir.join("cnn.safetensors");
    save_model(&model, &path).expect("save");
    let x = Tensor::<4>::random([3, 1, 28, 28], Distribution::Default, &dev);
    let want = model.forward_range(x.clone(), 0, 6).expect("fwd");
    let loaded = load_model(&arch, &path, &dev).expect("load");
    assert_eq!(
        max_abs_diff(
            loaded.forward_range(x.clone(), 0, 6).expect("fwd"),
            want.clone()
        ),
        0.0
    );
    // Each side alone from the full-model file.
    let t = load_partition(&arch, 3, Side::Trusted, &path, &dev).expect("trusted");
    let u = load_partition(&arch, 3, Side::Untrusted, &path, &dev).expect("untrusted");
    let got = u.forward(t.forward(x.clone()).expect("t")).expect("u");
    assert_eq!(max_abs_diff(got, want.clone()), 0.0);
    // A partition file holds only its own stages.
    let upath = dir.join("untrusted.safetensors");
    save_partition(&u, &upath).expect("save partition");
    let u2 = load_partition(&arch, 3, Side::Untrusted, &upath, &dev).expect("untrusted file");
    assert_eq!(
        max_abs_diff(u2.forward(t.forward(x).expect("t")).expect("u"), want),
        0.0
    );
    assert!(load_partition(&arch, 3, Side::Trusted, &upath, &dev).is_err());
    assert!(load_model(&arch, &upath, &dev).is_err());
    // Another width: the error names the tensor and both shapes.
    let err = load_model(&ArchConfig::small_cnn(), &path, &dev)
        .expect_err("mismatch")
        .to_string();
    assert!(err.contains("stages.0") && err.contains("shape"), "{err}");
    // Another architecture entirely.
    let err = load_model(&ArchConfig::vgg16(32, 10).with_width(0.0625), &path, &dev)
        .expect_err("arch")
        .to_string();
    assert!(err.contains("stages."), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
