//! Helpers shared by the nn integration tests.

use autograd::Tensor;
use nn::ops::pool::Pool2dConfig;
use proptest::prelude::*;

/// A deterministic spread of values in [-1, 1) that depends on the seed.
pub fn values(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::from_fn(shape, |i| {
        let h = (i as u64 ^ seed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(17);
        (h % 2001) as f64 / 1000.0 - 1.0
    })
}

#[allow(dead_code)] // not every test binary runs property tests
/// `cases` cases, or `PROPTEST_CASES` when set (to shake out rare geometries).
pub fn cases(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default(); // reads PROPTEST_CASES
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            default.cases
        } else {
            cases
        },
        ..default
    }
}

/// A pooling case: an input shape and a configuration whose windows fit it (padding at most
/// half the kernel), and a seed for its values.
#[allow(dead_code)] // not every test binary pools
#[derive(Debug, Clone)]
pub struct PoolCase {
    pub x: [usize; 4],
    pub cfg: Pool2dConfig,
    pub seed: u64,
}

#[allow(dead_code)]
pub fn pool_case() -> impl Strategy<Value = PoolCase> {
    (
        (1..=2usize, 1..=4usize),
        (1..=3usize, 1..=3usize),
        (1..=3usize, 1..=3usize),
        (0..=1usize, 0..=1usize),
        (0..=4usize, 0..=4usize),
        any::<u64>(),
    )
        .prop_map(|((n, c), kernel, stride, (p0, p1), (eh, ew), seed)| {
            // Padding at most half the kernel.
            let padding = (p0.min(kernel.0 / 2), p1.min(kernel.1 / 2));
            let h = kernel.0.saturating_sub(2 * padding.0).max(1) + eh;
            let w = kernel.1.saturating_sub(2 * padding.1).max(1) + ew;
            PoolCase {
                x: [n, h, w, c],
                cfg: Pool2dConfig {
                    kernel,
                    stride,
                    padding,
                },
                seed,
            }
        })
}
