//! PyTorch (torchvision-layout) weight import on small state dicts generated here: for each architecture the
//! test names every tensor the torchvision way with its own, hand-written mapping, fills both a
//! torchvision-layout file and a privsplit-layout file with the same seeded values (linear weights
//! transposed, VGG-16's adaptive pooling folded by hand), and checks that the imported model's forward pass
//! equals the one of the model loaded from privsplit's own names. Then bad files: wrong shape, missing key,
//! unexpected key, truncated or foreign files.
#![allow(clippy::unwrap_used)] // tests: a panic with the value is the failure report

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Distribution, Tensor};
use privsplit_models::import::{load_pytorch, load_weights, read_state_dict, SourceTensor};
use privsplit_models::weights::{load_model, save_model};
use privsplit_models::zoo::{build, ArchConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How the test turns a privsplit tensor into the torchvision one.
enum Layout {
    Same,
    Transposed,
    /// VGG-16 `classifier.0` on a 1 x 1 pool5 map: torchvision's weight is `[out, c * 49]`, each channel's
    /// 49 columns summing to privsplit's `[c, out]` entry (the adaptive pool copies the one value 49 times).
    Pool7From1x1,
}

fn bn_param(p: &str) -> &str {
    match p {
        "gamma" => "weight",
        "beta" => "bias",
        other => other,
    }
}

/// `conv.weight` / `bn.gamma` inside a privsplit `ConvBnAct` -> the torchvision suffix after `conv`/`bn`.
fn conv_bn(rest: &str, conv: &str, bn: &str) -> String {
    let (layer, p) = rest.split_once('.').unwrap();
    match layer {
        "conv" => format!("{conv}.{p}"),
        "bn" => format!("{bn}.{}", bn_param(p)),
        other => panic!("unexpected layer {other}"),
    }
}

fn linear_layout(p: &str) -> Layout {
    if p == "weight" {
        Layout::Transposed
    } else {
        Layout::Same
    }
}

/// Stage 0 (stem) and stage 17 (head) of the 18-stage models: `stem` and `head_conv` are (conv, bn) prefixes.
fn stem_or_head(
    stage: usize,
    rest: &str,
    stem: (&str, &str),
    head_conv: (&str, &str),
    fc: &str,
) -> Option<(String, Layout)> {
    if stage == 0 {
        let r = rest.strip_prefix("Stem.conv.").unwrap();
        return Some((conv_bn(r, stem.0, stem.1), Layout::Same));
    }
    if stage != 17 {
        return None;
    }
    if let Some(p) = rest.strip_prefix("Head.fc.") {
        return Some((format!("{fc}.{p}"), linear_layout(p)));
    }
    let r = rest.strip_prefix("Head.conv.").unwrap();
    Some((conv_bn(r, head_conv.0, head_conv.1), Layout::Same))
}

fn resnet_name(stage: usize, rest: &str) -> (String, Layout) {
    // Blocks per layer: 3, 4, 6, 3 (stages 1..=16); stage 0 stem, 17 head (no head conv).
    if let Some(n) = stem_or_head(stage, rest, ("conv1", "bn1"), ("", ""), "fc") {
        return n;
    }
    let (layer, block) = match stage - 1 {
        b @ 0..=2 => (1, b),
        b @ 3..=6 => (2, b - 3),
        b @ 7..=12 => (3, b - 7),
        b => (4, b - 13),
    };
    let rest = rest.strip_prefix("Bottleneck.").unwrap();
    let (part, inner) = rest.split_once('.').unwrap();
    let pre = format!("layer{layer}.{block}");
    let name = if part == "downsample" {
        conv_bn(
            inner,
            &format!("{pre}.downsample.0"),
            &format!("{pre}.downsample.1"),
        )
    } else {
        let n = part.strip_prefix("conv").unwrap();
        conv_bn(inner, &format!("{pre}.conv{n}"), &format!("{pre}.bn{n}"))
    };
    (name, Layout::Same)
}

fn vgg_name(stage: usize, rest: &str) -> (String, Layout) {
    // torchvision `features` indices of the 13 convs, by privsplit stage index (pools in between).
    let convs: BTreeMap<usize, usize> = [
        (0, 0),
        (1, 2),
        (3, 5),
        (4, 7),
        (6, 10),
        (7, 12),
        (8, 14),
        (10, 17),
        (11, 19),
        (12, 21),
        (14, 24),
        (15, 26),
        (16, 28),
    ]
    .into_iter()
    .collect();
    if let Some(p) = rest.strip_prefix("Conv.conv.") {
        return (format!("features.{}.{p}", convs[&stage]), Layout::Same);
    }
    let p = rest.strip_prefix("Dense.linear.").unwrap();
    let idx = (stage - 18) * 3;
    let layout = match (p, idx) {
        ("weight", 0) => Layout::Pool7From1x1,
        ("weight", _) => Layout::Transposed,
        _ => Layout::Same,
    };
    (format!("classifier.{idx}.{p}"), layout)
}

fn b0_name(stage: usize, rest: &str) -> (String, Layout) {
    let (stem, head) = (
        ("features.0.0", "features.0.1"),
        ("features.8.0", "features.8.1"),
    );
    if let Some(n) = stem_or_head(stage, rest, stem, head, "classifier.1") {
        return n;
    }
    // Stage groups of 1, 2, 2, 3, 3, 4, 1 blocks; the first block has no expansion conv.
    let starts = [1, 2, 4, 6, 9, 12, 16, 17];
    let g = starts.iter().rposition(|&s| s <= stage).unwrap();
    let j = stage - starts[g];
    let pre = format!("features.{}.{j}.block", g + 1);
    let off = usize::from(stage != 1);
    let rest = rest.strip_prefix("MbConv.").unwrap();
    let (part, inner) = rest.split_once('.').unwrap();
    let name = match part {
        "expand" => conv_bn(inner, &format!("{pre}.0.0"), &format!("{pre}.0.1")),
        "depthwise" => conv_bn(inner, &format!("{pre}.{off}.0"), &format!("{pre}.{off}.1")),
        "se" => {
            let (fc, p) = inner.split_once('.').unwrap();
            let fc = if fc == "reduce" { "fc1" } else { "fc2" };
            format!("{pre}.{}.{fc}.{p}", off + 1)
        }
        "project" => conv_bn(
            inner,
            &format!("{pre}.{}.0", off + 2),
            &format!("{pre}.{}.1", off + 2),
        ),
        other => panic!("unexpected part {other}"),
    };
    (name, Layout::Same)
}

fn lite0_name(stage: usize, rest: &str) -> (String, Layout) {
    let (stem, head) = (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"));
    if let Some(n) = stem_or_head(stage, rest, stem, head, "_fc") {
        return n;
    }
    let pre = format!("_blocks.{}", stage - 1);
    let rest = rest.strip_prefix("MbConv.").unwrap();
    let (part, inner) = rest.split_once('.').unwrap();
    let (conv, bn) = match part {
        "expand" => ("_expand_conv", "_bn0"),
        "depthwise" => ("_depthwise_conv", "_bn1"),
        "project" => ("_project_conv", "_bn2"),
        other => panic!("unexpected part {other}"),
    };
    (
        conv_bn(inner, &format!("{pre}.{conv}"), &format!("{pre}.{bn}")),
        Layout::Same,
    )
}

type Namer = fn(usize, &str) -> (String, Layout);

fn write_safetensors(path: &Path, tensors: &BTreeMap<String, SourceTensor>) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                t.shape.clone(),
                t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes.iter().map(|(n, s, b)| {
        (
            n.clone(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
        )
    });
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

struct Fixture {
    dir: PathBuf,
    arch: ArchConfig,
    torchvision: BTreeMap<String, SourceTensor>,
    privsplit: PathBuf,
}

/// Seeded values for every tensor of `arch`, written under privsplit's names (`privsplit.safetensors`) and
/// returned under torchvision's (PyTorch layout) with `num_batches_tracked` counters added.
fn fixture(tag: &str, arch: ArchConfig, namer: Namer, seed: u64) -> Fixture {
    let dev = Device::flex();
    let dir = std::env::temp_dir().join(format!("privsplit-tv-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("template.safetensors");
    save_model(&build(&arch, &dev).unwrap(), &template).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut ours, mut tv) = (BTreeMap::new(), BTreeMap::new());
    for (name, t) in read_state_dict(&template).unwrap() {
        let positive = name.ends_with("running_var");
        let data: Vec<f32> = (0..t.data.len())
            .map(|_| {
                if positive {
                    rng.gen_range(0.5..1.5)
                } else {
                    rng.gen_range(-0.3..0.3)
                }
            })
            .collect();
        let (stage, rest) = name
            .strip_prefix("stages.")
            .unwrap()
            .split_once('.')
            .unwrap();
        let (tv_name, layout) = namer(stage.parse().unwrap(), rest);
        let tv_t = match layout {
            Layout::Same => SourceTensor {
                shape: t.shape.clone(),
                data: data.clone(),
            },
            Layout::Transposed => {
                let (inp, out) = (t.shape[0], t.shape[1]);
                let mut d = vec![0.0; inp * out];
                for i in 0..inp {
                    for o in 0..out {
                        d[o * inp + i] = data[i * out + o];
                    }
                }
                SourceTensor {
                    shape: vec![out, inp],
                    data: d,
                }
            }
            Layout::Pool7From1x1 => {
                // Split each privsplit entry into 49 parts with random weights summing to it.
                let (c, out) = (t.shape[0], t.shape[1]);
                let mut d = vec![0.0; out * c * 49];
                for ch in 0..c {
                    for o in 0..out {
                        let parts: Vec<f32> = (0..49).map(|_| rng.gen_range(0.0..1.0)).collect();
                        let total: f32 = parts.iter().sum();
                        for (q, p) in parts.iter().enumerate() {
                            d[o * c * 49 + ch * 49 + q] = data[ch * out + o] * p / total;
                        }
                    }
                }
                SourceTensor {
                    shape: vec![out, c * 49],
                    data: d,
                }
            }
        };
        if tv_name.ends_with("running_var") {
            let counter = tv_name.replace("running_var", "num_batches_tracked");
            tv.insert(
                counter,
                SourceTensor {
                    shape: vec![],
                    data: vec![7.0],
                },
            );
        }
        assert!(
            tv.insert(tv_name.clone(), tv_t).is_none(),
            "{tv_name} twice"
        );
        ours.insert(
            name,
            SourceTensor {
                shape: t.shape,
                data,
            },
        );
    }
    let privsplit = dir.join("privsplit.safetensors");
    write_safetensors(&privsplit, &ours);
    Fixture {
        dir,
        arch,
        torchvision: tv,
        privsplit,
    }
}

fn assert_import_matches(f: &Fixture) {
    let dev = Device::flex();
    let path = f.dir.join("torchvision.safetensors");
    write_safetensors(&path, &f.torchvision);
    let imported = load_pytorch(&f.arch, &path, &dev).unwrap();
    // Either naming through the auto-detecting loader.
    let auto_tv = load_weights(&f.arch, &path, &dev).unwrap();
    let auto_ours = load_weights(&f.arch, &f.privsplit, &dev).unwrap();
    let direct = load_model(&f.arch, &f.privsplit, &dev).unwrap();
    let [c, h, w] = direct.input_shape();
    let x = Tensor::<4>::random([2, c, h, w], Distribution::Normal(0.0, 1.0), &dev);
    let n = direct.num_stages();
    for k in 1..=n {
        let b = direct.forward_range(x.clone(), 0, k).unwrap();
        let scale: f32 = b.clone().abs().max().into_scalar();
        // The importer, and the auto-detecting loader on either naming.
        for (model, how) in [
            (&imported, "import"),
            (&auto_tv, "auto, torchvision names"),
            (&auto_ours, "auto, privsplit names"),
        ] {
            let a = model.forward_range(x.clone(), 0, k).unwrap();
            let diff: f32 = (a - b.clone()).abs().max().into_scalar();
            assert!(
                diff <= 1e-5 * scale.max(1e-6),
                "{:?} {how} k={k}: {diff} (scale {scale})",
                f.arch.kind
            );
        }
    }
}

#[test]
fn resnet50_torchvision_state_dict_round_trip() {
    let f = fixture(
        "resnet",
        ArchConfig::resnet50(32, 7).with_width(1.0 / 16.0),
        resnet_name,
        1,
    );
    assert!(f
        .torchvision
        .contains_key("layer4.0.downsample.1.running_mean"));
    assert_import_matches(&f);
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[test]
fn vgg16_torchvision_state_dict_round_trip_with_adaptive_pool_folded() {
    let f = fixture(
        "vgg",
        ArchConfig::vgg16(32, 7).with_width(1.0 / 16.0),
        vgg_name,
        2,
    );
    assert_eq!(f.torchvision["classifier.0.weight"].shape[1], 32 * 49);
    assert_import_matches(&f);
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[test]
fn efficientnet_b0_torchvision_state_dict_round_trip() {
    let f = fixture(
        "b0",
        ArchConfig::efficientnet_b0(32, 7).with_width(0.25),
        b0_name,
        3,
    );
    assert!(f.torchvision.contains_key("features.1.0.block.1.fc2.bias"));
    assert!(f
        .torchvision
        .contains_key("features.6.3.block.3.1.running_var"));
    assert_import_matches(&f);
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[test]
fn efficientnet_lite0_package_state_dict_round_trip() {
    let f = fixture(
        "lite0",
        ArchConfig::efficientnet_lite0(32, 7),
        lite0_name,
        4,
    );
    assert!(f
        .torchvision
        .contains_key("_blocks.15._project_conv.weight"));
    assert_import_matches(&f);
    let _ = std::fs::remove_dir_all(&f.dir);
}

fn import_error(f: &Fixture, tensors: &BTreeMap<String, SourceTensor>, file: &str) -> String {
    let path = f.dir.join(file);
    write_safetensors(&path, tensors);
    load_pytorch(&f.arch, &path, &Device::flex())
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_state_dicts_are_rejected_with_the_tensor_named() {
    let f = fixture(
        "bad",
        ArchConfig::resnet50(32, 7).with_width(1.0 / 16.0),
        resnet_name,
        5,
    );
    // Wrong shape: a head for 9 classes; both shapes in PyTorch's [out, in] layout.
    let mut wrong = f.torchvision.clone();
    let fc = wrong.get_mut("fc.weight").unwrap();
    let inp = fc.shape[1];
    *fc = SourceTensor {
        shape: vec![9, inp],
        data: vec![0.0; 9 * inp],
    };
    let err = import_error(&f, &wrong, "wrong.safetensors");
    assert!(
        err.contains("`fc.weight`")
            && err.contains(&format!("[7, {inp}]"))
            && err.contains(&format!("[9, {inp}]")),
        "{err}"
    );
    // Missing key.
    let mut missing = f.torchvision.clone();
    missing.remove("layer2.1.bn2.running_var");
    let err = import_error(&f, &missing, "missing.safetensors");
    assert!(
        err.contains("`layer2.1.bn2.running_var`") && err.contains("no such key"),
        "{err}"
    );
    // Unexpected key (another architecture's tensor).
    let mut extra = f.torchvision.clone();
    extra.insert(
        "features.0.0.weight".into(),
        SourceTensor {
            shape: vec![1],
            data: vec![0.0],
        },
    );
    let err = import_error(&f, &extra, "extra.safetensors");
    assert!(
        err.contains("`features.0.0.weight`") && err.contains("unexpected key"),
        "{err}"
    );
    // Another architecture entirely: the first missing ResNet key is named.
    let lite = fixture(
        "bad-lite",
        ArchConfig::efficientnet_lite0(32, 7),
        lite0_name,
        6,
    );
    let err = import_error(&f, &lite.torchvision, "lite0.safetensors");
    assert!(
        err.contains("unexpected key") && err.contains("`_"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&lite.dir);

    // Truncated safetensors, truncated zip and legacy `.pth` containers, a foreign file, a missing file.
    let good = f.dir.join("good.safetensors");
    write_safetensors(&good, &f.torchvision);
    let bytes = std::fs::read(&good).unwrap();
    let cases: [(&str, Vec<u8>); 4] = [
        ("truncated.safetensors", bytes[..bytes.len() / 2].to_vec()),
        (
            "truncated.pth",
            b"PK\x03\x04\x14\x00\x00\x00\x00\x00".to_vec(),
        ),
        ("legacy.pth", vec![0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc]),
        ("notes.txt", b"these are not weights at all".to_vec()),
    ];
    for (name, content) in cases {
        let path = f.dir.join(name);
        std::fs::write(&path, content).unwrap();
        let err = load_pytorch(&f.arch, &path, &Device::flex())
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(name) && err.contains("expected"),
            "{name}: {err}"
        );
    }
    let err = load_pytorch(&f.arch, &f.dir.join("absent.pth"), &Device::flex())
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("absent.pth"), "{err}");
    // No PyTorch layout for privsplit's own small CNN.
    let err = load_pytorch(&ArchConfig::small_cnn(), &good, &Device::flex())
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("SmallCnn"), "{err}");
    let _ = std::fs::remove_dir_all(&f.dir);
}
