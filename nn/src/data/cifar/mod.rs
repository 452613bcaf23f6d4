//! The CIFAR-10 and CIFAR-100 binary formats ("binary version" on the datasets' page), read
//! into [`Dataset`]s of 32x32 RGB images, channels interleaved (`[32, 32, 3]` per image).
//!
//! A CIFAR-10 file is a sequence of records of 3073 bytes: 1 label byte (`0..=9`, see
//! [`CIFAR10_CLASSES`]), then the image as three planes of 1024 bytes, red, green, blue, each
//! 32x32 row-major; `data_batch_1.bin` .. `data_batch_5.bin` hold 10,000 training images each
//! and `test_batch.bin` the 10,000 test images (in `cifar-10-batches-bin/` once the archive is
//! unpacked). A CIFAR-100 record has 2 label bytes, coarse (`0..20`, the superclass) and fine
//! (`0..100`), then the same 3072 bytes; `train.bin` and `test.bin` hold 50,000 and 10,000
//! (in `cifar-100-binary/`).
//!
//! The files have no header, so nothing is allocated on a file's word: a file's length must
//! be a whole number of records (checked before a file is read, and again as it is read),
//! every label byte must be a class (both of a CIFAR-100 record's), and a file with no record
//! is an error. Every error is a [`CifarError`] whose message is one line naming the file,
//! the record and its byte offset.
//!
//! ```
//! use nn::data::cifar::{read_cifar10, CifarError};
//! // Two records: label 3 then a red image, label 9 then a blue one.
//! let mut bytes = vec![3u8];
//! bytes.extend([255u8; 1024].iter().chain(&[0; 2048]));
//! bytes.push(9);
//! bytes.extend([0u8; 2048].iter().chain(&[255; 1024]));
//! let data = read_cifar10(&bytes[..], "two.bin").unwrap();
//! assert_eq!((data.len(), data.rows, data.cols, data.channels), (2, 32, 32, 3));
//! assert_eq!(data.labels, [3, 9]);
//! assert_eq!(&data.image(0)[..6], &[255, 0, 0, 255, 0, 0]); // R, G, B of each pixel
//! assert_eq!(&data.image(1)[..3], &[0, 0, 255]);
//! // A record cut short is named with its offset.
//! let err = read_cifar10(&bytes[..4000], "cut.bin").unwrap_err();
//! assert!(matches!(err, CifarError::Truncated { record: 1, offset: 3073, .. }), "{err}");
//! assert!(err.to_string().starts_with("cut.bin: byte 3073: record 1 is truncated"), "{err}");
//! ```

mod error;
mod read;

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::data::Dataset;
pub use crate::data::idx::Split;
pub use error::CifarError;
use read::{Format, Records};

/// The side of a CIFAR image.
pub const SIDE: usize = 32;
/// The bytes of one colour plane (32x32).
pub const PLANE: usize = SIDE * SIDE;
/// The pixel bytes of one record: three planes.
pub const IMAGE_BYTES: usize = 3 * PLANE;
/// The bytes of one CIFAR-10 record: a label byte and the image.
pub const CIFAR10_RECORD: usize = 1 + IMAGE_BYTES;
/// The bytes of one CIFAR-100 record: a coarse and a fine label byte and the image.
pub const CIFAR100_RECORD: usize = 2 + IMAGE_BYTES;

/// CIFAR-10's class names, by label.
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Which of a CIFAR-100 record's two labels becomes the dataset's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cifar100Labels {
    /// The superclass, `0..20` (the first label byte).
    Coarse,
    /// The class, `0..100` (the second label byte).
    Fine,
}

const CIFAR10: Format = Format {
    name: "CIFAR-10",
    labels: &[("label", 10)],
    keep: 0,
};

fn cifar100(labels: Cifar100Labels) -> Format {
    Format {
        name: "CIFAR-100",
        labels: &[("coarse label", 20), ("fine label", 100)],
        keep: match labels {
            Cifar100Labels::Coarse => 0,
            Cifar100Labels::Fine => 1,
        },
    }
}

/// Reads CIFAR-10 records from `reader` (a file, a slice of bytes, a decompressor), `name`
/// naming it in errors, until it ends.
pub fn read_cifar10(reader: impl Read, name: impl AsRef<Path>) -> Result<Dataset, CifarError> {
    let mut records = Records::default();
    records.read(reader, name.as_ref(), CIFAR10)?;
    Ok(dataset(records))
}

/// Reads CIFAR-100 records from `reader`, keeping the coarse or the fine label (both are
/// checked).
///
/// ```
/// use nn::data::cifar::{Cifar100Labels, read_cifar100};
/// let mut record = vec![19u8, 99];
/// record.extend([7u8; 3072]);
/// let fine = read_cifar100(&record[..], "one.bin", Cifar100Labels::Fine).unwrap();
/// let coarse = read_cifar100(&record[..], "one.bin", Cifar100Labels::Coarse).unwrap();
/// assert_eq!((fine.labels[0], coarse.labels[0]), (99, 19));
/// record[0] = 20; // a coarse label out of range, even when the fine one is kept
/// let err = read_cifar100(&record[..], "one.bin", Cifar100Labels::Fine).unwrap_err();
/// assert!(err.to_string().contains("byte 0 (record 0): coarse label 20"), "{err}");
/// ```
pub fn read_cifar100(
    reader: impl Read,
    name: impl AsRef<Path>,
    labels: Cifar100Labels,
) -> Result<Dataset, CifarError> {
    let mut records = Records::default();
    records.read(reader, name.as_ref(), cifar100(labels))?;
    Ok(dataset(records))
}

/// The files of a CIFAR-10 split, in order: `data_batch_1.bin` .. `data_batch_5.bin` for
/// [`Split::Train`], `test_batch.bin` for [`Split::Test`], in `dir` or, failing that, in
/// `dir/cifar-10-batches-bin` (where the archive unpacks).
pub fn cifar10_paths(dir: impl AsRef<Path>, split: Split) -> Result<Vec<PathBuf>, CifarError> {
    let names: Vec<String> = match split {
        Split::Train => (1..=5).map(|k| format!("data_batch_{k}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    };
    let what = match split {
        Split::Train => "CIFAR-10 train",
        Split::Test => "CIFAR-10 test",
    };
    find(dir.as_ref(), "cifar-10-batches-bin", &names, what)
}

/// The file of a CIFAR-100 split: `train.bin` or `test.bin`, in `dir` or in
/// `dir/cifar-100-binary`.
pub fn cifar100_path(dir: impl AsRef<Path>, split: Split) -> Result<PathBuf, CifarError> {
    let (name, what) = match split {
        Split::Train => ("train.bin", "CIFAR-100 train"),
        Split::Test => ("test.bin", "CIFAR-100 test"),
    };
    let mut paths = find(dir.as_ref(), "cifar-100-binary", &[name.to_string()], what)?;
    Ok(paths.remove(0))
}

/// Loads a CIFAR-10 split from `dir` (the files [`cifar10_paths`] finds, in order): 50,000
/// training or 10,000 test images of `[32, 32, 3]`.
///
/// ```no_run
/// use nn::data::cifar::{Split, load_cifar10};
/// let dir = std::env::var_os("CIFAR10_DIR").expect("CIFAR10_DIR names the unpacked archive's folder");
/// let test = load_cifar10(&dir, Split::Test)?;
/// assert_eq!((test.len(), test.rows, test.cols, test.channels), (10000, 32, 32, 3));
/// # Ok::<(), nn::data::cifar::CifarError>(())
/// ```
pub fn load_cifar10(dir: impl AsRef<Path>, split: Split) -> Result<Dataset, CifarError> {
    load(&cifar10_paths(dir, split)?, CIFAR10)
}

/// Loads a CIFAR-100 split from `dir` (the file [`cifar100_path`] finds) with the chosen
/// labels.
pub fn load_cifar100(
    dir: impl AsRef<Path>,
    split: Split,
    labels: Cifar100Labels,
) -> Result<Dataset, CifarError> {
    load(&[cifar100_path(dir, split)?], cifar100(labels))
}

/// Reads `paths` one after another, after checking that each is a whole number of records
/// and reserving room for all of them.
fn load(paths: &[PathBuf], format: Format) -> Result<Dataset, CifarError> {
    let record_len = format.record_len() as u64;
    let mut files = Vec::with_capacity(paths.len());
    let mut total = 0usize;
    for path in paths {
        let io_err = |op| {
            move |source| CifarError::Io {
                path: path.clone(),
                op,
                source,
            }
        };
        let file = File::open(path).map_err(io_err("open"))?;
        let len = file.metadata().map_err(io_err("read the metadata of"))?.len();
        if len == 0 {
            return Err(CifarError::Empty {
                path: path.clone(),
                format: format.name,
                record_len: format.record_len(),
            });
        }
        if len % record_len != 0 {
            return Err(CifarError::Truncated {
                path: path.clone(),
                format: format.name,
                record: (len / record_len) as usize,
                offset: len / record_len * record_len,
                found: (len % record_len) as usize,
                record_len: format.record_len(),
            });
        }
        total = total.saturating_add(usize::try_from(len / record_len).unwrap_or(usize::MAX));
        files.push(file);
    }
    let mut records = Records::default();
    records.reserve(&paths[0], total)?;
    for (file, path) in files.into_iter().zip(paths) {
        records.read(file, path, format)?;
    }
    Ok(dataset(records))
}

fn dataset(records: Records) -> Dataset {
    Dataset {
        images: records.images,
        labels: records.labels,
        rows: SIDE,
        cols: SIDE,
        channels: 3,
    }
}

/// The paths of `names` in the first of `dir` and `dir/sub` that holds the first name; fails
/// naming the paths tried for the first file missing.
fn find(dir: &Path, sub: &str, names: &[String], what: &'static str) -> Result<Vec<PathBuf>, CifarError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        other => {
            let source = other.err().unwrap_or_else(|| io::Error::other("not a directory"));
            return Err(CifarError::Io {
                path: dir.to_path_buf(),
                op: "open the CIFAR directory",
                source,
            });
        }
    }
    let folders = [dir.to_path_buf(), dir.join(sub)];
    let Some(folder) = folders.iter().find(|f| f.join(&names[0]).is_file()) else {
        return Err(CifarError::NotFound {
            dir: dir.to_path_buf(),
            what,
            name: names[0].clone(),
            tried: folders.iter().map(|f| f.join(&names[0])).collect(),
        });
    };
    names
        .iter()
        .map(|name| {
            let path = folder.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(CifarError::NotFound {
                    dir: dir.to_path_buf(),
                    what,
                    name: name.clone(),
                    tried: vec![path],
                })
            }
        })
        .collect()
}
