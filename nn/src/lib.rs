//! # nn: convolutional-network ops and training on top of `autograd`
//!
//! Built only on what `autograd` exports publicly, as a user's crate would be. The ops are
//! custom ops whose backward rules are the lecture's hand rules
//! (`../shared/lecture/RULES.md`), channels-last throughout: activations `[N, H, W, C]`,
//! kernels `[C_out, KH, KW, C_in]`, dense weights `[In, Out]`.
//!
//! - [`conv`]: `conv2d` (im2col + GEMM forward; `dW = dZᵀ·B`, `db = Σ dZ`, `dB = dZ·W` +
//!   col2im backward; [`im2col`] builds `B`, [`direct_conv`] handles layers with few kernels
//!   without it, [`direct_input_grad`] adds `dZ_slice += Σ_c dZ_ijc · W_c` without `dB`) and
//!   `conv2d_with` for a fused [`activation`].
//! - [`pool`]: `max_pool2d` (argmax mask) and `avg_pool2d` (`dA = dZ ⊗ M`).
//! - [`dense`]: `dense` (`Z = A·W + b`) and `flatten`.
//! - [`composite`]: the same ops from autograd primitives, to check the hand rules against.
//! - [`module`], [`layers`], [`init`], [`models`]: the `Module` trait, `Sequential`, layers,
//!   initialisers and LeNet-5.
//! - [`loss`]: softmax cross-entropy and mean squared error.
//! - [`train`], [`data`], [`checkpoint`]: training steps and evaluation, the IDX reader, the
//!   built-in digits, batching, and safetensors checkpoints.
//! - [`optim`]: SGD (momentum, Nesterov, weight decay), Adam, AdamW, learning-rate schedules,
//!   clipping by global gradient norm.

pub mod activation;
pub mod checkpoint;
pub mod composite;
pub mod conv;
pub mod data;
pub mod dense;
pub mod direct_conv;
pub mod direct_input_grad;
pub mod im2col;
pub mod init;
pub mod layers;
pub mod loss;
pub mod models;
pub mod module;
pub mod optim;
pub mod pool;
pub mod train;
