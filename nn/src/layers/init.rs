//! Weight initialisers, seeded through the caller's random generator.
//!
//! Fans: a dense weight `[In, Out]` has `fan_in = In`, `fan_out = Out`; a kernel
//! `[C_out, KH, KW, C_in]` has `fan_in = KH·KW·C_in` and `fan_out = KH·KW·C_out`.

use autograd::{Element, Tensor};
use rand::Rng;

/// How to draw a weight tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// He/Kaiming normal for ReLU networks: `N(0, 2 / fan_in)`.
    KaimingNormal,
    /// He/Kaiming uniform for ReLU networks: `U(±√(6 / fan_in))`.
    KaimingUniform,
    /// Xavier/Glorot normal: `N(0, 2 / (fan_in + fan_out))`.
    XavierNormal,
    /// Xavier/Glorot uniform: `U(±√(6 / (fan_in + fan_out)))`.
    XavierUniform,
    /// PyTorch's default for `Conv2d` and `Linear` weights and biases: `U(±1/√fan_in)`.
    TorchDefault,
    /// Every element equal to this value (zeros for biases, say).
    Constant(f64),
}

/// `(fan_in, fan_out)` of a weight of this shape: dense `[In, Out]` or kernel
/// `[C_out, KH, KW, C_in]`; for other ranks, the last axis is `fan_in`'s only factor.
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape {
        [i, o] => (*i, *o),
        [co, kh, kw, ci] => (kh * kw * ci, kh * kw * co),
        _ => {
            let last = shape.last().copied().unwrap_or(1);
            (last, shape.first().copied().unwrap_or(1))
        }
    }
}

impl Init {
    /// A tensor of `shape` drawn with fans `(fan_in, fan_out)`.
    ///
    /// ```
    /// use nn::layers::init::Init;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let w = Init::KaimingUniform.tensor::<f32, _>(&[400, 120], (400, 120), &mut rng);
    /// let bound = (6.0f32 / 400.0).sqrt();
    /// assert!(w.as_slice().iter().all(|v| v.abs() <= bound));
    /// ```
    pub fn tensor<T: Element, R: Rng + ?Sized>(
        &self,
        shape: &[usize],
        (fan_in, fan_out): (usize, usize),
        rng: &mut R,
    ) -> Tensor<T> {
        let (fi, fo) = (fan_in.max(1) as f64, fan_out.max(1) as f64);
        let uniform = |bound: f64, rng: &mut R| {
            Tensor::rand_uniform(shape, T::from_f64(-bound), T::from_f64(bound), rng)
        };
        let normal = |std: f64, rng: &mut R| Tensor::rand_normal(shape, T::ZERO, T::from_f64(std), rng);
        match *self {
            Init::KaimingNormal => normal((2.0 / fi).sqrt(), rng),
            Init::KaimingUniform => uniform((6.0 / fi).sqrt(), rng),
            Init::XavierNormal => normal((2.0 / (fi + fo)).sqrt(), rng),
            Init::XavierUniform => uniform((6.0 / (fi + fo)).sqrt(), rng),
            Init::TorchDefault => uniform(1.0 / fi.sqrt(), rng),
            Init::Constant(v) => Tensor::full(shape, T::from_f64(v)),
        }
    }
}
