//! The differentiable ops of a CNN, each a [`CustomOp`](autograd::CustomOp) whose backward is
//! the lecture's hand rule (`docs/lecture.md`), one folder or file per op family. Each op's
//! forward pass, its backward rule, the formula in its doc and, in [`reference`](mod@reference), the
//! lecture's per-position loop sit together; the fast paths are checked against the loops.
//!
//! - [`conv`]: 2-D convolution, with [`conv::ConvPlan`], the one place that decides which
//!   kernels run (direct, im2col + GEMM, pointwise) for the forward pass, `dW` and `dX`;
//! - [`pool`]: max pooling (the argmax mask) and average pooling (`dA = dZ ⊗ M`);
//! - [`dense`]: `Z = A·W + b` and `flatten`;
//! - [`dropout`]: inverted dropout, `Z = A ⊙ M` and `dA = dZ ⊙ M`;
//! - [`norm`]: batch normalisation over the channels, with its closed-form backward rule;
//! - [`activation`]: the activations that conv and dense layers can fuse;
//! - [`pointwise`]: LeakyReLU, ELU, GELU as ops of their own;
//! - [`residual`]: the join of a residual block, `relu(x + F(x))`;
//! - [`loss`]: softmax cross-entropy and mean squared error;
//! - [`composite`]: the same ops built from autograd primitives (a second, independent
//!   implementation);
//! - [`reference`](mod@reference): the lecture's per-position loops in `f64`, the oracle of the tests.

pub mod activation;
mod bias;
pub mod composite;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod loss;
pub mod norm;
pub mod pointwise;
pub mod pool;
pub mod reference;
pub mod residual;
