//! The tape's semantics: accumulation, diamonds, no-grad, dynamic graphs, parameters bound to
//! consecutive tapes, detach, retained intermediates and the errors of misuse.

use autograd::{Error, GradCheck, Param, Tape, Tensor, Var};

fn t(v: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn close(a: &Tensor<f64>, b: &[f64]) {
    assert_eq!(a.numel(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.as_slice().iter().zip(b) {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

#[test]
fn a_variable_used_twice_receives_the_sum() {
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[3.0, -2.0], &[2]));
    // x used twice in one op, then again in another.
    let y = &(&x * &x) + &x;
    let g = tape.backward(&y.sum()).unwrap();
    close(&g[&x], &[2.0 * 3.0 + 1.0, 2.0 * -2.0 + 1.0]);
}

#[test]
fn a_diamond_graph_sums_both_paths() {
    // a = e^x; y = 2a + a²: dy/dx = (2 + 2a) · a
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[0.5, -1.0, 2.0], &[3]));
    let a = x.exp();
    let left = a.mul_scalar(2.0);
    let right = &a * &a;
    let y = &left + &right;
    let g = tape.backward(&y.sum()).unwrap();
    let expect: Vec<f64> = [0.5f64, -1.0, 2.0]
        .iter()
        .map(|v| (2.0 + 2.0 * v.exp()) * v.exp())
        .collect();
    close(&g[&x], &expect);
}

#[test]
fn no_grad_records_nothing() {
    let tape = Tape::<f64>::no_grad();
    let x = tape.var(t(&[1.0, 2.0], &[2]));
    let y = x.exp().sum();
    assert_eq!(tape.len(), 0);
    assert!(!y.requires_grad());
    assert!((y.value().item().unwrap() - (1f64.exp() + 2f64.exp())).abs() < 1e-12);

    // A recording tape paused for a while records nothing in between.
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[1.0, 2.0], &[2]));
    let before = tape.len();
    let z = tape.without_grad(|| x.exp().mul_scalar(3.0).sum());
    assert_eq!(tape.len(), before);
    assert!(!z.requires_grad());
    assert!(tape.is_recording(), "recording resumes after without_grad");
    let w = x.exp().sum();
    assert!(w.requires_grad());
    assert_eq!(tape.len(), before + 2);
}

#[test]
fn ops_on_constants_only_are_not_recorded() {
    let tape = Tape::<f64>::new();
    let c = tape.constant(t(&[1.0, 2.0], &[2]));
    let y = c.exp().sum();
    assert_eq!(tape.len(), 0);
    assert!(!y.requires_grad());
}

/// Halves `x` until every element is below 1: the loop's length depends on the data, so the
/// graph differs from input to input. `dy/dx = 0.5^k` for `k` iterations.
fn halve_until_small<'t>(x: &Var<'t, f64>) -> (Var<'t, f64>, usize) {
    let mut y = x.clone();
    let mut k = 0;
    while y.value().as_slice().iter().any(|v| v.abs() >= 1.0) {
        y = y.mul_scalar(0.5);
        k += 1;
    }
    (y, k)
}

#[test]
fn a_loop_of_data_dependent_length() {
    for (start, expect_k) in [(0.5, 0), (3.0, 2), (100.0, 7)] {
        let tape = Tape::<f64>::new();
        let x = tape.var(t(&[start], &[1]));
        let (y, k) = halve_until_small(&x);
        assert_eq!(k, expect_k);
        assert_eq!(tape.len(), 1 + k, "one leaf plus one entry per iteration");
        let g = tape.backward(&y.sum()).unwrap();
        close(&g[&x], &[0.5f64.powi(k as i32)]);
    }
    // And a branchy, data-dependent function passes the finite-difference check.
    let report = GradCheck::default()
        .run(&[t(&[3.0, -0.4], &[2])], |v| {
            let (y, _) = halve_until_small(&v[0]);
            Ok(if y.value().as_slice()[0] > 0.5 {
                y.tanh()
            } else {
                y.exp()
            })
        })
        .unwrap();
    assert!(report.passed, "{report}");
}

#[test]
fn parameters_bound_to_consecutive_tapes() {
    // Gradient descent on L(w) = Σ (w - target)², one fresh tape per step:
    // dL/dw = 2 (w - target), so w_{k+1} = w_k - lr · 2 (w_k - target).
    let target = t(&[1.0, -2.0, 0.5], &[3]);
    let mut w = Param::new(t(&[0.0, 0.0, 0.0], &[3]));
    let lr = 0.1;
    let mut expect = vec![0.0f64; 3];
    for _step in 0..5 {
        let grad = {
            let tape = Tape::new();
            let wv = tape.param(&w);
            let again = tape.param(&w); // binding twice gives the same variable
            assert_eq!(tape.len(), 1);
            let diff = wv.try_sub(&tape.constant(target.clone())).unwrap();
            let loss = (&diff * &diff).sum();
            let grads = tape.backward(&loss).unwrap();
            assert_eq!(grads[&again], grads[&w]);
            grads[&w].clone()
        };
        let want: Vec<f64> = expect
            .iter()
            .zip(target.as_slice())
            .map(|(e, tg)| 2.0 * (e - tg))
            .collect();
        close(&grad, &want);
        for (v, g) in w.value_mut().as_mut_slice().iter_mut().zip(grad.as_slice()) {
            *v -= lr * g;
        }
        for (e, g) in expect.iter_mut().zip(&want) {
            *e -= lr * g;
        }
    }
    close(w.value(), &expect);
}

#[test]
fn a_parameter_used_twice_on_one_tape_accumulates() {
    let w = Param::new(t(&[2.0], &[1]));
    let tape = Tape::<f64>::new();
    let a = tape.param(&w);
    let b = tape.param(&w);
    let y = (&a * &b).sum(); // w²
    let g = tape.backward(&y).unwrap();
    close(&g[&w], &[4.0]);
}

#[test]
fn detach_stops_the_gradient() {
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[3.0], &[1]));
    let y = (&x * &x.detach()).sum(); // d/dx (x · c) = c
    let g = tape.backward(&y).unwrap();
    close(&g[&x], &[3.0]);
}

#[test]
fn leaves_that_do_not_reach_the_loss_get_zero() {
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[3.0], &[1]));
    let unused = tape.var(t(&[1.0, 2.0], &[2]));
    let g = tape.backward(&x.sum()).unwrap();
    close(&g[&unused], &[0.0, 0.0]);
}

#[test]
fn retained_intermediates_keep_their_gradient() {
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[1.0, 2.0], &[2]));
    let h = x.mul_scalar(3.0);
    let h2 = x.mul_scalar(2.0);
    tape.retain_grad(&h);
    let y = (&(&h * &h) + &h2).sum();
    let g = tape.backward(&y).unwrap();
    close(&g[&h], &[6.0, 12.0]); // 2h
    assert!(g.get(&h2).is_none(), "not retained");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g[&h2].clone()));
    assert!(panicked.is_err());
}

#[test]
fn memory_does_not_grow_across_steps_with_reset() {
    let w = Param::new(t(&[0.5; 64], &[8, 8]));
    let mut tape = Tape::<f64>::new();
    let mut lens = Vec::new();
    for _ in 0..4 {
        tape.reset();
        let wv = tape.param(&w);
        let loss = wv.matmul(&wv).unwrap().tanh().sum();
        let _ = tape.backward(&loss).unwrap();
        lens.push((tape.len(), tape.saved_bytes()));
    }
    assert!(lens.windows(2).all(|p| p[0] == p[1]), "{lens:?}");
}

#[test]
fn misuse_gives_clear_errors() {
    let tape = Tape::<f64>::new();
    let other = Tape::<f64>::new();
    let x = tape.var(t(&[1.0, 2.0], &[2]));
    let y = other.var(t(&[1.0, 2.0], &[2]));
    assert!(matches!(x.try_add(&y), Err(Error::ForeignTape { .. })));

    let e = tape.backward(&x.exp()).err().expect("non-scalar output");
    assert!(e.to_string().contains("backward"), "{e}");
    let g = tape.backward_with(&x.exp(), t(&[1.0, 0.0], &[2])).unwrap();
    close(&g[&x], &[1f64.exp(), 0.0]);

    let z = tape.var(t(&[1.0, 2.0, 3.0], &[3]));
    let e = x.try_add(&z).err().unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("add") && msg.contains("[2]") && msg.contains("[3]"),
        "{msg}"
    );
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| &x + &z))
        .err()
        .unwrap();
    let text = panic.downcast_ref::<String>().unwrap();
    assert_eq!(text, &msg, "operators panic with the try_ form's message");
}

#[test]
fn frozen_parameters_are_constants_and_the_input_gradient_is_unchanged() {
    let w = Param::new(t(&[2.0, -1.0, 0.5, 3.0], &[2, 2]));
    let x0 = t(&[1.0, 4.0], &[1, 2]);
    let run = |frozen: bool| {
        let tape = Tape::new();
        tape.set_params_frozen(frozen);
        assert_eq!(tape.params_frozen(), frozen);
        let x = tape.var(x0.clone());
        let y = x.matmul(&tape.param(&w)).unwrap().relu().sum();
        let g = tape.backward(&y).unwrap();
        (g[&x].clone(), g.param(&w).is_some(), tape.len())
    };
    let (gx, has_w, len) = run(false);
    let (gx_frozen, has_w_frozen, len_frozen) = run(true);
    // x·W = (2 + 2, -1 + 12) = (4, 11): both ReLUs active, so
    // dL/dx = W · 1 = row sums (1, 3.5).
    close(&gx, &[1.0, 3.5]);
    close(&gx_frozen, &[1.0, 3.5]);
    assert!(has_w && !has_w_frozen);
    assert_eq!(
        len_frozen,
        len - 1,
        "the parameter is not a leaf of the frozen tape"
    );
}

#[test]
fn the_relu_rule_is_a_setting_of_the_tape_that_survives_reset() {
    let mut tape = Tape::<f64>::new();
    assert_eq!(tape.relu_rule(), autograd::ReluRule::Gradient);
    tape.set_relu_rule(autograd::ReluRule::Guided);
    tape.reset();
    assert_eq!(tape.relu_rule(), autograd::ReluRule::Guided);
    let x = tape.var(t(&[-1.0, 2.0, 3.0], &[3]));
    // Guided: R · [X > 0] · [R > 0] with R = (4, -5, 6).
    let g = tape.backward_with(&x.relu(), t(&[4.0, -5.0, 6.0], &[3])).unwrap();
    close(&g[&x], &[0.0, 0.0, 6.0]);
}
