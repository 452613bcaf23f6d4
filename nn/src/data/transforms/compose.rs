//! [`Transform`]: one random transform of a sample; [`Compose`]: several, each applied with
//! its own probability, in order, to one image or to a whole dataset.

use super::{Elastic, ImageShape, Pixel, RandomAffine, sample_rng};
use crate::data::Dataset;
use autograd::runtime::parallel;
use autograd::{Error, Result};
use rand::RngExt;
use rand::rngs::StdRng;

/// A random transform of one image: it draws its parameters from the sample's stream `rng`
/// (see [`sample_rng`]) and writes the transformed `src` into `dst` (both of `shape`),
/// reading `fill` wherever it needs a value from outside the image.
///
/// Implement it to add a transform of your own to a [`Compose`]:
///
/// ```
/// use nn::data::transforms::{Compose, ImageShape, Transform};
/// use rand::rngs::StdRng;
///
/// /// Inverts the image (`255 − v`).
/// #[derive(Debug)]
/// struct Invert;
///
/// impl Transform<u8> for Invert {
///     fn name(&self) -> &str {
///         "Invert"
///     }
///     fn apply(&self, _: &mut StdRng, _: ImageShape, _: u8, src: &[u8], dst: &mut [u8]) -> autograd::Result<()> {
///         dst.iter_mut().zip(src).for_each(|(d, s)| *d = 255 - s);
///         Ok(())
///     }
/// }
///
/// let shape = ImageShape { h: 1, w: 2, c: 1 };
/// let always = Compose::new().then(Invert, 1.0);
/// let mut out = [0u8; 2];
/// always.apply(&[0, 200], shape, 0, (1, 0, 0), &mut out).unwrap();
/// assert_eq!(out, [255, 55]);
/// ```
pub trait Transform<P: Pixel>: Send + Sync + std::fmt::Debug {
    /// The name used in error messages and descriptions.
    fn name(&self) -> &str;

    /// Writes the transformed `src` into `dst`; `src` and `dst` both hold one image of
    /// `shape` (the caller checks the lengths).
    fn apply(&self, rng: &mut StdRng, shape: ImageShape, fill: P, src: &[P], dst: &mut [P]) -> Result<()>;
}

impl<P: Pixel + Send + Sync> Transform<P> for RandomAffine {
    fn name(&self) -> &str {
        "RandomAffine"
    }

    fn apply(&self, rng: &mut StdRng, shape: ImageShape, fill: P, src: &[P], dst: &mut [P]) -> Result<()> {
        self.sample(rng, shape)?.apply(src, shape, fill, dst)
    }
}

impl<P: Pixel + Send + Sync> Transform<P> for Elastic {
    fn name(&self) -> &str {
        "Elastic"
    }

    fn apply(&self, rng: &mut StdRng, shape: ImageShape, fill: P, src: &[P], dst: &mut [P]) -> Result<()> {
        self.sample(rng, shape)?.apply(src, shape, fill, dst)
    }
}

/// Transforms applied one after another, each with a probability: for sample `index` of
/// epoch `epoch` in a run seeded with `seed`, step `k` runs when a uniform draw from the
/// sample's stream is below its probability `p_k`, and then draws its parameters from the
/// same stream. The result is a function of `(seed, epoch, index)` and the image only.
///
/// ```
/// use nn::data::transforms::{Compose, ImageShape, RandomAffine};
/// let shape = ImageShape { h: 28, w: 28, c: 1 };
/// let augment = Compose::new()
///     .then(RandomAffine::new().degrees(10.0), 1.0)
///     .then(RandomAffine::new().translate(0.1, 0.1), 0.5);
/// let image = vec![128u8; shape.len()];
/// let (mut a, mut b) = (vec![0u8; shape.len()], vec![0u8; shape.len()]);
/// augment.apply(&image, shape, 0, (7, 3, 12), &mut a).unwrap();
/// augment.apply(&image, shape, 0, (7, 3, 12), &mut b).unwrap();
/// assert_eq!(a, b);
/// ```
#[derive(Debug)]
pub struct Compose<P: Pixel> {
    steps: Vec<(Box<dyn Transform<P>>, f32)>,
}

impl<P: Pixel> Default for Compose<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Pixel> Compose<P> {
    /// No steps: the identity.
    pub fn new() -> Self {
        Compose { steps: Vec::new() }
    }

    /// Appends `transform`, applied with `probability` (clamped to `[0, 1]`; NaN reads as 0).
    pub fn then(mut self, transform: impl Transform<P> + 'static, probability: f32) -> Self {
        let p = if probability.is_nan() {
            0.0
        } else {
            probability.clamp(0.0, 1.0)
        };
        self.steps.push((Box::new(transform), p));
        self
    }

    /// Whether there is no step (nothing ever changes an image).
    pub fn is_empty(&self) -> bool {
        self.steps.iter().all(|&(_, p)| p == 0.0)
    }

    /// The steps with their probabilities, in order.
    pub fn steps(&self) -> impl Iterator<Item = (&dyn Transform<P>, f32)> {
        self.steps.iter().map(|(t, p)| (t.as_ref(), *p))
    }

    /// Writes `src` (one image of `shape`) transformed into `dst`, with the stream of
    /// `(seed, epoch, index)`; `fill` stands for the outside of the image.
    pub fn apply(
        &self,
        src: &[P],
        shape: ImageShape,
        fill: P,
        (seed, epoch, index): (u64, u64, u64),
        dst: &mut [P],
    ) -> Result<()> {
        let mut scratch = Vec::new();
        self.apply_with(
            src,
            shape,
            fill,
            &mut sample_rng(seed, epoch, index),
            dst,
            &mut scratch,
        )
    }

    /// [`apply`](Self::apply) with a stream of the caller's and a scratch buffer that is
    /// reused across calls (no allocation once it has grown to one image).
    pub fn apply_with(
        &self,
        src: &[P],
        shape: ImageShape,
        fill: P,
        rng: &mut StdRng,
        dst: &mut [P],
        scratch: &mut Vec<P>,
    ) -> Result<()> {
        if src.len() != shape.len() || dst.len() != shape.len() {
            return Err(Error::invalid(
                "Compose::apply",
                &[src.len(), dst.len()],
                format!(
                    "source and destination must both hold {shape:?}: {} values",
                    shape.len()
                ),
            ));
        }
        dst.copy_from_slice(src);
        for (transform, p) in &self.steps {
            // Draw even for p = 1 so that a step's parameters do not depend on whether an
            // earlier probability was 1 or 0.999.
            let u: f32 = rng.random();
            if u >= *p {
                continue;
            }
            scratch.clear();
            scratch.extend_from_slice(dst);
            transform.apply(rng, shape, fill, scratch, dst)?;
        }
        Ok(())
    }

    /// A copy of `data` with image `i` transformed by the stream of `(seed, 0, i)`, the
    /// outside reading as 0 (black): a fixed augmented copy of a test set, for instance
    /// (the images are split across the pool's threads; the result does not depend on
    /// their number).
    ///
    /// ```
    /// use nn::data::{Dataset, transforms::{Compose, RandomAffine}};
    /// let data = Dataset::new(vec![255u8; 2 * 16], vec![3, 4], [4, 4, 1]).unwrap();
    /// let turned = Compose::new().then(RandomAffine::new().degrees(30.0), 1.0);
    /// let copy = turned.apply_to_dataset(&data, 9).unwrap();
    /// assert_eq!(copy.labels, data.labels);
    /// assert_ne!(copy.images, data.images);
    /// ```
    pub fn apply_to_dataset(&self, data: &Dataset<P>, seed: u64) -> Result<Dataset<P>> {
        data.check("Compose::apply_to_dataset")?;
        let shape = data.shape();
        let n = shape.len();
        let zero = P::from_f32(0.0);
        let mut images = vec![zero; data.images.len()];
        const PART: usize = 256;
        let parts = images.chunks_mut(PART * n).enumerate();
        let split = parallel::worth_splitting(data.len().div_ceil(PART), true);
        let results = parallel::for_each_part(parts, split, |_, (p, out): (usize, &mut [P])| {
            let mut scratch = Vec::with_capacity(n);
            for (k, dst) in out.chunks_exact_mut(n).enumerate() {
                let i = p * PART + k;
                let mut rng = sample_rng(seed, 0, i as u64);
                self.apply_with(data.image(i), shape, zero, &mut rng, dst, &mut scratch)?;
            }
            Ok(())
        });
        results.into_iter().collect::<Result<()>>()?;
        Ok(Dataset {
            images,
            labels: data.labels.clone(),
            ..*data
        })
    }
}
