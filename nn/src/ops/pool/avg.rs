//! Average pooling: `Z` is each window's mean, per channel, and `dA = dZ ⊗ M` with
//! `M = 1/(f_H·f_W)` over the window (`docs/lecture.md#pooling`).

use super::geometry::{Pool2dConfig, PoolGeometry, over_samples};
#[cfg(target_arch = "x86_64")]
use super::x86;
#[cfg(target_arch = "x86_64")]
use autograd::runtime::simd::{as_f32, as_f32_mut};
use autograd::runtime::{buffer, simd};
use autograd::{CustomOp, Element, Result, Saved, Tensor, Var};

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
        #[cfg(target_arch = "x86_64")]
        let level = simd::level();
        let divisor = |oh, ow| self.divisor(&g, oh, ow);
        let sample = |n: usize, ys: &mut [T]| {
            let xs = &x[n * in_len..(n + 1) * in_len];
            // f32 takes the kernels vectorised over channels (`x86`), other types the loop.
            #[cfg(target_arch = "x86_64")]
            if let (Some(xs), Some(ys)) = (as_f32(xs), as_f32_mut(ys)) {
                match level {
                    // SAFETY: the CPU has AVX-512F (`simd::level`).
                    simd::Level::Avx512 => return unsafe { x86::avg_pool_avx512(xs, &g, ys, divisor) },
                    // SAFETY: the CPU has AVX2 (`simd::level`).
                    simd::Level::Avx2 => return unsafe { x86::avg_pool_avx2(xs, &g, ys, divisor) },
                    simd::Level::Baseline => {}
                }
            }
            simd::dispatch(
                #[inline(always)]
                || {
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
                            let d = T::from_usize(divisor(oh, ow));
                            out.iter_mut().for_each(|v| *v /= d);
                        }
                    }
                },
            )
        };
        over_samples(y.chunks_mut(out_len), g.n, x.len(), sample);
        self.geometry = Some(g);
        Tensor::from_vec(y, &g.output_shape())
    }

    /// `dA = dZ ⊗ M`, `M = 1/divisor` over each window, accumulated where windows overlap.
    fn backward(&self, _: &Saved<T>, dz: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let g = self.geometry.expect("forward ran");
        let (c, in_len, out_len) = (g.c, g.h * g.w * g.c, g.oh * g.ow * g.c);
        let dz = dz.as_slice();
        let mut da = buffer::take_dirty::<T>(g.n * in_len);
        #[cfg(target_arch = "x86_64")]
        let level = simd::level();
        let divisor = |oh, ow| self.divisor(&g, oh, ow);
        let sample = |n: usize, das: &mut [T]| {
            das.fill(T::ZERO);
            let dzs = &dz[n * out_len..(n + 1) * out_len];
            #[cfg(target_arch = "x86_64")]
            if let (Some(dzs), Some(das)) = (as_f32(dzs), as_f32_mut(das)) {
                match level {
                    // SAFETY: the CPU has AVX-512F (`simd::level`).
                    simd::Level::Avx512 => {
                        return unsafe { x86::avg_pool_backward_avx512(dzs, &g, das, divisor) };
                    }
                    // SAFETY: the CPU has AVX2 (`simd::level`).
                    simd::Level::Avx2 => {
                        return unsafe { x86::avg_pool_backward_avx2(dzs, &g, das, divisor) };
                    }
                    simd::Level::Baseline => {}
                }
            }
            simd::dispatch(
                #[inline(always)]
                || {
                    for oh in 0..g.oh {
                        for ow in 0..g.ow {
                            let gz = &dzs[(oh * g.ow + ow) * c..(oh * g.ow + ow + 1) * c];
                            let m = T::ONE / T::from_usize(divisor(oh, ow));
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
        over_samples(da.chunks_mut(in_len), g.n, g.n * in_len, sample);
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
/// use nn::ops::pool::{avg_pool2d, Pool2dConfig};
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
