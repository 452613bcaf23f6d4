//! # nn: convolutional-network ops and training on top of `autograd`
//!
//! Built only on what `autograd` exports publicly, as a user's crate would be.

pub mod data;
