//! Pooling to a fixed output size, per channel: global average pooling (`[N, H, W, C] ->
//! [N, C]`, the head of a ResNet) and adaptive average pooling to `OH x OW` windows.
//!
//! - Global: `Z_nc = (1/(H·W)) Σ_ij A_nijc`, so `dA_nijc = dZ_nc / (H·W)`.
//! - Adaptive (PyTorch's bins): output row `i` averages input rows
//!   `⌊i·H/OH⌋ .. ⌈(i+1)·H/OH⌉` (likewise columns), so windows may overlap by one row when
//!   `OH` does not divide `H`; `dA` receives `dZ / |window|` from every window holding it.

use super::geometry::over_samples;
use autograd::runtime::buffer;
use autograd::{CustomOp, Element, Error, Result, Saved, Tensor, Var};
use std::ops::Range;

fn image_dims(op: &str, shape: &[usize]) -> Result<[usize; 4]> {
    match shape {
        &[n, h, w, c] if h > 0 && w > 0 => Ok([n, h, w, c]),
        _ => Err(Error::invalid(
            op,
            shape,
            "the input must be [N, H, W, C] with H, W > 0",
        )),
    }
}

/// Global average pooling as a [`CustomOp`].
#[derive(Default)]
pub struct GlobalAvgPool2dOp {
    dims: [usize; 4],
}

impl<T: Element> CustomOp<T> for GlobalAvgPool2dOp {
    fn name(&self) -> &str {
        "global_avg_pool2d"
    }

    /// `Z_nc = (1/(H·W)) Σ_ij A_nijc`.
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        let [n, h, w, c] = image_dims("global_avg_pool2d", inputs[0].shape())?;
        self.dims = [n, h, w, c];
        let (x, hw) = (inputs[0].as_slice(), h * w);
        let mut y = buffer::take_zeroed::<T>(n * c);
        let inv = T::ONE / T::from_usize(hw);
        over_samples(y.chunks_mut(c.max(1)), n, x.len(), |s, out: &mut [T]| {
            for row in x[s * hw * c..(s + 1) * hw * c].chunks_exact(c) {
                out.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
            }
            out.iter_mut().for_each(|o| *o *= inv);
        });
        Tensor::from_vec(y, &[n, c])
    }

    /// `dA_nijc = dZ_nc / (H·W)`.
    fn backward(&self, _: &Saved<T>, dz: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let [n, h, w, c] = self.dims;
        let (dz, hw) = (dz.as_slice(), h * w);
        let inv = T::ONE / T::from_usize(hw);
        let mut da = buffer::take_dirty::<T>(n * hw * c);
        over_samples(
            da.chunks_mut((hw * c).max(1)),
            n,
            n * hw * c,
            |s, out: &mut [T]| {
                let g = &dz[s * c..(s + 1) * c];
                for row in out.chunks_exact_mut(c) {
                    row.iter_mut().zip(g).for_each(|(d, &v)| *d = v * inv);
                }
            },
        );
        Ok(vec![Some(Tensor::from_vec(da, &[n, h, w, c])?)])
    }
}

/// Global average pooling of `x` `[N, H, W, C]` to `[N, C]` (the spatial axes dropped).
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::pool::global_avg_pool2d;
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![1.0, 10.0, 3.0, 30.0], &[1, 1, 2, 2]).unwrap());
/// let z = global_avg_pool2d(&x).unwrap();
/// assert_eq!(z.value().to_vec(), vec![2.0, 20.0]);
/// let g = tape.backward(&z.sum()).unwrap();
/// assert_eq!(g[&x].to_vec(), vec![0.5; 4]); // dZ / (H·W)
/// ```
pub fn global_avg_pool2d<'t, T: Element>(x: &Var<'t, T>) -> Result<Var<'t, T>> {
    Var::apply(GlobalAvgPool2dOp::default(), &[x])
}

/// The input positions `⌊i·len/out⌋ .. ⌈(i+1)·len/out⌉` of adaptive output `i`.
pub fn adaptive_window(i: usize, len: usize, out: usize) -> Range<usize> {
    (i * len / out)..((i + 1) * len).div_ceil(out)
}

/// Adaptive average pooling as a [`CustomOp`].
pub struct AdaptiveAvgPool2dOp {
    out: (usize, usize),
    dims: [usize; 4],
}

impl AdaptiveAvgPool2dOp {
    /// For each output position, its window's rows, columns and `1/|window|`.
    fn windows(&self) -> impl Iterator<Item = (usize, Range<usize>, Range<usize>, f64)> + '_ {
        let [_, h, w, _] = self.dims;
        let (oh, ow) = self.out;
        (0..oh * ow).map(move |o| {
            let (r, c) = (adaptive_window(o / ow, h, oh), adaptive_window(o % ow, w, ow));
            let count = (r.len() * c.len()) as f64;
            (o, r, c, 1.0 / count)
        })
    }
}

impl<T: Element> CustomOp<T> for AdaptiveAvgPool2dOp {
    fn name(&self) -> &str {
        "adaptive_avg_pool2d"
    }

    /// `Z_n,i,j,c` = the mean of the window of `(i, j)`.
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        let [n, h, w, c] = image_dims("adaptive_avg_pool2d", inputs[0].shape())?;
        if self.out.0 == 0 || self.out.1 == 0 {
            return Err(Error::invalid(
                "adaptive_avg_pool2d",
                inputs[0].shape(),
                "the output size must be positive",
            ));
        }
        self.dims = [n, h, w, c];
        let (x, (oh, ow)) = (inputs[0].as_slice(), self.out);
        let mut y = buffer::take_zeroed::<T>(n * oh * ow * c);
        over_samples(
            y.chunks_mut((oh * ow * c).max(1)),
            n,
            x.len(),
            |s, ys: &mut [T]| {
                let xs = &x[s * h * w * c..(s + 1) * h * w * c];
                for (o, rows, cols, inv) in self.windows() {
                    let out = &mut ys[o * c..(o + 1) * c];
                    for i in rows {
                        for j in cols.clone() {
                            let at = (i * w + j) * c;
                            out.iter_mut().zip(&xs[at..at + c]).for_each(|(v, &a)| *v += a);
                        }
                    }
                    let inv = T::from_f64(inv);
                    out.iter_mut().for_each(|v| *v *= inv);
                }
            },
        );
        Tensor::from_vec(y, &[n, oh, ow, c])
    }

    /// `dA` receives `dZ / |window|` from each window holding it.
    fn backward(&self, _: &Saved<T>, dz: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let [n, h, w, c] = self.dims;
        let (dz, (oh, ow)) = (dz.as_slice(), self.out);
        let mut da = buffer::take_zeroed::<T>(n * h * w * c);
        over_samples(
            da.chunks_mut((h * w * c).max(1)),
            n,
            n * h * w * c,
            |s, das: &mut [T]| {
                let gs = &dz[s * oh * ow * c..(s + 1) * oh * ow * c];
                for (o, rows, cols, inv) in self.windows() {
                    let inv = T::from_f64(inv);
                    let g = &gs[o * c..(o + 1) * c];
                    for i in rows {
                        for j in cols.clone() {
                            let at = (i * w + j) * c;
                            das[at..at + c]
                                .iter_mut()
                                .zip(g)
                                .for_each(|(d, &v)| *d += v * inv);
                        }
                    }
                }
            },
        );
        Ok(vec![Some(Tensor::from_vec(da, &[n, h, w, c])?)])
    }
}

/// Adaptive average pooling of `x` `[N, H, W, C]` to `[N, OH, OW, C]` with PyTorch's
/// windows (see [`adaptive_window`]).
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::pool::adaptive_avg_pool2d;
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 1, 3, 1]).unwrap());
/// let z = adaptive_avg_pool2d(&x, (1, 2)).unwrap(); // windows 0..2 and 1..3
/// assert_eq!(z.value().to_vec(), vec![1.5, 2.5]);
/// let g = tape.backward(&z.sum()).unwrap();
/// assert_eq!(g[&x].to_vec(), vec![0.5, 1.0, 0.5]);
/// ```
pub fn adaptive_avg_pool2d<'t, T: Element>(x: &Var<'t, T>, out: (usize, usize)) -> Result<Var<'t, T>> {
    Var::apply(AdaptiveAvgPool2dOp { out, dims: [0; 4] }, &[x])
}
