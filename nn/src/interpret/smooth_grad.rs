//! SmoothGrad (Smilkov et al. 2017): the mean of an attribution over noisy copies of the
//! image, `(1/S) Σ_s attr(x + ε_s)` with `ε_s ~ N(0, σ²)` and `σ` a fraction of the image's
//! value range (`σ = sigma · (max x − min x)`), as captum's `NoiseTunnel(..., nt_type="smoothgrad")`.

use super::attribution::{Method, target_gradients};
use super::error::{InterpretError, Result};
use super::input::{CHUNK, check_batch};
use crate::data::transforms::sample_rng;
use crate::layers::Module;
use autograd::{Element, Tensor};
use rand_distr::{Distribution, Normal};

/// SmoothGrad over `samples` noisy copies of each image.
///
/// ```
/// use autograd::Tensor;
/// use nn::interpret::{Method, SmoothGrad};
/// use nn::layers::{Dense, Sequential};
/// // A linear model's gradient does not depend on the input: the noise averages to it.
/// let w = Tensor::from_vec(vec![2.0, -1.0], &[2, 1]).unwrap();
/// let model = Sequential::<f64>::new().add("fc", Dense::from_tensors(w, None).unwrap());
/// let sg = SmoothGrad { samples: 8, sigma: 0.2, seed: 1, method: Method::Gradient };
/// let x = Tensor::from_vec(vec![3.0, 4.0], &[1, 2]).unwrap();
/// assert_eq!(sg.attribute(&model, &x, &[0]).unwrap().to_vec(), [2.0, -1.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmoothGrad {
    /// The number of noisy copies `S` per image (at least 1).
    pub samples: usize,
    /// The noise's standard deviation as a fraction of each image's value range.
    pub sigma: f64,
    /// Seeds the noise: copy `s` of image `n` draws from `sample_rng(seed, n, s)`, so the
    /// result does not depend on how the copies are chunked.
    pub seed: u64,
    /// The attribution averaged (the gradient, for SmoothGrad proper).
    pub method: Method,
}

impl SmoothGrad {
    /// The smoothed attributions of each image's target logit, the images' shape.
    pub fn attribute<T: Element, M: Module<T> + ?Sized>(
        &self,
        model: &M,
        images: &Tensor<T>,
        targets: &[usize],
    ) -> Result<Tensor<T>> {
        const F: &str = "SmoothGrad::attribute";
        let n = check_batch(F, images, targets)?;
        let s = self.samples;
        if s == 0 || !(self.sigma >= 0.0 && self.sigma.is_finite()) {
            return Err(InterpretError::Setting {
                function: F,
                why: format!(
                    "samples = {s} must be positive and sigma = {} finite, >= 0",
                    self.sigma
                ),
            });
        }
        let per = images.numel() / n.max(1);
        let x = images.as_slice();
        let std: Vec<f64> = x
            .chunks(per.max(1))
            .map(|img| {
                let (lo, hi) = img
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                        (lo.min(v.to_f64()), hi.max(v.to_f64()))
                    });
                self.sigma * (hi - lo).max(0.0)
            })
            .collect();
        let mut sum = vec![0.0f64; images.numel()];
        let mut shape = images.shape().to_vec();
        let total = n * s;
        for start in (0..total).step_by(CHUNK) {
            let end = (start + CHUNK).min(total);
            let mut rows = Vec::with_capacity((end - start) * per);
            for r in start..end {
                let img = r / s;
                let mut rng = sample_rng(self.seed, img as u64, (r % s) as u64);
                let noise = Normal::new(0.0, std[img]).map_err(|e| InterpretError::Setting {
                    function: F,
                    why: e.to_string(),
                })?;
                let pixels = &x[img * per..(img + 1) * per];
                rows.extend(pixels.iter().map(|&v| v + T::from_f64(noise.sample(&mut rng))));
            }
            shape[0] = end - start;
            let row_targets: Vec<usize> = (start..end).map(|r| targets[r / s]).collect();
            let rows = Tensor::from_vec(rows, &shape)?;
            let (grads, _) =
                target_gradients(F, model, rows, &row_targets, (start, s), self.method.relu_rule())?;
            for (i, r) in (start..end).enumerate() {
                let img = r / s;
                let g = &grads.as_slice()[i * per..(i + 1) * per];
                let acc = &mut sum[img * per..(img + 1) * per];
                acc.iter_mut().zip(g).for_each(|(a, &g)| *a += g.to_f64());
            }
        }
        let mean = sum.into_iter().map(|v| T::from_f64(v / s as f64)).collect();
        Ok(Tensor::from_vec(mean, images.shape())?)
    }
}
