//! Elastic distortion (Simard, Steinkraus and Platt 2003, "Best practices for convolutional
//! neural networks applied to visual document analysis"): every pixel reads the source at a
//! point displaced by a smooth random field.
//!
//! With pixel `(x, y)` at integer coordinates (`x` to the right, `y` down), the output is
//!
//! ```text
//! out(x, y) = src(x + Δx(x, y), y + Δy(x, y))            (bilinear, `fill` outside the image)
//! Δx = α · (G_σ * u_x),   Δy = α · (G_σ * u_y),   u_x(x, y), u_y(x, y) ~ U[−1, 1] independently
//! G_σ(k) = exp(−k² / 2σ²) / Σ_j exp(−j² / 2σ²)          (|k|, |j| ≤ r = ⌈3σ⌉)
//! ```
//!
//! `G_σ *` is a separable Gaussian smoothing (a row pass, then a column pass) truncated at
//! `r = ⌈3σ⌉` pixels. At the border the kernel is renormalised over the taps that fall inside
//! the image (`Σ_j` runs over those only), so the field keeps its scale up to the edges and a
//! constant field stays constant. `α` (pixels) scales the smoothed field: a bigger `σ`
//! averages more of the uniform draws and gives a smoother, smaller field for the same `α`.
//! Simard et al. used `σ = 4`, `α = 34` on MNIST's 28×28 digits.
//!
//! A field says where each output pixel *reads* from: a constant field `Δ = (d_x, d_y)` moves
//! the picture by `(−d_x, −d_y)`, the same as [`Affine`](super::Affine) with translation
//! `(−d_x, −d_y)`.

use super::{ImageShape, Pixel, bilinear};
use autograd::{Error, Result};
use rand::RngExt;
use rand::rngs::StdRng;

/// A per-pixel displacement field `(Δx, Δy)` for images of `h × w` pixels (any channel count),
/// row-major: `dx[y * w + x]` is `Δx(x, y)`.
#[derive(Clone, Debug, PartialEq)]
pub struct DisplacementField {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// `Δx`, pixels, positive to the right.
    pub dx: Vec<f32>,
    /// `Δy`, pixels, positive downward.
    pub dy: Vec<f32>,
}

impl DisplacementField {
    /// A field from its two components; fails unless both hold `h · w` values.
    pub fn new(h: usize, w: usize, dx: Vec<f32>, dy: Vec<f32>) -> Result<Self> {
        if dx.len() != h * w || dy.len() != h * w {
            return Err(Error::invalid(
                "DisplacementField::new",
                &[dx.len(), dy.len()],
                format!("a field of {h}x{w} pixels needs {} values per component", h * w),
            ));
        }
        Ok(DisplacementField { h, w, dx, dy })
    }

    /// The same displacement `(dx, dy)` at every pixel.
    pub fn constant(h: usize, w: usize, dx: f32, dy: f32) -> Self {
        DisplacementField {
            h,
            w,
            dx: vec![dx; h * w],
            dy: vec![dy; h * w],
        }
    }

    /// Writes `src` (an image of `shape`) displaced into `dst` (the same shape): `dst` at
    /// `(x, y)` is the bilinear mix of `src` around `(x + Δx, y + Δy)`, each neighbour outside
    /// the image reading as `fill`. Fails when the buffers do not hold `shape` or the field is
    /// not of `shape`'s height and width.
    ///
    /// ```
    /// use nn::data::transforms::{DisplacementField, ImageShape};
    /// let shape = ImageShape { h: 1, w: 3, c: 1 };
    /// let mut out = [0u8; 3];
    /// // Every pixel reads its left neighbour: the picture moves one pixel to the right.
    /// let field = DisplacementField::constant(1, 3, -1.0, 0.0);
    /// field.apply(&[10u8, 20, 30], shape, 255, &mut out).unwrap();
    /// assert_eq!(out, [255, 10, 20]);
    /// ```
    pub fn apply<P: Pixel>(&self, src: &[P], shape: ImageShape, fill: P, dst: &mut [P]) -> Result<()> {
        if src.len() != shape.len() || dst.len() != shape.len() {
            return Err(Error::invalid(
                "DisplacementField::apply",
                &[src.len(), dst.len()],
                format!(
                    "source and destination must both hold {shape:?}: {} values",
                    shape.len()
                ),
            ));
        }
        if (self.h, self.w) != (shape.h, shape.w)
            || self.dx.len() != self.h * self.w
            || self.dy.len() != self.h * self.w
        {
            return Err(Error::invalid(
                "DisplacementField::apply",
                &[self.h, self.w],
                format!(
                    "the field ({}x{}, {} and {} values) does not fit images of {shape:?}",
                    self.h,
                    self.w,
                    self.dx.len(),
                    self.dy.len()
                ),
            ));
        }
        let fill = fill.to_f32();
        let c = shape.c;
        for y in 0..shape.h {
            for x in 0..shape.w {
                let k = y * shape.w + x;
                let p = (x as f32 + self.dx[k], y as f32 + self.dy[k]);
                bilinear::sample(src, shape, fill, p, &mut dst[k * c..][..c]);
            }
        }
        Ok(())
    }
}

/// Random elastic distortions: each sample draws a [`DisplacementField`] as the module doc
/// describes, with scale `alpha` and smoothness `sigma` (both in pixels).
///
/// ```
/// use nn::data::transforms::{Elastic, ImageShape, sample_rng};
/// let shape = ImageShape { h: 28, w: 28, c: 1 };
/// let image = vec![0u8; shape.len()];
/// let elastic = Elastic { alpha: 34.0, sigma: 4.0 };
/// let field = elastic.sample(&mut sample_rng(42, 0, 7), shape).unwrap();
/// let mut out = vec![0u8; shape.len()];
/// field.apply(&image, shape, 0, &mut out).unwrap();
/// // The same (seed, epoch, index) draws the same field.
/// assert_eq!(field, elastic.sample(&mut sample_rng(42, 0, 7), shape).unwrap());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elastic {
    /// `α`: the scale of the smoothed field, pixels; 0 is the identity.
    pub alpha: f32,
    /// `σ`: the Gaussian's standard deviation, pixels; must be positive.
    pub sigma: f32,
}

impl Elastic {
    /// Draws one field for images of `shape` from `rng`: `2 · H · W` uniform draws (all of
    /// `Δx`'s row-major, then `Δy`'s), smoothed and scaled. Fails on an `alpha` that is
    /// negative or not finite and a `sigma` that is not positive and finite.
    pub fn sample(&self, rng: &mut StdRng, shape: ImageShape) -> Result<DisplacementField> {
        let ok = self.alpha.is_finite() && self.alpha >= 0.0 && self.sigma.is_finite() && self.sigma > 0.0;
        if !ok {
            return Err(Error::invalid(
                "Elastic",
                &[],
                format!("alpha must be finite and >= 0 and sigma finite and > 0: {self:?}"),
            ));
        }
        let (h, w) = (shape.h, shape.w);
        let mut uniform =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0f32..=1.0)).collect() };
        let (mut dx, mut dy) = (uniform(h * w), uniform(h * w));
        let kernel = gaussian(self.sigma, h.max(w));
        let mut scratch = vec![0.0f32; h * w];
        for field in [&mut dx, &mut dy] {
            smooth(field, &mut scratch, h, w, &kernel, self.alpha);
        }
        Ok(DisplacementField { h, w, dx, dy })
    }
}

/// The unnormalised Gaussian taps `exp(−k² / 2σ²)` for `k = 0..=r`, `r = ⌈3σ⌉` (at most
/// `longest`, beyond which no tap can fall inside an image).
fn gaussian(sigma: f32, longest: usize) -> Vec<f32> {
    let r = ((3.0 * sigma).ceil() as usize).min(longest);
    (0..=r)
        .map(|k| (-((k * k) as f32) / (2.0 * sigma * sigma)).exp())
        .collect()
}

/// Smooths `field` (`h × w`, row-major) in place with the separable kernel `taps` (one side,
/// centre first), renormalised over the taps inside the image, then scales it by `alpha`.
///
/// Each pass adds whole shifted lines (`dst[x] += t_|k| · src[x + k]` for one `k` at a time),
/// which the compiler turns into vector code, then divides by the sum of the taps that fell
/// inside the image at each position.
fn smooth(field: &mut [f32], scratch: &mut [f32], h: usize, w: usize, taps: &[f32], alpha: f32) {
    if h == 0 || w == 0 {
        return;
    }
    let r = taps.len() - 1;
    let norms = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| {
                (i.saturating_sub(r)..=(i + r).min(n - 1))
                    .map(|j| taps[i.abs_diff(j)])
                    .sum()
            })
            .collect()
    };
    let (norm_x, norm_y) = (norms(w), norms(h));
    // Along x, into `scratch`.
    for (src, dst) in field.chunks_exact(w).zip(scratch.chunks_exact_mut(w)) {
        dst.fill(0.0);
        for k in -(r.min(w - 1) as isize)..=(r.min(w - 1) as isize) {
            let t = taps[k.unsigned_abs()];
            let (from, to, len) = if k >= 0 {
                (k as usize, 0, w - k as usize)
            } else {
                (0, k.unsigned_abs(), w - k.unsigned_abs())
            };
            for (d, s) in dst[to..to + len].iter_mut().zip(&src[from..from + len]) {
                *d += t * s;
            }
        }
        for (d, n) in dst.iter_mut().zip(&norm_x) {
            *d /= n;
        }
    }
    // Along y, back into `field`, scaled by `alpha`.
    for (y, dst) in field.chunks_exact_mut(w).enumerate() {
        dst.fill(0.0);
        for j in y.saturating_sub(r)..=(y + r).min(h - 1) {
            let t = taps[y.abs_diff(j)];
            for (d, s) in dst.iter_mut().zip(&scratch[j * w..(j + 1) * w]) {
                *d += t * s;
            }
        }
        let scale = alpha / norm_y[y];
        dst.iter_mut().for_each(|d| *d *= scale);
    }
}
