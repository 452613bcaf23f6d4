//! # autograd: tensors and a tape for reverse-mode automatic differentiation
//!
//! tapegrad's core, which knows nothing of layers:
//!
//! - [`Tensor`]: n-dimensional, row-major, contiguous, generic over `f32` (training) and
//!   `f64` (checking) through [`Element`]; broadcasting arithmetic, reductions, layout ops and
//!   GEMM-backed [`matmul`](Tensor::matmul).
//! - [`Tape`]: a Wengert list. Every op applied to its variables ([`Var`]) appends one entry;
//!   [`Tape::backward`] walks the entries once in reverse and returns [`Gradients`], indexed
//!   by variable or by [`Param`]. Graphs are dynamic: whatever Rust code ran is what the tape
//!   holds.
//! - [`CustomOp`]: the public op API (forward, backward, explicitly [`Saved`] tensors). Every
//!   primitive here and every layer of the `nn` crate is built on it. A backward pass hands
//!   the ops a [`BackwardContext`], whose [`ReluRule`] (set with [`Tape::set_relu_rule`])
//!   turns the gradient into a deconvnet or guided-backpropagation signal.
//! - [`anomaly`]: anomaly mode, which names the first op whose output or gradient held a
//!   NaN or an infinity ([`Tape::detect_anomaly`]).
//! - [`GradCheck`]: the tape's gradients against central finite differences in `f64`.
//! - [`runtime`]: what kernels need besides arithmetic, for op authors: the thread pool and
//!   its work splitter, the buffer pool, SIMD dispatch and GEMM on strided views.
//!
//! ## Errors
//! Every operation that can fail on its arguments returns [`Result`] with an [`Error`] that
//! names the op and the shapes; the operators `+ - * /`, which cannot return a `Result`, panic
//! with the same message as their `try_` forms (`try_add`, ...). Ops that cannot fail
//! (elementwise functions such as [`Var::exp`]) return their value directly.
//!
//! ```
//! use autograd::{Param, Tape, Tensor};
//!
//! let w = Param::new(Tensor::<f64>::from_vec(vec![0.5, -0.25], &[2, 1]).unwrap());
//! let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
//! for _step in 0..2 {
//!     let tape = Tape::new(); // a fresh tape every step
//!     let wv = tape.param(&w);
//!     let loss = tape.constant(x.clone()).matmul(&wv).unwrap().powf(2.0).mean();
//!     let grads = tape.backward(&loss).unwrap();
//!     assert_eq!(grads[&w].shape(), &[2, 1]);
//! }
//! ```

pub mod anomaly;
pub mod element;
pub mod error;
pub mod gradcheck;
pub mod op;
mod ops;
pub mod runtime;
pub mod shape;
pub mod tape;
pub mod tensor;

pub use element::{DType, Element};
pub use error::{Error, Result};
pub use gradcheck::{ElementCheck, GradCheck, GradCheckReport, gradcheck};
pub use op::{BackwardContext, CustomOp, ReluRule, Saved};
pub use shape::Shape;
pub use tape::{Gradients, Param, ParamId, Tape, Var};
pub use tensor::Tensor;
