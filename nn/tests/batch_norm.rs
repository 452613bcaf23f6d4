//! Batch normalisation checked independently: (a) the op against the per-position reference
//! loops, (b) its hand rule against the composite (autograd primitives) version's autodiff
//! gradients, (c) both against central finite differences in f64 (`GradCheck`), over random
//! shapes, in training and evaluation; and the layer's running statistics against
//! PyTorch's update written out by hand.

mod common;
use autograd::gradcheck::tape_fn;
use autograd::{GradCheck, Tape, Tensor};
use common::{cases, values};
use nn::layers::{BatchNorm1d, BatchNorm2d, Module};
use nn::ops::activation::Activation;
use nn::ops::composite;
use nn::ops::norm::{Moments, Statistics, batch_norm, reference};
use proptest::prelude::*;

fn close(what: &str, a: &[f64], b: &[f64], tol: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), b.len(), "{}: lengths", what);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        prop_assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{}[{}]: {} vs {}",
            what,
            i,
            x,
            y
        );
    }
    Ok(())
}

/// A shape `[N, H, W, C]` or `[N, C]` with at least two positions per channel; the
/// channel counts include a few below the op's blocks of 16 channels, and some from 15 to
/// 37 (one or two whole blocks, with and without channels left over).
fn shape() -> impl Strategy<Value = Vec<usize>> {
    let channels = || prop_oneof![1..=5usize, 15..=37usize];
    prop_oneof![
        (1..=3usize, 1..=4usize, 1..=4usize, channels())
            .prop_filter("m >= 2", |(n, h, w, _)| n * h * w >= 2)
            .prop_map(|(n, h, w, c)| vec![n, h, w, c]),
        (2..=6usize, channels()).prop_map(|(n, c)| vec![n, c]),
    ]
}

/// Per channel an offset and a spread, so channels differ as in a network.
fn input(shape: &[usize], seed: u64) -> Tensor<f64> {
    let c = *shape.last().unwrap();
    let v = values(shape, seed);
    Tensor::from_fn(shape, |i| {
        (i % c) as f64 * 0.7 - 1.0 + (1.0 + 0.5 * (i % c) as f64) * v.as_slice()[i]
    })
}

fn params(c: usize, seed: u64) -> (Tensor<f64>, Tensor<f64>) {
    (
        values(&[c], seed ^ 3).map(|v| 1.0 + 0.5 * v),
        values(&[c], seed ^ 4),
    )
}

fn running(c: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let m = values(&[c], seed ^ 5).to_vec();
    let v = values(&[c], seed ^ 6)
        .as_slice()
        .iter()
        .map(|v| 1.0 + 0.8 * v)
        .collect();
    (m, v)
}

proptest! {
    #![proptest_config(cases(48))]

    /// (a) The op's output, gradients and moments equal the reference loops.
    #[test]
    fn op_matches_the_reference_loops(shape in shape(), training in any::<bool>(), seed in any::<u64>()) {
        let c = *shape.last().unwrap();
        let x = input(&shape, seed);
        let (g, b) = params(c, seed);
        let (rm, rv) = running(c, seed);
        let dy = values(&shape, seed ^ 7);
        let want = reference::batch_norm(&x, g.as_slice(), b.as_slice(), (!training).then_some((&rm[..], &rv[..])), 1e-5, &dy);
        let tape = Tape::<f64>::new();
        let (xv, gv, bv) = (tape.var(x.clone()), tape.var(g.clone()), tape.var(b.clone()));
        let stats = if training { Statistics::Batch } else { Statistics::Running { mean: rm.clone(), var: rv.clone() } };
        let (y, moments) = batch_norm(&xv, &gv, &bv, stats, 1e-5, Activation::Identity).unwrap();
        let grads = tape.backward_with(&y, dy).unwrap();
        close("y", y.value().as_slice(), want.y.as_slice(), 1e-12)?;
        close("dx", grads[&xv].as_slice(), want.dx.as_slice(), 1e-11)?;
        close("dgamma", grads[&gv].as_slice(), &want.dgamma, 1e-11)?;
        close("dbeta", grads[&bv].as_slice(), &want.dbeta, 1e-12)?;
        prop_assert_eq!(moments.is_some(), training);
        if let Some(m) = moments {
            close("mean", &m.mean, &want.mean, 1e-13)?;
            close("var", &m.var, &want.var, 1e-12)?;
        }
    }

    /// (b) and (c) The hand rule equals the composite's autodiff gradients, and both pass
    /// GradCheck (training: the statistics are differentiated through).
    #[test]
    fn hand_rule_equals_composite_and_finite_differences(shape in shape(), training in any::<bool>(), seed in any::<u64>()) {
        let c = *shape.last().unwrap();
        let x = input(&shape, seed);
        let (g, b) = params(c, seed);
        let (rm, rv) = running(c, seed);
        let (rmt, rvt) = (Tensor::from_vec(rm.clone(), &[c]).unwrap(), Tensor::from_vec(rv.clone(), &[c]).unwrap());
        let inputs = [x, g, b];
        let stats = || if training { Statistics::Batch } else { Statistics::Running { mean: rm.clone(), var: rv.clone() } };
        let hand = tape_fn(|v| Ok(batch_norm(&v[0], &v[1], &v[2], stats(), 1e-5, Activation::Identity)?.0));
        let comp = tape_fn(|v| composite::batch_norm(&v[0], &v[1], &v[2], (!training).then_some((&rmt, &rvt)), 1e-5));
        let run = |tape: &Tape<f64>, hand_rule: bool| {
            let vars: Vec<_> = inputs.iter().map(|t| tape.var(t.clone())).collect();
            let y = if hand_rule { hand(&vars) } else { comp(&vars) }.unwrap();
            let gy = Tensor::from_fn(y.shape(), |i| ((i * 37 % 17) as f64 - 8.0) / 8.0);
            let gr = tape.backward_with(&y, gy).unwrap();
            (y.value().clone(), vars.iter().map(|v| gr[v].clone()).collect::<Vec<_>>())
        };
        let (yh, gh) = run(&Tape::new(), true);
        let (yc, gc) = run(&Tape::new(), false);
        close("forward", yh.as_slice(), yc.as_slice(), 1e-12)?;
        for (i, (a, b)) in gh.iter().zip(&gc).enumerate() {
            close(&format!("gradient {i}"), a.as_slice(), b.as_slice(), 1e-10)?;
        }
        let r = GradCheck::default().run(&inputs, hand).unwrap();
        prop_assert!(r.passed, "hand batch_norm: {}", r);
        let r = GradCheck::default().run(&inputs, comp).unwrap();
        prop_assert!(r.passed, "composite batch_norm: {}", r);
    }

    /// The fused activation equals batch norm followed by the activation, values and gradients.
    #[test]
    fn fused_activation_equals_a_separate_one(shape in shape(), seed in any::<u64>(), act in 0..3usize) {
        let c = *shape.last().unwrap();
        let x = input(&shape, seed);
        let (g, b) = params(c, seed);
        let activation = [Activation::Relu, Activation::Sigmoid, Activation::Tanh][act];
        let run = |fused: bool| {
            let tape = Tape::<f64>::new();
            let (xv, gv, bv) = (tape.var(x.clone()), tape.var(g.clone()), tape.var(b.clone()));
            let y = if fused {
                batch_norm(&xv, &gv, &bv, Statistics::Batch, 1e-5, activation).unwrap().0
            } else {
                let z = batch_norm(&xv, &gv, &bv, Statistics::Batch, 1e-5, Activation::Identity).unwrap().0;
                match activation { Activation::Relu => z.relu(), Activation::Sigmoid => z.sigmoid(), _ => z.tanh() }
            };
            let gy = values(y.shape(), seed ^ 9);
            let gr = tape.backward_with(&y, gy).unwrap();
            (y.value().to_vec(), gr[&xv].to_vec(), gr[&gv].to_vec(), gr[&bv].to_vec())
        };
        let (a, b) = (run(true), run(false));
        close("y", &a.0, &b.0, 1e-13)?;
        close("dx", &a.1, &b.1, 1e-11)?;
        close("dgamma", &a.2, &b.2, 1e-11)?;
        close("dbeta", &a.3, &b.3, 1e-11)?;
    }
}

/// Three training steps then evaluation: the running statistics are PyTorch's update applied
/// three times (written out here from the batches' own means and unbiased variances), and
/// evaluation normalises with them.
#[test]
fn running_statistics_follow_pytorch_and_evaluation_uses_them() {
    let mut bn = BatchNorm2d::<f64>::new(2).with_momentum_eps(0.2, 1e-5);
    let (mut rm, mut rv) = (vec![0.0, 0.0], vec![1.0, 1.0]);
    for step in 0..3u64 {
        let x = input(&[2, 3, 2, 2], 11 + step);
        let tape = Tape::new();
        bn.forward(&tape.constant(x.clone())).unwrap();
        // Per channel: mean and unbiased variance of the 12 values, by hand.
        for ch in 0..2 {
            let v: Vec<f64> = x.as_slice().iter().skip(ch).step_by(2).copied().collect();
            let mean = v.iter().sum::<f64>() / 12.0;
            let unbiased = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / 11.0;
            rm[ch] = 0.8 * rm[ch] + 0.2 * mean;
            rv[ch] = 0.8 * rv[ch] + 0.2 * unbiased;
        }
    }
    bn.set_training(false);
    let got: Vec<Vec<f64>> = bn.buffers().iter().map(|(_, t)| t.to_vec()).collect();
    for (g, w) in got.iter().zip([&rm, &rv]) {
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() < 1e-14, "{got:?} vs {rm:?} {rv:?}");
        }
    }
    // Evaluation: (x − running mean) / √(running var + eps), γ = 1, β = 0; nothing changes.
    let x = input(&[1, 1, 1, 2], 99);
    let tape = Tape::new();
    let y = bn.forward(&tape.constant(x.clone())).unwrap();
    for ch in 0..2 {
        let want = (x.as_slice()[ch] - rm[ch]) / (rv[ch] + 1e-5).sqrt();
        assert!((y.value().as_slice()[ch] - want).abs() < 1e-14);
    }
    assert_eq!(bn.buffers()[0].1.to_vec(), got[0]);
}

/// A forward pass only records its update; it is folded in by the next mutable borrow
/// (an optimizer step's `parameters_mut`), and a second pass in between folds in order.
#[test]
fn updates_fold_in_order_at_the_next_mutable_borrow() {
    let mut bn = BatchNorm1d::<f64>::new(1);
    let batch = |a: f64, b: f64| Tensor::from_vec(vec![a, b], &[2, 1]).unwrap();
    let tape = Tape::new();
    bn.forward(&tape.constant(batch(1.0, 3.0))).unwrap(); // mean 2, unbiased var 2
    bn.forward(&tape.constant(batch(0.0, 4.0))).unwrap(); // mean 2, unbiased var 8
    assert_eq!(
        bn.buffers()[0].1.to_vec(),
        vec![0.0],
        "not folded before a mutable borrow"
    );
    let _ = bn.parameters_mut();
    let mean = 0.9 * (0.9 * 0.0 + 0.1 * 2.0) + 0.1 * 2.0;
    let var = 0.9 * (0.9 * 1.0 + 0.1 * 2.0) + 0.1 * 8.0;
    let got = bn.buffers();
    assert!((got[0].1.to_vec()[0] - mean).abs() < 1e-15 && (got[1].1.to_vec()[0] - var).abs() < 1e-15);
}

#[test]
fn bad_inputs_are_errors_naming_the_op() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[2, 3]));
    let g = tape.var(Tensor::ones(&[2]));
    let e = batch_norm(&x, &g, &g, Statistics::Batch, 1e-5, Activation::Identity)
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch_norm") && e.contains("gamma must be [3]"), "{e}");
    let one = tape.var(Tensor::zeros(&[1, 3]));
    let g3 = tape.var(Tensor::ones(&[3]));
    let e = batch_norm(&one, &g3, &g3, Statistics::Batch, 1e-5, Activation::Identity)
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than one value per channel"), "{e}");
    let e = BatchNorm2d::<f64>::new(3).forward(&x).unwrap_err().to_string();
    assert!(e.contains("BatchNorm2d") && e.contains("[N, H, W, C]"), "{e}");
    // Evaluation accepts a single position.
    let stats = Statistics::Running {
        mean: vec![0.0; 3],
        var: vec![1.0; 3],
    };
    assert!(batch_norm(&one, &g3, &g3, stats, 1e-5, Activation::Identity).is_ok());
}

/// NaN in the input propagates to the output of its channel (and only there).
#[test]
fn nan_propagates_within_its_channel() {
    let mut v = vec![1.0, 2.0, 3.0, 4.0];
    v[0] = f64::NAN;
    let x = Tensor::from_vec(v, &[2, 2]).unwrap();
    let m = Moments::of(&x).unwrap();
    assert!(m.mean[0].is_nan() && m.mean[1] == 3.0);
}

/// The threaded `f32` path (a tensor large enough to be split across parts and threads)
/// against the `f64` reference loops, with a fused ReLU as the ResNet uses it.
#[test]
fn large_f32_tensors_match_the_reference() {
    let shape = [8, 28, 28, 16];
    let x = input(&shape, 3);
    let (g, b) = params(16, 3);
    let dy = values(&shape, 4);
    let tape = Tape::<f32>::new();
    let (xv, gv, bv) = (tape.var(x.cast()), tape.var(g.cast()), tape.var(b.cast()));
    let (y, _) = batch_norm(&xv, &gv, &bv, Statistics::Batch, 1e-5, Activation::Relu).unwrap();
    let grads = tape.backward_with(&y, dy.cast()).unwrap();
    // The reference with the ReLU's mask applied to dy by hand.
    let plain = reference::batch_norm(&x, g.as_slice(), b.as_slice(), None, 1e-5, &dy);
    let masked = Tensor::from_fn(&shape, |i| {
        if plain.y.as_slice()[i] > 0.0 {
            dy.as_slice()[i]
        } else {
            0.0
        }
    });
    let want = reference::batch_norm(&x, g.as_slice(), b.as_slice(), None, 1e-5, &masked);
    let relu: Vec<f64> = want.y.as_slice().iter().map(|v| v.max(0.0)).collect();
    let got = |t: &Tensor<f32>| t.as_slice().iter().map(|&v| v as f64).collect::<Vec<f64>>();
    let check = |what: &str, a: &[f64], b: &[f64], tol: f64| {
        let worst = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
            .fold(0.0, f64::max);
        assert!(worst < tol, "{what}: worst relative error {worst:e}");
    };
    check("y", &got(y.value()), &relu, 1e-5);
    check("dx", &got(&grads[&xv]), want.dx.as_slice(), 1e-4);
    check("dgamma", &got(&grads[&gv]), &want.dgamma, 1e-4);
    check("dbeta", &got(&grads[&bv]), &want.dbeta, 1e-4);
}
