//! Batching: seeded shuffling, augmentation and normalisation of a [`Dataset`] into input
//! tensors `[B, rows, cols, channels]`.

use super::Dataset;
use super::pixel::{ImageShape, Pixel};
use super::transforms::{Compose, sample_rng};
use autograd::runtime::{buffer, parallel};
use autograd::{Element, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Re-exported from [`crate::data`] (the old path keeps working).
pub use super::Normalize;

/// One batch: images `[B, rows, cols, channels]` and their labels.
#[derive(Clone, Debug)]
pub struct Batch<T: Element> {
    /// The normalised images, channels-last.
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

/// The batches of one pass over a dataset, in a seeded order: images
/// `[B, rows, cols, channels]`, each value through the normaliser. `T` is the tensors'
/// element type, `P` the dataset's pixel type (`u8` unless named: `Batches::<f32, f32>` for
/// a `Dataset<f32>`, or `Batches::new` with both inferred).
///
/// ```
/// use nn::data::{Dataset, batches::{Batches, Normalize}};
/// let data = Dataset::new((0..40).map(|i| i as u8).collect(), (0..10).collect(), [2, 2, 1]).unwrap();
/// let epoch: Vec<_> = Batches::<f32>::new(&data, 4, Normalize::UNIT).unwrap().shuffled(7, 0).collect();
/// assert_eq!(epoch.iter().map(|b| b.labels.len()).collect::<Vec<_>>(), [4, 4, 2]);
/// assert_eq!(epoch[0].images.shape(), &[4, 2, 2, 1]);
/// ```
pub struct Batches<'d, T: Element, P: Pixel = u8> {
    data: &'d Dataset<P>,
    order: Vec<usize>,
    batch_size: usize,
    next: usize,
    end: usize,
    shard: (usize, usize),
    lookup: P::Lookup<T>,
    augment: Option<Augment<'d, P>>,
    error: Option<autograd::Error>,
}

/// The augmentation of one epoch's batches.
#[derive(Clone, Copy)]
struct Augment<'d, P: Pixel> {
    transforms: &'d Compose<P>,
    seed: u64,
    epoch: u64,
}

/// Images augmented per part of a batch: enough to pay for handing a part to another thread.
const AUGMENT_PART: usize = 8;

impl<'d, T: Element, P: Pixel> Batches<'d, T, P> {
    /// Batches of `batch_size` (the last may be smaller) in the dataset's own order, each
    /// value `v` of channel `k` becoming `(unit(v) − mean_k) / std_k` ([`Normalize`]).
    ///
    /// Fails when `normalize` has several channels and the dataset another number of them
    /// (CIFAR-10's statistics on grey images), or a standard deviation that is not finite and
    /// positive, and when the dataset's fields do not fit together (see [`Dataset::new`]).
    ///
    /// ```
    /// use nn::data::{Dataset, batches::{Batches, Normalize}};
    /// let grey = Dataset::new(vec![0u8; 8], vec![0, 1], [2, 2, 1]).unwrap();
    /// let err = Batches::<f32>::new(&grey, 2, Normalize::CIFAR10).err().unwrap();
    /// assert!(err.to_string().contains("3 channels"), "{err}");
    /// ```
    pub fn new(data: &'d Dataset<P>, batch_size: usize, normalize: Normalize) -> autograd::Result<Self> {
        data.check("Batches::new")?;
        Ok(Batches {
            data,
            order: (0..data.len()).collect(),
            batch_size: batch_size.max(1),
            next: 0,
            end: data.len(),
            shard: (0, 1),
            lookup: normalize.lookup::<T, P>("Batches::new", data.channels)?,
            augment: None,
            error: None,
        })
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
    /// let data = Dataset::new(vec![255u8; 4 * 9], vec![0; 4], [3, 3, 1]).unwrap();
    /// let shift = Compose::new().then(RandomAffine::new().translate(0.5, 0.5), 1.0);
    /// let batch = Batches::<f32>::new(&data, 4, Normalize::UNIT)
    ///     .unwrap()
    ///     .augmented(&shift, 1, 0)
    ///     .unwrap()
    ///     .next()
    ///     .unwrap();
    /// // Shifted images let the black outside in.
    /// assert!(batch.images.to_vec().iter().any(|&v| v < 1.0));
    /// ```
    pub fn augmented(mut self, transforms: &'d Compose<P>, seed: u64, epoch: u64) -> autograd::Result<Self> {
        let shape = self.data.shape();
        let probe = vec![P::from_f32(0.0); shape.len()];
        let mut out = probe.clone();
        transforms.apply(&probe, shape, P::from_f32(0.0), (seed, epoch, 0), &mut out)?;
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
    /// let data = Dataset::new(vec![0u8; 5 * 4], (0..5).collect(), [2, 2, 1]).unwrap();
    /// let shard = |rank| -> Vec<Vec<usize>> {
    ///     Batches::<f32>::new(&data, 4, Normalize::UNIT).unwrap().sharded(rank, 2).map(|b| b.labels).collect()
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

impl<T: Element, P: Pixel> Iterator for Batches<'_, T, P> {
    type Item = Batch<T>;

    fn next(&mut self) -> Option<Batch<T>> {
        if self.next >= self.end {
            return None;
        }
        let whole = &self.order[self.next..(self.next + self.batch_size).min(self.end)];
        self.next += whole.len();
        let idx = &whole[shard_range(whole.len(), self.shard.0, self.shard.1)];
        let shape = self.data.shape();
        let n = shape.len();
        let mut pixels = buffer::take_dirty::<T>(idx.len() * n);
        if let Some(augment) = self.augment {
            if let Err(e) = augment_into(self.data, idx, augment, &self.lookup, &mut pixels) {
                self.error = Some(e);
                self.next = self.end;
                return None;
            }
        } else {
            // The images are scattered over the dataset: ask for a few images ahead so their
            // cache misses overlap with the conversion of the current one.
            const AHEAD: usize = 4;
            for &i in idx.iter().take(AHEAD) {
                prefetch(self.data.image(i));
            }
            for (k, (&i, dst)) in idx.iter().zip(pixels.chunks_exact_mut(n)).enumerate() {
                if let Some(&ahead) = idx.get(k + AHEAD) {
                    prefetch(self.data.image(ahead));
                }
                P::convert(&self.lookup, self.data.image(i), dst);
            }
        }
        let images = Tensor::from_vec(pixels, &[idx.len(), shape.h, shape.w, shape.c])
            .expect("sized from the dataset");
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
fn augment_into<T: Element, P: Pixel>(
    data: &Dataset<P>,
    idx: &[usize],
    augment: Augment<'_, P>,
    lookup: &P::Lookup<T>,
    pixels: &mut [T],
) -> autograd::Result<()> {
    let shape: ImageShape = data.shape();
    let n = shape.len();
    let zero = P::from_f32(0.0);
    let parts = idx.chunks(AUGMENT_PART).zip(pixels.chunks_mut(AUGMENT_PART * n));
    let split = parallel::worth_splitting(idx.len().div_ceil(AUGMENT_PART), true);
    let results = parallel::for_each_part(parts, split, |_, (images, out): (&[usize], &mut [T])| {
        let (mut image, mut scratch) = (vec![zero; n], Vec::with_capacity(n));
        for (&i, dst) in images.iter().zip(out.chunks_exact_mut(n)) {
            let mut rng = sample_rng(augment.seed, augment.epoch, i as u64);
            augment
                .transforms
                .apply_with(data.image(i), shape, zero, &mut rng, &mut image, &mut scratch)?;
            P::convert(lookup, &image, dst);
        }
        Ok(())
    });
    results.into_iter().collect()
}

/// Asks the CPU to start loading `values` into cache (a hint; no effect elsewhere than x86-64).
#[inline(always)]
fn prefetch<P>(values: &[P]) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
    #[cfg(target_arch = "x86_64")]
    {
        let start = values.as_ptr().cast::<i8>();
        for offset in (0..std::mem::size_of_val(values)).step_by(64) {
            // SAFETY: `offset` is inside `values`, and prefetching is a hint that never
            // faults, whatever the address.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(start.add(offset))
            };
        }
    }
}
