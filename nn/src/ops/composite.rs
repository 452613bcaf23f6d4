//! The ops built from autograd primitives only (pad, strided slices, concat,
//! reshape, matmul, max, sums), so their gradients come from the tape's generic rules rather
//! than the hand rules. Compare them with [`conv2d`](crate::ops::conv::conv2d),
//! [`max_pool2d`](crate::ops::pool::max_pool2d), [`avg_pool2d`](crate::ops::pool::avg_pool2d) and
//! [`dense`](crate::ops::dense::dense), [`batch_norm`](crate::ops::norm::batch_norm) and
//! [`global_avg_pool2d`](crate::ops::pool::global_avg_pool2d) to check the hand rules
//! yourself: forward values and gradients must agree.
//!
//! They are slow (one slice per kernel tap) and meant for checking, not training.

use crate::ops::conv::{Conv2dConfig, ConvGeometry};
use crate::ops::pool::{Pool2dConfig, PoolGeometry};
use autograd::{Element, Result, Tensor, Var};

/// The strided window of the padded input that kernel tap `(i, j)` reads for every output
/// position: rows `i·d_H, i·d_H + s_H, ..` (OH of them), likewise columns.
fn tap<'t, T: Element>(
    padded: &Var<'t, T>,
    (i, j): (usize, usize),
    (dh, dw): (usize, usize),
    (sh, sw): (usize, usize),
    (oh, ow): (usize, usize),
) -> Result<Var<'t, T>> {
    let rows = padded.slice(1, i * dh, i * dh + (oh - 1) * sh + 1, sh)?;
    rows.slice(2, j * dw, j * dw + (ow - 1) * sw + 1, sw)
}

/// Convolution from primitives: zero-pad, gather the `KH·KW` taps as strided slices, join
/// them along the channel axis into `B` (`[N, OH, OW, KH·KW·C_in]`, ordered like a kernel),
/// then `Z = B · Wᵀ + b` with one matmul.
pub fn conv2d<'t, T: Element>(
    x: &Var<'t, T>,
    w: &Var<'t, T>,
    b: Option<&Var<'t, T>>,
    cfg: Conv2dConfig,
) -> Result<Var<'t, T>> {
    let g = ConvGeometry::new("composite::conv2d", x.shape(), w.shape(), cfg)?;
    let (ph, pw) = cfg.padding;
    let padded = x.pad(&[(0, 0), (ph, ph), (pw, pw), (0, 0)], T::ZERO)?;
    let mut taps = Vec::with_capacity(g.kh * g.kw);
    for i in 0..g.kh {
        for j in 0..g.kw {
            taps.push(tap(&padded, (i, j), cfg.dilation, cfg.stride, (g.oh, g.ow))?);
        }
    }
    let b_mat = Var::concat(&taps.iter().collect::<Vec<_>>(), 3)?.reshape(&[g.rows(), g.patch()])?;
    let w_mat = w.reshape(&[g.c_out, g.patch()])?;
    let z = b_mat
        .matmul(&w_mat.transpose(0, 1)?)?
        .reshape(&g.output_shape())?;
    match b {
        Some(b) => z.try_add(b),
        None => Ok(z),
    }
}

/// The `f_H·f_W` windows' taps of a padded input, each `[N, OH, OW, C, 1]`, joined along a new
/// last axis.
fn stacked_windows<'t, T: Element>(padded: &Var<'t, T>, g: &PoolGeometry) -> Result<Var<'t, T>> {
    let mut taps = Vec::with_capacity(g.cfg.kernel.0 * g.cfg.kernel.1);
    for i in 0..g.cfg.kernel.0 {
        for j in 0..g.cfg.kernel.1 {
            let t = tap(padded, (i, j), (1, 1), g.cfg.stride, (g.oh, g.ow))?;
            taps.push(t.reshape(&[g.n, g.oh, g.ow, g.c, 1])?);
        }
    }
    Var::concat(&taps.iter().collect::<Vec<_>>(), 4)
}

fn pad_hw<'t, T: Element>(x: &Var<'t, T>, cfg: &Pool2dConfig, value: T) -> Result<Var<'t, T>> {
    let (ph, pw) = cfg.padding;
    x.pad(&[(0, 0), (ph, ph), (pw, pw), (0, 0)], value)
}

/// Max pooling from primitives: pad with `-∞`, stack the window taps, take the max.
pub fn max_pool2d<'t, T: Element>(x: &Var<'t, T>, cfg: Pool2dConfig) -> Result<Var<'t, T>> {
    let g = PoolGeometry::new("composite::max_pool2d", x.shape(), cfg)?;
    stacked_windows(&pad_hw(x, &cfg, T::NEG_INFINITY)?, &g)?.max_axis(4, false)
}

/// Average pooling from primitives: pad with zeros, stack the window taps, sum, divide by
/// `f_H·f_W` (`count_include_pad`) or by each window's count of real elements.
pub fn avg_pool2d<'t, T: Element>(
    x: &Var<'t, T>,
    cfg: Pool2dConfig,
    count_include_pad: bool,
) -> Result<Var<'t, T>> {
    let g = PoolGeometry::new("composite::avg_pool2d", x.shape(), cfg)?;
    let sums = stacked_windows(&pad_hw(x, &cfg, T::ZERO)?, &g)?.sum_axis(4, false)?;
    let divisor = if count_include_pad {
        Tensor::scalar(T::from_usize(cfg.kernel.0 * cfg.kernel.1))
    } else {
        // Count the real elements of each window by pooling a padded tensor of ones.
        let tape = autograd::Tape::<T>::no_grad();
        let ones = tape.constant(Tensor::ones(&[1, g.h, g.w, 1]));
        let count_g = PoolGeometry { n: 1, c: 1, ..g };
        stacked_windows(&pad_hw(&ones, &cfg, T::ZERO)?, &count_g)?
            .sum_axis(4, false)?
            .value()
            .clone()
    };
    sums.try_div(&x.constant_like(divisor))
}

/// The dense layer from primitives: `Z = A · W + b`.
pub fn dense<'t, T: Element>(a: &Var<'t, T>, w: &Var<'t, T>, b: Option<&Var<'t, T>>) -> Result<Var<'t, T>> {
    let z = a.matmul(w)?;
    match b {
        Some(b) => z.try_add(b),
        None => Ok(z),
    }
}

/// Batch normalisation over the last axis from primitives: means over every other axis,
/// `x̂ = (x − μ) / √(σ² + ε)`, `y = γ · x̂ + β`, with the batch's mean and biased variance
/// (differentiated through by the tape) or, with `running = Some((μ, σ²))`, constants.
pub fn batch_norm<'t, T: Element>(
    x: &Var<'t, T>,
    gamma: &Var<'t, T>,
    beta: &Var<'t, T>,
    running: Option<(&Tensor<T>, &Tensor<T>)>,
    eps: f64,
) -> Result<Var<'t, T>> {
    let axes: Vec<usize> = (0..x.shape().len().saturating_sub(1)).collect();
    let (centred, var) = match running {
        None => {
            let centred = x.try_sub(&x.mean_axes(&axes, true)?)?;
            let var = centred.try_mul(&centred)?.mean_axes(&axes, true)?;
            (centred, var)
        }
        Some((mean, var)) => (
            x.try_sub(&x.constant_like(mean.clone()))?,
            x.constant_like(var.clone()),
        ),
    };
    let sigma = var.add_scalar(T::from_f64(eps)).sqrt();
    centred.try_div(&sigma)?.try_mul(gamma)?.try_add(beta)
}

/// Global average pooling from primitives: the mean over the two spatial axes.
pub fn global_avg_pool2d<'t, T: Element>(x: &Var<'t, T>) -> Result<Var<'t, T>> {
    x.mean_axes(&[1, 2], false)
}
