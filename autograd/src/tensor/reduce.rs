//! Reductions: sum, mean, max and argmax, over everything or along axes.

use super::Tensor;
use super::elementwise::for_each_strided;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::runtime::buffer;
use crate::shape::{self, Shape, broadcast_strides, check_axis};

/// The shape left after reducing `axis`: length 1 there with `keepdim`, removed without.
pub(crate) fn reduced_shape(shape: &[usize], axis: usize, keepdim: bool) -> Shape {
    let mut out = Shape::from_slice(shape);
    if keepdim {
        out[axis] = 1;
    } else {
        out.remove(axis);
    }
    out
}

/// Splits a shape around `axis` into `(outer, len, inner)` element counts.
pub(crate) fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

impl<T: Element> Tensor<T> {
    /// The sum of all elements, as a rank-0 tensor.
    pub fn sum_all(&self) -> Tensor<T> {
        Tensor::scalar(self.data.iter().copied().sum())
    }

    /// The mean of all elements, as a rank-0 tensor.
    pub fn mean_all(&self) -> Tensor<T> {
        let s: T = self.data.iter().copied().sum();
        Tensor::scalar(s / T::from_usize(self.numel().max(1)))
    }

    /// Sums along one axis.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Result<Tensor<T>> {
        check_axis("sum", &self.shape, axis)?;
        let (outer, len, inner) = split_at_axis(&self.shape, axis);
        let x = self.as_slice();
        let mut out = buffer::take_zeroed(outer * inner);
        for o in 0..outer {
            let dst = &mut out[o * inner..(o + 1) * inner];
            for k in 0..len {
                let src = &x[(o * len + k) * inner..(o * len + k + 1) * inner];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d += s;
                }
            }
        }
        Ok(Tensor::from_parts(reduced_shape(&self.shape, axis, keepdim), out))
    }

    /// Sums along several axes (each listed once, in any order).
    pub fn sum_axes(&self, axes: &[usize], keepdim: bool) -> Result<Tensor<T>> {
        let mut sorted: Shape = Shape::from_slice(axes);
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            if w[0] == w[1] {
                return Err(Error::invalid(
                    "sum",
                    &self.shape,
                    format!("axis {} is listed twice", w[0]),
                ));
            }
        }
        let mut out = self.clone();
        for &axis in sorted.iter().rev() {
            out = out.sum_axis(axis, keepdim)?;
        }
        Ok(out)
    }

    /// Means along one axis.
    pub fn mean_axis(&self, axis: usize, keepdim: bool) -> Result<Tensor<T>> {
        let len = T::from_usize(*self.shape.get(axis).unwrap_or(&1));
        Ok(self.sum_axis(axis, keepdim)?.map(|s| s / len))
    }

    /// Sums a tensor down to `target`, a shape that broadcasts to this tensor's shape: the
    /// reverse of broadcasting, which the backward of every broadcasting op needs.
    pub fn sum_to_shape(&self, target: &[usize]) -> Result<Tensor<T>> {
        if target == self.shape.as_slice() {
            return Ok(self.clone());
        }
        let fits = target.len() <= self.rank()
            && target
                .iter()
                .rev()
                .zip(self.shape.iter().rev())
                .all(|(&t, &s)| t == s || t == 1);
        if !fits {
            return Err(Error::shapes(
                "sum_to_shape",
                &self.shape,
                target,
                "the target does not broadcast to the source",
            ));
        }
        let st = broadcast_strides(target, &self.shape);
        let x = self.as_slice();
        let mut out = buffer::take_zeroed(shape::numel(target));
        for_each_strided(&self.shape, [&st], |i, [it]| out[it] += x[i]);
        Ok(Tensor::from_parts(Shape::from_slice(target), out))
    }

    /// The largest element and its row-major position; `None` for an empty tensor. A NaN is
    /// the largest (the first NaN), as in `torch.max`.
    pub fn max_all(&self) -> Option<(T, usize)> {
        let mut best: Option<(T, usize)> = None;
        for (i, &v) in self.data.iter().enumerate() {
            if best.is_none_or(|(b, _)| v > b || (v.is_nan() && !b.is_nan())) {
                best = Some((v, i));
            }
        }
        best
    }

    /// The maxima along `axis` and, for each, the position along the axis where it occurs
    /// (the first one on ties; a NaN is larger than any number, the first NaN wins, as in
    /// `torch.max`). The positions are laid out like the values.
    pub fn max_axis_with_indices(&self, axis: usize, keepdim: bool) -> Result<(Tensor<T>, Vec<usize>)> {
        check_axis("max", &self.shape, axis)?;
        let (outer, len, inner) = split_at_axis(&self.shape, axis);
        if len == 0 {
            return Err(Error::invalid(
                "max",
                &self.shape,
                format!("axis {axis} is empty"),
            ));
        }
        let x = self.as_slice();
        let mut vals = x[..0].to_vec();
        vals.reserve(outer * inner);
        let mut idx = vec![0usize; outer * inner];
        for o in 0..outer {
            vals.extend_from_slice(&x[o * len * inner..(o * len + 1) * inner]);
            let dst = &mut vals[o * inner..(o + 1) * inner];
            let di = &mut idx[o * inner..(o + 1) * inner];
            for k in 1..len {
                let src = &x[(o * len + k) * inner..(o * len + k + 1) * inner];
                for i in 0..inner {
                    if src[i] > dst[i] || (src[i].is_nan() && !dst[i].is_nan()) {
                        dst[i] = src[i];
                        di[i] = k;
                    }
                }
            }
        }
        Ok((
            Tensor::from_parts(reduced_shape(&self.shape, axis, keepdim), vals),
            idx,
        ))
    }

    /// The maxima along `axis`.
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Result<Tensor<T>> {
        Ok(self.max_axis_with_indices(axis, keepdim)?.0)
    }

    /// The position of the maximum along `axis` for every other index (first on ties, a NaN
    /// first of all).
    pub fn argmax_axis(&self, axis: usize) -> Result<Vec<usize>> {
        Ok(self.max_axis_with_indices(axis, false)?.1)
    }
}
