//! The affine transform against what each parameter means on its own: the identity copies,
//! an integer translation shifts (fill where nothing comes in), a 90° rotation moves every
//! pixel to the place worked out by hand, a half-pixel shift averages neighbours, a scale of
//! 2 about the centre of an odd image keeps the centre pixel; and the per-sample random
//! stream depends on `(seed, epoch, index)` only.

use nn::data::transforms::{Affine, ImageShape, RandomAffine, sample_rng};
use proptest::prelude::*;

fn image(shape: ImageShape, seed: u64) -> Vec<f32> {
    (0..shape.len())
        .map(|i| ((i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / 1e4)
        .collect()
}

fn apply(t: Affine, src: &[f32], shape: ImageShape, fill: f32) -> Vec<f32> {
    let mut out = vec![0.0; shape.len()];
    t.apply(src, shape, fill, &mut out).unwrap();
    out
}

fn at(v: &[f32], shape: ImageShape, y: usize, x: usize, ch: usize) -> f32 {
    v[(y * shape.w + x) * shape.c + ch]
}

proptest! {
    #[test]
    fn the_identity_copies_exactly(h in 1..9usize, w in 1..9usize, c in 1..4usize, seed in any::<u64>()) {
        let shape = ImageShape { h, w, c };
        let src = image(shape, seed);
        prop_assert_eq!(apply(Affine::default(), &src, shape, -1.0), src);
    }

    /// out[y][x] = in[y - ty][x - tx], the fill where that is outside.
    #[test]
    fn an_integer_translation_shifts(
        h in 1..8usize, w in 1..8usize, c in 1..3usize, tx in -4..5i32, ty in -4..5i32, seed in any::<u64>(),
    ) {
        let shape = ImageShape { h, w, c };
        let src = image(shape, seed);
        let t = Affine { translation: (tx as f32, ty as f32), ..Affine::default() };
        let out = apply(t, &src, shape, -7.0);
        for y in 0..h {
            for x in 0..w {
                let (sy, sx) = (y as i32 - ty, x as i32 - tx);
                for ch in 0..c {
                    let want = if sy < 0 || sx < 0 || sy >= h as i32 || sx >= w as i32 {
                        -7.0
                    } else {
                        at(&src, shape, sy as usize, sx as usize, ch)
                    };
                    prop_assert_eq!(at(&out, shape, y, x, ch), want, "({}, {}) ch {}", y, x, ch);
                }
            }
        }
    }

    /// A quarter turn counter-clockwise (as displayed) of a square image: the pixel right of
    /// the centre goes above it, so out[y][x] = in[x][n - 1 - y].
    #[test]
    fn a_quarter_turn_moves_pixels_where_worked_out(n in 1..8usize, c in 1..3usize, seed in any::<u64>()) {
        let shape = ImageShape { h: n, w: n, c };
        let src = image(shape, seed);
        let out = apply(Affine { rotation: 90.0, ..Affine::default() }, &src, shape, 0.0);
        // f32's 90° is not exact (cos = -4.4e-8): sample points land ~1e-7 px off the grid,
        // which mixes in that much of a neighbour.
        let tol = 1e-5 * src.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for y in 0..n {
            for x in 0..n {
                for ch in 0..c {
                    let want = at(&src, shape, x, n - 1 - y, ch);
                    let got = at(&out, shape, y, x, ch);
                    prop_assert!((got - want).abs() <= tol, "({}, {}): {} vs {}", y, x, got, want);
                }
            }
        }
    }

    #[test]
    fn the_same_sample_draws_the_same_transform(seed in any::<u64>(), epoch in 0..100u64, index in 0..100_000u64) {
        let shape = ImageShape { h: 28, w: 28, c: 1 };
        let r = RandomAffine::new().degrees(30.0).translate(0.1, 0.2).scale(0.8, 1.2).shear(10.0);
        let a = r.sample(&mut sample_rng(seed, epoch, index), shape).unwrap();
        prop_assert_eq!(a, r.sample(&mut sample_rng(seed, epoch, index), shape).unwrap());
        prop_assert!(a.rotation.abs() <= 30.0 && a.translation.0.abs() <= 2.8 && a.translation.1.abs() <= 5.6);
        prop_assert!((0.8..=1.2).contains(&a.scale) && a.shear.abs() <= 10.0);
        // Another sample, epoch or seed draws another one.
        for (s, e, i) in [(seed, epoch, index + 1), (seed, epoch + 1, index), (seed ^ 1, epoch, index)] {
            prop_assert_ne!(a, r.sample(&mut sample_rng(s, e, i), shape).unwrap());
        }
    }
}

/// Half a pixel to the right: each output is the mean of its two neighbours in the row.
#[test]
fn a_half_pixel_shift_averages_neighbours() {
    let shape = ImageShape { h: 1, w: 4, c: 1 };
    let out = apply(
        Affine {
            translation: (0.5, 0.0),
            ..Affine::default()
        },
        &[0.0, 2.0, 4.0, 8.0],
        shape,
        10.0,
    );
    assert_eq!(out, vec![5.0, 1.0, 3.0, 6.0]);
}

/// Twice the size about the centre of a 5x5 image: the centre stays, its neighbours are
/// halfway between it and the next pixel out.
#[test]
fn scaling_about_the_centre() {
    let shape = ImageShape { h: 5, w: 5, c: 1 };
    let src: Vec<f32> = (0..25).map(|i| i as f32).collect();
    let out = apply(
        Affine {
            scale: 2.0,
            ..Affine::default()
        },
        &src,
        shape,
        0.0,
    );
    assert_eq!(at(&out, shape, 2, 2, 0), 12.0);
    assert_eq!(at(&out, shape, 2, 3, 0), 12.5);
    assert_eq!(at(&out, shape, 1, 2, 0), 9.5);
}

#[test]
fn u8_values_round_and_clamp() {
    let shape = ImageShape { h: 1, w: 2, c: 1 };
    let mut out = [0u8; 2];
    Affine {
        translation: (0.5, 0.0),
        ..Affine::default()
    }
    .apply(&[10u8, 13], shape, 255, &mut out)
    .unwrap();
    assert_eq!(out, [133, 12]); // (255 + 10) / 2 = 132.5 rounds to 133; (10 + 13) / 2 = 11.5 to 12
}

#[test]
fn bad_input_is_an_error_naming_what() {
    let shape = ImageShape { h: 2, w: 2, c: 1 };
    let mut out = [0.0f32; 3];
    let e = Affine::default()
        .apply(&[0.0; 4], shape, 0.0, &mut out)
        .unwrap_err();
    assert!(e.to_string().contains("Affine::apply"), "{e}");
    let singular = Affine {
        scale: 0.0,
        ..Affine::default()
    };
    let e = singular.apply(&[0.0; 4], shape, 0.0, &mut [0.0; 4]).unwrap_err();
    assert!(e.to_string().contains("not invertible"), "{e}");
    let bad = RandomAffine::new().scale(1.2, 0.8);
    let e = bad.sample(&mut sample_rng(0, 0, 0), shape).unwrap_err();
    assert!(e.to_string().contains("scale"), "{e}");
    let bad = RandomAffine::new().degrees(f32::NAN);
    assert!(bad.sample(&mut sample_rng(0, 0, 0), shape).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Bytes are mixed as `f32` values are, then rounded half up: the `u8` path (vector code on
    /// AVX2 machines for one channel) against the `f32` path (scalar), point for point,
    /// whatever part of the image falls outside.
    #[test]
    fn bytes_are_the_rounded_f32_mix(
        h in 1..40usize,
        w in 1..40usize,
        rotation in -40.0f32..40.0,
        tx in -12.0f32..12.0,
        ty in -12.0f32..12.0,
        scale in 0.6f32..1.6,
        shear in -20.0f32..20.0,
        fill in any::<u8>(),
        seed in any::<u64>(),
    ) {
        let shape = ImageShape { h, w, c: 1 };
        let bytes: Vec<u8> = (0..shape.len() as u64)
            .map(|i| ((i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
            .collect();
        let t = Affine { rotation, translation: (tx, ty), scale, shear };
        let mut got = vec![0u8; shape.len()];
        t.apply(&bytes, shape, fill, &mut got).unwrap();
        let floats: Vec<f32> = bytes.iter().map(|&b| b as f32).collect();
        let want = apply(t, &floats, shape, fill as f32);
        for (k, (&g, &f)) in got.iter().zip(&want).enumerate() {
            prop_assert_eq!(g, (f + 0.5) as u8, "pixel {} of {:?}: f32 mix {}", k, shape, f);
        }
    }
}
