//! Data: the IDX reader for MNIST files, the built-in synthetic digits, batching, and
//! per-sample transforms for augmentation.

pub mod batches;
pub mod idx;
pub mod input;
pub mod synthetic;
pub mod transforms;

/// Grey images and their labels, held in memory as bytes (0 = black, 255 = white), the way
/// MNIST stores them: `images[i * rows * cols..(i + 1) * rows * cols]` is image `i`, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// All images, one after another, row-major.
    pub images: Vec<u8>,
    /// One label per image, in `0..=9` for digits.
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl Dataset {
    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.images[i * n..(i + 1) * n]
    }
}
