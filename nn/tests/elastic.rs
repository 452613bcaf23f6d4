//! The elastic distortion against what it is built from: α = 0 copies, a constant field is a
//! pure translation (by hand for whole pixels, and the same as the affine transform's for
//! fractions), channels move together, the smoothed field's spread matches the variance of a
//! Gaussian-weighted mean of uniform draws (so a bigger σ gives a smaller field for the same
//! α), the field is a function of `(seed, epoch, index)`, and bad input gives errors.

use nn::data::transforms::{Affine, DisplacementField, Elastic, ImageShape, sample_rng};
use proptest::prelude::*;

fn image(shape: ImageShape, seed: u64) -> Vec<f32> {
    (0..shape.len())
        .map(|i| ((i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / 1e4)
        .collect()
}

fn displace<P: nn::data::transforms::Pixel>(
    field: &DisplacementField,
    src: &[P],
    shape: ImageShape,
    fill: P,
) -> Vec<P> {
    let mut out = vec![fill; shape.len()];
    field.apply(src, shape, fill, &mut out).unwrap();
    out
}

proptest! {
    #[test]
    fn alpha_zero_is_the_identity(h in 1..12usize, w in 1..12usize, c in 1..4usize, sigma in 0.3f32..6.0, seed in any::<u64>()) {
        let shape = ImageShape { h, w, c };
        let field = Elastic { alpha: 0.0, sigma }.sample(&mut sample_rng(seed, 0, 0), shape).unwrap();
        let src = image(shape, seed);
        prop_assert_eq!(displace(&field, &src, shape, -1.0), src.clone());
        let bytes: Vec<u8> = src.iter().map(|&v| (v * 40.0) as u8).collect();
        prop_assert_eq!(displace(&field, &bytes, shape, 7u8), bytes);
    }

    /// out[y][x] = in[y + dy][x + dx], the fill where that is outside.
    #[test]
    fn a_constant_whole_pixel_field_shifts(
        h in 1..8usize, w in 1..8usize, c in 1..3usize, dx in -4..5i32, dy in -4..5i32, seed in any::<u64>(),
    ) {
        let shape = ImageShape { h, w, c };
        let src = image(shape, seed);
        let out = displace(&DisplacementField::constant(h, w, dx as f32, dy as f32), &src, shape, -3.0);
        for y in 0..h as i32 {
            for x in 0..w as i32 {
                for ch in 0..c {
                    let (sx, sy) = (x + dx, y + dy);
                    let expected = if (0..w as i32).contains(&sx) && (0..h as i32).contains(&sy) {
                        src[(sy as usize * w + sx as usize) * c + ch]
                    } else {
                        -3.0
                    };
                    prop_assert_eq!(out[(y as usize * w + x as usize) * c + ch], expected);
                }
            }
        }
    }

    /// A constant field `(dx, dy)` reads every pixel from `(x + dx, y + dy)`: the affine
    /// transform's translation by `(−dx, −dy)`.
    #[test]
    fn a_constant_field_is_the_affine_translation(
        h in 1..10usize, w in 1..10usize, c in 1..3usize, dx in -3.0f32..3.0, dy in -3.0f32..3.0, seed in any::<u64>(),
    ) {
        let shape = ImageShape { h, w, c };
        let src = image(shape, seed);
        let out = displace(&DisplacementField::constant(h, w, dx, dy), &src, shape, 0.5);
        let mut affine = vec![0.0; shape.len()];
        Affine { translation: (-dx, -dy), ..Affine::default() }.apply(&src, shape, 0.5, &mut affine).unwrap();
        // Equal up to the rounding of the two ways of computing the source point: a few ulps
        // of coordinates below max(h, w) + 3, moving each of the two interpolation weights
        // across neighbours that differ by at most twice the largest value.
        let big = src.iter().fold(0.5f32, |m, v| m.max(v.abs()));
        let tol = 2.0 * (2.0 * big) * 8.0 * f32::EPSILON * (h.max(w) as f32 + 3.0);
        for (a, b) in out.iter().zip(&affine) {
            prop_assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
        }
    }
}

#[test]
fn channels_move_together() {
    let shape = ImageShape { h: 9, w: 11, c: 3 };
    let one = ImageShape { c: 1, ..shape };
    let field = Elastic {
        alpha: 6.0,
        sigma: 2.0,
    }
    .sample(&mut sample_rng(3, 1, 4), shape)
    .unwrap();
    let src = image(shape, 9);
    let out = displace(&field, &src, shape, 0.25);
    for ch in 0..3 {
        let plane: Vec<f32> = src.iter().skip(ch).step_by(3).copied().collect();
        let moved = displace(&field, &plane, one, 0.25);
        let got: Vec<f32> = out.iter().skip(ch).step_by(3).copied().collect();
        assert_eq!(got, moved, "channel {ch}");
    }
}

#[test]
fn u8_pixels_are_rounded_mixes() {
    // Half a pixel to the right of 10 is halfway to 21: 15.5, rounded to 16.
    let shape = ImageShape { h: 1, w: 2, c: 1 };
    let field = DisplacementField::constant(1, 2, 0.5, 0.0);
    assert_eq!(displace(&field, &[10u8, 21], shape, 0), [16, 11]);
}

/// Over the interior (at least `3σ` from the border), each component is `α` times a weighted
/// mean `Σ_k g_k u_k / Σ_k g_k` of independent U[−1, 1] draws (variance 1/3) with the 2-D
/// weights `g_i g_j`, so its variance is `α² / 3 · (Σ g_k² / (Σ g_k)²)²`.
fn predicted_std(alpha: f64, sigma: f64) -> f64 {
    let r = (3.0 * sigma).ceil() as i64;
    let g: Vec<f64> = (-r..=r)
        .map(|k| (-(k * k) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let (s1, s2) = (g.iter().sum::<f64>(), g.iter().map(|v| v * v).sum::<f64>());
    alpha * (s2 / (s1 * s1)) / 3f64.sqrt()
}

#[test]
fn the_field_has_the_spread_of_smoothed_uniform_noise() {
    let shape = ImageShape { h: 96, w: 96, c: 1 };
    let alpha = 10.0;
    let mut last_mean_abs = f64::INFINITY;
    for sigma in [1.0f32, 2.0, 4.0, 6.0] {
        let margin = (3.0 * sigma).ceil() as usize;
        let (mut sum, mut sum2, mut abs, mut n) = (0.0f64, 0.0f64, 0.0f64, 0usize);
        for index in 0..8 {
            let field = Elastic { alpha, sigma }
                .sample(&mut sample_rng(11, 0, index), shape)
                .unwrap();
            for y in margin..shape.h - margin {
                for x in margin..shape.w - margin {
                    for v in [field.dx[y * shape.w + x], field.dy[y * shape.w + x]] {
                        let v = v as f64;
                        (sum, sum2, abs, n) = (sum + v, sum2 + v * v, abs + v.abs(), n + 1);
                    }
                }
            }
        }
        let mean = sum / n as f64;
        let std = (sum2 / n as f64 - mean * mean).sqrt();
        let predicted = predicted_std(alpha as f64, sigma as f64);
        assert!(
            (std / predicted - 1.0).abs() < 0.15,
            "sigma {sigma}: std {std}, predicted {predicted}"
        );
        assert!(mean.abs() < 0.25 * predicted, "sigma {sigma}: mean {mean}");
        let mean_abs = abs / n as f64;
        assert!(
            mean_abs < last_mean_abs,
            "sigma {sigma}: mean |displacement| {mean_abs}, not below {last_mean_abs}"
        );
        last_mean_abs = mean_abs;
    }
}

#[test]
fn the_field_is_smooth_and_the_border_keeps_its_scale() {
    // Neighbouring displacements nearly agree for σ = 4, and the border pixels (where the
    // kernel is renormalised) spread as much as the interior ones, give or take.
    let shape = ImageShape { h: 64, w: 64, c: 1 };
    let (mut diff, mut spread, mut edge, mut n, mut n_edge) = (0.0f64, 0.0f64, 0.0f64, 0, 0);
    for index in 0..8 {
        let f = Elastic {
            alpha: 1.0,
            sigma: 4.0,
        }
        .sample(&mut sample_rng(5, 2, index), shape)
        .unwrap();
        for y in 0..64 {
            for x in 0..63 {
                let (a, b) = (f.dx[y * 64 + x] as f64, f.dx[y * 64 + x + 1] as f64);
                diff += (a - b).powi(2);
                if (12..52).contains(&x) && (12..52).contains(&y) {
                    spread += a * a;
                    n += 1;
                }
                if x == 0 && (12..52).contains(&y) {
                    edge += a * a;
                    n_edge += 1;
                }
            }
        }
    }
    let (diff, spread, edge) = (
        diff / (8 * 64 * 63) as f64,
        spread / n as f64,
        edge / n_edge as f64,
    );
    assert!(
        diff < 0.05 * spread,
        "neighbour difference {diff} vs spread {spread}"
    );
    assert!(
        (0.7..4.0).contains(&(edge / spread)),
        "border {edge} vs interior {spread}"
    );
}

#[test]
fn the_field_depends_on_seed_epoch_and_index_only() {
    let shape = ImageShape { h: 28, w: 28, c: 1 };
    let elastic = Elastic {
        alpha: 34.0,
        sigma: 4.0,
    };
    let draw = |s, e, i| elastic.sample(&mut sample_rng(s, e, i), shape).unwrap();
    assert_eq!(draw(1, 2, 3), draw(1, 2, 3));
    assert_ne!(draw(1, 2, 3), draw(1, 2, 4));
    assert_ne!(draw(1, 2, 3), draw(1, 3, 3));
    assert_ne!(draw(1, 2, 3), draw(2, 2, 3));
    let f = draw(1, 2, 3);
    assert_eq!((f.h, f.w, f.dx.len(), f.dy.len()), (28, 28, 784, 784));
    assert_ne!(f.dx, f.dy);
}

#[test]
fn bad_parameters_and_shapes_are_errors() {
    let shape = ImageShape { h: 4, w: 5, c: 2 };
    for (alpha, sigma) in [
        (-1.0, 2.0),
        (f32::NAN, 2.0),
        (f32::INFINITY, 2.0),
        (3.0, 0.0),
        (3.0, -1.0),
        (3.0, f32::NAN),
        (3.0, f32::INFINITY),
    ] {
        let e = Elastic { alpha, sigma }
            .sample(&mut sample_rng(0, 0, 0), shape)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Elastic") && e.contains("sigma"), "{e}");
    }
    let e = DisplacementField::new(4, 5, vec![0.0; 20], vec![0.0; 19])
        .unwrap_err()
        .to_string();
    assert!(e.contains("DisplacementField::new") && e.contains("4x5"), "{e}");

    let field = DisplacementField::constant(4, 5, 0.0, 0.0);
    let src = vec![0.0f32; shape.len()];
    let mut short = vec![0.0f32; shape.len() - 1];
    let e = field.apply(&src, shape, 0.0, &mut short).unwrap_err().to_string();
    assert!(e.contains("DisplacementField::apply") && e.contains("40"), "{e}");
    let mut dst = vec![0.0f32; shape.len()];
    let other = ImageShape { h: 5, w: 4, c: 2 };
    let e = field.apply(&src, other, 0.0, &mut dst).unwrap_err().to_string();
    assert!(e.contains("DisplacementField::apply") && e.contains("4x5"), "{e}");
    // A field whose components were cut short after construction.
    let mut cut = field.clone();
    cut.dy.pop();
    let e = cut.apply(&src, shape, 0.0, &mut dst).unwrap_err().to_string();
    assert!(e.contains("DisplacementField::apply"), "{e}");
}
