//! The dense (fully connected, FC) layer as a custom op: `Z = A · W + b` with `W` `[In, Out]`,
//! and `flatten`, which turns the NHWC feature maps into the rows a dense layer reads.
//!
//! Backward rules (one GEMM each): `dA = dZ · Wᵀ`, `dW = Aᵀ · dZ`, `db = Σ_rows dZ`.

use crate::ops::activation::Activation;
use crate::ops::bias::{add_row_vector, column_sums};
use autograd::runtime::gemm::{MatMut, MatRef, gemm};
use autograd::runtime::{buffer, parallel, simd};
use autograd::{BackwardContext, CustomOp, Element, Error, Result, Saved, Tensor, Var};

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
        if i == 0 || o == 0 {
            return Err(Error::shapes(
                "dense",
                a.shape(),
                w.shape(),
                "In and Out must be positive (N may be 0)",
            ));
        }
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
        let w_mat = MatRef::new(w.as_slice(), i, o)?;
        // Z = A · W, the top and bottom halves of the batch on two threads when it pays.
        let rows = |z: &mut [T], from: usize, to: usize| {
            let a_rows = MatRef::new(&a.as_slice()[from * i..to * i], to - from, i)?;
            gemm(MatMut::new(z, to - from, o)?, false, a_rows, w_mat, T::ONE)
        };
        if parallel::worth_splitting(2, worth_two_threads(n, i, o)) {
            let (top, bottom) = z.split_at_mut(n / 2 * o);
            let parts = [(top, 0, n / 2), (bottom, n / 2, n)];
            let done = parallel::for_each_part(parts, true, |_, (z, from, to)| rows(z, from, to));
            done.into_iter().collect::<Result<()>>()?;
        } else {
            rows(&mut z, 0, n)?;
        }
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
        self.backward_with_context(&BackwardContext::default(), saved, dy, needs)
    }

    /// `dZ = σ'(Z) ∘ dY` (a fused ReLU follows the pass's [`ReluRule`](autograd::ReluRule)),
    /// then `dA = dZ · Wᵀ`, `dW = Aᵀ · dZ`, `db = Σ_rows dZ`.
    fn backward_with_context(
        &self,
        ctx: &BackwardContext,
        saved: &Saved<T>,
        dy: &Tensor<T>,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor<T>>>> {
        let (n, i, o) = self.dims;
        let rule = ctx.relu_rule;
        let (a, w) = (saved.get(0), saved.get(1));
        // dZ = σ'(Z) ∘ dY
        let dz = if self.activation == Activation::Identity {
            dy.clone()
        } else {
            let mut dz = buffer::take_dirty::<T>(n * o);
            let (a, dy) = (saved.get(2).as_slice(), dy.as_slice());
            simd::dispatch(
                #[inline(always)]
                || self.activation.backprop_with(rule, a, dy, &mut dz),
            );
            Tensor::from_vec(dz, &[n, o])?
        };
        let dz_mat = MatRef::new(dz.as_slice(), n, o)?;
        // dA = dZ · Wᵀ
        let input_grad = || -> Result<Option<Tensor<T>>> {
            if !needs[0] {
                return Ok(None);
            }
            let mut da = buffer::take_dirty::<T>(n * i);
            let w_t = MatRef::new(w.as_slice(), i, o)?.t();
            gemm(MatMut::new(&mut da, n, i)?, false, dz_mat, w_t, T::ONE)?;
            Ok(Some(Tensor::from_vec(da, &[n, i])?))
        };
        // dW = Aᵀ · dZ
        let weight_grad = || -> Result<Option<Tensor<T>>> {
            if !needs[1] {
                return Ok(None);
            }
            let mut dw = buffer::take_dirty::<T>(i * o);
            let a_t = MatRef::new(a.as_slice(), n, i)?.t();
            gemm(MatMut::new(&mut dw, i, o)?, false, a_t, dz_mat, T::ONE)?;
            Ok(Some(Tensor::from_vec(dw, &[i, o])?))
        };
        // The two products are independent: on two threads when it pays.
        let split = needs[0] && needs[1] && parallel::worth_splitting(2, worth_two_threads(n, i, o));
        let [da, dw]: [_; 2] = parallel::for_each_part([true, false], split, |_, dx| {
            if dx { input_grad() } else { weight_grad() }
        })
        .try_into()
        .expect("two parts");
        let (da, dw) = (da?, dw?);
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

/// Whether a dense layer's products (`N x In x Out` multiply-adds each) are split between
/// two threads: the forward pass by halves of the batch, the backward pass as its two
/// products side by side. Only when the pool has another thread, the caller is not one part
/// of a parallel kernel already ([`parallel::worth_splitting`]), and the product is large
/// enough for the hand-off to pay but smaller than what the GEMM splits between threads itself (LeNet-5's first two dense
/// layers at batch 64; measured: 64x400x120 forward+backward 0.128 -> 0.071 ms on two
/// threads, while 64x9216x128 ran 8% slower split this way than by the GEMM). A row of the
/// result is computed the same way either way.
fn worth_two_threads(n: usize, i: usize, o: usize) -> bool {
    n >= 2 && (1 << 19..1 << 22).contains(&(n * i * o))
}

/// `Z = A · W + b`: `a` `[N, In]`, `w` `[In, Out]`, `b` `[Out]`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::dense::dense;
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
