//! Max pooling: `Z` is each window's maximum, per channel, and the backward pass sends each
//! `dZ` element to its window's argmax (the mask `M`; `docs/lecture.md#pooling`).

use super::geometry::{Pool2dConfig, PoolGeometry, over_samples};
#[cfg(target_arch = "x86_64")]
use autograd::runtime::simd::{as_f32, as_f32_mut};
use autograd::runtime::{buffer, simd};
use autograd::{CustomOp, Element, Error, Result, Saved, Tensor, Var};

/// Max pooling's forward pass over one sample: the window maxima `y` and the mask, stored as
/// the index within the sample's input of each output's argmax (the first maximum in
/// row-major window order on ties). Padding is never the maximum.
#[inline(always)]
pub(crate) fn max_pool_mask<T: Element>(x: &[T], g: &PoolGeometry, y: &mut [T], argmax: &mut [u32]) {
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
        let sample = |n: usize, (ys, ms): (&mut [T], &mut [u32])| {
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
        let parts = y.chunks_mut(out_len).zip(argmax.chunks_mut(out_len));
        over_samples(parts, g.n, x.len(), sample);
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
        let sample = |n: usize, das: &mut [T]| {
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
        over_samples(da.chunks_mut(in_len), g.n, g.n * in_len, sample);
        Ok(vec![Some(Tensor::from_vec(da, &[g.n, g.h, g.w, g.c])?)])
    }
}

/// Max pooling of `x` `[N, H, W, C]` over `f_H x f_W` windows: `Z = max` of each window, per
/// channel. Padding acts as `-∞` (it is never the maximum).
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::pool::{max_pool2d, Pool2dConfig};
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
