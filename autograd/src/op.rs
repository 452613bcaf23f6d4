//! The custom-op API: one small trait with a forward and a backward rule, the way
//! `torch.autograd.Function` and JAX's `custom_vjp` define an op. Every primitive of this
//! crate, and every layer of the `nn` crate, is an implementation of it.
//!
//! A backward pass also hands every op a [`BackwardContext`]: settings of the pass that are
//! the same for every op and every thread of it, such as the [`ReluRule`] that attribution
//! methods (deconvnet, guided backpropagation) choose with
//! [`Tape::set_relu_rule`](crate::Tape::set_relu_rule).

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

/// Which signal a ReLU sends back, for input `X` (the forward input; `X > 0` exactly where
/// the output `A = max(X, 0)` is positive) and incoming signal `R` (`dL/dA` for the gradient):
///
/// | rule | backward signal | from |
/// |---|---|---|
/// | [`Gradient`](ReluRule::Gradient) | `R · [X > 0]` | the derivative (the default) |
/// | [`Deconvnet`](ReluRule::Deconvnet) | `R · [R > 0]` | Zeiler & Fergus 2014: the ReLU applied to the backward signal |
/// | [`Guided`](ReluRule::Guided) | `R · [X > 0] · [R > 0]` | guided backpropagation, Springenberg et al. 2014 |
///
/// Only `Gradient` gives derivatives; the other two give the visualisations of
/// `nn::interpret`. A NaN in `R` passes through wherever `[X > 0]` lets it (`[R > 0]` reads
/// "not `R ≤ 0`"), so NaN propagates under every rule.
///
/// ```
/// use autograd::op::ReluRule;
/// let r = -2.0f64;
/// assert_eq!(ReluRule::Gradient.backprop(true, r), -2.0); // X > 0: passed
/// assert_eq!(ReluRule::Deconvnet.backprop(true, r), 0.0); // R < 0: rectified
/// assert_eq!(ReluRule::Deconvnet.backprop(false, 3.0), 3.0); // X ignored
/// assert_eq!(ReluRule::Guided.backprop(false, 3.0), 0.0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReluRule {
    /// `R · [X > 0]`: the gradient.
    #[default]
    Gradient,
    /// `R · [R > 0]`: the deconvnet's rectification of the backward signal.
    Deconvnet,
    /// `R · [X > 0] · [R > 0]`: guided backpropagation.
    Guided,
}

impl ReluRule {
    /// The signal one ReLU sends back: `r` is the incoming signal, `x_positive` whether the
    /// forward input was positive (equivalently the output, for a ReLU).
    #[inline(always)]
    pub fn backprop<T: Element>(self, x_positive: bool, r: T) -> T {
        // `[R > 0]` lets a NaN through (`r != r` is NaN), so NaN propagates.
        #[allow(clippy::eq_op)]
        let r_positive = r > T::ZERO || r != r;
        let pass = match self {
            ReluRule::Gradient => x_positive,
            ReluRule::Deconvnet => r_positive,
            ReluRule::Guided => x_positive && r_positive,
        };
        if pass { r } else { T::ZERO }
    }
}

/// The settings of one backward pass, handed to every op's
/// [`CustomOp::backward_with_context`]; set on the tape, so every op (and every thread of a
/// parallel kernel) of the pass sees the same values.
///
/// ```
/// use autograd::op::{BackwardContext, ReluRule};
/// let ctx = BackwardContext::default().with_relu_rule(ReluRule::Guided);
/// assert_eq!(ctx.relu_rule, ReluRule::Guided);
/// assert_eq!(BackwardContext::default().relu_rule, ReluRule::Gradient);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct BackwardContext {
    /// What every ReLU sends back, fused ones included.
    pub relu_rule: ReluRule,
}

impl BackwardContext {
    /// The same context with another ReLU rule.
    pub fn with_relu_rule(mut self, rule: ReluRule) -> Self {
        self.relu_rule = rule;
        self
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
/// The tape calls [`backward_with_context`](CustomOp::backward_with_context), which by
/// default ignores the context and calls `backward`. An op that contains a ReLU (a fused
/// activation, say) overrides it and applies [`BackwardContext::relu_rule`] there, so that
/// deconvnet and guided backpropagation reach it too; its `backward` then calls
/// `backward_with_context` with the default context (the gradient).
///
/// # Allocating outputs and gradients
///
/// A training step allocates the same buffers step after step, and fresh memory from the
/// operating system costs a page fault per 4 KiB page; the crate keeps freed tensor buffers
/// in a [pool](crate::runtime::buffer) and hands them out again. Every constructor and
/// elementwise method of [`Tensor`] takes its buffer from the pool ([`Tensor::map`],
/// [`Tensor::zip_with`], [`Tensor::from_fn`], [`Tensor::zeros`], [`Tensor::to_vec`],
/// [`Tensor::from_slice`], arithmetic, reductions): use them and an op is pooled without
/// further thought. When a kernel writes into a `Vec` by hand, take it with
/// [`buffer::take_dirty`](crate::runtime::buffer::take_dirty) (contents unspecified, for a
/// kernel that writes every element) or
/// [`buffer::take_zeroed`](crate::runtime::buffer::take_zeroed) (for one that accumulates),
/// then wrap it with [`Tensor::from_vec`]; when the tensor dies its buffer goes back to the
/// pool. A `vec![..]` or a `collect()` is fresh memory each step: a custom op built that way
/// ran 19% slower in a LeNet-5 training step (issue #13). `examples/custom_op.rs` shows both.
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

    /// [`backward`](Self::backward) under the settings of the pass (`ctx`). The default
    /// ignores `ctx`: right for every op without a ReLU in it.
    fn backward_with_context(
        &self,
        ctx: &BackwardContext,
        saved: &Saved<T>,
        grad_output: &Tensor<T>,
        needs_grad: &[bool],
    ) -> Result<Vec<Option<Tensor<T>>>> {
        let _ = ctx;
        self.backward(saved, grad_output, needs_grad)
    }
}
