//! How one tapegrad parameter corresponds to one PyTorch `state_dict` entry: its name and
//! its layout.
//!
//! | tapegrad | PyTorch | conversion |
//! |---|---|---|
//! | conv kernel `conv1.w`, `[C_out, f_H, f_W, C_in]` | `conv1.weight`, `[C_out, C_in, f_H, f_W]` (OIHW) | axes permuted |
//! | dense weight `fc1.w`, `[In, Out]` (`y = x·W + b`) | `fc1.weight`, `[Out, In]` (`y = x·Wᵀ + b`) | transposed |
//! | dense weight after a flatten of `[h, w, c]` | columns in `(c, h, w)` order (NCHW flatten) | transposed, rows reordered |
//! | biases `*.b`, batch-norm `gamma`/`beta` | `*.bias`, `weight`/`bias` | none |
//!
//! The flatten is the one difference that the shapes do not show: tapegrad flattens an
//! NHWC map as `(y, x, ch)`, PyTorch an NCHW map as `(ch, y, x)`, so the dense layer that
//! reads a flattened map must see its input rows in the other order; a conversion knows
//! which layers those are ([`Conversion::for_sequential`] finds them by running the model
//! once on a zero input).

use crate::layers::{Module, Sequential};
use crate::torch_compat::TorchCompatError;
use autograd::{Element, Tape, Tensor};
use std::collections::BTreeMap;

/// The name and layout correspondence between a tapegrad model and a PyTorch `state_dict`.
///
/// ```
/// use nn::torch_compat::Conversion;
/// let c = Conversion::new().flattened_input("fc1.w", [5, 5, 16]).rename("conv1", "features.0");
/// assert_eq!(c.torch_name("conv1.w"), "features.0.weight");
/// assert_eq!(c.torch_name("fc1.b"), "fc1.bias");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conversion {
    /// Dense weights (tapegrad names) whose input is a flattened `[h, w, c]` map.
    flattened: BTreeMap<String, [usize; 3]>,
    /// Prefix renames, tapegrad -> PyTorch, first match wins.
    renames: Vec<(String, String)>,
}

/// Parameter-name suffixes: tapegrad's, then PyTorch's.
const SUFFIXES: [(&str, &str); 4] = [
    ("w", "weight"),
    ("b", "bias"),
    ("gamma", "weight"),
    ("beta", "bias"),
];

impl Conversion {
    /// Names kept (`conv1.w` ↔ `conv1.weight`), no flattened inputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares that the dense weight `name` (tapegrad's name, `fc1.w`) reads a flattened
    /// `[h, w, c]` map.
    pub fn flattened_input(mut self, name: &str, hwc: [usize; 3]) -> Self {
        self.flattened.insert(name.to_string(), hwc);
        self
    }

    /// Maps the tapegrad name prefix `ours` (`conv1`) to PyTorch's `theirs` (`features.0`,
    /// as an `nn.Sequential` names its children).
    pub fn rename(mut self, ours: &str, theirs: &str) -> Self {
        self.renames.push((ours.to_string(), theirs.to_string()));
        self
    }

    /// The conversion of a `Sequential` for inputs of one sample's shape `[H, W, C]`: the
    /// model runs once on zeros, and the first weighted layer after each layer that turns
    /// a rank-4 activation into a rank-2 one (a flatten) is marked as reading that map.
    ///
    /// The probe runs in evaluation mode (the model is put back in its mode afterwards), so
    /// that batch norm neither needs more than one sample nor records running statistics
    /// from the zeros.
    pub fn for_sequential<T: Element>(
        model: &mut Sequential<T>,
        sample: &[usize],
    ) -> Result<Self, TorchCompatError> {
        let training = model.is_training();
        model.set_training(false);
        let found = Self::probe(model, sample);
        model.set_training(training);
        found
    }

    fn probe<T: Element>(model: &Sequential<T>, sample: &[usize]) -> Result<Self, TorchCompatError> {
        let mut shape = vec![1];
        shape.extend_from_slice(sample);
        let tape = Tape::<T>::no_grad();
        let mut x = tape.constant(Tensor::zeros(&shape));
        let mut pending: Option<[usize; 3]> = None;
        let mut conversion = Conversion::new();
        for (i, (name, layer)) in model.layers().enumerate() {
            let dense = layer.parameters().into_iter().find(|(_, p)| p.shape().len() == 2);
            if let (Some(hwc), Some((pname, _))) = (pending, dense) {
                conversion = conversion.flattened_input(&format!("{name}.{pname}"), hwc);
                pending = None;
            }
            let y = model
                .forward_range(&x, i..i + 1)
                .map_err(|source| TorchCompatError::Probe {
                    layer: name.to_string(),
                    source,
                })?;
            if let ([_, h, w, c], [_, _]) = (x.shape(), y.shape()) {
                pending = Some([*h, *w, *c]);
            }
            x = y;
        }
        Ok(conversion)
    }

    /// The `state_dict` key of the tapegrad parameter or buffer `name`.
    pub fn torch_name(&self, name: &str) -> String {
        let (prefix, last) = name.rsplit_once('.').unwrap_or(("", name));
        let last = SUFFIXES
            .iter()
            .find(|(ours, _)| *ours == last)
            .map_or(last, |(_, theirs)| theirs);
        let prefix = self
            .renames
            .iter()
            .find_map(|(ours, theirs)| {
                let rest = prefix.strip_prefix(ours.as_str())?;
                (rest.is_empty() || rest.starts_with('.')).then(|| format!("{theirs}{rest}"))
            })
            .unwrap_or_else(|| prefix.to_string());
        if prefix.is_empty() {
            last.to_string()
        } else {
            format!("{prefix}.{last}")
        }
    }

    /// The PyTorch shape of a tapegrad tensor of shape `ours`.
    pub fn torch_shape(&self, ours: &[usize]) -> Vec<usize> {
        match *ours {
            [o, kh, kw, i] => vec![o, i, kh, kw],
            [i, o] => vec![o, i],
            _ => ours.to_vec(),
        }
    }

    /// The tapegrad parameter `name` in PyTorch's layout.
    pub fn to_torch<T: Element>(&self, name: &str, t: &Tensor<T>) -> autograd::Result<Tensor<T>> {
        match t.shape().len() {
            4 => t.permute(&[0, 3, 1, 2]),
            2 => {
                // PyTorch's input column k is our row r where torch_rows[r] = k.
                let order = self.torch_rows(name, t.shape()[0]);
                let mut ours_of = vec![0; order.len()];
                for (r, &k) in order.iter().enumerate() {
                    ours_of[k] = r;
                }
                t.index_select(0, &ours_of)?.transpose(0, 1)
            }
            _ => Ok(t.clone()),
        }
    }

    /// PyTorch's tensor for the tapegrad parameter `name` in tapegrad's layout (the
    /// inverse of [`to_torch`](Self::to_torch)); `theirs` must have the shape
    /// [`torch_shape`](Self::torch_shape) gives.
    pub fn from_torch<T: Element>(&self, name: &str, theirs: &Tensor<T>) -> autograd::Result<Tensor<T>> {
        match theirs.shape().len() {
            4 => theirs.permute(&[0, 2, 3, 1]),
            2 => {
                // Our row r is PyTorch's input column torch_rows[r].
                let t = theirs.transpose(0, 1)?;
                t.index_select(0, &self.torch_rows(name, t.shape()[0]))
            }
            _ => Ok(theirs.clone()),
        }
    }

    /// For each tapegrad input row of the dense weight `name`, the PyTorch input column it
    /// is: `(y, x, ch) ↦ ch·h·w + y·w + x` after a flatten, the identity otherwise.
    fn torch_rows(&self, name: &str, rows: usize) -> Vec<usize> {
        match self.flattened.get(name) {
            Some(&[h, w, c]) if h * w * c == rows => (0..rows)
                .map(|r| {
                    let (yx, ch) = (r / c, r % c);
                    ch * h * w + yx
                })
                .collect(),
            _ => (0..rows).collect(),
        }
    }

    /// The flattened map declared for `name`, if any.
    pub fn flattened(&self, name: &str) -> Option<[usize; 3]> {
        self.flattened.get(name).copied()
    }
}
