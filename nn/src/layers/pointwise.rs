//! Activation layers beyond ReLU, sigmoid and tanh: LeakyReLU, ELU, GELU (ops of
//! [`crate::ops::pointwise`]) and softmax / log-softmax over the last axis (autograd
//! primitives).

use super::module::{Module, SpatialExtent};
use crate::ops::pointwise::{Pointwise, pointwise};
use autograd::{Element, Error, Result, Var};

macro_rules! pointwise_module {
    ($name:ident, $f:expr) => {
        impl<T: Element> Module<T> for $name {
            fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
                let f: fn(&Self) -> Pointwise = $f;
                pointwise(x, f(self))
            }
            fn spatial_extent(&self) -> Option<SpatialExtent> {
                Some(SpatialExtent::Pointwise)
            }
        }
    };
}

/// `max(z, 0) + slope · min(z, 0)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReLU {
    /// The slope for negative inputs (PyTorch's default: 0.01).
    pub slope: f64,
}
pointwise_module!(LeakyReLU, |s| Pointwise::LeakyRelu { slope: s.slope });

/// `z` for `z > 0`, else `alpha · (eᶻ − 1)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ELU {
    /// `alpha` (PyTorch's default: 1).
    pub alpha: f64,
}
pointwise_module!(ELU, |s| Pointwise::Elu { alpha: s.alpha });

/// `z · Φ(z)`, with the exact normal CDF (PyTorch's default GELU).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GELU;
pointwise_module!(GELU, |_| Pointwise::Gelu);

/// The last axis of `x`, for softmax.
fn last_axis<T: Element>(layer: &str, x: &Var<'_, T>) -> Result<usize> {
    x.shape()
        .len()
        .checked_sub(1)
        .ok_or_else(|| Error::invalid(layer, x.shape(), "softmax needs at least one axis"))
}

/// `softmax` over the last axis (class probabilities from logits).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Softmax;

impl<T: Element> Module<T> for Softmax {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        x.softmax(last_axis("Softmax", x)?)
    }
}

/// `log softmax` over the last axis (log-probabilities, stable).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LogSoftmax;

impl<T: Element> Module<T> for LogSoftmax {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        x.log_softmax(last_axis("LogSoftmax", x)?)
    }
}
