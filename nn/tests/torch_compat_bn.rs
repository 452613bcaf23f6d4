//! `nn::torch_compat` with batch norm (issue #17): a PyTorch network with `BatchNorm2d` after a
//! convolution and `BatchNorm1d` after a dense layer, its running statistics moved by five
//! training batches in PyTorch (`tools/torch_compat_fixture.py`, `SmallBn`), imported into
//! the same network in tapegrad: PyTorch's eval-mode logits; the export writes PyTorch's own
//! keys back, `num_batches_tracked` included.

use autograd::{Tape, Tensor};
use nn::layers::{BatchNorm1d, BatchNorm2d, Conv2d, Dense, Flatten, MaxPool2d, Module, Sequential};
use nn::ops::activation::Activation;
use nn::ops::conv::Conv2dConfig;
use nn::ops::pool::Pool2dConfig;
use nn::torch_compat::{self, TorchCompatError};
use rand::SeedableRng;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/torch")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tapegrad-torch-bn-{name}-{}.safetensors",
        std::process::id()
    ))
}

/// `SmallBn` of the fixture script, freshly initialised (running mean 0, variance 1).
fn small_bn(seed: u64) -> Sequential<f64> {
    let rng = &mut rand::rngs::StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(
            "conv1",
            Conv2d::new(2, 4, (3, 3), Conv2dConfig::new().padding(1), rng),
        )
        .add("bn1", BatchNorm2d::new(4).with_activation(Activation::Relu))
        .add("pool1", MaxPool2d(Pool2dConfig::new(2)))
        .add("flatten", Flatten)
        .add("fc1", Dense::new(36, 5, rng))
        .add("bn2", BatchNorm1d::new(5).with_activation(Activation::Relu))
        .add("fc2", Dense::new(5, 3, rng))
}

/// Every tensor of a safetensors file: its dtype and its values as f64.
fn read(path: &Path) -> BTreeMap<String, (Dtype, Tensor<f64>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, v)| {
            let values: Vec<f64> = match v.dtype() {
                Dtype::F32 => v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                Dtype::F64 => v
                    .data()
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                Dtype::I64 => v
                    .data()
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                d => panic!("{name}: {d:?}"),
            };
            (name, (v.dtype(), Tensor::from_vec(values, v.shape()).unwrap()))
        })
        .collect()
}

#[test]
fn imported_running_statistics_give_pytorchs_eval_mode_logits() {
    let io = read(&fixture("small_bn_io.safetensors"));
    let state = read(&fixture("small_bn_state_dict.safetensors"));
    let mut model = small_bn(1);
    torch_compat::import_sequential(
        &mut model,
        &fixture("small_bn_state_dict.safetensors"),
        &[6, 6, 2],
    )
    .unwrap();
    for (name, b) in model.buffers() {
        let (_, theirs) = &state[&name];
        assert_eq!(b.as_slice(), theirs.as_slice(), "{name}");
    }
    // The running statistics moved far from their initial 0 and 1 in PyTorch.
    assert!(
        state["bn1.running_mean"]
            .1
            .as_slice()
            .iter()
            .any(|v| v.abs() > 0.05)
    );
    model.set_training(false);
    let tape = Tape::no_grad();
    let ours = model
        .forward(&tape.constant(io["x"].1.clone()))
        .unwrap()
        .value()
        .clone();
    let theirs = &io["logits"].1;
    assert_eq!(ours.shape(), theirs.shape());
    let err = ours
        .as_slice()
        .iter()
        .zip(theirs.as_slice())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-12, "eval-mode logits differ from PyTorch's by {err:e}");
}

#[test]
fn export_writes_pytorchs_keys_with_num_batches_tracked() {
    let original = fixture("small_bn_state_dict.safetensors");
    let mut model = small_bn(2);
    torch_compat::import_sequential(&mut model, &original, &[6, 6, 2]).unwrap();
    let out = scratch("export");
    torch_compat::export_sequential(&mut model, &out, &[6, 6, 2]).unwrap();
    let (a, b) = (read(&original), read(&out));
    std::fs::remove_file(&out).unwrap();
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, (dtype, t)) in &a {
        let (their_dtype, theirs) = &b[name];
        assert_eq!((dtype, t.shape()), (their_dtype, theirs.shape()), "{name}");
        if name.ends_with("num_batches_tracked") {
            // PyTorch counted 5 batches; tapegrad does not count and writes 0.
            assert_eq!(
                (t.as_slice(), theirs.as_slice()),
                (&[5.0][..], &[0.0][..]),
                "{name}"
            );
        } else {
            assert_eq!(t.as_slice(), theirs.as_slice(), "{name}: not the same bits");
        }
    }
}

#[test]
fn a_state_dict_without_running_statistics_is_refused_naming_the_buffer() {
    let state = read(&fixture("small_bn_state_dict.safetensors"));
    let kept: Vec<(String, Vec<usize>, Vec<u8>, Dtype)> = state
        .iter()
        .filter(|(name, _)| name.as_str() != "bn2.running_var")
        .map(|(name, (dtype, t))| {
            let bytes = match dtype {
                Dtype::I64 => t
                    .as_slice()
                    .iter()
                    .flat_map(|&v| (v as i64).to_le_bytes())
                    .collect(),
                _ => t
                    .as_slice()
                    .iter()
                    .flat_map(|&v| (v as f32).to_le_bytes())
                    .collect(),
            };
            (name.clone(), t.shape().to_vec(), bytes, *dtype)
        })
        .collect();
    let views: Vec<_> = kept
        .iter()
        .map(|(n, s, b, d)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let path = scratch("missing");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let mut model = small_bn(3);
    let before: Vec<Vec<f64>> = model.buffers().iter().map(|(_, b)| b.to_vec()).collect();
    let e = torch_compat::import_sequential(&mut model, &path, &[6, 6, 2]).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(e, TorchCompatError::Mismatch { .. }), "{e}");
    assert!(e.to_string().contains("bn2.running_var"), "{e}");
    let after: Vec<Vec<f64>> = model.buffers().iter().map(|(_, b)| b.to_vec()).collect();
    assert_eq!(before, after, "a refused import changed the buffers");
}

/// Finding the flatten (and a summary) runs the model once on zeros: in evaluation mode, so
/// a batch of one passes batch norm and no running statistics are taken from the zeros.
#[test]
fn probing_a_model_in_training_mode_leaves_its_statistics_and_mode_alone() {
    let mut model = small_bn(4);
    torch_compat::import_sequential(
        &mut model,
        &fixture("small_bn_state_dict.safetensors"),
        &[6, 6, 2],
    )
    .unwrap();
    assert!(model.is_training());
    let before: Vec<Vec<f64>> = model.buffers().iter().map(|(_, b)| b.to_vec()).collect();
    nn::torch_compat::Conversion::for_sequential(&mut model, &[6, 6, 2]).unwrap();
    let s = nn::inference::summary(&mut model, &[6, 6, 2]).unwrap();
    assert_eq!(s.layers.last().unwrap().output, [1, 3]);
    assert!(model.is_training());
    // Folds any update a training-mode probe would have recorded.
    let _ = model.parameters_mut();
    let after: Vec<Vec<f64>> = model.buffers().iter().map(|(_, b)| b.to_vec()).collect();
    assert_eq!(before, after);
}
