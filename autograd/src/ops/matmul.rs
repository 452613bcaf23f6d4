//! The matrix product.

use crate::element::Element;
use crate::error::Result;
use crate::op::{CustomOp, Saved};
use crate::tape::Var;
use crate::tensor::Tensor;

/// `Y = A · B` over the last two axes (batch axes broadcast);
/// `dA = dY · Bᵀ`, `dB = Aᵀ · dY`, each summed to its operand's shape.
struct MatmulOp;

impl<T: Element> CustomOp<T> for MatmulOp {
    fn name(&self) -> &str {
        "matmul"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let y = inputs[0].matmul(inputs[1])?;
        saved.save(inputs[0].clone());
        saved.save(inputs[1].clone());
        Ok(y)
    }
    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, needs: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let (a, b) = (saved.get(0), saved.get(1));
        let da = super::grad_if(needs[0], || dy.matmul_t(b, false, true)?.sum_to_shape(a.shape()))?;
        let db = super::grad_if(needs[1], || {
            if b.rank() == 2 && a.rank() > 2 {
                // A plain matrix shared by every batch entry: one GEMM over the stacked rows.
                let (k, n) = (b.shape()[0], b.shape()[1]);
                let rows = a.numel() / k.max(1);
                a.reshape(&[rows, k])?
                    .matmul_t(&dy.reshape(&[rows, n])?, true, false)
            } else {
                a.matmul_t(dy, true, false)?.sum_to_shape(b.shape())
            }
        })?;
        Ok(vec![da, db])
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// The matrix product over the last two axes: `[.., M, K] · [.., K, N] -> [.., M, N]`.
    pub fn matmul(&self, other: &Var<'t, T>) -> Result<Var<'t, T>> {
        Var::apply(MatmulOp, &[self, other])
    }
}
