//! # The runtime for op authors
//!
//! What a kernel needs besides its arithmetic, in one place: any crate that writes a
//! [`CustomOp`](crate::CustomOp) (the `nn` crate does, through this namespace only) uses it
//! the same way.
//!
//! - [`parallel`]: the crate's thread pool, and [`parallel::for_each_part`], the one work
//!   splitter every kernel uses (parts of fixed size, so that results are bitwise the same
//!   whatever the thread count);
//! - [`buffer`]: the buffer pool that tensors return their memory to; take output and scratch
//!   buffers from it, so that a training loop stops paying for fresh pages;
//! - [`simd`]: runs a kernel compiled for the widest vector instructions the CPU has
//!   (`TAPEGRAD_SIMD` caps the choice);
//! - [`gemm`]: strided matrix views of slices and a matrix product on them.
//!
//! A kernel typically reads:
//!
//! ```
//! use autograd::runtime::{buffer, parallel, simd};
//! let x: Vec<f32> = (0..4096).map(|i| i as f32).collect();
//! // The output buffer from the pool, one part per 1024 elements, each part vectorised.
//! let mut y = buffer::take_dirty::<f32>(x.len());
//! let split = parallel::worth_splitting(4, x.len() >= 1 << 15);
//! parallel::for_each_part(y.chunks_mut(1024), split, |i, part: &mut [f32]| {
//!     let xs = &x[i * 1024..(i + 1) * 1024];
//!     simd::dispatch(|| part.iter_mut().zip(xs).for_each(|(y, &x)| *y = 2.0 * x));
//! });
//! assert_eq!(y[4095], 8190.0);
//! buffer::recycle(y);
//! ```

pub mod buffer;
pub mod gemm;
pub mod parallel;
pub mod simd;
