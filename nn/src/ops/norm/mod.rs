//! Batch normalisation over the last axis (the channels of an NHWC image, the features of a
//! dense layer's `[N, C]` output), as a custom op with the closed-form backward rule.
//!
//! Per channel `c`, over its `m` positions (`m = N·H·W` for an image), with `ε` > 0:
//!
//! | | training | evaluation |
//! |---|---|---|
//! | `μ_c`, `σ²_c` | the batch's mean and **biased** variance `(1/m) Σ (x − μ_c)²` | the running statistics |
//! | forward | `x̂ = (x − μ_c) / σ_c`, `σ_c = √(σ²_c + ε)`, `y = γ_c · x̂ + β_c` | the same |
//! | `dβ_c`, `dγ_c` | `Σ dy`, `Σ dy · x̂` | the same |
//! | `dx` | `(γ_c / σ_c) · (dy − dβ_c / m − x̂ · dγ_c / m)` | `(γ_c / σ_c) · dy` |
//!
//! The training rule is what differentiating through `μ_c` and `σ²_c` (functions of every
//! `x` of the channel) gives: with `mean(·)` over the channel's positions,
//! `dx = (γ / σ) · (dy − mean(dy) − x̂ · mean(dy · x̂))`. In evaluation the statistics are
//! constants and the op is an affine map per channel.
//!
//! The running statistics follow PyTorch: after a training step,
//! `running_mean ← (1 − momentum) · running_mean + momentum · μ` and
//! `running_var ← (1 − momentum) · running_var + momentum · σ² · m / (m − 1)` (the
//! **unbiased** variance), which [`Moments`] gives to the layer ([`BatchNorm2d`](crate::layers::BatchNorm2d)).
//!
//! An activation `σ` can follow inside the op (`A = σ(y)`, ReLU in a ResNet), saving a
//! pass over the output each way, as conv and dense layers do; backward then starts from
//! `dy = σ'(·) ∘ dA`, read from the saved `A`.
//!
//! How the work is done: one pass over `x` for the moments (shifted by the first row, in
//! `f64`), one for the output; backward one pass for `dβ`, `dγ` and one for `dx`; each
//! split into fixed parts of rows across the threads (`channels`). The per-position loops
//! are in [`reference`](mod@reference), the oracle of the tests.

mod channels;
pub mod reference;

use crate::ops::activation::Activation;
use autograd::runtime::buffer;
use autograd::{BackwardContext, CustomOp, Element, Error, Result, Saved, Tensor, Var};
use channels::{add_column_pairs, add_shifted_moments, channel_sums, map_rows};

/// A channel's statistics over a batch: mean and biased variance, with the count `m`.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    /// `μ_c` per channel.
    pub mean: Vec<f64>,
    /// `σ²_c = (1/m) Σ (x − μ_c)²` per channel (the biased variance).
    pub var: Vec<f64>,
    /// `m`, the positions per channel.
    pub count: usize,
}

impl Moments {
    /// The mean and biased variance per channel (the last axis) of `x`, in one pass.
    ///
    /// ```
    /// use autograd::Tensor;
    /// use nn::ops::norm::Moments;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 10.0, 3.0, 30.0], &[2, 2]).unwrap();
    /// let m = Moments::of(&x).unwrap();
    /// assert_eq!(m.unbiased_var(), vec![2.0, 200.0]);
    /// assert_eq!((m.mean, m.var, m.count), (vec![2.0, 20.0], vec![1.0, 100.0], 2));
    /// ```
    pub fn of<T: Element>(x: &Tensor<T>) -> Result<Moments> {
        let c = channels("batch_norm", x.shape())?;
        let rows = x.numel() / c;
        let xs = x.as_slice();
        let shift: Vec<f64> = if rows == 0 {
            vec![0.0; c]
        } else {
            xs[..c].iter().map(|v| v.to_f64()).collect()
        };
        let s = channel_sums(
            rows,
            c,
            2,
            #[inline(always)]
            |r, acc| add_shifted_moments(xs, c, &shift, r, acc),
        );
        let m = rows as f64;
        let mean = (0..c).map(|i| shift[i] + s[i] / m).collect();
        let var = (0..c)
            .map(|i| ((s[c + i] - s[i] * s[i] / m) / m).max(0.0))
            .collect();
        Ok(Moments {
            mean,
            var,
            count: rows,
        })
    }

    /// `σ²_c · m / (m − 1)`, the unbiased variance that updates the running variance.
    pub fn unbiased_var(&self) -> Vec<f64> {
        let m = self.count as f64;
        self.var.iter().map(|v| v * m / (m - 1.0)).collect()
    }
}

/// The number of channels (the last axis) of a tensor batch norm accepts.
fn channels(op: &str, shape: &[usize]) -> Result<usize> {
    match shape.last() {
        Some(&c) if shape.len() >= 2 && c > 0 => Ok(c),
        _ => Err(Error::invalid(
            op,
            shape,
            "the input must have a batch axis and a non-empty channel axis last ([N, C] or [N, H, W, C])",
        )),
    }
}

/// Which statistics normalise: the batch's own (training) or given ones (evaluation).
#[derive(Clone, Debug)]
pub enum Statistics {
    /// The batch's own moments, differentiated through; `m ≥ 2` is required.
    Batch,
    /// Fixed statistics (the running ones), constants of the op.
    Running {
        /// `μ_c`.
        mean: Vec<f64>,
        /// `σ²_c`.
        var: Vec<f64>,
    },
}

/// Batch normalisation as a [`CustomOp`]: inputs `x`, `γ`, `β`; see the [module](self)
/// for the rules.
pub struct BatchNormOp<T: Element> {
    statistics: Statistics,
    eps: f64,
    activation: Activation,
    /// The moments used (set by the forward pass, or before it by [`batch_norm`]), `1/σ_c`
    /// and `γ_c / σ_c`.
    moments: Option<Moments>,
    inv_sigma: Vec<f64>,
    scale: Vec<T>,
}

impl<T: Element> BatchNormOp<T> {
    /// An op normalising with `statistics` and `eps`, followed by `activation`.
    pub fn new(statistics: Statistics, eps: f64, activation: Activation) -> Self {
        BatchNormOp {
            statistics,
            eps,
            activation,
            moments: None,
            inv_sigma: Vec::new(),
            scale: Vec::new(),
        }
    }

    fn training(&self) -> bool {
        matches!(self.statistics, Statistics::Batch)
    }
}

impl<T: Element> CustomOp<T> for BatchNormOp<T> {
    fn name(&self) -> &str {
        "batch_norm"
    }

    /// `A = σ(γ_c · (x − μ_c) / σ_c + β_c)`.
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let (x, gamma, beta) = (inputs[0], inputs[1], inputs[2]);
        let c = channels("batch_norm", x.shape())?;
        for (what, t) in [("gamma", gamma), ("beta", beta)] {
            if t.shape() != [c] {
                let why = format!("{what} must be [{c}], one per channel");
                return Err(Error::shapes("batch_norm", x.shape(), t.shape(), why));
            }
        }
        if self.eps.is_nan() || self.eps < 0.0 {
            return Err(Error::invalid(
                "batch_norm",
                x.shape(),
                format!("eps {} is not a non-negative number", self.eps),
            ));
        }
        let rows = x.numel() / c;
        let moments = match &self.statistics {
            Statistics::Batch if rows < 2 => {
                return Err(Error::invalid(
                    "batch_norm",
                    x.shape(),
                    format!("training needs more than one value per channel, got {rows}"),
                ));
            }
            Statistics::Batch => match self.moments.take() {
                // Computed by `batch_norm` from this very `x`.
                Some(m) if m.count == rows && m.mean.len() == c => m,
                _ => Moments::of(x)?,
            },
            Statistics::Running { mean, var } => {
                if mean.len() != c || var.len() != c {
                    let why = format!("the running statistics must have {c} values, one per channel");
                    return Err(Error::shapes(
                        "batch_norm",
                        x.shape(),
                        &[mean.len(), var.len()],
                        why,
                    ));
                }
                Moments {
                    mean: mean.clone(),
                    var: var.clone(),
                    count: rows,
                }
            }
        };
        self.inv_sigma = moments.var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        let (g, b) = (gamma.as_slice(), beta.as_slice());
        self.scale = (0..c)
            .map(|i| T::from_f64(g[i].to_f64() * self.inv_sigma[i]))
            .collect();
        let shift: Vec<T> = (0..c)
            .map(|i| T::from_f64(b[i].to_f64() - moments.mean[i] * g[i].to_f64() * self.inv_sigma[i]))
            .collect();
        let xs = x.as_slice();
        let mut y = buffer::take_dirty::<T>(x.numel());
        let (scale, act) = (&self.scale, self.activation);
        map_rows(
            &mut y,
            c,
            #[inline(always)]
            |r, out| {
                for (row, xrow) in out
                    .chunks_exact_mut(c)
                    .zip(xs[r.start * c..r.end * c].chunks_exact(c))
                {
                    for ((o, &v), (&k, &s)) in row.iter_mut().zip(xrow).zip(scale.iter().zip(&shift)) {
                        *o = v * k + s;
                    }
                }
                act.apply(out);
            },
        );
        let y = Tensor::from_vec(y, x.shape())?;
        if saved.is_recording() {
            saved.save(x.clone());
            if act != Activation::Identity {
                saved.save(y.clone());
            }
        }
        self.moments = Some(moments);
        Ok(y)
    }

    fn backward(&self, saved: &Saved<T>, da: &Tensor<T>, needs: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        self.backward_with_context(&BackwardContext::default(), saved, da, needs)
    }

    /// `dy = σ'(·) ∘ dA` (under the pass's ReLU rule), then `dβ`, `dγ` and `dx` as in the
    /// [module](self)'s table.
    fn backward_with_context(
        &self,
        ctx: &BackwardContext,
        saved: &Saved<T>,
        da: &Tensor<T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<T>>>> {
        let moments = self.moments.as_ref().expect("forward ran");
        let x = saved.get(0);
        let c = self.scale.len();
        let rows = x.numel() / c;
        let xs = x.as_slice();
        let das = da.as_slice();
        // dy: dA itself, or σ'(·) ∘ dA in the buffer that becomes dx.
        let mut dx = buffer::take_dirty::<T>(x.numel());
        let masked = self.activation != Activation::Identity;
        if masked {
            let (act, a) = (self.activation, saved.get(1).as_slice());
            map_rows(
                &mut dx,
                c,
                #[inline(always)]
                |r, out| {
                    let span = r.start * c..r.end * c;
                    act.backprop_with(ctx.relu_rule, &a[span.clone()], &das[span], out)
                },
            );
        }
        let mean = &moments.mean;
        // Σ dy and Σ dy · (x − μ), per channel.
        let dys: &[T] = if masked { &dx } else { das };
        let sums = channel_sums(
            rows,
            c,
            2,
            #[inline(always)]
            |r, acc| add_column_pairs(dys, xs, c, mean, r, acc, |d, xv, mu| (d, d * (xv - mu))),
        );
        let dbeta: Vec<f64> = sums[..c].to_vec();
        let dgamma: Vec<f64> = (0..c).map(|i| sums[c + i] * self.inv_sigma[i]).collect();
        if needs[0] {
            let m = rows as f64;
            // dx = k·dy + a·(x − μ) + b, k = γ/σ; in training a = −k·dγ/(m·σ), b = −k·dβ/m.
            let (a, b): (Vec<T>, Vec<T>) = (0..c)
                .map(|i| {
                    if !self.training() {
                        return (T::ZERO, T::ZERO);
                    }
                    let k = self.scale[i].to_f64();
                    (
                        T::from_f64(-k * dgamma[i] * self.inv_sigma[i] / m),
                        T::from_f64(-k * dbeta[i] / m),
                    )
                })
                .unzip();
            let mu: Vec<T> = mean.iter().map(|&v| T::from_f64(v)).collect();
            let scale = &self.scale;
            map_rows(
                &mut dx,
                c,
                #[inline(always)]
                |r, out| {
                    let span = r.start * c..r.end * c;
                    let (xr, dr) = (&xs[span.clone()], &das[span]);
                    let (kk, aa, bb, mm) = (&scale[..c], &a[..c], &b[..c], &mu[..c]);
                    // dy is in `out` after the activation's mask, else in dA; two loops, so
                    // that each is a plain vector loop.
                    if masked {
                        for (orow, xrow) in out.chunks_exact_mut(c).zip(xr.chunks_exact(c)) {
                            let (orow, xrow) = (&mut orow[..c], &xrow[..c]);
                            for j in 0..c {
                                orow[j] = kk[j] * orow[j] + aa[j] * (xrow[j] - mm[j]) + bb[j];
                            }
                        }
                    } else {
                        let rows = out
                            .chunks_exact_mut(c)
                            .zip(xr.chunks_exact(c).zip(dr.chunks_exact(c)));
                        for (orow, (xrow, drow)) in rows {
                            let (orow, xrow, drow) = (&mut orow[..c], &xrow[..c], &drow[..c]);
                            for j in 0..c {
                                orow[j] = kk[j] * drow[j] + aa[j] * (xrow[j] - mm[j]) + bb[j];
                            }
                        }
                    }
                },
            );
        }
        let to_tensor = |v: &[f64]| Tensor::from_vec(v.iter().map(|&s| T::from_f64(s)).collect(), &[c]);
        Ok(vec![
            if needs[0] {
                Some(Tensor::from_vec(dx, x.shape())?)
            } else {
                None
            },
            if needs[1] { Some(to_tensor(&dgamma)?) } else { None },
            if needs[2] { Some(to_tensor(&dbeta)?) } else { None },
        ])
    }
}

/// Batch normalisation of `x` (channels last: `[N, C]` or `[N, H, W, C]`) with scale `γ`
/// and shift `β` (`[C]` each), then `activation`. With [`Statistics::Batch`] it returns the
/// batch's [`Moments`] too, for updating running statistics.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::activation::Activation;
/// use nn::ops::norm::{Statistics, batch_norm};
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![1.0, 3.0], &[2, 1]).unwrap());
/// let (g, b) = (tape.var(Tensor::ones(&[1])), tape.var(Tensor::zeros(&[1])));
/// let (y, moments) = batch_norm(&x, &g, &b, Statistics::Batch, 0.0, Activation::Identity).unwrap();
/// assert_eq!(y.value().to_vec(), vec![-1.0, 1.0]); // mean 2, biased variance 1
/// assert_eq!(moments.unwrap().unbiased_var(), vec![2.0]);
/// ```
pub fn batch_norm<'t, T: Element>(
    x: &Var<'t, T>,
    gamma: &Var<'t, T>,
    beta: &Var<'t, T>,
    statistics: Statistics,
    eps: f64,
    activation: Activation,
) -> Result<(Var<'t, T>, Option<Moments>)> {
    let mut op = BatchNormOp::new(statistics, eps, activation);
    if op.training() {
        op.moments = Some(Moments::of(x.value())?);
    }
    let moments = op.moments.clone();
    Ok((Var::apply(op, &[x, gamma, beta])?, moments))
}
