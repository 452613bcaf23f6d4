//! The hand-rule ops checked three ways over random geometry: (a) their forward equals the
//! composite (autograd-primitive) forward, (b) their gradients equal the composite's autodiff
//! gradients, (c) both equal central finite differences in f64.

mod common;
use autograd::gradcheck::tape_fn;
use autograd::{GradCheck, Result, Tape, Tensor, Var};
use common::{pool_case, values};
use nn::ops::activation::Activation;
use nn::ops::composite;
use nn::ops::conv::{Conv2dConfig, conv2d, conv2d_with};
use nn::ops::dense::{dense, dense_with};
use nn::ops::pool::{avg_pool2d, max_pool2d};
use proptest::prelude::*;

/// Values and gradients of one function of several inputs, on a fresh tape.
fn eval<F>(inputs: &[Tensor<f64>], f: F) -> (Tensor<f64>, Vec<Tensor<f64>>)
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    let tape = Tape::<f64>::new();
    let vars: Vec<_> = inputs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars).unwrap();
    // A fixed, non-uniform upstream gradient, so every output element matters differently.
    let gy = Tensor::from_fn(y.shape(), |i| ((i * 37 % 17) as f64 - 8.0) / 8.0);
    let g = tape.backward_with(&y, gy).unwrap();
    (y.value().clone(), vars.iter().map(|v| g[v].clone()).collect())
}

fn assert_close(what: &str, a: &Tensor<f64>, b: &Tensor<f64>) -> std::result::Result<(), TestCaseError> {
    prop_assert_eq!(a.shape(), b.shape(), "{}: shapes", what);
    for (i, (x, y)) in a.as_slice().iter().zip(b.as_slice()).enumerate() {
        prop_assert!(
            (x - y).abs() <= 1e-12 + 1e-10 * y.abs(),
            "{}: element {}: {} vs {}",
            what,
            i,
            x,
            y
        );
    }
    Ok(())
}

/// (a) and (b): the hand-rule op and the composite agree on the value and on every gradient.
fn agree<F, G>(inputs: &[Tensor<f64>], hand: F, comp: G) -> std::result::Result<(), TestCaseError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
    G: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    let (yh, gh) = eval(inputs, hand);
    let (yc, gc) = eval(inputs, comp);
    assert_close("forward", &yh, &yc)?;
    for (i, (a, b)) in gh.iter().zip(&gc).enumerate() {
        assert_close(&format!("gradient of input {i}"), a, b)?;
    }
    Ok(())
}

/// The step for ops affine in each single input element (convolution, dense, average pooling):
/// the central difference is then exact for any step, up to the rounding of the two values of
/// `L = Σ r ⊙ f(x ± ε)`, which it divides by `2ε`. That rounding, up to `u · (terms) · Σ|r ⊙
/// terms|` (about 1e-12 at these sizes), times 1e6 at GradCheck's default `ε = 1e-6` exceeded
/// its `atol = 1e-8` in most runs (issue "CI that cannot flake"); divided by 2 at `ε = 1`
/// it stays near 1e-14 (measured), whatever the draw.
const AFFINE_EPS: f64 = 1.0;
/// Max pooling is affine as long as no window's argmax changes: its values are 0.01 apart
/// ([`distinct_values`]), so a step under half of that changes none, and still divides the
/// rounding of `L` (a sum of a few hundred window maxima, no products) by 4e-3 only.
const MAX_POOL_EPS: f64 = 4e-3;

/// (c): finite differences with step `eps`.
fn fd<F>(what: &str, inputs: &[Tensor<f64>], eps: f64, f: F) -> std::result::Result<(), TestCaseError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    let check = GradCheck {
        eps,
        ..GradCheck::default()
    };
    let r = check.run(inputs, f).unwrap();
    prop_assert!(r.passed, "{}: {}", what, r);
    Ok(())
}

/// Distinct values at least 0.01 apart (a shuffled ramp), so no pooling window holds a
/// near-tie that finite differences would straddle.
fn distinct_values(shape: &[usize], seed: u64) -> Tensor<f64> {
    let n: usize = shape.iter().product();
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    Tensor::from_fn(shape, |i| order[i] as f64 * 0.01 - n as f64 * 0.005)
}

#[derive(Debug, Clone)]
struct ConvCase {
    x: Vec<usize>,
    k: Vec<usize>,
    cfg: Conv2dConfig,
    seed: u64,
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (1..=2usize, 1..=3usize, 1..=3usize), // N, C_in, C_out
        (1..=3usize, 1..=3usize),             // KH, KW
        (
            (1..=3usize, 1..=3usize),
            (0..=2usize, 0..=2usize),
            (1..=2usize, 1..=2usize),
        ),
        (0..=4usize, 0..=4usize), // extra rows/cols beyond the minimum
        any::<u64>(),
    )
        .prop_map(
            |((n, ci, co), (kh, kw), (stride, padding, dilation), (eh, ew), seed)| {
                let span = |k: usize, d: usize| d * (k - 1) + 1;
                let min = |k, d, p: usize| span(k, d).saturating_sub(2 * p).max(1);
                let h = min(kh, dilation.0, padding.0) + eh;
                let w = min(kw, dilation.1, padding.1) + ew;
                ConvCase {
                    x: vec![n, h, w, ci],
                    k: vec![co, kh, kw, ci],
                    cfg: Conv2dConfig {
                        stride,
                        padding,
                        dilation,
                    },
                    seed,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn conv2d_hand_rules(case in conv_case(), with_bias in any::<bool>()) {
        let cfg = case.cfg;
        let mut inputs = vec![values(&case.x, case.seed), values(&case.k, case.seed ^ 1)];
        if with_bias {
            inputs.push(values(&[case.k[0]], case.seed ^ 2));
        }
        let hand = tape_fn(|v| conv2d(&v[0], &v[1], v.get(2), cfg));
        let comp = tape_fn(|v| composite::conv2d(&v[0], &v[1], v.get(2), cfg));
        agree(&inputs, hand, comp)?;
        fd("hand conv2d", &inputs, AFFINE_EPS, hand)?;
        fd("composite conv2d", &inputs, AFFINE_EPS, comp)?;
    }

    /// Slices whose kernel rows hold at least 16 values (`f_W · C_in >= 16`, no dilation along
    /// W) are stored row-major by im2col and spread back by col2im in that layout; the random
    /// cases above have too few channels to reach it.
    #[test]
    fn conv2d_hand_rules_row_major_slices(
        (n, c_in, c_out) in (1..=2usize, 6..=9usize, 1..=3usize),
        (kh, kw) in (1..=3usize, 2..=3usize),
        (stride, padding) in ((1..=2usize, 1..=2usize), (0..=1usize, 0..=2usize)),
        (eh, ew) in (0..=2usize, 0..=2usize),
        dilation_h in 1..=2usize,
        seed in any::<u64>(),
    ) {
        prop_assume!(kw * c_in >= 16);
        let (h, w) = ((dilation_h * (kh - 1) + 1).max(1) + eh, kw + ew);
        let cfg = Conv2dConfig { stride, padding, dilation: (dilation_h, 1) };
        let inputs = vec![
            values(&[n, h, w, c_in], seed),
            values(&[c_out, kh, kw, c_in], seed ^ 1),
            values(&[c_out], seed ^ 2),
        ];
        let hand = tape_fn(|v| conv2d(&v[0], &v[1], v.get(2), cfg));
        let comp = tape_fn(|v| composite::conv2d(&v[0], &v[1], v.get(2), cfg));
        agree(&inputs, hand, comp)?;
        fd("hand conv2d", &inputs, AFFINE_EPS, hand)?;
    }

    #[test]
    fn max_pool2d_hand_rules(case in pool_case()) {
        let cfg = case.cfg;
        let inputs = [distinct_values(&case.x, case.seed)];
        let hand = tape_fn(|v| max_pool2d(&v[0], cfg));
        let comp = tape_fn(|v| composite::max_pool2d(&v[0], cfg));
        agree(&inputs, hand, comp)?;
        fd("hand max_pool2d", &inputs, MAX_POOL_EPS, hand)?;
        fd("composite max_pool2d", &inputs, MAX_POOL_EPS, comp)?;
    }

    #[test]
    fn avg_pool2d_hand_rules(case in pool_case(), count_include_pad in any::<bool>()) {
        let cfg = case.cfg;
        let inputs = [values(&case.x, case.seed)];
        let hand = tape_fn(|v| avg_pool2d(&v[0], cfg, count_include_pad));
        let comp = tape_fn(|v| composite::avg_pool2d(&v[0], cfg, count_include_pad));
        agree(&inputs, hand, comp)?;
        fd("hand avg_pool2d", &inputs, AFFINE_EPS, hand)?;
        fd("composite avg_pool2d", &inputs, AFFINE_EPS, comp)?;
    }

    #[test]
    fn dense_hand_rules(n in 1..=4usize, i in 1..=6usize, o in 1..=5usize, seed in any::<u64>(), with_bias in any::<bool>()) {
        let mut inputs = vec![values(&[n, i], seed), values(&[i, o], seed ^ 1)];
        if with_bias {
            inputs.push(values(&[o], seed ^ 2));
        }
        let hand = tape_fn(|v| dense(&v[0], &v[1], v.get(2)));
        let comp = tape_fn(|v| composite::dense(&v[0], &v[1], v.get(2)));
        agree(&inputs, hand, comp)?;
        fd("hand dense", &inputs, AFFINE_EPS, hand)?;
        fd("composite dense", &inputs, AFFINE_EPS, comp)?;
    }
}

/// A batch big enough to be split into several chunks, run in parallel across the batch:
/// the chunked kernels must agree with the composite version exactly as the small cases do.
#[test]
fn conv2d_over_a_batch_split_into_chunks() {
    let cfg = Conv2dConfig::new().padding(2);
    let inputs = [
        values(&[8, 28, 28, 2], 11),
        values(&[3, 5, 5, 2], 12),
        values(&[3], 13),
    ];
    let hand = tape_fn(|v| conv2d(&v[0], &v[1], v.get(2), cfg));
    let comp = tape_fn(|v| composite::conv2d(&v[0], &v[1], v.get(2), cfg));
    agree(&inputs, hand, comp).unwrap();
    // And with the input gradient not needed (the first layer of a network).
    let tape = Tape::<f64>::new();
    let x = tape.constant(inputs[0].clone());
    let (w, b) = (tape.var(inputs[1].clone()), tape.var(inputs[2].clone()));
    let y = conv2d(&x, &w, Some(&b), cfg).unwrap();
    let g = tape.backward(&y.sum()).unwrap();
    let tape2 = Tape::<f64>::new();
    let (w2, b2) = (tape2.var(inputs[1].clone()), tape2.var(inputs[2].clone()));
    let y2 = composite::conv2d(&tape2.constant(inputs[0].clone()), &w2, Some(&b2), cfg).unwrap();
    let g2 = tape2.backward(&y2.sum()).unwrap();
    assert_close("dW without dx", &g[&w], &g2[&w2]).unwrap();
    assert_close("db without dx", &g[&b], &g2[&b2]).unwrap();
}

/// The 1x1, stride-1, unpadded case skips im2col (B is the input itself): checked on its own,
/// over several chunks, since random geometry rarely lands on it.
#[test]
fn conv2d_pointwise_over_chunks() {
    let cfg = Conv2dConfig::new();
    let inputs = [
        values(&[70, 16, 16, 8], 21),
        values(&[5, 1, 1, 8], 22),
        values(&[5], 23),
    ];
    let hand = tape_fn(|v| conv2d(&v[0], &v[1], v.get(2), cfg));
    let comp = tape_fn(|v| composite::conv2d(&v[0], &v[1], v.get(2), cfg));
    agree(&inputs, hand, comp).unwrap();
    let small = [
        values(&[2, 3, 3, 2], 24),
        values(&[3, 1, 1, 2], 25),
        values(&[3], 26),
    ];
    fd("pointwise conv2d", &small, AFFINE_EPS, hand).unwrap();
}

/// Every combination of constant and variable inputs: the op must return exactly the
/// gradients asked for, each equal to the composite's.
#[test]
fn conv2d_with_some_inputs_constant() {
    let cfg = Conv2dConfig::new().padding(1).stride(2);
    let inputs = [
        values(&[3, 7, 6, 2], 31),
        values(&[4, 3, 3, 2], 32),
        values(&[4], 33),
    ];
    for mask in 1..8u32 {
        let run = |composite_version: bool| -> Vec<Option<Tensor<f64>>> {
            let tape = Tape::<f64>::new();
            let vars: Vec<_> = inputs
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    if mask & (1 << i) != 0 {
                        tape.var(t.clone())
                    } else {
                        tape.constant(t.clone())
                    }
                })
                .collect();
            let y = if composite_version {
                composite::conv2d(&vars[0], &vars[1], Some(&vars[2]), cfg)
            } else {
                conv2d(&vars[0], &vars[1], Some(&vars[2]), cfg)
            }
            .unwrap();
            let gy = Tensor::from_fn(y.shape(), |i| ((i * 37 % 17) as f64 - 8.0) / 8.0);
            let g = tape.backward_with(&y, gy).unwrap();
            vars.iter().map(|v| g.get(v).cloned()).collect()
        };
        let (hand, comp) = (run(false), run(true));
        for (i, (h, c)) in hand.iter().zip(&comp).enumerate() {
            match (h, c) {
                (Some(h), Some(c)) => assert_close(&format!("mask {mask:03b}, input {i}"), h, c).unwrap(),
                (None, None) => assert_eq!(mask & (1 << i), 0),
                _ => panic!("mask {mask:03b}: input {i} has a gradient on one side only"),
            }
        }
    }
}

fn apply_activation<'t>(z: Var<'t, f64>, act: Activation) -> Var<'t, f64> {
    match act {
        Activation::Identity => z,
        Activation::Relu => z.relu(),
        Activation::Sigmoid => z.sigmoid(),
        Activation::Tanh => z.tanh(),
    }
}

/// A fused activation equals the op followed by the autograd activation (forward and every
/// gradient), and the smooth ones pass finite differences.
#[test]
fn fused_activations() {
    for act in [Activation::Relu, Activation::Sigmoid, Activation::Tanh] {
        let cfg = Conv2dConfig::new().padding(1);
        let inputs = [
            values(&[6, 28, 28, 2], 41),
            values(&[3, 3, 3, 2], 42),
            values(&[3], 43),
        ];
        let fused = tape_fn(|v| conv2d_with(&v[0], &v[1], v.get(2), cfg, act));
        let apart = tape_fn(|v| {
            Ok(apply_activation(
                composite::conv2d(&v[0], &v[1], v.get(2), cfg)?,
                act,
            ))
        });
        agree(&inputs, fused, apart).unwrap();
        let dense_inputs = [values(&[5, 7], 44), values(&[7, 4], 45), values(&[4], 46)];
        let fused = tape_fn(|v| dense_with(&v[0], &v[1], v.get(2), act));
        let apart = tape_fn(|v| Ok(apply_activation(composite::dense(&v[0], &v[1], v.get(2))?, act)));
        agree(&dense_inputs, fused, apart).unwrap();
        if act != Activation::Relu {
            let small = [
                values(&[2, 4, 4, 2], 47),
                values(&[2, 3, 3, 2], 48),
                values(&[2], 49),
            ];
            // Smooth but not affine: the default step, on fixed small inputs.
            let eps = GradCheck::default().eps;
            fd(
                "fused conv2d",
                &small,
                eps,
                tape_fn(|v| conv2d_with(&v[0], &v[1], v.get(2), cfg, act)),
            )
            .unwrap();
            fd("fused dense", &dense_inputs, eps, fused).unwrap();
        }
    }
}
