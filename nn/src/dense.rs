//! The dense (fully connected, FC) layer as a custom op: `Z = A · W + b` with `W` `[In, Out]`,
//! and `flatten`, which turns the NHWC feature maps into the rows a dense layer reads.
//!
//! Backward rules (one GEMM each): `dA = dZ · Wᵀ`, `dW = Aᵀ · dZ`, `db = Σ_rows dZ`.

use crate::activation::Activation;
use crate::conv::{add_row_vector, column_sums};
use autograd::tensor::{MatMut, MatRef, gemm};
use autograd::{CustomOp, Element, Error, Result, Saved, Tensor, Var, buffer, simd};

/// The dense layer as a [`CustomOp`]: inputs `a` `[N, In]`, `w` `[In, Out]`, optionally `b`
/// `[Out]`, with an optional fused activation `σ`.
pub struct DenseOp {
    activation: Activation,
    dims: (usize, usize, usize),
}

impl DenseOp {
    /// The op, followed by `activation`.
    pub fn new(activation: Activation) -> Self {
        DenseOp {
            activation,
            dims: (0, 0, 0),
        }
    }
}

impl<T: Element> CustomOp<T> for DenseOp {
    fn name(&self) -> &str {
        "dense"
    }

    /// `Z = A · W + b`, then `σ(Z)`.
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let (a, w) = (inputs[0], inputs[1]);
        if a.rank() != 2 || w.rank() != 2 || a.shape()[1] != w.shape()[0] {
            return Err(Error::shapes(
                "dense",
                a.shape(),
                w.shape(),
                "the input must be [N, In] and the weight [In, Out] (flatten feature maps first)",
            ));
        }
        let (n, i, o) = (a.shape()[0], a.shape()[1], w.shape()[1]);
        if let Some(b) = inputs.get(2)
            && b.shape() != [o]
        {
            return Err(Error::shapes(
                "dense",
                w.shape(),
                b.shape(),
                format!("the bias must be [{o}]"),
            ));
        }
        let mut z = buffer::take_dirty::<T>(n * o);
        gemm(
            MatMut::new(&mut z, n, o)?,
            false,
            MatRef::new(a.as_slice(), n, i)?,
            MatRef::new(w.as_slice(), i, o)?,
            T::ONE,
        )?;
        let activation = self.activation;
        simd::dispatch(
            #[inline(always)]
            || {
                if let Some(b) = inputs.get(2) {
                    add_row_vector(&mut z, b.as_slice());
                }
                activation.apply(&mut z);
            },
        );
        self.dims = (n, i, o);
        saved.save(a.clone());
        saved.save(w.clone());
        let y = Tensor::from_vec(z, &[n, o])?;
        if self.activation != Activation::Identity {
            saved.save(y.clone());
        }
        Ok(y)
    }

    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let (n, i, o) = self.dims;
        let (a, w) = (saved.get(0), saved.get(1));
        // dZ = σ'(Z) ∘ dY
        let dz = if self.activation == Activation::Identity {
            dy.clone()
        } else {
            let mut dz = buffer::take_dirty::<T>(n * o);
            let (a, dy) = (saved.get(2).as_slice(), dy.as_slice());
            simd::dispatch(
                #[inline(always)]
                || self.activation.backprop(a, dy, &mut dz),
            );
            Tensor::from_vec(dz, &[n, o])?
        };
        let dz_mat = MatRef::new(dz.as_slice(), n, o)?;
        // dA = dZ · Wᵀ
        let da = if needs[0] {
            let mut da = buffer::take_dirty::<T>(n * i);
            gemm(
                MatMut::new(&mut da, n, i)?,
                false,
                dz_mat,
                MatRef::new(w.as_slice(), i, o)?.t(),
                T::ONE,
            )?;
            Some(Tensor::from_vec(da, &[n, i])?)
        } else {
            None
        };
        // dW = Aᵀ · dZ
        let dw = if needs[1] {
            let mut dw = buffer::take_dirty::<T>(i * o);
            gemm(
                MatMut::new(&mut dw, i, o)?,
                false,
                MatRef::new(a.as_slice(), n, i)?.t(),
                dz_mat,
                T::ONE,
            )?;
            Some(Tensor::from_vec(dw, &[i, o])?)
        } else {
            None
        };
        let mut grads = vec![da, dw];
        // db = Σ_rows dZ
        if needs.len() == 3 {
            grads.push(
                needs[2]
                    .then(|| Tensor::from_vec(column_sums(dz.as_slice(), o), &[o]))
                    .transpose()?,
            );
        }
        Ok(grads)
    }
}

/// `Z = A · W + b`: `a` `[N, In]`, `w` `[In, Out]`, `b` `[Out]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::dense::dense;
/// let tape = Tape::<f64>::new();
/// let a = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[1, 2]).unwrap());
/// let w = tape.var(Tensor::from_vec(vec![1.0, 0.0, 0.0, 3.0], &[2, 2]).unwrap());
/// let b = tape.var(Tensor::from_vec(vec![0.5, 0.5], &[2]).unwrap());
/// assert_eq!(dense(&a, &w, Some(&b)).unwrap().value().to_vec(), vec![1.5, 6.5]);
/// ```
pub fn dense<'t, T: Element>(a: &Var<'t, T>, w: &Var<'t, T>, b: Option<&Var<'t, T>>) -> Result<Var<'t, T>> {
    dense_with(a, w, b, Activation::Identity)
}

/// [`dense`] followed by a fused `activation`: `σ(A · W + b)`.
pub fn dense_with<'t, T: Element>(
    a: &Var<'t, T>,
    w: &Var<'t, T>,
    b: Option<&Var<'t, T>>,
    activation: Activation,
) -> Result<Var<'t, T>> {
    let op = DenseOp::new(activation);
    match b {
        Some(b) => Var::apply(op, &[a, w, b]),
        None => Var::apply(op, &[a, w]),
    }
}

/// `[N, H, W, C] -> [N, H·W·C]` in row-major order: feature `(h·W + w)·C + c`.
pub fn flatten<'t, T: Element>(x: &Var<'t, T>) -> Result<Var<'t, T>> {
    x.flatten()
}
