//! Dropout (`nn::ops::dropout`): the output is `A ⊙ M` for a mask of `0` and `1/(1 − p)`, the
//! gradient is `dZ ⊙ M` for that same mask (read back from the output, so the check does not
//! trust the op's saved mask), the share of dropped elements is `p`, the mask depends on the
//! seed alone (not on the thread count), NaN propagates as in PyTorch, and finite
//! differences agree in `f64`.

use autograd::gradcheck::tape_fn;
use autograd::runtime::parallel;
use autograd::{GradCheck, Tape, Tensor};
use nn::layers::{Dropout, Module};
use nn::ops::dropout::dropout;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Values in ±[0.5, 1.5]: none is 0, so the mask can be read back as `z / x`.
fn nonzero(shape: &[usize], seed: u64) -> Tensor<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    Tensor::from_fn(shape, |_| {
        let v = rng.random_range(0.5..1.5);
        if rng.random::<bool>() { v } else { -v }
    })
}

/// The mask `z / x`, each value checked to be `0` or `keep`.
fn mask_of(x: &[f64], z: &[f64], keep: f64) -> Vec<f64> {
    x.iter()
        .zip(z)
        .map(|(&xv, &zv)| {
            let m = zv / xv;
            assert!(
                m == 0.0 || (m - keep).abs() <= 1e-15 * keep,
                "z / x = {m}, keep {keep}"
            );
            if m == 0.0 { 0.0 } else { keep }
        })
        .collect()
}

#[test]
fn the_output_is_a_masked_copy_and_the_gradient_uses_the_same_mask() {
    // 3 blocks of the mask and a partial one; f64 and f32.
    let shape = [4, 12, 12, 64 * 9 + 3];
    let x = nonzero(&shape, 1);
    let dz = nonzero(&shape, 2);
    for p in [0.25, 0.5] {
        let keep = 1.0 / (1.0 - p);
        let tape = Tape::<f64>::new();
        let xv = tape.var(x.clone());
        let z = dropout(&xv, p, 11).unwrap();
        let m = mask_of(x.as_slice(), z.value().as_slice(), keep);
        let g = tape.backward_with(&z, dz.clone()).unwrap();
        for ((&gv, &d), &mv) in g[&xv].as_slice().iter().zip(dz.as_slice()).zip(&m) {
            assert_eq!(gv, d * mv);
        }
        // f32 draws the same mask from the same seed.
        let tape32 = Tape::<f32>::new();
        let x32 =
            tape32.var(Tensor::from_vec(x.as_slice().iter().map(|&v| v as f32).collect(), &shape).unwrap());
        let z32 = dropout(&x32, p, 11).unwrap();
        for ((&z32v, &xv), &mv) in z32.value().as_slice().iter().zip(x.as_slice()).zip(&m) {
            assert_eq!(z32v, xv as f32 * mv as f32);
        }
    }
}

#[test]
fn the_share_dropped_is_p() {
    let n = 200_000;
    let x = Tensor::<f64>::ones(&[n]);
    for p in [0.01, 0.1, 0.5, 0.9] {
        let tape = Tape::<f64>::new();
        let z = dropout(&tape.constant(x.clone()), p, 3).unwrap();
        let dropped = z.value().as_slice().iter().filter(|&&v| v == 0.0).count() as f64;
        // Five standard deviations of the binomial count: a biased threshold fails.
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (dropped - n as f64 * p).abs() <= 5.0 * sd,
            "p {p}: {dropped} of {n} dropped"
        );
        // No block repeats another's pattern.
        let v = z.value().as_slice();
        assert_ne!(&v[..1 << 14], &v[1 << 14..2 << 14], "p {p}");
    }
    let tape = Tape::<f64>::new();
    let z = dropout(&tape.constant(x), 0.0, 3).unwrap();
    assert!(
        z.value().as_slice().iter().all(|&v| v == 1.0),
        "p = 0 keeps everything"
    );
}

#[test]
fn the_mask_depends_on_the_seed_alone() {
    let x = nonzero(&[64, 12, 12, 64], 4);
    let run = |seed| {
        let tape = Tape::<f64>::new();
        dropout(&tape.constant(x.clone()), 0.25, seed)
            .unwrap()
            .value()
            .to_vec()
    };
    let threaded = run(5);
    // Inside a part of a parallel kernel the blocks run one after another on this thread.
    let serial = parallel::part(|| run(5));
    assert_eq!(threaded, serial);
    assert_eq!(threaded, run(5));
    assert_ne!(threaded, run(6));
}

#[test]
fn nan_and_infinity_propagate_as_in_pytorch() {
    // PyTorch: input * mask, so a dropped NaN or infinity gives NaN (NaN · 0, ∞ · 0).
    let n = 4096;
    let mut v = vec![1.0; n];
    for i in (0..n).step_by(3) {
        v[i] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][i % 9 / 3];
    }
    let tape = Tape::<f64>::new();
    let xv = tape.var(Tensor::from_vec(v.clone(), &[n]).unwrap());
    let z = dropout(&xv, 0.5, 8).unwrap();
    let ones = dropout(&tape.constant(Tensor::ones(&[n])), 0.5, 8).unwrap();
    let (z, m) = (z.value().to_vec(), ones.value().to_vec());
    let mut dropped_nan = 0;
    for i in 0..n {
        let want = v[i] * m[i];
        assert!(
            z[i] == want || (z[i].is_nan() && want.is_nan()),
            "{i}: {} vs {want}",
            z[i]
        );
        dropped_nan += usize::from(m[i] == 0.0 && !v[i].is_finite());
    }
    assert!(dropped_nan > 100);
    // A NaN gradient stays NaN where the element was dropped.
    let dz = Tensor::from_vec(vec![f64::NAN; n], &[n]).unwrap();
    let zv = dropout(&xv, 0.5, 8).unwrap();
    let g = tape.backward_with(&zv, dz).unwrap();
    assert!(g[&xv].as_slice().iter().all(|v| v.is_nan()));
}

#[test]
fn finite_differences_agree() {
    // A fixed seed makes the op a fixed linear map, which finite differences can check.
    let r = GradCheck::default()
        .run(&[nonzero(&[2, 5, 5, 3], 9)], tape_fn(|v| dropout(&v[0], 0.3, 12)))
        .unwrap();
    assert!(r.passed, "{r}");
}

#[test]
fn bad_probabilities_are_refused_with_the_op_named() {
    let tape = Tape::<f64>::new();
    let x = tape.constant(Tensor::ones(&[2, 3]));
    for p in [1.0, -0.1, f64::NAN] {
        let e = dropout(&x, p, 0).unwrap_err().to_string();
        assert!(e.contains("dropout") && e.contains("[2, 3]"), "{e}");
    }
}

#[test]
fn the_layer_draws_a_new_mask_each_call_and_is_the_identity_in_evaluation() {
    let x = Tensor::<f64>::ones(&[1000]);
    let mut layer = Dropout::new(0.5, 1).unwrap();
    let tape = Tape::<f64>::new();
    let xv = tape.constant(x.clone());
    let a = layer.forward(&xv).unwrap().value().to_vec();
    let b = layer.forward(&xv).unwrap().value().to_vec();
    assert_ne!(a, b);
    // Two layers of the same seed draw the same masks.
    let again = Dropout::new(0.5, 1).unwrap();
    assert_eq!(Module::<f64>::forward(&again, &xv).unwrap().value().to_vec(), a);
    Module::<f64>::set_training(&mut layer, false);
    assert_eq!(layer.forward(&xv).unwrap().value().to_vec(), x.to_vec());
}
