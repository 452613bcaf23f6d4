//! MNIST's files: the two splits, their standard file names, and loading a split into a
//! [`Dataset`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{IdxError, read_images, read_labels};
use crate::data::Dataset;

/// One of MNIST's two sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The 60,000 training images (`train-*`).
    Train,
    /// The 10,000 test images (`t10k-*`).
    Test,
}

impl Split {
    /// The prefix of the split's file names: `train` or `t10k`.
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Finds a split's image and label files in `dir` under their standard names
/// (`train-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, ...), raw or with `.gz` (raw first when
/// both exist). Returns the image file, then the label file.
pub fn mnist_paths(dir: impl AsRef<Path>, split: Split) -> Result<(PathBuf, PathBuf), IdxError> {
    let dir = dir.as_ref();
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(IdxError::Io {
                path: dir.to_path_buf(),
                op: "open the MNIST directory",
                source: io::Error::other("not a directory"),
            });
        }
        Err(source) => {
            return Err(IdxError::Io {
                path: dir.to_path_buf(),
                op: "open the MNIST directory",
                source,
            });
        }
    }
    let find = |stem: String, what: &'static str| {
        let tried = vec![stem.clone(), format!("{stem}.gz")];
        match tried.iter().map(|name| dir.join(name)).find(|p| p.is_file()) {
            Some(path) => Ok(path),
            None => Err(IdxError::NotFound {
                dir: dir.to_path_buf(),
                what,
                tried,
            }),
        }
    };
    let (images, labels) = match split {
        Split::Train => ("train images", "train labels"),
        Split::Test => ("test images", "test labels"),
    };
    let prefix = split.prefix();
    Ok((
        find(format!("{prefix}-images-idx3-ubyte"), images)?,
        find(format!("{prefix}-labels-idx1-ubyte"), labels)?,
    ))
}

/// Loads one MNIST split from `dir` (the files [`mnist_paths`] finds), checking both files and that
/// they hold as many labels as images.
///
/// ```no_run
/// use nn::data::idx::{Split, load_mnist};
///
/// let dir = std::env::var_os("MNIST_DIR").expect("MNIST_DIR names the directory of MNIST's files");
/// let test = load_mnist(&dir, Split::Test)?;
/// assert_eq!((test.len(), test.rows, test.cols), (10000, 28, 28));
/// # Ok::<(), nn::data::idx::IdxError>(())
/// ```
pub fn load_mnist(dir: impl AsRef<Path>, split: Split) -> Result<Dataset, IdxError> {
    let (images_path, labels_path) = mnist_paths(dir, split)?;
    // The label file is small: read it first, so that a bad one fails before the images load.
    let labels = read_labels(&labels_path)?;
    let images = read_images(&images_path)?;
    if labels.len() != images.count {
        return Err(IdxError::CountMismatch {
            labels_path,
            labels: labels.len(),
            images_path,
            images: images.count,
        });
    }
    Ok(Dataset {
        images: images.pixels,
        labels,
        rows: images.rows,
        cols: images.cols,
        channels: 1,
    })
}
