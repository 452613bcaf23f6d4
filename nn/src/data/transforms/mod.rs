//! Data augmentation (`docs/lecture.md#data-augmentation`): seeded per-sample transforms of
//! images, channels-last (`[H, W, C]`, any size and channel count), on `u8` or `f32` values.
//!
//! - [`Affine`]: one rotation, translation, scale and shear about the centre, sampled
//!   bilinearly with a fill value; [`RandomAffine`] draws one per sample from its ranges.
//! - [`Elastic`]: an elastic distortion (Simard et al. 2003), a smoothed random
//!   [`DisplacementField`].
//! - [`RandomErasing`]: one random rectangle overwritten.
//! - [`Transform`]: the trait of a random per-sample transform (implement it for your own);
//!   [`Compose`]: several, each with a probability, in order;
//!   [`Batches::augmented`](crate::data::batches::Batches::augmented) applies one on the fly
//!   to every training batch, across the pool's threads while the training step runs.
//! - [`Recipe`]: the named recipes of the main job's `--augment` (`none`, `standard`).
//! - [`sample_rng`]: the random stream of one sample, from `(seed, epoch, index)` alone, so
//!   that a run gives the same bits on any number of threads and a resumed run continues
//!   the same stream.
//!
//! ```
//! use nn::data::transforms::{ImageShape, RandomAffine, sample_rng};
//! let shape = ImageShape { h: 28, w: 28, c: 1 };
//! let image = vec![0u8; shape.len()];
//! let augment = RandomAffine::new().degrees(15.0).translate(0.1, 0.1).scale(0.9, 1.1);
//! let mut out = vec![0u8; shape.len()];
//! let params = augment.sample(&mut sample_rng(42, 0, 7), shape).unwrap();
//! params.apply(&image, shape, 0, &mut out).unwrap();
//! // The same (seed, epoch, index) draws the same transform.
//! assert_eq!(params, augment.sample(&mut sample_rng(42, 0, 7), shape).unwrap());
//! ```

mod affine;
mod bilinear;
mod compose;
mod elastic;
mod erasing;
mod recipe;

pub use affine::Affine;
pub use compose::{Compose, Transform};
pub use elastic::{DisplacementField, Elastic};
pub use erasing::{EraseValue, RandomErasing};
pub use recipe::Recipe;

/// Re-exported from [`crate::data`], where they live (the old paths keep working).
pub use crate::data::pixel::{ImageShape, Pixel};

use autograd::{Error, Result};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The random stream of sample `index` in epoch `epoch` of a run seeded with `seed`: a
/// function of the three numbers only (SplitMix64 finalisation of each, chained), so it does
/// not depend on which thread makes the batch or on where a run was resumed.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> StdRng {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let key = mix(mix(mix(seed) ^ epoch.wrapping_add(0x9E37_79B9_7F4A_7C15)) ^ index);
    StdRng::seed_from_u64(key)
}

/// Random affine transforms, as torchvision's `RandomAffine`: each sample draws a rotation
/// uniform in `±degrees`, a translation uniform in `±(fx·W, fy·H)` pixels, a scale uniform in
/// `[lo, hi]` and a shear uniform in `±shear` degrees. All ranges start at the identity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomAffine {
    degrees: f32,
    translate: (f32, f32),
    scale: (f32, f32),
    shear: f32,
}

impl Default for RandomAffine {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomAffine {
    /// The identity: every range empty.
    pub fn new() -> Self {
        RandomAffine {
            degrees: 0.0,
            translate: (0.0, 0.0),
            scale: (1.0, 1.0),
            shear: 0.0,
        }
    }
    /// Rotations uniform in `±degrees`.
    pub fn degrees(mut self, degrees: f32) -> Self {
        self.degrees = degrees;
        self
    }
    /// Translations uniform in `±fx` of the width and `±fy` of the height.
    pub fn translate(mut self, fx: f32, fy: f32) -> Self {
        self.translate = (fx, fy);
        self
    }
    /// Scales uniform in `[lo, hi]`.
    pub fn scale(mut self, lo: f32, hi: f32) -> Self {
        self.scale = (lo, hi);
        self
    }
    /// Shears uniform in `±degrees` along `x`.
    pub fn shear(mut self, degrees: f32) -> Self {
        self.shear = degrees;
        self
    }

    /// Draws one transform for images of `shape` (the translation in its pixels). Fails on
    /// ranges that are negative, not finite or reversed, naming the parameter.
    pub fn sample(&self, rng: &mut StdRng, shape: ImageShape) -> Result<Affine> {
        let check = |name: &str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(Error::invalid(
                    "RandomAffine",
                    &[],
                    format!("{name} is out of range: {self:?}"),
                ))
            }
        };
        let finite_nonneg = |v: f32| v.is_finite() && v >= 0.0;
        check("degrees", finite_nonneg(self.degrees))?;
        check(
            "translate",
            finite_nonneg(self.translate.0) && finite_nonneg(self.translate.1),
        )?;
        let (lo, hi) = self.scale;
        check("scale", lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi)?;
        check("shear", finite_nonneg(self.shear) && self.shear < 90.0)?;
        let mut sym = |r: f32| if r > 0.0 { rng.random_range(-r..=r) } else { 0.0 };
        let rotation = sym(self.degrees);
        let tx = sym(self.translate.0 * shape.w as f32);
        let ty = sym(self.translate.1 * shape.h as f32);
        let shear = sym(self.shear);
        let scale = if hi > lo { rng.random_range(lo..=hi) } else { lo };
        Ok(Affine {
            rotation,
            translation: (tx, ty),
            scale,
            shear,
        })
    }
}
