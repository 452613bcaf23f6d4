//! Splitting work across threads does not change any result: each op's forward value and
//! gradients computed normally (split between the pool's threads where the op finds it pays)
//! are bitwise the same as computed inside `parallel::part`, where nothing is split.

mod common;
use autograd::runtime::parallel;
use autograd::{Tape, Tensor, Var};
use common::values;
use nn::ops::activation::Activation;
use nn::ops::conv::{Conv2dConfig, conv2d_with};
use nn::ops::dense::dense_with;
use nn::ops::pool::{Pool2dConfig, max_pool2d};

/// The forward value and the gradient of every input, for an upstream gradient of ±1 and ½.
fn value_and_grads(
    inputs: &[Tensor<f32>],
    op: impl for<'t> Fn(&[Var<'t, f32>]) -> Var<'t, f32>,
) -> Vec<Tensor<f32>> {
    let tape = Tape::<f32>::new();
    let vars: Vec<_> = inputs.iter().map(|t| tape.var(t.clone())).collect();
    let y = op(&vars);
    let gy = Tensor::from_fn(y.shape(), |i| if i % 3 == 0 { -1.0 } else { 0.5 });
    let g = tape.backward_with(&y, gy).unwrap();
    let mut out = vec![y.value().clone()];
    out.extend(vars.iter().map(|v| g[v].clone()));
    out
}

fn same_split_or_not(
    what: &str,
    inputs: &[Tensor<f32>],
    op: impl for<'t> Fn(&[Var<'t, f32>]) -> Var<'t, f32> + Sync,
) {
    let split = value_and_grads(inputs, &op);
    let whole = parallel::install(|| parallel::part(|| value_and_grads(inputs, &op)));
    for (k, (a, b)) in split.iter().zip(&whole).enumerate() {
        assert_eq!(a.shape(), b.shape());
        let bits = |t: &Tensor<f32>| t.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert!(
            bits(a) == bits(b),
            "{what}: result {k} differs between split and whole"
        );
    }
}

fn f32s(shape: &[usize], seed: u64) -> Tensor<f32> {
    values(shape, seed).cast()
}

#[test]
fn ops_give_the_same_bits_split_across_threads_or_not() {
    // The comparison means something only if the work can split: two threads, as many as CI
    // machines have cores (this binary's only test, so nothing starts the pool before).
    let _ = parallel::set_num_threads(2);
    assert!(
        parallel::num_threads() >= 2,
        "splitting needs a pool of two threads or more, this one has {}",
        parallel::num_threads()
    );
    // LeNet-5's first dense layer at batch 64, with a fused ReLU.
    let inputs = [f32s(&[64, 400], 1), f32s(&[400, 120], 2), f32s(&[120], 3)];
    same_split_or_not("dense", &inputs, |v| {
        dense_with(&v[0], &v[1], Some(&v[2]), Activation::Relu).unwrap()
    });
    // An odd batch: halves of 16 and 17 rows.
    let inputs = [f32s(&[33, 500], 4), f32s(&[500, 84], 5), f32s(&[84], 6)];
    same_split_or_not("dense, odd batch", &inputs, |v| {
        dense_with(&v[0], &v[1], Some(&v[2]), Activation::Identity).unwrap()
    });
    // Convolutions over several chunks, direct kernels and GEMM paths.
    for (c_in, c_out, f, p) in [(6, 16, 5, 0), (32, 64, 3, 1), (3, 80, 3, 1)] {
        let inputs = [
            f32s(&[16, 14, 14, c_in], 7),
            f32s(&[c_out, f, f, c_in], 8),
            f32s(&[c_out], 9),
        ];
        same_split_or_not(&format!("conv {c_in}->{c_out}"), &inputs, |v| {
            conv2d_with(
                &v[0],
                &v[1],
                Some(&v[2]),
                Conv2dConfig::new().padding(p),
                Activation::Relu,
            )
            .unwrap()
        });
    }
    let inputs = [f32s(&[64, 28, 28, 6], 10)];
    same_split_or_not("max_pool2d", &inputs, |v| {
        max_pool2d(&v[0], Pool2dConfig::new(2)).unwrap()
    });
}
