//! Reductions: sum, mean (over everything or over axes) and max over an axis.

use super::infallible;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::op::{CustomOp, Saved};
use crate::shape::{Shape, check_axis};
use crate::tape::Var;
use crate::tensor::Tensor;

type Grads<T> = Result<Vec<Option<Tensor<T>>>>;

/// `y = scale · Σ_{axes} x` (all axes when `axes` is `None`); `dx = scale · dy` broadcast back
/// over the summed axes. `scale` is 1 for a sum and `1/count` for a mean.
struct SumOp<T> {
    axes: Option<Shape>,
    keepdim: bool,
    mean: bool,
    x_shape: Shape,
    scale: T,
}

impl<T: Element> SumOp<T> {
    fn new(axes: Option<&[usize]>, keepdim: bool, mean: bool) -> Self {
        SumOp {
            axes: axes.map(Shape::from_slice),
            keepdim,
            mean,
            x_shape: Shape::new(),
            scale: T::ONE,
        }
    }
}

impl<T: Element> CustomOp<T> for SumOp<T> {
    fn name(&self) -> &str {
        if self.mean { "mean" } else { "sum" }
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        let x = inputs[0];
        self.x_shape = Shape::from_slice(x.shape());
        let count: usize = match &self.axes {
            None => x.numel(),
            Some(axes) => {
                for (i, &a) in axes.iter().enumerate() {
                    check_axis(self.name(), x.shape(), a)?;
                    if axes[..i].contains(&a) {
                        let why = format!("axis {a} is listed twice");
                        return Err(crate::error::Error::invalid(self.name(), x.shape(), why));
                    }
                }
                axes.iter().map(|&a| x.shape()[a]).product()
            }
        };
        self.scale = if self.mean {
            T::ONE / T::from_usize(count.max(1))
        } else {
            T::ONE
        };
        let y = match &self.axes {
            None => x.sum_all(),
            Some(axes) => x.sum_axes(axes, self.keepdim)?,
        };
        Ok(if self.mean { y.mul_scalar(self.scale) } else { y })
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        // Put the summed axes back as length-1 axes, then broadcast over them.
        let mut kept = self.x_shape.clone();
        match &self.axes {
            None => kept.iter_mut().for_each(|d| *d = 1),
            Some(axes) => axes.iter().for_each(|&a| kept[a] = 1),
        }
        let dx = dy.reshape(&kept)?.broadcast_to(&self.x_shape)?;
        Ok(vec![Some(if self.mean { dx.mul_scalar(self.scale) } else { dx })])
    }
}

/// `y = max_k x[.., k, ..]` along an axis; `dx` is `dy` at the position of each maximum (the
/// first on ties) and 0 elsewhere.
struct MaxAxisOp {
    axis: usize,
    keepdim: bool,
    x_shape: Shape,
    argmax: Vec<usize>,
}

impl<T: Element> CustomOp<T> for MaxAxisOp {
    fn name(&self) -> &str {
        "max"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        self.x_shape = Shape::from_slice(inputs[0].shape());
        let (y, argmax) = inputs[0].max_axis_with_indices(self.axis, self.keepdim)?;
        self.argmax = argmax;
        Ok(y)
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        let mut kept = self.x_shape.clone();
        kept[self.axis] = 1;
        let dx = dy
            .reshape(&kept)?
            .scatter_add(&self.x_shape, self.axis, &self.argmax)?;
        Ok(vec![Some(dx)])
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// The sum of all elements (a rank-0 variable).
    pub fn sum(&self) -> Var<'t, T> {
        infallible(Var::apply(SumOp::new(None, false, false), &[self]))
    }
    /// The mean of all elements (a rank-0 variable).
    pub fn mean(&self) -> Var<'t, T> {
        infallible(Var::apply(SumOp::new(None, false, true), &[self]))
    }
    /// Sums along `axes` (each once), keeping them as length-1 axes if `keepdim`.
    pub fn sum_axes(&self, axes: &[usize], keepdim: bool) -> Result<Var<'t, T>> {
        Var::apply(SumOp::new(Some(axes), keepdim, false), &[self])
    }
    /// Sums along one axis.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Result<Var<'t, T>> {
        self.sum_axes(&[axis], keepdim)
    }
    /// Means along `axes` (each once).
    pub fn mean_axes(&self, axes: &[usize], keepdim: bool) -> Result<Var<'t, T>> {
        Var::apply(SumOp::new(Some(axes), keepdim, true), &[self])
    }
    /// Means along one axis.
    pub fn mean_axis(&self, axis: usize, keepdim: bool) -> Result<Var<'t, T>> {
        self.mean_axes(&[axis], keepdim)
    }
    /// Maxima along one axis; the gradient goes to the (first) maximum.
    pub fn max_axis(&self, axis: usize, keepdim: bool) -> Result<Var<'t, T>> {
        if self.shape().get(axis) == Some(&0) {
            return Err(Error::invalid(
                "max",
                self.shape(),
                format!("axis {axis} is empty"),
            ));
        }
        Var::apply(
            MaxAxisOp {
                axis,
                keepdim,
                x_shape: Shape::new(),
                argmax: Vec::new(),
            },
            &[self],
        )
    }
}
