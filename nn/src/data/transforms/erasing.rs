//! Random erasing (Zhong et al. 2017, torchvision's `RandomErasing`): one rectangle of the
//! image, of random area and aspect ratio, overwritten.
//!
//! For an image of `H × W` pixels, up to ten attempts each draw an area fraction
//! `a ~ U[a_lo, a_hi]` and a log-uniform aspect ratio `r` in `[r_lo, r_hi]`, and take
//! `h = round(√(a·H·W·r))`, `w = round(√(a·H·W/r))`; the first attempt with `h < H` and
//! `w < W` erases rows `i..i+h` and columns `j..j+w`, with `i ~ U{0..H−h}` and
//! `j ~ U{0..W−w}`, in every channel. When no attempt fits, the image is unchanged.

use super::{ImageShape, Pixel, Transform};
use autograd::{Error, Result};
use rand::RngExt;
use rand::rngs::StdRng;

/// What an erased pixel becomes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EraseValue {
    /// The transform's fill value (the outside of the image: 0, the background, for MNIST).
    Fill,
    /// A constant.
    Constant(f32),
    /// Independent values uniform in `[lo, hi]`, one per pixel and channel.
    Uniform(f32, f32),
}

/// Random erasing of one rectangle; see the module documentation for the draw.
///
/// ```
/// use nn::data::transforms::{Compose, ImageShape, RandomErasing};
/// let shape = ImageShape { h: 28, w: 28, c: 1 };
/// let erase = Compose::new().then(RandomErasing::new().area(0.1, 0.1).ratio(1.0, 1.0), 1.0);
/// let mut out = vec![0u8; shape.len()];
/// erase.apply(&vec![255u8; shape.len()], shape, 0, (1, 0, 0), &mut out).unwrap();
/// // round(√(0.1 · 784)) = 9: a 9x9 square is erased.
/// assert_eq!(out.iter().filter(|&&v| v == 0).count(), 81);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomErasing {
    area: (f32, f32),
    ratio: (f32, f32),
    value: EraseValue,
}

impl Default for RandomErasing {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomErasing {
    /// torchvision's defaults: area fraction in `[0.02, 0.33]`, aspect ratio in `[0.3, 3.3]`,
    /// erased to the fill value.
    pub fn new() -> Self {
        RandomErasing {
            area: (0.02, 0.33),
            ratio: (0.3, 3.3),
            value: EraseValue::Fill,
        }
    }
    /// The fraction of the image's area erased, uniform in `[lo, hi]`.
    pub fn area(mut self, lo: f32, hi: f32) -> Self {
        self.area = (lo, hi);
        self
    }
    /// The aspect ratio `h / w` of the rectangle, log-uniform in `[lo, hi]`.
    pub fn ratio(mut self, lo: f32, hi: f32) -> Self {
        self.ratio = (lo, hi);
        self
    }
    /// What the erased pixels become.
    pub fn value(mut self, value: EraseValue) -> Self {
        self.value = value;
        self
    }

    fn check(&self) -> Result<()> {
        let (a0, a1) = self.area;
        let (r0, r1) = self.ratio;
        let ok_value = match self.value {
            EraseValue::Fill => true,
            EraseValue::Constant(v) => v.is_finite(),
            EraseValue::Uniform(lo, hi) => lo.is_finite() && hi.is_finite() && lo <= hi,
        };
        let ok_area = 0.0 < a0 && a0 <= a1 && a1 <= 1.0;
        let ok_ratio = 0.0 < r0 && r0 <= r1 && r1.is_finite();
        if !(ok_area && ok_ratio && ok_value) {
            return Err(Error::invalid(
                "RandomErasing",
                &[],
                format!("parameters out of range: {self:?} (need 0 < area ≤ 1, 0 < ratio, ordered ranges)"),
            ));
        }
        Ok(())
    }

    /// The rectangle `(i, j, h, w)` erased in an image of `shape`, or `None` when no attempt fits.
    pub fn sample(
        &self,
        rng: &mut StdRng,
        shape: ImageShape,
    ) -> Result<Option<(usize, usize, usize, usize)>> {
        self.check()?;
        let total = (shape.h * shape.w) as f32;
        let (log_lo, log_hi) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let a = draw(rng, self.area.0, self.area.1) * total;
            let r = draw(rng, log_lo, log_hi).exp();
            let h = (a * r).sqrt().round() as usize;
            let w = (a / r).sqrt().round() as usize;
            if h > 0 && w > 0 && h < shape.h && w < shape.w {
                let i = rng.random_range(0..=shape.h - h);
                let j = rng.random_range(0..=shape.w - w);
                return Ok(Some((i, j, h, w)));
            }
        }
        Ok(None)
    }
}

/// Uniform in `[lo, hi]` (exactly `lo` for an empty range, drawing nothing).
fn draw(rng: &mut StdRng, lo: f32, hi: f32) -> f32 {
    if hi > lo { rng.random_range(lo..=hi) } else { lo }
}

impl<P: Pixel + Send + Sync> Transform<P> for RandomErasing {
    fn name(&self) -> &str {
        "RandomErasing"
    }

    fn apply(&self, rng: &mut StdRng, shape: ImageShape, fill: P, src: &[P], dst: &mut [P]) -> Result<()> {
        dst.copy_from_slice(src);
        let Some((i, j, h, w)) = self.sample(rng, shape)? else {
            return Ok(());
        };
        let c = shape.c;
        for y in i..i + h {
            let row = &mut dst[(y * shape.w + j) * c..(y * shape.w + j + w) * c];
            match self.value {
                EraseValue::Fill => row.fill(fill),
                EraseValue::Constant(v) => row.fill(P::from_f32(v)),
                EraseValue::Uniform(lo, hi) => {
                    row.iter_mut().for_each(|v| *v = P::from_f32(draw(rng, lo, hi)))
                }
            }
        }
        Ok(())
    }
}
