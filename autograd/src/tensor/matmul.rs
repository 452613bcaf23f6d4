//! Matrix products of tensors (batched, broadcasting), on [`runtime::gemm`](crate::runtime::gemm).

use super::Tensor;
use super::elementwise::for_each_strided;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::runtime::buffer;
use crate::runtime::gemm::{MatMut, MatRef, gemm};
use crate::shape::{self, Shape, broadcast_shapes, broadcast_strides};

/// How two operands of `matmul` line up: batch shape and the matrix sizes.
pub(crate) struct MatmulPlan {
    pub batch: Shape,
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

pub(crate) fn matmul_plan(a: &[usize], b: &[usize]) -> Result<MatmulPlan> {
    if a.len() < 2 || b.len() < 2 {
        return Err(Error::shapes(
            "matmul",
            a,
            b,
            "both operands need at least two axes",
        ));
    }
    let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
    let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
    if k != k2 {
        return Err(Error::shapes(
            "matmul",
            a,
            b,
            format!("inner lengths differ ({k} columns against {k2} rows)"),
        ));
    }
    let batch = broadcast_shapes("matmul", &a[..a.len() - 2], &b[..b.len() - 2])?;
    Ok(MatmulPlan { batch, m, k, n })
}

impl<T: Element> Tensor<T> {
    /// The matrix product over the last two axes: `[.., M, K] · [.., K, N] -> [.., M, N]`.
    /// Leading (batch) axes broadcast under NumPy's rules.
    ///
    /// ```
    /// use autograd::Tensor;
    /// let a = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    /// let i = Tensor::<f64>::from_vec(vec![1.0, 0.0, 0.0, 1.0], &[2, 2]).unwrap();
    /// assert_eq!(a.matmul(&i).unwrap(), a);
    /// ```
    pub fn matmul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        self.matmul_t(other, false, false)
    }

    /// `op(self) · op(other)` where `op` transposes the last two axes when its flag is set.
    /// Transposition is free (strides), so backward rules use this instead of copies.
    pub fn matmul_t(
        &self,
        other: &Tensor<T>,
        transpose_self: bool,
        transpose_other: bool,
    ) -> Result<Tensor<T>> {
        let a_shape = transposed_shape(&self.shape, transpose_self);
        let b_shape = transposed_shape(&other.shape, transpose_other);
        let plan = matmul_plan(&a_shape, &b_shape)?;
        let MatmulPlan { m, k, n, .. } = plan;
        let mut out_shape = plan.batch.clone();
        out_shape.extend_from_slice(&[m, n]);
        let mut out = buffer::take_dirty(shape::numel(&out_shape));
        fn view<T>(data: &[T], rows: usize, cols: usize, t: bool) -> MatRef<'_, T> {
            // The stored matrix is `cols x rows` when transposed.
            let v = if t {
                MatRef::new(data, cols, rows)
            } else {
                MatRef::new(data, rows, cols)
            };
            let v = v.expect("sizes come from the shapes");
            if t { v.t() } else { v }
        }
        // One GEMM when the right operand is a plain matrix and the left is not transposed:
        // its batch rows stack into one tall matrix.
        if other.rank() == 2 && !transpose_self {
            let rows = out.len() / n.max(1);
            let dst = MatMut::new(&mut out, rows, n)?;
            gemm(
                dst,
                false,
                view(self.as_slice(), rows, k, false),
                view(other.as_slice(), k, n, transpose_other),
                T::ONE,
            )?;
            return Ok(Tensor::from_parts(out_shape, out));
        }
        let (am, bm) = (m * k, k * n);
        let sa: Shape = broadcast_strides(&a_shape[..a_shape.len() - 2], &plan.batch)
            .iter()
            .map(|s| s * am)
            .collect();
        let sb: Shape = broadcast_strides(&b_shape[..b_shape.len() - 2], &plan.batch)
            .iter()
            .map(|s| s * bm)
            .collect();
        let (a, b) = (self.as_slice(), other.as_slice());
        let mut result = Ok(());
        for_each_strided(&plan.batch, [&sa, &sb], |i, [ia, ib]| {
            let dst = MatMut::new(&mut out[i * m * n..(i + 1) * m * n], m, n).expect("sized above");
            let r = gemm(
                dst,
                false,
                view(&a[ia..ia + am], m, k, transpose_self),
                view(&b[ib..ib + bm], k, n, transpose_other),
                T::ONE,
            );
            if r.is_err() {
                result = r;
            }
        });
        result?;
        Ok(Tensor::from_parts(out_shape, out))
    }
}

fn transposed_shape(shape: &[usize], t: bool) -> Shape {
    let mut s = Shape::from_slice(shape);
    let r = s.len();
    if t && r >= 2 {
        s.swap(r - 2, r - 1);
    }
    s
}
