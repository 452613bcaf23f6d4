//! Kernels take their output buffers from the pool, where freed buffers keep their old
//! contents: results must not depend on what a reused buffer held. One test function, so
//! nothing else in this binary touches the pool meanwhile.

use autograd::runtime::buffer;
use autograd::{Tape, Tensor};

/// Leaves NaN-filled buffers of every length in `lens` in the pool.
fn poison(lens: &[usize]) {
    let bufs: Vec<Tensor<f32>> = lens.iter().map(|&n| Tensor::full(&[n], f32::NAN)).collect();
    drop(bufs);
}

/// The results of a set of ops on big tensors (outputs of 4096 elements or more).
fn run() -> Vec<Tensor<f32>> {
    let a = Tensor::<f32>::from_fn(&[64, 96], |i| (i as f32 * 0.37).sin());
    let b = Tensor::<f32>::from_fn(&[96, 80], |i| (i as f32 * 0.11).cos());
    let row = Tensor::<f32>::from_fn(&[96], |i| i as f32);
    let c = Tensor::<f32>::from_fn(&[4, 64, 96], |i| (i as f32 * 0.013).sin());
    let tape = Tape::new();
    let (va, vb) = (tape.var(a.clone()), tape.var(b.clone()));
    let y = va.matmul(&vb).unwrap().relu().exp();
    let g = tape.backward(&y.sum()).unwrap();
    vec![
        a.try_add(&row).unwrap(),
        a.map(|v| v * 2.0),
        c.sum_axis(0, true).unwrap(),
        c.max_axis(0, false).unwrap(),
        c.sum_to_shape(&[1, 64, 96]).unwrap(),
        a.sum_axis(0, true).unwrap().broadcast_to(&[64, 96]).unwrap(),
        a.permute(&[1, 0]).unwrap(),
        a.slice(1, 0, 96, 1).unwrap(),
        a.pad(&[(1, 1), (2, 2)], 0.5).unwrap(),
        a.pad(&[(1, 1), (2, 2)], 0.5)
            .unwrap()
            .unpad(&[(1, 1), (2, 2)])
            .unwrap(),
        a.slice(0, 0, 64, 2).unwrap().unslice(&[64, 96], 0, 0, 2).unwrap(),
        Tensor::concat(&[&a, &a], 0).unwrap(),
        a.sum_to_shape(&[1, 96]).unwrap(),
        a.matmul(&b).unwrap(),
        y.value().clone(),
        g[&va].clone(),
        g[&vb].clone(),
    ]
}

#[test]
fn reused_buffers_never_leak_into_results() {
    buffer::set_limit(0);
    buffer::clear::<f32>();
    let clean = run();
    buffer::set_limit(1 << 30);
    let lens: Vec<usize> = clean
        .iter()
        .map(Tensor::numel)
        .chain([96 * 64, 64 * 80, 96 * 80, 66 * 100])
        .collect();
    for _ in 0..3 {
        poison(&lens);
        poison(&lens);
        assert!(buffer::held_bytes::<f32>() > 0, "the pool keeps freed buffers");
        let reused = run();
        for (i, (c, r)) in clean.iter().zip(&reused).enumerate() {
            assert_eq!(c, r, "result {i} differs when computed in reused buffers");
        }
    }
}
