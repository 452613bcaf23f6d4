//! Strategies and helpers shared by the autograd property tests.
#![allow(dead_code)]

use autograd::{GradCheck, Result, Tensor, Var};
use proptest::prelude::*;

/// A shape of rank `1..=max_rank` with axes of length `1..=max_len`.
pub fn shape(max_rank: usize, max_len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_len, 1..=max_rank)
}

/// A tensor of the given shape with elements in `[lo, hi)`.
pub fn tensor_of(shape: Vec<usize>, lo: f64, hi: f64) -> impl Strategy<Value = Tensor<f64>> {
    let n: usize = shape.iter().product();
    prop::collection::vec(lo..hi, n).prop_map(move |v| Tensor::from_vec(v, &shape).unwrap())
}

/// A tensor of a random shape with elements in `[lo, hi)`.
pub fn tensor(max_rank: usize, max_len: usize, lo: f64, hi: f64) -> impl Strategy<Value = Tensor<f64>> {
    shape(max_rank, max_len).prop_flat_map(move |s| tensor_of(s, lo, hi))
}

/// Elements pushed at least `gap` away from zero (for ops with a kink at 0).
pub fn away_from_zero(t: Tensor<f64>, gap: f64) -> Tensor<f64> {
    t.map(|x| {
        if x.abs() < gap {
            if x < 0.0 { x - gap } else { x + gap }
        } else {
            x
        }
    })
}

/// A pair of shapes that broadcast together: the second drops some leading axes of the
/// first and sets some of its axes to 1; then the two may swap roles.
pub fn broadcast_pair(max_rank: usize, max_len: usize) -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape(max_rank, max_len).prop_flat_map(|a| {
        let rank = a.len();
        (
            Just(a),
            0..rank,
            prop::collection::vec(any::<bool>(), rank),
            any::<bool>(),
        )
            .prop_map(|(a, drop, ones, swap)| {
                let b: Vec<usize> = a
                    .iter()
                    .zip(&ones)
                    .skip(drop)
                    .map(|(&d, &one)| if one { 1 } else { d })
                    .collect();
                if swap { (b, a) } else { (a, b) }
            })
    })
}

/// Runs the gradient check with the tolerance (relative 1e-6) and fails the
/// property with the report when it does not pass.
pub fn check<F>(inputs: &[Tensor<f64>], f: F) -> std::result::Result<(), TestCaseError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    let report = GradCheck::default()
        .run(inputs, f)
        .map_err(|e| TestCaseError::fail(format!("gradcheck errored: {e}")))?;
    prop_assert!(report.passed, "{report}");
    Ok(())
}

/// The same case config for every gradient property: enough cases to cover shapes, few
/// enough to keep the suite quick.
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    }
}
