//! The ReLU backward rules of issue #11 (gradient `R·[X>0]`, deconvnet `R·[R>0]`, guided
//! `R·[X>0]·[R>0]`) against hand-computed cases, through every place a ReLU lives: the
//! autograd `relu` op, the `ReLU` layer, and the ReLUs fused into conv2d and dense. Max
//! pooling's switches and the conv input rule are the same under every rule.

use autograd::{ReluRule, Tape, Tensor};
use nn::layers::{Conv2d, Dense, Flatten, MaxPool2d, Module, ReLU, Sequential};
use nn::ops::activation::Activation;
use nn::ops::conv::Conv2dConfig;
use nn::ops::pool::Pool2dConfig;

mod common;

const RULES: [ReluRule; 3] = [ReluRule::Gradient, ReluRule::Deconvnet, ReluRule::Guided];

/// The backward signal at `x` of `model`'s output seeded with `r`, under `rule`.
fn signal<M: Module<f64>>(model: &M, x: &Tensor<f64>, r: &Tensor<f64>, rule: ReluRule) -> Vec<f64> {
    let tape = Tape::new();
    tape.set_relu_rule(rule);
    let xv = tape.var(x.clone());
    let y = model.forward(&xv).unwrap();
    tape.backward_with(&y, r.clone()).unwrap()[&xv].to_vec()
}

fn t(v: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

#[test]
fn the_relu_op_and_layer_follow_each_rule() {
    let x = t(&[-1.0, 2.0, 3.0, -4.0], &[1, 4]);
    let r = t(&[5.0, -6.0, 7.0, -8.0], &[1, 4]);
    let expected = [
        [0.0, -6.0, 7.0, 0.0], // R·[X>0]
        [5.0, 0.0, 7.0, 0.0],  // R·[R>0]
        [0.0, 0.0, 7.0, 0.0],  // R·[X>0]·[R>0]
    ];
    let layer = Sequential::<f64>::new().add("relu", ReLU);
    for (rule, want) in RULES.iter().zip(expected) {
        assert_eq!(signal(&layer, &x, &r, *rule), want, "ReLU layer, {rule:?}");
        let tape = Tape::new();
        tape.set_relu_rule(*rule);
        let xv = tape.var(x.clone());
        let g = tape.backward_with(&xv.relu(), r.clone()).unwrap();
        assert_eq!(g[&xv].to_vec(), want, "relu op, {rule:?}");
    }
}

/// The lecture's worked example (`docs/lecture.md#a-worked-example`) with the bias moved to
/// -3.5 (Z_0 = [[5, 4], [2, 1]]), so that Z = [[1.5, 0.5], [-1.5, -2.5]] and the fused ReLU masks the bottom row.
fn lecture_conv<T: autograd::Element>() -> Conv2d<T> {
    let w = Tensor::from_vec([1.0, -1.0, 2.0, 0.0].map(T::from_f64).to_vec(), &[1, 2, 2, 1]).unwrap();
    let b = Tensor::from_vec(vec![T::from_f64(-3.5)], &[1]).unwrap();
    Conv2d::from_tensors(w, Some(b), Conv2dConfig::new())
        .unwrap()
        .with_activation(Activation::Relu)
}

#[test]
fn a_fused_conv_relu_follows_each_rule_then_filters_with_the_transposed_kernel() {
    let x = [1.0, 2.0, 0.0, 3.0, 1.0, 2.0, 0.0, 1.0, 3.0];
    let r = [1.0, -2.0, 3.0, 1.0];
    // dZ per rule, by hand: gradient [[1, -2], [0, 0]], deconvnet [[1, 0], [3, 1]], guided
    // [[1, 0], [0, 0]]; then dA_slice(ij) += dZ_ij · W with W = [[1, -1], [2, 0]].
    let expected = [
        [1.0, -3.0, 2.0, 2.0, -4.0, 0.0, 0.0, 0.0, 0.0],
        [1.0, -1.0, 0.0, 5.0, -2.0, -1.0, 6.0, 2.0, 0.0],
        [1.0, -1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ];
    for (rule, want) in RULES.iter().zip(expected) {
        let got = signal(
            &lecture_conv::<f64>(),
            &t(&x, &[1, 3, 3, 1]),
            &t(&r, &[1, 2, 2, 1]),
            *rule,
        );
        assert_eq!(got, want, "f64, {rule:?}");
        // f32 takes the direct kernels (few output channels).
        let tape = Tape::<f32>::new();
        tape.set_relu_rule(*rule);
        let xv = tape.var(Tensor::from_vec(x.map(|v| v as f32).to_vec(), &[1, 3, 3, 1]).unwrap());
        let y = lecture_conv::<f32>().forward(&xv).unwrap();
        let rt = Tensor::from_vec(r.map(|v| v as f32).to_vec(), &[1, 2, 2, 1]).unwrap();
        let got: Vec<f64> = tape.backward_with(&y, rt).unwrap()[&xv]
            .to_vec()
            .into_iter()
            .map(f64::from)
            .collect();
        assert_eq!(got, want, "f32, {rule:?}");
    }
}

#[test]
fn a_fused_dense_relu_follows_each_rule() {
    // Z = a·W + b = [2, -1] for a = [1, 2], W = [[1, -2], [0.5, 1]], b = [0, -1]; R = [-3, 4].
    let w = t(&[1.0, -2.0, 0.5, 1.0], &[2, 2]);
    let dense = Dense::from_tensors(w, Some(t(&[0.0, -1.0], &[2])))
        .unwrap()
        .with_activation(Activation::Relu);
    let (a, r) = (t(&[1.0, 2.0], &[1, 2]), t(&[-3.0, 4.0], &[1, 2]));
    // dZ: gradient [-3, 0], deconvnet [0, 4], guided [0, 0]; dA = dZ · Wᵀ.
    let expected = [[-3.0, -1.5], [-8.0, 4.0], [0.0, 0.0]];
    for (rule, want) in RULES.iter().zip(expected) {
        assert_eq!(signal(&dense, &a, &r, *rule), want, "{rule:?}");
    }
}

#[test]
fn fused_relus_agree_with_a_separate_relu_layer_under_every_rule_on_batches() {
    // Several channels and a batch large enough to split across threads: the fused ReLU
    // (read from the saved output) against the relu op (read from the input), f32 and f64.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    let conv = Conv2d::<f64>::new(3, 8, (3, 3), Conv2dConfig::new().padding(1), &mut rng);
    let (w, b) = (conv.w.value().clone(), conv.b.as_ref().unwrap().value().clone());
    let make = |fused: bool| {
        let c = Conv2d::from_tensors(w.clone(), Some(b.clone()), Conv2dConfig::new().padding(1)).unwrap();
        let s = Sequential::<f64>::new();
        if fused {
            s.add("conv", c.with_activation(Activation::Relu))
        } else {
            s.add("conv", c).add("relu", ReLU)
        }
    };
    let x = common::values(&[16, 9, 9, 3], 5);
    let r = common::values(&[16, 9, 9, 8], 6);
    for rule in RULES {
        let (fused, separate) = (
            signal(&make(true), &x, &r, rule),
            signal(&make(false), &x, &r, rule),
        );
        let diff = fused
            .iter()
            .zip(&separate)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-12, "{rule:?}: fused and separate differ by {diff}");
        assert!(
            fused.iter().any(|v| v.abs() > 1e-3),
            "{rule:?}: the signal is not all zero"
        );
    }
    // The rules do differ on this case (mixed signs), so the agreement is not vacuous.
    let (g, d) = (
        signal(&make(true), &x, &r, RULES[0]),
        signal(&make(true), &x, &r, RULES[1]),
    );
    assert!(g.iter().zip(&d).any(|(a, b)| (a - b).abs() > 1e-3));
    // Dense, f32, batch 64 (two threads in the forward pass).
    let dense = Dense::<f32>::new(120, 84, &mut rng);
    let (dw, db) = (dense.w.value().clone(), dense.b.as_ref().unwrap().value().clone());
    let fused = Dense::from_tensors(dw.clone(), Some(db.clone()))
        .unwrap()
        .with_activation(Activation::Relu);
    let separate = Sequential::<f32>::new()
        .add("fc", Dense::from_tensors(dw, Some(db)).unwrap())
        .add("relu", ReLU);
    let xs: Tensor<f32> = common::values(&[64, 120], 7).cast();
    let rs: Tensor<f32> = common::values(&[64, 84], 8).cast();
    for rule in RULES {
        let run = |m: &dyn Module<f32>| {
            let tape = Tape::new();
            tape.set_relu_rule(rule);
            let xv = tape.var(xs.clone());
            let y = m.forward(&xv).unwrap();
            tape.backward_with(&y, rs.clone()).unwrap()[&xv].clone()
        };
        assert!(run(&fused).all_close(&run(&separate), 1e-5), "dense {rule:?}");
    }
}

#[test]
fn max_pooling_unpools_to_the_switches_under_every_rule() {
    // The lecture's pooling example (docs/lecture.md#pooling): dZ goes to each window's
    // argmax, the first of a tie winning, whatever the ReLU rule.
    let a = [
        3, 6, 5, 4, 8, 9, 1, 7, 9, 6, 8, 0, 5, 0, 9, 6, 2, 0, 5, 2, 6, 3, 7, 0, 9, 0, 3, 2, 3, 1, 3, 1, 3, 7,
        1, 7,
    ]
    .map(f64::from);
    let dz: Vec<f64> = (1..=9).map(f64::from).collect();
    let want = [
        0, 0, 0, 0, 0, 3, 0, 1, 2, 0, 0, 0, 4, 0, 5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 8,
        0, 9,
    ]
    .map(f64::from);
    let pool = Sequential::<f64>::new().add("pool", MaxPool2d(Pool2dConfig::new(2)));
    for rule in RULES {
        assert_eq!(
            signal(&pool, &t(&a, &[1, 6, 6, 1]), &t(&dz, &[1, 3, 3, 1]), rule),
            want,
            "{rule:?}"
        );
    }
}

/// conv (5x5 then 3x3) with fused ReLUs, max pooling, a ReLU layer and two dense layers, all
/// weights and biases positive (so, on a positive image, every ReLU is active and every
/// backward signal positive) or of mixed sign.
fn small_net(positive: bool, seed: u64) -> Sequential<f64> {
    let v = |shape: &[usize], s: u64| {
        let t = common::values(shape, seed + s);
        if positive {
            t.map(|x| x.abs() * 0.2 + 0.01)
        } else {
            t.map(|x| x * 0.5)
        }
    };
    let relu = Activation::Relu;
    let conv = |w, b, p| Conv2d::from_tensors(w, Some(b), Conv2dConfig::new().padding(p)).unwrap();
    Sequential::new()
        .add(
            "conv1",
            conv(v(&[4, 5, 5, 1], 1), v(&[4], 2), 2).with_activation(relu),
        )
        .add("pool1", MaxPool2d(Pool2dConfig::new(2)))
        .add("conv2", conv(v(&[6, 3, 3, 4], 3), v(&[6], 4), 0))
        .add("relu2", ReLU)
        .add("flatten", Flatten)
        .add(
            "fc1",
            Dense::from_tensors(v(&[96, 10], 5), Some(v(&[10], 6)))
                .unwrap()
                .with_activation(relu),
        )
        .add(
            "fc2",
            Dense::from_tensors(v(&[10, 3], 7), Some(v(&[3], 8))).unwrap(),
        )
}

#[test]
fn with_every_relu_active_gradient_guided_and_deconvnet_agree() {
    use nn::interpret::{Method, attribute};
    let x = common::values(&[4, 12, 12, 1], 9).map(|v| v.abs() + 0.1);
    let targets = [0, 1, 2, 1];
    let maps: Vec<Tensor<f64>> = Method::ALL
        .iter()
        .map(|&m| attribute(&small_net(true, 1), &x, &targets, m).unwrap())
        .collect();
    assert!(
        maps[0].as_slice().iter().all(|&v| v > 0.0),
        "every signal is positive"
    );
    assert!(maps[0].all_close(&maps[1], 1e-12) && maps[0].all_close(&maps[2], 1e-12));
    // With mixed signs the three differ; with every ReLU active (X > 0), guided = deconvnet
    // still, since [X > 0] = 1 everywhere: check that the mixed-sign net does differ.
    let mixed: Vec<Tensor<f64>> = Method::ALL
        .iter()
        .map(|&m| attribute(&small_net(false, 2), &x, &targets, m).unwrap())
        .collect();
    assert!(!mixed[0].all_close(&mixed[1], 1e-6) && !mixed[1].all_close(&mixed[2], 1e-6));
}
