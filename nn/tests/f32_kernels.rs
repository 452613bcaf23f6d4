//! The f32 training kernels (the direct convolution for few kernels, vectorised with AVX2 /
//! AVX-512 where the CPU has them) against the same ops in f64, which run the generic
//! im2col + GEMM path: the same values to f32 precision, for every geometry and lane count.

mod common;
use autograd::{Tape, Tensor};
use common::values;
use nn::ops::activation::Activation;
use nn::ops::conv::{Conv2dConfig, conv2d_with};
use nn::ops::pool::{Pool2dConfig, max_pool2d};
use proptest::prelude::*;

/// Forward value and the gradients of x, w, b for an upstream gradient of ones-and-signs.
fn run<T: autograd::Element>(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: &Tensor<f64>,
    cfg: Conv2dConfig,
    act: Activation,
) -> Vec<Tensor<f64>> {
    let tape = Tape::<T>::new();
    let (xv, wv, bv) = (tape.var(x.cast()), tape.var(w.cast()), tape.var(b.cast()));
    let y = conv2d_with(&xv, &wv, Some(&bv), cfg, act).unwrap();
    let gy = Tensor::from_fn(y.shape(), |i| T::from_f64(if i % 3 == 0 { -1.0 } else { 0.5 }));
    let g = tape.backward_with(&y, gy).unwrap();
    vec![y.value().cast(), g[&xv].cast(), g[&wv].cast(), g[&bv].cast()]
}

/// The f32 forward value and gradients against f64's, to f32 precision (relative to each
/// tensor's largest value).
fn f32_matches_f64(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: &Tensor<f64>,
    cfg: Conv2dConfig,
    act: Activation,
) -> Result<(), String> {
    let (wide, narrow) = (run::<f64>(x, w, b, cfg, act), run::<f32>(x, w, b, cfg, act));
    for (name, (a, e)) in ["y", "dx", "dw", "db"].iter().zip(narrow.iter().zip(&wide)) {
        if a.shape() != e.shape() {
            return Err(format!("{name}: shape {:?} vs {:?}", a.shape(), e.shape()));
        }
        let scale = e.as_slice().iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (p, q)) in a.as_slice().iter().zip(e.as_slice()).enumerate() {
            if (p - q).abs() > 2e-5 * scale {
                return Err(format!("{name}[{i}]: f32 {p} vs f64 {q}"));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn f32_conv_matches_f64(
        (n, h, w) in (1..=3usize, 3..=12usize, 3..=12usize),
        // Kernel rows (f_W · C_in) that (nearly) fill whole registers take the direct input
        // rule (`direct_input_grad`): multiples of 8 and 16, and 5 or 7 with k 2-3.
        c_in in prop::sample::select(vec![1usize, 2, 3, 5, 7, 8, 16, 24, 32, 48]),
        c_out in prop::sample::select(vec![1usize, 3, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65]),
        (k, stride, pad, dil) in (1..=3usize, (1..=2usize, 1..=2usize), (0..=3usize, 0..=3usize), (1..=2usize, 1..=2usize)),
        act in prop::sample::select(vec![Activation::Identity, Activation::Relu, Activation::Tanh]),
        seed in any::<u64>(),
    ) {
        // In the child runs of `narrower_instruction_sets`, the cap must hold.
        match std::env::var("TAPEGRAD_SIMD").as_deref() {
            Ok("avx2") => prop_assert!(autograd::runtime::simd::level() <= autograd::runtime::simd::Level::Avx2),
            Ok("baseline") => prop_assert_eq!(autograd::runtime::simd::level(), autograd::runtime::simd::Level::Baseline),
            _ => {}
        }
        // Strides and dilations differ per axis: the direct kernel reads taps in whole kernel
        // rows when there is no dilation along W, and `C_in` at a time otherwise.
        let (span_h, span_w) = (dil.0 * (k - 1) + 1, dil.1 * (k - 1) + 1);
        // Padding differs per axis too (the input rule accumulates in place only without any).
        prop_assume!(h + 2 * pad.0 >= span_h && w + 2 * pad.1 >= span_w);
        let cfg = Conv2dConfig { stride, padding: pad, dilation: dil };
        let x = values(&[n, h, w, c_in], seed);
        let wt = values(&[c_out, k, k, c_in], seed ^ 1).map(|v| v * 0.5);
        let b = values(&[c_out], seed ^ 2);
        if let Err(e) = f32_matches_f64(&x, &wt, &b, cfg, act) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Max pooling's forward value and input gradient (upstream gradient of ±1 and ½).
fn pool_run<T: autograd::Element>(x: &Tensor<f64>, cfg: Pool2dConfig) -> Vec<Tensor<f64>> {
    let tape = Tape::<T>::new();
    let xv = tape.var(x.cast());
    let y = max_pool2d(&xv, cfg).unwrap();
    let gy = Tensor::from_fn(y.shape(), |i| T::from_f64(if i % 3 == 0 { -1.0 } else { 0.5 }));
    let g = tape.backward_with(&y, gy).unwrap();
    vec![y.value().cast(), g[&xv].cast()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The f32 max pooling (vectorised over channels with AVX-512) picks the same maxima and
    /// the same argmax as the generic f64 loop: values from a few levels, so windows hold ties
    /// (the first maximum in row-major window order wins), and some NaNs (a NaN wins).
    #[test]
    fn f32_max_pool_matches_f64(
        (n, h, w) in (1..=2usize, 1..=9usize, 1..=9usize),
        c in prop::sample::select(vec![1usize, 3, 6, 15, 16, 17, 33, 64]),
        (f, s) in (1..=3usize, 1..=3usize),
        pad in 0..=1usize,
        nans in prop::bool::ANY,
        seed in any::<u64>(),
    ) {
        prop_assume!(2 * pad <= f && h + 2 * pad >= f && w + 2 * pad >= f);
        let cfg = Pool2dConfig::new(f).stride(s).padding(pad);
        let x = values(&[n, h, w, c], seed).map(|v| {
            let level = (v * 2.0).round() / 2.0; // -1, -0.5, 0, 0.5, 1
            if nans && v > 0.9 { f64::NAN } else { level }
        });
        let (narrow, wide) = (pool_run::<f32>(&x, cfg), pool_run::<f64>(&x, cfg));
        for (name, (a, e)) in ["y", "dx"].iter().zip(narrow.iter().zip(&wide)) {
            prop_assert_eq!(a.shape(), e.shape());
            for (i, (p, q)) in a.as_slice().iter().zip(e.as_slice()).enumerate() {
                prop_assert!(p == q || (p.is_nan() && q.is_nan()), "{}[{}]: f32 {} vs f64 {}", name, i, p, q);
            }
        }
    }
}

/// Batches large enough to be split into several chunks (one sample each here), whose partial
/// `dW` and `db` the op sums: the direct kernel's partials are summed in its lane layout and
/// turned into `[C_out, K]` once, which must give what f64's GEMM path gives.
#[test]
fn f32_conv_over_several_chunks() {
    let (n, h, w, c_in, f) = (4, 20, 20, 16, 3);
    for (c_out, pad, act) in [(20, 0, Activation::Relu), (64, 1, Activation::Identity)] {
        let cfg = Conv2dConfig::new().padding(pad);
        let x = values(&[n, h, w, c_in], 11);
        let wt = values(&[c_out, f, f, c_in], 12).map(|v| v * 0.5);
        let b = values(&[c_out], 13);
        if let Err(e) = f32_matches_f64(&x, &wt, &b, cfg, act) {
            panic!("C_out {c_out}: {e}");
        }
    }
}

/// The same properties (convolution and max pooling) on the narrower instruction sets this
/// machine may not pick by itself: the test binary runs itself again with `TAPEGRAD_SIMD`
/// capping the level (read once per process), so the AVX2 kernels and the baseline
/// (im2col + GEMM, scalar pooling) f32 paths are checked too. x86-64 only: elsewhere the level
/// is always the baseline, which the property test above already checks.
#[cfg(target_arch = "x86_64")]
#[test]
fn narrower_instruction_sets() {
    if std::env::var_os("TAPEGRAD_SIMD").is_some() {
        return; // the child run: the property test above is what it checks
    }
    for level in ["avx2", "baseline"] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["matches_f64", "--test-threads=1"])
            .env("TAPEGRAD_SIMD", level)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("2 passed"),
            "TAPEGRAD_SIMD={level}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
