//! Batching: seeded shuffling and normalisation of a [`Dataset`] into input tensors.

use super::Dataset;
use autograd::runtime::buffer;
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

    /// The input value of every byte, computed once.
    fn table<T: Element>(&self) -> [T; 256] {
        std::array::from_fn(|b| T::from_f64((b as f64 / 255.0 - self.mean) / self.std))
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
    table: [T; 256],
}

impl<'d, T: Element> Batches<'d, T> {
    /// Batches of `batch_size` (the last may be smaller) in the dataset's own order.
    pub fn new(data: &'d Dataset, batch_size: usize, normalize: Normalize) -> Self {
        Batches {
            data,
            order: (0..data.len()).collect(),
            batch_size: batch_size.max(1),
            next: 0,
            table: normalize.table(),
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
        if self.next >= self.order.len() {
            return None;
        }
        let idx = &self.order[self.next..(self.next + self.batch_size).min(self.order.len())];
        self.next += idx.len();
        let (rows, cols) = (self.data.rows, self.data.cols);
        let mut pixels = buffer::take_dirty::<T>(idx.len() * rows * cols);
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
        let left = (self.order.len() - self.next).div_ceil(self.batch_size);
        (left, Some(left))
    }
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
