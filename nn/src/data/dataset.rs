//! [`Dataset`]: labelled images of any shape and channel count, held in memory.

use super::pixel::{ImageShape, Pixel};
use autograd::{Error, Result};

/// Labelled images in memory, all of one shape `[rows, cols, channels]`, stored one after
/// another with channels interleaved (`HWC`, the layout a decoded PNG has): value `k` of
/// pixel `(r, c)` of image `i` is
/// `images[((i · rows + r) · cols + c) · channels + k]`.
///
/// The pixels are `u8` (the default: bytes, 0 = black, 255 = white, as MNIST and CIFAR store
/// them) or `f32` (see [`Pixel`]). Labels are class indices, one byte each (`0..=255`:
/// enough for MNIST's 10 and CIFAR-100's 100 classes).
///
/// ```
/// use nn::data::Dataset;
/// // Two 1x2 RGB images: image 1's second pixel is (7, 8, 9).
/// let data = Dataset::new((0..12).map(|v| v as u8).collect(), vec![0, 1], [1, 2, 3]).unwrap();
/// assert_eq!((data.len(), data.shape().c), (2, 3));
/// assert_eq!(data.image(1), &[6, 7, 8, 9, 10, 11]);
/// let (first, rest) = data.split_at(1).unwrap();
/// assert_eq!((first.labels, rest.labels), (vec![0], vec![1]));
/// // Sizes that do not fit are refused, with the numbers.
/// let err = Dataset::new(vec![0u8; 11], vec![0, 1], [1, 2, 3]).unwrap_err();
/// assert!(err.to_string().contains("11 values"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset<P: Pixel = u8> {
    /// All images, one after another, each `rows × cols × channels` values, channels
    /// interleaved.
    pub images: Vec<P>,
    /// One label per image (a class index: `0..=9` for digits).
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Values per pixel: 1 for grey images, 3 for RGB.
    pub channels: usize,
}

impl<P: Pixel> Dataset<P> {
    /// A dataset of `images` (`labels.len()` images of `[rows, cols, channels]`, channels
    /// interleaved) and their `labels`; fails unless every dimension is at least 1 and there
    /// are exactly `labels.len() · rows · cols · channels` values.
    pub fn new(images: Vec<P>, labels: Vec<u8>, [rows, cols, channels]: [usize; 3]) -> Result<Self> {
        let data = Dataset {
            images,
            labels,
            rows,
            cols,
            channels,
        };
        data.check("Dataset::new")?;
        Ok(data)
    }

    /// Fails, naming `op`, unless every dimension is at least 1 and there are as many images
    /// as labels (the fields are public: a dataset built field by field is checked where it
    /// is used).
    pub(crate) fn check(&self, op: &str) -> Result<()> {
        let (rows, cols, channels) = (self.rows, self.cols, self.channels);
        let shape = [rows, cols, channels];
        if shape.contains(&0) {
            return Err(Error::invalid(
                op,
                &shape,
                format!("images of {rows}x{cols}x{channels}: rows, columns and channels must be at least 1"),
            ));
        }
        let per = rows.checked_mul(cols).and_then(|n| n.checked_mul(channels));
        let expected = per.and_then(|n| n.checked_mul(self.labels.len()));
        if expected != Some(self.images.len()) {
            let expected = expected.map_or("more than usize::MAX".to_string(), |n| n.to_string());
            return Err(Error::invalid(
                op,
                &shape,
                format!(
                    "{} labels of images of {rows}x{cols}x{channels} need {expected} values, got {} values",
                    self.labels.len(),
                    self.images.len()
                ),
            ));
        }
        Ok(())
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The shape of one image.
    pub fn shape(&self) -> ImageShape {
        ImageShape {
            h: self.rows,
            w: self.cols,
            c: self.channels,
        }
    }

    /// The values of one image: `rows · cols · channels`.
    pub fn image_len(&self) -> usize {
        self.shape().len()
    }

    /// The values of image `i` (`[rows, cols, channels]`, channels interleaved). Panics when
    /// `i >= len()`, as slice indexing does.
    pub fn image(&self, i: usize) -> &[P] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The images `indices` (in that order, repeats allowed) as a new dataset; fails on an
    /// index out of range, naming it.
    ///
    /// ```
    /// use nn::data::Dataset;
    /// let data = Dataset::new(vec![10u8, 11, 12], vec![0, 1, 2], [1, 1, 1]).unwrap();
    /// assert_eq!(data.subset(&[2, 0]).unwrap().images, [12, 10]);
    /// assert!(data.subset(&[3]).is_err());
    /// ```
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::invalid(
                "Dataset::subset",
                &[self.rows, self.cols, self.channels],
                format!(
                    "index {bad} is out of range for a dataset of {} images",
                    self.len()
                ),
            ));
        }
        let mut images = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Ok(self.with(images, indices.iter().map(|&i| self.labels[i]).collect()))
    }

    /// The first `n` images and the rest (a validation split off a training set); fails when
    /// `n > len()`.
    pub fn split_at(&self, n: usize) -> Result<(Self, Self)> {
        if n > self.len() {
            return Err(Error::invalid(
                "Dataset::split_at",
                &[self.rows, self.cols, self.channels],
                format!("cannot split {} images after image {n}", self.len()),
            ));
        }
        let at = n * self.image_len();
        Ok((
            self.with(self.images[..at].to_vec(), self.labels[..n].to_vec()),
            self.with(self.images[at..].to_vec(), self.labels[n..].to_vec()),
        ))
    }

    /// `images` and `labels` of this dataset's image shape.
    fn with(&self, images: Vec<P>, labels: Vec<u8>) -> Self {
        Dataset {
            images,
            labels,
            rows: self.rows,
            cols: self.cols,
            channels: self.channels,
        }
    }
}
