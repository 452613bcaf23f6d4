//! Named augmentation recipes for digit images.

use super::{Compose, Elastic, RandomAffine, RandomErasing};
use autograd::{Error, Result};

/// The parameters of an augmentation of 28x28 digit images, each step off at zero: a
/// random affine (rotation `±rotate` degrees, translation `±translate` of the side, scale
/// `1 ± scale`, shear `±shear` degrees) with probability `affine_p`, then an elastic
/// distortion (Simard et al. 2003: `α = elastic_alpha`, `σ = elastic_sigma` pixels) with
/// probability `elastic_p`, then random erasing with probability `erase_p` (torchvision's
/// area and aspect ranges, erased to black).
///
/// ```
/// use nn::data::transforms::Recipe;
/// let standard = Recipe::named("standard").unwrap();
/// assert!(standard.rotate > 0.0);
/// assert!(Recipe::named("none").unwrap().compose().is_empty());
/// assert!(Recipe::named("fancy").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recipe {
    /// Rotation range, degrees.
    pub rotate: f32,
    /// Translation range, as a fraction of the width and of the height.
    pub translate: f32,
    /// Scale range: `[1 − scale, 1 + scale]`.
    pub scale: f32,
    /// Shear range, degrees.
    pub shear: f32,
    /// Probability of the affine step.
    pub affine_p: f32,
    /// `α` of the elastic distortion, pixels.
    pub elastic_alpha: f32,
    /// `σ` of the elastic distortion, pixels.
    pub elastic_sigma: f32,
    /// Probability of the elastic step.
    pub elastic_p: f32,
    /// Probability of erasing one rectangle.
    pub erase_p: f32,
}

impl Recipe {
    /// No augmentation.
    pub const NONE: Recipe = Recipe {
        rotate: 0.0,
        translate: 0.0,
        scale: 0.0,
        shear: 0.0,
        affine_p: 0.0,
        elastic_alpha: 0.0,
        elastic_sigma: 4.0,
        elastic_p: 0.0,
        erase_p: 0.0,
    };

    /// The recipe measured best for LeNet-5 on MNIST (issue #12; `BENCHMARKS.md` and the
    /// README give the figures).
    pub const STANDARD: Recipe = Recipe {
        rotate: 10.0,
        translate: 0.1,
        scale: 0.1,
        shear: 10.0,
        affine_p: 1.0,
        elastic_alpha: 0.0,
        elastic_sigma: 4.0,
        elastic_p: 0.0,
        erase_p: 0.0,
    };

    /// The names [`named`](Self::named) knows.
    pub const NAMES: [&'static str; 2] = ["none", "standard"];

    /// The recipe called `name` (`none` or `standard`).
    pub fn named(name: &str) -> Result<Recipe> {
        match name {
            "none" => Ok(Self::NONE),
            "standard" => Ok(Self::STANDARD),
            other => Err(Error::invalid(
                "Recipe::named",
                &[],
                format!("{other:?} is not one of {}", Self::NAMES.join(", ")),
            )),
        }
    }

    /// The elastic step from a spec `ALPHA,SIGMA` or `ALPHA,SIGMA,P` (pixels, pixels,
    /// probability; `P` defaults to 1), as the main job's `--elastic` takes it.
    ///
    /// ```
    /// use nn::data::transforms::Recipe;
    /// let r = Recipe::NONE.with_elastic_spec("8,3,0.5").unwrap();
    /// assert_eq!((r.elastic_alpha, r.elastic_sigma, r.elastic_p), (8.0, 3.0, 0.5));
    /// assert!(Recipe::NONE.with_elastic_spec("8").is_err());
    /// assert!(Recipe::NONE.with_elastic_spec("8,0").is_err());
    /// ```
    pub fn with_elastic_spec(mut self, spec: &str) -> Result<Recipe> {
        let bad = |why: &str| Error::invalid("Recipe::with_elastic_spec", &[], format!("{spec:?}: {why}"));
        let v: Vec<f32> = spec
            .split(',')
            .map(|p| p.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(&e.to_string()))?;
        let (alpha, sigma, p) = match v[..] {
            [a, s] => (a, s, 1.0),
            [a, s, p] => (a, s, p),
            _ => return Err(bad("expected ALPHA,SIGMA or ALPHA,SIGMA,P")),
        };
        if !(alpha >= 0.0
            && alpha.is_finite()
            && sigma > 0.0
            && sigma.is_finite()
            && (0.0..=1.0).contains(&p))
        {
            return Err(bad("need ALPHA >= 0, SIGMA > 0 and P in [0, 1]"));
        }
        (self.elastic_alpha, self.elastic_sigma, self.elastic_p) = (alpha, sigma, p);
        Ok(self)
    }

    /// The transforms, in order, each with its probability.
    pub fn compose(&self) -> Compose<u8> {
        let mut steps = Compose::new();
        let affine = self.rotate > 0.0 || self.translate > 0.0 || self.scale > 0.0 || self.shear > 0.0;
        if affine && self.affine_p > 0.0 {
            steps = steps.then(
                RandomAffine::new()
                    .degrees(self.rotate)
                    .translate(self.translate, self.translate)
                    .scale(1.0 - self.scale, 1.0 + self.scale)
                    .shear(self.shear),
                self.affine_p,
            );
        }
        if self.elastic_p > 0.0 && self.elastic_alpha > 0.0 {
            let elastic = Elastic {
                alpha: self.elastic_alpha,
                sigma: self.elastic_sigma,
            };
            steps = steps.then(elastic, self.elastic_p);
        }
        if self.erase_p > 0.0 {
            steps = steps.then(RandomErasing::new(), self.erase_p);
        }
        steps
    }

    /// One line naming every step that is on, e.g.
    /// `affine (rotate ±10°, translate ±0.1, scale 1±0.1, shear ±10°) p=1`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.affine_p > 0.0
            && (self.rotate, self.translate, self.scale, self.shear) != (0.0, 0.0, 0.0, 0.0)
        {
            parts.push(format!(
                "affine (rotate ±{}°, translate ±{}, scale 1±{}, shear ±{}°) p={}",
                self.rotate, self.translate, self.scale, self.shear, self.affine_p
            ));
        }
        if self.elastic_p > 0.0 && self.elastic_alpha > 0.0 {
            parts.push(format!(
                "elastic (alpha {}, sigma {}) p={}",
                self.elastic_alpha, self.elastic_sigma, self.elastic_p
            ));
        }
        if self.erase_p > 0.0 {
            parts.push(format!("random erasing p={}", self.erase_p));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", then ")
        }
    }
}
