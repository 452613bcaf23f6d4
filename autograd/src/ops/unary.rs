//! Elementwise functions: exp, log, sqrt, abs, relu, sigmoid, tanh. Each line of the table
//! below is one op: its forward `y = f(x)` and its backward `dx = dy · f'(x)`, where the
//! derivative may use the input `x` and the output `y`. ReLU is written out after the table:
//! its backward signal follows the pass's [`ReluRule`](crate::ReluRule).

use super::infallible;
use crate::element::Element;
use crate::error::Result;
use crate::op::{BackwardContext, CustomOp, Saved};
use crate::tape::Var;
use crate::tensor::Tensor;

macro_rules! unary_ops {
    ($(
        $(#[$doc:meta])*
        $op:ident, $method:ident, $label:literal:
            y = |$x:ident| $forward:expr,
            dx = |$bx:ident, $by:ident, $dy:ident| $backward:expr;
    )*) => {$(
        struct $op;

        impl<T: Element> CustomOp<T> for $op {
            fn name(&self) -> &str {
                $label
            }
            fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
                let y = inputs[0].map(|$x: T| $forward);
                saved.save(inputs[0].clone());
                saved.save(y.clone());
                Ok(y)
            }
            #[allow(unused_variables)]
            fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
                let (x, y) = (saved.get(0).as_slice(), saved.get(1).as_slice());
                let mut dx = crate::runtime::buffer::take_dirty::<T>(x.len());
                crate::runtime::simd::dispatch(
                    #[inline(always)]
                    || {
                        for (((d, &$bx), &$by), &$dy) in dx.iter_mut().zip(x).zip(y).zip(dy.as_slice()) {
                            *d = $backward;
                        }
                    },
                );
                Ok(vec![Some(Tensor::from_vec(dx, dy.shape())?)])
            }
        }

        impl<'t, T: Element> Var<'t, T> {
            $(#[$doc])*
            pub fn $method(&self) -> Var<'t, T> {
                infallible(Var::apply($op, &[self]))
            }
        }
    )*};
}

fn half<T: Element>() -> T {
    T::from_f64(0.5)
}

unary_ops! {
    /// `y = eˣ`; `dx = dy · y`.
    ExpOp, exp, "exp":
        y = |x| x.exp(),
        dx = |x, y, dy| dy * y;

    /// `y = ln x`; `dx = dy / x`.
    LogOp, log, "log":
        y = |x| x.ln(),
        dx = |x, y, dy| dy / x;

    /// `y = √x`; `dx = dy / (2y)`.
    SqrtOp, sqrt, "sqrt":
        y = |x| x.sqrt(),
        dx = |x, y, dy| dy * half::<T>() / y;

    /// `y = |x|`; `dx = dy · sign(x)` (0 at 0).
    AbsOp, abs, "abs":
        y = |x| x.abs(),
        dx = |x, y, dy| if x > T::ZERO { dy } else if x < T::ZERO { -dy } else { T::ZERO };

    /// `y = 1 / (1 + e⁻ˣ)` (computed without overflow for either sign); `dx = dy · y(1 - y)`.
    SigmoidOp, sigmoid, "sigmoid":
        y = |x| if x >= T::ZERO {
            T::ONE / (T::ONE + (-x).exp())
        } else {
            let e = x.exp();
            e / (T::ONE + e)
        },
        dx = |x, y, dy| dy * y * (T::ONE - y);

    /// `y = tanh x`; `dx = dy · (1 - y²)`.
    TanhOp, tanh, "tanh":
        y = |x| x.tanh(),
        dx = |x, y, dy| dy * (T::ONE - y * y);
}

/// `y = max(x, 0)` (NaN stays NaN); backward `dx = dy · [x > 0]` (NaN passes) for the gradient, or the pass's other
/// [`ReluRule`](crate::ReluRule) (deconvnet `dy · [dy > 0]`, guided `dy · [x > 0] · [dy > 0]`).
struct ReluOp;

impl<T: Element> CustomOp<T> for ReluOp {
    fn name(&self) -> &str {
        "relu"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        saved.save(inputs[0].clone());
        // `x <= 0`, not `x > 0`: a NaN stays NaN, as in PyTorch.
        Ok(inputs[0].map(|x| if x <= T::ZERO { T::ZERO } else { x }))
    }
    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        self.backward_with_context(&BackwardContext::default(), saved, dy, needs)
    }
    fn backward_with_context(
        &self,
        ctx: &BackwardContext,
        saved: &Saved<T>,
        dy: &Tensor<T>,
        _: &[bool],
    ) -> Result<Vec<Option<Tensor<T>>>> {
        let x = saved.get(0).as_slice();
        let rule = ctx.relu_rule;
        let mut dx = crate::runtime::buffer::take_dirty::<T>(x.len());
        crate::runtime::simd::dispatch(
            #[inline(always)]
            || {
                let pairs = dx.iter_mut().zip(x).zip(dy.as_slice());
                // The rule is chosen outside the loop: the gradient's loop stays a plain select.
                if rule == crate::ReluRule::Gradient {
                    // A NaN input passes its gradient (PyTorch's `threshold_backward`).
                    pairs.for_each(|((d, &x), &r)| *d = if x <= T::ZERO { T::ZERO } else { r });
                } else {
                    pairs.for_each(|((d, &x), &r)| *d = rule.backprop(x > T::ZERO || x.is_nan(), r));
                }
            },
        );
        Ok(vec![Some(Tensor::from_vec(dx, dy.shape())?)])
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// `y = max(x, 0)`; `dx = dy` where `x > 0`, else 0 (under
    /// [`ReluRule::Gradient`](crate::ReluRule::Gradient), the
    /// default; see [`Tape::set_relu_rule`](crate::Tape::set_relu_rule) for the others).
    pub fn relu(&self) -> Var<'t, T> {
        infallible(Var::apply(ReluOp, &[self]))
    }
}
