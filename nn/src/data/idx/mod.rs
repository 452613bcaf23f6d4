//! The IDX file format (MNIST's), raw or gzipped: a reader that checks everything before it
//! allocates, and a writer.
//!
//! An IDX file is a big-endian `u32` magic number, one big-endian `u32` per dimension, then the
//! data, row-major. The magic number's first two bytes are zero, its third is the element type
//! (`0x08` for `u8`, the only type read here) and its fourth the number of dimensions, so MNIST's
//! image files start with `0x00000803` (count x rows x cols) and its label files with
//! `0x00000801` (count).
//!
//! Files may be stored raw or gzipped; a gzipped file is recognised by its first two bytes
//! (`1f 8b`), not by its name. The reader trusts nothing in a header:
//!
//! - A raw file's header must describe exactly the bytes that follow it: the size it claims is
//!   checked against the file's length before anything is allocated, so neither a truncated file
//!   nor one with trailing bytes is read.
//! - A gzipped file's size is unknown until it is decompressed, so the header's claim is checked
//!   against what the compressed file could possibly hold (deflate expands at most
//!   [`GZIP_MAX_RATIO`]`:1`) and against the uncompressed size the gzip trailer records (modulo
//!   2^32). Even a claim that passes both is never allocated at once: the data is read in growing
//!   steps, so a header that lies ends in [`IdxError::Truncated`] after only the real data was
//!   read. Data after the described payload, a corrupt stream (checksum included) and bytes after
//!   the gzip stream are errors.
//! - Label files must hold digits `0..=9`, and [`load_mnist`] checks that there are as many
//!   labels as images.
//!
//! Every error is an [`IdxError`] whose message is one line naming the file, the byte offset
//! where that means something (an offset in the decompressed stream says so) and what was
//! expected against what was found.
//!
//! ```
//! use nn::data::idx::{IdxError, read_images, write_idx_u8};
//!
//! let dir = std::env::temp_dir().join(format!("idx-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("two-images-idx3-ubyte.gz");
//! write_idx_u8(&path, &[2, 2, 3], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], true).unwrap();
//!
//! let images = read_images(&path).unwrap();
//! assert_eq!((images.count, images.rows, images.cols), (2, 2, 3));
//! assert_eq!(images.image(1), &[6, 7, 8, 9, 10, 11]);
//!
//! // A label file is not an image file.
//! write_idx_u8(&path, &[2], &[3, 7], true).unwrap();
//! let err = read_images(&path).unwrap_err();
//! assert!(matches!(err, IdxError::WrongDimensionCount { found: 1, expected: 3, .. }));
//! assert!(err.to_string().contains("two-images-idx3-ubyte.gz"));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod error;
mod mnist;
mod read;
mod write;

use std::path::Path;

pub use error::IdxError;
pub use mnist::{Split, load_mnist, mnist_paths};
use read::{Kind, read_checked};
pub use write::write_idx_u8;

/// The magic number of an IDX file of `u8` images: count x rows x cols.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;

/// The magic number of an IDX file of `u8` labels: one dimension, the count.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The IDX type code of unsigned bytes, the third byte of the magic number.
pub const U8_TYPE_CODE: u8 = 0x08;

/// The most a deflate stream can expand: 258 bytes from a 2-bit code, 1032:1. A gzipped file of
/// `n` bytes cannot decompress to more than `n * GZIP_MAX_RATIO` bytes, whatever its header says.
pub const GZIP_MAX_RATIO: u64 = 1032;

/// An IDX array of any number of dimensions, as [`read_idx_u8`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The elements, row-major; their number is the product of `dims`.
    pub data: Vec<u8>,
}

/// The images of an IDX image file, as [`read_images`] returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// All pixels, image after image, each row-major: `count * rows * cols` bytes.
    pub pixels: Vec<u8>,
    /// The number of images.
    pub count: usize,
    /// Image height, at least 1.
    pub rows: usize,
    /// Image width, at least 1.
    pub cols: usize,
}

impl IdxImages {
    /// The pixels of image `i`. Panics when `i >= count`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// Reads an IDX file of `u8` with any number of dimensions, raw or gzipped, checking it as the
/// [module documentation](self) describes.
pub fn read_idx_u8(path: impl AsRef<Path>) -> Result<IdxArray, IdxError> {
    let (dims, data, _, _) = read_checked(path.as_ref(), Kind::Any)?;
    Ok(IdxArray { dims, data })
}

/// Reads an IDX image file (magic `0x00000803`: count x rows x cols of `u8`), raw or gzipped.
///
/// ```no_run
/// let images = nn::data::idx::read_images("mnist/t10k-images-idx3-ubyte.gz")?;
/// assert_eq!((images.count, images.rows, images.cols), (10000, 28, 28));
/// # Ok::<(), nn::data::idx::IdxError>(())
/// ```
pub fn read_images(path: impl AsRef<Path>) -> Result<IdxImages, IdxError> {
    let (dims, pixels, _, _) = read_checked(path.as_ref(), Kind::Images)?;
    Ok(IdxImages {
        pixels,
        count: dims[0],
        rows: dims[1],
        cols: dims[2],
    })
}

/// Reads an IDX label file (magic `0x00000801`: count `u8`), raw or gzipped, and checks that every
/// label is a digit `0..=9`.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<u8>, IdxError> {
    let path = path.as_ref();
    let (_, labels, header_len, uncompressed) = read_checked(path, Kind::Labels)?;
    if let Some(index) = labels.iter().position(|&l| l > 9) {
        return Err(IdxError::LabelOutOfRange {
            path: path.to_path_buf(),
            uncompressed,
            offset: header_len + index as u64,
            index,
            label: labels[index],
        });
    }
    Ok(labels)
}
