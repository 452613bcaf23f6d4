//! PyTorch weights in and out: a `state_dict` saved as safetensors
//! (`safetensors.torch.save_file(model.state_dict(), path)`) imported into a tapegrad model,
//! and a tapegrad model exported as one that `model.load_state_dict(load_file(path))` reads.
//!
//! PyTorch is NCHW with OIHW kernels and `[Out, In]` linear weights; tapegrad is NHWC with
//! `[C_out, f_H, f_W, C_in]` kernels and `[In, Out]` dense weights, and flattens a map in
//! `(y, x, ch)` order rather than `(ch, y, x)`. A [`Conversion`] holds what turns one into
//! the other (see [its module](conversion) for the table); for a [`Sequential`] it is found by
//! running the model once ([`Conversion::for_sequential`]).
//!
//! ```
//! use nn::models::lenet5;
//! use nn::torch_compat::{self, Conversion};
//! use rand::SeedableRng;
//! let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
//! let conversion = Conversion::for_sequential(&mut model, &[28, 28, 1]).unwrap();
//! assert_eq!(conversion.flattened("fc1.w"), Some([5, 5, 16]));
//! let path = std::env::temp_dir().join(format!("lenet5-torch-{}.safetensors", std::process::id()));
//! torch_compat::export(&model, &path, &conversion).unwrap();
//! // In Python: net.load_state_dict(safetensors.torch.load_file(path)) for the same LeNet-5.
//! let mut copy = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(2));
//! torch_compat::import(&mut copy, &path, &conversion).unwrap();
//! # use nn::layers::Module;
//! for ((name, a), (_, b)) in copy.parameters().iter().zip(model.parameters()) {
//!     assert_eq!(a.value(), b.value(), "{name}");
//! }
//! # std::fs::remove_file(&path).unwrap();
//! ```
//!
//! The Python side of a round trip, for the LeNet-5 of [`lenet5`](crate::models::lenet5):
//!
//! ```text
//! class LeNet5(torch.nn.Module):           # the same names as tapegrad's layers
//!     def __init__(self):
//!         super().__init__()
//!         self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
//!         self.conv2 = torch.nn.Conv2d(6, 16, 5)
//!         self.fc1, self.fc2, self.fc3 = (torch.nn.Linear(400, 120),
//!                                         torch.nn.Linear(120, 84), torch.nn.Linear(84, 10))
//!     def forward(self, x):                 # x: [N, 1, 28, 28]
//!         x = F.max_pool2d(F.relu(self.conv1(x)), 2)
//!         x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
//!         return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
//! net = LeNet5(); net.load_state_dict(safetensors.torch.load_file("exported.safetensors"))
//! ```

pub mod conversion;

pub use conversion::Conversion;

use crate::layers::{Module, Sequential};
use crate::train::checkpoint::write_atomically;
use autograd::{Element, Tensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What went wrong importing or exporting PyTorch weights; file errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum TorchCompatError {
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a safetensors file, or a tensor in it cannot be read.
    #[error("{}: {why}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The `state_dict` does not fit the model; nothing was changed.
    #[error("{}: does not fit the model: {why}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        why: String,
    },
    /// Running the model to find its flattened layers failed.
    #[error("torch_compat: probing layer {layer} on a zero input failed: {source}")]
    Probe {
        /// The layer.
        layer: String,
        /// Its error.
        source: autograd::Error,
    },
}

/// `state_dict` keys PyTorch writes that have no tapegrad counterpart and are skipped on
/// import (batch norm's count of training batches; it matters to PyTorch only with
/// `momentum=None`, which tapegrad does not have).
const IGNORED_SUFFIXES: [&str; 1] = ["num_batches_tracked"];

/// Sets every parameter and buffer (batch norm's `running_mean` and `running_var`) of
/// `model` from the PyTorch `state_dict` in the safetensors file `path` (`F32` or `F64`),
/// converted by `conversion`. Like `load_state_dict(strict=True)` it fails, changing
/// nothing, when a tensor is missing, has another shape, or the file holds tensors the model
/// does not have.
pub fn import<T: Element>(
    model: &mut dyn Module<T>,
    path: &Path,
    conversion: &Conversion,
) -> Result<(), TorchCompatError> {
    let tensors = read(path)?;
    let mismatch = |why: String| TorchCompatError::Mismatch {
        path: path.to_path_buf(),
        why,
    };
    let mut converted = Vec::new();
    let mut used = Vec::new();
    for (name, p) in model.parameters() {
        let key = conversion.torch_name(&name);
        let Some(theirs) = tensors.get(&key) else {
            return Err(mismatch(format!("{key} (for {name}) is not in the file")));
        };
        let expected = conversion.torch_shape(p.shape());
        if theirs.shape() != expected.as_slice() {
            let hint = if theirs.shape().len() == 4 && p.shape().len() == 4 {
                " (a PyTorch kernel is [C_out, C_in, f_H, f_W]; tapegrad's is [C_out, f_H, f_W, C_in])"
            } else {
                ""
            };
            return Err(mismatch(format!(
                "{key} has shape {:?}; {name} of shape {:?} needs {expected:?}{hint}",
                theirs.shape(),
                p.shape()
            )));
        }
        check_flatten(conversion, &name, p.shape()).map_err(mismatch)?;
        let ours = conversion
            .from_torch(&name, &theirs.cast::<T>())
            .map_err(|e| mismatch(format!("{key}: {e}")))?;
        converted.push((name, ours));
        used.push(key);
    }
    // Buffers keep their names and their (per-channel) layout.
    let mut buffers = Vec::new();
    for (name, b) in model.buffers() {
        let key = conversion.torch_name(&name);
        let Some(theirs) = tensors.get(&key) else {
            return Err(mismatch(format!("{key} (the buffer {name}) is not in the file")));
        };
        if theirs.shape() != b.shape() {
            return Err(mismatch(format!(
                "{key} has shape {:?}; the buffer {name} has shape {:?}",
                theirs.shape(),
                b.shape()
            )));
        }
        buffers.push(theirs.cast::<T>());
        used.push(key);
    }
    let extra: Vec<&String> = tensors
        .keys()
        .filter(|k| !used.contains(k) && !IGNORED_SUFFIXES.iter().any(|s| k.ends_with(s)))
        .collect();
    if !extra.is_empty() {
        return Err(mismatch(format!(
            "the file's tensors {extra:?} are not parameters or buffers of the model (its names: {:?})",
            used
        )));
    }
    let mut params = model.parameters_mut();
    for ((_, p), (_, value)) in params.iter_mut().zip(converted) {
        p.set(value).map_err(|e| mismatch(e.to_string()))?;
    }
    drop(params);
    for ((_, b), value) in model.buffers_mut().into_iter().zip(buffers) {
        b.as_mut_slice().copy_from_slice(value.as_slice());
    }
    Ok(())
}

/// Writes `model`'s parameters and buffers as a PyTorch `state_dict` in `f32` (PyTorch's
/// default dtype) to the safetensors file `path`, converted by `conversion`; the file is
/// written under a temporary name and renamed. Each batch-norm layer (a layer with a
/// `running_mean` buffer) also gets the `num_batches_tracked` counter that PyTorch's
/// `load_state_dict(strict=True)` asks for, as an `I64` scalar 0: tapegrad does not count
/// the batches (PyTorch uses the count only with `momentum=None`).
pub fn export<T: Element>(
    model: &dyn Module<T>,
    path: &Path,
    conversion: &Conversion,
) -> Result<(), TorchCompatError> {
    let format = |why: String| TorchCompatError::Format {
        path: path.to_path_buf(),
        why,
    };
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, p) in model.parameters() {
        check_flatten(conversion, &name, p.shape()).map_err(format)?;
        let theirs = conversion
            .to_torch(&name, p.value())
            .map_err(|e| format(e.to_string()))?;
        let bytes = theirs
            .as_slice()
            .iter()
            .flat_map(|v| (v.to_f64() as f32).to_le_bytes())
            .collect();
        tensors.push((conversion.torch_name(&name), theirs.shape().to_vec(), bytes));
    }
    let mut counters = Vec::new();
    for (name, b) in model.buffers() {
        let bytes = b
            .as_slice()
            .iter()
            .flat_map(|v| (v.to_f64() as f32).to_le_bytes())
            .collect();
        let key = conversion.torch_name(&name);
        if let Some(layer) = key.strip_suffix("running_mean") {
            counters.push((
                format!("{layer}num_batches_tracked"),
                Vec::new(),
                0i64.to_le_bytes().to_vec(),
            ));
        }
        tensors.push((key, b.shape().to_vec(), bytes));
    }
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| (n, s, b, Dtype::F32))
        .chain(counters.iter().map(|(n, s, b)| (n, s, b, Dtype::I64)))
        .map(|(n, s, b, dtype)| TensorView::new(dtype, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<_, _>>()
        .map_err(|e| format(e.to_string()))?;
    let bytes = safetensors::serialize(views, None).map_err(|e| format(e.to_string()))?;
    write_atomically(path, &bytes).map_err(|e| format(e.to_string()))
}

/// [`import`] into a `Sequential` whose samples have shape `[H, W, C]`, with the
/// conversion [`Conversion::for_sequential`] finds.
pub fn import_sequential<T: Element>(
    model: &mut Sequential<T>,
    path: &Path,
    sample: &[usize],
) -> Result<(), TorchCompatError> {
    let conversion = Conversion::for_sequential(model, sample)?;
    import(model, path, &conversion)
}

/// [`export`] of a `Sequential` whose samples have shape `[H, W, C]` (`&mut` for
/// [`Conversion::for_sequential`]'s probe in evaluation mode; the model is not changed).
pub fn export_sequential<T: Element>(
    model: &mut Sequential<T>,
    path: &Path,
    sample: &[usize],
) -> Result<(), TorchCompatError> {
    let conversion = Conversion::for_sequential(model, sample)?;
    export(model, path, &conversion)
}

fn check_flatten(conversion: &Conversion, name: &str, shape: &[usize]) -> Result<(), String> {
    match conversion.flattened(name) {
        Some([h, w, c]) if shape.len() != 2 || h * w * c != shape[0] => Err(format!(
            "{name} is declared to read a flattened [{h}, {w}, {c}] map ({} values) but has shape {shape:?}",
            h * w * c
        )),
        _ => Ok(()),
    }
}

/// Every tensor of a safetensors file, as `f64`.
fn read(path: &Path) -> Result<BTreeMap<String, Tensor<f64>>, TorchCompatError> {
    let bytes = std::fs::read(path).map_err(|source| TorchCompatError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let format = |why: String| TorchCompatError::Format {
        path: path.to_path_buf(),
        why,
    };
    let st = SafeTensors::deserialize(&bytes).map_err(|e| format(format!("not a safetensors file ({e})")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let values: Vec<f64> = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            Dtype::I64 if IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s)) => continue,
            other => {
                return Err(format(format!(
                    "tensor {name:?} has dtype {other:?}; import reads F32 and F64 (convert with tensor.float())"
                )));
            }
        };
        let t = Tensor::from_vec(values, view.shape()).map_err(|e| format(format!("{name}: {e}")))?;
        out.insert(name, t);
    }
    Ok(out)
}
