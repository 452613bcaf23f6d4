//! Inverted dropout (Srivastava et al. 2014, as PyTorch's `nn.Dropout` does it): in training
//!
//! ```text
//! Z = A ⊙ M,   M_i = 1/(1 − p) with probability 1 − p (kept), 0 with probability p (dropped)
//! dA = dZ ⊙ M
//! ```
//!
//! so that `E[Z] = A` and evaluation needs no rescaling. A NaN or an infinity of `A` gives NaN
//! where it is dropped (`NaN · 0`, `∞ · 0`), as PyTorch's `input * mask` does.
//!
//! The mask comes from a `seed`: element `i` lies in block `b = i / BLOCK`, and block `b`
//! draws its `u32`s in order from ChaCha12 keyed by `(seed, b)`; element `i` is dropped when
//! its draw is below `round(p · 2³²)`. The blocks are independent, so they are drawn across
//! the pool's threads and the mask is the same bits on any number of threads. Drawing the
//! words in bulk (`Rng::fill`, ChaCha's vector backend) instead of one `f64` per element made
//! the mask of the MNIST-example CNN's first dropout (`[64, 12, 12, 64]`) several times
//! cheaper; the commit gives the figures.

use autograd::runtime::{buffer, parallel, simd};
use autograd::{CustomOp, Element, Error, Result, Saved, Tensor, Var};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Elements per block of the mask (one ChaCha key each).
const BLOCK: usize = 1 << 14;
/// Draws per call of `Rng::fill` (a stack buffer).
const DRAWS: usize = 1024;

/// Dropout as a [`CustomOp`]; [`dropout`] applies it.
pub struct DropoutOp {
    p: f64,
    seed: u64,
}

impl DropoutOp {
    /// The first `u32` draw that keeps an element: `round(p · 2³²)`, at most `2³² − 1`.
    fn threshold(&self) -> u32 {
        (self.p * 4_294_967_296.0).round().min(u32::MAX as f64) as u32
    }
}

/// Block `b` of the mask and of the output: `m = keep` or `0` per draw, `z = x · m`.
#[inline(always)]
fn fill_block<T: Element>(seed: u64, b: usize, threshold: u32, keep: T, x: &[T], z: &mut [T], m: &mut [T]) {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(b as u64).to_le_bytes());
    let mut rng = StdRng::from_seed(key);
    let mut draws = [0u32; DRAWS];
    for ((xs, zs), ms) in x.chunks(DRAWS).zip(z.chunks_mut(DRAWS)).zip(m.chunks_mut(DRAWS)) {
        let r = &mut draws[..xs.len()];
        rng.fill(r);
        for (((&xv, zv), mv), &rv) in xs.iter().zip(zs).zip(ms).zip(r.iter()) {
            let s = if rv < threshold { T::ZERO } else { keep };
            *mv = s;
            *zv = xv * s;
        }
    }
}

impl<T: Element> CustomOp<T> for DropoutOp {
    fn name(&self) -> &str {
        "dropout"
    }

    /// `Z = A ⊙ M`; `M` is saved for the backward rule.
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let x = inputs[0];
        let xs = x.as_slice();
        let n = xs.len();
        let keep = T::from_f64(1.0 / (1.0 - self.p));
        let threshold = self.threshold();
        let mut z = buffer::take_dirty::<T>(n);
        let mut m = buffer::take_dirty::<T>(n);
        let blocks = n.div_ceil(BLOCK);
        let split = parallel::worth_splitting(blocks, n >= 4 * BLOCK);
        let parts = xs.chunks(BLOCK).zip(z.chunks_mut(BLOCK)).zip(m.chunks_mut(BLOCK));
        parallel::for_each_part(parts, split, |b, ((xb, zb), mb)| {
            simd::dispatch(
                #[inline(always)]
                || fill_block(self.seed, b, threshold, keep, xb, zb, mb),
            )
        });
        let z = Tensor::from_vec(z, x.shape())?;
        if saved.is_recording() {
            saved.save(Tensor::from_vec(m, x.shape())?);
        } else {
            buffer::recycle(m);
        }
        Ok(z)
    }

    /// `dA = dZ ⊙ M`.
    fn backward(&self, saved: &Saved<T>, dz: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let m = saved.get(0);
        let mut da = buffer::take_dirty::<T>(m.as_slice().len());
        simd::dispatch(
            #[inline(always)]
            || {
                for ((d, &g), &s) in da.iter_mut().zip(dz.as_slice()).zip(m.as_slice()) {
                    *d = g * s;
                }
            },
        );
        Ok(vec![Some(Tensor::from_vec(da, m.shape())?)])
    }
}

/// Inverted dropout of `x` with drop probability `p` in `[0, 1)`, the mask drawn from
/// `seed` (the same seed gives the same mask; the [`Dropout`](crate::layers::Dropout) layer
/// draws a new seed at each call). This always drops: evaluation mode is the layer's
/// business.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::dropout::dropout;
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![1.0; 1000], &[1000]).unwrap());
/// let z = dropout(&x, 0.25, 7).unwrap();
/// let kept = z.value().as_slice().iter().filter(|&&v| v != 0.0).count();
/// assert!((700..800).contains(&kept)); // about 1 − p of them
/// assert!(z.value().as_slice().iter().all(|&v| v == 0.0 || v == 1.0 / 0.75));
/// let g = tape.backward(&z.sum()).unwrap();
/// assert_eq!(g[&x].to_vec(), z.value().to_vec()); // dA = dZ ⊙ M, dZ = 1
/// ```
pub fn dropout<'t, T: Element>(x: &Var<'t, T>, p: f64, seed: u64) -> Result<Var<'t, T>> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::invalid(
            "dropout",
            x.shape(),
            format!("drop probability {p} is not in [0, 1)"),
        ));
    }
    Var::apply(DropoutOp { p, seed }, &[x])
}
