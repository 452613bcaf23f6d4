//! Activations fused into a layer's op, as the lecture writes a layer
//! (`docs/lecture.md#convolution-forward` and `#convolution-backward`): `Z_1 = Z_0 + b`,
//! `A = σ(Z_1)`, and backward first `dZ_1 = σ'(Z_1) ∘ dA`.
//!
//! Fusing saves a pass over the layer's output in each direction and a tensor per layer:
//! the activation is applied while the output is still in cache, and its derivative is read
//! from the saved output `A` (for each σ here, `σ'` is a function of `A`).

use autograd::{Element, ReluRule};

/// The activation `σ` of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Activation {
    /// `σ(z) = z`.
    #[default]
    Identity,
    /// `σ(z) = max(z, 0)`; `σ' = 0` where `A <= 0`, else 1. As in PyTorch, a NaN stays NaN
    /// (`max(NaN, 0) = NaN`) and its gradient passes (`[NaN <= 0]` is false).
    Relu,
    /// `σ(z) = 1 / (1 + e⁻ᶻ)`; `σ' = A(1 - A)`.
    Sigmoid,
    /// `σ(z) = tanh z`; `σ' = 1 - A²`.
    Tanh,
}

impl Activation {
    /// `A = σ(Z)` in place.
    #[inline(always)]
    pub fn apply<T: Element>(self, z: &mut [T]) {
        match self {
            Activation::Identity => {}
            Activation::Relu => z
                .iter_mut()
                .for_each(|v| *v = if *v <= T::ZERO { T::ZERO } else { *v }),
            Activation::Sigmoid => z.iter_mut().for_each(|v| {
                *v = if *v >= T::ZERO {
                    T::ONE / (T::ONE + (-*v).exp())
                } else {
                    let e = v.exp();
                    e / (T::ONE + e)
                }
            }),
            Activation::Tanh => z.iter_mut().for_each(|v| *v = v.tanh()),
        }
    }

    /// `dZ = σ'(Z) ∘ dA`, with `σ'` read from the output `A`; writes `dz`.
    #[inline(always)]
    pub fn backprop<T: Element>(self, a: &[T], da: &[T], dz: &mut [T]) {
        self.backprop_with(ReluRule::Gradient, a, da, dz)
    }

    /// [`backprop`](Self::backprop) with a ReLU sending back what `rule` says (for
    /// [`Activation::Relu`]; the other activations ignore it): `dA · [A > 0]` for the
    /// gradient, `dA · [dA > 0]` for the deconvnet, `dA · [A > 0] · [dA > 0]` for guided
    /// backpropagation (`A > 0` exactly where `Z > 0`; a NaN counts as positive, so it
    /// propagates).
    #[inline(always)]
    pub fn backprop_with<T: Element>(self, rule: ReluRule, a: &[T], da: &[T], dz: &mut [T]) {
        let pairs = a.iter().zip(da);
        match self {
            Activation::Identity => dz.copy_from_slice(da),
            // The rule is chosen outside the loop: the gradient's loop stays a plain select.
            Activation::Relu if rule == ReluRule::Gradient => {
                for (d, (&av, &g)) in dz.iter_mut().zip(pairs) {
                    *d = if av <= T::ZERO { T::ZERO } else { g };
                }
            }
            Activation::Relu => {
                for (d, (&av, &g)) in dz.iter_mut().zip(pairs) {
                    *d = rule.backprop(av > T::ZERO || av.is_nan(), g);
                }
            }
            Activation::Sigmoid => {
                for (d, (&av, &g)) in dz.iter_mut().zip(pairs) {
                    *d = g * av * (T::ONE - av);
                }
            }
            Activation::Tanh => {
                for (d, (&av, &g)) in dz.iter_mut().zip(pairs) {
                    *d = g * (T::ONE - av * av);
                }
            }
        }
    }
}
