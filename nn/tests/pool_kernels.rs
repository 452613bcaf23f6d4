//! The f32 pooling kernels (vectorised over channels with AVX-512 or AVX2 where the CPU has
//! them, the generic loops at the baseline) against the lecture's loops in f64
//! (`nn::ops::reference`), forward and backward, for random shapes, kernels, strides and
//! paddings, channel counts around the vector widths (8 and 16 lanes, the masked tails), and
//! NaN and ±∞ injected into the input and the upstream gradient.
//!
//! - Max pooling is exact: the values are the inputs' and the upstream gradients are sums of
//!   ±1 and ½, so `Z` and `dA` must equal the reference's (NaN for NaN), which also fixes the
//!   argmax (ties: the first maximum in row-major window order; a NaN wins, a later one too).
//! - Average pooling is within f32's rounding of the reference: a sum of `k` terms and one
//!   division (or one product per term), `γ_(k+1) · Σ|terms|` (`γ_n = n·u / (1 - n·u)`).
//!
//! Max pooling's forward pass is also checked unrecorded (no mask written). Every test runs
//! again in a child process under each narrower level (`TAPEGRAD_SIMD`), and
//! all levels must give the same bits for a fixed set of cases (each kernel computes what the
//! generic loop computes, in the same order).

mod common;
use autograd::{Element, Tape, Tensor};
use common::{cases, values};
use nn::ops::pool::{Pool2dConfig, PoolGeometry, avg_pool2d, max_pool2d};
use nn::ops::reference;
use proptest::prelude::*;

/// The unit roundoff of f32.
const U32: f64 = f32::EPSILON as f64 / 2.0;

/// `γ_n` of f32, with the f64 loops' own rounding added.
fn gamma(n: usize) -> f64 {
    let nu = n as f64 * U32;
    nu / (1.0 - nu) + n as f64 * f64::EPSILON
}

/// NaN, +∞, -∞ or finite.
fn class(v: f64) -> u8 {
    if v.is_nan() {
        0
    } else if v == f64::INFINITY {
        1
    } else if v == f64::NEG_INFINITY {
        2
    } else {
        3
    }
}

/// `got` has `want`'s shape and class everywhere, and finite values within `bound` of it.
fn within(
    what: &str,
    got: &Tensor<f64>,
    want: &Tensor<f64>,
    bound: &Tensor<f64>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.shape(), want.shape(), "{} shape", what);
    for (i, ((&g, &w), &b)) in got
        .as_slice()
        .iter()
        .zip(want.as_slice())
        .zip(bound.as_slice())
        .enumerate()
    {
        prop_assert!(class(g) == class(w), "{}[{}]: f32 {} vs f64 {}", what, i, g, w);
        prop_assert!(
            class(w) != 3 || (g - w).abs() <= b,
            "{}[{}]: f32 {} vs f64 {} (bound {:e})",
            what,
            i,
            g,
            w,
            b
        );
    }
    Ok(())
}

/// NaN, +∞ or -∞ at the given spots (positions modulo the length).
fn inject(t: &mut Tensor<f64>, spots: &[(usize, u8)]) {
    let len = t.numel();
    for &(at, kind) in spots {
        t.as_mut_slice()[at % len] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][kind as usize % 3];
    }
}

/// A pooling in `T` (`avg` with its `count_include_pad`, or max): `[Z, dA]` for upstream `dz`.
fn pool<T: Element>(
    x: &Tensor<f64>,
    dz: &Tensor<f64>,
    cfg: Pool2dConfig,
    avg: Option<bool>,
) -> [Tensor<f64>; 2] {
    let tape = Tape::<T>::new();
    let xv = tape.var(x.cast());
    let z = match avg {
        Some(include_pad) => avg_pool2d(&xv, cfg, include_pad),
        None => max_pool2d(&xv, cfg),
    }
    .unwrap();
    let da = tape.backward_with(&z, dz.cast()).unwrap()[&xv].cast();
    [z.value().cast(), da]
}

/// Max pooling's `Z` in f32 on a tape that records nothing (the forward pass without the
/// mask).
fn unrecorded_max_pool(x: &Tensor<f64>, cfg: Pool2dConfig) -> Tensor<f64> {
    let tape = Tape::<f32>::no_grad();
    max_pool2d(&tape.constant(x.cast()), cfg).unwrap().value().cast()
}

/// A pooling case: input shape, configuration (padding at most half the kernel, windows that
/// fit), seed.
fn geometry() -> impl Strategy<Value = ([usize; 4], Pool2dConfig, u64)> {
    (
        (1..=3usize, 1..=11usize, 1..=11usize),
        prop::sample::select(vec![
            1usize, 2, 3, 5, 6, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 33, 64,
        ]),
        (
            (1..=3usize, 1..=3usize),
            (1..=3usize, 1..=3usize),
            (0..=1usize, 0..=1usize),
        ),
        any::<u64>(),
    )
        .prop_filter_map(
            "the window must fit",
            |((n, h, w), c, (kernel, stride, pad), seed)| {
                let padding = (pad.0.min(kernel.0 / 2), pad.1.min(kernel.1 / 2));
                let fits = h + 2 * padding.0 >= kernel.0 && w + 2 * padding.1 >= kernel.1;
                fits.then_some((
                    [n, h, w, c],
                    Pool2dConfig {
                        kernel,
                        stride,
                        padding,
                    },
                    seed,
                ))
            },
        )
}

/// A case whose windows tile the input exactly (`f = s`, no padding, `f` dividing `H` and
/// `W`), where every input element lies in exactly one window.
fn tiled() -> impl Strategy<Value = ([usize; 4], Pool2dConfig, u64)> {
    let c = prop::sample::select(vec![1usize, 3, 6, 7, 8, 9, 16, 17, 24, 33, 64]);
    (
        (1..=3usize, 1..=5usize, 1..=5usize),
        c,
        (1..=3usize, 1..=3usize),
        any::<u64>(),
    )
        .prop_map(|((n, oh, ow), c, kernel, seed)| {
            let cfg = Pool2dConfig {
                kernel,
                stride: kernel,
                padding: (0, 0),
            };
            ([n, oh * kernel.0, ow * kernel.1, c], cfg, seed)
        })
}

/// Inputs at a few levels (ties in most windows), as f32 values.
fn tied(shape: &[usize], seed: u64) -> Tensor<f64> {
    values(shape, seed).map(|v| (v * 2.0).round() / 2.0)
}

/// The upstream gradient: ±1 and ½, exact in f32 and in their sums.
fn upstream(shape: &[usize]) -> Tensor<f64> {
    Tensor::from_fn(shape, |i| if i % 3 == 0 { -1.0 } else { 0.5 })
}

/// The special values' spots: none to several.
fn spots() -> impl Strategy<Value = Vec<(usize, u8)>> {
    prop::collection::vec((any::<usize>(), 0..3u8), 0..=6)
}

/// In a child run of [`every_level`]: the cap holds, and the test leaves its mark.
fn child_checks(test: &str) -> Result<(), TestCaseError> {
    use autograd::runtime::simd::{Level, level};
    match std::env::var("TAPEGRAD_SIMD").as_deref() {
        Ok("avx2") => prop_assert!(level() <= Level::Avx2),
        Ok("baseline") => prop_assert_eq!(level(), Level::Baseline),
        _ => {}
    }
    if let Some(dir) = std::env::var_os("TAPEGRAD_CHILD_MARKS") {
        std::fs::write(std::path::Path::new(&dir).join(test), b"ran\n").unwrap();
    }
    Ok(())
}

/// The tests [`every_level`] runs again in a child process.
const CHILD_TESTS: [&str; 2] = ["max_pool_matches_reference", "avg_pool_matches_reference"];

proptest! {
    #![proptest_config(cases(96))]

    /// Max pooling in f32: `Z` and `dA` exactly the reference's.
    #[test]
    fn max_pool_matches_reference(
        (shape, cfg, seed) in prop_oneof![geometry(), tiled()],
        x_spots in spots(),
        dz_spots in spots(),
    ) {
        child_checks(CHILD_TESTS[0])?;
        let mut x = tied(&shape, seed);
        inject(&mut x, &x_spots);
        let g = PoolGeometry::new("max_pool2d", &shape, cfg).unwrap();
        let mut dz = upstream(&g.output_shape());
        inject(&mut dz, &dz_spots);
        let (z_want, da_want) = reference::max_pool2d(&x, &dz, &g);
        let [z, da] = pool::<f32>(&x, &dz, cfg, None);
        within("Z", &z, &z_want, &Tensor::zeros(z.shape()))?;
        within("dA", &da, &da_want, &Tensor::zeros(da.shape()))?;
        // Not recorded (inference), the kernels skip the mask: the same `Z`.
        let z_free = unrecorded_max_pool(&x, cfg);
        within("Z, not recorded", &z_free, &z_want, &Tensor::zeros(z.shape()))?;
    }

    /// Average pooling in f32, both divisors: `Z` and `dA` within f32's rounding.
    #[test]
    fn avg_pool_matches_reference(
        (shape, cfg, seed) in geometry(),
        include_pad in any::<bool>(),
        x_spots in spots(),
        dz_spots in spots(),
    ) {
        child_checks(CHILD_TESTS[1])?;
        let mut x = values(&shape, seed).cast::<f32>().cast::<f64>();
        inject(&mut x, &x_spots);
        let g = PoolGeometry::new("avg_pool2d", &shape, cfg).unwrap();
        let mut dz = values(&g.output_shape(), seed ^ 1).cast::<f32>().cast::<f64>();
        inject(&mut dz, &dz_spots);
        let (z_want, da_want) = reference::avg_pool2d(&x, &dz, &g, include_pad);
        let [z, da] = pool::<f32>(&x, &dz, cfg, Some(include_pad));
        let abs = |t: &Tensor<f64>| t.map(f64::abs);
        let (z_abs, da_abs) = reference::avg_pool2d(&abs(&x), &abs(&dz), &g, include_pad);
        let k = cfg.kernel.0 * cfg.kernel.1;
        within("Z", &z, &z_want, &z_abs.map(|v| gamma(k + 1) * v))?;
        within("dA", &da, &da_want, &da_abs.map(|v| gamma(k + 1) * v))?;
    }
}

/// The bits of `Z` and `dA` of max and average pooling over fixed cases (ties, NaN and ±∞,
/// channel counts around the vector widths), as one hash.
fn digest() -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hash = DefaultHasher::new();
    // (H, W, C, f, s, p); 8x6 with f = s = 2 and 9x6 with f = s = 3 tile the input exactly.
    let cases = [
        (9, 7, 1, 2, 2, 0),
        (9, 7, 6, 2, 2, 0),
        (9, 7, 9, 3, 2, 1),
        (9, 7, 17, 3, 1, 1),
        (9, 7, 64, 2, 2, 0),
        (9, 7, 40, 3, 3, 1),
        (8, 6, 6, 2, 2, 0),
        (8, 6, 25, 2, 2, 0),
        (9, 6, 3, 3, 3, 0),
    ];
    for (i, (h, w, c, f, s, p)) in cases.into_iter().enumerate() {
        let shape = [2, h, w, c];
        let cfg = Pool2dConfig::new(f).stride(s).padding(p);
        let g = PoolGeometry::new("digest", &shape, cfg).unwrap();
        let mut x = tied(&shape, i as u64);
        inject(
            &mut x,
            &[(3 * i + 1, 0), (7 * i + 5, 1), (11 * i + 2, 2), (40, 0)],
        );
        // Distinct upstream values, so that `dA` shows every argmax.
        let dz = Tensor::from_fn(&g.output_shape(), |j| j as f64 * 0.25 - 3.0);
        unrecorded_max_pool(&x, cfg)
            .as_slice()
            .iter()
            .for_each(|v| (*v as f32).to_bits().hash(&mut hash));
        for avg in [None, Some(true), Some(false)] {
            for t in pool::<f32>(&x, &dz, cfg, avg) {
                t.as_slice()
                    .iter()
                    .for_each(|v| (*v as f32).to_bits().hash(&mut hash));
            }
        }
    }
    hash.finish()
}

/// A child's line: the digest of [`digest`] at its level.
#[test]
fn print_digest() {
    if std::env::var_os("TAPEGRAD_SIMD").is_some() {
        println!("pool digest {:016x}", digest());
    }
}

/// The tests above under each narrower instruction set (the level is read once per process,
/// so the binary runs itself again with `TAPEGRAD_SIMD`): the property tests must pass and
/// leave their marks, and the digest must be this process's. x86-64 only: elsewhere the
/// level is always the baseline.
#[cfg(target_arch = "x86_64")]
#[test]
fn every_level() {
    if std::env::var_os("TAPEGRAD_SIMD").is_some() {
        return; // the child run
    }
    let here = format!("pool digest {:016x}", digest());
    for level in ["avx2", "baseline"] {
        let marks =
            std::env::temp_dir().join(format!("tapegrad-pool-kernels-{}-{level}", std::process::id()));
        let _ = std::fs::remove_dir_all(&marks);
        std::fs::create_dir_all(&marks).unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--test-threads=1", "--nocapture", "--skip", "every_level"])
            .env("TAPEGRAD_SIMD", level)
            .env("TAPEGRAD_CHILD_MARKS", &marks)
            .output()
            .unwrap();
        let missing: Vec<&str> = CHILD_TESTS
            .into_iter()
            .filter(|t| !marks.join(t).exists())
            .collect();
        let _ = std::fs::remove_dir_all(&marks);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && missing.is_empty() && stdout.contains(&here),
            "TAPEGRAD_SIMD={level}: child {} (tests that did not run: {missing:?}; want {here})\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
