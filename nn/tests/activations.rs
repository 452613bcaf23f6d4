//! LeakyReLU, ELU and GELU: values against hand-computed ones (GELU's from tabulated values
//! of the normal CDF), gradients against central finite differences in f64, and the
//! softmax layers against their definition.

use autograd::gradcheck::tape_fn;
use autograd::{GradCheck, Tape, Tensor};
use nn::layers::{ELU, GELU, LeakyReLU, LogSoftmax, Module, Softmax};
use nn::ops::pointwise::{Pointwise, erf, pointwise};

/// Inputs away from 0, the kink of LeakyReLU and ELU's second derivative.
fn inputs() -> Tensor<f64> {
    Tensor::from_vec(vec![-3.1, -1.2, -0.4, -0.05, 0.07, 0.5, 1.3, 2.9], &[2, 4]).unwrap()
}

#[test]
fn values_match_hand_computed_ones() {
    let tape = Tape::<f64>::new();
    let x = tape.constant(Tensor::from_vec(vec![-2.0, 0.5, 1.0], &[3]).unwrap());
    let leaky = LeakyReLU { slope: 0.01 }.forward(&x).unwrap();
    assert_eq!(leaky.value().to_vec(), vec![-0.02, 0.5, 1.0]);
    let elu = ELU { alpha: 1.5 }.forward(&x).unwrap().value().to_vec();
    assert!((elu[0] - 1.5 * ((-2.0f64).exp() - 1.0)).abs() < 1e-15 && elu[1] == 0.5);
    // Φ(−2) = 0.022750131948179, Φ(0.5) = 0.691462461274013, Φ(1) = 0.841344746068543.
    let gelu = GELU.forward(&x).unwrap().value().to_vec();
    let want = [
        -2.0 * 0.022_750_131_948_179,
        0.5 * 0.691_462_461_274_013,
        0.841_344_746_068_543,
    ];
    for (g, w) in gelu.iter().zip(want) {
        assert!((g - w).abs() < 1e-14, "{g} vs {w}");
    }
}

#[test]
fn erf_matches_tabulated_values() {
    // Abramowitz & Stegun table 7.1 and higher-precision values.
    for (x, want) in [
        (0.1, 0.112_462_916_018_284_9),
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
        (3.0, 0.999_977_909_503_001_4),
        (3.5, 0.999_999_256_901_627_7),
        (5.0, 0.999_999_999_998_462_5),
    ] {
        assert!((erf(x) - want).abs() < 2e-15, "erf({x}) = {} vs {want}", erf(x));
        assert_eq!(erf(-x), -erf(x));
    }
    assert!(erf(f64::NAN).is_nan());
    assert_eq!(erf(f64::INFINITY), 1.0);
}

#[test]
fn gradients_pass_gradcheck() {
    for f in [
        Pointwise::LeakyRelu { slope: 0.1 },
        Pointwise::Elu { alpha: 0.7 },
        Pointwise::Gelu,
    ] {
        let r = GradCheck::default()
            .run(&[inputs()], tape_fn(|v| pointwise(&v[0], f)))
            .unwrap();
        assert!(r.passed, "{f:?}: {r}");
    }
}

#[test]
fn softmax_layers_follow_their_definition() {
    let x = inputs();
    let tape = Tape::<f64>::new();
    let xv = tape.constant(x.clone());
    let p = Softmax.forward(&xv).unwrap().value().to_vec();
    let lp = LogSoftmax.forward(&xv).unwrap().value().to_vec();
    for row in 0..2 {
        let r = &x.as_slice()[row * 4..row * 4 + 4];
        let z: f64 = r.iter().map(|v| v.exp()).sum();
        for k in 0..4 {
            assert!((p[row * 4 + k] - r[k].exp() / z).abs() < 1e-15);
            assert!((lp[row * 4 + k] - (r[k] - z.ln())).abs() < 1e-14);
        }
    }
    let r = GradCheck::default()
        .run(&[x], tape_fn(|v| LogSoftmax.forward(&v[0])))
        .unwrap();
    assert!(r.passed, "{r}");
}
