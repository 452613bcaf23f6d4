//! Every public op and layer constructor, called with random shapes and configurations (zero
//! sizes, strides larger than the input, kernels larger than the padded input, mismatched
//! channels, empty batches, ranks that do not fit): each returns `Ok` or an `Err` whose
//! message names the op, never panics (a panic is caught with `catch_unwind` and fails the
//! case with its message). What succeeds also runs backward, which must not panic either.

use autograd::{Tape, Tensor, Var};
use nn::layers::{AvgPool2d, Conv2d, Dense, Dropout, Flatten, MaxPool2d, Module};
use nn::ops::activation::Activation;
use nn::ops::composite;
use nn::ops::conv::{Conv2dConfig, conv2d, conv2d_with};
use nn::ops::dense::{dense, dense_with, flatten};
use nn::ops::loss::{Reduction, mse_loss, softmax_cross_entropy};
use nn::ops::pool::{Pool2dConfig, avg_pool2d, max_pool2d};
use proptest::prelude::*;
use rand::SeedableRng;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A shape of rank 0 to 5 with lengths 0 to 5 (zero sizes on purpose).
fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1 => Just(0usize), 6 => 1..=5usize], 0..=5)
}

/// A 4-D shape, lengths 0 to 6 (what the conv and pool ops take, and what they refuse).
fn shape4() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1 => Just(0usize), 6 => 1..=6usize], 4)
}

#[derive(Debug, Clone)]
struct Case {
    x: Vec<usize>,
    w: Vec<usize>,
    b: Option<Vec<usize>>,
    other: Vec<usize>,
    conv: Conv2dConfig,
    pool: Pool2dConfig,
    axes: Vec<usize>,
    ints: Vec<usize>,
    p: f64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (prop_oneof![shape4(), shape()], prop_oneof![shape4(), shape()]),
        (prop::option::of(shape()), shape()),
        (
            (0..=3usize, 0..=3usize),
            (0..=3usize, 0..=3usize),
            (0..=2usize, 0..=2usize),
        ),
        (
            (0..=4usize, 0..=4usize),
            (0..=3usize, 0..=3usize),
            (0..=3usize, 0..=3usize),
        ),
        prop::collection::vec(0..=6usize, 0..=5),
        prop::collection::vec(0..=8usize, 0..=6),
        prop_oneof![Just(f64::NAN), Just(-0.5), Just(1.0), Just(1.5), 0.0..1.0f64],
    )
        .prop_map(
            |((x, w), (b, other), (s, p, d), (k, ps, pp), axes, ints, prob)| Case {
                x,
                w,
                b,
                other,
                conv: Conv2dConfig {
                    stride: s,
                    padding: p,
                    dilation: d,
                },
                pool: Pool2dConfig {
                    kernel: k,
                    stride: ps,
                    padding: pp,
                },
                axes,
                ints,
                p: prob,
            },
        )
}

/// What one call gave: fine (`Ok`, or an error naming one of `names`), or why not.
fn judge<'t>(
    what: &str,
    names: &[&str],
    tape: &'t Tape<f32>,
    call: impl FnOnce() -> autograd::Result<Var<'t, f32>>,
) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Err(panic) => Err(format!("{what} panicked: {}", panic_message(&*panic))),
        Ok(Err(e)) => {
            let msg = e.to_string();
            if names.iter().any(|n| msg.contains(n)) {
                Ok(())
            } else {
                Err(format!(
                    "{what}: the error does not name the op ({names:?}): {msg}"
                ))
            }
        }
        Ok(Ok(y)) => {
            let ones = Tensor::ones(y.shape());
            match catch_unwind(AssertUnwindSafe(|| tape.backward_with(&y, ones).map(|_| ()))) {
                Err(panic) => Err(format!("{what}: backward panicked: {}", panic_message(&*panic))),
                Ok(_) => Ok(()),
            }
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Every op on the case's tensors; the first failure.
fn every_op(c: &Case) -> Result<(), String> {
    let tape = Tape::<f32>::new();
    let t = |s: &[usize]| tape.var(Tensor::from_fn(s, |i| (i % 7) as f32 * 0.25 - 0.5));
    let (x, w, other) = (t(&c.x), t(&c.w), t(&c.other));
    let b = c.b.as_ref().map(|s| t(s));
    let b = b.as_ref();
    let labels = c.ints.clone();
    let first = c.ints.first().copied().unwrap_or(0);
    let (a0, a1) = (
        c.axes.first().copied().unwrap_or(0),
        c.axes.get(1).copied().unwrap_or(1),
    );
    let relu = Activation::Relu;
    let conv_names: &[&str] = &["conv2d"];
    let pool_names = |n: &'static str| -> Vec<&'static str> { vec![n] };
    judge("conv2d", conv_names, &tape, || conv2d(&x, &w, b, c.conv))?;
    judge("conv2d_with", conv_names, &tape, || {
        conv2d_with(&x, &w, b, c.conv, relu)
    })?;
    judge("composite::conv2d", &["conv2d", "add"], &tape, || {
        composite::conv2d(&x, &w, b, c.conv)
    })?;
    judge("max_pool2d", &pool_names("max_pool2d"), &tape, || {
        max_pool2d(&x, c.pool)
    })?;
    judge("avg_pool2d", &pool_names("avg_pool2d"), &tape, || {
        avg_pool2d(&x, c.pool, true)
    })?;
    judge("avg_pool2d", &pool_names("avg_pool2d"), &tape, || {
        avg_pool2d(&x, c.pool, false)
    })?;
    judge("composite::max_pool2d", &["max_pool2d"], &tape, || {
        composite::max_pool2d(&x, c.pool)
    })?;
    judge("composite::avg_pool2d", &["avg_pool2d"], &tape, || {
        composite::avg_pool2d(&x, c.pool, false)
    })?;
    judge("dense", &["dense"], &tape, || dense(&x, &w, b))?;
    judge("dense_with", &["dense"], &tape, || dense_with(&x, &w, b, relu))?;
    judge("composite::dense", &["matmul", "add"], &tape, || {
        composite::dense(&x, &w, b)
    })?;
    judge("flatten", &["flatten"], &tape, || flatten(&x))?;
    let ce = |r| softmax_cross_entropy(&x, &labels, r);
    judge("softmax_cross_entropy", &["softmax_cross_entropy"], &tape, || {
        ce(Reduction::Mean)
    })?;
    judge("softmax_cross_entropy", &["softmax_cross_entropy"], &tape, || {
        ce(Reduction::Sum)
    })?;
    judge("mse_loss", &["mse_loss"], &tape, || {
        mse_loss(&x, other.value(), Reduction::Mean)
    })?;
    // autograd's ops.
    judge("matmul", &["matmul"], &tape, || x.matmul(&w))?;
    judge("try_add", &["add"], &tape, || x.try_add(&other))?;
    judge("try_sub", &["sub"], &tape, || x.try_sub(&other))?;
    judge("try_mul", &["mul"], &tape, || x.try_mul(&other))?;
    judge("try_div", &["div"], &tape, || x.try_div(&other))?;
    judge("reshape", &["reshape"], &tape, || x.reshape(&c.other))?;
    judge("permute", &["permute"], &tape, || x.permute(&c.axes))?;
    judge("transpose", &["transpose"], &tape, || x.transpose(a0, a1))?;
    let (start, end, step) = (
        first,
        c.ints.get(1).copied().unwrap_or(2),
        c.ints.get(2).copied().unwrap_or(1),
    );
    judge("slice", &["slice"], &tape, || x.slice(a0, start, end, step))?;
    judge("concat", &["concat"], &tape, || Var::concat(&[&x, &other], a0))?;
    judge("concat", &["concat"], &tape, || Var::concat(&[], a0))?;
    let pads: Vec<(usize, usize)> = c.axes.iter().zip(&c.ints).map(|(&p, &q)| (p, q)).collect();
    judge("pad", &["pad"], &tape, || x.pad(&pads, 0.0))?;
    judge("index_select", &["index_select"], &tape, || {
        x.index_select(a0, &c.ints)
    })?;
    judge("gather", &["gather"], &tape, || x.gather(a0, &c.ints))?;
    judge("broadcast_to", &["broadcast"], &tape, || x.broadcast_to(&c.other))?;
    let mask = Tensor::from_fn(&c.w, |i| (i % 2) as f32);
    judge("where_mask", &["where"], &tape, || {
        Var::where_mask(&mask, &x, &other)
    })?;
    judge("sum_axis", &["sum"], &tape, || x.sum_axis(a0, true))?;
    judge("sum_axes", &["sum"], &tape, || x.sum_axes(&c.axes, false))?;
    judge("mean_axis", &["mean"], &tape, || x.mean_axis(a0, false))?;
    judge("mean_axes", &["mean"], &tape, || x.mean_axes(&c.axes, true))?;
    judge("max_axis", &["max"], &tape, || x.max_axis(a0, false))?;
    judge("softmax", &["softmax"], &tape, || x.softmax(a0))?;
    judge("log_softmax", &["log_softmax"], &tape, || x.log_softmax(a0))?;
    Ok(())
}

/// Every layer, made by its constructor from the case's sizes and configuration, then
/// applied to the case's input.
fn every_layer(c: &Case) -> Result<(), String> {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::from_fn(&c.x, |i| (i % 5) as f32 * 0.3 - 0.6));
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let size = |i: usize| c.ints.get(i).copied().unwrap_or(1);
    let layer =
        |what: &str, names: &[&str], make: &mut dyn FnMut() -> autograd::Result<Box<dyn Module<f32>>>| {
            let made = catch_unwind(AssertUnwindSafe(&mut *make))
                .map_err(|p| format!("{what}: the constructor panicked: {}", panic_message(&*p)))?;
            match made {
                Err(e) if names.iter().any(|n| e.to_string().contains(n)) => Ok(()),
                Err(e) => Err(format!("{what}: the constructor's error does not name it: {e}")),
                Ok(m) => judge(what, names, &tape, || m.forward(&x)),
            }
        };
    let (c_in, c_out, kernel) = (size(0), size(1), (size(2), size(3)));
    layer("Conv2d::new", &["conv2d", "Conv2d"], &mut || {
        Ok(Box::new(
            Conv2d::<f32>::new(c_in, c_out, kernel, c.conv, &mut rng).with_activation(Activation::Relu),
        ))
    })?;
    let wt = Tensor::<f32>::zeros(&c.w);
    let bt = c.b.as_ref().map(|s| Tensor::<f32>::zeros(s));
    layer("Conv2d::from_tensors", &["conv2d", "Conv2d"], &mut || {
        Ok(Box::new(Conv2d::from_tensors(wt.clone(), bt.clone(), c.conv)?))
    })?;
    layer("Dense::new", &["dense", "Dense", "flatten"], &mut || {
        Ok(Box::new(Dense::<f32>::new(c_in, c_out, &mut rng)))
    })?;
    layer("Dense::from_tensors", &["dense", "Dense"], &mut || {
        Ok(Box::new(Dense::from_tensors(wt.clone(), bt.clone())?))
    })?;
    layer("MaxPool2d", &["max_pool2d"], &mut || {
        Ok(Box::new(MaxPool2d(c.pool)))
    })?;
    layer("AvgPool2d", &["avg_pool2d"], &mut || {
        Ok(Box::new(AvgPool2d {
            cfg: c.pool,
            count_include_pad: c.p < 0.5,
        }))
    })?;
    layer("Flatten", &["flatten"], &mut || Ok(Box::new(Flatten)))?;
    layer("Dropout::new", &["Dropout", "dropout"], &mut || {
        Ok(Box::new(Dropout::new(c.p, 3)?))
    })?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_op_returns_ok_or_an_error_naming_it(c in case()) {
        every_op(&c).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn every_layer_returns_ok_or_an_error_naming_it(c in case()) {
        every_layer(&c).map_err(TestCaseError::fail)?;
    }
}

/// The property tests' findings, kept as plain cases: each was a panic (a zero chunk size) or,
/// for max pooling over an empty image with padding, a crash (the AVX-512 kernel loaded a
/// window that lay wholly in the padding, outside the input), and each is now an error.
#[test]
fn findings_are_errors_naming_the_op() {
    let tape = Tape::<f32>::new();
    let v = |s: &[usize]| tape.var(Tensor::zeros(s));
    let err = |r: autograd::Result<Var<'_, f32>>| r.err().map(|e| e.to_string()).unwrap_or_default();
    let pool = Pool2dConfig::new(2).padding(1);
    for x in [[1, 0, 3, 2], [1, 3, 0, 2], [2, 3, 3, 0]] {
        assert!(err(max_pool2d(&v(&x), pool)).contains("max_pool2d"), "{x:?}");
        assert!(
            err(avg_pool2d(&v(&x), pool, false)).contains("avg_pool2d"),
            "{x:?}"
        );
    }
    let m = err(conv2d(
        &v(&[1, 4, 4, 0]),
        &v(&[2, 3, 3, 0]),
        None,
        Conv2dConfig::new(),
    ));
    assert!(m.contains("conv2d") && m.contains("C_in"), "{m}");
    let m = err(dense(&v(&[2, 3]), &v(&[3, 0]), None));
    assert!(m.contains("dense") && m.contains("Out"), "{m}");
    let m = err(v(&[2, 3]).mean_axes(&[1, 1], false));
    assert!(m.starts_with("mean:") && m.contains("twice"), "{m}");
    // An empty batch is fine.
    assert_eq!(max_pool2d(&v(&[0, 4, 4, 2]), pool).unwrap().shape(), [0, 3, 3, 2]);
    assert_eq!(dense(&v(&[0, 3]), &v(&[3, 2]), None).unwrap().shape(), [0, 2]);
}

/// The fuzzer's finding (`fuzz/corpus/recipe/finding-elastic-3e30`): an elastic distortion
/// with `alpha = 3e30` moved source points beyond `i32`, and the bilinear sampler's floor
/// overflowed (a panic in debug builds). Now such points read the fill value.
#[test]
fn a_huge_elastic_displacement_samples_the_fill() {
    use nn::data::transforms::{ImageShape, Recipe};
    let r = Recipe::NONE.with_elastic_spec("3e30,1").unwrap();
    let image: Vec<u8> = (0..784).map(|i| (i % 251) as u8).collect();
    let mut out = vec![7u8; 784];
    let shape = ImageShape { h: 28, w: 28, c: 1 };
    r.compose().apply(&image, shape, 0, (1, 0, 0), &mut out).unwrap();
    // Displacements of ~1e30 pixels move (nearly) every point outside: the fill, 0.
    assert!(out.iter().filter(|&&v| v == 0).count() > 700, "{out:?}");
}
