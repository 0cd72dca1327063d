//! Integration tests of `privsplit-onnx` on ONNX files no one here wrote: the small model exported by
//! `tests/fixtures/make_small_cnn.py` with the `onnx` package's helper API (reference feature maps from
//! numpy), and the `onnx` wheel's backend test graphs `light_*.onnx` (installed under `data-cache/onnx/` by
//! `scripts/install-deps.sh`; skipped with a message when absent, failing under `CI`).

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use privsplit_onnx::{Error, OnnxModel};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32")
}

fn tensor(v: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v, shape), &Device::flex())
}

fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn small_cnn_lists_exactly_the_nodes_that_carry_the_whole_state() {
    let m = OnnxModel::load(&fixture("small_cnn.onnx")).expect("load");
    assert_eq!(m.declared_input(), [Some(1), Some(3), Some(8), Some(8)]);
    let input = m.input_shape(None).expect("input");
    assert_eq!(input, [3, 8, 8]);
    let c = m.candidates(input).expect("candidates");
    let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
    // conv_b is not a cut (relu_a crosses it through the residual), fc is the model output.
    assert_eq!(
        names,
        ["conv_a", "relu_a", "add", "relu_b", "pool", "gap", "flat"]
    );
    let ops: Vec<&str> = c.iter().map(|c| c.op.as_str()).collect();
    assert_eq!(
        ops,
        [
            "Conv",
            "Relu",
            "Add",
            "Relu",
            "MaxPool",
            "GlobalAveragePool",
            "Flatten"
        ]
    );
    assert_eq!(c[0].output, "t_conv_a");
    assert_eq!(c[4].shape, Some(vec![4, 4, 4]));
    assert_eq!(c[6].shape, Some(vec![4]));
    // At an overridden size the shapes follow.
    let c12 = m.candidates([3, 12, 12]).expect("candidates at 12");
    assert_eq!(c12[4].shape, Some(vec![4, 6, 6]));
}

/// Feature maps at three cut nodes equal the numpy reference of the fixture script, at the declared 8x8
/// and at an overridden 12x12 input, with a compiled batch (3) that does not divide the images (2).
#[test]
fn feature_maps_match_the_numpy_reference_at_the_declared_and_an_overridden_size() {
    let m = OnnxModel::load(&fixture("small_cnn.onnx")).expect("load");
    let text = std::fs::read_to_string(fixture("small_cnn_ref.json")).expect("reference");
    let r: serde_json::Value = serde_json::from_str(&text).expect("json");
    for size in [8usize, 12] {
        let set = &r[format!("size{size}")];
        let x: Vec<f32> = serde_json::from_value(set["input"].clone()).expect("input");
        let x = tensor(x, [2, 3, size, size]);
        for (node, shape4) in [
            ("relu_a", [2, 4, size, size]),
            ("pool", [2, 4, size / 2, size / 2]),
            ("flat", [2, 4, 1, 1]),
        ] {
            let want: Vec<f64> =
                serde_json::from_value(set[node]["values"].clone()).expect("values");
            let input = [3, size, size];
            let cut = m
                .compile(Some(&m.cut_node(node, input).expect("node")), input, 3)
                .expect("compile");
            let y = cut.run(&x).expect("run");
            assert_eq!(y.dims(), shape4, "{node} at {size}");
            let err = max_abs_diff(&values(y), &want);
            assert!(err < 1e-4, "{node} at {size}: max abs error {err}");
        }
    }
}

#[test]
fn the_tensor_name_selects_the_same_cut_and_costs_are_counted() {
    let m = OnnxModel::load(&fixture("small_cnn.onnx")).expect("load");
    // Seeded normal weights (make_small_cnn.py): not synthetic.
    assert!(!m.synthetic_weights());
    let input = [3, 8, 8];
    let a = m.cut_node("t_pool", input).expect("by tensor name");
    assert_eq!(a.name, "pool");
    let conv_a = m
        .compile(Some(&m.cut_node("conv_a", input).expect("c")), input, 1)
        .expect("compile");
    // conv_a: 4 x 8 x 8 outputs, 3 x 3 x 3 multiply-adds each, 2 FLOPs per multiply-add.
    assert_eq!(conv_a.flops, 2 * 4 * 64 * 27);
    assert_eq!(conv_a.params, 4 * 27 + 4);
    assert_eq!(conv_a.output, vec![4, 8, 8]);
    let flat = m.compile(Some(&a), input, 1).expect("compile");
    assert!(
        flat.flops > conv_a.flops,
        "{} vs {}",
        flat.flops,
        conv_a.flops
    );
    // Both convolutions' weights and biases; the classifier after the cut is not counted.
    assert_eq!(flat.params, (4 * 27 + 4) + (4 * 36 + 4));
}

#[test]
fn bad_cut_nodes_are_rejected_with_the_candidates() {
    let m = OnnxModel::load(&fixture("small_cnn.onnx")).expect("load");
    let input = [3, 8, 8];
    let e = m
        .cut_node("conv_b", input)
        .expect_err("inside the residual");
    let msg = e.to_string();
    assert!(
        matches!(e, Error::Invalid { .. })
            && msg.contains("not the whole state")
            && msg.contains("relu_a"),
        "{msg}"
    );
    let msg = m.cut_node("nope", input).expect_err("unknown").to_string();
    assert!(msg.contains("not a node or tensor of the graph"), "{msg}");
    let msg = m.cut_node("fc", input).expect_err("output").to_string();
    assert!(msg.contains("\"fc\""), "{msg}");
}

#[test]
fn wrong_input_shapes_are_rejected() {
    let m = OnnxModel::load(&fixture("small_cnn.onnx")).expect("load");
    let e = m.candidates([1, 8, 8]).expect_err("one channel");
    assert!(e.to_string().contains("3 channels"), "{e}");
    let node = m.cut_node("relu_a", [3, 8, 8]).expect("node");
    let e = m
        .compile(Some(&node), [1, 8, 8], 2)
        .expect_err("one channel");
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    let cut = m.compile(Some(&node), [3, 8, 8], 2).expect("compile");
    let e = cut
        .run(&Tensor::zeros([2, 3, 9, 9], &Device::flex()))
        .expect_err("9x9 images");
    assert!(e.to_string().contains("[n, 3, 8, 8]"), "{e}");
    assert!(m.input_shape(Some(0)).is_err());
    assert!(m.compile(Some(&node), [3, 8, 8], 0).is_err());
    // A reshape to a constant [1, 192]: any other input size is refused, naming the shape; another batch
    // falls back to batch 1.
    let m = OnnxModel::load(&fixture("fixed_reshape.onnx")).expect("load");
    let flat = m.cut_node("flat", [3, 8, 8]).expect("flat");
    assert_eq!(
        m.compile(Some(&flat), [3, 8, 8], 4).expect("batch 1").input,
        [1, 3, 8, 8]
    );
    let e = m.compile(Some(&flat), [3, 12, 12], 1).expect_err("12x12");
    assert!(
        matches!(e, Error::Runtime { .. }) && e.to_string().contains("[1, 3, 12, 12]"),
        "{e}"
    );
}

#[test]
fn truncated_garbage_and_missing_files_give_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(fixture("small_cnn.onnx")).expect("fixture");
    for (name, content) in [
        ("truncated.onnx", bytes[..bytes.len() / 2].to_vec()),
        ("garbage.onnx", b"this is not an onnx model at all".to_vec()),
        ("empty.onnx", Vec::new()),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, content).expect("write");
        match OnnxModel::load(&p) {
            Err(e @ (Error::Decode { .. } | Error::Invalid { .. })) => {
                assert!(e.to_string().contains(name), "{e}");
            }
            Err(e) => panic!("{name}: unexpected error {e}"),
            Ok(_) => panic!("{name}: loaded"),
        }
    }
    let e = OnnxModel::load(&dir.path().join("missing.onnx")).expect_err("missing");
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("missing.onnx"));
}

#[test]
fn unknown_operators_are_named_only_when_the_cut_needs_them() {
    let m = OnnxModel::load(&fixture("unknown_op.onnx")).expect("load");
    let input = [3, 8, 8];
    let c = m.candidates(input).expect("candidates");
    assert_eq!(
        c.iter().map(|c| c.op.as_str()).collect::<Vec<_>>(),
        ["Relu", "FrobnicateV7"]
    );
    // Before the unknown operator the model runs.
    let relu = m.compile(Some(&c[0]), input, 1).expect("compile relu");
    let y = relu
        .run(&Tensor::from_data(
            TensorData::new(vec![-1.0f32; 192], [1, 3, 8, 8]),
            &Device::flex(),
        ))
        .expect("run");
    assert_eq!(values(y), vec![0.0; 192]);
    for node in [Some(&c[1]), None] {
        let e = m.compile(node, input, 1).expect_err("unknown op");
        let msg = e.to_string();
        assert!(
            matches!(e, Error::UnsupportedOps { .. })
                && msg.contains("FrobnicateV7")
                && msg.contains("frob"),
            "{msg}"
        );
    }
}

/// The `onnx` wheel's light graphs, or `None` (with a message; a failure under CI) when not installed.
fn light(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data-cache/onnx/onnx/backend/test/data/light")
        .join(format!("light_{name}.onnx"));
    if p.is_file() {
        return Some(p);
    }
    let msg = format!(
        "{} not installed: run `bash scripts/install-deps.sh` (PyPI onnx into data-cache/onnx)",
        p.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("SKIPPED: {msg}");
    None
}

/// ResNet-50 (light: every weight 0.02): the first convolution (7x7, stride 2, padding 3, no bias) at an
/// overridden 32x32 input equals the sum computed here; the whole model at its declared 224x224 input
/// gives the wheel's reference output (uniform softmax), and so does it at 64x64; residual branches are not
/// cut nodes.
#[test]
fn light_resnet50_runs_up_to_its_cut_nodes() {
    let Some(path) = light("resnet50") else {
        return;
    };
    let m = OnnxModel::load(&path).expect("load");
    assert!(m.synthetic_weights(), "ConstantOfShape-filled weights");
    assert_eq!(m.input_shape(None).expect("declared"), [3, 224, 224]);
    let input = m.input_shape(Some(32)).expect("override");
    let c = m.candidates(input).expect("candidates");
    let ops: Vec<&str> = c.iter().map(|c| c.op.as_str()).collect();
    assert_eq!(&ops[..4], ["Conv", "BatchNormalization", "Relu", "MaxPool"]);
    // 16 bottleneck blocks: the Sum of each and its Relu are cuts, no Conv inside a block is.
    assert_eq!(ops.iter().filter(|&&o| o == "Sum").count(), 16);
    assert_eq!(ops.iter().filter(|&&o| o == "Conv").count(), 1);
    assert_eq!(c[0].shape, Some(vec![64, 16, 16]));
    // Input arange(n) / n, as the onnx backend runner's dummy data.
    let n = 3 * 32 * 32;
    let x: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
    let cut = m.compile(Some(&c[0]), input, 1).expect("compile conv1");
    let y = values(cut.run(&tensor(x.clone(), [1, 3, 32, 32])).expect("run"));
    let px = |ch: usize, r: i64, col: i64| {
        if (0..32).contains(&r) && (0..32).contains(&col) {
            f64::from(x[ch * 1024 + r as usize * 32 + col as usize])
        } else {
            0.0
        }
    };
    let mut want = Vec::new();
    for _ in 0..64 {
        for i in 0..16i64 {
            for j in 0..16i64 {
                let mut s = 0.0;
                for ch in 0..3 {
                    for dy in 0..7 {
                        for dx in 0..7 {
                            s += px(ch, 2 * i - 3 + dy, 2 * j - 3 + dx);
                        }
                    }
                }
                want.push(0.02 * s);
            }
        }
    }
    let err = max_abs_diff(&y, &want);
    assert!(err < 1e-4, "conv1 max abs error {err}");
    let full = m
        .compile(None, [3, 224, 224], 1)
        .expect("whole model at 224");
    assert_eq!(full.output, vec![1000]);
    let n = 3 * 224 * 224;
    let x: Vec<f32> = (0..n).map(|i| i as f32 / n as f32).collect();
    let p = values(full.run(&tensor(x, [1, 3, 224, 224])).expect("run"));
    assert!(p.iter().all(|&v| (v - 0.001).abs() < 1e-6), "{:?}", &p[..4]);
    // tract accepts the fixed 7x7 average pool on the 2x2 map of a 64x64 input (a [2048, 1, 1] output), so
    // the whole graph runs there too.
    let c64 = m.candidates([3, 64, 64]).expect("candidates at 64");
    let pool = c64.iter().find(|c| c.op == "AveragePool").expect("pool");
    assert_eq!(pool.shape, Some(vec![2048, 1, 1]));
    let whole = m.compile(None, [3, 64, 64], 1).expect("whole model at 64");
    let x: Vec<f32> = (0..3 * 64 * 64).map(|i| i as f32 / 12288.0).collect();
    let p = values(whole.run(&tensor(x, [1, 3, 64, 64])).expect("run"));
    assert_eq!(p.len(), 1000);
    assert!(p.iter().all(|&v| (v - 0.001).abs() < 1e-6), "{:?}", &p[..4]);
}

/// Every light graph of the wheel loads, lists cut nodes, and runs up to its first one at an overridden
/// size.
#[test]
fn light_graphs_load_and_list_cut_nodes() {
    for name in [
        "vgg19",
        "squeezenet",
        "inception_v1",
        "densenet121",
        "bvlc_alexnet",
        "shufflenet",
        "zfnet512",
    ] {
        let Some(path) = light(name) else {
            return;
        };
        let m = OnnxModel::load(&path).expect("load");
        assert!(m.synthetic_weights(), "{name}: synthetic weights");
        let input = m.input_shape(None).expect("declared");
        let c = m.candidates(input).expect("candidates");
        assert!(!c.is_empty(), "{name}: no cut node");
        let cut = m
            .compile(Some(&c[0]), [input[0], 48, 48], 2)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let y = cut
            .run(&Tensor::ones([3, input[0], 48, 48], &Device::flex()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(y.dims()[0], 3, "{name}");
        assert!(values(y).iter().all(|v| v.is_finite()), "{name}");
    }
}
