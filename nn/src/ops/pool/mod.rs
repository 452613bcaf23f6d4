//! Max and average pooling, channels-last, as custom ops with the lecture's backward rules
//! (`docs/lecture.md#pooling`): pooling works on each channel separately, `dZ` is the
//! gradient at the pooling output and `dA` the one at its input.
//!
//! - Max pooling: `dA` receives each `dZ` element at its window's argmax (the mask `M` that is
//!   1 there and 0 elsewhere); where windows overlap the contributions add up.
//! - Average pooling: `dA = dZ ⊗ M` with `M = 1/(f_H·f_W)` over the window (the Kronecker
//!   product for non-overlapping windows; overlapping windows accumulate).
//! - Global and adaptive average pooling: the same rule over windows fixed by the output
//!   size (`adaptive`).

mod adaptive;
mod avg;
mod geometry;
mod max;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use adaptive::{
    AdaptiveAvgPool2dOp, GlobalAvgPool2dOp, adaptive_avg_pool2d, adaptive_window, global_avg_pool2d,
};
pub use avg::{AvgPool2dOp, avg_pool2d};
pub use geometry::{Pool2dConfig, PoolGeometry};
pub use max::{MaxPool2dOp, max_pool2d};
