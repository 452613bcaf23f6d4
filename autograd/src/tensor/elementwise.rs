//! Elementwise maps, broadcasting binary arithmetic (NumPy rules), comparisons and `where`.

use super::Tensor;
use crate::element::Element;
use crate::error::Result;
use crate::runtime::buffer;
use crate::shape::{self, Shape, broadcast_shapes, broadcast_strides};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Visits every position of `out_shape` in row-major order, passing the flat output index
/// and, for each operand, its element offset under the operand's (broadcast) strides.
/// The innermost axis runs as a tight loop with constant strides.
pub(crate) fn for_each_strided<const N: usize>(
    out_shape: &[usize],
    strides: [&[usize]; N],
    mut f: impl FnMut(usize, [usize; N]),
) {
    let total = shape::numel(out_shape);
    if total == 0 {
        return;
    }
    let rank = out_shape.len();
    if rank == 0 {
        f(0, [0; N]);
        return;
    }
    let inner = out_shape[rank - 1];
    let inner_strides: [usize; N] = std::array::from_fn(|k| strides[k][rank - 1]);
    let mut index: Shape = smallvec::smallvec![0; rank - 1];
    let mut base = [0usize; N];
    let mut flat = 0;
    for _ in 0..total / inner {
        for j in 0..inner {
            f(flat + j, std::array::from_fn(|k| base[k] + j * inner_strides[k]));
        }
        flat += inner;
        for d in (0..rank - 1).rev() {
            index[d] += 1;
            for k in 0..N {
                base[k] += strides[k][d];
            }
            if index[d] < out_shape[d] {
                break;
            }
            for k in 0..N {
                base[k] -= strides[k][d] * out_shape[d];
            }
            index[d] = 0;
        }
    }
}

impl<T: Element> Tensor<T> {
    /// A tensor of the same shape with `f` applied to every element.
    pub fn map(&self, f: impl Fn(T) -> T) -> Tensor<T> {
        let mut out = buffer::take_dirty(self.numel());
        crate::runtime::simd::dispatch(
            #[inline(always)]
            || {
                for (o, &x) in out.iter_mut().zip(self.as_slice()) {
                    *o = f(x);
                }
            },
        );
        Tensor::from_parts(self.shape.clone(), out)
    }

    /// Applies `f` to every element in place (copying first if the buffer is shared).
    pub fn map_inplace(&mut self, f: impl Fn(T) -> T) {
        for x in self.as_mut_slice() {
            *x = f(*x);
        }
    }

    /// Combines two tensors elementwise after broadcasting them to a common shape.
    /// `op` names the operation in the error if the shapes do not broadcast.
    pub fn zip_with(&self, other: &Tensor<T>, op: &str, f: impl Fn(T, T) -> T) -> Result<Tensor<T>> {
        if self.shape == other.shape {
            let mut out = buffer::take_dirty(self.numel());
            crate::runtime::simd::dispatch(
                #[inline(always)]
                || {
                    for ((o, &a), &b) in out.iter_mut().zip(self.as_slice()).zip(other.as_slice()) {
                        *o = f(a, b);
                    }
                },
            );
            return Ok(Tensor::from_parts(self.shape.clone(), out));
        }
        let out_shape = broadcast_shapes(op, &self.shape, &other.shape)?;
        if other.numel() == 1 && out_shape == self.shape {
            let b = other.data[0];
            return Ok(self.map(|a| f(a, b)));
        }
        let sa = broadcast_strides(&self.shape, &out_shape);
        let sb = broadcast_strides(&other.shape, &out_shape);
        let (a, b) = (self.as_slice(), other.as_slice());
        let mut out = buffer::take_dirty(shape::numel(&out_shape));
        for_each_strided(&out_shape, [&sa, &sb], |i, [ia, ib]| out[i] = f(a[ia], b[ib]));
        Ok(Tensor::from_parts(out_shape, out))
    }

    /// This tensor stretched to `shape` under NumPy's broadcasting rules.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor<T>> {
        if self.shape.as_slice() == shape {
            return Ok(self.clone());
        }
        let out_shape = broadcast_shapes("broadcast_to", &self.shape, shape)?;
        if out_shape.as_slice() != shape {
            return Err(crate::error::Error::shapes(
                "broadcast_to",
                &self.shape,
                shape,
                "the tensor does not broadcast to the target shape",
            ));
        }
        let st = broadcast_strides(&self.shape, &out_shape);
        let x = self.as_slice();
        let mut out = buffer::take_dirty(shape::numel(&out_shape));
        for_each_strided(&out_shape, [&st], |i, [ix]| out[i] = x[ix]);
        Ok(Tensor::from_parts(out_shape, out))
    }

    /// Broadcasting `self + other`.
    pub fn try_add(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "add", |a, b| a + b)
    }
    /// Broadcasting `self - other`.
    pub fn try_sub(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "sub", |a, b| a - b)
    }
    /// Broadcasting `self * other` (elementwise).
    pub fn try_mul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "mul", |a, b| a * b)
    }
    /// Broadcasting `self / other` (elementwise).
    pub fn try_div(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "div", |a, b| a / b)
    }
    /// Broadcasting elementwise maximum.
    pub fn maximum(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "maximum", |a, b| a.max(b))
    }
    /// Broadcasting elementwise minimum.
    pub fn minimum(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.zip_with(other, "minimum", |a, b| a.min(b))
    }

    /// `self + c` for every element.
    pub fn add_scalar(&self, c: T) -> Tensor<T> {
        self.map(|x| x + c)
    }
    /// `self * c` for every element.
    pub fn mul_scalar(&self, c: T) -> Tensor<T> {
        self.map(|x| x * c)
    }

    /// `self += other` in place; `other` must broadcast to `self`'s shape.
    pub fn add_assign_tensor(&mut self, other: &Tensor<T>) -> Result<()> {
        if self.shape == other.shape {
            for (a, &b) in self.as_mut_slice().iter_mut().zip(other.data.iter()) {
                *a += b;
            }
            return Ok(());
        }
        let out_shape = broadcast_shapes("add_assign", &self.shape, &other.shape)?;
        if out_shape != self.shape {
            return Err(crate::error::Error::shapes(
                "add_assign",
                &self.shape,
                &other.shape,
                "the right side must broadcast to the left side's shape",
            ));
        }
        let sb = broadcast_strides(&other.shape, &out_shape);
        let sa = shape::strides(&out_shape);
        let b = other.data.clone();
        let a = self.as_mut_slice();
        for_each_strided(&out_shape, [&sa, &sb], |i, [_, ib]| a[i] += b[ib]);
        Ok(())
    }

    fn compare(&self, other: &Tensor<T>, op: &str, f: impl Fn(T, T) -> bool) -> Result<Tensor<T>> {
        self.zip_with(other, op, |a, b| if f(a, b) { T::ONE } else { T::ZERO })
    }
    /// 1 where `self == other`, else 0 (broadcasting).
    pub fn eq_mask(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.compare(other, "eq", |a, b| a == b)
    }
    /// 1 where `self > other`, else 0 (broadcasting).
    pub fn gt(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.compare(other, "gt", |a, b| a > b)
    }
    /// 1 where `self >= other`, else 0 (broadcasting).
    pub fn ge(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.compare(other, "ge", |a, b| a >= b)
    }
    /// 1 where `self < other`, else 0 (broadcasting).
    pub fn lt(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.compare(other, "lt", |a, b| a < b)
    }
    /// 1 where `self <= other`, else 0 (broadcasting).
    pub fn le(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.compare(other, "le", |a, b| a <= b)
    }

    /// `on_true` where `mask` is non-zero, `on_false` elsewhere; all three broadcast together.
    pub fn where_mask(mask: &Tensor<T>, on_true: &Tensor<T>, on_false: &Tensor<T>) -> Result<Tensor<T>> {
        let s = broadcast_shapes("where", &mask.shape, &on_true.shape)?;
        let out_shape = broadcast_shapes("where", &s, &on_false.shape)?;
        let sm = broadcast_strides(&mask.shape, &out_shape);
        let st = broadcast_strides(&on_true.shape, &out_shape);
        let sf = broadcast_strides(&on_false.shape, &out_shape);
        let (m, t, f) = (mask.as_slice(), on_true.as_slice(), on_false.as_slice());
        let mut out = buffer::take_dirty(shape::numel(&out_shape));
        for_each_strided(&out_shape, [&sm, &st, &sf], |i, [im, it, iff]| {
            out[i] = if m[im] != T::ZERO { t[it] } else { f[iff] };
        });
        Ok(Tensor::from_parts(out_shape, out))
    }
}

macro_rules! tensor_operator {
    ($trait:ident, $method:ident, $try:ident) => {
        impl<T: Element> $trait<&Tensor<T>> for &Tensor<T> {
            type Output = Tensor<T>;
            /// Panics with the `try_` form's error message if the shapes do not broadcast.
            fn $method(self, rhs: &Tensor<T>) -> Tensor<T> {
                self.$try(rhs).unwrap_or_else(|e| panic!("{e}"))
            }
        }
        impl<T: Element> $trait<Tensor<T>> for Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, rhs: Tensor<T>) -> Tensor<T> {
                (&self).$method(&rhs)
            }
        }
        impl<T: Element> $trait<T> for &Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, rhs: T) -> Tensor<T> {
                self.map(|x| x.$method(rhs))
            }
        }
        impl<T: Element> $trait<T> for Tensor<T> {
            type Output = Tensor<T>;
            fn $method(self, rhs: T) -> Tensor<T> {
                self.map(|x| x.$method(rhs))
            }
        }
    };
}

tensor_operator!(Add, add, try_add);
tensor_operator!(Sub, sub, try_sub);
tensor_operator!(Mul, mul, try_mul);
tensor_operator!(Div, div, try_div);

impl<T: Element> Neg for &Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        self.map(|x| -x)
    }
}

impl<T: Element> Neg for Tensor<T> {
    type Output = Tensor<T>;
    fn neg(self) -> Tensor<T> {
        self.map(|x| -x)
    }
}
