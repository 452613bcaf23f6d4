//! The custom-op API: one small trait with a forward and a backward rule, the way
//! `torch.autograd.Function` and JAX's `custom_vjp` define an op. Every primitive of this
//! crate, and every layer of the `nn` crate, is an implementation of it.

use crate::element::Element;
use crate::error::Result;
use crate::tensor::Tensor;

/// The tensors an op keeps from its forward pass for its backward rule, stated explicitly.
///
/// Saving is cheap: a tensor's buffer is shared, not copied. When the tape is not recording
/// (no-grad mode, or no input needs a gradient) the saved tensors are dropped right after
/// the forward pass; [`Saved::is_recording`] lets an op skip work only backward would need.
#[derive(Clone, Default)]
pub struct Saved<T: Element> {
    tensors: Vec<Tensor<T>>,
    recording: bool,
}

impl<T: Element> Saved<T> {
    pub(crate) fn new(recording: bool) -> Self {
        Saved {
            tensors: Vec::new(),
            recording,
        }
    }

    /// Keeps a tensor for the backward pass and returns its slot number.
    pub fn save(&mut self, t: Tensor<T>) -> usize {
        self.tensors.push(t);
        self.tensors.len() - 1
    }

    /// The tensor saved in slot `i`.
    ///
    /// # Panics
    /// If nothing was saved in that slot: a bug in the op, not in its inputs.
    pub fn get(&self, i: usize) -> &Tensor<T> {
        self.tensors
            .get(i)
            .unwrap_or_else(|| panic!("Saved::get({i}): only {} tensors were saved", self.tensors.len()))
    }

    /// The number of saved tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether nothing was saved.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Whether this forward pass is being recorded for a backward pass.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// The bytes held by the saved tensors' buffers.
    pub fn bytes(&self) -> usize {
        self.tensors
            .iter()
            .map(|t| t.numel() * std::mem::size_of::<T>())
            .sum()
    }
}

/// An op with its own backward rule.
///
/// `forward` maps input tensors to one output tensor and saves what `backward` needs, in
/// [`Saved`] (tensors) or in the op's own fields (anything else, such as argmax indices);
/// `backward` maps the gradient of the loss with respect to the output, `dL/dy`, to one
/// gradient per input, `dL/dx_i` (the vector-Jacobian product), each of its input's shape.
/// It may return `None` for an input whose `needs_grad` entry is false.
///
/// Apply it to variables with [`Tape::apply`](crate::Tape::apply) or
/// [`Var::apply`](crate::Var::apply).
///
/// ```
/// use autograd::{CustomOp, Saved, Tape, Tensor, Result};
///
/// /// `y = x³`, with `dy/dx = 3x²`.
/// struct Cube;
/// impl CustomOp<f64> for Cube {
///     fn name(&self) -> &str { "cube" }
///     fn forward(&mut self, inputs: &[&Tensor<f64>], saved: &mut Saved<f64>) -> Result<Tensor<f64>> {
///         saved.save(inputs[0].clone());
///         Ok(inputs[0].map(|x| x * x * x))
///     }
///     fn backward(&self, saved: &Saved<f64>, dy: &Tensor<f64>, _needs: &[bool])
///         -> Result<Vec<Option<Tensor<f64>>>> {
///         let dx = saved.get(0).zip_with(dy, "cube", |x, g| 3.0 * x * x * g)?;
///         Ok(vec![Some(dx)])
///     }
/// }
///
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![2.0], &[1]).unwrap());
/// let y = tape.apply(Cube, &[&x]).unwrap();
/// let grads = tape.backward(&y.sum()).unwrap();
/// assert_eq!(grads[&x].to_vec(), vec![12.0]);
/// ```
pub trait CustomOp<T: Element>: 'static {
    /// The op's name, used in error messages.
    fn name(&self) -> &str;

    /// Computes the output from the inputs, saving what the backward rule needs.
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>>;

    /// Computes one gradient per input from the output gradient `grad_output`.
    /// `needs_grad[i]` tells whether input `i` needs one.
    fn backward(
        &self,
        saved: &Saved<T>,
        grad_output: &Tensor<T>,
        needs_grad: &[bool],
    ) -> Result<Vec<Option<Tensor<T>>>>;
}
