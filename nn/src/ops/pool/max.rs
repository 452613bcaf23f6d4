//! Max pooling: `Z` is each window's maximum, per channel, and the backward pass sends each
//! `dZ` element to its window's argmax (the mask `M`; `docs/lecture.md#pooling`).

use super::geometry::{Pool2dConfig, PoolGeometry, over_samples};
#[cfg(target_arch = "x86_64")]
use super::x86;
#[cfg(target_arch = "x86_64")]
use autograd::runtime::simd::{as_f32, as_f32_mut};
use autograd::runtime::{buffer, simd};
use autograd::{CustomOp, Element, Error, Result, Saved, Tensor, Var};

/// Max pooling's forward pass over one sample: the window maxima `y` and, with `MASK`, the
/// mask, stored as the index within the sample's input of each output's argmax (the first
/// maximum in row-major window order on ties; `argmax` is not touched without `MASK`).
/// Padding is never the maximum.
#[inline(always)]
pub(crate) fn max_pool_mask<T: Element, const MASK: bool>(
    x: &[T],
    g: &PoolGeometry,
    y: &mut [T],
    argmax: &mut [u32],
) {
    let c = g.c;
    for oh in 0..g.oh {
        for ow in 0..g.ow {
            let out = (oh * g.ow + ow) * c;
            let ys = &mut y[out..out + c];
            let (rows, cols) = (g.rows(oh), g.cols(ow));
            // The window's first element starts the running maximum.
            let first = (rows.start * g.w + cols.start) * c;
            ys.copy_from_slice(&x[first..first + c]);
            if MASK {
                let ms = &mut argmax[out..out + c];
                for (ch, m) in ms.iter_mut().enumerate() {
                    *m = (first + ch) as u32;
                }
            }
            for ih in rows {
                for iw in cols.clone() {
                    let at = (ih * g.w + iw) * c;
                    if MASK {
                        let ms = &mut argmax[out..out + c];
                        for (ch, ((yv, m), &v)) in
                            ys.iter_mut().zip(ms.iter_mut()).zip(&x[at..at + c]).enumerate()
                        {
                            // A NaN wins and stays, as in PyTorch (`v != v` is NaN).
                            #[allow(clippy::eq_op)]
                            // A coin flip for real data: select without a branch.
                            let take = v > *yv || v != v;
                            *yv = std::hint::select_unpredictable(take, v, *yv);
                            *m = std::hint::select_unpredictable(take, (at + ch) as u32, *m);
                        }
                    } else {
                        for (yv, &v) in ys.iter_mut().zip(&x[at..at + c]) {
                            // The same rule as above.
                            #[allow(clippy::eq_op)]
                            let take = v > *yv || v != v;
                            *yv = std::hint::select_unpredictable(take, v, *yv);
                        }
                    }
                }
            }
        }
    }
}

/// One sample's forward pass (`MASK`: with the argmax), on the kernel of the CPU's level:
/// f32 takes the kernels vectorised over channels (`x86`), other types the loop.
#[inline(always)]
fn pool_sample<T: Element, const MASK: bool>(xs: &[T], g: &PoolGeometry, ys: &mut [T], ms: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if let (Some(xs), Some(ys)) = (as_f32(xs), as_f32_mut(ys)) {
        match simd::level() {
            // SAFETY: the CPU has AVX-512F (`simd::level`).
            simd::Level::Avx512 => return unsafe { x86::max_pool_mask_avx512::<MASK>(xs, g, ys, ms) },
            // SAFETY: the CPU has AVX2 (`simd::level`).
            simd::Level::Avx2 => return unsafe { x86::max_pool_mask_avx2::<MASK>(xs, g, ys, ms) },
            simd::Level::Baseline => {}
        }
    }
    simd::dispatch(
        #[inline(always)]
        || max_pool_mask::<T, MASK>(xs, g, ys, ms),
    )
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

    /// `Z` = each window's maximum; the mask `M` (argmax indices) only when the pass is
    /// recorded for a backward pass (inference writes `Z` alone).
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
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
        let x = x.as_slice();
        if saved.is_recording() {
            let mut argmax = buffer::take_dirty::<u32>(g.n * out_len);
            let parts = y.chunks_mut(out_len).zip(argmax.chunks_mut(out_len));
            over_samples(parts, g.n, x.len(), |n, (ys, ms)| {
                pool_sample::<T, true>(&x[n * in_len..(n + 1) * in_len], &g, ys, ms)
            });
            buffer::recycle(std::mem::replace(&mut self.argmax, argmax));
        } else {
            over_samples(y.chunks_mut(out_len), g.n, x.len(), |n, ys| {
                pool_sample::<T, false>(&x[n * in_len..(n + 1) * in_len], &g, ys, &mut [])
            });
        }
        self.geometry = Some(g);
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
