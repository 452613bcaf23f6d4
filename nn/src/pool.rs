//! Max and average pooling, channels-last, as custom ops with the lecture's backward rules
//! (`../shared/lecture/RULES.md`): pooling works on each channel separately, `dZ` is the
//! gradient at the pooling output and `dA` the one at its input.
//!
//! - Max pooling: `dA` receives each `dZ` element at its window's argmax (the mask `M` that is
//!   1 there and 0 elsewhere); where windows overlap the contributions add up.
//! - Average pooling: `dA = dZ ⊗ M` with `M = 1/(f_H·f_W)` over the window (the Kronecker
//!   product for non-overlapping windows; overlapping windows accumulate).

#[cfg(target_arch = "x86_64")]
use crate::direct_conv::{as_f32, as_f32_mut};
use autograd::{CustomOp, Element, Error, Result, Saved, Tensor, Var, buffer, parallel, simd};
use rayon::prelude::*;

/// Kernel `f`, stride `s` and padding `p` of a pooling layer, each `(along H, along W)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dConfig {
    /// `f`: the window size.
    pub kernel: (usize, usize),
    /// `s`: the step between windows.
    pub stride: (usize, usize),
    /// `p`: padding on each side (at most half the kernel). Max pooling pads with `-∞`,
    /// average pooling with zeros.
    pub padding: (usize, usize),
}

impl Pool2dConfig {
    /// A square `f x f` window with stride `f` (non-overlapping) and no padding.
    pub fn new(f: usize) -> Self {
        Pool2dConfig {
            kernel: (f, f),
            stride: (f, f),
            padding: (0, 0),
        }
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
}

/// The sizes of one pooling, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Batch size.
    pub n: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// Output height: `floor((H + 2p - f) / s) + 1`.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Kernel, stride, padding.
    pub cfg: Pool2dConfig,
}

impl PoolGeometry {
    /// Checks an input shape `[N, H, W, C]` against a configuration.
    pub fn new(op: &str, x: &[usize], cfg: Pool2dConfig) -> Result<Self> {
        if x.len() != 4 {
            return Err(Error::invalid(op, x, "the input must be [N, H, W, C]"));
        }
        let (f, s, p) = (cfg.kernel, cfg.stride, cfg.padding);
        if f.0 == 0 || f.1 == 0 || s.0 == 0 || s.1 == 0 {
            return Err(Error::invalid(
                op,
                x,
                format!("kernel {f:?} and stride {s:?} must be positive"),
            ));
        }
        if 2 * p.0 > f.0 || 2 * p.1 > f.1 {
            return Err(Error::invalid(
                op,
                x,
                format!("padding {p:?} exceeds half the kernel {f:?}"),
            ));
        }
        let (ph, pw) = (x[1] + 2 * p.0, x[2] + 2 * p.1);
        if f.0 > ph || f.1 > pw {
            return Err(Error::invalid(
                op,
                x,
                format!(
                    "the kernel {}x{} is larger than the padded input {ph}x{pw}",
                    f.0, f.1
                ),
            ));
        }
        Ok(PoolGeometry {
            n: x[0],
            h: x[1],
            w: x[2],
            c: x[3],
            oh: (ph - f.0) / s.0 + 1,
            ow: (pw - f.1) / s.1 + 1,
            cfg,
        })
    }

    /// The output shape `[N, OH, OW, C]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.n, self.oh, self.ow, self.c]
    }

    /// The input rows of window row `oh` that lie inside the image.
    #[inline]
    fn rows(&self, oh: usize) -> std::ops::Range<usize> {
        let start = (oh * self.cfg.stride.0) as isize - self.cfg.padding.0 as isize;
        let end = (start + self.cfg.kernel.0 as isize).min(self.h as isize);
        start.max(0) as usize..end.max(0) as usize
    }

    /// The input columns of window column `ow` that lie inside the image.
    #[inline]
    fn cols(&self, ow: usize) -> std::ops::Range<usize> {
        let start = (ow * self.cfg.stride.1) as isize - self.cfg.padding.1 as isize;
        let end = (start + self.cfg.kernel.1 as isize).min(self.w as isize);
        start.max(0) as usize..end.max(0) as usize
    }
}

/// Whether a kernel over the batch should split it across threads: when there is enough work
/// (`elements` touched) for the hand-off to pay.
fn split_batch(elements: usize) -> bool {
    elements >= 1 << 15 && parallel::num_threads() > 1 && !parallel::in_parallel_region()
}

/// Runs `sample((n, part))` for every sample `n` of the batch, `part` being its `per_sample`
/// elements of `out`: across threads when the kernel touches enough `elements` (see
/// [`split_batch`]).
fn over_samples<T: Send>(
    out: &mut [T],
    per_sample: usize,
    elements: usize,
    sample: impl Fn((usize, &mut [T])) + Sync,
) {
    if split_batch(elements) {
        parallel::install(|| {
            out.par_chunks_mut(per_sample)
                .enumerate()
                .for_each(|part| parallel::part(|| sample(part)))
        });
    } else {
        out.chunks_mut(per_sample).enumerate().for_each(sample);
    }
}

/// Max pooling's forward pass over one sample: the window maxima `y` and the mask, stored as
/// the index within the sample's input of each output's argmax (the first maximum in
/// row-major window order on ties). Padding is never the maximum.
#[inline(always)]
pub fn max_pool_mask<T: Element>(x: &[T], g: &PoolGeometry, y: &mut [T], argmax: &mut [u32]) {
    let c = g.c;
    for oh in 0..g.oh {
        for ow in 0..g.ow {
            let out = (oh * g.ow + ow) * c;
            let (ys, ms) = (&mut y[out..out + c], &mut argmax[out..out + c]);
            let (rows, cols) = (g.rows(oh), g.cols(ow));
            // The window's first element starts the running maximum.
            let first = (rows.start * g.w + cols.start) * c;
            ys.copy_from_slice(&x[first..first + c]);
            for (ch, m) in ms.iter_mut().enumerate() {
                *m = (first + ch) as u32;
            }
            for ih in rows {
                for iw in cols.clone() {
                    let at = (ih * g.w + iw) * c;
                    for (ch, ((yv, m), &v)) in
                        ys.iter_mut().zip(ms.iter_mut()).zip(&x[at..at + c]).enumerate()
                    {
                        // A NaN wins and stays, as in PyTorch (`v != v` is NaN).
                        #[allow(clippy::eq_op)]
                        // The comparison is a coin flip for real data: select without a branch.
                        let take = v > *yv || v != v;
                        *yv = std::hint::select_unpredictable(take, v, *yv);
                        *m = std::hint::select_unpredictable(take, (at + ch) as u32, *m);
                    }
                }
            }
        }
    }
}

/// [`max_pool_mask`] for `f32` with AVX-512: up to 16 channels of a window at a time in one
/// register, the last ones masked, the running argmax in another (same values, same mask,
/// same tie and NaN rules).
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max_pool_mask_avx512(x: &[f32], g: &PoolGeometry, y: &mut [f32], argmax: &mut [u32]) {
    use std::arch::x86_64::*;
    let c = g.c;
    assert!(x.len() == g.h * g.w * c && y.len() == g.oh * g.ow * c && argmax.len() == y.len());
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for oh in 0..g.oh {
        let rows = g.rows(oh);
        for ow in 0..g.ow {
            let (cols, out) = (g.cols(ow), (oh * g.ow + ow) * c);
            let first = (rows.start * g.w + cols.start) * c;
            for c0 in (0..c).step_by(16) {
                let k: __mmask16 = if c - c0 >= 16 { 0xffff } else { (1 << (c - c0)) - 1 };
                // SAFETY: masked loads and stores touch only the lanes `c0..c` of a window
                // element or an output, inside `x`, `y` and `argmax` (the assert above and
                // the window's rows and columns lying inside the image).
                unsafe {
                    // Indices fit in 32 bits (checked by the op); i32 arithmetic wraps like u32.
                    let index = |at: usize| _mm512_add_epi32(_mm512_set1_epi32((at + c0) as i32), lane);
                    let mut best = _mm512_maskz_loadu_ps(k, x.as_ptr().add(first + c0));
                    let mut at_best = index(first);
                    for ih in rows.clone() {
                        for iw in cols.clone() {
                            let at = (ih * g.w + iw) * c;
                            let v = _mm512_maskz_loadu_ps(k, x.as_ptr().add(at + c0));
                            // A larger value or a NaN takes over, as in `max_pool_mask`.
                            let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best)
                                | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                            best = _mm512_mask_mov_ps(best, take, v);
                            at_best = _mm512_mask_mov_epi32(at_best, take, index(at));
                        }
                    }
                    _mm512_mask_storeu_ps(y.as_mut_ptr().add(out + c0), k, best);
                    _mm512_mask_storeu_epi32(argmax.as_mut_ptr().add(out + c0).cast(), k, at_best);
                }
            }
        }
    }
}

/// Max pooling as a [`CustomOp`].
pub struct MaxPool2dOp {
    cfg: Pool2dConfig,
    geometry: Option<PoolGeometry>,
    argmax: Vec<u32>,
}

impl Drop for MaxPool2dOp {
    fn drop(&mut self) {
        buffer::recycle(std::mem::take(&mut self.argmax));
    }
}

impl<T: Element> CustomOp<T> for MaxPool2dOp {
    fn name(&self) -> &str {
        "max_pool2d"
    }

    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        let x = inputs[0];
        let g = PoolGeometry::new("max_pool2d", x.shape(), self.cfg)?;
        let (in_len, out_len) = (g.h * g.w * g.c, g.oh * g.ow * g.c);
        if in_len > u32::MAX as usize {
            return Err(Error::invalid(
                "max_pool2d",
                x.shape(),
                "a sample has more than 2^32 elements",
            ));
        }
        let mut y = buffer::take_dirty::<T>(g.n * out_len);
        let mut argmax = buffer::take_dirty::<u32>(g.n * out_len);
        let x = x.as_slice();
        #[cfg(target_arch = "x86_64")]
        let avx512 = simd::level() == simd::Level::Avx512;
        let sample = |(n, (ys, ms)): (usize, (&mut [T], &mut [u32]))| {
            let xs = &x[n * in_len..(n + 1) * in_len];
            #[cfg(target_arch = "x86_64")]
            if let (true, Some(xs), Some(ys)) = (avx512, as_f32(xs), as_f32_mut(ys)) {
                // SAFETY: the CPU has AVX-512F (`simd::level`).
                return unsafe { max_pool_mask_avx512(xs, &g, ys, ms) };
            }
            simd::dispatch(
                #[inline(always)]
                || max_pool_mask(xs, &g, ys, ms),
            )
        };
        if split_batch(x.len()) {
            parallel::install(|| {
                y.par_chunks_mut(out_len)
                    .zip(argmax.par_chunks_mut(out_len))
                    .enumerate()
                    .for_each(|part| parallel::part(|| sample(part)))
            });
        } else {
            y.chunks_mut(out_len)
                .zip(argmax.chunks_mut(out_len))
                .enumerate()
                .for_each(sample);
        }
        self.geometry = Some(g);
        buffer::recycle(std::mem::replace(&mut self.argmax, argmax));
        Tensor::from_vec(y, &g.output_shape())
    }

    /// `dA = Σ_windows dZ · M`: each `dZ` element goes to its window's argmax.
    fn backward(&self, _: &Saved<T>, dz: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let g = self.geometry.expect("forward ran");
        let (in_len, out_len) = (g.h * g.w * g.c, g.oh * g.ow * g.c);
        let mut da = buffer::take_dirty::<T>(g.n * in_len);
        let dz = dz.as_slice();
        let sample = |(n, das): (usize, &mut [T])| {
            let range = n * out_len..(n + 1) * out_len;
            simd::dispatch(
                #[inline(always)]
                || {
                    // Zeroed here, sample by sample, so the adds below hit cache.
                    das.fill(T::ZERO);
                    for (&at, &d) in self.argmax[range.clone()].iter().zip(&dz[range]) {
                        das[at as usize] += d;
                    }
                },
            )
        };
        over_samples(&mut da, in_len, g.n * in_len, sample);
        Ok(vec![Some(Tensor::from_vec(da, &[g.n, g.h, g.w, g.c])?)])
    }
}

/// Max pooling of `x` `[N, H, W, C]` over `f_H x f_W` windows: `Z = max` of each window, per
/// channel. Padding acts as `-∞` (it is never the maximum).
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::pool::{max_pool2d, Pool2dConfig};
/// let tape = Tape::<f32>::new();
/// let x = tape.var(Tensor::from_vec(vec![1.0, 5.0, 3.0, 2.0], &[1, 2, 2, 1]).unwrap());
/// let z = max_pool2d(&x, Pool2dConfig::new(2)).unwrap();
/// assert_eq!(z.value().to_vec(), vec![5.0]);
/// let g = tape.backward(&z.sum()).unwrap();
/// assert_eq!(g[&x].to_vec(), vec![0.0, 1.0, 0.0, 0.0]); // the mask M
/// ```
pub fn max_pool2d<'t, T: Element>(x: &Var<'t, T>, cfg: Pool2dConfig) -> Result<Var<'t, T>> {
    Var::apply(
        MaxPool2dOp {
            cfg,
            geometry: None,
            argmax: Vec::new(),
        },
        &[x],
    )
}

/// Average pooling as a [`CustomOp`].
pub struct AvgPool2dOp {
    cfg: Pool2dConfig,
    count_include_pad: bool,
    geometry: Option<PoolGeometry>,
}

impl AvgPool2dOp {
    /// The divisor of window `(oh, ow)`: `f_H·f_W`, or the number of real (unpadded)
    /// elements when padding is not counted.
    fn divisor(&self, g: &PoolGeometry, oh: usize, ow: usize) -> usize {
        if self.count_include_pad {
            g.cfg.kernel.0 * g.cfg.kernel.1
        } else {
            g.rows(oh).len() * g.cols(ow).len()
        }
    }
}

impl<T: Element> CustomOp<T> for AvgPool2dOp {
    fn name(&self) -> &str {
        "avg_pool2d"
    }

    /// `Z = Σ window / divisor`, per channel.
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        let g = PoolGeometry::new("avg_pool2d", inputs[0].shape(), self.cfg)?;
        let (c, in_len, out_len) = (g.c, g.h * g.w * g.c, g.oh * g.ow * g.c);
        let x = inputs[0].as_slice();
        let mut y = buffer::take_zeroed::<T>(g.n * out_len);
        let sample = |(n, ys): (usize, &mut [T])| {
            simd::dispatch(
                #[inline(always)]
                || {
                    let xs = &x[n * in_len..(n + 1) * in_len];
                    for oh in 0..g.oh {
                        for ow in 0..g.ow {
                            let out = &mut ys[(oh * g.ow + ow) * c..(oh * g.ow + ow + 1) * c];
                            for ih in g.rows(oh) {
                                for iw in g.cols(ow) {
                                    let at = (ih * g.w + iw) * c;
                                    for (v, &xv) in out.iter_mut().zip(&xs[at..at + c]) {
                                        *v += xv;
                                    }
                                }
                            }
                            let d = T::from_usize(self.divisor(&g, oh, ow));
                            out.iter_mut().for_each(|v| *v /= d);
                        }
                    }
                },
            )
        };
        over_samples(&mut y, out_len, x.len(), sample);
        self.geometry = Some(g);
        Tensor::from_vec(y, &g.output_shape())
    }

    /// `dA = dZ ⊗ M`, `M = 1/divisor` over each window, accumulated where windows overlap.
    fn backward(&self, _: &Saved<T>, dz: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let g = self.geometry.expect("forward ran");
        let (c, in_len, out_len) = (g.c, g.h * g.w * g.c, g.oh * g.ow * g.c);
        let dz = dz.as_slice();
        let mut da = buffer::take_dirty::<T>(g.n * in_len);
        let sample = |(n, das): (usize, &mut [T])| {
            das.fill(T::ZERO);
            simd::dispatch(
                #[inline(always)]
                || {
                    let dzs = &dz[n * out_len..(n + 1) * out_len];
                    for oh in 0..g.oh {
                        for ow in 0..g.ow {
                            let gz = &dzs[(oh * g.ow + ow) * c..(oh * g.ow + ow + 1) * c];
                            let m = T::ONE / T::from_usize(self.divisor(&g, oh, ow));
                            for ih in g.rows(oh) {
                                for iw in g.cols(ow) {
                                    let at = (ih * g.w + iw) * c;
                                    for (d, &gv) in das[at..at + c].iter_mut().zip(gz) {
                                        *d += gv * m;
                                    }
                                }
                            }
                        }
                    }
                },
            )
        };
        over_samples(&mut da, in_len, g.n * in_len, sample);
        Ok(vec![Some(Tensor::from_vec(da, &[g.n, g.h, g.w, c])?)])
    }
}

/// Average pooling of `x` `[N, H, W, C]` over `f_H x f_W` windows, per channel.
///
/// With padding, `count_include_pad` chooses the divisor like PyTorch's flag of that name:
/// `true` divides every window by `f_H·f_W` (padded zeros count), `false` by the number of
/// real input elements in the window. Without padding both are the same.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::pool::{avg_pool2d, Pool2dConfig};
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![1.0, 5.0, 3.0, 2.0], &[1, 2, 2, 1]).unwrap());
/// let z = avg_pool2d(&x, Pool2dConfig::new(2), true).unwrap();
/// assert_eq!(z.value().to_vec(), vec![2.75]);
/// let g = tape.backward(&z.sum()).unwrap();
/// assert_eq!(g[&x].to_vec(), vec![0.25; 4]); // dZ ⊗ M, M = 1/4
/// ```
pub fn avg_pool2d<'t, T: Element>(
    x: &Var<'t, T>,
    cfg: Pool2dConfig,
    count_include_pad: bool,
) -> Result<Var<'t, T>> {
    Var::apply(
        AvgPool2dOp {
            cfg,
            count_include_pad,
            geometry: None,
        },
        &[x],
    )
}
