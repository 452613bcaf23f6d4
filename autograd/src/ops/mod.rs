//! The differentiable primitives. Each is a [`CustomOp`](crate::CustomOp) whose backward rule
//! sits beside its forward, plus the [`Var`](crate::Var) methods that apply it.
//!
//! Notation in the doc comments: `y` is the op's output, `dy = dL/dy` the gradient arriving
//! from the loss `L`, `dx = dL/dx` the gradient the rule returns for input `x`. "Summed to the
//! shape of `a`" undoes broadcasting: a broadcast operand receives the sum over the axes it
//! was stretched along.

mod arith;
mod layout;
mod matmul;
mod reduce;
mod softmax;
mod unary;

use crate::element::Element;
use crate::error::Result;
use crate::tensor::Tensor;

/// `Some(f())` when the input needs a gradient, else `None`, with `f`'s error passed on.
pub(crate) fn grad_if<T: Element>(
    need: bool,
    f: impl FnOnce() -> Result<Tensor<T>>,
) -> Result<Option<Tensor<T>>> {
    need.then(f).transpose()
}

/// Unwraps the result of an op that cannot fail on valid variables of one tape.
pub(crate) fn infallible<T>(r: Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}
