//! # tapegrad
//!
//! A tape-based reverse-mode autodiff engine with convolutional-network ops, for the CPU.
//! This facade re-exports the two crates: [`autograd`] (tensors, the tape, custom ops,
//! gradient checking) and [`nn`] (convolution, pooling, dense layers and training).

//!
//! # Random numbers
//!
//! Initialisers, shuffles and augmentation take a generator from the [`rand`] crate, and its
//! traits must come from the same major version as tapegrad's: **rand 0.10** (with
//! rand_distr 0.6). A generator from another version (rand 0.9, say) fails to compile with
//! a trait-bound error that does not mention versions. Use the re-exports and the versions
//! always agree:
//!
//! ```
//! use tapegrad::rand::SeedableRng;
//! let mut rng = tapegrad::rand::rngs::StdRng::seed_from_u64(7);
//! let model = tapegrad::nn::models::lenet5::<f32, _>(&mut rng);
//! # let _ = model;
//! ```

pub use autograd;
pub use nn;
/// The `rand` crate (0.10) that tapegrad's generators come from.
pub use rand;
/// The `rand_distr` crate (0.6) matching [`rand`].
pub use rand_distr;
