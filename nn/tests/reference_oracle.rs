//! The ops against the lecture's per-position loops ([`nn::ops::reference`]) in `f64`, over
//! random geometry: the convolution's forward pass and its input, kernel and bias rules, max
//! pooling (ties and NaNs included: both take the first maximum in row-major window order, and
//! a NaN takes over from anything, a later NaN included) and average pooling with both
//! divisors. The op's value and its tape gradients (`backward_with` a random `dZ`) must equal
//! the loops' to `1e-10` of the sum of the absolute values of the terms each element adds up
//! (the loops run on absolute values), far below any real mistake and far above `f64`
//! rounding.

mod common;
use autograd::{Tape, Tensor};
use common::{cases, pool_case, values};
use nn::ops::conv::{Conv2dConfig, ConvGeometry, ConvPlan, InputKernel, Kernel, Layout, conv2d};
use nn::ops::pool::{PoolGeometry, avg_pool2d, max_pool2d};
use nn::ops::reference;
use proptest::prelude::*;

fn abs(t: &Tensor<f64>) -> Tensor<f64> {
    t.map(f64::abs)
}

/// `got` against `want`, element by element: within `rel · terms`, `terms` being the sum of
/// the absolute values of what the element adds up (0 means exactly equal). NaNs must match.
fn close(
    what: &str,
    got: &Tensor<f64>,
    want: &Tensor<f64>,
    terms: &Tensor<f64>,
    rel: f64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.shape(), want.shape(), "{}: shapes", what);
    let all = got.as_slice().iter().zip(want.as_slice()).zip(terms.as_slice());
    for (i, ((&g, &w), &t)) in all.enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else {
            (g - w).abs() <= rel * t
        };
        prop_assert!(ok, "{}[{}]: op {} vs reference {} (terms {})", what, i, g, w, t);
    }
    Ok(())
}

/// Relative tolerance of the convolution's sums (at most a few hundred terms here).
const CONV_REL: f64 = 1e-10;
/// Pooling sums a window (or the few windows an element won): a handful of terms.
const POOL_REL: f64 = 1e-12;

#[derive(Debug, Clone)]
struct ConvCase {
    x: [usize; 4],
    k: [usize; 4],
    cfg: Conv2dConfig,
    bias: bool,
    seed: u64,
}

/// Random geometry: every size, stride, padding and dilation per axis, with or without bias;
/// some cases pointwise (1x1, stride 1, no padding: `B` is the input itself), and channel
/// counts that make kernel rows of 16 or more (`f_W · C_in`: im2col's row-major layout).
fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (
            1..=2usize,
            prop::sample::select(vec![1usize, 2, 3, 5, 6, 8]),
            1..=4usize,
        ),
        (1..=3usize, 1..=3usize),
        (
            (1..=3usize, 1..=3usize),
            (0..=2usize, 0..=2usize),
            (1..=2usize, 1..=2usize),
        ),
        (0..=5usize, 0..=5usize),
        prop::bool::weighted(0.15),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |((n, c_in, c_out), (kh, kw), (stride, padding, dilation), (eh, ew), pointwise, bias, seed)| {
                let (kh, kw, stride, padding) = if pointwise {
                    (1, 1, (1, 1), (0, 0))
                } else {
                    (kh, kw, stride, padding)
                };
                // The smallest input the kernel's span fits in (with the padding), plus extra.
                let min = |k: usize, d: usize, p: usize| (d * (k - 1) + 1).saturating_sub(2 * p).max(1);
                let (h, w) = (
                    min(kh, dilation.0, padding.0) + eh,
                    min(kw, dilation.1, padding.1) + ew,
                );
                ConvCase {
                    x: [n, h, w, c_in],
                    k: [c_out, kh, kw, c_in],
                    cfg: Conv2dConfig {
                        stride,
                        padding,
                        dilation,
                    },
                    bias,
                    seed,
                }
            },
        )
}

/// The `f64` op's `Z`, `dX`, `dW` and `db` (bias or not) against the four loops, for `dZ`.
fn conv_against_reference(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: Option<&Tensor<f64>>,
    dz: &Tensor<f64>,
    cfg: Conv2dConfig,
) -> Result<(), TestCaseError> {
    let g = ConvGeometry::new("conv2d", x.shape(), w.shape(), cfg).unwrap();
    let plan = ConvPlan::new::<f64>(&g);
    let tape = Tape::<f64>::new();
    let (xv, wv) = (tape.var(x.clone()), tape.var(w.clone()));
    let bv = b.map(|b| tape.var(b.clone()));
    let z = conv2d(&xv, &wv, bv.as_ref(), cfg).unwrap();
    let grads = tape.backward_with(&z, dz.clone()).unwrap();

    let what = |rule: &str| {
        format!(
            "{rule} ({:?}, {:?}, plan {:?})",
            g.output_shape(),
            cfg,
            plan.forward.kernel
        )
    };
    let b_abs = b.map(abs);
    let z_ref = reference::conv2d(x, w, b.map(Tensor::as_slice), &g);
    let z_terms = reference::conv2d(&abs(x), &abs(w), b_abs.as_ref().map(Tensor::as_slice), &g);
    close(&what("Z"), z.value(), &z_ref, &z_terms, CONV_REL)?;

    let dx_ref = reference::conv2d_input_grad(w, dz, &g);
    let dx_terms = reference::conv2d_input_grad(&abs(w), &abs(dz), &g);
    close(
        &what("dX (input rule)"),
        &grads[&xv],
        &dx_ref,
        &dx_terms,
        CONV_REL,
    )?;

    let dw_ref = reference::conv2d_weight_grad(x, dz, &g);
    let dw_terms = reference::conv2d_weight_grad(&abs(x), &abs(dz), &g);
    close(
        &what("dW (kernel rule)"),
        &grads[&wv],
        &dw_ref,
        &dw_terms,
        CONV_REL,
    )?;

    if let Some(bv) = &bv {
        let c_out = g.c_out;
        let db_ref = Tensor::from_vec(reference::conv2d_bias_grad(dz), &[c_out]).unwrap();
        let db_terms = Tensor::from_vec(reference::conv2d_bias_grad(&abs(dz)), &[c_out]).unwrap();
        close(&what("db (bias rule)"), &grads[bv], &db_ref, &db_terms, CONV_REL)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(96))]

    /// The forward pass and the three hand rules against the loops.
    #[test]
    fn conv2d_matches_the_reference_loops(case in conv_case()) {
        let x = values(&case.x, case.seed);
        let w = values(&case.k, case.seed ^ 1);
        let b = case.bias.then(|| values(&[case.k[0]], case.seed ^ 2));
        let g = ConvGeometry::new("conv2d", &case.x, &case.k, case.cfg).unwrap();
        let dz = values(&g.output_shape(), case.seed ^ 3);
        conv_against_reference(&x, &w, b.as_ref(), &dz, case.cfg)?;
    }

    /// Max pooling's `Z` (exactly) and `dA`: with values from five levels (windows full of
    /// ties), from the usual spread (mostly distinct), and with some NaNs.
    #[test]
    fn max_pool2d_matches_the_reference_loop(case in pool_case(), kind in 0..3u8) {
        let g = PoolGeometry::new("max_pool2d", &case.x, case.cfg).unwrap();
        let x = values(&case.x, case.seed).map(|v| match kind {
            0 => (v * 2.0).round() / 2.0, // -1, -0.5, 0, 0.5, 1
            1 => v,
            _ => if v > 0.8 { f64::NAN } else { (v * 4.0).round() / 4.0 },
        });
        let dz = values(&g.output_shape(), case.seed ^ 3);
        let tape = Tape::<f64>::new();
        let xv = tape.var(x.clone());
        let z = max_pool2d(&xv, case.cfg).unwrap();
        let grads = tape.backward_with(&z, dz.clone()).unwrap();
        let (z_ref, dx_ref) = reference::max_pool2d(&x, &dz, &g);
        let (_, dx_terms) = reference::max_pool2d(&x, &abs(&dz), &g);
        let what = |rule: &str| format!("{rule} ({:?}, {:?})", case.x, case.cfg);
        // A maximum is one of the window's values: exactly equal.
        close(&what("Z"), z.value(), &z_ref, &Tensor::zeros(z_ref.shape()), 0.0)?;
        close(&what("dA"), &grads[&xv], &dx_ref, &dx_terms, POOL_REL)?;
    }

    /// Average pooling's `Z` and `dA`, with the divisor counting the padding and not.
    #[test]
    fn avg_pool2d_matches_the_reference_loop(case in pool_case()) {
        let g = PoolGeometry::new("avg_pool2d", &case.x, case.cfg).unwrap();
        let x = values(&case.x, case.seed);
        let dz = values(&g.output_shape(), case.seed ^ 3);
        for count_include_pad in [false, true] {
            let tape = Tape::<f64>::new();
            let xv = tape.var(x.clone());
            let z = avg_pool2d(&xv, case.cfg, count_include_pad).unwrap();
            let grads = tape.backward_with(&z, dz.clone()).unwrap();
            let (z_ref, dx_ref) = reference::avg_pool2d(&x, &dz, &g, count_include_pad);
            let (z_terms, dx_terms) = reference::avg_pool2d(&abs(&x), &abs(&dz), &g, count_include_pad);
            let what = |rule: &str| format!("{rule} ({:?}, {:?}, count_include_pad {count_include_pad})", case.x, case.cfg);
            close(&what("Z"), z.value(), &z_ref, &z_terms, POOL_REL)?;
            close(&what("dA"), &grads[&xv], &dx_ref, &dx_terms, POOL_REL)?;
        }
    }
}

/// Geometries the random cases rarely or never reach: batches split into several chunks (one
/// sample each, their `dW` and `db` summed), the pointwise GEMM over chunks, and both im2col
/// layouts and a strided, dilated case; each checked to take the plan it is here for.
#[test]
fn conv2d_over_chunks_and_every_plan_matches_the_reference_loops() {
    let cases = [
        // (x, kernel, cfg, forward kernel expected)
        (
            [8, 28, 28, 2],
            [3, 5, 5, 2],
            Conv2dConfig::new().padding(2),
            "im2col column-major",
        ),
        ([70, 16, 16, 8], [5, 1, 1, 8], Conv2dConfig::new(), "pointwise"),
        (
            [6, 24, 24, 8],
            [4, 3, 3, 8],
            Conv2dConfig::new().padding(1),
            "im2col row-major",
        ),
        (
            [3, 13, 11, 3],
            [2, 3, 2, 3],
            Conv2dConfig {
                stride: (2, 1),
                padding: (1, 2),
                dilation: (2, 3),
            },
            "im2col column-major",
        ),
    ];
    for (i, (xs, ks, cfg, expected)) in cases.into_iter().enumerate() {
        let g = ConvGeometry::new("conv2d", &xs, &ks, cfg).unwrap();
        let plan = ConvPlan::new::<f64>(&g);
        let forward = match plan.forward.kernel {
            Kernel::Pointwise => "pointwise",
            Kernel::Im2col {
                layout: Layout::RowMajor,
            } => "im2col row-major",
            Kernel::Im2col {
                layout: Layout::ColumnMajor,
            } => "im2col column-major",
            Kernel::Direct { .. } => "direct",
        };
        assert_eq!(forward, expected, "case {i}: {plan}");
        if expected == "pointwise" {
            assert_eq!(plan.input_grad.kernel, InputKernel::Pointwise, "case {i}: {plan}");
        }
        if i == 0 {
            assert!(plan.chunks >= 2, "case {i} is for several chunks: {plan}");
        }
        let seed = 100 + i as u64;
        let (x, w, b) = (
            values(&xs, seed),
            values(&ks, seed ^ 1),
            values(&[ks[0]], seed ^ 2),
        );
        let dz = values(&g.output_shape(), seed ^ 3);
        conv_against_reference(&x, &w, Some(&b), &dz, cfg).unwrap();
        conv_against_reference(&x, &w, None, &dz, cfg).unwrap();
    }
}
