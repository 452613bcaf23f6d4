//! The lecture's per-position loops in `f64` (`docs/lecture.md`): each rule a few plain lines,
//! written for reading and as the oracle the fast paths are tested against. Nothing here is
//! fast, blocked or vectorised; every loop runs over output positions `ij` (and the batch)
//! exactly as the formula in its doc.
//!
//! Layouts are the crate's: `x` / `A^[l-1]` `[N, H, W, C_in]`, `W` `[C_out, f_H, f_W, C_in]`,
//! `Z` / `dZ` `[N, OH, OW, C_out]`; pooling works on `[N, H, W, C]`, each channel apart.
//!
//! ```
//! use autograd::Tensor;
//! use nn::ops::conv::{Conv2dConfig, ConvGeometry};
//! use nn::ops::reference;
//! // A 3x3 input, one 2x2 kernel, stride 1, no padding.
//! let x = Tensor::from_vec((1..=9).map(f64::from).collect(), &[1, 3, 3, 1]).unwrap();
//! let w = Tensor::from_vec(vec![1.0, 0.0, 0.0, -1.0], &[1, 2, 2, 1]).unwrap();
//! let g = ConvGeometry::new("conv2d", x.shape(), w.shape(), Conv2dConfig::new()).unwrap();
//! let z = reference::conv2d(&x, &w, Some(&[0.5]), &g);
//! // Z_ij = x_ij - x_(i+1)(j+1) + b = -4 + 0.5 everywhere.
//! assert_eq!(z.to_vec(), vec![-3.5; 4]);
//! ```

use crate::ops::conv::ConvGeometry;
use crate::ops::pool::PoolGeometry;
use autograd::Tensor;

/// The input position tap `(kh, kw)` of output position `(i, j)` reads, or `None` in the
/// padding: `(i·s - p + kh·d, j·s - p + kw·d)`.
fn tap(g: &ConvGeometry, i: usize, j: usize, kh: usize, kw: usize) -> Option<(usize, usize)> {
    let (s, p, d) = (g.cfg.stride, g.cfg.padding, g.cfg.dilation);
    let r = (i * s.0 + kh * d.0).checked_sub(p.0)?;
    let c = (j * s.1 + kw * d.1).checked_sub(p.1)?;
    (r < g.h && c < g.w).then_some((r, c))
}

/// Every `(n, i, j)` output position of a convolution, then every tap `(kh, kw, ci)` of its
/// slice `B_ij`, with the input position it reads, `None` in the padding:
/// `f(n, i, j, kh, kw, ci, (r, c))`.
fn for_each_tap(
    g: &ConvGeometry,
    mut f: impl FnMut(usize, usize, usize, usize, usize, usize, Option<(usize, usize)>),
) {
    for n in 0..g.n {
        for i in 0..g.oh {
            for j in 0..g.ow {
                for kh in 0..g.kh {
                    for kw in 0..g.kw {
                        let rc = tap(g, i, j, kh, kw);
                        for ci in 0..g.c_in {
                            f(n, i, j, kh, kw, ci, rc);
                        }
                    }
                }
            }
        }
    }
}

/// The input element a tap reads: 0 in the padding (zero padding, as PyTorch pads: a padded
/// tap still multiplies, so `0 · ∞ = NaN` reaches the output).
fn read(x: &Tensor<f64>, n: usize, rc: Option<(usize, usize)>, ci: usize) -> f64 {
    rc.map_or(0.0, |(r, c)| at(x, [n, r, c, ci]))
}

fn at(t: &Tensor<f64>, index: [usize; 4]) -> f64 {
    let s = t.shape();
    t.as_slice()[((index[0] * s[1] + index[1]) * s[2] + index[2]) * s[3] + index[3]]
}

fn at_mut(t: &mut Tensor<f64>, index: [usize; 4]) -> &mut f64 {
    let s = t.shape().to_vec();
    &mut t.as_mut_slice()[((index[0] * s[1] + index[1]) * s[2] + index[2]) * s[3] + index[3]]
}

/// Forward: `Z_ijc = Σ B_ij ⊙ W_c + b_c`, the sum over the slice's taps `(kh, kw, ci)`
/// (padded taps reading 0).
pub fn conv2d(x: &Tensor<f64>, w: &Tensor<f64>, b: Option<&[f64]>, g: &ConvGeometry) -> Tensor<f64> {
    let mut z = Tensor::zeros(&g.output_shape());
    for_each_tap(g, |n, i, j, kh, kw, ci, rc| {
        for co in 0..g.c_out {
            *at_mut(&mut z, [n, i, j, co]) += read(x, n, rc, ci) * at(w, [co, kh, kw, ci]);
        }
    });
    if let Some(b) = b {
        for (v, co) in z.as_mut_slice().iter_mut().zip((0..g.c_out).cycle()) {
            *v += b[co];
        }
    }
    z
}

/// Input rule: `dZ_slice(ij) += Σ_c dZ_ijc · W_c`, each output position adding its kernels,
/// weighted by its gradients, back onto the input slice it read (the padding dropped).
pub fn conv2d_input_grad(w: &Tensor<f64>, dz: &Tensor<f64>, g: &ConvGeometry) -> Tensor<f64> {
    let mut dx = Tensor::zeros(&[g.n, g.h, g.w, g.c_in]);
    for_each_tap(g, |n, i, j, kh, kw, ci, rc| {
        let Some((r, c)) = rc else { return };
        for co in 0..g.c_out {
            *at_mut(&mut dx, [n, r, c, ci]) += at(dz, [n, i, j, co]) * at(w, [co, kh, kw, ci]);
        }
    });
    dx
}

/// Kernel rule: `dW_c = Σ_ij dZ_ijc · B_ij`, over every output position of every sample
/// (padded taps of `B_ij` reading 0).
pub fn conv2d_weight_grad(x: &Tensor<f64>, dz: &Tensor<f64>, g: &ConvGeometry) -> Tensor<f64> {
    let mut dw = Tensor::zeros(&[g.c_out, g.kh, g.kw, g.c_in]);
    for_each_tap(g, |n, i, j, kh, kw, ci, rc| {
        for co in 0..g.c_out {
            *at_mut(&mut dw, [co, kh, kw, ci]) += at(dz, [n, i, j, co]) * read(x, n, rc, ci);
        }
    });
    dw
}

/// Bias rule: `db_c = Σ_ij dZ_ijc`, over every output position of every sample.
pub fn conv2d_bias_grad(dz: &Tensor<f64>) -> Vec<f64> {
    let c_out = dz.shape()[3];
    let mut db = vec![0.0; c_out];
    for (v, co) in dz.as_slice().iter().zip((0..c_out).cycle()) {
        db[co] += v;
    }
    db
}

/// The input positions of pooling window `(i, j)` that lie inside the image, row by row.
fn window(g: &PoolGeometry, i: usize, j: usize) -> impl Iterator<Item = (usize, usize)> {
    let (f, s, p) = (g.cfg.kernel, g.cfg.stride, g.cfg.padding);
    let rows = (i * s.0..i * s.0 + f.0).filter_map(move |r| r.checked_sub(p.0).filter(|&r| r < g.h));
    rows.flat_map(move |r| {
        (j * s.1..j * s.1 + f.1).filter_map(move |c| c.checked_sub(p.1).filter(|&c| c < g.w).map(|c| (r, c)))
    })
}

/// Every `(n, i, j, ch)` output of a pooling.
fn for_each_output(g: &PoolGeometry, mut f: impl FnMut(usize, usize, usize, usize)) {
    for n in 0..g.n {
        for i in 0..g.oh {
            for j in 0..g.ow {
                for ch in 0..g.c {
                    f(n, i, j, ch);
                }
            }
        }
    }
}

/// Max pooling, forward and backward: `Z_ijc = max` of window `ij` of channel `c`, and
/// `dA = Σ_ij dZ_ijc · M_ij` with the mask `M_ij` 1 at the window's argmax (the first maximum
/// in row-major window order; a NaN takes over, a later NaN too, as in PyTorch) and 0
/// elsewhere. Returns `(Z, dA)`.
pub fn max_pool2d(x: &Tensor<f64>, dz: &Tensor<f64>, g: &PoolGeometry) -> (Tensor<f64>, Tensor<f64>) {
    let mut z = Tensor::zeros(&g.output_shape());
    let mut dx = Tensor::zeros(x.shape());
    for_each_output(g, |n, i, j, ch| {
        let mut best: Option<((usize, usize), f64)> = None;
        for (r, c) in window(g, i, j) {
            let v = at(x, [n, r, c, ch]);
            if best.is_none_or(|(_, b)| v > b || v.is_nan()) {
                best = Some(((r, c), v));
            }
        }
        let ((r, c), v) = best.expect("every window holds an input element");
        *at_mut(&mut z, [n, i, j, ch]) = v;
        *at_mut(&mut dx, [n, r, c, ch]) += at(dz, [n, i, j, ch]);
    });
    (z, dx)
}

/// Average pooling, forward and backward: `Z_ijc` is the window's sum over its divisor, and
/// `dA = dZ ⊗ M` with `M = 1/divisor` over the window (overlapping windows add up). The
/// divisor is `f_H·f_W`, or with `count_include_pad` false the number of the window's
/// elements inside the image. Returns `(Z, dA)`.
pub fn avg_pool2d(
    x: &Tensor<f64>,
    dz: &Tensor<f64>,
    g: &PoolGeometry,
    count_include_pad: bool,
) -> (Tensor<f64>, Tensor<f64>) {
    let mut z = Tensor::zeros(&g.output_shape());
    let mut dx = Tensor::zeros(x.shape());
    for_each_output(g, |n, i, j, ch| {
        let divisor = if count_include_pad {
            (g.cfg.kernel.0 * g.cfg.kernel.1) as f64
        } else {
            window(g, i, j).count() as f64
        };
        let sum: f64 = window(g, i, j).map(|(r, c)| at(x, [n, r, c, ch])).sum();
        *at_mut(&mut z, [n, i, j, ch]) = sum / divisor;
        let d = at(dz, [n, i, j, ch]) / divisor;
        for (r, c) in window(g, i, j) {
            *at_mut(&mut dx, [n, r, c, ch]) += d;
        }
    });
    (z, dx)
}

/// Dense forward: `Z_nj = Σ_i A_ni · W_ij + b_j`, `A` `[N, In]`, `W` `[In, Out]`.
pub fn dense(a: &Tensor<f64>, w: &Tensor<f64>, b: Option<&[f64]>) -> Tensor<f64> {
    let (n, inputs, outputs) = (a.shape()[0], a.shape()[1], w.shape()[1]);
    let (av, wv) = (a.as_slice(), w.as_slice());
    Tensor::from_fn(&[n, outputs], |k| {
        let (row, j) = (k / outputs, k % outputs);
        let dot: f64 = (0..inputs)
            .map(|i| av[row * inputs + i] * wv[i * outputs + j])
            .sum();
        dot + b.map_or(0.0, |b| b[j])
    })
}

/// ReLU as PyTorch defines it (`clamp_min(z, 0)`): `max(z, 0)`, a NaN staying NaN.
pub fn relu(z: &Tensor<f64>) -> Tensor<f64> {
    z.map(|v| if v.is_nan() { v } else { v.max(0.0) })
}

/// ReLU's backward as PyTorch computes it from the output `A` (`threshold_backward`):
/// `dZ = 0` where `A <= 0`, else `dA`; a NaN output passes its gradient.
pub fn relu_backward(a: &Tensor<f64>, da: &Tensor<f64>) -> Tensor<f64> {
    let (av, dv) = (a.as_slice(), da.as_slice());
    Tensor::from_fn(a.shape(), |i| if av[i] <= 0.0 { 0.0 } else { dv[i] })
}

/// Dense backward: `dA = dZ · Wᵀ` and `dW = Aᵀ · dZ`, as plain sums. Returns `(dA, dW)`.
pub fn dense_grads(a: &Tensor<f64>, w: &Tensor<f64>, dz: &Tensor<f64>) -> (Tensor<f64>, Tensor<f64>) {
    let (n, inputs, outputs) = (a.shape()[0], a.shape()[1], w.shape()[1]);
    let (av, wv, dv) = (a.as_slice(), w.as_slice(), dz.as_slice());
    let da = Tensor::from_fn(&[n, inputs], |k| {
        let (row, i) = (k / inputs, k % inputs);
        (0..outputs)
            .map(|j| dv[row * outputs + j] * wv[i * outputs + j])
            .sum()
    });
    let dw = Tensor::from_fn(&[inputs, outputs], |k| {
        let (i, j) = (k / outputs, k % outputs);
        (0..n)
            .map(|row| av[row * inputs + i] * dv[row * outputs + j])
            .sum()
    });
    (da, dw)
}
