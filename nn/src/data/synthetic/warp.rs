//! The pixel-level elastic distortion of a drawn digit (Simard, Steinkraus and Platt 2003), as
//! [`transforms::Elastic`](crate::data::transforms::Elastic) defines it, but portable: `f64`,
//! the generator's SplitMix64 stream, and Gaussian taps from [`exp_neg`] (no math library), so
//! every platform gets the same bits.
//!
//! ```text
//! out(x, y) = ink(x + Δx(x, y), y + Δy(x, y))            (bilinear, 0 outside the image)
//! Δx = α · (G_σ * u_x),   Δy = α · (G_σ * u_y),   u_x(x, y), u_y(x, y) ~ U[−1, 1]
//! G_σ(k) = exp(−k² / 2σ²) / Σ_j exp(−j² / 2σ²)          (|k|, |j| ≤ r = ⌈3σ⌉, inside the image)
//! ```
//!
//! Unlike the elastic field of the strokes' path (in `render`), this one moves every pixel on
//! its own: it thins and thickens a stroke along its length and bends it at the scale of a few
//! pixels, as real handwriting and its scans do.

use super::random::{SplitMix64, exp_neg};
use super::{PIXELS, SIDE};

/// Warps `ink` (28×28, row-major) in place by a random elastic field of scale `alpha` and
/// smoothness `sigma` (pixels), drawn from `rng`: `2 · 28 · 28` uniform draws (all of `Δx`'s
/// row-major, then `Δy`'s).
pub(super) fn elastic(ink: &mut [f64; PIXELS], alpha: f64, sigma: f64, rng: &mut SplitMix64) {
    let r = ((3.0 * sigma).ceil() as usize).min(SIDE - 1);
    let taps: Vec<f64> = (0..=r)
        .map(|k| exp_neg((k * k) as f64 / (2.0 * sigma * sigma)))
        .collect();
    let mut dx = [0.0f64; PIXELS];
    let mut dy = [0.0f64; PIXELS];
    for field in [&mut dx, &mut dy] {
        field.iter_mut().for_each(|v| *v = rng.sym(1.0));
        smooth(field, &taps, alpha);
    }
    let src = *ink;
    let at = |x: isize, y: isize| -> f64 {
        if x < 0 || y < 0 || x >= SIDE as isize || y >= SIDE as isize {
            0.0
        } else {
            src[y as usize * SIDE + x as usize]
        }
    };
    for y in 0..SIDE {
        for x in 0..SIDE {
            let k = y * SIDE + x;
            let (px, py) = (x as f64 + dx[k], y as f64 + dy[k]);
            let (x0, y0) = (px.floor(), py.floor());
            let (fx, fy) = (px - x0, py - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
            let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
            ink[k] = top * (1.0 - fy) + bottom * fy;
        }
    }
}

/// Smooths a 28×28 field in place with the separable kernel `taps` (one side, centre first),
/// renormalised over the taps inside the image, then scales it by `alpha`.
fn smooth(field: &mut [f64; PIXELS], taps: &[f64], alpha: f64) {
    let r = taps.len() - 1;
    let pass = |src: &[f64; PIXELS], dst: &mut [f64; PIXELS], stride: usize, step: usize, scale: f64| {
        for line in 0..SIDE {
            for i in 0..SIDE {
                let (lo, hi) = (i.saturating_sub(r), (i + r).min(SIDE - 1));
                let (mut sum, mut norm) = (0.0, 0.0);
                for j in lo..=hi {
                    let t = taps[i.abs_diff(j)];
                    sum += t * src[line * stride + j * step];
                    norm += t;
                }
                dst[line * stride + i * step] = scale * sum / norm;
            }
        }
    };
    let mut rows = [0.0f64; PIXELS];
    pass(field, &mut rows, SIDE, 1, 1.0);
    pass(&rows, field, 1, SIDE, alpha);
}
