//! The residual block and global/adaptive average pooling checked independently: the hand
//! rules against the composite (autograd primitives) versions and against central finite
//! differences in f64 (`GradCheck`), the ops against their per-position reference loops, and
//! the `Residual` layer against the same block written with the ops.

mod common;
use autograd::gradcheck::tape_fn;
use autograd::{GradCheck, Result, Tape, Tensor, Var};
use common::{cases, values};
use nn::layers::{Module, Residual};
use nn::ops::activation::Activation;
use nn::ops::composite;
use nn::ops::conv::{Conv2dConfig, conv2d};
use nn::ops::norm::{Statistics, batch_norm};
use nn::ops::pool::{adaptive_avg_pool2d, adaptive_window, global_avg_pool2d};
use nn::ops::residual::{add_relu, reference};
use proptest::prelude::*;
use rand::SeedableRng;

fn close(what: &str, a: &[f64], b: &[f64], tol: f64) -> std::result::Result<(), TestCaseError> {
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

/// Values and gradients (for a fixed upstream gradient) of `f` at `inputs`.
fn eval<F>(inputs: &[Tensor<f64>], f: F) -> (Vec<f64>, Vec<Vec<f64>>)
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    let tape = Tape::<f64>::new();
    let vars: Vec<_> = inputs.iter().map(|x| tape.var(x.clone())).collect();
    let y = f(&vars).unwrap();
    let gy = Tensor::from_fn(y.shape(), |i| ((i * 37 % 17) as f64 - 8.0) / 8.0);
    let g = tape.backward_with(&y, gy).unwrap();
    (y.value().to_vec(), vars.iter().map(|v| g[v].to_vec()).collect())
}

fn agree<F, G>(inputs: &[Tensor<f64>], hand: F, comp: G) -> std::result::Result<(), TestCaseError>
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
    G: for<'t> Fn(&[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    let ((yh, gh), (yc, gc)) = (eval(inputs, hand), eval(inputs, comp));
    close("forward", &yh, &yc, 1e-11)?;
    for (i, (a, b)) in gh.iter().zip(&gc).enumerate() {
        close(&format!("gradient {i}"), a, b, 1e-9)?;
    }
    Ok(())
}

const EPS: f64 = 1e-5;

/// The block with the hand-rule ops; inputs `x, w1, γ1, β1, w2, γ2, β2[, ws, γs, βs]`.
fn block_hand<'t>(v: &[Var<'t, f64>], stride: usize) -> Result<Var<'t, f64>> {
    let c3 = Conv2dConfig::new().stride(stride).padding(1);
    let bn = |x: &Var<'t, f64>, g, b, act| {
        Ok::<_, autograd::Error>(batch_norm(x, g, b, Statistics::Batch, EPS, act)?.0)
    };
    let h = bn(&conv2d(&v[0], &v[1], None, c3)?, &v[2], &v[3], Activation::Relu)?;
    let f = bn(
        &conv2d(&h, &v[4], None, Conv2dConfig::new().padding(1))?,
        &v[5],
        &v[6],
        Activation::Identity,
    )?;
    let s = match v.get(7) {
        Some(ws) => bn(
            &conv2d(&v[0], ws, None, Conv2dConfig::new().stride(stride))?,
            &v[8],
            &v[9],
            Activation::Identity,
        )?,
        None => v[0].clone(),
    };
    add_relu(&s, &f)
}

/// The same block from primitives: composite conv and batch norm, `relu(s + f)`.
fn block_composite<'t>(v: &[Var<'t, f64>], stride: usize) -> Result<Var<'t, f64>> {
    let c3 = Conv2dConfig::new().stride(stride).padding(1);
    let bn = |x: &Var<'t, f64>, g, b| composite::batch_norm(x, g, b, None, EPS);
    let h = bn(&composite::conv2d(&v[0], &v[1], None, c3)?, &v[2], &v[3])?.relu();
    let f = bn(
        &composite::conv2d(&h, &v[4], None, Conv2dConfig::new().padding(1))?,
        &v[5],
        &v[6],
    )?;
    let s = match v.get(7) {
        Some(ws) => bn(
            &composite::conv2d(&v[0], ws, None, Conv2dConfig::new().stride(stride))?,
            &v[8],
            &v[9],
        )?,
        None => v[0].clone(),
    };
    Ok(s.try_add(&f)?.relu())
}

/// Inputs for a block `c_in -> c_out`, stride `s`, on `[n, h, w, c_in]`.
fn block_inputs(
    n: usize,
    hw: usize,
    c_in: usize,
    c_out: usize,
    stride: usize,
    seed: u64,
) -> Vec<Tensor<f64>> {
    let gamma = |s| values(&[c_out], s).map(|v| 1.0 + 0.4 * v);
    let mut v = vec![
        values(&[n, hw, hw, c_in], seed),
        values(&[c_out, 3, 3, c_in], seed ^ 1),
        gamma(seed ^ 2),
        values(&[c_out], seed ^ 3),
        values(&[c_out, 3, 3, c_out], seed ^ 4),
        gamma(seed ^ 5),
        values(&[c_out], seed ^ 6),
    ];
    if c_in != c_out || stride != 1 {
        v.extend([
            values(&[c_out, 1, 1, c_in], seed ^ 7),
            gamma(seed ^ 8),
            values(&[c_out], seed ^ 9),
        ]);
    }
    v
}

proptest! {
    #![proptest_config(cases(24))]

    /// The block's hand rules equal the composite's autodiff gradients and pass GradCheck,
    /// with the identity shortcut and with a projection.
    #[test]
    fn residual_block_hand_rules(
        (n, hw) in (1..=2usize, 2..=4usize),
        (c_in, c_out) in (1..=3usize, 1..=3usize),
        stride in 1..=2usize,
        seed in any::<u64>(),
    ) {
        prop_assume!(n * hw.div_ceil(stride).pow(2) >= 2);
        let inputs = block_inputs(n, hw, c_in, c_out, stride, seed);
        let hand = tape_fn(|v| block_hand(v, stride));
        agree(&inputs, hand, tape_fn(|v| block_composite(v, stride)))?;
        let r = GradCheck::default().run(&inputs, hand).unwrap();
        prop_assert!(r.passed, "residual block: {}", r);
    }

    #[test]
    fn add_relu_matches_its_reference_loop(len in 1..200usize, seed in any::<u64>()) {
        let (a, b, dy) = (values(&[len], seed), values(&[len], seed ^ 1), values(&[len], seed ^ 2));
        let (y, d) = reference::add_relu(a.as_slice(), b.as_slice(), dy.as_slice());
        let tape = Tape::<f64>::new();
        let (av, bv) = (tape.var(a), tape.var(b));
        let out = add_relu(&av, &bv).unwrap();
        let g = tape.backward_with(&out, dy).unwrap();
        prop_assert_eq!(out.value().to_vec(), y);
        prop_assert_eq!(g[&av].to_vec(), d.clone());
        prop_assert_eq!(g[&bv].to_vec(), d);
    }

    /// Global average pooling: equal to the composite mean, and its gradients pass GradCheck.
    #[test]
    fn global_avg_pool2d_hand_rule(n in 1..=3usize, h in 1..=5usize, w in 1..=5usize, c in 1..=4usize, seed in any::<u64>()) {
        let inputs = [values(&[n, h, w, c], seed)];
        let hand = tape_fn(|v| global_avg_pool2d(&v[0]));
        agree(&inputs, hand, tape_fn(|v| composite::global_avg_pool2d(&v[0])))?;
        let r = GradCheck { eps: 1.0, ..GradCheck::default() }.run(&inputs, hand).unwrap();
        prop_assert!(r.passed, "{}", r);
    }

    /// Adaptive average pooling against the per-window loop written here from PyTorch's bins.
    #[test]
    fn adaptive_avg_pool2d_matches_a_loop(
        (h, w, oh, ow) in (1..=7usize, 1..=7usize, 1..=4usize, 1..=4usize),
        c in 1..=3usize,
        seed in any::<u64>(),
    ) {
        let x = values(&[2, h, w, c], seed);
        let dy = values(&[2, oh, ow, c], seed ^ 1);
        let (mut y, mut dx) = (vec![0.0; 2 * oh * ow * c], vec![0.0; 2 * h * w * c]);
        for n in 0..2 {
            for i in 0..oh {
                for j in 0..ow {
                    // Bins: floor(i·H/OH) .. ceil((i+1)·H/OH).
                    let rows = (i * h / oh)..((i + 1) * h).div_ceil(oh);
                    let cols = (j * w / ow)..((j + 1) * w).div_ceil(ow);
                    prop_assert_eq!(rows.clone(), adaptive_window(i, h, oh));
                    let count = (rows.len() * cols.len()) as f64;
                    for ch in 0..c {
                        let o = ((n * oh + i) * ow + j) * c + ch;
                        for r in rows.clone() {
                            for q in cols.clone() {
                                let at = ((n * h + r) * w + q) * c + ch;
                                y[o] += x.as_slice()[at] / count;
                                dx[at] += dy.as_slice()[o] / count;
                            }
                        }
                    }
                }
            }
        }
        let tape = Tape::<f64>::new();
        let xv = tape.var(x);
        let out = adaptive_avg_pool2d(&xv, (oh, ow)).unwrap();
        let g = tape.backward_with(&out, dy).unwrap();
        close("y", out.value().as_slice(), &y, 1e-13)?;
        close("dx", g[&xv].as_slice(), &dx, 1e-13)?;
    }
}

/// The `Residual` layer is the block above: same output and gradients for the same tensors,
/// its parameters in the documented order.
#[test]
fn residual_layer_is_the_block_of_the_ops() {
    for (c_in, c_out, stride) in [(2, 2, 1), (2, 3, 2)] {
        let mut block = Residual::<f64>::new(c_in, c_out, stride, &mut rand::rngs::StdRng::seed_from_u64(1));
        let inputs = block_inputs(2, 4, c_in, c_out, stride, 5);
        for ((_, p), t) in block.parameters_mut().into_iter().zip(&inputs[1..]) {
            p.set(t.clone()).unwrap();
        }
        let names: Vec<String> = block.parameters().into_iter().map(|(n, _)| n).collect();
        let mut want = vec![
            "conv1.w",
            "bn1.gamma",
            "bn1.beta",
            "conv2.w",
            "bn2.gamma",
            "bn2.beta",
        ];
        if stride != 1 {
            want.extend(["shortcut.conv.w", "shortcut.bn.gamma", "shortcut.bn.beta"]);
        }
        assert_eq!(names, want);
        let (y, grads) = eval(&inputs, |v| block_hand(v, stride));
        let tape = Tape::<f64>::new();
        let x = tape.var(inputs[0].clone());
        let out = block.forward(&x).unwrap();
        let gy = Tensor::from_fn(out.shape(), |i| ((i * 37 % 17) as f64 - 8.0) / 8.0);
        let g = tape.backward_with(&out, gy).unwrap();
        assert_eq!(out.value().to_vec(), y);
        assert_eq!(g[&x].to_vec(), grads[0]);
        for ((_, p), want) in block.parameters().into_iter().zip(&grads[1..]) {
            assert_eq!(&g[p].to_vec(), want);
        }
    }
}

#[test]
fn shape_errors_name_the_op() {
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::zeros(&[2, 3]));
    let b = tape.var(Tensor::zeros(&[3, 2]));
    let e = add_relu(&a, &b).unwrap_err().to_string();
    assert!(
        e.contains("add_relu") && e.contains("[2, 3]") && e.contains("[3, 2]"),
        "{e}"
    );
    let e = global_avg_pool2d(&a).unwrap_err().to_string();
    assert!(
        e.contains("global_avg_pool2d") && e.contains("[N, H, W, C]"),
        "{e}"
    );
    let x = tape.var(Tensor::zeros(&[1, 2, 2, 1]));
    let e = adaptive_avg_pool2d(&x, (0, 1)).unwrap_err().to_string();
    assert!(e.contains("adaptive_avg_pool2d"), "{e}");
}
