//! Layout ops: reshape, permute, slice, concatenate, pad, index_select and gather, with the
//! scatter forms their backward rules need.

use super::Tensor;
use super::elementwise::for_each_strided;
use super::reduce::split_at_axis;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::runtime::buffer;
use crate::shape::{self, Shape, check_axis};

impl<T: Element> Tensor<T> {
    /// The same elements under another shape with as many elements. No copy.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor<T>> {
        if shape::numel(shape) != self.numel() {
            return Err(Error::shapes(
                "reshape",
                &self.shape,
                shape,
                format!(
                    "{} elements cannot take a shape of {}",
                    self.numel(),
                    shape::numel(shape)
                ),
            ));
        }
        Ok(Tensor {
            shape: Shape::from_slice(shape),
            data: self.data.clone(),
        })
    }

    /// Reorders the axes: output axis `i` is input axis `axes[i]`.
    pub fn permute(&self, axes: &[usize]) -> Result<Tensor<T>> {
        let rank = self.rank();
        let mut seen: Shape = smallvec::smallvec![0; rank];
        if axes.len() != rank
            || axes
                .iter()
                .any(|&a| a >= rank || std::mem::replace(&mut seen[a], 1) == 1)
        {
            return Err(Error::invalid(
                "permute",
                &self.shape,
                format!("{axes:?} is not a permutation of the {rank} axes"),
            ));
        }
        if axes.iter().enumerate().all(|(i, &a)| i == a) {
            return Ok(self.clone());
        }
        let own = shape::strides(&self.shape);
        let out_shape: Shape = axes.iter().map(|&a| self.shape[a]).collect();
        let src_strides: Shape = axes.iter().map(|&a| own[a]).collect();
        let x = self.as_slice();
        let mut out = buffer::take_dirty(self.numel());
        for_each_strided(&out_shape, [&src_strides], |i, [is]| out[i] = x[is]);
        Ok(Tensor::from_parts(out_shape, out))
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Tensor<T>> {
        check_axis("transpose", &self.shape, a)?;
        check_axis("transpose", &self.shape, b)?;
        let mut axes: Shape = (0..self.rank()).collect();
        axes.swap(a, b);
        self.permute(&axes)
    }

    /// The elements `start, start + step, ...` below `end` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize, step: usize) -> Result<Tensor<T>> {
        check_axis("slice", &self.shape, axis)?;
        let len = self.shape[axis];
        if step == 0 || start > end || end > len {
            return Err(Error::invalid(
                "slice",
                &self.shape,
                format!("range {start}..{end} step {step} does not fit axis {axis} of length {len}"),
            ));
        }
        let (outer, _, inner) = split_at_axis(&self.shape, axis);
        let taken = (end - start).div_ceil(step);
        let x = self.as_slice();
        let mut out = buffer::take_dirty(outer * taken * inner);
        let mut chunks = out.chunks_exact_mut(inner.max(1));
        for o in 0..outer {
            for k in (start..end).step_by(step) {
                if let Some(dst) = chunks.next() {
                    dst.copy_from_slice(&x[(o * len + k) * inner..(o * len + k + 1) * inner]);
                }
            }
        }
        let mut out_shape = self.shape.clone();
        out_shape[axis] = taken;
        Ok(Tensor::from_parts(out_shape, out))
    }

    /// The backward of [`slice`](Self::slice): a tensor of `full_shape`, zero except where the
    /// slice came from, which holds `self`.
    pub fn unslice(&self, full_shape: &[usize], axis: usize, start: usize, step: usize) -> Result<Tensor<T>> {
        check_axis("unslice", full_shape, axis)?;
        let (outer, len, inner) = split_at_axis(full_shape, axis);
        let taken = self.shape.get(axis).copied().unwrap_or(0);
        let mut expect = Shape::from_slice(full_shape);
        expect[axis] = taken;
        let fits = self.shape == expect && step > 0 && (taken == 0 || start + (taken - 1) * step < len);
        if !fits {
            return Err(Error::shapes(
                "unslice",
                &self.shape,
                full_shape,
                "the slice does not fit",
            ));
        }
        let g = self.as_slice();
        let mut out = buffer::take_zeroed(shape::numel(full_shape));
        for o in 0..outer {
            for j in 0..taken {
                let k = start + j * step;
                out[(o * len + k) * inner..(o * len + k + 1) * inner]
                    .copy_from_slice(&g[(o * taken + j) * inner..(o * taken + j + 1) * inner]);
            }
        }
        Ok(Tensor::from_parts(Shape::from_slice(full_shape), out))
    }

    /// Joins tensors along `axis`; all other axes must agree.
    pub fn concat(tensors: &[&Tensor<T>], axis: usize) -> Result<Tensor<T>> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("concat", &[], "needs at least one tensor"))?;
        check_axis("concat", &first.shape, axis)?;
        for t in &tensors[1..] {
            let fits = t.rank() == first.rank()
                && (0..first.rank()).all(|a| a == axis || t.shape[a] == first.shape[a]);
            if !fits {
                return Err(Error::shapes(
                    "concat",
                    &first.shape,
                    &t.shape,
                    format!("all axes but {axis} must have equal lengths"),
                ));
            }
        }
        let (outer, _, inner) = split_at_axis(&first.shape, axis);
        let total: usize = tensors.iter().map(|t| t.shape[axis]).sum();
        let mut out = Vec::with_capacity(outer * total * inner);
        for o in 0..outer {
            for t in tensors {
                let chunk = t.shape[axis] * inner;
                out.extend_from_slice(&t.as_slice()[o * chunk..(o + 1) * chunk]);
            }
        }
        let mut out_shape = first.shape.clone();
        out_shape[axis] = total;
        Ok(Tensor::from_parts(out_shape, out))
    }

    /// Pads every axis with `pads[axis] = (before, after)` copies of `value`.
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Result<Tensor<T>> {
        if pads.len() != self.rank() {
            return Err(Error::invalid(
                "pad",
                &self.shape,
                format!(
                    "{} (before, after) pairs given for rank {}",
                    pads.len(),
                    self.rank()
                ),
            ));
        }
        let out_shape: Shape = self
            .shape
            .iter()
            .zip(pads)
            .map(|(&d, &(b, a))| b + d + a)
            .collect();
        let out_strides = shape::strides(&out_shape);
        let base: usize = pads
            .iter()
            .zip(out_strides.iter())
            .map(|(&(b, _), &s)| b * s)
            .sum();
        let x = self.as_slice();
        let mut out = buffer::take_dirty(shape::numel(&out_shape));
        out.fill(value);
        for_each_strided(&self.shape, [&out_strides], |i, [io]| out[base + io] = x[i]);
        Ok(Tensor::from_parts(out_shape, out))
    }

    /// The backward of [`pad`](Self::pad): the interior that padding surrounded.
    pub fn unpad(&self, pads: &[(usize, usize)]) -> Result<Tensor<T>> {
        let fits = pads.len() == self.rank() && self.shape.iter().zip(pads).all(|(&d, &(b, a))| b + a <= d);
        if !fits {
            return Err(Error::invalid(
                "unpad",
                &self.shape,
                format!("padding {pads:?} does not fit"),
            ));
        }
        let inner_shape: Shape = self
            .shape
            .iter()
            .zip(pads)
            .map(|(&d, &(b, a))| d - b - a)
            .collect();
        let own = shape::strides(&self.shape);
        let base: usize = pads.iter().zip(own.iter()).map(|(&(b, _), &s)| b * s).sum();
        let g = self.as_slice();
        let mut out = buffer::take_dirty(shape::numel(&inner_shape));
        for_each_strided(&inner_shape, [&own], |i, [ig]| out[i] = g[base + ig]);
        Ok(Tensor::from_parts(inner_shape, out))
    }

    /// The entries `indices` along `axis`, in that order (repeats allowed).
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Result<Tensor<T>> {
        check_axis("index_select", &self.shape, axis)?;
        let (outer, len, inner) = split_at_axis(&self.shape, axis);
        if let Some(&bad) = indices.iter().find(|&&i| i >= len) {
            return Err(Error::invalid(
                "index_select",
                &self.shape,
                format!("index {bad} is out of range for axis {axis} of length {len}"),
            ));
        }
        let x = self.as_slice();
        let mut out = Vec::with_capacity(outer * indices.len() * inner);
        for o in 0..outer {
            for &k in indices {
                out.extend_from_slice(&x[(o * len + k) * inner..(o * len + k + 1) * inner]);
            }
        }
        let mut out_shape = self.shape.clone();
        out_shape[axis] = indices.len();
        Ok(Tensor::from_parts(out_shape, out))
    }

    /// The backward of [`index_select`](Self::index_select): a tensor of `full_shape` where
    /// each slice of `self` is added at its index (repeated indices accumulate).
    pub fn index_add(&self, full_shape: &[usize], axis: usize, indices: &[usize]) -> Result<Tensor<T>> {
        check_axis("index_add", full_shape, axis)?;
        let (outer, len, inner) = split_at_axis(full_shape, axis);
        let mut expect = Shape::from_slice(full_shape);
        expect[axis] = indices.len();
        if self.shape != expect || indices.iter().any(|&i| i >= len) {
            return Err(Error::shapes(
                "index_add",
                &self.shape,
                full_shape,
                "indices do not fit",
            ));
        }
        let g = self.as_slice();
        let m = indices.len();
        let mut out = vec![T::ZERO; shape::numel(full_shape)];
        for o in 0..outer {
            for (j, &k) in indices.iter().enumerate() {
                let src = &g[(o * m + j) * inner..(o * m + j + 1) * inner];
                for (d, &s) in out[(o * len + k) * inner..(o * len + k + 1) * inner]
                    .iter_mut()
                    .zip(src)
                {
                    *d += s;
                }
            }
        }
        Ok(Tensor::from_parts(Shape::from_slice(full_shape), out))
    }

    /// Picks along `axis` per position: `out[.., j, ..] = self[.., index[.., j, ..], ..]`, like
    /// `torch.gather`. `index` is laid out like the output: this tensor's shape with the
    /// length of `axis` replaced by `index.len() / (product of the other lengths)`.
    pub fn gather(&self, axis: usize, index: &[usize]) -> Result<Tensor<T>> {
        check_axis("gather", &self.shape, axis)?;
        let (outer, len, inner) = split_at_axis(&self.shape, axis);
        let m = gather_width("gather", &self.shape, outer * inner, index.len())?;
        if let Some(&bad) = index.iter().find(|&&i| i >= len) {
            return Err(Error::invalid(
                "gather",
                &self.shape,
                format!("index {bad} is out of range for axis {axis} of length {len}"),
            ));
        }
        let x = self.as_slice();
        let mut out = vec![T::ZERO; index.len()];
        for o in 0..outer {
            for j in 0..m {
                for i in 0..inner {
                    let p = (o * m + j) * inner + i;
                    out[p] = x[(o * len + index[p]) * inner + i];
                }
            }
        }
        let mut out_shape = self.shape.clone();
        out_shape[axis] = m;
        Ok(Tensor::from_parts(out_shape, out))
    }

    /// The backward of [`gather`](Self::gather): adds each element of `self` at the position
    /// it was gathered from, in a tensor of `full_shape`.
    pub fn scatter_add(&self, full_shape: &[usize], axis: usize, index: &[usize]) -> Result<Tensor<T>> {
        check_axis("scatter_add", full_shape, axis)?;
        let (outer, len, inner) = split_at_axis(full_shape, axis);
        let m = gather_width("scatter_add", full_shape, outer * inner, index.len())?;
        if self.numel() != index.len() || index.iter().any(|&i| i >= len) {
            return Err(Error::shapes(
                "scatter_add",
                &self.shape,
                full_shape,
                "index does not fit",
            ));
        }
        let g = self.as_slice();
        let mut out = vec![T::ZERO; shape::numel(full_shape)];
        for o in 0..outer {
            for j in 0..m {
                for i in 0..inner {
                    let p = (o * m + j) * inner + i;
                    out[(o * len + index[p]) * inner + i] += g[p];
                }
            }
        }
        Ok(Tensor::from_parts(Shape::from_slice(full_shape), out))
    }
}

fn gather_width(op: &str, shape: &[usize], others: usize, index_len: usize) -> Result<usize> {
    if others == 0 || !index_len.is_multiple_of(others) {
        return Err(Error::invalid(
            op,
            shape,
            format!("{index_len} indices cannot be laid out over the other axes ({others} positions)"),
        ));
    }
    Ok(index_len / others)
}
