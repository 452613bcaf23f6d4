//! NaN and ±∞ through every op, forward and backward, as PyTorch (IEEE arithmetic) treats
//! them: a NaN in is a NaN out, `relu(NaN) = NaN` and its gradient passes
//! (`threshold_backward`: zero only where `A <= 0`), max pooling takes a NaN as the maximum
//! (a later NaN too, as `torch.max_pool2d`), reductions and losses propagate.
//!
//! Two kinds of expectation: counts and masks that PyTorch 2 printed for the same shapes
//! (`relu(conv2d(x))` with one NaN: 6 NaN outputs of 12, 6 NaN of the 27 `dW`; `relu(linear)`:
//! 3 of 6, 3 NaN of the 12 `dW`), which depend only on where the NaN sits, not on the values;
//! and property tests that inject NaN and ±∞ at random positions and compare class by class
//! (NaN, +∞, -∞, finite) with the f64 loops of `nn::ops::reference`, which follow PyTorch's
//! definitions. Every test runs again under each narrower SIMD level (`TAPEGRAD_SIMD`).

mod common;
use autograd::{Element, Tape, Tensor};
use common::{cases, values};
use nn::ops::activation::Activation;
use nn::ops::conv::{Conv2dConfig, ConvGeometry, conv2d_with};
use nn::ops::dense::dense_with;
use nn::ops::loss::{Reduction, softmax_cross_entropy};
use nn::ops::pool::{PoolGeometry, max_pool2d};
use nn::ops::reference;
use proptest::prelude::*;

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

/// NaN, +∞, -∞ or finite.
fn class(v: f64) -> &'static str {
    match v {
        v if v.is_nan() => "NaN",
        INF => "+inf",
        v if v == -INF => "-inf",
        _ => "finite",
    }
}

/// `got` has `want`'s class everywhere, and finite values within `1e-6 + 1e-4·scale` of it
/// (`scale` the sum of the absolute terms, far above f32's rounding of such sums).
fn same(what: &str, got: &Tensor<f64>, want: &Tensor<f64>, scale: &Tensor<f64>) -> Result<(), String> {
    if got.shape() != want.shape() {
        return Err(format!("{what}: shape {:?} vs {:?}", got.shape(), want.shape()));
    }
    let all = got.as_slice().iter().zip(want.as_slice()).zip(scale.as_slice());
    for (i, ((&g, &w), &s)) in all.enumerate() {
        let ok = class(g) == class(w) && (class(w) != "finite" || (g - w).abs() <= 1e-6 + 1e-4 * s);
        if !ok {
            return Err(format!("{what}[{i}]: {g} vs reference {w}"));
        }
    }
    Ok(())
}

/// Writes NaN, +∞ or -∞ (`kind` 0, 1, 2) at each `(position, kind)`, positions modulo the length.
fn inject(t: &mut Tensor<f64>, spots: &[(usize, u8)]) {
    let len = t.numel();
    for &(at, kind) in spots {
        t.as_mut_slice()[at % len] = [NAN, INF, -INF][kind as usize % 3];
    }
}

fn nan_count(t: &Tensor<f64>) -> usize {
    t.as_slice().iter().filter(|v| v.is_nan()).count()
}

/// The upstream gradient: ones-and-signs (exact in f32).
fn upstream(shape: &[usize]) -> Tensor<f64> {
    Tensor::from_fn(shape, |i| if i % 3 == 0 { -1.0 } else { 0.5 })
}

/// `relu(conv2d(x, w) + b)` in `T` with the fused ReLU: `[A, dx, dW, db]` for [`upstream`].
fn conv_relu<T: Element>(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: &Tensor<f64>,
    cfg: Conv2dConfig,
) -> [Tensor<f64>; 4] {
    let tape = Tape::<T>::new();
    let (xv, wv, bv) = (tape.var(x.cast()), tape.var(w.cast()), tape.var(b.cast()));
    let y = conv2d_with(&xv, &wv, Some(&bv), cfg, Activation::Relu).unwrap();
    let g = tape.backward_with(&y, upstream(y.shape()).cast()).unwrap();
    [y.value().cast(), g[&xv].cast(), g[&wv].cast(), g[&bv].cast()]
}

/// `relu(a · W + b)` in `T` with the fused ReLU: `[A, da, dW, db]` for [`upstream`].
fn dense_relu<T: Element>(a: &Tensor<f64>, w: &Tensor<f64>, b: &Tensor<f64>) -> [Tensor<f64>; 4] {
    let tape = Tape::<T>::new();
    let (av, wv, bv) = (tape.var(a.cast()), tape.var(w.cast()), tape.var(b.cast()));
    let y = dense_with(&av, &wv, Some(&bv), Activation::Relu).unwrap();
    let g = tape.backward_with(&y, upstream(y.shape()).cast()).unwrap();
    [y.value().cast(), g[&av].cast(), g[&wv].cast(), g[&bv].cast()]
}

/// The case: one NaN in a 4x4 image, three 3x3 kernels, valid padding.
#[test]
fn a_nan_through_a_fused_relu_conv_gives_pytorchs_nan_outputs() {
    let mut x = values(&[1, 4, 4, 1], 3);
    x.as_mut_slice()[4] = NAN; // (h, w) = (1, 0)
    let (w, b) = (values(&[3, 3, 3, 1], 4), values(&[3], 5));
    let cfg = Conv2dConfig::new();
    for [a, dx, dw, db] in [
        conv_relu::<f32>(&x, &w, &b, cfg),
        conv_relu::<f64>(&x, &w, &b, cfg),
    ] {
        // PyTorch 2: relu(conv2d(x)) has 6 NaN of 12; x.grad 0 NaN; w.grad 6 of 27, at taps
        // (0, 0) and (1, 0) of every kernel; b.grad none.
        assert_eq!((nan_count(&a), a.numel()), (6, 12));
        assert_eq!(nan_count(&dx), 0);
        assert_eq!((nan_count(&dw), dw.numel()), (6, 27));
        for co in 0..3 {
            for (kh, kw) in [(0, 0), (1, 0)] {
                assert!(dw.get(&[co, kh, kw, 0]).unwrap().is_nan());
            }
        }
        assert_eq!(nan_count(&db), 0);
        // The NaN outputs are those whose window holds the input NaN.
        let g = ConvGeometry::new("conv2d", x.shape(), w.shape(), cfg).unwrap();
        let want = reference::relu(&reference::conv2d(&x, &w, Some(b.as_slice()), &g));
        let mask = |t: &Tensor<f64>| t.as_slice().iter().map(|v| v.is_nan()).collect::<Vec<_>>();
        assert_eq!(mask(&a), mask(&want));
    }
}

/// The dense case: a NaN in the first of two rows.
#[test]
fn a_nan_through_a_fused_relu_dense_gives_pytorchs_nan_outputs() {
    let mut a = values(&[2, 4], 6);
    a.as_mut_slice()[2] = NAN; // row 0, feature 2
    let (w, b) = (values(&[4, 3], 7), values(&[3], 8));
    for [z, da, dw, db] in [dense_relu::<f32>(&a, &w, &b), dense_relu::<f64>(&a, &w, &b)] {
        // PyTorch 2: relu(linear(x)) has 3 NaN of 6 (the first row); x.grad none; the
        // weight's gradient 3 NaN of 12 (input feature 2's row); the bias's none.
        assert_eq!((nan_count(&z), z.numel()), (3, 6));
        assert!((0..3).all(|j| z.get(&[0, j]).unwrap().is_nan()));
        assert_eq!(nan_count(&da), 0);
        assert_eq!((nan_count(&dw), dw.numel()), (3, 12));
        assert!((0..3).all(|j| dw.get(&[2, j]).unwrap().is_nan()));
        assert_eq!(nan_count(&db), 0);
    }
}

/// `relu` on special values, forward and backward, as PyTorch 2 printed them.
#[test]
fn relu_on_nan_and_infinities_is_pytorchs() {
    let x = [NAN, -1.0, 2.0, INF, -INF];
    for act in [true, false] {
        let tape = Tape::<f32>::new();
        let v = tape.var(Tensor::<f64>::from_vec(x.to_vec(), &[5]).unwrap().cast());
        let y = if act {
            v.relu()
        } else {
            nn::layers::Module::forward(&nn::layers::ReLU, &v).unwrap()
        };
        let got: Vec<f64> = y.value().cast::<f64>().to_vec();
        assert!(got[0].is_nan());
        assert_eq!(&got[1..], &[0.0, 2.0, INF, 0.0]);
        let g = tape.backward_with(&y, Tensor::ones(&[5])).unwrap();
        assert_eq!(g[&v].cast::<f64>().to_vec(), [1.0, 0.0, 1.0, 1.0, 0.0]);
    }
}

/// Cross-entropy on infinite and NaN logits (label 0), as PyTorch 2 printed loss and grad.
#[test]
fn cross_entropy_on_nan_and_infinities_is_pytorchs() {
    let cases: [([f64; 2], f64, [f64; 2]); 5] = [
        ([1.0, INF], NAN, [NAN, NAN]),
        ([INF, 1.0], NAN, [NAN, NAN]),
        ([1.0, -INF], 0.0, [0.0, 0.0]),
        ([-INF, 1.0], INF, [-1.0, 1.0]),
        ([NAN, 1.0], NAN, [NAN, NAN]),
    ];
    for (logits, loss, grad) in cases {
        let tape = Tape::<f32>::new();
        let x = tape.var(Tensor::<f64>::from_vec(logits.to_vec(), &[1, 2]).unwrap().cast());
        let l = softmax_cross_entropy(&x, &[0], Reduction::Mean).unwrap();
        let got = l.value().item().unwrap() as f64;
        assert_eq!(class(got), class(loss), "{logits:?}: loss {got}");
        assert!(class(loss) != "finite" || got == loss, "{logits:?}: loss {got}");
        let g = tape.backward(&l).unwrap()[&x].cast::<f64>();
        let want = Tensor::from_vec(grad.to_vec(), &[1, 2]).unwrap();
        same(&format!("{logits:?}: grad"), &g, &want, &Tensor::zeros(&[1, 2])).unwrap();
    }
}

/// Reductions: a NaN makes the sum and mean NaN, and is the maximum (the first NaN's index,
/// as `torch.max` along a dimension).
#[test]
fn reductions_propagate_nan() {
    let t = Tensor::<f32>::from_vec(vec![1.0, f32::NAN, 3.0, f32::NAN], &[1, 4]).unwrap();
    assert!(t.sum_all().item().unwrap().is_nan());
    assert!(t.mean_all().item().unwrap().is_nan());
    let (m, at) = t.max_axis_with_indices(1, false).unwrap();
    assert!(m.item().unwrap().is_nan());
    assert_eq!(at, [1]);
    assert_eq!(t.max_all().map(|(_, i)| i), Some(1));
    let other = Tensor::<f32>::from_vec(vec![f32::NAN, 0.0, 5.0, 1.0], &[1, 4]).unwrap();
    let maxima = t.maximum(&other).unwrap().to_vec();
    assert!(maxima[0].is_nan() && maxima[1].is_nan() && maxima[3].is_nan());
    assert_eq!(maxima[2], 5.0);
    let tape = Tape::<f32>::new();
    let v = tape.var(t.clone());
    let g = tape.backward(&v.max_axis(1, false).unwrap().sum()).unwrap();
    assert_eq!(g[&v].to_vec(), [0.0, 1.0, 0.0, 0.0]);
}

/// Positions and kinds of the special values to inject.
fn spots() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), 0..3u8), 1..=4)
}

proptest! {
    #![proptest_config(cases(48))]

    /// Fused-ReLU convolution in f32 (every kernel the plan picks) with NaN and ±∞ in the
    /// input, and sometimes in the kernels, against the reference loops in f64.
    #[test]
    fn conv_relu_with_special_values_matches_reference(
        (n, h, w) in (1..=2usize, 3..=9usize, 3..=9usize),
        (c_in, c_out) in (1..=5usize, 1..=17usize),
        (k, s, p, d) in (1..=3usize, 1..=2usize, 0..=1usize, 1..=2usize),
        x_spots in spots(),
        w_spots in prop::option::of(spots()),
        seed in any::<u64>(),
    ) {
        let cfg = Conv2dConfig::new().stride(s).padding(p).dilation(d);
        prop_assume!(ConvGeometry::new("conv2d", &[n, h, w, c_in], &[c_out, k, k, c_in], cfg).is_ok());
        let (mut x, mut kw) = (values(&[n, h, w, c_in], seed), values(&[c_out, k, k, c_in], seed ^ 1));
        let b = values(&[c_out], seed ^ 2);
        inject(&mut x, &x_spots);
        if let Some(w_spots) = &w_spots {
            inject(&mut kw, w_spots);
        }
        // The reference sees the f32 inputs.
        let (x, kw): (Tensor<f64>, Tensor<f64>) = (x.cast::<f32>().cast(), kw.cast::<f32>().cast());
        let g = ConvGeometry::new("conv2d", x.shape(), kw.shape(), cfg).unwrap();
        let [a, dx, dw, db] = conv_relu::<f32>(&x, &kw, &b, cfg);
        let abs = |t: &Tensor<f64>| t.map(f64::abs);
        let z = reference::conv2d(&x, &kw, Some(b.cast::<f32>().cast::<f64>().as_slice()), &g);
        let scale = reference::conv2d(&abs(&x), &abs(&kw), Some(abs(&b).as_slice()), &g);
        same("A", &a, &reference::relu(&z), &scale).map_err(TestCaseError::fail)?;
        // The mask from the op's own output (where f32 rounding decides a sign near 0; the
        // classes were checked above).
        let dz = reference::relu_backward(&a, &upstream(a.shape()));
        let ones = abs(&dz);
        same("dx", &dx, &reference::conv2d_input_grad(&kw, &dz, &g),
            &reference::conv2d_input_grad(&abs(&kw), &ones, &g)).map_err(TestCaseError::fail)?;
        same("dW", &dw, &reference::conv2d_weight_grad(&x, &dz, &g),
            &reference::conv2d_weight_grad(&abs(&x), &ones, &g)).map_err(TestCaseError::fail)?;
        let db_want = Tensor::from_vec(reference::conv2d_bias_grad(&dz), &[c_out]).unwrap();
        let db_scale = Tensor::from_vec(reference::conv2d_bias_grad(&ones), &[c_out]).unwrap();
        same("db", &db, &db_want, &db_scale).map_err(TestCaseError::fail)?;
    }

    /// The layers Winograd F(2x2, 3x3) takes (3x3, stride 1, channels in whole registers):
    /// inside a transform `∞ - ∞` would be NaN where the direct sum gives `±∞`, so a chunk
    /// whose result is not finite is computed again by the direct kernels, forward, input
    /// rule and kernel rule alike. Several samples, one of them clean.
    #[test]
    fn winograd_layers_with_special_values_match_reference(
        (n, h, w) in (2..=3usize, 3..=8usize, 3..=8usize),
        (c_in, c_out) in (prop::sample::select(vec![8usize, 16, 32]), prop::sample::select(vec![8usize, 16, 32])),
        p in 0..=2usize,
        x_spots in spots(),
        w_spots in prop::option::of(spots()),
        seed in any::<u64>(),
    ) {
        let cfg = Conv2dConfig::new().padding(p);
        prop_assume!(ConvGeometry::new("conv2d", &[n, h, w, c_in], &[c_out, 3, 3, c_in], cfg).is_ok());
        let (mut x, mut kw) = (values(&[n, h, w, c_in], seed), values(&[c_out, 3, 3, c_in], seed ^ 1));
        let b = values(&[c_out], seed ^ 2);
        // The special values land in the samples after the first.
        let first = h * w * c_in;
        let moved: Vec<(usize, u8)> = x_spots.iter().map(|&(at, k)| (first + at % (x.numel() - first), k)).collect();
        inject(&mut x, &moved);
        if let Some(w_spots) = &w_spots {
            inject(&mut kw, w_spots);
        }
        let (x, kw): (Tensor<f64>, Tensor<f64>) = (x.cast::<f32>().cast(), kw.cast::<f32>().cast());
        let g = ConvGeometry::new("conv2d", x.shape(), kw.shape(), cfg).unwrap();
        let [a, dx, dw, db] = conv_relu::<f32>(&x, &kw, &b, cfg);
        let abs = |t: &Tensor<f64>| t.map(f64::abs);
        let z = reference::conv2d(&x, &kw, Some(b.cast::<f32>().cast::<f64>().as_slice()), &g);
        let scale = reference::conv2d(&abs(&x), &abs(&kw), Some(abs(&b).as_slice()), &g);
        same("A", &a, &reference::relu(&z), &scale).map_err(TestCaseError::fail)?;
        let dz = reference::relu_backward(&a, &upstream(a.shape()));
        same("dx", &dx, &reference::conv2d_input_grad(&kw, &dz, &g),
            &reference::conv2d_input_grad(&abs(&kw), &abs(&dz), &g)).map_err(TestCaseError::fail)?;
        same("dW", &dw, &reference::conv2d_weight_grad(&x, &dz, &g),
            &reference::conv2d_weight_grad(&abs(&x), &abs(&dz), &g)).map_err(TestCaseError::fail)?;
        let db_want = Tensor::from_vec(reference::conv2d_bias_grad(&dz), &[c_out]).unwrap();
        let db_scale = Tensor::from_vec(reference::conv2d_bias_grad(&abs(&dz)), &[c_out]).unwrap();
        same("db", &db, &db_want, &db_scale).map_err(TestCaseError::fail)?;
    }

    /// Fused-ReLU dense layer in f32 with NaN and ±∞ in the input and sometimes the weight.
    #[test]
    fn dense_relu_with_special_values_matches_reference(
        (n, i, o) in (1..=9usize, 1..=40usize, 1..=20usize),
        a_spots in spots(),
        w_spots in prop::option::of(spots()),
        seed in any::<u64>(),
    ) {
        let (mut a, mut w) = (values(&[n, i], seed), values(&[i, o], seed ^ 1));
        let b = values(&[o], seed ^ 2);
        inject(&mut a, &a_spots);
        if let Some(w_spots) = &w_spots {
            inject(&mut w, w_spots);
        }
        let (a, w, b): (Tensor<f64>, Tensor<f64>, Tensor<f64>) =
            (a.cast::<f32>().cast(), w.cast::<f32>().cast(), b.cast::<f32>().cast());
        let [z, da, dw, db] = dense_relu::<f32>(&a, &w, &b);
        let abs = |t: &Tensor<f64>| t.map(f64::abs);
        let want = reference::relu(&reference::dense(&a, &w, Some(b.as_slice())));
        let scale = reference::dense(&abs(&a), &abs(&w), Some(abs(&b).as_slice()));
        same("A", &z, &want, &scale).map_err(TestCaseError::fail)?;
        let dz = reference::relu_backward(&z, &upstream(z.shape()));
        let (da_want, dw_want) = reference::dense_grads(&a, &w, &dz);
        let (da_scale, dw_scale) = reference::dense_grads(&abs(&a), &abs(&w), &abs(&dz));
        same("dA", &da, &da_want, &da_scale).map_err(TestCaseError::fail)?;
        same("dW", &dw, &dw_want, &dw_scale).map_err(TestCaseError::fail)?;
        let db_want = dz.sum_axis(0, false).unwrap();
        same("db", &db, &db_want, &abs(&dz).sum_axis(0, false).unwrap()).map_err(TestCaseError::fail)?;
    }

    /// Max pooling in f32 (the AVX-512 kernel where the CPU has it) with NaN and ±∞: values
    /// and mask exactly the reference's (a NaN wins, a later NaN too).
    #[test]
    fn max_pool_with_special_values_matches_reference(
        case in common::pool_case(),
        c in 1..=20usize,
        x_spots in prop::collection::vec((any::<usize>(), 0..3u8), 1..=6),
    ) {
        let [n, h, w, _] = case.x;
        let mut x = values(&[n, h, w, c], case.seed).cast::<f32>().cast::<f64>();
        inject(&mut x, &x_spots);
        let g = PoolGeometry::new("max_pool2d", x.shape(), case.cfg).unwrap();
        let dz = upstream(&g.output_shape());
        let (z_want, dx_want) = reference::max_pool2d(&x, &dz, &g);
        let tape = Tape::<f32>::new();
        let xv = tape.var(x.cast());
        let z = max_pool2d(&xv, case.cfg).unwrap();
        let dx = tape.backward_with(&z, dz.cast()).unwrap()[&xv].cast::<f64>();
        let zero = Tensor::zeros(z_want.shape());
        same("Z", &z.value().cast(), &z_want, &zero).map_err(TestCaseError::fail)?;
        same("dA", &dx, &dx_want, &Tensor::zeros(x.shape())).map_err(TestCaseError::fail)?;
    }

    /// Cross-entropy with special logits against an f64 loop written from the definition
    /// `L_n = log Σ_k e^{x_nk} - x_{n,label}` (shifted by the row's maximum, which is NaN
    /// when the row holds a NaN), and its gradient `softmax - onehot`, over N.
    #[test]
    fn cross_entropy_with_special_values_matches_reference(
        (n, k) in (1..=6usize, 1..=12usize),
        x_spots in spots(),
        seed in any::<u64>(),
    ) {
        let mut x = values(&[n, k], seed).map(|v| 4.0 * v).cast::<f32>().cast::<f64>();
        inject(&mut x, &x_spots);
        let labels: Vec<usize> = (0..n).map(|r| (seed as usize).wrapping_add(r * 7) % k).collect();
        let (mut loss, mut grad) = (0.0, vec![0.0; n * k]);
        for (r, row) in x.as_slice().chunks(k).enumerate() {
            let m = if row.iter().any(|v| v.is_nan()) { NAN } else { row.iter().copied().fold(-INF, f64::max) };
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            loss += (lse - row[labels[r]]) / n as f64;
            for (c, v) in row.iter().enumerate() {
                grad[r * k + c] = ((v - lse).exp() - f64::from(u8::from(c == labels[r]))) / n as f64;
            }
        }
        let tape = Tape::<f32>::new();
        let xv = tape.var(x.cast());
        let l = softmax_cross_entropy(&xv, &labels, Reduction::Mean).unwrap();
        let got = Tensor::scalar(l.value().item().unwrap() as f64);
        same("loss", &got, &Tensor::scalar(loss), &Tensor::scalar(4.0 * k as f64)).map_err(TestCaseError::fail)?;
        let g = tape.backward(&l).unwrap()[&xv].cast::<f64>();
        same("dx", &g, &Tensor::from_vec(grad, &[n, k]).unwrap(), &Tensor::ones(&[n, k])).map_err(TestCaseError::fail)?;
    }
}

/// The same tests under each narrower instruction set (the level is read once per process,
/// so the test binary runs itself again with `TAPEGRAD_SIMD`); the child reports its level,
/// which must be the cap (or lower on a CPU without it). x86-64 only: elsewhere there is one
/// level.
#[cfg(target_arch = "x86_64")]
#[test]
fn every_simd_level() {
    use autograd::runtime::simd::{Level, level};
    if std::env::var_os("TAPEGRAD_SIMD").is_some() {
        println!("simd level {:?}", level());
        return;
    }
    for (cap, want) in [("avx2", Level::Avx2), ("baseline", Level::Baseline)] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--test-threads=1", "--nocapture"])
            .env("TAPEGRAD_SIMD", cap)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let ran = stdout.contains(&format!("simd level {:?}", level().min(want)));
        assert!(
            out.status.success() && ran && stdout.contains("test result: ok. 11 passed"),
            "TAPEGRAD_SIMD={cap}: child {}\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
