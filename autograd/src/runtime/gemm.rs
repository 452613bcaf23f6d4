//! GEMM for op authors: strided matrix views of slices ([`MatRef`], [`MatMut`]) and
//! [`gemm()`] on them, on the `gemm` crate. `Tensor::matmul` and the `nn` crate's GEMM-shaped
//! kernels (im2col convolution, dense layers) are built on it.
//!
//! The `gemm` crate picks its kernels itself, at run time: AVX-512 where the CPU has it and
//! the `gemm-avx512` feature (default on) is enabled, AVX2 with FMA otherwise, scalar code
//! without those. [`level`] says which; `TAPEGRAD_SIMD` does not reach it, so a comparison of
//! the AVX2 path on an AVX-512 machine builds without the feature
//! (`cargo build --no-default-features`).

use super::{buffer, parallel, simd};
use crate::element::Element;
use crate::error::{Error, Result};
use ::gemm::Parallelism;

/// A read-only matrix view of a slice: `rows x cols`, element `(i, j)` at
/// `i * row_stride + j * col_stride`. Transposing a view is free.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

/// A writable matrix view of a slice, laid out like [`MatRef`].
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

fn check_view(op: &str, len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> Result<()> {
    let last = if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    };
    if last > len {
        return Err(Error::invalid(
            op,
            &[len],
            format!("a {rows}x{cols} view with strides ({rs}, {cs}) reads past the buffer"),
        ));
    }
    Ok(())
}

impl<'a, T> MatRef<'a, T> {
    /// A row-major `rows x cols` matrix over the first `rows * cols` elements of `data`.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// A view with explicit strides, checked to stay inside `data`.
    pub fn strided(
        data: &'a [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self> {
        check_view("MatRef", data.len(), rows, cols, row_stride, col_stride)?;
        Ok(MatRef {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        })
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// `(rows, cols)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
}

impl<'a, T> MatMut<'a, T> {
    /// A row-major `rows x cols` matrix over the first `rows * cols` elements of `data`.
    pub fn new(data: &'a mut [T], rows: usize, cols: usize) -> Result<Self> {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// A view with explicit strides, checked to stay inside `data`.
    pub fn strided(
        data: &'a mut [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self> {
        check_view("MatMut", data.len(), rows, cols, row_stride, col_stride)?;
        Ok(MatMut {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        })
    }

    /// `(rows, cols)`.
    pub fn dims(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }
}

/// `dst = (accumulate ? dst : 0) + scale * a · b`, on the `gemm` crate.
///
/// The instruction set the `gemm` crate's kernels run at on this CPU with this build (see the
/// module doc): not capped by `TAPEGRAD_SIMD`, only by the `gemm-avx512` feature.
///
/// ```
/// use autograd::runtime::{gemm, simd};
/// // Never wider than the CPU.
/// assert!(gemm::level() <= simd::detected());
/// ```
pub fn level() -> simd::Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if cfg!(feature = "gemm-avx512") && has!("avx512f") {
            return simd::Level::Avx512;
        }
        if has!("fma") {
            return simd::Level::Avx2;
        }
    }
    simd::Level::Baseline
}

/// Runs on all of the crate's threads (see [`parallel`]), except when
/// called from inside a parallel region, where it runs on the calling thread alone.
///
/// ```
/// use autograd::runtime::gemm::{MatMut, MatRef, gemm};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let mut c = [0.0f32; 4];
/// // c = a · aᵀ
/// gemm(MatMut::new(&mut c, 2, 2).unwrap(), false, MatRef::new(&a, 2, 2).unwrap(),
///      MatRef::new(&a, 2, 2).unwrap().t(), 1.0).unwrap();
/// assert_eq!(c, [5.0, 11.0, 11.0, 25.0]);
/// ```
pub fn gemm<T: Element>(
    dst: MatMut<'_, T>,
    accumulate: bool,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    scale: T,
) -> Result<()> {
    if a.cols != b.rows || dst.rows != a.rows || dst.cols != b.cols {
        return Err(Error::shapes(
            "gemm",
            &[a.rows, a.cols],
            &[b.rows, b.cols],
            format!("cannot multiply into a {}x{} destination", dst.rows, dst.cols),
        ));
    }
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst.data[i * dst.row_stride + j * dst.col_stride] = T::ZERO;
                }
            }
        }
        return Ok(());
    }
    if split_k(m, n, k) {
        return gemm_split_k(dst, accumulate, a, b, scale);
    }
    match parallel::gemm_parallelism(m, n, k) {
        // The gemm crate splits the work on the pool it is called from: ours.
        par @ Parallelism::Rayon(_) => parallel::install(move || gemm_raw(dst, accumulate, a, b, scale, par)),
        par => gemm_raw(dst, accumulate, a, b, scale, par),
    }
    Ok(())
}

/// The `gemm` crate's product on checked, non-empty views.
fn gemm_raw<T: Element>(
    dst: MatMut<'_, T>,
    accumulate: bool,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    scale: T,
    par: Parallelism,
) {
    // SAFETY: every view was checked at construction to stay inside its slice, the caller
    // checked that the shapes agree, and `dst` is a unique borrow, so it cannot alias `a` or
    // `b`.
    unsafe {
        ::gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst.data.as_mut_ptr(),
            dst.col_stride as isize,
            dst.row_stride as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            T::ONE,
            scale,
            false,
            false,
            false,
            par,
        );
    }
}

/// How many parts a long inner dimension is split into (see [`split_k`]). Fixed, not taken
/// from the thread count, so results are bitwise the same on any number of threads.
const K_PARTS: usize = 4;

/// Whether a product is a small output over a long inner dimension (`64 x 128` over 9216,
/// say): the `gemm` crate splits only the output between threads, so such a product would run
/// on one thread; it is split along `k` instead, into partial products summed in order.
fn split_k(m: usize, n: usize, k: usize) -> bool {
    m * n < 1 << 15 && k >= 4096 && m * n * k >= 1 << 22
}

/// `dst = (accumulate ? dst : 0) + scale · Σ_parts a[:, part] · b[part, :]`, the parts of `k`
/// computed in parallel into separate buffers and summed in order.
fn gemm_split_k<T: Element>(
    dst: MatMut<'_, T>,
    accumulate: bool,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    scale: T,
) -> Result<()> {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let part = k.div_ceil(K_PARTS);
    let split = parallel::worth_splitting(K_PARTS, true);
    let partials: Vec<Vec<T>> = parallel::for_each_part(0..K_PARTS, split, |_, p| {
        let (lo, hi) = (p * part, ((p + 1) * part).min(k));
        let mut out = buffer::take_dirty::<T>(m * n);
        let sub_a = MatRef {
            data: &a.data[lo * a.col_stride..],
            cols: hi - lo,
            ..a
        };
        let sub_b = MatRef {
            data: &b.data[lo * b.row_stride..],
            rows: hi - lo,
            ..b
        };
        let out_view = MatMut {
            data: &mut out[..],
            rows: m,
            cols: n,
            row_stride: n,
            col_stride: 1,
        };
        gemm_raw(out_view, false, sub_a, sub_b, T::ONE, Parallelism::None);
        out
    });
    for i in 0..m {
        for j in 0..n {
            let total = partials.iter().fold(T::ZERO, |acc, p| acc + p[i * n + j]);
            let d = &mut dst.data[i * dst.row_stride + j * dst.col_stride];
            *d = if accumulate {
                *d + scale * total
            } else {
                scale * total
            };
        }
    }
    for p in partials {
        buffer::recycle(p);
    }
    Ok(())
}
