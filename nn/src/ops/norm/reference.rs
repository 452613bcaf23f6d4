//! Batch normalisation written out per position in `f64`, straight from the formulas of the
//! [module](super) (two passes for the statistics, no shift, no threads): the oracle the op
//! is tested against.

use autograd::Tensor;

/// What [`batch_norm`] computes: the output and the three gradients, with the statistics
/// used.
#[derive(Clone, Debug)]
pub struct BatchNormReference {
    /// `y = γ · x̂ + β`.
    pub y: Tensor<f64>,
    /// `dL/dx`.
    pub dx: Tensor<f64>,
    /// `dL/dγ`.
    pub dgamma: Vec<f64>,
    /// `dL/dβ`.
    pub dbeta: Vec<f64>,
    /// `μ_c` used.
    pub mean: Vec<f64>,
    /// `σ²_c` used (biased, in training).
    pub var: Vec<f64>,
}

/// The forward pass and the vector-Jacobian product with `dy` of batch normalisation over
/// the last axis of `x`: with the batch's statistics when `running` is `None` (training),
/// else with `running = (mean, var)`.
pub fn batch_norm(
    x: &Tensor<f64>,
    gamma: &[f64],
    beta: &[f64],
    running: Option<(&[f64], &[f64])>,
    eps: f64,
    dy: &Tensor<f64>,
) -> BatchNormReference {
    let c = *x.shape().last().expect("rank >= 1");
    let m = x.numel() / c;
    let (xs, gs) = (x.as_slice(), dy.as_slice());
    let at = |p: usize, ch: usize| p * c + ch;
    let (mean, var): (Vec<f64>, Vec<f64>) = match running {
        Some((rm, rv)) => (rm.to_vec(), rv.to_vec()),
        None => (0..c)
            .map(|ch| {
                let mu = (0..m).map(|p| xs[at(p, ch)]).sum::<f64>() / m as f64;
                let v = (0..m).map(|p| (xs[at(p, ch)] - mu).powi(2)).sum::<f64>() / m as f64;
                (mu, v)
            })
            .unzip(),
    };
    let mut y = vec![0.0; x.numel()];
    let mut dx = vec![0.0; x.numel()];
    let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
    for ch in 0..c {
        let sigma = (var[ch] + eps).sqrt();
        let xhat = |p: usize| (xs[at(p, ch)] - mean[ch]) / sigma;
        for p in 0..m {
            y[at(p, ch)] = gamma[ch] * xhat(p) + beta[ch];
            dbeta[ch] += gs[at(p, ch)];
            dgamma[ch] += gs[at(p, ch)] * xhat(p);
        }
        for p in 0..m {
            let g = gs[at(p, ch)];
            dx[at(p, ch)] = if running.is_some() {
                gamma[ch] / sigma * g
            } else {
                gamma[ch] / sigma * (g - dbeta[ch] / m as f64 - xhat(p) * dgamma[ch] / m as f64)
            };
        }
    }
    BatchNormReference {
        y: Tensor::from_vec(y, x.shape()).expect("shape"),
        dx: Tensor::from_vec(dx, x.shape()).expect("shape"),
        dgamma,
        dbeta,
        mean,
        var,
    }
}
