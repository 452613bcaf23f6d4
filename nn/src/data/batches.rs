//! Batching: seeded shuffling, augmentation and normalisation of a [`Dataset`] into input
//! tensors.

use super::Dataset;
use super::transforms::{Compose, ImageShape, sample_rng};
use autograd::runtime::{buffer, parallel};
use autograd::{Element, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Maps a byte to a model input: `x = (byte / 255 - mean) / std`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalize {
    /// Subtracted after scaling to `[0, 1]`.
    pub mean: f64,
    /// Divided by last.
    pub std: f64,
}

impl Normalize {
    /// MNIST's training-set statistics (mean 0.1307, standard deviation 0.3081).
    pub const MNIST: Normalize = Normalize {
        mean: 0.1307,
        std: 0.3081,
    };
    /// Only scaling to `[0, 1]`.
    pub const UNIT: Normalize = Normalize { mean: 0.0, std: 1.0 };

    /// The input value of byte `b`: `(b / 255 − mean) / std`.
    pub fn value(&self, b: u8) -> f64 {
        (b as f64 / 255.0 - self.mean) / self.std
    }

    /// The input value of every byte, computed once.
    fn table<T: Element>(&self) -> [T; 256] {
        std::array::from_fn(|b| T::from_f64(self.value(b as u8)))
    }
}

/// One batch: images `[B, rows, cols, 1]` and their labels.
#[derive(Clone, Debug)]
pub struct Batch<T: Element> {
    /// The normalised images, channels-last with one channel.
    pub images: Tensor<T>,
    /// The labels, as class indices.
    pub labels: Vec<usize>,
}

/// The part of a batch of `len` samples that process `rank` of `size` takes: contiguous
/// slices, in rank order, whose lengths differ by at most one (the first `len % size` ranks
/// take one more). A rank may get none when `len < size`.
///
/// ```
/// use nn::data::batches::shard_range;
/// let parts: Vec<_> = (0..3).map(|r| shard_range(10, r, 3)).collect();
/// assert_eq!(parts, [0..4, 4..7, 7..10]);
/// assert_eq!(shard_range(1, 1, 2), 1..1);
/// ```
pub fn shard_range(len: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    let size = size.max(1);
    let (base, extra) = (len / size, len % size);
    let start = rank * base + rank.min(extra);
    let end = start + base + usize::from(rank < extra);
    start.min(len)..end.min(len)
}

/// The batches of one pass over a dataset, in a seeded order.
///
/// ```
/// use nn::data::{Dataset, batches::{Batches, Normalize}};
/// let data = Dataset { images: (0..40).map(|i| i as u8).collect(), labels: (0..10).collect(), rows: 2, cols: 2 };
/// let epoch: Vec<_> = Batches::<f32>::new(&data, 4, Normalize::UNIT).shuffled(7, 0).collect();
/// assert_eq!(epoch.iter().map(|b| b.labels.len()).collect::<Vec<_>>(), [4, 4, 2]);
/// assert_eq!(epoch[0].images.shape(), &[4, 2, 2, 1]);
/// ```
pub struct Batches<'d, T: Element> {
    data: &'d Dataset,
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
    end: usize,
    shard: (usize, usize),
    table: [T; 256],
    augment: Option<Augment<'d>>,
    error: Option<autograd::Error>,
}

/// The augmentation of one epoch's batches.
#[derive(Clone, Copy)]
struct Augment<'d> {
    transforms: &'d Compose<u8>,
    seed: u64,
    epoch: u64,
}

/// Images augmented per part of a batch: enough to pay for handing a part to another thread.
const AUGMENT_PART: usize = 8;

impl<'d, T: Element> Batches<'d, T> {
    /// Batches of `batch_size` (the last may be smaller) in the dataset's own order.
    pub fn new(data: &'d Dataset, batch_size: usize, normalize: Normalize) -> Self {
        Batches {
            data,
            order: (0..data.len()).collect(),
            batch_size: batch_size.max(1),
            next: 0,
            end: data.len(),
            shard: (0, 1),
            table: normalize.table(),
            augment: None,
            error: None,
        }
    }

    /// Augments every image on the fly with `transforms`, sample `i` of the dataset drawing
    /// from the stream of `(seed, epoch, i)` (see [`sample_rng`]) whatever its batch, thread
    /// or resume point, the outside of the image reading as 0 (black, MNIST's background).
    /// The images of a batch are transformed across the pool's threads while the training
    /// step runs (see [`train_epoch`](crate::train::epoch::train_epoch)).
    ///
    /// Fails at once when `transforms` cannot transform an image of the dataset's shape (a
    /// parameter out of range), naming the transform.
    ///
    /// ```
    /// use nn::data::{Dataset, batches::{Batches, Normalize}};
    /// use nn::data::transforms::{Compose, RandomAffine};
    /// let data = Dataset { images: vec![255; 4 * 9], labels: vec![0; 4], rows: 3, cols: 3 };
    /// let shift = Compose::new().then(RandomAffine::new().translate(0.5, 0.5), 1.0);
    /// let batch = Batches::<f32>::new(&data, 4, Normalize::UNIT)
    ///     .augmented(&shift, 1, 0)
    ///     .unwrap()
    ///     .next()
    ///     .unwrap();
    /// // Shifted images let the black outside in.
    /// assert!(batch.images.to_vec().iter().any(|&v| v < 1.0));
    /// ```
    pub fn augmented(mut self, transforms: &'d Compose<u8>, seed: u64, epoch: u64) -> autograd::Result<Self> {
        let shape = self.shape();
        let probe = vec![0u8; shape.len()];
        let mut out = probe.clone();
        transforms.apply(&probe, shape, 0, (seed, epoch, 0), &mut out)?;
        self.augment = Some(Augment {
            transforms,
            seed,
            epoch,
        });
        Ok(self)
    }

    /// The error that ended the pass early, if a transform failed on an image (the iterator
    /// then returns `None`); [`train_epoch`](crate::train::epoch::train_epoch) reports it.
    pub fn take_error(&mut self) -> Option<autograd::Error> {
        self.error.take()
    }

    fn shape(&self) -> ImageShape {
        ImageShape {
            h: self.data.rows,
            w: self.data.cols,
            c: 1,
        }
    }

    /// The order shuffled for one epoch: a function of `(seed, epoch)` only, so a resumed run
    /// sees exactly the batches of an uninterrupted one.
    pub fn shuffled(mut self, seed: u64, epoch: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.order.shuffle(&mut rng);
        self
    }

    /// Skips the first `batches` batches (to resume in the middle of an epoch).
    pub fn starting_at(mut self, batches: usize) -> Self {
        self.next = (batches * self.batch_size).min(self.order.len());
        self.end = self.end.max(self.next);
        self
    }

    /// Ends the pass after `batches` more batches (counted from [`starting_at`](Self::starting_at)'s
    /// point, so call that first): a run stopped after a number of optimizer steps.
    pub fn stopping_after(mut self, batches: usize) -> Self {
        self.end = (self.next + batches.saturating_mul(self.batch_size)).min(self.order.len());
        self
    }

    /// Makes only process `rank`'s part of every batch ([`shard_range`] of the batch, which
    /// is the same batch in the same shuffled order on every process): data-parallel
    /// training over `size` processes. A rank whose part is empty gets a batch of no images,
    /// so that every process sees the same number of batches. Augmentation draws per sample, so the
    /// parts are the images a single process would make.
    ///
    /// ```
    /// use nn::data::{Dataset, batches::{Batches, Normalize}};
    /// let data = Dataset { images: vec![0; 5 * 4], labels: (0..5).collect(), rows: 2, cols: 2 };
    /// let shard = |rank| -> Vec<Vec<usize>> {
    ///     Batches::<f32>::new(&data, 4, Normalize::UNIT).sharded(rank, 2).map(|b| b.labels).collect()
    /// };
    /// assert_eq!(shard(0), [vec![0, 1], vec![4]]);
    /// assert_eq!(shard(1), [vec![2, 3], vec![]]);
    /// ```
    pub fn sharded(mut self, rank: usize, size: usize) -> Self {
        self.shard = (rank, size.max(1));
        self
    }

    /// How many batches the whole pass has.
    pub fn batch_count(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }
}

impl<T: Element> Iterator for Batches<'_, T> {
    type Item = Batch<T>;

    fn next(&mut self) -> Option<Batch<T>> {
        if self.next >= self.end {
            return None;
        }
        let whole = &self.order[self.next..(self.next + self.batch_size).min(self.end)];
        self.next += whole.len();
        let idx = &whole[shard_range(whole.len(), self.shard.0, self.shard.1)];
        let (rows, cols) = (self.data.rows, self.data.cols);
        let mut pixels = buffer::take_dirty::<T>(idx.len() * rows * cols);
        if let Some(augment) = self.augment {
            if let Err(e) = augment_into(self.data, idx, augment, &self.table, &mut pixels) {
                self.error = Some(e);
                self.next = self.end;
                return None;
            }
            let images =
                Tensor::from_vec(pixels, &[idx.len(), rows, cols, 1]).expect("sized from the dataset");
            return Some(Batch {
                images,
                labels: idx.iter().map(|&i| self.data.labels[i] as usize).collect(),
            });
        }
        // The images are scattered over the dataset: ask for a few images ahead so their
        // cache misses overlap with the conversion of the current one.
        const AHEAD: usize = 4;
        for &i in idx.iter().take(AHEAD) {
            prefetch(self.data.image(i));
        }
        for (k, (&i, dst)) in idx.iter().zip(pixels.chunks_exact_mut(rows * cols)).enumerate() {
            if let Some(&ahead) = idx.get(k + AHEAD) {
                prefetch(self.data.image(ahead));
            }
            for (d, &b) in dst.iter_mut().zip(self.data.image(i)) {
                *d = self.table[b as usize];
            }
        }
        let images = Tensor::from_vec(pixels, &[idx.len(), rows, cols, 1]).expect("sized from the dataset");
        Some(Batch {
            images,
            labels: idx.iter().map(|&i| self.data.labels[i] as usize).collect(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.end - self.next).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

/// Writes the augmented, normalised images `idx` of `data` into `pixels`, a part of a few
/// images per thread.
fn augment_into<T: Element>(
    data: &Dataset,
    idx: &[usize],
    augment: Augment<'_>,
    table: &[T; 256],
    pixels: &mut [T],
) -> autograd::Result<()> {
    let shape = ImageShape {
        h: data.rows,
        w: data.cols,
        c: 1,
    };
    let n = shape.len();
    let parts = idx.chunks(AUGMENT_PART).zip(pixels.chunks_mut(AUGMENT_PART * n));
    let split = parallel::worth_splitting(idx.len().div_ceil(AUGMENT_PART), true);
    let results = parallel::for_each_part(parts, split, |_, (images, out): (&[usize], &mut [T])| {
        let (mut image, mut scratch) = (vec![0u8; n], Vec::with_capacity(n));
        for (&i, dst) in images.iter().zip(out.chunks_exact_mut(n)) {
            let mut rng = sample_rng(augment.seed, augment.epoch, i as u64);
            augment
                .transforms
                .apply_with(data.image(i), shape, 0, &mut rng, &mut image, &mut scratch)?;
            for (d, &b) in dst.iter_mut().zip(&image) {
                *d = table[b as usize];
            }
        }
        Ok(())
    });
    results.into_iter().collect()
}

/// Asks the CPU to start loading `bytes` into cache (a hint; no effect elsewhere than x86-64).
#[inline(always)]
fn prefetch(bytes: &[u8]) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: prefetching is a hint that never faults, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast())
        };
    }
}
