//! Layout primitives: reshape, permute, slice, concat, pad, index_select, gather and where.
//! Their backward rules move gradients back to where the values came from.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::op::{CustomOp, Saved};
use crate::shape::{Shape, check_axis};
use crate::tape::Var;
use crate::tensor::Tensor;

type Grads<T> = Result<Vec<Option<Tensor<T>>>>;

/// `y = x` under a new shape; `dx = dy` under the old shape.
struct ReshapeOp {
    to: Shape,
    from: Shape,
}

impl<T: Element> CustomOp<T> for ReshapeOp {
    fn name(&self) -> &str {
        "reshape"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        self.from = Shape::from_slice(inputs[0].shape());
        inputs[0].reshape(&self.to)
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        Ok(vec![Some(dy.reshape(&self.from)?)])
    }
}

/// `y = x` with axes reordered by `axes`; `dx = dy` permuted by the inverse permutation.
struct PermuteOp {
    axes: Shape,
}

impl<T: Element> CustomOp<T> for PermuteOp {
    fn name(&self) -> &str {
        "permute"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        inputs[0].permute(&self.axes)
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        let mut inverse: Shape = smallvec::smallvec![0; self.axes.len()];
        for (i, &a) in self.axes.iter().enumerate() {
            inverse[a] = i;
        }
        Ok(vec![Some(dy.permute(&inverse)?)])
    }
}

/// `y = x[start..end:step]` along an axis; `dx` is `dy` put back at those positions, zero
/// elsewhere.
struct SliceOp {
    axis: usize,
    start: usize,
    end: usize,
    step: usize,
    from: Shape,
}

impl<T: Element> CustomOp<T> for SliceOp {
    fn name(&self) -> &str {
        "slice"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        self.from = Shape::from_slice(inputs[0].shape());
        inputs[0].slice(self.axis, self.start, self.end, self.step)
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        Ok(vec![Some(
            dy.unslice(&self.from, self.axis, self.start, self.step)?,
        )])
    }
}

/// `y = [x_0, x_1, ..]` joined along an axis; `dx_i` is the slice of `dy` that `x_i` filled.
struct ConcatOp {
    axis: usize,
    lengths: Vec<usize>,
}

impl<T: Element> CustomOp<T> for ConcatOp {
    fn name(&self) -> &str {
        "concat"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        let y = Tensor::concat(inputs, self.axis)?;
        self.lengths = inputs.iter().map(|t| t.shape()[self.axis]).collect();
        Ok(y)
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Grads<T> {
        let mut offset = 0;
        let mut grads = Vec::with_capacity(self.lengths.len());
        for (&len, &need) in self.lengths.iter().zip(needs) {
            grads.push(super::grad_if(need, || {
                dy.slice(self.axis, offset, offset + len, 1)
            })?);
            offset += len;
        }
        Ok(grads)
    }
}

/// `y = x` surrounded by `(before, after)` copies of a constant on each axis; `dx` is the
/// interior of `dy`.
struct PadOp<T> {
    pads: Vec<(usize, usize)>,
    value: T,
}

impl<T: Element> CustomOp<T> for PadOp<T> {
    fn name(&self) -> &str {
        "pad"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        inputs[0].pad(&self.pads, self.value)
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        Ok(vec![Some(dy.unpad(&self.pads)?)])
    }
}

/// `y = x[.., indices, ..]` along an axis; `dx` accumulates each slice of `dy` at its index.
struct IndexSelectOp {
    axis: usize,
    indices: Vec<usize>,
    from: Shape,
}

impl<T: Element> CustomOp<T> for IndexSelectOp {
    fn name(&self) -> &str {
        "index_select"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        self.from = Shape::from_slice(inputs[0].shape());
        inputs[0].index_select(self.axis, &self.indices)
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        Ok(vec![Some(dy.index_add(&self.from, self.axis, &self.indices)?)])
    }
}

/// `y[.., j, ..] = x[.., index[.., j, ..], ..]`; `dx` accumulates `dy` where it was taken.
struct GatherOp {
    axis: usize,
    index: Vec<usize>,
    from: Shape,
}

impl<T: Element> CustomOp<T> for GatherOp {
    fn name(&self) -> &str {
        "gather"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        self.from = Shape::from_slice(inputs[0].shape());
        inputs[0].gather(self.axis, &self.index)
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        Ok(vec![Some(dy.scatter_add(&self.from, self.axis, &self.index)?)])
    }
}

/// `y = mask ? a : b` (broadcasting, `mask` a constant of 0/1); `da = dy ⊙ mask`,
/// `db = dy ⊙ (1 - mask)`, each summed to its operand's shape.
struct WhereOp<T: Element> {
    mask: Tensor<T>,
    shapes: (Shape, Shape),
}

impl<T: Element> CustomOp<T> for WhereOp<T> {
    fn name(&self) -> &str {
        "where"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        self.shapes = (
            Shape::from_slice(inputs[0].shape()),
            Shape::from_slice(inputs[1].shape()),
        );
        Tensor::where_mask(&self.mask, inputs[0], inputs[1])
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Grads<T> {
        let zero = Tensor::scalar(T::ZERO);
        Ok(vec![
            super::grad_if(needs[0], || {
                Tensor::where_mask(&self.mask, dy, &zero)?.sum_to_shape(&self.shapes.0)
            })?,
            super::grad_if(needs[1], || {
                Tensor::where_mask(&self.mask, &zero, dy)?.sum_to_shape(&self.shapes.1)
            })?,
        ])
    }
}

/// `y = x` stretched to a shape by broadcasting; `dx = dy` summed back to `x`'s shape.
struct BroadcastOp {
    to: Shape,
    from: Shape,
}

impl<T: Element> CustomOp<T> for BroadcastOp {
    fn name(&self) -> &str {
        "broadcast_to"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        self.from = Shape::from_slice(inputs[0].shape());
        inputs[0].broadcast_to(&self.to)
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        Ok(vec![Some(dy.sum_to_shape(&self.from)?)])
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// The same elements under another shape.
    pub fn reshape(&self, shape: &[usize]) -> Result<Var<'t, T>> {
        Var::apply(
            ReshapeOp {
                to: Shape::from_slice(shape),
                from: Shape::new(),
            },
            &[self],
        )
    }
    /// All axes after the first merged into one: `[N, ..] -> [N, rest]`.
    pub fn flatten(&self) -> Result<Var<'t, T>> {
        let n = *self
            .shape()
            .first()
            .ok_or_else(|| Error::invalid("flatten", self.shape(), "a scalar has no batch axis"))?;
        let rest = self.shape()[1..].iter().product();
        self.reshape(&[n, rest])
    }
    /// Axes reordered: output axis `i` is input axis `axes[i]`.
    pub fn permute(&self, axes: &[usize]) -> Result<Var<'t, T>> {
        Var::apply(
            PermuteOp {
                axes: Shape::from_slice(axes),
            },
            &[self],
        )
    }
    /// Two axes swapped.
    pub fn transpose(&self, a: usize, b: usize) -> Result<Var<'t, T>> {
        check_axis("transpose", self.shape(), a)?;
        check_axis("transpose", self.shape(), b)?;
        let mut axes: Shape = (0..self.shape().len()).collect();
        axes.swap(a, b);
        self.permute(&axes)
    }
    /// The elements `start, start + step, ..` below `end` along `axis`.
    pub fn slice(&self, axis: usize, start: usize, end: usize, step: usize) -> Result<Var<'t, T>> {
        Var::apply(
            SliceOp {
                axis,
                start,
                end,
                step,
                from: Shape::new(),
            },
            &[self],
        )
    }
    /// Variables joined along `axis`.
    pub fn concat(vars: &[&Var<'t, T>], axis: usize) -> Result<Var<'t, T>> {
        Var::apply(
            ConcatOp {
                axis,
                lengths: Vec::new(),
            },
            vars,
        )
    }
    /// Padded with `pads[axis] = (before, after)` copies of `value` on every axis.
    pub fn pad(&self, pads: &[(usize, usize)], value: T) -> Result<Var<'t, T>> {
        Var::apply(
            PadOp {
                pads: pads.to_vec(),
                value,
            },
            &[self],
        )
    }
    /// The entries `indices` along `axis`.
    pub fn index_select(&self, axis: usize, indices: &[usize]) -> Result<Var<'t, T>> {
        Var::apply(
            IndexSelectOp {
                axis,
                indices: indices.to_vec(),
                from: Shape::new(),
            },
            &[self],
        )
    }
    /// `torch.gather`: see [`Tensor::gather`] for the layout of `index`.
    pub fn gather(&self, axis: usize, index: &[usize]) -> Result<Var<'t, T>> {
        Var::apply(
            GatherOp {
                axis,
                index: index.to_vec(),
                from: Shape::new(),
            },
            &[self],
        )
    }
    /// `on_true` where `mask` is non-zero, `on_false` elsewhere (all three broadcast).
    pub fn where_mask(mask: &Tensor<T>, on_true: &Var<'t, T>, on_false: &Var<'t, T>) -> Result<Var<'t, T>> {
        Var::apply(
            WhereOp {
                mask: mask.clone(),
                shapes: (Shape::new(), Shape::new()),
            },
            &[on_true, on_false],
        )
    }
    /// Stretched to `shape` by broadcasting.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Var<'t, T>> {
        Var::apply(
            BroadcastOp {
                to: Shape::from_slice(shape),
                from: Shape::new(),
            },
            &[self],
        )
    }
}
