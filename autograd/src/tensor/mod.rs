//! The n-dimensional tensor: a shape and one contiguous row-major buffer.
//!
//! Cloning a tensor is cheap (the buffer is shared, reference-counted); writing to a shared
//! buffer copies it first (copy on write), so a tensor saved on a tape never changes under
//! it.

mod elementwise;
mod layout;
mod matmul;
mod reduce;

use crate::element::Element;
use crate::error::{Error, Result};
use crate::runtime::buffer;
use crate::shape::{self, Shape};
use rand::Rng;
use rand_distr::{Distribution, Normal, StandardNormal, Uniform};
use std::fmt;
use std::sync::Arc;

/// An n-dimensional array of `f32` (the default) or `f64`, row-major and contiguous.
///
/// ```
/// use autograd::Tensor;
/// let a = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
/// let b = Tensor::from_vec(vec![10.0, 20.0, 30.0], &[3]).unwrap();
/// let c = &a + &b; // broadcasts b over the rows of a
/// assert_eq!(c.to_vec(), vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
/// assert_eq!(c.sum_axis(0, false).unwrap().to_vec(), vec![25.0, 47.0, 69.0]);
/// ```
#[derive(Clone)]
pub struct Tensor<T: Element = f32> {
    shape: Shape,
    data: Arc<Storage<T>>,
}

/// A tensor's buffer; it goes back to the [buffer pool](crate::runtime::buffer) when the last tensor
/// sharing it dies.
struct Storage<T: Element>(Vec<T>);

impl<T: Element> Drop for Storage<T> {
    fn drop(&mut self) {
        buffer::recycle(std::mem::take(&mut self.0));
    }
}

impl<T: Element> Clone for Storage<T> {
    fn clone(&self) -> Self {
        let mut v = buffer::take_dirty(self.0.len());
        v.copy_from_slice(&self.0);
        Storage(v)
    }
}

impl<T: Element> Storage<T> {
    /// The buffer, leaving an empty one behind (which the drop does not recycle).
    fn take(mut self) -> Vec<T> {
        std::mem::take(&mut self.0)
    }
}

impl<T: Element> std::ops::Deref for Storage<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Element> std::ops::DerefMut for Storage<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T: Element> Tensor<T> {
    /// A tensor from a buffer in row-major order; fails if the length does not match.
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        let expected = shape::numel(shape);
        if data.len() != expected {
            return Err(Error::LengthMismatch {
                op: "from_vec".into(),
                len: data.len(),
                shape: shape.to_vec(),
                expected,
            });
        }
        Ok(Self::from_parts(Shape::from_slice(shape), data))
    }

    /// Builds a tensor from a shape and a buffer the caller guarantees to be of its size.
    pub(crate) fn from_parts(shape: Shape, data: Vec<T>) -> Self {
        debug_assert_eq!(shape::numel(&shape), data.len());
        Tensor {
            shape,
            data: Arc::new(Storage(data)),
        }
    }

    /// A tensor from a slice, copied (into a buffer from the [pool](crate::runtime::buffer)).
    pub fn from_slice(data: &[T], shape: &[usize]) -> Result<Self> {
        let mut v = buffer::take_dirty(data.len());
        v.copy_from_slice(data);
        Self::from_vec(v, shape)
    }

    /// A tensor of rank 0 holding one value.
    pub fn scalar(value: T) -> Self {
        Self::from_parts(Shape::new(), vec![value])
    }

    /// A tensor filled with `value`.
    pub fn full(shape: &[usize], value: T) -> Self {
        let mut v = buffer::take_dirty(shape::numel(shape));
        v.fill(value);
        Self::from_parts(Shape::from_slice(shape), v)
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, T::ZERO)
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, T::ONE)
    }

    /// A tensor whose element at row-major position `i` is `f(i)`.
    pub fn from_fn(shape: &[usize], f: impl FnMut(usize) -> T) -> Self {
        Self::from_parts(
            Shape::from_slice(shape),
            buffer::take_from_fn(shape::numel(shape), f),
        )
    }

    /// Elements drawn uniformly from `[low, high)` with the given (seeded) generator.
    pub fn rand_uniform<R: Rng + ?Sized>(shape: &[usize], low: T, high: T, rng: &mut R) -> Self {
        let (lo, hi) = (low.to_f64(), high.to_f64());
        let dist = Uniform::new(lo, hi.max(lo + f64::MIN_POSITIVE)).expect("finite bounds");
        Self::from_fn(shape, |_| T::from_f64(dist.sample(rng)))
    }

    /// Elements drawn from a normal distribution with the given mean and standard deviation.
    pub fn rand_normal<R: Rng + ?Sized>(shape: &[usize], mean: T, std: T, rng: &mut R) -> Self {
        let (m, s) = (mean.to_f64(), std.to_f64());
        if s == 0.0 {
            return Self::full(shape, mean);
        }
        let dist = Normal::new(m, s.abs()).expect("finite standard deviation");
        Self::from_fn(shape, |_| T::from_f64(dist.sample(rng)))
    }

    /// Standard-normal elements (mean 0, standard deviation 1).
    pub fn randn<R: Rng + ?Sized>(shape: &[usize], rng: &mut R) -> Self {
        Self::from_fn(shape, |_| {
            T::from_f64(<StandardNormal as Distribution<f64>>::sample(
                &StandardNormal,
                rng,
            ))
        })
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The elements in row-major order.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// The elements in row-major order, for writing. Copies the buffer first if another
    /// tensor shares it.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        Arc::make_mut(&mut self.data).as_mut_slice()
    }

    /// A copy of the elements, in a buffer from the [pool](crate::runtime::buffer): a tensor
    /// made from it with [`from_vec`](Self::from_vec) returns it there when it dies.
    pub fn to_vec(&self) -> Vec<T> {
        self.data.as_ref().clone().take()
    }

    /// The buffer, copied only if it is shared.
    pub fn into_vec(self) -> Vec<T> {
        match Arc::try_unwrap(self.data) {
            Ok(mut storage) => std::mem::take(&mut storage.0),
            Err(shared) => shared.as_ref().clone().take(),
        }
    }

    /// Whether two tensors share one buffer (a clone that nobody has written to).
    pub fn shares_buffer_with(&self, other: &Tensor<T>) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }

    fn flat_index(&self, op: &str, index: &[usize]) -> Result<usize> {
        if index.len() != self.rank() || index.iter().zip(self.shape.iter()).any(|(i, d)| i >= d) {
            return Err(Error::invalid(
                op,
                &self.shape,
                format!("index {index:?} is out of bounds"),
            ));
        }
        let st = shape::strides(&self.shape);
        Ok(index.iter().zip(st.iter()).map(|(i, s)| i * s).sum())
    }

    /// The element at a multi-index.
    pub fn get(&self, index: &[usize]) -> Result<T> {
        Ok(self.data[self.flat_index("get", index)?])
    }

    /// Writes the element at a multi-index.
    pub fn set(&mut self, index: &[usize], value: T) -> Result<()> {
        let i = self.flat_index("set", index)?;
        self.as_mut_slice()[i] = value;
        Ok(())
    }

    /// The only element of a one-element tensor (a loss, say).
    pub fn item(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "item",
                &self.shape,
                "only a tensor with exactly one element has an item",
            ));
        }
        Ok(self.data[0])
    }

    /// The same values converted to another element type.
    pub fn cast<U: Element>(&self) -> Tensor<U> {
        let x = self.as_slice();
        Tensor::from_parts(
            self.shape.clone(),
            buffer::take_from_fn(x.len(), |i| U::from_f64(x[i].to_f64())),
        )
    }

    /// Whether every element of both tensors is within `tol` of the other's, shapes equal.
    pub fn all_close(&self, other: &Tensor<T>, tol: f64) -> bool {
        self.shape == other.shape
            && self
                .data
                .iter()
                .zip(other.data.iter())
                .all(|(a, b)| (a.to_f64() - b.to_f64()).abs() <= tol)
    }
}

impl<T: Element> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 16;
        write!(f, "Tensor<{}>{:?} [", T::DTYPE, self.shape.as_slice())?;
        for (i, v) in self.data.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        if self.numel() > SHOWN {
            write!(f, ", ... ({} more)", self.numel() - SHOWN)?;
        }
        f.write_str("]")
    }
}

impl<T: Element> PartialEq for Tensor<T> {
    /// Exact equality of shapes and every element.
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.data.0 == other.data.0
    }
}
