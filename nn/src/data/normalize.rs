//! [`Normalize`]: per-channel normalisation of pixels into a model's input, as torchvision's
//! `Normalize(mean, std)` after `ToTensor`.

use super::dataset::Dataset;
use super::pixel::Pixel;
use autograd::runtime::parallel;
use autograd::{Element, Error, Result};
use std::borrow::Cow;

/// Maps a pixel value `v` of channel `k` to a model input: `x = (unit(v) − mean_k) / std_k`,
/// where `unit(v)` is the value on the unit scale ([`Pixel::unit`]: `b / 255` for a byte,
/// an `f32` as it is). One `(mean, std)` pair stands for every channel; otherwise there is
/// one pair per channel and the data must have that many channels.
///
/// ```
/// use nn::data::batches::Normalize;
/// let n = Normalize::per_channel(&[0.5, 0.25, 0.0], &[0.5, 0.25, 1.0]).unwrap();
/// assert_eq!(n.channels(), 3);
/// assert_eq!(n.value(255u8, 0), 1.0); // (1 − 0.5) / 0.5
/// assert_eq!(n.value(0.5f32, 1), 1.0); // (0.5 − 0.25) / 0.25
/// assert_eq!(Normalize::MNIST.value(0u8, 7), -0.1307 / 0.3081); // one pair: any channel
/// assert!(Normalize::per_channel(&[0.5], &[0.0]).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    /// `(mean, std)` per channel, or one pair for every channel.
    stats: Cow<'static, [(f64, f64)]>,
}

impl Normalize {
    /// MNIST's training-set statistics (mean 0.1307, standard deviation 0.3081), for every
    /// channel.
    pub const MNIST: Normalize = Normalize {
        stats: Cow::Borrowed(&[(0.1307, 0.3081)]),
    };
    /// Only scaling to the unit scale (mean 0, standard deviation 1), for every channel.
    pub const UNIT: Normalize = Normalize {
        stats: Cow::Borrowed(&[(0.0, 1.0)]),
    };
    /// CIFAR-10's training-set statistics per channel (R, G, B): means 0.4914, 0.4822,
    /// 0.4465, standard deviations 0.2470, 0.2435, 0.2616 (what [`Normalize::of`] gives on
    /// its 50,000 training images).
    pub const CIFAR10: Normalize = Normalize {
        stats: Cow::Borrowed(&[(0.4914, 0.2470), (0.4822, 0.2435), (0.4465, 0.2616)]),
    };

    /// One `mean` and `std` for every channel. Not checked here: [`Batches::new`] and
    /// [`images_to_input`] refuse a `std` that is not finite and positive.
    ///
    /// [`Batches::new`]: crate::data::batches::Batches::new
    /// [`images_to_input`]: crate::data::input::images_to_input
    pub fn new(mean: f64, std: f64) -> Self {
        Normalize {
            stats: Cow::Owned(vec![(mean, std)]),
        }
    }

    /// One mean and standard deviation per channel (torchvision's
    /// `Normalize(mean=[..], std=[..])`); fails when the lengths differ or are 0, a mean is
    /// not finite, or a standard deviation is not finite and positive.
    pub fn per_channel(means: &[f64], stds: &[f64]) -> Result<Self> {
        if means.len() != stds.len() || means.is_empty() {
            return Err(Error::invalid(
                "Normalize::per_channel",
                &[],
                format!(
                    "{} means and {} standard deviations: need one of each per channel",
                    means.len(),
                    stds.len()
                ),
            ));
        }
        let n = Normalize {
            stats: Cow::Owned(means.iter().copied().zip(stds.iter().copied()).collect()),
        };
        n.check("Normalize::per_channel")?;
        Ok(n)
    }

    /// Each channel's mean and standard deviation over all pixels of `data`, on the unit
    /// scale (the population standard deviation, as CIFAR's published statistics are
    /// computed: `x.std(axis=(0, 1, 2))` in NumPy). Sums are in `f64`, two passes (mean, then
    /// squared deviations), in parts whose sums are added in a fixed order, so the result does
    /// not depend on the number of threads. Fails on an empty dataset or a constant channel
    /// (its standard deviation is 0).
    ///
    /// ```
    /// use nn::data::{Dataset, batches::Normalize};
    /// // Two RGB pixels: R is 0 and 255, G is 51 twice, B is 0 and 102.
    /// let data = Dataset::new(vec![0u8, 51, 0, 255, 51, 102], vec![0, 1], [1, 1, 3]).unwrap();
    /// let err = Normalize::of(&data).unwrap_err(); // G is constant
    /// assert!(err.to_string().contains("channel 1"), "{err}");
    /// let rgb = Dataset::new(vec![0u8, 0, 0, 255, 51, 102], vec![0, 1], [1, 1, 3]).unwrap();
    /// let n = Normalize::of(&rgb).unwrap();
    /// assert_eq!((n.mean(0), n.std(0)), (0.5, 0.5));
    /// assert!((n.mean(2) - 0.2).abs() < 1e-15 && (n.std(2) - 0.2).abs() < 1e-15);
    /// ```
    pub fn of<P: Pixel>(data: &Dataset<P>) -> Result<Self> {
        data.check("Normalize::of")?;
        let c = data.channels;
        if data.is_empty() {
            return Err(Error::invalid(
                "Normalize::of",
                &[0, data.rows, data.cols, c],
                "the dataset has no images",
            ));
        }
        let count = (data.len() * data.rows * data.cols) as f64;
        let means: Vec<f64> = channel_sums(data, |_, v| v)
            .into_iter()
            .map(|s| s / count)
            .collect();
        let squares = channel_sums(data, |k, v| (v - means[k]) * (v - means[k]));
        let stds: Vec<f64> = squares.into_iter().map(|s| (s / count).sqrt()).collect();
        if let Some(k) = stds.iter().position(|&s| s.is_finite() && s <= 0.0) {
            return Err(Error::invalid(
                "Normalize::of",
                &[data.len(), data.rows, data.cols, c],
                format!(
                    "channel {k} is constant ({}): its standard deviation is 0",
                    means[k]
                ),
            ));
        }
        Ok(Normalize {
            stats: Cow::Owned(means.into_iter().zip(stds).collect()),
        })
    }

    /// How many channels the pairs are for; 1 stands for every channel.
    pub fn channels(&self) -> usize {
        self.stats.len()
    }

    /// The `(mean, std)` pairs, one per channel (or one for every channel).
    pub fn pairs(&self) -> &[(f64, f64)] {
        &self.stats
    }

    /// The mean of `channel` (any channel when there is one pair). Panics when there are
    /// several pairs and `channel >= channels()`, as slice indexing does.
    pub fn mean(&self, channel: usize) -> f64 {
        self.pair(channel).0
    }

    /// The standard deviation of `channel`, as [`mean`](Self::mean).
    pub fn std(&self, channel: usize) -> f64 {
        self.pair(channel).1
    }

    /// The input value of pixel value `v` of `channel`: `(unit(v) − mean) / std`. Panics as
    /// [`mean`](Self::mean) does.
    pub fn value<P: Pixel>(&self, v: P, channel: usize) -> f64 {
        let (mean, std) = self.pair(channel);
        (v.unit() - mean) / std
    }

    fn pair(&self, channel: usize) -> (f64, f64) {
        match &*self.stats {
            [one] => *one,
            many => many[channel],
        }
    }

    /// Fails, naming `op`, unless every mean is finite and every standard deviation finite
    /// and positive.
    fn check(&self, op: &str) -> Result<()> {
        match self
            .stats
            .iter()
            .position(|&(m, s)| !(m.is_finite() && s.is_finite() && s > 0.0))
        {
            None => Ok(()),
            Some(k) => Err(Error::invalid(
                op,
                &[],
                format!(
                    "normaliser channel {k} has mean {} and standard deviation {}: the mean must be \
                     finite, the standard deviation finite and positive",
                    self.stats[k].0, self.stats[k].1
                ),
            )),
        }
    }

    /// The prepared conversion of images of `channels` channels (see [`Pixel::lookup`]);
    /// fails, naming `op`, when the normaliser has several pairs and not `channels` of them,
    /// or [`check`](Self::check) fails.
    pub(crate) fn lookup<T: Element, P: Pixel>(&self, op: &str, channels: usize) -> Result<P::Lookup<T>> {
        self.check(op)?;
        if self.channels() > 1 && self.channels() != channels {
            return Err(Error::invalid(
                op,
                &[],
                format!(
                    "the normaliser has {} channels (mean/std pairs) but the images have {}",
                    self.channels(),
                    plural(channels, "channel")
                ),
            ));
        }
        Ok(P::lookup(&self.stats))
    }
}

/// `Σ f(k, unit(v))` over the values `v` of each channel `k` of `data`, in parts of a fixed
/// number of images whose sums are added in order.
fn channel_sums<P: Pixel>(data: &Dataset<P>, f: impl Fn(usize, f64) -> f64 + Sync) -> Vec<f64> {
    const PART: usize = 256;
    let c = data.channels;
    let parts = data.images.chunks(PART * data.image_len());
    let split = parallel::worth_splitting(data.len().div_ceil(PART), true);
    let sums = parallel::for_each_part(parts, split, |_, part: &[P]| {
        let (mut sums, mut local) = (vec![0.0; c], vec![0.0; c]);
        for image in part.chunks_exact(data.image_len()) {
            // Per image first: blocked sums keep the round-off small on large datasets.
            local.fill(0.0);
            for pixel in image.chunks_exact(c) {
                for (k, (s, &v)) in local.iter_mut().zip(pixel).enumerate() {
                    *s += f(k, v.unit());
                }
            }
            sums.iter_mut().zip(&local).for_each(|(s, l)| *s += l);
        }
        sums
    });
    sums.into_iter().fold(vec![0.0; c], |mut acc, part| {
        acc.iter_mut().zip(part).for_each(|(a, p)| *a += p);
        acc
    })
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
