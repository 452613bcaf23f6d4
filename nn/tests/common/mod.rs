//! Helpers shared by the nn integration tests.

use autograd::Tensor;

/// A deterministic spread of values in [-1, 1) that depends on the seed.
pub fn values(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::from_fn(shape, |i| {
        let h = (i as u64 ^ seed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(17);
        (h % 2001) as f64 / 1000.0 - 1.0
    })
}
