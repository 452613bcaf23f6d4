//! The lecture's worked examples (`docs/lecture.md`), forward and backward, with the expected
//! numbers worked out by hand from the lecture's rules (independent of the code): the pooling
//! example (6x6 input, 2x2 kernel, stride 2) and the convolution example ("A worked example",
//! under Convolution backward: a 3x3 input, one 2x2 kernel, stride 1, no padding, a bias),
//! the latter checked against both the `conv2d` op and the reference loops.

use autograd::{Tape, Tensor};
use nn::ops::activation::Activation;
use nn::ops::conv::{Conv2dConfig, ConvGeometry, conv2d_with};
use nn::ops::pool::{Pool2dConfig, avg_pool2d, max_pool2d};
use nn::ops::reference;

const INPUT: [f64; 36] = [
    3., 6., 5., 4., 8., 9., //
    1., 7., 9., 6., 8., 0., //
    5., 0., 9., 6., 2., 0., //
    5., 2., 6., 3., 7., 0., //
    9., 0., 3., 2., 3., 1., //
    3., 1., 3., 7., 1., 7., //
];

/// dZ, a different value per output so every routed gradient is identifiable.
const DZ: [f64; 9] = [1., 2., 3., 4., 5., 6., 7., 8., 9.];

fn input() -> Tensor<f64> {
    Tensor::from_vec(INPUT.to_vec(), &[1, 6, 6, 1]).unwrap()
}

#[test]
fn average_pooling_forward_and_dz_kronecker_m() {
    let tape = Tape::<f64>::new();
    let a = tape.var(input());
    let z = avg_pool2d(&a, Pool2dConfig::new(2), true).unwrap();
    assert_eq!(z.shape(), &[1, 3, 3, 1]);
    assert_eq!(
        z.value().to_vec(),
        vec![4.25, 6.0, 6.25, 3.0, 6.0, 2.25, 3.25, 3.75, 3.0]
    );

    let g = tape
        .backward_with(&z, Tensor::from_vec(DZ.to_vec(), &[1, 3, 3, 1]).unwrap())
        .unwrap();
    // dA = dZ ⊗ M with M = [[0.25, 0.25], [0.25, 0.25]]: each dZ spreads over its 2x2 block.
    let mut expect = vec![0.0; 36];
    for i in 0..6 {
        for j in 0..6 {
            expect[i * 6 + j] = DZ[(i / 2) * 3 + j / 2] * 0.25;
        }
    }
    assert_eq!(g[&a].to_vec(), expect);
}

#[test]
fn max_pooling_forward_and_argmax_mask() {
    let tape = Tape::<f64>::new();
    let a = tape.var(input());
    let z = max_pool2d(&a, Pool2dConfig::new(2)).unwrap();
    assert_eq!(z.value().to_vec(), vec![7., 9., 9., 5., 9., 7., 9., 7., 7.]);

    let g = tape
        .backward_with(&z, Tensor::from_vec(DZ.to_vec(), &[1, 3, 3, 1]).unwrap())
        .unwrap();
    // Each dZ goes to its window's maximum (row, column), found by reading the input:
    // window (1,0) holds 5 twice; like PyTorch the first in row-major order wins.
    let argmax = [
        (1, 1),
        (1, 2),
        (0, 5),
        (2, 0),
        (2, 2),
        (3, 4),
        (4, 0),
        (5, 3),
        (5, 5),
    ];
    let mut expect = vec![0.0; 36];
    for (k, &(r, c)) in argmax.iter().enumerate() {
        expect[r * 6 + c] = DZ[k];
    }
    assert_eq!(g[&a].to_vec(), expect);
}

#[test]
fn overlapping_windows_accumulate() {
    // 3x3 input, 2x2 windows, stride 1: the centre belongs to all four windows.
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::from_vec(vec![0., 1., 0., 1., 9., 1., 0., 1., 0.], &[1, 3, 3, 1]).unwrap());
    let cfg = Pool2dConfig::new(2).stride(1);
    let z = max_pool2d(&a, cfg).unwrap();
    assert_eq!(z.value().to_vec(), vec![9.0; 4]);
    let g = tape
        .backward_with(&z, Tensor::from_vec(vec![1., 2., 3., 4.], &[1, 2, 2, 1]).unwrap())
        .unwrap();
    assert_eq!(g[&a].to_vec(), vec![0., 0., 0., 0., 10., 0., 0., 0., 0.]);

    let z = avg_pool2d(&a, cfg, true).unwrap();
    let g = tape
        .backward_with(&z, Tensor::from_vec(vec![1., 2., 3., 4.], &[1, 2, 2, 1]).unwrap())
        .unwrap();
    // Corners see one window each, edges two, the centre all four: (1+2+3+4)/4 = 2.5.
    assert_eq!(
        g[&a].to_vec(),
        vec![0.25, 0.75, 0.5, 1.0, 2.5, 1.5, 0.75, 1.75, 1.0]
    );
}

// The convolution example, in the lecture's numbers (rows of the 3x3 input and of the 2x2
// kernel; `[N, H, W, C]` with N = C = 1, and `[C_out, f_H, f_W, C_in]` with C_out = C_in = 1).
const CONV_A: [f64; 9] = [
    1., 2., 0., //
    3., 1., 2., //
    0., 1., 3., //
];
const CONV_W: [f64; 4] = [
    1., -1., //
    2., 0., //
];
const CONV_B: f64 = 1.0;
/// The gradient at the output, `dZ = [[1, 2], [-1, 1]]`.
const CONV_DZ: [f64; 4] = [1., 2., -1., 1.];

// By hand (the lecture's numbers, rechecked): Z_ij = B_ij · (1, -1, 2, 0) + 1 with
// B_11 = (1, 2, 3, 1), B_12 = (2, 0, 1, 2), B_21 = (3, 1, 0, 1), B_22 = (1, 2, 1, 3).
const CONV_Z: [f64; 4] = [
    6., 5., // 1 - 2 + 6 + 0 + 1, 2 - 0 + 2 + 0 + 1
    3., 2., // 3 - 1 + 0 + 0 + 1, 1 - 2 + 2 + 0 + 1
];
/// `db = 1 + 2 - 1 + 1`.
const CONV_DB: f64 = 3.;
/// `dW[t] = Σ_ij dZ_ij · B_ij[t]`: 1·1 + 2·2 - 3 + 1, 2 + 0 - 1 + 2, 3 + 2 - 0 + 1, 1 + 4 - 1 + 3.
const CONV_DW: [f64; 4] = [
    3., 3., //
    6., 7., //
];
/// Each position adds `dZ_ij · W` onto its 2x2 slice: `1·W` at (1,1), `2·W` at (1,2), `-1·W` at
/// (2,1), `1·W` at (2,2); the centre collects `0 + 4 + 1 + 1`.
const CONV_DA: [f64; 9] = [
    1., 1., -2., //
    1., 6., -1., //
    -2., 2., 0., //
];

fn conv_inputs() -> (Tensor<f64>, Tensor<f64>, Tensor<f64>, Tensor<f64>) {
    (
        Tensor::from_vec(CONV_A.to_vec(), &[1, 3, 3, 1]).unwrap(),
        Tensor::from_vec(CONV_W.to_vec(), &[1, 2, 2, 1]).unwrap(),
        Tensor::from_vec(vec![CONV_B], &[1]).unwrap(),
        Tensor::from_vec(CONV_DZ.to_vec(), &[1, 2, 2, 1]).unwrap(),
    )
}

/// The op, in f64 and f32 (small integers: exact in both, in any order of summation), without
/// an activation and with a fused ReLU (every `Z` is positive, so `dZ = dA`).
#[test]
fn convolution_worked_example_by_the_op() {
    fn check<T: autograd::Element>(act: Activation) {
        let (a, w, b, dz) = conv_inputs();
        let tape = Tape::<T>::new();
        let (av, wv, bv) = (tape.var(a.cast()), tape.var(w.cast()), tape.var(b.cast()));
        let z = conv2d_with(&av, &wv, Some(&bv), Conv2dConfig::new(), act).unwrap();
        assert_eq!(z.shape(), &[1, 2, 2, 1]);
        let what = format!("{:?}, {act:?}", T::DTYPE);
        assert_eq!(z.value().cast::<f64>().to_vec(), CONV_Z, "Z ({what})");
        let g = tape.backward_with(&z, dz.cast()).unwrap();
        assert_eq!(g[&bv].cast::<f64>().to_vec(), [CONV_DB], "db ({what})");
        assert_eq!(g[&wv].cast::<f64>().to_vec(), CONV_DW, "dW ({what})");
        assert_eq!(g[&av].cast::<f64>().to_vec(), CONV_DA, "dA ({what})");
    }
    for act in [Activation::Identity, Activation::Relu] {
        check::<f64>(act);
        check::<f32>(act);
    }
}

/// The reference loops, and the lecture's direct check: `L = Σ dZ ⊙ Z` is linear, so adding 1
/// to any single input, weight or bias changes `L` by exactly its gradient.
#[test]
fn convolution_worked_example_by_the_reference_loops() {
    let (a, w, b, dz) = conv_inputs();
    let g = ConvGeometry::new("conv2d", a.shape(), w.shape(), Conv2dConfig::new()).unwrap();
    assert_eq!(g.output_shape(), [1, 2, 2, 1]);
    let z = reference::conv2d(&a, &w, Some(b.as_slice()), &g);
    assert_eq!(z.to_vec(), CONV_Z);
    assert_eq!(reference::conv2d_bias_grad(&dz), [CONV_DB]);
    assert_eq!(reference::conv2d_weight_grad(&a, &dz, &g).to_vec(), CONV_DW);
    assert_eq!(reference::conv2d_input_grad(&w, &dz, &g).to_vec(), CONV_DA);

    let loss = |a: &Tensor<f64>, w: &Tensor<f64>, b: f64| -> f64 {
        let z = reference::conv2d(a, w, Some(&[b]), &g);
        z.as_slice().iter().zip(&CONV_DZ).map(|(z, d)| z * d).sum()
    };
    let l0 = loss(&a, &w, CONV_B);
    assert_eq!(l0, 6. + 10. - 3. + 2.);
    for (k, want) in CONV_DA.iter().enumerate() {
        let mut a1 = a.clone();
        a1.as_mut_slice()[k] += 1.0;
        assert_eq!(loss(&a1, &w, CONV_B) - l0, *want, "input {k}");
    }
    for (k, want) in CONV_DW.iter().enumerate() {
        let mut w1 = w.clone();
        w1.as_mut_slice()[k] += 1.0;
        assert_eq!(loss(&a, &w1, CONV_B) - l0, *want, "weight {k}");
    }
    assert_eq!(loss(&a, &w, CONV_B + 1.0) - l0, CONV_DB, "bias");
}
