//! `nn::torch_compat` against PyTorch's own numbers: a small CNN's `state_dict` as PyTorch
//! saved it and the logits PyTorch computed (`tools/torch_compat_fixture.py` wrote both into
//! `nn/tests/torch/`), imported into the same network built in tapegrad; then the export
//! back, and the errors.

use autograd::{Tape, Tensor};
use nn::layers::{Conv2d, Dense, Flatten, MaxPool2d, Module, Sequential, Tanh};
use nn::ops::activation::Activation;
use nn::ops::conv::Conv2dConfig;
use nn::ops::pool::Pool2dConfig;
use nn::torch_compat::{self, Conversion, TorchCompatError};
use rand::SeedableRng;
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/torch")
        .join(name)
}

/// The network of `tools/torch_compat_fixture.py`, freshly initialised.
fn small(seed: u64) -> Sequential<f64> {
    let rng = &mut rand::rngs::StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(
            "conv1",
            Conv2d::new(1, 3, (3, 3), Conv2dConfig::new().padding(1), rng).with_activation(Activation::Relu),
        )
        .add("pool1", MaxPool2d(Pool2dConfig::new(2)))
        .add(
            "conv2",
            Conv2d::new(3, 5, (3, 3), Conv2dConfig::new(), rng).with_activation(Activation::Relu),
        )
        .add("flatten", Flatten)
        .add("fc1", Dense::new(20, 5, rng))
        .add("tanh", Tanh)
        .add("fc2", Dense::new(5, 3, rng))
}

/// Every tensor of a safetensors file, as f64.
fn read(path: &Path) -> BTreeMap<String, Tensor<f64>> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, v)| {
            let values: Vec<f64> = match v.dtype() {
                safetensors::Dtype::F32 => v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                safetensors::Dtype::F64 => v
                    .data()
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                d => panic!("{name}: {d:?}"),
            };
            (name, Tensor::from_vec(values, v.shape()).unwrap())
        })
        .collect()
}

fn logits(model: &Sequential<f64>, x: &Tensor<f64>) -> Tensor<f64> {
    let tape = Tape::no_grad();
    model.forward(&tape.constant(x.clone())).unwrap().value().clone()
}

fn max_abs_diff(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tapegrad-torch-{name}-{}.safetensors",
        std::process::id()
    ))
}

#[test]
fn imported_pytorch_weights_give_pytorchs_logits() {
    let io = read(&fixture("small_io.safetensors"));
    let mut model = small(1);
    torch_compat::import_sequential(&mut model, &fixture("small_state_dict.safetensors"), &[8, 8, 1])
        .unwrap();
    let ours = logits(&model, &io["x"]);
    let err = max_abs_diff(&ours, &io["logits"]);
    assert!(err < 1e-12, "logits differ from PyTorch's by {err:e}");
}

#[test]
fn the_flatten_order_matters() {
    // Without the flatten conversion fc1's rows are in PyTorch's (ch, y, x) order: the
    // shapes fit, the logits do not. This is the mistake the conversion exists for.
    let io = read(&fixture("small_io.safetensors"));
    let mut model = small(1);
    let conversion = Conversion::for_sequential(&mut model, &[8, 8, 1]).unwrap();
    assert_eq!(conversion.flattened("fc1.w"), Some([2, 2, 5]));
    assert_eq!(conversion.flattened("fc2.w"), None);
    torch_compat::import(
        &mut model,
        &fixture("small_state_dict.safetensors"),
        &Conversion::new(),
    )
    .unwrap();
    let err = max_abs_diff(&logits(&model, &io["x"]), &io["logits"]);
    assert!(err > 1e-3, "the unpermuted import should differ, by {err:e}");
}

#[test]
fn export_writes_pytorchs_own_state_dict_back() {
    let original = fixture("small_state_dict.safetensors");
    let mut model = small(1);
    torch_compat::import_sequential(&mut model, &original, &[8, 8, 1]).unwrap();
    let out = scratch("export");
    torch_compat::export_sequential(&mut model, &out, &[8, 8, 1]).unwrap();
    let (a, b) = (read(&original), read(&out));
    std::fs::remove_file(&out).unwrap();
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, t) in &a {
        assert_eq!(t.shape(), b[name].shape(), "{name}");
        assert_eq!(t.as_slice(), b[name].as_slice(), "{name}: not the same bits");
    }
}

#[test]
fn lenet5_round_trips_through_the_pytorch_layout() {
    let mut model = nn::models::lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(3));
    let conversion = Conversion::for_sequential(&mut model, &[28, 28, 1]).unwrap();
    assert_eq!(conversion.flattened("fc1.w"), Some([5, 5, 16]));
    let out = scratch("lenet5");
    torch_compat::export(&model, &out, &conversion).unwrap();
    let file = read(&out);
    assert_eq!(file["conv2.weight"].shape(), [16, 6, 5, 5]);
    assert_eq!(file["fc1.weight"].shape(), [120, 400]);
    // One element by hand: tapegrad's fc1.w[(y·5 + x)·16 + ch, o] is PyTorch's
    // fc1.weight[o, ch·25 + y·5 + x].
    let params = model.parameters();
    let ours = params.iter().find(|(n, _)| n == "fc1.w").unwrap().1.value();
    let (y, x, ch, o) = (3, 1, 9, 77);
    assert_eq!(
        ours.get(&[(y * 5 + x) * 16 + ch, o]).unwrap() as f64,
        file["fc1.weight"].get(&[o, ch * 25 + y * 5 + x]).unwrap()
    );
    let mut back = nn::models::lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(4));
    torch_compat::import(&mut back, &out, &conversion).unwrap();
    std::fs::remove_file(&out).unwrap();
    for ((n, a), (_, b)) in model.parameters().iter().zip(back.parameters()) {
        assert_eq!(a.value().as_slice(), b.value().as_slice(), "{n}");
    }
}

/// Writes `tensors` (name, shape, values) as an f32 safetensors file.
fn write(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap();
            (n.to_string(), v)
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn a_state_dict_that_does_not_fit_is_refused_naming_the_tensor() {
    let original = read(&fixture("small_state_dict.safetensors"));
    let entries = |skip: &str| -> Vec<(String, Vec<usize>, Vec<f32>)> {
        original
            .iter()
            .filter(|(n, _)| n.as_str() != skip)
            .map(|(n, t)| {
                (
                    n.clone(),
                    t.shape().to_vec(),
                    t.as_slice().iter().map(|&v| v as f32).collect(),
                )
            })
            .collect()
    };
    let path = scratch("bad");
    let model_before = small(5);
    let check = |entries: Vec<(String, Vec<usize>, Vec<f32>)>, expect: &[&str]| {
        let refs: Vec<(&str, Vec<usize>, Vec<f32>)> = entries
            .iter()
            .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
            .collect();
        write(&path, &refs);
        let mut model = small(5);
        let err = torch_compat::import_sequential(&mut model, &path, &[8, 8, 1]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, TorchCompatError::Mismatch { .. }), "{msg}");
        assert!(msg.contains(&*path.to_string_lossy()), "{msg}");
        for e in expect {
            assert!(msg.contains(e), "{msg:?} lacks {e:?}");
        }
        // Nothing changed.
        for ((_, a), (_, b)) in model.parameters().iter().zip(model_before.parameters()) {
            assert_eq!(a.value().as_slice(), b.value().as_slice());
        }
    };
    // A missing tensor.
    check(entries("fc2.bias"), &["fc2.bias", "fc2.b", "not in the file"]);
    // A kernel whose shape is not the layer's ([5, 3, 3, 2] for PyTorch's [5, 3, 3, 3]):
    // the message says what PyTorch's kernel layout is.
    let mut e = entries("");
    let k = e.iter_mut().find(|(n, _, _)| n == "conv2.weight").unwrap();
    k.1 = vec![5, 3, 3, 2];
    k.2.truncate(5 * 3 * 3 * 2);
    check(e, &["conv2.weight", "[5, 3, 3, 2]", "[C_out, C_in, f_H, f_W]"]);
    // An extra tensor.
    let mut e = entries("");
    e.push(("head.weight".into(), vec![2], vec![0.0, 1.0]));
    check(e, &["head.weight", "not parameters or buffers of the model"]);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_file_that_is_not_safetensors_is_a_format_error_naming_it() {
    let path = scratch("garbage");
    std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all").unwrap();
    let err = torch_compat::import_sequential(&mut small(1), &path, &[8, 8, 1]).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(err, TorchCompatError::Format { .. }), "{err}");
    assert!(err.to_string().contains("not a safetensors file"), "{err}");
    let missing = scratch("missing");
    let err = torch_compat::import_sequential(&mut small(1), &missing, &[8, 8, 1]).unwrap_err();
    assert!(matches!(err, TorchCompatError::Io { .. }), "{err}");
    assert!(err.to_string().contains(&*missing.to_string_lossy()), "{err}");
}
