//! 2-D convolution, channels-last, as a custom op whose backward is the lecture's hand rule in
//! GEMM form (`../shared/lecture/RULES.md`, "Backward (the hand rules)").
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
//! transposes are needed anywhere. `B` itself is built by [`crate::im2col`].
//!
//! How the work is done:
//! - the batch is split into chunks of whole samples, processed in parallel across threads
//!   when there are enough of them (each chunk's `dW` and `db` are summed in chunk order, so
//!   results do not depend on the thread count);
//! - an activation `σ` can be fused into the op ([`conv2d_with`]): `A = σ(Z_1)`, and the
//!   backward pass starts from `dZ_1 = σ'(Z_1) ∘ dA`;
//! - with at most 32 kernels (64 with AVX-512), in `f32`, the forward pass and the kernel rule run as direct
//!   convolutions ([`crate::direct_conv`]), without building `B`.

use crate::activation::Activation;
use crate::direct_conv::{DirectKernel, LINE_PAD, line_offset};
use crate::direct_input_grad::DirectInputGrad;
use crate::im2col::{Layout, col2im, im2col};
use autograd::tensor::{MatMut, MatRef, gemm};
use autograd::{CustomOp, Element, Error, Result, Saved, Tensor, Var, buffer, parallel, simd};
use rayon::prelude::*;
use std::ops::Range;

/// Stride, zero padding and dilation of a convolution, each `(along H, along W)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dConfig {
    /// `s`: the step between output positions.
    pub stride: (usize, usize),
    /// `p`: zero rows added at the top and bottom, zero columns at the left and right.
    pub padding: (usize, usize),
    /// The step between kernel taps (1: a dense kernel).
    pub dilation: (usize, usize),
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
        }
    }
}

impl Conv2dConfig {
    /// Stride 1, no padding, dilation 1.
    pub fn new() -> Self {
        Self::default()
    }
    /// The same stride along both axes.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = (s, s);
        self
    }
    /// The same padding along both axes.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = (p, p);
        self
    }
    /// The same dilation along both axes.
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = (d, d);
        self
    }
}

/// The sizes of one convolution, checked against each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Batch size.
    pub n: usize,
    /// Input height and width.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels (kernels).
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Output height: `floor((H + 2p - d·(f-1) - 1) / s) + 1`.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Stride, padding, dilation.
    pub cfg: Conv2dConfig,
}

impl ConvGeometry {
    /// Checks an input shape `[N, H, W, C_in]` and a kernel shape `[C_out, KH, KW, C_in]`
    /// against a configuration, naming `op` in any error.
    pub fn new(op: &str, x: &[usize], k: &[usize], cfg: Conv2dConfig) -> Result<Self> {
        if x.len() != 4 || k.len() != 4 {
            return Err(Error::shapes(
                op,
                x,
                k,
                "the input must be [N, H, W, C_in] and the kernel [C_out, KH, KW, C_in]",
            ));
        }
        if x[3] != k[3] {
            return Err(Error::shapes(
                op,
                x,
                k,
                format!(
                    "channel mismatch: the input has {} channels, the kernel expects {}",
                    x[3], k[3]
                ),
            ));
        }
        let c = cfg;
        if c.stride.0 == 0 || c.stride.1 == 0 || c.dilation.0 == 0 || c.dilation.1 == 0 {
            return Err(Error::invalid(
                op,
                x,
                format!(
                    "stride {:?} and dilation {:?} must be positive",
                    c.stride, c.dilation
                ),
            ));
        }
        if k[1] == 0 || k[2] == 0 || k[0] == 0 {
            return Err(Error::shapes(op, x, k, "the kernel has an empty axis"));
        }
        let span_h = c.dilation.0 * (k[1] - 1) + 1;
        let span_w = c.dilation.1 * (k[2] - 1) + 1;
        let (ph, pw) = (x[1] + 2 * c.padding.0, x[2] + 2 * c.padding.1);
        if span_h > ph || span_w > pw {
            return Err(Error::shapes(
                op,
                x,
                k,
                format!(
                    "the kernel spans {span_h}x{span_w} (with dilation {:?}) but the padded input is only {ph}x{pw}",
                    c.dilation
                ),
            ));
        }
        Ok(ConvGeometry {
            n: x[0],
            h: x[1],
            w: x[2],
            c_in: x[3],
            c_out: k[0],
            kh: k[1],
            kw: k[2],
            oh: (ph - span_h) / c.stride.0 + 1,
            ow: (pw - span_w) / c.stride.1 + 1,
            cfg,
        })
    }

    /// `M`: output positions, the rows of `B`.
    pub fn rows(&self) -> usize {
        self.n * self.oh * self.ow
    }

    /// `K = f_H · f_W · C_in`: the length of one slice `B_ij`, the columns of `B`.
    pub fn patch(&self) -> usize {
        self.kh * self.kw * self.c_in
    }

    /// The output shape `[N, OH, OW, C_out]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.oh, self.ow, self.c_out]
    }

    /// Whether `B` is the input itself (1x1 kernel, stride 1, no padding): no im2col needed.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.cfg.stride == (1, 1) && self.cfg.padding == (0, 0)
    }
}

/// The batch is processed in chunks of this many rows of `B` (whole samples, at least one):
/// small enough for a chunk's slice matrix to stay in cache, and fixed by the geometry alone,
/// so results are bitwise the same whatever the number of threads.
const CHUNK_ELEMENTS: usize = 64 * 1024;

fn samples_per_chunk(g: &ConvGeometry) -> usize {
    (CHUNK_ELEMENTS / (g.oh * g.ow * g.patch()).max(1)).clamp(1, g.n.max(1))
}

/// Runs `work(samples, part)` over the chunks of the batch, where `part` is the chunk's
/// share of `out` (`per_sample` elements a sample; empty when `out` is): in parallel across
/// the batch when there are enough chunks to keep every thread busy (each chunk's GEMMs then
/// run on one thread), otherwise one chunk after another with threaded GEMMs. The results
/// come back in chunk order.
fn over_chunks<T: Send, R: Send>(
    g: &ConvGeometry,
    out: &mut [T],
    per_sample: usize,
    work: impl Fn(Range<usize>, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let s = samples_per_chunk(g);
    let count = g.n.div_ceil(s);
    let samples = |i: usize| i * s..(i * s + s).min(g.n);
    let parallel = count >= 2 * parallel::num_threads() && !parallel::in_parallel_region();
    let part = |i: usize, p: &mut [T]| parallel::part(|| work(samples(i), p));
    match (out.is_empty(), parallel) {
        (true, true) => parallel::install(|| (0..count).into_par_iter().map(|i| part(i, &mut [])).collect()),
        (true, false) => (0..count).map(|i| work(samples(i), &mut [])).collect(),
        (false, true) => parallel::install(|| {
            out.par_chunks_mut(s * per_sample)
                .enumerate()
                .map(|(i, p)| part(i, p))
                .collect()
        }),
        (false, false) => out
            .chunks_mut(s * per_sample)
            .enumerate()
            .map(|(i, p)| work(samples(i), p))
            .collect(),
    }
}

/// The convolution as a [`CustomOp`]: inputs `x`, `w` and optionally `b`, with an optional
/// fused activation `σ`.
pub struct Conv2dOp {
    cfg: Conv2dConfig,
    activation: Activation,
    geometry: Option<ConvGeometry>,
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
            geometry: None,
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
        let layout = Layout::for_geometry(&g);
        // Few kernels: the direct kernel (which adds the bias itself); otherwise im2col + GEMM.
        let direct = if g.is_pointwise() {
            None
        } else {
            DirectKernel::new(w.as_slice(), bias, &g)
        };
        let mut z = buffer::take_dirty::<T>(g.rows() * c_out);
        let results = over_chunks(&g, &mut z, rows * c_out, |samples, z_part| -> Result<()> {
            let m = samples.len() * rows;
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
            if g.is_pointwise() {
                let x_rows = &x.as_slice()[samples.start * rows * k..samples.end * rows * k];
                gemm(z_mat, false, MatRef::new(x_rows, m, k)?, w_t, T::ONE)?;
            } else {
                let mut b_mat = buffer::take_dirty(m * k);
                im2col(x.as_slice(), &g, samples, layout, &mut b_mat);
                gemm(z_mat, false, layout.view(&b_mat, m, k)?, w_t, T::ONE)?;
                buffer::recycle(b_mat);
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
        self.geometry = Some(g);
        saved.save(x.clone());
        saved.save(w.clone());
        let a = Tensor::from_vec(z, &g.output_shape())?;
        if activation != Activation::Identity {
            saved.save(a.clone());
        }
        Ok(a)
    }

    /// Per chunk of the batch: `dZ_1 = σ'(Z_1) ∘ dA`, then `dW += dZ_1ᵀ · B`,
    /// `db += Σ_rows dZ_1`, and `dB = dZ_1 · W` added back into the chunk's input gradient by
    /// col2im; the chunks' `dW` and `db` are then summed in chunk order.
    fn backward(&self, saved: &Saved<T>, da: &Tensor<T>, needs: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let g = self.geometry.expect("forward ran");
        let (k, c_out, rows) = (g.patch(), g.c_out, g.oh * g.ow);
        let (x, w) = (saved.get(0), saved.get(1));
        let a = (self.activation != Activation::Identity).then(|| saved.get(2));
        let (need_x, need_w, need_b) = (needs[0], needs[1], needs.get(2) == Some(&true));
        let layout = Layout::for_geometry(&g);
        // Few kernels: dW by the direct kernel (no im2col), which may read past dZ's end (slack).
        let direct = if g.is_pointwise() || !need_w {
            None
        } else {
            DirectKernel::new(w.as_slice(), None, &g)
        };
        let slack = direct.as_ref().map_or(0, DirectKernel::slack);
        let direct_dx = if g.is_pointwise() || !need_x {
            None
        } else {
            DirectInputGrad::new(w.as_slice(), &g)
        };
        // The input gradient, written chunk by chunk (left empty when not needed).
        let mut dx = buffer::take_dirty::<T>(if need_x { x.numel() } else { 0 });
        let per_sample = g.h * g.w * g.c_in;
        let partials = over_chunks(
            &g,
            &mut dx,
            per_sample,
            |samples, dx_part| -> Result<Partial<T>> {
                let m = samples.len() * rows;
                let span = samples.start * rows * c_out..samples.end * rows * c_out;
                // dZ_1 = σ'(Z_1) ∘ dA, for this chunk: into a buffer of its own, from a
                // cache-line boundary and with the direct kernel's slack after it, where the
                // direct kernel reads it (whole registers per row, K / TB times) or σ is not
                // the identity; otherwise dA itself.
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
                                || self.activation.backprop(a, da, dz),
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
                if need_w {
                    // Kernel: dW_c = Σ_ij dZ_ijc · B_ij, i.e. dW = dZᵀ · B.
                    if let Some(direct) = &direct {
                        // dZ with its slack (values the kernel reads but never uses). The
                        // partial stays in the kernel's lane layout until all are summed.
                        let dz_slack = &dz_own[at..at + m * c_out + slack];
                        dw = buffer::take_zeroed(direct.lane_len());
                        direct.weight_grad_lanes(x.as_slice(), &g, samples.clone(), dz_slack, &mut dw);
                    } else {
                        dw = buffer::take_dirty(c_out * k);
                        let dw_mat = MatMut::new(&mut dw, c_out, k)?;
                        if g.is_pointwise() {
                            let x_rows = &x.as_slice()[samples.start * rows * k..samples.end * rows * k];
                            gemm(dw_mat, false, dz_mat.t(), MatRef::new(x_rows, m, k)?, T::ONE)?;
                        } else {
                            let mut b_mat = buffer::take_dirty(m * k);
                            im2col(x.as_slice(), &g, samples.clone(), layout, &mut b_mat);
                            gemm(dw_mat, false, dz_mat.t(), layout.view(&b_mat, m, k)?, T::ONE)?;
                            buffer::recycle(b_mat);
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
                if need_x {
                    // Input: dB = dZ · W, then col2im adds each slice's row of dB back; or
                    // directly, dZ_slice(ij) += Σ_c dZ_ijc · W_c, without storing dB.
                    let w_mat = MatRef::new(w.as_slice(), c_out, k)?;
                    if let Some(direct) = &direct_dx {
                        direct.input_grad(&g, dz_rows, samples.len(), dx_part);
                    } else if g.is_pointwise() {
                        gemm(MatMut::new(dx_part, m, k)?, false, dz_mat, w_mat, T::ONE)?;
                    } else {
                        let mut db_mat = buffer::take_dirty(m * k);
                        gemm(layout.view_mut(&mut db_mat, m, k)?, false, dz_mat, w_mat, T::ONE)?;
                        col2im(&db_mat, &g, samples, layout, dx_part);
                        buffer::recycle(db_mat);
                    }
                }
                buffer::recycle(dz_own);
                Ok((dw, db))
            },
        );
        let [mut dw, db] = sum_in_order(partials)?;
        if let Some(direct) = &direct {
            // The direct kernel's partials were summed in its lane layout.
            dw = dw.map(|dwt| {
                let mut out = buffer::take_dirty(c_out * k);
                direct.from_lanes(&dwt, &mut out);
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

/// Adds `b` to every row of the row-major matrix `z` (`b` has one entry per column).
#[inline(always)]
pub(crate) fn add_row_vector<T: Element>(z: &mut [T], b: &[T]) {
    for row in z.chunks_exact_mut(b.len()) {
        for (v, &bias) in row.iter_mut().zip(b) {
            *v += bias;
        }
    }
}

/// The sums of the columns of a row-major matrix with `cols` columns.
///
/// Adding row after row into `cols` sums makes each row wait for the previous one's stores
/// (LeNet's 6 kernels: a 6-value row at a time, 4% of a batch-16 training step). Narrow
/// matrices are therefore summed `R` rows at a time (`R · cols <= 64` partial sums, one per
/// column and row phase), and the phases added at the end.
#[inline(always)]
pub(crate) fn column_sums<T: Element>(z: &[T], cols: usize) -> Vec<T> {
    let mut sums = vec![T::ZERO; cols];
    let add = |sums: &mut [T], row: &[T]| sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
    if cols == 0 || cols >= 32 {
        z.chunks_exact(cols.max(1)).for_each(|row| add(&mut sums, row));
        return sums;
    }
    let phases = (64 / cols) * cols;
    let mut partial = [T::ZERO; 64];
    let mut rows = z.chunks_exact(phases);
    for block in &mut rows {
        add(&mut partial[..phases], block);
    }
    partial[..phases]
        .chunks_exact(cols)
        .for_each(|phase| add(&mut sums, phase));
    rows.remainder()
        .chunks_exact(cols)
        .for_each(|row| add(&mut sums, row));
    sums
}

/// 2-D convolution (cross-correlation, as PyTorch computes it) of `x` `[N, H, W, C_in]` with
/// kernels `w` `[C_out, KH, KW, C_in]` plus an optional bias `b` `[C_out]`:
/// `Z[n,oh,ow,c] = b_c + Σ_{kh,kw,ci} W[c,kh,kw,ci] · x[n, oh·s - p + kh·d, ow·s - p + kw·d, ci]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::conv::{conv2d, Conv2dConfig};
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
