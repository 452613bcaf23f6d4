//! Checkpoints in the safetensors format, the one PyTorch and candle users exchange weights in.
//!
//! A checkpoint holds every named parameter under its own name (`conv1.w`, ...), the
//! model's buffers (running statistics, [`Module::buffers`]) under `buffer.<name>`, the
//! optimizer's buffers under `optimizer.<buffer>.<parameter>`, and string metadata: the
//! format (`"format": "tapegrad-checkpoint"`, `"version": "1"`), the element type, the
//! optimizer's name, learning rate and step count, plus whatever the caller adds (epoch,
//! seed, ...). Files are written to a temporary name in the same folder and renamed, so a
//! crash never leaves a half-written checkpoint under the real name.

use crate::layers::Module;
use crate::train::optim::{Optimizer, OptimizerState};
use autograd::{DType, Element, Tensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

const FORMAT: &str = "tapegrad-checkpoint";
const VERSION: &str = "1";
const OPTIMIZER_PREFIX: &str = "optimizer.";
const BUFFER_PREFIX: &str = "buffer.";

/// What went wrong with a checkpoint; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint this version can read.
    #[error("{}: not a tapegrad checkpoint: {why}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A parameter or an optimizer buffer holds a NaN or an infinity (refused unless loaded
    /// with [`NonFiniteValues::Allow`]).
    #[error(
        "{}: tensor {tensor} holds {value} at index {index:?}: refusing a diverged checkpoint (load it with NonFiniteValues::Allow to inspect it)",
        path.display()
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The tensor's name in the file (`conv1.w`, `optimizer.velocity.conv1.w`, ...).
        tensor: String,
        /// The index of its first non-finite element.
        index: Vec<usize>,
        /// That element.
        value: f64,
    },
    /// The checkpoint does not fit the model or the optimizer it is loaded into.
    #[error("{}: does not fit: {why}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        why: String,
    },
}

/// A checkpoint read from disk.
#[derive(Clone, Debug)]
pub struct Checkpoint<T: Element> {
    /// The file it came from.
    pub path: PathBuf,
    /// Every parameter by name.
    pub params: BTreeMap<String, Tensor<T>>,
    /// Every model buffer by name (without the `buffer.` prefix of the file).
    pub buffers: BTreeMap<String, Tensor<T>>,
    /// The optimizer's name, if one was saved.
    pub optimizer_name: Option<String>,
    /// The optimizer's learning rate when saved.
    pub learning_rate: Option<f64>,
    /// The optimizer's state (step count and buffers).
    pub optimizer: OptimizerState<T>,
    /// The caller's metadata (everything but the keys this module writes itself).
    pub metadata: BTreeMap<String, String>,
}

fn to_bytes<T: Element>(t: &Tensor<T>) -> Vec<u8> {
    match T::DTYPE {
        DType::F32 => t
            .as_slice()
            .iter()
            .flat_map(|v| (v.to_f64() as f32).to_le_bytes())
            .collect(),
        DType::F64 => t
            .as_slice()
            .iter()
            .flat_map(|v| v.to_f64().to_le_bytes())
            .collect(),
    }
}

fn dtype_of<T: Element>() -> Dtype {
    match T::DTYPE {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
    }
}

/// Saves `model`'s parameters and buffers, and `optimizer`'s state if given, with extra `metadata`.
///
/// ```
/// use nn::{layers::Module, models::lenet5, train::checkpoint, train::optim::Adam};
/// use rand::SeedableRng;
/// let model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
/// let path = std::env::temp_dir().join(format!("doc-{}.safetensors", std::process::id()));
/// checkpoint::save(&path, &model, Some(&Adam::<f32>::new(1e-3)), &[("epoch", "3".to_string())]).unwrap();
/// let mut fresh = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(2));
/// let ckpt = checkpoint::load::<f32>(&path).unwrap();
/// ckpt.restore_model(&mut fresh).unwrap();
/// assert_eq!(ckpt.metadata["epoch"], "3");
/// assert_eq!(fresh.parameters()[0].1.value(), model.parameters()[0].1.value());
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn save<T: Element>(
    path: &Path,
    model: &dyn Module<T>,
    optimizer: Option<&dyn Optimizer<T>>,
    metadata: &[(&str, String)],
) -> Result<(), CheckpointError> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, p) in model.parameters() {
        tensors.push((name, p.shape().to_vec(), to_bytes(p.value())));
    }
    for (name, b) in model.buffers() {
        tensors.push((format!("{BUFFER_PREFIX}{name}"), b.shape().to_vec(), to_bytes(b)));
    }
    let mut meta: HashMap<String, String> =
        metadata.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    meta.insert("format".into(), FORMAT.into());
    meta.insert("version".into(), VERSION.into());
    meta.insert("dtype".into(), T::DTYPE.to_string());
    if let Some(opt) = optimizer {
        let state = opt.state();
        for (name, t) in &state.buffers {
            tensors.push((
                format!("{OPTIMIZER_PREFIX}{name}"),
                t.shape().to_vec(),
                to_bytes(t),
            ));
        }
        meta.insert("optimizer".into(), opt.name().into());
        meta.insert("optimizer.step".into(), state.step.to_string());
        // `{:?}` prints the shortest text that reads back to the same f64.
        meta.insert("optimizer.lr".into(), format!("{:?}", opt.learning_rate()));
    }
    let fmt_err = |why: String| CheckpointError::Format {
        path: path.to_path_buf(),
        why,
    };
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| TensorView::new(dtype_of::<T>(), s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<_, _>>()
        .map_err(|e| fmt_err(e.to_string()))?;
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| fmt_err(e.to_string()))?;
    write_atomically(path, &bytes)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`, so a
/// process killed at any moment leaves either the old file or the new one, never a torn one.
/// The temporaries that killed writers left (`.NAME.tmp-PID`) go at the next write, on Linux.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)?;
    remove_stale_temporaries(path, &file_name);
    Ok(())
}

/// Removes the temporary files that writers of `path` killed mid-write left beside it
/// (`.NAME.tmp-PID` of a process that no longer runs). Only on Linux, where `/proc` says
/// which processes run; elsewhere they stay, harmless: `path` itself is never torn.
fn remove_stale_temporaries(path: &Path, file_name: &str) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = format!(".{file_name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let gone = pid
            .parse::<u32>()
            .is_ok_and(|pid| pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists());
        if gone {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn read_values<T: Element>(view: &TensorView<'_>) -> Option<Vec<T>> {
    match view.dtype() {
        Dtype::F32 => Some(
            view.data()
                .chunks_exact(4)
                .map(|c| T::from_f64(f32::from_le_bytes(c.try_into().unwrap()) as f64))
                .collect(),
        ),
        Dtype::F64 => Some(
            view.data()
                .chunks_exact(8)
                .map(|c| T::from_f64(f64::from_le_bytes(c.try_into().unwrap())))
                .collect(),
        ),
        _ => None,
    }
}

/// What [`load_with`] does with a NaN or an infinity in a parameter or optimizer buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NonFiniteValues {
    /// Fail with [`CheckpointError::NonFinite`] naming the tensor (what [`load`] does): a
    /// NaN weight would otherwise train on silently.
    #[default]
    Refuse,
    /// Read them (forensics on a diverged run).
    Allow,
}

/// Reads a checkpoint (saved as `f32` or `f64`; values are converted to `T`), refusing one
/// whose parameters or optimizer state hold a NaN or an infinity.
pub fn load<T: Element>(path: &Path) -> Result<Checkpoint<T>, CheckpointError> {
    load_with(path, NonFiniteValues::Refuse)
}

/// The index of `t`'s first non-finite element, with the value.
fn first_non_finite<T: Element>(t: &Tensor<T>) -> Option<(Vec<usize>, f64)> {
    let flat = t.as_slice().iter().position(|v| !v.is_finite())?;
    let mut index = vec![0; t.rank()];
    let mut rest = flat;
    for (i, &d) in t.shape().iter().enumerate().rev() {
        (index[i], rest) = (rest % d, rest / d);
    }
    Some((index, t.as_slice()[flat].to_f64()))
}

/// [`load`], with the check of non-finite values as `non_finite` says.
pub fn load_with<T: Element>(
    path: &Path,
    non_finite: NonFiniteValues,
) -> Result<Checkpoint<T>, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let fmt_err = |why: String| CheckpointError::Format {
        path: path.to_path_buf(),
        why,
    };
    let (_, header) =
        SafeTensors::read_metadata(&bytes).map_err(|e| fmt_err(format!("not a safetensors file ({e})")))?;
    let mut meta: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(fmt_err(format!(
            "metadata \"format\" is {:?}, expected {FORMAT:?}",
            meta.get("format")
        )));
    }
    if meta.get("version").map(String::as_str) != Some(VERSION) {
        return Err(fmt_err(format!(
            "version {:?} is not supported (this build reads {VERSION:?})",
            meta.get("version")
        )));
    }
    let st = SafeTensors::deserialize(&bytes).map_err(|e| fmt_err(e.to_string()))?;
    let mut params = BTreeMap::new();
    let mut buffers = BTreeMap::new();
    let mut optimizer = OptimizerState::default();
    for (name, view) in st.tensors() {
        let values = read_values::<T>(&view).ok_or_else(|| {
            fmt_err(format!(
                "tensor {name:?} has dtype {:?}, not F32 or F64",
                view.dtype()
            ))
        })?;
        let t = Tensor::from_vec(values, view.shape()).map_err(|e| fmt_err(e.to_string()))?;
        if non_finite == NonFiniteValues::Refuse
            && let Some((index, value)) = first_non_finite(&t)
        {
            return Err(CheckpointError::NonFinite {
                path: path.to_path_buf(),
                tensor: name,
                index,
                value,
            });
        }
        if let Some(buffer) = name.strip_prefix(OPTIMIZER_PREFIX) {
            optimizer.buffers.insert(buffer.to_string(), t);
        } else if let Some(buffer) = name.strip_prefix(BUFFER_PREFIX) {
            buffers.insert(buffer.to_string(), t);
        } else {
            params.insert(name, t);
        }
    }
    for key in ["format", "version", "dtype"] {
        meta.remove(key);
    }
    let optimizer_name = meta.remove("optimizer");
    if let Some(step) = meta.remove("optimizer.step") {
        optimizer.step = step
            .parse()
            .map_err(|_| fmt_err(format!("optimizer.step {step:?} is not a count")))?;
    }
    let learning_rate = match meta.remove("optimizer.lr") {
        Some(lr) => Some(
            lr.parse()
                .map_err(|_| fmt_err(format!("optimizer.lr {lr:?} is not a number")))?,
        ),
        None => None,
    };
    Ok(Checkpoint {
        path: path.to_path_buf(),
        params,
        buffers,
        optimizer_name,
        learning_rate,
        optimizer,
        metadata: meta,
    })
}

impl<T: Element> Checkpoint<T> {
    fn mismatch(&self, why: String) -> CheckpointError {
        CheckpointError::Mismatch {
            path: self.path.clone(),
            why,
        }
    }

    /// Sets every parameter and buffer of `model` from the checkpoint. Fails, changing
    /// nothing, if a parameter or buffer is missing or has another shape, or if the
    /// checkpoint holds parameters or buffers the model does not have.
    pub fn restore_model(&self, model: &mut dyn Module<T>) -> Result<(), CheckpointError> {
        let model_buffers: Vec<(String, Vec<usize>)> = model
            .buffers()
            .into_iter()
            .map(|(n, b)| (n, b.shape().to_vec()))
            .collect();
        self.check_fits("buffer", &model_buffers, &self.buffers)?;
        let mut params = model.parameters_mut();
        let shapes: Vec<(String, Vec<usize>)> = params
            .iter()
            .map(|(n, p)| (n.clone(), p.shape().to_vec()))
            .collect();
        self.check_fits("parameter", &shapes, &self.params)?;
        for (name, p) in params.iter_mut() {
            p.set(self.params[name].clone())
                .map_err(|e| self.mismatch(e.to_string()))?;
        }
        drop(params);
        for (name, b) in model.buffers_mut() {
            *b = self.buffers[&name].clone();
        }
        Ok(())
    }

    /// Checks that `stored` holds exactly the tensors `model` names (`kind`: parameter or
    /// buffer), each of the model's shape.
    fn check_fits(
        &self,
        kind: &str,
        model: &[(String, Vec<usize>)],
        stored: &BTreeMap<String, Tensor<T>>,
    ) -> Result<(), CheckpointError> {
        for (name, shape) in model {
            match stored.get(name) {
                None => {
                    return Err(self.mismatch(format!("the model's {kind} {name} is not in the checkpoint")));
                }
                Some(t) if t.shape() != shape.as_slice() => {
                    return Err(self.mismatch(format!(
                        "{kind} {name} has shape {:?} in the checkpoint, {shape:?} in the model",
                        t.shape()
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = stored.keys().find(|k| !model.iter().any(|(n, _)| n == *k)) {
            return Err(self.mismatch(format!(
                "the checkpoint's tensor {extra} is not a {kind} of the model"
            )));
        }
        Ok(())
    }

    /// Restores `optimizer`'s state and learning rate; fails if the checkpoint was saved
    /// with another optimizer or without one.
    pub fn restore_optimizer(&self, optimizer: &mut dyn Optimizer<T>) -> Result<(), CheckpointError> {
        match &self.optimizer_name {
            Some(n) if n == optimizer.name() => {}
            Some(n) => {
                return Err(self.mismatch(format!(
                    "it was saved with optimizer {n}, not {}",
                    optimizer.name()
                )));
            }
            None => return Err(self.mismatch("it holds no optimizer state".into())),
        }
        optimizer
            .load_state(self.optimizer.clone())
            .map_err(|e| self.mismatch(e.to_string()))?;
        if let Some(lr) = self.learning_rate {
            optimizer.set_learning_rate(lr);
        }
        Ok(())
    }
}
