//! Integrated gradients (Sundararajan et al. 2017): the path integral of the gradient from a
//! baseline `b` to the image `x`, times `x − b`,
//!
//! ```text
//! attr_i = (x_i − b_i) · ∫₀¹ ∂f/∂x_i (b + α(x − b)) dα
//!        ≈ (x_i − b_i) · Σ_k w_k · ∂f/∂x_i (b + α_k(x − b))
//! ```
//!
//! by the trapezoid rule, as captum's `riemann_trapezoid`: `α_k = k / (steps − 1)` for
//! `k = 0, …, steps − 1` and `w = [½, 1, …, 1, ½] / (steps − 1)`. Completeness says
//! `Σ_i attr_i = f(x) − f(b)`; the convergence delta `Σ attr − (f(x) − f(b))` measures how
//! far the sum is from it (captum's `return_convergence_delta`).

use super::attribution::target_gradients;
use super::error::{InterpretError, Result};
use super::input::{CHUNK, check_batch};
use crate::layers::Module;
use autograd::{Element, ReluRule, Tensor};

/// The baseline `b` the path starts from.
#[derive(Clone, Debug, PartialEq)]
pub enum Baseline<T: Element> {
    /// Every value equal to this (0: a black image before normalisation only if the
    /// normalisation maps black to 0).
    Constant(f64),
    /// One baseline per image, the images' shape.
    Images(Tensor<T>),
}

/// Integrated gradients with `steps` points of the trapezoid rule (at least 2).
///
/// ```
/// use autograd::Tensor;
/// use nn::interpret::{Baseline, IntegratedGradients};
/// use nn::layers::{Dense, Sequential};
/// // A linear model: attributions are (x − b) · w exactly, and the delta is 0.
/// let w = Tensor::from_vec(vec![2.0, -1.0], &[2, 1]).unwrap();
/// let model = Sequential::<f64>::new().add("fc", Dense::from_tensors(w, None).unwrap());
/// let ig = IntegratedGradients { steps: 16, baseline: Baseline::Constant(0.0) };
/// let x = Tensor::from_vec(vec![3.0, 4.0], &[1, 2]).unwrap();
/// let out = ig.attribute(&model, &x, &[0]).unwrap();
/// let a = out.attributions.to_vec();
/// assert!((a[0] - 6.0).abs() < 1e-12 && (a[1] + 4.0).abs() < 1e-12);
/// assert!(out.delta[0].abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct IntegratedGradients<T: Element> {
    /// The number of points `α_k` on the path, endpoints included.
    pub steps: usize,
    /// Where the path starts.
    pub baseline: Baseline<T>,
}

/// Attributions with each image's convergence delta.
#[derive(Clone, Debug, PartialEq)]
pub struct IgAttribution<T: Element> {
    /// The attributions, the images' shape.
    pub attributions: Tensor<T>,
    /// Per image, `Σ attr − (f(x) − f(b))`.
    pub delta: Vec<f64>,
    /// Per image, `f(x) − f(b)`: the target logit's change along the path.
    pub change: Vec<f64>,
}

impl<T: Element> IntegratedGradients<T> {
    /// The attributions of each image's target logit (`images` `[N, ...]`, `targets[n]`).
    /// The `N · steps` points of the paths go through the model in chunks of 128.
    pub fn attribute<M: Module<T> + ?Sized>(
        &self,
        model: &M,
        images: &Tensor<T>,
        targets: &[usize],
    ) -> Result<IgAttribution<T>> {
        const F: &str = "IntegratedGradients::attribute";
        let n = check_batch(F, images, targets)?;
        let steps = self.steps;
        if steps < 2 {
            return Err(InterpretError::Setting {
                function: F,
                why: format!("steps = {steps}: the trapezoid rule needs at least 2 points"),
            });
        }
        let baseline = match &self.baseline {
            Baseline::Constant(v) => Tensor::full(images.shape(), T::from_f64(*v)),
            Baseline::Images(b) if b.shape() == images.shape() => b.clone(),
            Baseline::Images(b) => {
                return Err(InterpretError::Shape {
                    function: F,
                    shape: b.shape().to_vec(),
                    why: format!("the baseline must have the images' shape {:?}", images.shape()),
                });
            }
        };
        let per = images.numel() / n.max(1);
        let (x, b) = (images.as_slice(), baseline.as_slice());
        let alpha = |k: usize| k as f64 / (steps - 1) as f64;
        let weight = |k: usize| if k == 0 || k == steps - 1 { 0.5 } else { 1.0 } / (steps - 1) as f64;
        let mut shape = images.shape().to_vec();
        // Σ_k w_k · ∇f(b + α_k(x − b)), per image, and f at both ends.
        let mut path_sum = vec![0.0f64; images.numel()];
        let (mut f_x, mut f_b) = (vec![0.0; n], vec![0.0; n]);
        let total = n * steps;
        for start in (0..total).step_by(CHUNK) {
            let end = (start + CHUNK).min(total);
            let mut rows = Vec::with_capacity((end - start) * per);
            for r in start..end {
                let (img, a) = (r / steps, T::from_f64(alpha(r % steps)));
                let span = img * per..(img + 1) * per;
                rows.extend(
                    x[span.clone()]
                        .iter()
                        .zip(&b[span])
                        .map(|(&x, &b)| b + a * (x - b)),
                );
            }
            shape[0] = end - start;
            let row_targets: Vec<usize> = (start..end).map(|r| targets[r / steps]).collect();
            let rows = Tensor::from_vec(rows, &shape)?;
            let origin = (start, steps);
            let (grads, logits) = target_gradients(F, model, rows, &row_targets, origin, ReluRule::Gradient)?;
            for (i, r) in (start..end).enumerate() {
                let (img, k) = (r / steps, r % steps);
                let g = &grads.as_slice()[i * per..(i + 1) * per];
                let acc = &mut path_sum[img * per..(img + 1) * per];
                let w = weight(k);
                acc.iter_mut().zip(g).for_each(|(a, &g)| *a += w * g.to_f64());
                if k == 0 {
                    f_b[img] = logits[i];
                }
                if k == steps - 1 {
                    f_x[img] = logits[i];
                }
            }
        }
        let attributions: Vec<f64> = path_sum
            .iter()
            .zip(x.iter().zip(b))
            .map(|(&s, (&x, &b))| (x - b).to_f64() * s)
            .collect();
        let change: Vec<f64> = (0..n).map(|i| f_x[i] - f_b[i]).collect();
        let delta = (0..n)
            .map(|i| attributions[i * per..(i + 1) * per].iter().sum::<f64>() - change[i])
            .collect();
        Ok(IgAttribution {
            attributions: Tensor::from_vec(
                attributions.into_iter().map(T::from_f64).collect(),
                images.shape(),
            )?,
            delta,
            change,
        })
    }
}
