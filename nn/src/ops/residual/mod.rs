//! The join of a residual block, `y = relu(x + F(x))` (He et al. 2016), as one op: the
//! shortcut `x` (or its projection) and the residual branch `F(x)` added and rectified in one
//! pass, where `x.try_add(f)?.relu()` would make two passes and keep two tensors.
//!
//! Backward: with the mask `[y > 0]` (under the pass's ReLU rule), both inputs receive the
//! same gradient, `dx = dF = dy · [y > 0]`: addition copies the gradient to both summands.
//! The per-position loop is [`reference::add_relu`].

pub mod reference;

use autograd::runtime::{buffer, parallel, simd};
use autograd::{BackwardContext, CustomOp, Element, Error, Result, Saved, Tensor, Var};

/// Elements per part of the threaded passes.
const PART: usize = 1 << 15;

/// `y = max(a + b, 0)` as a [`CustomOp`]; inputs of the same shape.
pub struct AddReluOp;

impl<T: Element> CustomOp<T> for AddReluOp {
    fn name(&self) -> &str {
        "add_relu"
    }

    /// `y = max(a + b, 0)`, saving `y` for the mask.
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let (a, b) = (inputs[0], inputs[1]);
        if a.shape() != b.shape() {
            return Err(Error::shapes(
                "add_relu",
                a.shape(),
                b.shape(),
                "the shortcut and the branch must have one shape",
            ));
        }
        let (xa, xb) = (a.as_slice(), b.as_slice());
        let mut y = buffer::take_dirty::<T>(a.numel());
        let split = parallel::worth_splitting(y.len().div_ceil(PART), y.len() >= 2 * PART);
        parallel::for_each_part(y.chunks_mut(PART), split, |i, out: &mut [T]| {
            let at = i * PART;
            simd::dispatch(
                #[inline(always)]
                || {
                    for ((o, &u), &v) in out.iter_mut().zip(&xa[at..]).zip(&xb[at..]) {
                        let s = u + v;
                        *o = if s > T::ZERO { s } else { T::ZERO };
                    }
                },
            )
        });
        let y = Tensor::from_vec(y, a.shape())?;
        if saved.is_recording() {
            saved.save(y.clone());
        }
        Ok(y)
    }

    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        self.backward_with_context(&BackwardContext::default(), saved, dy, needs)
    }

    /// `da = db = dy · [y > 0]` (the pass's ReLU rule).
    fn backward_with_context(
        &self,
        ctx: &BackwardContext,
        saved: &Saved<T>,
        dy: &Tensor<T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<T>>>> {
        let y = saved.get(0).as_slice();
        let g = dy.as_slice();
        let mut d = buffer::take_dirty::<T>(y.len());
        let split = parallel::worth_splitting(d.len().div_ceil(PART), d.len() >= 2 * PART);
        let rule = ctx.relu_rule;
        parallel::for_each_part(d.chunks_mut(PART), split, |i, out: &mut [T]| {
            let at = i * PART;
            simd::dispatch(
                #[inline(always)]
                || {
                    crate::ops::activation::Activation::Relu.backprop_with(
                        rule,
                        &y[at..at + out.len()],
                        &g[at..at + out.len()],
                        out,
                    )
                },
            )
        });
        let d = Tensor::from_vec(d, dy.shape())?;
        Ok(vec![needs[0].then(|| d.clone()), needs[1].then_some(d)])
    }
}

/// `relu(shortcut + branch)`, the join of a residual block.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::residual::add_relu;
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap());
/// let f = tape.var(Tensor::from_vec(vec![0.5, 1.0], &[2]).unwrap());
/// let y = add_relu(&x, &f).unwrap();
/// assert_eq!(y.value().to_vec(), vec![1.5, 0.0]);
/// let g = tape.backward(&y.sum()).unwrap();
/// assert_eq!((g[&x].to_vec(), g[&f].to_vec()), (vec![1.0, 0.0], vec![1.0, 0.0]));
/// ```
pub fn add_relu<'t, T: Element>(shortcut: &Var<'t, T>, branch: &Var<'t, T>) -> Result<Var<'t, T>> {
    Var::apply(AddReluOp, &[shortcut, branch])
}
