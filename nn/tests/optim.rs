//! Each optimizer against its update formula: three steps on a quadratic whose gradient
//! depends on the parameters, `L = Σ ½·a·p² + c·p` (so `∇ = a·p + c`). The expected numbers
//! were computed independently with `torch.optim` in float64 (script in the comment of each
//! test: `p = [1, -2, 0.5]`, `a = [1, 2, 0.5]`, `c = [0.3, -0.7, 1.1]`).

use autograd::{Param, Tape, Tensor};
use nn::train::optim::{
    Adadelta, Adam, ConstantLr, CosineLr, LrSchedule, Optimizer, OptimizerState, RmsProp, Sgd, StepLr,
    clip_grad_norm,
};

/// `steps` steps on the quadratic with `p`, `a` and `c` repeated `copies` times (each element
/// is its own independent problem).
fn run(mut opt: impl Optimizer<f64>, steps: usize, copies: usize) -> Vec<f64> {
    let repeat = |v: [f64; 3]| Tensor::from_vec(v.repeat(copies), &[3 * copies]).unwrap();
    let (a, c) = (repeat([1.0, 2.0, 0.5]), repeat([0.3, -0.7, 1.1]));
    let mut p = Param::new(repeat([1.0, -2.0, 0.5]));
    for _ in 0..steps {
        let tape = Tape::new();
        let pv = tape.param(&p);
        let (av, cv) = (tape.constant(a.clone()), tape.constant(c.clone()));
        let loss = (&(&(&av * &pv) * &pv).mul_scalar(0.5) + &(&cv * &pv)).sum();
        let grads = tape.backward(&loss).unwrap();
        opt.step(vec![("p".to_string(), &mut p)], &grads).unwrap();
    }
    p.value().to_vec()
}

fn close(got: &[f64], want: &[f64]) {
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{got:?} vs {want:?}");
    }
}

/// Three steps of the optimizer `make` builds against PyTorch's `want`: on the three-element
/// parameter, and on a parameter of 30000 elements (the three repeated), whose update is
/// split into parts across threads when the pool has two or more.
fn check<O: Optimizer<f64>>(make: impl Fn() -> O, want: [f64; 3]) {
    for copies in [1, 10_000] {
        let got = run(make(), 3, copies);
        assert_eq!(got.len(), 3 * copies);
        for (i, (g, w)) in got.iter().zip(want.iter().cycle()).enumerate() {
            assert!(
                (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
                "element {i} of {}: {g} vs {w}",
                got.len()
            );
        }
    }
}

#[test]
fn sgd_plain() {
    // torch.optim.SGD(lr=0.1)
    check(
        || Sgd::new(0.1),
        [0.6477, -0.8532000000000001, 0.11491249999999996],
    );
}

#[test]
fn sgd_momentum() {
    // torch.optim.SGD(lr=0.1, momentum=0.9)
    check(
        || Sgd::new(0.1).momentum(0.9),
        [0.3318, 0.20430000000000023, -0.2252875000000001],
    );
}

#[test]
fn sgd_nesterov_with_weight_decay() {
    // torch.optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    check(
        || Sgd::new(0.1).momentum(0.9).nesterov(true).weight_decay(0.01),
        [0.12043185367099994, 0.6104443606480001, -0.4969456210945001],
    );
}

#[test]
fn adam() {
    // torch.optim.Adam(lr=0.1)
    check(
        || Adam::new(0.1),
        [0.7010947850695696, -1.7005108395021926, 0.2004321640655475],
    );
}

#[test]
fn adam_with_l2_weight_decay() {
    // torch.optim.Adam(lr=0.1, weight_decay=0.1)
    check(
        || Adam::new(0.1).weight_decay(0.1),
        [0.7011271039047182, -1.7005152896652744, 0.20051529122347378],
    );
}

#[test]
fn adamw_decoupled_weight_decay() {
    // torch.optim.AdamW(lr=0.1, weight_decay=0.1)
    check(
        || Adam::adamw(0.1).weight_decay(0.1),
        [0.6745286953745009, -1.6442234980575106, 0.1885943980122391],
    );
}

#[test]
fn rmsprop() {
    // torch.optim.RMSprop(lr=0.01)
    check(
        || RmsProp::new(0.01),
        [0.7777966603871487, -1.7746916737509357, 0.2742097023294296],
    );
}

#[test]
fn rmsprop_with_momentum_and_weight_decay() {
    // torch.optim.RMSprop(lr=0.01, alpha=0.9, momentum=0.9, weight_decay=0.1)
    check(
        || RmsProp::new(0.01).alpha(0.9).momentum(0.9).weight_decay(0.1),
        [0.8526847676710054, -1.8521390037045242, 0.35213900577592067],
    );
}

#[test]
fn rmsprop_centered() {
    // torch.optim.RMSprop(lr=0.01, centered=True, momentum=0.5)
    check(
        || RmsProp::new(0.01).centered(true).momentum(0.5),
        [0.6678784146610072, -1.6631809392178725, 0.16245733231800694],
    );
}

#[test]
fn adadelta() {
    // torch.optim.Adadelta(lr=1.0)
    check(
        || Adadelta::new(1.0),
        [0.9903052364107096, -1.990299519725754, 0.4902986325380231],
    );
}

#[test]
fn adadelta_with_rho_eps_and_weight_decay() {
    // torch.optim.Adadelta(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)
    check(
        || Adadelta::new(0.5).rho(0.8).eps(1e-4).weight_decay(0.1),
        [0.9649875934089246, -1.9649100295639166, 0.4649143410828624],
    );
}

#[test]
fn rmsprop_and_adadelta_state_is_named_like_pytorchs_and_resumes_exactly() {
    let grads_of = |p: &Param<f64>| {
        let tape = Tape::new();
        let v = tape.param(p);
        tape.backward(&(&v * &v).sum()).unwrap()
    };
    type Make = fn() -> Box<dyn Optimizer<f64>>;
    let cases: [(Make, &[&str]); 3] = [
        (
            || Box::new(RmsProp::new(0.01).centered(true).momentum(0.9)),
            &["grad_avg.w", "momentum_buffer.w", "square_avg.w"],
        ),
        (|| Box::new(RmsProp::new(0.01)), &["square_avg.w"]),
        (|| Box::new(Adadelta::new(1.0)), &["acc_delta.w", "square_avg.w"]),
    ];
    for (fresh, keys) in cases {
        let mut opt = fresh();
        let mut p = Param::new(Tensor::from_vec(vec![1.0, -2.0], &[2]).unwrap());
        let g = grads_of(&p);
        opt.step(vec![("w".into(), &mut p)], &g).unwrap();
        let s = opt.state();
        assert_eq!(s.buffers.keys().map(String::as_str).collect::<Vec<_>>(), keys);
        // A resumed optimizer continues exactly as the uninterrupted one.
        let mut q = p.clone();
        let mut resumed = fresh();
        resumed.load_state(s.clone()).unwrap();
        let (gp, gq) = (grads_of(&p), grads_of(&q));
        opt.step(vec![("w".into(), &mut p)], &gp).unwrap();
        resumed.step(vec![("w".into(), &mut q)], &gq).unwrap();
        assert_eq!(p.value().to_vec(), q.value().to_vec(), "{}", opt.name());
        assert!(Sgd::<f64>::new(0.1).load_state(s.clone()).is_err());
        let mut foreign = OptimizerState::default();
        foreign
            .buffers
            .insert("exp_avg.w".to_string(), Tensor::zeros(&[2]));
        let err = fresh().load_state(foreign).unwrap_err();
        assert!(err.to_string().contains("exp_avg"), "{err}");
    }
}

#[test]
fn a_parameter_without_a_gradient_is_an_error() {
    let tape = Tape::<f64>::new();
    let bound = Param::new(Tensor::ones(&[1]));
    let mut unbound = Param::new(Tensor::ones(&[2]));
    let grads = tape.backward(&tape.param(&bound).sum()).unwrap();
    let e = Sgd::new(0.1)
        .step(vec![("layer.w".to_string(), &mut unbound)], &grads)
        .unwrap_err();
    assert!(e.to_string().contains("layer.w"), "{e}");
}

#[test]
fn optimizer_state_round_trips_and_rejects_foreign_buffers() {
    let mut a = Adam::<f64>::new(0.1);
    let mut p = Param::new(Tensor::ones(&[2]));
    let tape = Tape::new();
    let grads = tape.backward(&tape.param(&p).sum()).unwrap();
    a.step(vec![("w".into(), &mut p)], &grads).unwrap();
    let s = a.state();
    assert_eq!(s.step, 1);
    assert_eq!(
        s.buffers.keys().collect::<Vec<_>>(),
        ["exp_avg.w", "exp_avg_sq.w"]
    );
    let mut b = Adam::<f64>::new(0.1);
    b.load_state(s.clone()).unwrap();
    assert_eq!(b.state(), s);
    assert!(Sgd::<f64>::new(0.1).load_state(s).is_err());
}

#[test]
fn clipping_by_global_norm() {
    // torch.nn.utils.clip_grad_norm_(max_norm=6.5) on gradients [3, 4] and [12]: norm 13.
    let p1 = Param::new(Tensor::<f64>::zeros(&[2]));
    let p2 = Param::new(Tensor::<f64>::zeros(&[1]));
    let tape = Tape::new();
    let (v1, v2) = (tape.param(&p1), tape.param(&p2));
    let w1 = tape.constant(Tensor::from_vec(vec![3.0, 4.0], &[2]).unwrap());
    let w2 = tape.constant(Tensor::from_vec(vec![12.0], &[1]).unwrap());
    let loss = &(&v1 * &w1).sum() + &(&v2 * &w2).sum();
    let mut grads = tape.backward(&loss).unwrap();
    let norm = clip_grad_norm(&mut grads, &[&p1, &p2], 6.5);
    assert_eq!(norm, 13.0);
    close(grads[&p1].as_slice(), &[1.4999998846153937, 1.9999998461538582]);
    close(grads[&p2].as_slice(), &[5.999999538461575]);
    // Below the threshold nothing changes.
    let before = grads[&p1].clone();
    clip_grad_norm(&mut grads, &[&p1, &p2], 100.0);
    assert_eq!(grads[&p1], before);
}

#[test]
fn schedules_follow_pytorch() {
    // CosineAnnealingLR(T_max=10, eta_min=0.001) for steps 0..=10.
    let cos = CosineLr {
        base: 0.1,
        min: 0.001,
        total: 10,
    };
    let torch = [
        0.1,
        0.09757729755661011,
        0.0905463412215599,
        0.07959536998847742,
        0.0657963412215599,
        0.0505,
        0.03520365877844011,
        0.02140463001152259,
        0.010453658778440109,
        0.0034227024433899004,
        0.001,
    ];
    for (t, want) in torch.iter().enumerate() {
        assert!(
            (cos.lr_at(t) - want).abs() < 1e-15,
            "t={t}: {} vs {want}",
            cos.lr_at(t)
        );
    }
    assert_eq!(cos.lr_at(25), 0.001, "holds the minimum after the schedule ends");
    // StepLR(step_size=3, gamma=0.5).
    let step = StepLr {
        base: 0.1,
        step_size: 3,
        gamma: 0.5,
    };
    let got: Vec<f64> = (0..8).map(|t| step.lr_at(t)).collect();
    assert_eq!(got, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]);
    assert_eq!(ConstantLr(0.3).lr_at(99), 0.3);
}

/// One f32 step with a zero gradient from a state whose decaying buffer (`key`) is just
/// above the subnormal range: the buffer after the step (`β·1.2e-38`, subnormal) and the
/// parameter.
fn decay_into_subnormals(mut opt: impl Optimizer<f32>, keys: &[&str]) -> (f32, f32) {
    let mut p = Param::new(Tensor::<f32>::ones(&[1]));
    let mut buffers = std::collections::BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        let v = if i == 0 { 1.2e-38 } else { 1.0 };
        buffers.insert(format!("{key}.p"), Tensor::from_vec(vec![v], &[1]).unwrap());
    }
    opt.load_state(nn::train::optim::OptimizerState { step: 1, buffers })
        .unwrap();
    let tape = Tape::new();
    let pv = tape.param(&p);
    let zero = tape.constant(Tensor::zeros(&[1]));
    let grads = tape.backward(&(&pv * &zero).sum()).unwrap();
    opt.step(vec![("p".to_string(), &mut p)], &grads).unwrap();
    let buffer = opt.state().buffers[&format!("{}.p", keys[0])].as_slice()[0];
    (buffer, p.value().as_slice()[0])
}

#[test]
fn optimizers_flush_subnormals_unless_told_not_to() {
    let subnormal = std::hint::black_box(0.9f32) * std::hint::black_box(1.2e-38f32);
    assert!(subnormal > 0.0 && subnormal < f32::MIN_POSITIVE);
    let adam = |flush| Adam::<f32>::new(0.1).flush_denormals(flush);
    let sgd = |flush| Sgd::<f32>::new(0.1).momentum(0.9).flush_denormals(flush);
    for (name, flushed, kept) in [
        (
            "adam",
            decay_into_subnormals(adam(true), &["exp_avg", "exp_avg_sq"]),
            decay_into_subnormals(adam(false), &["exp_avg", "exp_avg_sq"]),
        ),
        (
            "sgd",
            decay_into_subnormals(sgd(true), &["momentum"]),
            decay_into_subnormals(sgd(false), &["momentum"]),
        ),
    ] {
        // Flushed by default (x86-64; elsewhere the mode is not available and nothing changes).
        #[cfg(target_arch = "x86_64")]
        assert_eq!(flushed.0, 0.0, "{name}: the default flushes the subnormal moment");
        assert_eq!(
            kept.0, subnormal,
            "{name}: flush_denormals(false) keeps IEEE gradual underflow"
        );
        // The parameter is the same either way.
        assert_eq!(flushed.1, kept.1, "{name}");
    }
}
