//! # tapegrad
//!
//! A tape-based reverse-mode autodiff engine with convolutional-network ops, for the CPU.
//! This facade re-exports the two crates: [`autograd`] (tensors, the tape, custom ops,
//! gradient checking) and [`nn`] (convolution, pooling, dense layers and training).

pub use autograd;
pub use nn;
