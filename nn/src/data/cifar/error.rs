//! [`CifarError`], the error of every CIFAR read: one line that names the file and, where it
//! means something, the record and the byte offset.

use std::io;
use std::path::{Path, PathBuf};

/// Why a CIFAR binary file could not be read. Offsets count bytes from the start of the file;
/// records count from 0.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CifarError {
    /// The operating system refused to open or read a file or directory.
    #[error("{}: cannot {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done: "open", "read", ...
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The file holds no record at all.
    #[error(
        "{}: empty: a {format} file holds records of {record_len} bytes ({}), and this one has none",
        path.display(), layout(*record_len)
    )]
    Empty {
        /// The file.
        path: PathBuf,
        /// "CIFAR-10" or "CIFAR-100".
        format: &'static str,
        /// The bytes of one record.
        record_len: usize,
    },

    /// The file ends inside a record: its length is not a whole number of records.
    #[error(
        "{}: byte {offset}: record {record} is truncated: the file ends {} into it, a {format} \
         record has {record_len} bytes ({})",
        path.display(), plural(*found as u64, "byte"), layout(*record_len)
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// "CIFAR-10" or "CIFAR-100".
        format: &'static str,
        /// The record cut short.
        record: usize,
        /// Where it starts.
        offset: u64,
        /// The bytes of it that are there.
        found: usize,
        /// The bytes of one record.
        record_len: usize,
    },

    /// A label byte is not one of the format's classes.
    #[error("{}: byte {offset} (record {record}): {which} {label} is not a class 0..={}",
        path.display(), classes - 1)]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// The record.
        record: usize,
        /// Where the label byte is.
        offset: u64,
        /// "label", "coarse label" or "fine label".
        which: &'static str,
        /// The byte found.
        label: u8,
        /// How many classes the label counts.
        classes: usize,
    },

    /// A file of the split is in none of the folders looked in.
    #[error("{}: no {what} file {name}: tried {}", dir.display(), tried_list(tried))]
    NotFound {
        /// The directory given.
        dir: PathBuf,
        /// Which data: "CIFAR-10 train", ...
        what: &'static str,
        /// The file's standard name.
        name: String,
        /// The paths looked at, in order.
        tried: Vec<PathBuf>,
    },

    /// The images do not fit in memory.
    #[error("{}: cannot allocate {} for the images", path.display(), plural(*bytes as u64, "byte"))]
    TooLarge {
        /// The file being read.
        path: PathBuf,
        /// The bytes asked for.
        bytes: usize,
    },
}

impl CifarError {
    /// The file (or, for [`CifarError::NotFound`], the directory) the error is about.
    pub fn path(&self) -> &Path {
        match self {
            CifarError::Io { path, .. }
            | CifarError::Empty { path, .. }
            | CifarError::Truncated { path, .. }
            | CifarError::LabelOutOfRange { path, .. }
            | CifarError::TooLarge { path, .. } => path,
            CifarError::NotFound { dir, .. } => dir,
        }
    }
}

fn layout(record_len: usize) -> &'static str {
    if record_len == super::CIFAR100_RECORD {
        "a coarse and a fine label byte, then 1024 R, 1024 G and 1024 B bytes"
    } else {
        "1 label byte, then 1024 R, 1024 G and 1024 B bytes"
    }
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn tried_list(tried: &[PathBuf]) -> String {
    let names: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    names.join(" and ")
}
