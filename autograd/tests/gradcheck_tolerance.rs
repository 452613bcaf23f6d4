//! The gradient checker's tolerance against the rounding of its own finite differences: a
//! correct op with a thousand outputs of magnitude ~500 passes for every seed (the fixed
//! `atol + rtol · |numeric|` of the plain `Σ r ⊙ y` difference rejected it), while a
//! backward that is wrong by 1e-4, by a factor or by one element still fails.

use autograd::{CustomOp, GradCheck, GradCheckReport, Result, Saved, Tape, Tensor, Var};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// How a [`MatMul`]'s backward rule is (deliberately) wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bug {
    None,
    /// Both gradients scaled by `1 + 1e-4`.
    Scaled,
    /// Both gradients scaled by 2.
    Doubled,
    /// The gradient of `a[3, 7]` left out.
    DroppedElement,
    /// The gradient of `b` left out (zero).
    MissingTerm,
}

/// `y = a b` for `a: [m, k]`, `b: [k, n]`, with `da = dy bᵀ`, `db = aᵀ dy`, wrong as told.
struct MatMul(Bug);

impl CustomOp<f64> for MatMul {
    fn name(&self) -> &str {
        "test_matmul"
    }
    fn forward(&mut self, inputs: &[&Tensor<f64>], saved: &mut Saved<f64>) -> Result<Tensor<f64>> {
        saved.save(inputs[0].clone());
        saved.save(inputs[1].clone());
        inputs[0].matmul(inputs[1])
    }
    fn backward(&self, saved: &Saved<f64>, dy: &Tensor<f64>, _: &[bool]) -> Result<Vec<Option<Tensor<f64>>>> {
        let (a, b) = (saved.get(0), saved.get(1));
        let mut da = dy.matmul(&b.transpose(0, 1)?)?;
        let mut db = a.transpose(0, 1)?.matmul(dy)?;
        match self.0 {
            Bug::None => {}
            Bug::Scaled => {
                da = da.mul_scalar(1.0 + 1e-4);
                db = db.mul_scalar(1.0 + 1e-4);
            }
            Bug::Doubled => {
                da = da.mul_scalar(2.0);
                db = db.mul_scalar(2.0);
            }
            Bug::DroppedElement => {
                let cols = a.shape()[1];
                da.as_mut_slice()[3 * cols + 7] = 0.0;
            }
            Bug::MissingTerm => db = Tensor::zeros(b.shape()),
        }
        Ok(vec![Some(da), Some(db)])
    }
}

fn matmul_op(bug: Bug) -> impl for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>> + Copy {
    move |v: &[Var<'_, f64>]| v[0].tape().apply(MatMul(bug), &[&v[0], &v[1]])
}

/// `a: [m, k]`, `b: [k, n]` of standard-normal values times 10.
fn operands(m: usize, k: usize, n: usize, seed: u64) -> [Tensor<f64>; 2] {
    let mut rng = StdRng::seed_from_u64(seed);
    [
        Tensor::randn(&[m, k], &mut rng).mul_scalar(10.0),
        Tensor::randn(&[k, n], &mut rng).mul_scalar(10.0),
    ]
}

/// The check as it was before the rounding allowance: `(L(x+ε) - L(x-ε)) / 2ε` with
/// `L = Σ r ⊙ y` summed whole, against `atol + rtol · |numeric|` with the default options.
/// Returns whether every element passed and the largest error.
fn old_check<F>(check: &GradCheck, inputs: &[Tensor<f64>], f: F) -> (bool, f64)
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    let tape = Tape::<f64>::new();
    let vars: Vec<_> = inputs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars).unwrap();
    // The same projection as the checker's.
    let r = Tensor::<f64>::randn(y.shape(), &mut StdRng::seed_from_u64(check.seed));
    let grads = tape.backward_with(&y, r.clone()).unwrap();
    let loss = |xs: &[Tensor<f64>]| -> f64 {
        let tape = Tape::<f64>::no_grad();
        let vars: Vec<_> = xs.iter().map(|x| tape.var(x.clone())).collect();
        let y = f(&vars).unwrap();
        y.value()
            .as_slice()
            .iter()
            .zip(r.as_slice())
            .map(|(a, b)| a * b)
            .sum()
    };
    let (mut passed, mut max_err) = (true, 0.0f64);
    let mut xs = inputs.to_vec();
    for i in 0..xs.len() {
        for k in 0..xs[i].numel() {
            let orig = xs[i].as_slice()[k];
            xs[i].as_mut_slice()[k] = orig + check.eps;
            let plus = loss(&xs);
            xs[i].as_mut_slice()[k] = orig - check.eps;
            let minus = loss(&xs);
            xs[i].as_mut_slice()[k] = orig;
            let numeric = (plus - minus) / (2.0 * check.eps);
            let err = (grads[&vars[i]].as_slice()[k] - numeric).abs();
            max_err = max_err.max(err);
            passed &= err <= check.atol + check.rtol * numeric.abs();
        }
    }
    (passed, max_err)
}

fn seeded(seed: u64) -> GradCheck {
    GradCheck {
        seed,
        ..GradCheck::default()
    }
}

fn assert_consistent(r: &GradCheckReport) {
    assert_eq!(r.passed, r.worst_ratio <= 1.0, "{r}");
    assert!(
        r.fd_rounding <= r.max_fd_rounding && r.tolerance >= r.fd_rounding,
        "{r}"
    );
}

/// (a) A correct bilinear op, 1000 outputs of magnitude ~500: passes for 24 seeds of `r`,
/// with a wide margin, where the old fixed tolerance rejected at least one of them.
#[test]
fn a_correct_product_with_many_large_outputs_passes_for_every_seed() {
    let x = operands(40, 30, 25, 1);
    let (mut old_failures, mut old_max_err, mut worst) = (0, 0.0f64, 0.0f64);
    for seed in 0..24 {
        let check = seeded(seed);
        let r = check.run(&x, matmul_op(Bug::None)).unwrap();
        assert_consistent(&r);
        assert!(r.passed, "seed {seed}: {r}");
        assert_eq!(r.checked, 40 * 30 + 30 * 25);
        // The rounding it allows for is far beyond the fixed absolute tolerance.
        assert!(r.max_fd_rounding > 100.0 * check.atol, "seed {seed}: {r}");
        worst = worst.max(r.worst_ratio);
        // The built-in product, the same way.
        let builtin = check.run(&x, |v| v[0].matmul(&v[1])).unwrap();
        assert!(builtin.passed, "seed {seed}: {builtin}");
        let (old_passed, old_err) = old_check(&check, &x, matmul_op(Bug::None));
        old_failures += usize::from(!old_passed);
        old_max_err = old_max_err.max(old_err);
    }
    // Measured: at most ~0.003 of the tolerance (the forward's rounding is ~0.03 of the
    // allowance at `rounding_factor` 1, and rtol adds to it).
    assert!(worst < 0.1, "worst ratio {worst}");
    // The issue: the plain difference of two sums of 1000 terms of ~500 rounds at ~1e-5,
    // beyond atol 1e-8 + rtol 1e-6 · |numeric|.
    assert!(
        old_failures > 0 && old_max_err > 1e-6,
        "the old check failed {old_failures} of 24 seeds, max error {old_max_err:.3e}"
    );
}

/// (b) The same large shapes, with wrong backward rules: every one fails, far outside the
/// tolerance.
#[test]
fn a_wrong_backward_fails_for_the_same_large_shapes() {
    let x = operands(40, 30, 25, 1);
    for seed in [0, 1, 2] {
        let check = seeded(seed);
        let scaled = check.run(&x, matmul_op(Bug::Scaled)).unwrap();
        assert_consistent(&scaled);
        assert!(!scaled.passed, "a 1e-4 relative error must fail: {scaled}");
        // Measured: ~50-70 times the tolerance.
        assert!(scaled.worst_ratio > 10.0, "{scaled}");
        let w = scaled.worst.as_ref().unwrap();
        assert!((w.analytic / w.numeric - (1.0 + 1e-4)).abs() < 1e-5, "{scaled}");

        let doubled = check.run(&x, matmul_op(Bug::Doubled)).unwrap();
        assert!(!doubled.passed && doubled.worst_ratio > 1e4, "{doubled}");

        let dropped = check.run(&x, matmul_op(Bug::DroppedElement)).unwrap();
        assert!(!dropped.passed && dropped.worst_ratio > 1e3, "{dropped}");
        let w = dropped.worst.as_ref().unwrap();
        assert_eq!(
            (w.input, w.index.clone(), w.analytic),
            (0, vec![3, 7], 0.0),
            "{dropped}"
        );

        let missing = check.run(&x, matmul_op(Bug::MissingTerm)).unwrap();
        assert!(!missing.passed && missing.worst_ratio > 1e3, "{missing}");
        assert_eq!(missing.worst.as_ref().unwrap().input, 1, "{missing}");
    }
}

/// Thousands of outputs (3000, from 4400 input elements): the correct rule passes, the one
/// wrong by 1e-4 fails.
#[test]
fn thousands_of_outputs_still_tell_right_from_wrong() {
    let x = operands(60, 40, 50, 2);
    let right = GradCheck::default().run(&x, matmul_op(Bug::None)).unwrap();
    assert!(right.passed && right.worst_ratio < 0.1, "{right}");
    let wrong = GradCheck::default().run(&x, matmul_op(Bug::Scaled)).unwrap();
    assert!(!wrong.passed && wrong.worst_ratio > 10.0, "{wrong}");
}

/// The allowance follows the magnitude of `r ⊙ y`: a bilinear op's outputs, and its
/// allowance, scale with the square of its inputs' scale; `atol` and `rtol` keep their
/// meaning on top.
#[test]
fn the_allowance_grows_with_the_magnitude_of_the_outputs() {
    let x = operands(8, 6, 5, 3);
    let small = [x[0].mul_scalar(0.1), x[1].mul_scalar(0.1)];
    let check = GradCheck::default();
    let big = check.run(&x, matmul_op(Bug::None)).unwrap();
    let little = check.run(&small, matmul_op(Bug::None)).unwrap();
    assert!(big.passed && little.passed, "{big}\n{little}");
    let ratio = big.max_fd_rounding / little.max_fd_rounding;
    assert!((ratio / 100.0 - 1.0).abs() < 0.01, "allowance ratio {ratio}");

    // With no atol, rtol or allowance for the forward's rounding, that rounding alone fails
    // the check of a bilinear op (whose differences have no truncation error)...
    let bare = GradCheck {
        atol: 0.0,
        rtol: 0.0,
        rounding_factor: 0.0,
        ..GradCheck::default()
    };
    let r = bare.run(&x, matmul_op(Bug::None)).unwrap();
    assert!(!r.passed && r.max_fd_rounding < 1e-9, "{r}");
    // ...the allowance alone passes it...
    let rounding_only = GradCheck {
        rounding_factor: 8.0,
        ..bare.clone()
    };
    assert!(rounding_only.run(&x, matmul_op(Bug::None)).unwrap().passed);
    // ...and so does a generous atol alone, as it always did.
    let loose = GradCheck { atol: 1e-3, ..bare };
    assert!(loose.run(&x, matmul_op(Bug::None)).unwrap().passed);
}

/// The report says what allowance it used.
#[test]
fn the_report_prints_the_rounding_allowance() {
    let x = operands(4, 3, 2, 4);
    let r = GradCheck::default().run(&x, matmul_op(Bug::Scaled)).unwrap();
    let text = r.to_string();
    assert!(text.contains("rounding allowance"), "{text}");
    assert!(text.contains(&format!("{:.3e}", r.max_fd_rounding)), "{text}");
    assert!(text.contains(&format!("{:.3e}", r.fd_rounding)), "{text}");
}

/// The measurement behind the default `rounding_factor` of 8: with no `atol` or `rtol`, a
/// quarter of it already covers the rounding of backward-stable forwards of every kind
/// (products, sums that cancel, centring with a large offset, batch normalisation,
/// softmax, elementwise functions), seed by seed. Measured worst ratios at factor 1:
/// products, sums and normalisations <= 0.05, elementwise functions <= 0.6, softmax 1.5
/// (a row's dominant output, ~1, is a quotient of a rounded sum).
#[test]
fn a_quarter_of_the_default_allowance_covers_stable_forwards() {
    fn check<F>(what: &str, limit: f64, inputs: &[Tensor<f64>], f: F)
    where
        F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>> + Copy,
    {
        assert!(limit <= GradCheck::default().rounding_factor / 4.0);
        for seed in 0..3 {
            let unit = GradCheck {
                atol: 0.0,
                rtol: 0.0,
                rounding_factor: 1.0,
                seed,
                ..GradCheck::default()
            };
            let r = unit.run(inputs, f).unwrap();
            assert!(r.worst_ratio < limit, "{what}, seed {seed}: {r}");
        }
    }
    let mut rng = StdRng::seed_from_u64(5);
    let mut randn = |shape: &[usize], scale: f64| Tensor::<f64>::randn(shape, &mut rng).mul_scalar(scale);

    let x = operands(40, 30, 25, 1);
    check("product 40x30x25", 0.1, &x, |v| v[0].matmul(&v[1]));
    let long = [randn(&[4, 400], 3.0), randn(&[400, 4], 3.0)];
    check("product 4x400x4", 0.1, &long, |v| v[0].matmul(&v[1]));
    // Pairs v, -v of ~100 plus noise of ~1e-3: a sum 1e5 times smaller than its terms.
    let (base, noise) = (randn(&[300], 100.0), randn(&[600], 1e-3));
    let cancelling = Tensor::from_fn(&[600], |i| {
        let v = base.as_slice()[i / 2];
        let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
        sign * v + noise.as_slice()[i]
    });
    check("cancelling sum", 0.1, std::slice::from_ref(&cancelling), |v| {
        Ok(v[0].sum())
    });
    let offset = randn(&[100, 3], 1.0).add_scalar(1000.0);
    check("centring, offset 1000", 0.1, &[offset], |v| {
        v[0].try_sub(&v[0].mean_axes(&[0], true)?)
    });
    let batch = randn(&[100, 3], 2.0).add_scalar(3.0);
    check("batch norm", 0.1, &[batch], |v| {
        let c = v[0].try_sub(&v[0].mean_axes(&[0], true)?)?;
        let var = c.try_mul(&c)?.mean_axes(&[0], true)?;
        c.try_div(&var.add_scalar(1e-5).powf(0.5))
    });
    let logits = randn(&[20, 50], 3.0);
    check("softmax", 2.0, std::slice::from_ref(&logits), |v| v[0].softmax(1));
    let x = randn(&[2000], 2.0);
    let positive = x.map(|v| 0.5 + v.abs());
    check("exp", 1.0, std::slice::from_ref(&x), |v| Ok(v[0].exp()));
    check("sigmoid", 1.0, std::slice::from_ref(&x), |v| Ok(v[0].sigmoid()));
    check("square", 1.0, std::slice::from_ref(&x), |v| v[0].try_mul(&v[0]));
    check("ln", 1.0, std::slice::from_ref(&positive), |v| Ok(v[0].log()));
    check("sqrt", 1.0, std::slice::from_ref(&positive), |v| Ok(v[0].sqrt()));
}
