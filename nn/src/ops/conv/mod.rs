//! 2-D convolution, channels-last, as a custom op whose backward is the lecture's hand rule
//! (`docs/lecture.md#convolution-backward`).
//!
//! Notation (the lecture's): the input `A^[l-1]` is `[N, H, W, C_in]`, the kernel `W^[l]` is
//! `[C_out, f_H, f_W, C_in]`, `p` is the zero padding, `s` the stride, and `Z^[l]` is
//! `[N, OH, OW, C_out]`. `B_ij` is the input slice that output position `ij` reads: its
//! `f_H · f_W · C_in` values, ordered `(kh, kw, ci)` like a kernel `W_c`.
//!
//! With one row per output position (im2col), the slices stack into a matrix
//! `B` of `M = N·OH·OW` rows and `K = f_H·f_W·C_in` columns, the kernels into `W` of `C_out`
//! rows and `K` columns, and the forward pass and the three hand rules are one GEMM each:
//!
//! | rule | per position (lecture) | as matrices |
//! |---|---|---|
//! | forward | `Z_ijc = Σ B_ij ⊙ W_c + b_c` | `Z = B · Wᵀ + b` |
//! | kernel | `dW_c = Σ_ij dZ_ijc · B_ij` | `dW = dZᵀ · B` |
//! | bias | `db_c = Σ_ij dZ_ijc` | column sums of `dZ` |
//! | input | `dZ_slice,ij += Σ_c dZ_ijc · W_c` | `dB = dZ · W`, then col2im adds each row of `dB` back into its slice |
//!
//! Channels-last makes `Z` (`[M, C_out]`, row-major) exactly the NHWC output, so no
//! transposes are needed anywhere. The per-position loops themselves are in
//! [`reference`](crate::ops::reference), the oracle every path here is tested against.
//!
//! The folder:
//! - [`geometry`](ConvGeometry): the sizes of a call, checked;
//! - [`plan`](ConvPlan): which kernels run, for the forward pass, `dW` and `dX`, and why;
//! - `im2col`: builds `B` (and col2im, its adjoint) for the GEMM path;
//! - `direct`: the forward pass and the kernel rule without `B`, for few kernels in `f32`;
//! - `input_grad`: the input rule without `dB`, in `f32`;
//! - `winograd`: the forward pass, the input rule and the kernel rule of 3x3 layers as
//!   Winograd F(2x2, 3x3), in `f32`;
//! - `vector`: the register types the direct kernels are written with (x86-64).
//!
//! How the work is done:
//! - the batch is split into chunks of whole samples, processed in parallel across threads
//!   when there are enough of them (each chunk's `dW` and `db` are summed in chunk order, so
//!   results do not depend on the thread count);
//! - an activation `σ` can be fused into the op ([`conv2d_with`]): `A = σ(Z_1)`, and the
//!   backward pass starts from `dZ_1 = σ'(Z_1) ∘ dA`.

mod direct;
mod geometry;
mod im2col;
mod input_grad;
mod plan;
#[cfg(target_arch = "x86_64")]
mod vector;
mod winograd;

pub use geometry::{Conv2dConfig, ConvGeometry};
pub use im2col::Layout;
pub use plan::{Choice, ConvPlan, InputKernel, Kernel, MAX_DIRECT_CHANNELS, WinogradRules};

use crate::ops::activation::Activation;
use crate::ops::bias::{add_row_vector, column_sums};
use autograd::runtime::buffer::{self, LINE_PAD, line_offset};
use autograd::runtime::gemm::{MatMut, MatRef, gemm};
use autograd::runtime::{parallel, simd};
use autograd::{BackwardContext, CustomOp, Element, Error, Result, Saved, Tensor, Var};
use direct::DirectKernel;
use im2col::{col2im, im2col};
use input_grad::DirectInputGrad;
use std::ops::Range;
use winograd::Winograd;

/// Runs `work(samples, part)` over the plan's chunks of the batch, where `part` is the
/// chunk's share of `out` (`per_sample` elements a sample; empty when `out` is), across the
/// pool's threads when the plan splits the batch. The results come back in chunk order.
fn over_chunks<T: Send, R: Send>(
    plan: &ConvPlan,
    out: &mut [T],
    per_sample: usize,
    work: impl Fn(Range<usize>, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let (n, s) = (plan.geometry.n, plan.samples_per_chunk);
    let len = if out.is_empty() { 0 } else { s * per_sample };
    let mut rest = out;
    let parts = (0..plan.chunks).map(move |i| {
        let take = len.min(rest.len());
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(take);
        rest = tail;
        (i * s..(i * s + s).min(n), part)
    });
    let split = parallel::worth_splitting(plan.chunks, plan.split_batch);
    parallel::for_each_part(parts, split, |_, (samples, part)| work(samples, part))
}

/// The convolution as a [`CustomOp`]: inputs `x`, `w` and optionally `b`, with an optional
/// fused activation `σ`.
pub struct Conv2dOp {
    cfg: Conv2dConfig,
    activation: Activation,
    plan: Option<ConvPlan>,
}

impl Conv2dOp {
    /// An op with this configuration and no activation.
    pub fn new(cfg: Conv2dConfig) -> Self {
        Self::with_activation(cfg, Activation::Identity)
    }

    /// An op with this configuration followed by `activation`.
    pub fn with_activation(cfg: Conv2dConfig, activation: Activation) -> Self {
        Conv2dOp {
            cfg,
            activation,
            plan: None,
        }
    }
}

impl<T: Element> CustomOp<T> for Conv2dOp {
    fn name(&self) -> &str {
        "conv2d"
    }

    /// `Z_1 = B · Wᵀ + b`, then `A = σ(Z_1)`, chunk by chunk of the batch.
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let (x, w) = (inputs[0], inputs[1]);
        let g = ConvGeometry::new("conv2d", x.shape(), w.shape(), self.cfg)?;
        let bias = match inputs.get(2) {
            Some(b) if b.shape() != [g.c_out] => {
                let why = format!("the bias must be [{}], one per kernel", g.c_out);
                return Err(Error::shapes("conv2d", w.shape(), b.shape(), why));
            }
            b => b.map(|b| b.as_slice()),
        };
        let (k, c_out, rows) = (g.patch(), g.c_out, g.oh * g.ow);
        let activation = self.activation;
        let plan = ConvPlan::new::<T>(&g);
        plan.log();
        // The direct kernel adds the bias itself.
        let direct = match plan.forward.kernel {
            Kernel::Direct { lanes } => Some(DirectKernel::new(w.as_slice(), bias, &g, lanes)),
            _ => None,
        };
        let wino = plan
            .winograd
            .kernel
            .forward
            .then(|| Winograd::new(w.as_slice(), bias, &g, plan.vector_width()));
        let in_len = g.h * g.w * g.c_in;
        let mut z = buffer::take_dirty::<T>(g.rows() * c_out);
        let results = over_chunks(&plan, &mut z, rows * c_out, |samples, z_part| -> Result<()> {
            let m = samples.len() * rows;
            // Winograd, unless a value came out not finite: then the direct kernel below
            // computes the chunk again (NaN and infinities as the direct sums give them).
            if let Some(wino) = &wino {
                let xs = &x.as_slice()[samples.start * in_len..samples.end * in_len];
                if wino.forward(xs, samples.len(), z_part) {
                    simd::dispatch(
                        #[inline(always)]
                        || activation.apply(z_part),
                    );
                    return Ok(());
                }
            }
            let w_t = MatRef::new(w.as_slice(), c_out, k)?.t();
            if let Some(direct) = &direct {
                direct.forward(x.as_slice(), &g, samples, z_part);
                simd::dispatch(
                    #[inline(always)]
                    || activation.apply(z_part),
                );
                return Ok(());
            }
            let z_mat = MatMut::new(z_part, m, c_out)?;
            match plan.forward.kernel {
                Kernel::Im2col { layout } => {
                    let mut b_mat = buffer::take_dirty(m * k);
                    im2col(x.as_slice(), &g, samples, layout, &mut b_mat);
                    gemm(z_mat, false, layout.view(&b_mat, m, k)?, w_t, T::ONE)?;
                    buffer::recycle(b_mat);
                }
                _ => {
                    let x_rows = &x.as_slice()[samples.start * rows * k..samples.end * rows * k];
                    gemm(z_mat, false, MatRef::new(x_rows, m, k)?, w_t, T::ONE)?;
                }
            }
            simd::dispatch(
                #[inline(always)]
                || {
                    if let Some(b) = bias {
                        add_row_vector(z_part, b);
                    }
                    activation.apply(z_part);
                },
            );
            Ok(())
        });
        results.into_iter().collect::<Result<()>>()?;
        self.plan = Some(plan);
        saved.save(x.clone());
        saved.save(w.clone());
        let a = Tensor::from_vec(z, &g.output_shape())?;
        if activation != Activation::Identity {
            saved.save(a.clone());
        }
        Ok(a)
    }

    fn backward(&self, saved: &Saved<T>, da: &Tensor<T>, needs: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        self.backward_with_context(&BackwardContext::default(), saved, da, needs)
    }

    /// Per chunk of the batch: `dZ_1 = σ'(Z_1) ∘ dA` (a fused ReLU follows the pass's
    /// [`ReluRule`](autograd::ReluRule)), then `dW += dZ_1ᵀ · B`, `db += Σ_rows dZ_1`, and
    /// `dB = dZ_1 · W` added back into the chunk's input gradient by col2im (transposed
    /// filtering); the chunks' `dW` and `db` are then summed in chunk order.
    fn backward_with_context(
        &self,
        ctx: &BackwardContext,
        saved: &Saved<T>,
        da: &Tensor<T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<T>>>> {
        let rule = ctx.relu_rule;
        let plan = self.plan.as_ref().expect("forward ran");
        let g = plan.geometry;
        let (k, c_out, rows) = (g.patch(), g.c_out, g.oh * g.ow);
        let (x, w) = (saved.get(0), saved.get(1));
        let a = (self.activation != Activation::Identity).then(|| saved.get(2));
        let (need_x, need_w, need_b) = (needs[0], needs[1], needs.get(2) == Some(&true));
        // The direct dW kernel may read past dZ's end (its slack).
        let direct = match plan.weight_grad.kernel {
            Kernel::Direct { lanes } if need_w => Some(DirectKernel::new(w.as_slice(), None, &g, lanes)),
            _ => None,
        };
        let slack = direct.as_ref().map_or(0, DirectKernel::slack);
        let direct_dx = match plan.input_grad.kernel {
            InputKernel::Direct { width } if need_x => Some(DirectInputGrad::new(w.as_slice(), &g, width)),
            _ => None,
        };
        let wino_dx = (plan.winograd.kernel.input_grad && need_x)
            .then(|| Winograd::for_input_grad(w.as_slice(), &g, plan.vector_width()));
        let wino_dw = (plan.winograd.kernel.weight_grad && need_w)
            .then(|| Winograd::for_weight_grad(&g, plan.vector_width()));
        // The direct kernel's partials are summed in its lane layout, unless Winograd computes
        // dW (then a chunk that falls back to it converts its own).
        let lanes_summed = direct.is_some() && wino_dw.is_none();
        // The input gradient, written chunk by chunk (left empty when not needed).
        let mut dx = buffer::take_dirty::<T>(if need_x { x.numel() } else { 0 });
        let per_sample = g.h * g.w * g.c_in;
        let partials = over_chunks(
            plan,
            &mut dx,
            per_sample,
            |samples, dx_part| -> Result<Partial<T>> {
                let m = samples.len() * rows;
                let span = samples.start * rows * c_out..samples.end * rows * c_out;
                // dZ_1 = σ'(Z_1) ∘ dA, for this chunk: into a buffer of its own, from a
                // cache-line boundary and with the direct kernel's slack after it, where the
                // direct kernel reads it (whole registers per row, K / TB times) or σ is not
                // the identity; otherwise dA itself. (Reading dA in place where the kernel
                // needs no slack measured 4% slower on the 64->64 layer: split loads.)
                let (mut dz_own, mut at) = (Vec::new(), 0);
                let dz_rows: &[T] = if a.is_some() || direct.is_some() {
                    dz_own = buffer::take_dirty(span.len() + slack + LINE_PAD);
                    at = line_offset(&dz_own);
                    let dz = &mut dz_own[at..at + span.len()];
                    match a {
                        Some(a) => {
                            let (a, da) = (&a.as_slice()[span.clone()], &da.as_slice()[span]);
                            simd::dispatch(
                                #[inline(always)]
                                || self.activation.backprop_with(rule, a, da, dz),
                            );
                        }
                        None => dz.copy_from_slice(&da.as_slice()[span]),
                    }
                    &dz_own[at..at + m * c_out]
                } else {
                    &da.as_slice()[span]
                };
                let dz_mat = MatRef::new(dz_rows, m, c_out)?;
                let mut dw = Vec::new();
                // Kernel: dW_c = Σ_ij dZ_ijc · B_ij, i.e. dW = dZᵀ · B. Winograd, unless a
                // value came out not finite (then the kernels below).
                let wino_done = wino_dw.as_ref().is_some_and(|wino| {
                    dw = buffer::take_dirty(c_out * k);
                    let xs = &x.as_slice()[samples.start * per_sample..samples.end * per_sample];
                    wino.weight_grad(xs, dz_rows, samples.len(), &mut dw)
                });
                if need_w && !wino_done {
                    buffer::recycle(std::mem::take(&mut dw));
                    if let Some(direct) = &direct {
                        // dZ with its slack (values the kernel reads but never uses). The
                        // partial stays in the kernel's lane layout until all are summed.
                        let dz_slack = &dz_own[at..at + m * c_out + slack];
                        dw = buffer::take_zeroed(direct.lane_len());
                        direct.weight_grad_lanes(x.as_slice(), &g, samples.clone(), dz_slack, &mut dw);
                        if !lanes_summed {
                            let mut out = buffer::take_dirty(c_out * k);
                            direct.dw_from_lanes(&dw, &mut out);
                            buffer::recycle(std::mem::replace(&mut dw, out));
                        }
                    } else {
                        dw = buffer::take_dirty(c_out * k);
                        let dw_mat = MatMut::new(&mut dw, c_out, k)?;
                        if let Kernel::Im2col { layout } = plan.weight_grad.kernel {
                            let mut b_mat = buffer::take_dirty(m * k);
                            im2col(x.as_slice(), &g, samples.clone(), layout, &mut b_mat);
                            gemm(dw_mat, false, dz_mat.t(), layout.view(&b_mat, m, k)?, T::ONE)?;
                            buffer::recycle(b_mat);
                        } else {
                            let x_rows = &x.as_slice()[samples.start * rows * k..samples.end * rows * k];
                            gemm(dw_mat, false, dz_mat.t(), MatRef::new(x_rows, m, k)?, T::ONE)?;
                        }
                    }
                }
                // Bias: db_c = Σ_ij dZ_ijc.
                let db = if need_b {
                    simd::dispatch(
                        #[inline(always)]
                        || column_sums(dz_rows, c_out),
                    )
                } else {
                    Vec::new()
                };
                // Winograd, unless a value came out not finite (then the kernels below).
                let done = wino_dx
                    .as_ref()
                    .is_some_and(|wino| wino.forward(dz_rows, samples.len(), dx_part));
                if need_x && !done {
                    // Input: dB = dZ · W, then col2im adds each slice's row of dB back; or
                    // directly, dZ_slice(ij) += Σ_c dZ_ijc · W_c, without storing dB.
                    let w_mat = MatRef::new(w.as_slice(), c_out, k)?;
                    match (&direct_dx, plan.input_grad.kernel) {
                        (Some(direct), _) => direct.input_grad(&g, dz_rows, samples.len(), dx_part),
                        (None, InputKernel::Col2im { layout }) => {
                            let mut db_mat = buffer::take_dirty(m * k);
                            gemm(layout.view_mut(&mut db_mat, m, k)?, false, dz_mat, w_mat, T::ONE)?;
                            col2im(&db_mat, &g, samples, layout, dx_part);
                            buffer::recycle(db_mat);
                        }
                        (None, _) => gemm(MatMut::new(dx_part, m, k)?, false, dz_mat, w_mat, T::ONE)?,
                    }
                }
                buffer::recycle(dz_own);
                Ok((dw, db))
            },
        );
        let [mut dw, db] = sum_in_order(partials)?;
        if let Some(direct) = direct.as_ref().filter(|_| lanes_summed) {
            // The direct kernel's partials were summed in its lane layout.
            dw = dw.map(|dwt| {
                let mut out = buffer::take_dirty(c_out * k);
                direct.dw_from_lanes(&dwt, &mut out);
                buffer::recycle(dwt);
                out
            });
        }
        let mut grads = vec![
            need_x.then(|| Tensor::from_vec(dx, x.shape())).transpose()?,
            dw.map(|dw| Tensor::from_vec(dw, w.shape())).transpose()?,
        ];
        if needs.len() == 3 {
            grads.push(db.map(|db| Tensor::from_vec(db, &[c_out])).transpose()?);
        }
        Ok(grads)
    }
}

/// A chunk's partial `dW` and `db` (empty when not computed).
type Partial<T> = (Vec<T>, Vec<T>);

/// Sums the chunks' partial `dW` and `db` in chunk order (so the result does not depend on
/// which thread finished first); an empty part means "not computed".
fn sum_in_order<T: Element>(partials: Vec<Result<Partial<T>>>) -> Result<[Option<Vec<T>>; 2]> {
    let mut totals: [Option<Vec<T>>; 2] = [None, None];
    for part in partials {
        let (dw, db) = part?;
        for (total, part) in totals.iter_mut().zip([dw, db]) {
            if part.is_empty() {
                continue;
            }
            match total {
                Some(t) => {
                    t.iter_mut().zip(&part).for_each(|(a, &b)| *a += b);
                    buffer::recycle(part);
                }
                None => *total = Some(part),
            }
        }
    }
    Ok(totals)
}

/// 2-D convolution (cross-correlation, as PyTorch computes it) of `x` `[N, H, W, C_in]` with
/// kernels `w` `[C_out, KH, KW, C_in]` plus an optional bias `b` `[C_out]`:
/// `Z[n,oh,ow,c] = b_c + Σ_{kh,kw,ci} W[c,kh,kw,ci] · x[n, oh·s - p + kh·d, ow·s - p + kw·d, ci]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::conv::{conv2d, Conv2dConfig};
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_fn(&[1, 4, 4, 1], |i| i as f64));
/// let w = tape.var(Tensor::ones(&[2, 3, 3, 1]));
/// let z = conv2d(&x, &w, None, Conv2dConfig::new().padding(1)).unwrap();
/// assert_eq!(z.shape(), &[1, 4, 4, 2]);
/// // The top-left output sums the 2x2 corner that the padded 3x3 window covers.
/// assert_eq!(z.value().get(&[0, 0, 0, 0]).unwrap(), 0.0 + 1.0 + 4.0 + 5.0);
/// ```
pub fn conv2d<'t, T: Element>(
    x: &Var<'t, T>,
    w: &Var<'t, T>,
    b: Option<&Var<'t, T>>,
    cfg: Conv2dConfig,
) -> Result<Var<'t, T>> {
    conv2d_with(x, w, b, cfg, Activation::Identity)
}

/// [`conv2d`] followed by a fused `activation`: `A = σ(x * W + b)`, with the backward rule
/// starting from `dZ_1 = σ'(Z_1) ∘ dA` as in the lecture.
pub fn conv2d_with<'t, T: Element>(
    x: &Var<'t, T>,
    w: &Var<'t, T>,
    b: Option<&Var<'t, T>>,
    cfg: Conv2dConfig,
    activation: Activation,
) -> Result<Var<'t, T>> {
    let op = Conv2dOp::with_activation(cfg, activation);
    match b {
        Some(b) => Var::apply(op, &[x, w, b]),
        None => Var::apply(op, &[x, w]),
    }
}
