//! Tensor forward ops against naive index-by-index reference implementations.

mod common;

use autograd::{Error, Tensor};
use common::{broadcast_pair, shape, tensor, tensor_of};
use proptest::prelude::*;

/// The multi-index of row-major position `flat` in `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        idx[i] = flat % shape[i];
        flat /= shape[i];
    }
    idx
}

/// The element of `t` at `idx`, read naively.
fn at(t: &Tensor<f64>, idx: &[usize]) -> f64 {
    t.get(idx).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn broadcasting_matches_numpy_rules((sa, sb) in broadcast_pair(4, 4)) {
        let a = Tensor::<f64>::from_fn(&sa, |i| i as f64 * 1.5 - 3.0);
        let b = Tensor::<f64>::from_fn(&sb, |i| i as f64 * 0.25 + 1.0);
        let c = a.try_mul(&b).unwrap();
        let rank = sa.len().max(sb.len());
        prop_assert_eq!(c.rank(), rank);
        for flat in 0..c.numel() {
            let idx = unravel(flat, c.shape());
            // Align at the last axis; a length-1 axis reads index 0.
            let pick = |s: &[usize]| -> Vec<usize> {
                let off = rank - s.len();
                s.iter().enumerate().map(|(i, &d)| if d == 1 { 0 } else { idx[i + off] }).collect()
            };
            prop_assert_eq!(c.as_slice()[flat], at(&a, &pick(&sa)) * at(&b, &pick(&sb)));
        }
        // sum_to_shape undoes the broadcast: each element of a receives the sum of its copies.
        let back = c.sum_to_shape(&sa).unwrap();
        prop_assert_eq!(back.shape(), &sa[..]);
    }

    #[test]
    fn matmul_matches_the_triple_loop(
        (ba, bb) in broadcast_pair(2, 3),
        (m, k, n) in (1..6usize, 1..6usize, 1..6usize),
        (ta, tb) in (any::<bool>(), any::<bool>()),
    ) {
        let a_shape: Vec<usize> = ba.iter().copied().chain(if ta { [k, m] } else { [m, k] }).collect();
        let b_shape: Vec<usize> = bb.iter().copied().chain(if tb { [n, k] } else { [k, n] }).collect();
        let a = Tensor::<f64>::from_fn(&a_shape, |i| ((i * 7) % 11) as f64 - 5.0);
        let b = Tensor::<f64>::from_fn(&b_shape, |i| ((i * 5) % 13) as f64 - 6.0);
        let c = a.matmul_t(&b, ta, tb).unwrap();
        let rank = c.rank();
        for flat in 0..c.numel() {
            let idx = unravel(flat, c.shape());
            let (i, j) = (idx[rank - 2], idx[rank - 1]);
            let batch = &idx[..rank - 2];
            let sel = |s: &[usize], r: usize, cc: usize| -> Vec<usize> {
                let bs = &s[..s.len() - 2];
                let off = batch.len() - bs.len();
                let mut v: Vec<usize> = bs.iter().enumerate().map(|(q, &d)| if d == 1 { 0 } else { batch[q + off] }).collect();
                v.extend([r, cc]);
                v
            };
            let mut want = 0.0;
            for p in 0..k {
                let av = if ta { at(&a, &sel(&a_shape, p, i)) } else { at(&a, &sel(&a_shape, i, p)) };
                let bv = if tb { at(&b, &sel(&b_shape, j, p)) } else { at(&b, &sel(&b_shape, p, j)) };
                want += av * bv;
            }
            prop_assert_eq!(c.as_slice()[flat], want);
        }
    }

    #[test]
    fn permute_moves_every_element(x in tensor(4, 4, -1.0, 1.0), seed in any::<u64>()) {
        let r = x.rank();
        let mut axes: Vec<usize> = (0..r).collect();
        for i in (1..r).rev() {
            axes.swap(i, (seed as usize >> i) % (i + 1));
        }
        let y = x.permute(&axes).unwrap();
        for flat in 0..y.numel() {
            let out = unravel(flat, y.shape());
            let mut src = vec![0; r];
            for (i, &a) in axes.iter().enumerate() {
                src[a] = out[i];
            }
            prop_assert_eq!(y.as_slice()[flat], at(&x, &src));
        }
    }

    #[test]
    fn slice_pad_and_their_inverses(x in tensor(3, 5, -1.0, 1.0), start in 0..5usize, step in 1..3usize, pad in 0..3usize) {
        let r = x.rank();
        let axis = r - 1;
        let d = x.shape()[axis];
        let start = start.min(d - 1);
        let s = x.slice(axis, start, d, step).unwrap();
        for flat in 0..s.numel() {
            let mut idx = unravel(flat, s.shape());
            idx[axis] = start + idx[axis] * step;
            prop_assert_eq!(s.as_slice()[flat], at(&x, &idx));
        }
        let pads: Vec<(usize, usize)> = (0..r).map(|i| (pad, i % 2)).collect();
        let p = x.pad(&pads, 9.0).unwrap();
        for flat in 0..p.numel() {
            let idx = unravel(flat, p.shape());
            let inside: Option<Vec<usize>> = idx.iter().zip(&pads).zip(x.shape())
                .map(|((&i, &(b, _)), &d)| (i >= b && i - b < d).then(|| i - b)).collect();
            let want = inside.map_or(9.0, |src| at(&x, &src));
            prop_assert_eq!(p.as_slice()[flat], want);
        }
        prop_assert_eq!(p.unpad(&pads).unwrap(), x);
    }

    #[test]
    fn concat_then_slice_gives_the_parts(s in shape(3, 3), lens in prop::collection::vec(1..4usize, 1..4)) {
        let axis = s.len() - 1;
        let parts: Vec<Tensor<f64>> = lens.iter().enumerate().map(|(q, &l)| {
            let mut sh = s.clone();
            sh[axis] = l;
            Tensor::from_fn(&sh, |i| (q * 100 + i) as f64)
        }).collect();
        let refs: Vec<&Tensor<f64>> = parts.iter().collect();
        let c = Tensor::concat(&refs, axis).unwrap();
        let mut off = 0;
        for p in &parts {
            let l = p.shape()[axis];
            prop_assert_eq!(&c.slice(axis, off, off + l, 1).unwrap(), p);
            off += l;
        }
    }

    #[test]
    fn reductions_match_loops(x in tensor(3, 4, -2.0, 2.0), axis_seed in any::<usize>()) {
        let axis = axis_seed % x.rank();
        let s = x.sum_axis(axis, true).unwrap();
        let m = x.max_axis(axis, true).unwrap();
        let arg = x.argmax_axis(axis).unwrap();
        for flat in 0..s.numel() {
            let idx = unravel(flat, s.shape());
            let mut total = 0.0;
            let mut best = f64::NEG_INFINITY;
            let mut best_k = 0;
            for k in 0..x.shape()[axis] {
                let mut src = idx.clone();
                src[axis] = k;
                let v = at(&x, &src);
                total += v;
                if v > best { best = v; best_k = k; }
            }
            prop_assert!((s.as_slice()[flat] - total).abs() < 1e-12);
            prop_assert_eq!(m.as_slice()[flat], best);
            prop_assert_eq!(arg[flat], best_k);
        }
        let all: f64 = x.as_slice().iter().sum();
        prop_assert!((x.sum_all().item().unwrap() - all).abs() < 1e-12);
    }

    #[test]
    fn gather_and_index_select_pick_what_they_say(x in tensor_of(vec![3, 4], -1.0, 1.0), idx in prop::collection::vec(0..4usize, 6)) {
        let g = x.gather(1, &idx).unwrap(); // 2 picks per row
        prop_assert_eq!(g.shape(), &[3, 2]);
        for r in 0..3 {
            for j in 0..2 {
                prop_assert_eq!(at(&g, &[r, j]), at(&x, &[r, idx[r * 2 + j]]));
            }
        }
        let s = x.index_select(1, &idx).unwrap();
        for r in 0..3 {
            for (j, &c) in idx.iter().enumerate() {
                prop_assert_eq!(at(&s, &[r, j]), at(&x, &[r, c]));
            }
        }
    }
}

#[test]
fn constructors_check_their_arguments() {
    let e = Tensor::<f32>::from_vec(vec![1.0; 5], &[2, 3]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                len: 5,
                expected: 6,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("[2, 3]"));
    let t = Tensor::<f32>::zeros(&[2, 3]);
    assert!(t.reshape(&[4]).is_err());
    assert!(t.permute(&[0, 0]).is_err());
    assert!(t.slice(1, 2, 5, 1).is_err());
    assert!(t.slice(1, 0, 2, 0).is_err());
    assert!(t.get(&[2, 0]).is_err());
    assert!(t.sum_axis(2, false).is_err());
    assert!(
        t.matmul(&Tensor::zeros(&[2, 3]))
            .unwrap_err()
            .to_string()
            .contains("matmul")
    );
}

#[test]
fn seeded_random_tensors_are_reproducible_and_well_distributed() {
    use rand::SeedableRng;
    let mut r1 = rand::rngs::StdRng::seed_from_u64(7);
    let mut r2 = rand::rngs::StdRng::seed_from_u64(7);
    let a = Tensor::<f64>::rand_normal(&[10_000], 1.0, 2.0, &mut r1);
    let b = Tensor::<f64>::rand_normal(&[10_000], 1.0, 2.0, &mut r2);
    assert_eq!(a, b);
    let mean = a.mean_all().item().unwrap();
    let var = a.map(|x| (x - mean) * (x - mean)).mean_all().item().unwrap();
    assert!(
        (mean - 1.0).abs() < 0.1 && (var.sqrt() - 2.0).abs() < 0.1,
        "{mean} {var}"
    );
    let u = Tensor::<f32>::rand_uniform(&[10_000], -0.5, 0.5, &mut r1);
    assert!(u.as_slice().iter().all(|&v| (-0.5..0.5).contains(&v)));
    assert!(u.mean_all().item().unwrap().abs() < 0.02);
}

#[test]
fn softmax_rows_are_distributions() {
    let tape = autograd::Tape::<f64>::no_grad();
    let x = tape.constant(Tensor::from_vec(vec![1000.0, 1001.0, 999.0, -5.0, 0.0, 5.0], &[2, 3]).unwrap());
    let p = x.softmax(1).unwrap();
    let lp = x.log_softmax(1).unwrap();
    for r in 0..2 {
        let row: Vec<f64> = (0..3).map(|c| at(p.value(), &[r, c])).collect();
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let xs: Vec<f64> = (0..3).map(|c| at(x.value(), &[r, c])).collect();
        let m = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = xs.iter().map(|v| (v - m).exp()).sum();
        for c in 0..3 {
            assert!((row[c] - (xs[c] - m).exp() / z).abs() < 1e-15);
            assert!((at(lp.value(), &[r, c]) - (xs[c] - m - z.ln())).abs() < 1e-12);
        }
    }
}

/// Row-major operands `a` (`m x k`) and `b` (`k x n`) with values spread over [-1, 1).
fn operands(m: usize, n: usize, k: usize) -> (Vec<f64>, Vec<f64>) {
    let spread = |i: usize, p: usize| ((i * p) % 1000) as f64 / 500.0 - 1.0;
    (
        (0..m * k).map(|i| spread(i, 7919)).collect(),
        (0..k * n).map(|i| spread(i, 104_729)).collect(),
    )
}

/// Element `(i, j)` of `a · b` by the triple loop (`n` columns of `b`, inner dimension `k`).
fn naive_product(a: &[f64], b: &[f64], (n, k): (usize, usize), i: usize, j: usize) -> f64 {
    (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum()
}

/// A small output over a long inner dimension is split along `k` into partial products:
/// the result must still be the product (checked against the triple loop), with and without
/// accumulation and through transposed views.
#[test]
fn long_inner_dimension_products() {
    use autograd::runtime::gemm::{MatMut, MatRef, gemm};
    let (m, n, k) = (32, 33, 4100);
    let (a, b) = operands(m, n, k);
    let naive = |i: usize, j: usize| naive_product(&a, &b, (n, k), i, j);
    let mut c = vec![1.0; m * n];
    gemm(
        MatMut::new(&mut c, m, n).unwrap(),
        true,
        MatRef::new(&a, m, k).unwrap(),
        MatRef::new(&b, k, n).unwrap(),
        2.0,
    )
    .unwrap();
    for i in 0..m {
        for j in 0..n {
            let want = 1.0 + 2.0 * naive(i, j);
            assert!(
                (c[i * n + j] - want).abs() < 1e-9 * (1.0 + want.abs()),
                "({i},{j}): {} vs {want}",
                c[i * n + j]
            );
        }
    }
    // The same through the tensor API with the left operand stored transposed.
    let at = Tensor::from_fn(&[k, m], |q| a[(q % m) * k + q / m]);
    let got = at
        .matmul_t(&Tensor::from_vec(b.clone(), &[k, n]).unwrap(), true, false)
        .unwrap();
    for i in 0..m {
        for j in 0..n {
            assert!((got.get(&[i, j]).unwrap() - naive(i, j)).abs() < 1e-9 * (1.0 + naive(i, j).abs()));
        }
    }
}

/// Mid-sized products (a dense layer on a batch) into row-major and column-major
/// destinations, with accumulation and scaling, against the triple loop.
#[test]
fn products_into_row_and_column_major_destinations() {
    use autograd::runtime::gemm::{MatMut, MatRef, gemm};
    for (m, n, k) in [(64, 120, 400), (30, 400, 120), (33, 37, 1000)] {
        let (a, b) = operands(m, n, k);
        let naive = |i: usize, j: usize| naive_product(&a, &b, (n, k), i, j);
        let (av, bv) = (MatRef::new(&a, m, k).unwrap(), MatRef::new(&b, k, n).unwrap());
        let mut row_major = vec![0.5; m * n];
        gemm(MatMut::new(&mut row_major, m, n).unwrap(), true, av, bv, 1.0).unwrap();
        let mut col_major = vec![0.0; m * n];
        gemm(
            MatMut::strided(&mut col_major, m, n, 1, m).unwrap(),
            false,
            av,
            bv,
            2.0,
        )
        .unwrap();
        for i in 0..m {
            for j in 0..n {
                let want = naive(i, j);
                assert!(
                    (row_major[i * n + j] - (0.5 + want)).abs() < 1e-9 * (1.0 + want.abs()),
                    "{m}x{n}x{k} ({i},{j})"
                );
                assert!(
                    (col_major[j * m + i] - 2.0 * want).abs() < 1e-9 * (1.0 + want.abs()),
                    "{m}x{n}x{k} ({i},{j})"
                );
            }
        }
    }
}
