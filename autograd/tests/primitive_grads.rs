//! Every differentiable primitive: the tape's gradients equal central finite differences in
//! f64 (relative 1e-6), over random shapes and values, broadcasting included.

mod common;

use autograd::{Tensor, Var};
use common::{away_from_zero, broadcast_pair, check, config, shape, tensor, tensor_of};
use proptest::prelude::*;

fn pair(lo: f64, hi: f64) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    broadcast_pair(3, 4).prop_flat_map(move |(a, b)| (tensor_of(a, lo, hi), tensor_of(b, lo, hi)))
}

/// A permutation of `0..n`.
fn permutation(n: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..n).collect::<Vec<_>>()).prop_shuffle()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn add_broadcasting((a, b) in pair(-2.0, 2.0)) {
        check(&[a, b], |v| v[0].try_add(&v[1]))?;
    }

    #[test]
    fn sub_broadcasting((a, b) in pair(-2.0, 2.0)) {
        check(&[a, b], |v| v[0].try_sub(&v[1]))?;
    }

    #[test]
    fn mul_broadcasting((a, b) in pair(-2.0, 2.0)) {
        check(&[a, b], |v| v[0].try_mul(&v[1]))?;
    }

    #[test]
    fn div_broadcasting((a, b) in pair(-2.0, 2.0)) {
        let b = away_from_zero(b, 0.5);
        check(&[a, b], |v| v[0].try_div(&v[1]))?;
    }

    #[test]
    fn neg_and_scalar_ops(x in tensor(3, 4, -2.0, 2.0), s in -3.0f64..3.0, c in -3.0f64..3.0) {
        check(std::slice::from_ref(&x), |v| Ok(v[0].neg()))?;
        check(std::slice::from_ref(&x), |v| Ok(v[0].affine(s, c)))?;
        check(std::slice::from_ref(&x), |v| Ok(&v[0] * s))?;
        check(&[x], |v| Ok(&(&v[0] + c) - s))?;
    }

    #[test]
    fn powf(x in tensor(3, 4, 0.3, 2.5), p in -2.0f64..3.0) {
        check(&[x], |v| Ok(v[0].powf(p)))?;
    }

    #[test]
    fn exp(x in tensor(3, 4, -2.0, 2.0)) {
        check(&[x], |v| Ok(v[0].exp()))?;
    }

    #[test]
    fn log(x in tensor(3, 4, 0.2, 4.0)) {
        check(&[x], |v| Ok(v[0].log()))?;
    }

    #[test]
    fn sqrt(x in tensor(3, 4, 0.2, 4.0)) {
        check(&[x], |v| Ok(v[0].sqrt()))?;
    }

    #[test]
    fn abs(x in tensor(3, 4, -2.0, 2.0)) {
        check(&[away_from_zero(x, 1e-3)], |v| Ok(v[0].abs()))?;
    }

    #[test]
    fn relu(x in tensor(3, 4, -2.0, 2.0)) {
        check(&[away_from_zero(x, 1e-3)], |v| Ok(v[0].relu()))?;
    }

    #[test]
    fn sigmoid(x in tensor(3, 4, -6.0, 6.0)) {
        check(&[x], |v| Ok(v[0].sigmoid()))?;
    }

    #[test]
    fn tanh(x in tensor(3, 4, -3.0, 3.0)) {
        check(&[x], |v| Ok(v[0].tanh()))?;
    }

    #[test]
    fn sum_and_mean_of_all(x in tensor(4, 4, -2.0, 2.0)) {
        check(std::slice::from_ref(&x), |v| Ok(v[0].sum()))?;
        check(&[x], |v| Ok(v[0].mean()))?;
    }

    #[test]
    fn sum_and_mean_over_axes(
        (x, axes) in tensor(4, 4, -2.0, 2.0).prop_flat_map(|x| {
            let r = x.rank();
            (Just(x), prop::sample::subsequence((0..r).collect::<Vec<_>>(), 1..=r))
        }),
        keepdim in any::<bool>(),
    ) {
        check(std::slice::from_ref(&x), |v| v[0].sum_axes(&axes, keepdim))?;
        check(&[x], |v| v[0].mean_axes(&axes, keepdim))?;
    }

    #[test]
    fn max_over_an_axis(
        (x, axis) in tensor(3, 4, -2.0, 2.0).prop_flat_map(|x| { let r = x.rank(); (Just(x), 0..r) }),
        keepdim in any::<bool>(),
    ) {
        // Distinct values, far apart relative to the finite-difference step.
        let n = x.numel() as f64;
        let x = Tensor::from_fn(x.shape(), |i| x.as_slice()[i] + 0.01 * (i as f64 * 7.0 % n));
        check(&[x], |v| v[0].max_axis(axis, keepdim))?;
    }

    #[test]
    fn reshape_and_flatten(x in tensor(4, 3, -2.0, 2.0)) {
        let n = x.numel();
        check(std::slice::from_ref(&x), |v| v[0].reshape(&[n]))?;
        check(&[x], |v| v[0].flatten())?;
    }

    #[test]
    fn permute(
        (x, axes) in tensor(4, 3, -2.0, 2.0).prop_flat_map(|x| { let r = x.rank(); (Just(x), permutation(r)) })
    ) {
        check(std::slice::from_ref(&x), |v| v[0].permute(&axes))?;
        let last = x.rank() - 1;
        check(&[x], |v| v[0].transpose(0, last))?;
    }

    #[test]
    fn slice(
        (x, axis, start, len, step) in tensor(3, 6, -2.0, 2.0).prop_flat_map(|x| {
            let r = x.rank();
            (Just(x), 0..r).prop_flat_map(|(x, axis)| {
                let d = x.shape()[axis];
                (Just(x), Just(axis), 0..d).prop_flat_map(move |(x, axis, start)| {
                    (Just(x), Just(axis), Just(start), 0..=(d - start), 1..4usize)
                })
            })
        })
    ) {
        check(&[x], |v| v[0].slice(axis, start, start + len, step))?;
    }

    #[test]
    fn concat(
        (parts, axis) in shape(3, 3).prop_flat_map(|s| {
            let r = s.len();
            (Just(s), 0..r, prop::collection::vec(1..4usize, 1..4))
        }).prop_flat_map(|(s, axis, lens)| {
            let parts: Vec<_> = lens.iter().map(|&l| {
                let mut s = s.clone();
                s[axis] = l;
                tensor_of(s, -2.0, 2.0)
            }).collect();
            (parts, Just(axis))
        })
    ) {
        check(&parts, |v| Var::concat(&v.iter().collect::<Vec<_>>(), axis))?;
    }

    #[test]
    fn pad(
        (x, pads) in tensor(3, 3, -2.0, 2.0).prop_flat_map(|x| {
            let r = x.rank();
            (Just(x), prop::collection::vec((0..3usize, 0..3usize), r))
        }),
        value in -1.0f64..1.0,
    ) {
        check(&[x], |v| v[0].pad(&pads, value))?;
    }

    #[test]
    fn index_select(
        (x, axis, idx) in tensor(3, 4, -2.0, 2.0).prop_flat_map(|x| {
            let r = x.rank();
            (Just(x), 0..r).prop_flat_map(|(x, axis)| {
                let d = x.shape()[axis];
                (Just(x), Just(axis), prop::collection::vec(0..d, 1..6))
            })
        })
    ) {
        check(&[x], |v| v[0].index_select(axis, &idx))?;
    }

    #[test]
    fn gather(
        (x, axis, idx) in tensor(3, 4, -2.0, 2.0).prop_flat_map(|x| {
            let r = x.rank();
            (Just(x), 0..r, 1..4usize).prop_flat_map(|(x, axis, m)| {
                let d = x.shape()[axis];
                let count = x.numel() / d * m;
                (Just(x), Just(axis), prop::collection::vec(0..d, count))
            })
        })
    ) {
        check(&[x], |v| v[0].gather(axis, &idx))?;
    }

    #[test]
    fn where_mask(
        ((a, b), seed) in (pair(-2.0, 2.0), any::<u64>())
    ) {
        let out = autograd::shape::broadcast_shapes("test", a.shape(), b.shape()).unwrap();
        let mask = Tensor::from_fn(&out, |i| ((seed >> (i % 64)) & 1) as f64);
        check(&[a, b], |v| Var::where_mask(&mask, &v[0], &v[1]))?;
    }

    #[test]
    fn broadcast_to((a, b) in broadcast_pair(3, 4)) {
        let out = autograd::shape::broadcast_shapes("test", &a, &b).unwrap().to_vec();
        let x = Tensor::from_fn(&a, |i| (i as f64 * 0.37).sin());
        check(&[x], |v| v[0].broadcast_to(&out))?;
    }

    #[test]
    fn matmul_2d(m in 1..5usize, k in 1..5usize, n in 1..5usize, seed in any::<u64>()) {
        let a = Tensor::from_fn(&[m, k], |i| ((i as u64 ^ seed) % 97) as f64 / 40.0 - 1.0);
        let b = Tensor::from_fn(&[k, n], |i| ((i as u64 * 31 + seed) % 89) as f64 / 40.0 - 1.0);
        check(&[a, b], |v| v[0].matmul(&v[1]))?;
    }

    #[test]
    fn matmul_batched_and_broadcast(
        (ba, bb) in broadcast_pair(2, 3),
        (m, k, n) in (1..4usize, 1..4usize, 1..4usize),
    ) {
        let a_shape: Vec<usize> = ba.iter().copied().chain([m, k]).collect();
        let b_shape: Vec<usize> = bb.iter().copied().chain([k, n]).collect();
        let a = Tensor::from_fn(&a_shape, |i| (i as f64 * 0.71).sin());
        let b = Tensor::from_fn(&b_shape, |i| (i as f64 * 0.43).cos());
        check(&[a.clone(), b], |v| v[0].matmul(&v[1]))?;
        // A plain matrix on the right, shared by every batch entry.
        let w = Tensor::from_fn(&[k, n], |i| (i as f64 * 0.29).cos());
        check(&[a, w], |v| v[0].matmul(&v[1]))?;
    }

    #[test]
    fn softmax_and_log_softmax(
        (x, axis) in tensor(3, 4, -3.0, 3.0).prop_flat_map(|x| { let r = x.rank(); (Just(x), 0..r) })
    ) {
        check(std::slice::from_ref(&x), |v| v[0].softmax(axis))?;
        check(&[x], |v| v[0].log_softmax(axis))?;
    }
}
