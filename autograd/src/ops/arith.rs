//! Broadcasting arithmetic: add, sub, mul, div, neg, scalar ops and powers.

use super::{grad_if, infallible};
use crate::element::Element;
use crate::error::Result;
use crate::op::{CustomOp, Saved};
use crate::shape::Shape;
use crate::tape::Var;
use crate::tensor::Tensor;
use std::ops::{Add, Div, Mul, Neg, Sub};

type Grads<T> = Result<Vec<Option<Tensor<T>>>>;

/// The shapes of a binary op's operands, for summing broadcast gradients back.
#[derive(Default)]
struct BinaryShapes {
    a: Shape,
    b: Shape,
}

impl BinaryShapes {
    fn remember<T: Element>(&mut self, inputs: &[&Tensor<T>]) {
        self.a = Shape::from_slice(inputs[0].shape());
        self.b = Shape::from_slice(inputs[1].shape());
    }
}

/// `y = a + b`; `da = dy`, `db = dy`, each summed to its operand's shape.
#[derive(Default)]
struct AddOp(BinaryShapes);

impl<T: Element> CustomOp<T> for AddOp {
    fn name(&self) -> &str {
        "add"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        self.0.remember(inputs);
        inputs[0].try_add(inputs[1])
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Grads<T> {
        Ok(vec![
            grad_if(needs[0], || dy.sum_to_shape(&self.0.a))?,
            grad_if(needs[1], || dy.sum_to_shape(&self.0.b))?,
        ])
    }
}

/// `y = a - b`; `da = dy`, `db = -dy`, each summed to its operand's shape.
#[derive(Default)]
struct SubOp(BinaryShapes);

impl<T: Element> CustomOp<T> for SubOp {
    fn name(&self) -> &str {
        "sub"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        self.0.remember(inputs);
        inputs[0].try_sub(inputs[1])
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Grads<T> {
        Ok(vec![
            grad_if(needs[0], || dy.sum_to_shape(&self.0.a))?,
            grad_if(needs[1], || Ok(-dy.sum_to_shape(&self.0.b)?))?,
        ])
    }
}

/// `y = a ⊙ b`; `da = dy ⊙ b`, `db = dy ⊙ a`, each summed to its operand's shape.
#[derive(Default)]
struct MulOp(BinaryShapes);

impl<T: Element> CustomOp<T> for MulOp {
    fn name(&self) -> &str {
        "mul"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        self.0.remember(inputs);
        saved.save(inputs[0].clone());
        saved.save(inputs[1].clone());
        inputs[0].try_mul(inputs[1])
    }
    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Grads<T> {
        let (a, b) = (saved.get(0), saved.get(1));
        Ok(vec![
            grad_if(needs[0], || dy.try_mul(b)?.sum_to_shape(&self.0.a))?,
            grad_if(needs[1], || dy.try_mul(a)?.sum_to_shape(&self.0.b))?,
        ])
    }
}

/// `y = a / b`; `da = dy / b`, `db = -dy ⊙ a / b²`, each summed to its operand's shape.
#[derive(Default)]
struct DivOp(BinaryShapes);

impl<T: Element> CustomOp<T> for DivOp {
    fn name(&self) -> &str {
        "div"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        self.0.remember(inputs);
        let y = inputs[0].try_div(inputs[1])?;
        saved.save(inputs[1].clone());
        saved.save(y.clone());
        Ok(y)
    }
    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Grads<T> {
        let (b, y) = (saved.get(0), saved.get(1));
        let da = dy.try_div(b)?; // dy / b
        Ok(vec![
            grad_if(needs[0], || da.sum_to_shape(&self.0.a))?,
            // -dy · a / b² = -(dy / b) · y
            grad_if(needs[1], || Ok(-da.try_mul(y)?.sum_to_shape(&self.0.b)?))?,
        ])
    }
}

/// `y = -x`; `dx = -dy`.
struct NegOp;

impl<T: Element> CustomOp<T> for NegOp {
    fn name(&self) -> &str {
        "neg"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        Ok(-inputs[0])
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        Ok(vec![Some(-dy)])
    }
}

/// `y = s·x + c` for constants `s`, `c`; `dx = s·dy`.
struct AffineOp<T> {
    scale: T,
    shift: T,
}

impl<T: Element> CustomOp<T> for AffineOp<T> {
    fn name(&self) -> &str {
        "affine"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], _: &mut Saved<T>) -> Result<Tensor<T>> {
        let (s, c) = (self.scale, self.shift);
        Ok(inputs[0].map(|x| s * x + c))
    }
    fn backward(&self, _: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        let s = self.scale;
        Ok(vec![Some(if s == T::ONE {
            dy.clone()
        } else {
            dy.mul_scalar(s)
        })])
    }
}

/// `y = x^p` for a constant `p`; `dx = dy · p·x^(p-1)`.
struct PowfOp<T> {
    p: T,
}

impl<T: Element> CustomOp<T> for PowfOp<T> {
    fn name(&self) -> &str {
        "powf"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        saved.save(inputs[0].clone());
        let p = self.p;
        Ok(inputs[0].map(|x| x.powf(p)))
    }
    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Grads<T> {
        let p = self.p;
        let dx = saved
            .get(0)
            .zip_with(dy, "powf", |x, g| g * p * x.powf(p - T::ONE))?;
        Ok(vec![Some(dx)])
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// Broadcasting `self + other`.
    pub fn try_add(&self, other: &Var<'t, T>) -> Result<Var<'t, T>> {
        Var::apply(AddOp::default(), &[self, other])
    }
    /// Broadcasting `self - other`.
    pub fn try_sub(&self, other: &Var<'t, T>) -> Result<Var<'t, T>> {
        Var::apply(SubOp::default(), &[self, other])
    }
    /// Broadcasting elementwise `self * other`.
    pub fn try_mul(&self, other: &Var<'t, T>) -> Result<Var<'t, T>> {
        Var::apply(MulOp::default(), &[self, other])
    }
    /// Broadcasting elementwise `self / other`.
    pub fn try_div(&self, other: &Var<'t, T>) -> Result<Var<'t, T>> {
        Var::apply(DivOp::default(), &[self, other])
    }
    /// `-self`.
    pub fn neg(&self) -> Var<'t, T> {
        infallible(Var::apply(NegOp, &[self]))
    }
    /// `scale * self + shift` for constants.
    pub fn affine(&self, scale: T, shift: T) -> Var<'t, T> {
        infallible(Var::apply(AffineOp { scale, shift }, &[self]))
    }
    /// `self + c` for a constant `c`.
    pub fn add_scalar(&self, c: T) -> Var<'t, T> {
        self.affine(T::ONE, c)
    }
    /// `self * c` for a constant `c`.
    pub fn mul_scalar(&self, c: T) -> Var<'t, T> {
        self.affine(c, T::ZERO)
    }
    /// `self^p` for a constant `p` (elementwise).
    pub fn powf(&self, p: T) -> Var<'t, T> {
        infallible(Var::apply(PowfOp { p }, &[self]))
    }
}

macro_rules! var_operator {
    ($trait:ident, $method:ident, $try:ident) => {
        impl<'t, T: Element> $trait<&Var<'t, T>> for &Var<'t, T> {
            type Output = Var<'t, T>;
            /// Panics with the `try_` form's message if the shapes do not broadcast.
            fn $method(self, rhs: &Var<'t, T>) -> Var<'t, T> {
                infallible(self.$try(rhs))
            }
        }
        impl<'t, T: Element> $trait<Var<'t, T>> for Var<'t, T> {
            type Output = Var<'t, T>;
            fn $method(self, rhs: Var<'t, T>) -> Var<'t, T> {
                infallible(self.$try(&rhs))
            }
        }
    };
}

var_operator!(Add, add, try_add);
var_operator!(Sub, sub, try_sub);
var_operator!(Mul, mul, try_mul);
var_operator!(Div, div, try_div);

impl<'t, T: Element> Neg for &Var<'t, T> {
    type Output = Var<'t, T>;
    fn neg(self) -> Var<'t, T> {
        Var::neg(self)
    }
}

impl<'t, T: Element> Add<T> for &Var<'t, T> {
    type Output = Var<'t, T>;
    fn add(self, c: T) -> Var<'t, T> {
        self.add_scalar(c)
    }
}

impl<'t, T: Element> Sub<T> for &Var<'t, T> {
    type Output = Var<'t, T>;
    fn sub(self, c: T) -> Var<'t, T> {
        self.add_scalar(-c)
    }
}

impl<'t, T: Element> Mul<T> for &Var<'t, T> {
    type Output = Var<'t, T>;
    fn mul(self, c: T) -> Var<'t, T> {
        self.mul_scalar(c)
    }
}

impl<'t, T: Element> Div<T> for &Var<'t, T> {
    type Output = Var<'t, T>;
    fn div(self, c: T) -> Var<'t, T> {
        self.mul_scalar(T::ONE / c)
    }
}
