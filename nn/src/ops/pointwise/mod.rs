//! Elementwise activations beyond the ones conv and dense layers fuse
//! ([`Activation`](crate::ops::activation::Activation)), each a custom op with its derivative
//! read from the saved input `Z`, backward `dZ = σ'(Z) ∘ dA`:
//!
//! | activation | `σ(z)` | `σ'(z)` |
//! |---|---|---|
//! | LeakyReLU, slope `a` | `z` if `z > 0`, else `a·z` | `1`, else `a` |
//! | ELU, `α` | `z` if `z > 0`, else `α(eᶻ − 1)` | `1`, else `α·eᶻ` |
//! | GELU (exact, PyTorch's default) | `z·Φ(z) = (z/2)(1 + erf(z/√2))` | `Φ(z) + z·φ(z)`, `φ(z) = e^(−z²/2)/√(2π)` |
//!
//! (Softmax and log-softmax are autograd primitives, [`Var::softmax`](autograd::Var::softmax);
//! the layers wrap them.)

mod erf;

pub use erf::erf;

use autograd::runtime::{buffer, parallel, simd};
use autograd::{CustomOp, Element, Result, Saved, Tensor, Var};

/// Elements per part of the threaded passes.
const PART: usize = 1 << 14;

/// An elementwise activation with its derivative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pointwise {
    /// `max(z, 0) + slope · min(z, 0)`.
    LeakyRelu {
        /// The slope for negative inputs (PyTorch's default 0.01).
        slope: f64,
    },
    /// `z` for `z > 0`, else `α(eᶻ − 1)`.
    Elu {
        /// `α` (PyTorch's default 1).
        alpha: f64,
    },
    /// `z·Φ(z)` with the exact normal CDF `Φ`.
    Gelu,
}

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

impl Pointwise {
    /// `σ(z)`.
    pub fn value(self, z: f64) -> f64 {
        match self {
            Pointwise::LeakyRelu { slope } => {
                if z > 0.0 {
                    z
                } else {
                    slope * z
                }
            }
            Pointwise::Elu { alpha } => {
                if z > 0.0 {
                    z
                } else {
                    alpha * z.exp_m1()
                }
            }
            Pointwise::Gelu => 0.5 * z * (1.0 + erf(z * std::f64::consts::FRAC_1_SQRT_2)),
        }
    }

    /// `σ'(z)`.
    pub fn derivative(self, z: f64) -> f64 {
        match self {
            Pointwise::LeakyRelu { slope } => {
                if z > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            Pointwise::Elu { alpha } => {
                if z > 0.0 {
                    1.0
                } else {
                    alpha * z.exp()
                }
            }
            Pointwise::Gelu => {
                let cdf = 0.5 * (1.0 + erf(z * std::f64::consts::FRAC_1_SQRT_2));
                cdf + z * FRAC_1_SQRT_2PI * (-0.5 * z * z).exp()
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Pointwise::LeakyRelu { .. } => "leaky_relu",
            Pointwise::Elu { .. } => "elu",
            Pointwise::Gelu => "gelu",
        }
    }

    /// `out[i] = f(z[i])` in parts across the threads.
    fn map<T: Element>(z: &[T], out: &mut [T], f: impl Fn(usize, T) -> T + Sync) {
        let split = parallel::worth_splitting(out.len().div_ceil(PART), out.len() >= 2 * PART);
        parallel::for_each_part(out.chunks_mut(PART), split, |i, part: &mut [T]| {
            let at = i * PART;
            simd::dispatch(
                #[inline(always)]
                || {
                    for (k, (o, &v)) in part.iter_mut().zip(&z[at..]).enumerate() {
                        *o = f(at + k, v);
                    }
                },
            )
        });
    }
}

/// A [`Pointwise`] activation as a [`CustomOp`].
pub struct PointwiseOp(pub Pointwise);

impl<T: Element> CustomOp<T> for PointwiseOp {
    fn name(&self) -> &str {
        self.0.name()
    }

    /// `A = σ(Z)`, saving `Z`.
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let z = inputs[0];
        let mut a = buffer::take_dirty::<T>(z.numel());
        let f = self.0;
        Pointwise::map(z.as_slice(), &mut a, |_, v| T::from_f64(f.value(v.to_f64())));
        if saved.is_recording() {
            saved.save(z.clone());
        }
        Tensor::from_vec(a, z.shape())
    }

    /// `dZ = σ'(Z) ∘ dA`.
    fn backward(&self, saved: &Saved<T>, da: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let z = saved.get(0);
        let g = da.as_slice();
        let mut dz = buffer::take_dirty::<T>(z.numel());
        let f = self.0;
        Pointwise::map(z.as_slice(), &mut dz, |i, v| {
            T::from_f64(f.derivative(v.to_f64())) * g[i]
        });
        Ok(vec![Some(Tensor::from_vec(dz, z.shape())?)])
    }
}

/// `σ(z)` elementwise.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::pointwise::{Pointwise, pointwise};
/// let tape = Tape::<f64>::new();
/// let z = tape.var(Tensor::from_vec(vec![2.0, -1.0], &[2]).unwrap());
/// let a = pointwise(&z, Pointwise::LeakyRelu { slope: 0.1 }).unwrap();
/// assert_eq!(a.value().to_vec(), vec![2.0, -0.1]);
/// let g = tape.backward(&a.sum()).unwrap();
/// assert_eq!(g[&z].to_vec(), vec![1.0, 0.1]);
/// ```
pub fn pointwise<'t, T: Element>(z: &Var<'t, T>, f: Pointwise) -> Result<Var<'t, T>> {
    Var::apply(PointwiseOp(f), &[z])
}
