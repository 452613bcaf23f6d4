//! The lecture's worked pooling example (RULES.md: 6x6 input, 2x2 kernel, stride 2), forward
//! and backward, with the expected numbers worked out by hand from the lecture's rules.

use autograd::{Tape, Tensor};
use nn::ops::pool::{Pool2dConfig, avg_pool2d, max_pool2d};

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
