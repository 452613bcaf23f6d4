//! [`IdxError`], the error of every IDX read and write, and the helpers that word its one-line
//! messages.

use std::io;
use std::path::{Path, PathBuf};

use super::GZIP_MAX_RATIO;
#[cfg(doc)]
use super::write_idx_u8;

/// Why an IDX file could not be read or written. Each message is one line that names the file.
///
/// Offsets count bytes from the start of the file; in a gzipped file they count bytes of the
/// decompressed stream, and the message says "uncompressed byte".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdxError {
    /// The operating system refused to open, read, write or rename a file.
    #[error("{}: cannot {op}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done: "open", "read", ...
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The file ends inside its header.
    #[error(
        "{}: truncated: the header needs {needed} bytes, the {} holds only {found}",
        path.display(), holder(*uncompressed)
    )]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// Whether the counts are of a gzipped file's decompressed stream.
        uncompressed: bool,
        /// The header's length: 4 bytes of magic number, then 4 per dimension.
        needed: u64,
        /// The bytes there are.
        found: u64,
    },

    /// The magic number is not that of an IDX file of `u8`.
    #[error("{}: {}: wrong magic number {found:#010x} ({problem}; expected {expected})",
        path.display(), at(0, *uncompressed))]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// Whether the file is gzipped.
        uncompressed: bool,
        /// The magic number found.
        found: u32,
        /// The magic number expected, and what it means.
        expected: &'static str,
        /// What is wrong with the one found.
        problem: String,
    },

    /// The magic number is of `u8` but declares another number of dimensions than expected,
    /// such as a label file read as images.
    #[error(
        "{}: {}: the magic number {magic:#010x} declares {}, expected {expected} ({}){}",
        path.display(), at(3, *uncompressed), plural(u64::from(*found), "dimension"),
        dims_meaning(*expected), dims_hint(*found, *expected)
    )]
    WrongDimensionCount {
        /// The file.
        path: PathBuf,
        /// Whether the file is gzipped.
        uncompressed: bool,
        /// The magic number found.
        magic: u32,
        /// The number of dimensions it declares.
        found: u8,
        /// The number expected.
        expected: u8,
    },

    /// An image file declares images with no rows or no columns.
    #[error("{}: {}: the header declares images of {rows}x{cols} pixels; both must be at least 1",
        path.display(), at(8, *uncompressed))]
    EmptyImageSize {
        /// The file.
        path: PathBuf,
        /// Whether the file is gzipped.
        uncompressed: bool,
        /// The rows declared.
        rows: usize,
        /// The columns declared.
        cols: usize,
    },

    /// The file holds fewer bytes after its header than the header describes.
    #[error(
        "{}: truncated: the header promises {claim} ({}) after {}, the {} holds {found}",
        path.display(), bytes(*payload), at(*header_len, *uncompressed), holder(*uncompressed)
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Whether the counts are of a gzipped file's decompressed stream.
        uncompressed: bool,
        /// What the header describes, in words ("10000 images of 28x28").
        claim: String,
        /// The bytes it describes; `None` when their number overflows a `u64`.
        payload: Option<u64>,
        /// The header's length, where the payload starts.
        header_len: u64,
        /// The bytes there are after the header.
        found: u64,
    },

    /// A gzipped file's header claims more data than its compressed length can possibly hold.
    #[error(
        "{}: header claims {claim} ({}) but the file has only {compressed_len} compressed bytes, \
         which gzip can expand to at most {}",
        path.display(), bytes(*payload), compressed_len.saturating_mul(GZIP_MAX_RATIO)
    )]
    Implausible {
        /// The file.
        path: PathBuf,
        /// What the header describes, in words.
        claim: String,
        /// The bytes it describes; `None` when their number overflows a `u64`.
        payload: Option<u64>,
        /// The gzipped file's length.
        compressed_len: u64,
    },

    /// A gzipped file's header and its gzip trailer disagree on the decompressed size.
    #[error(
        "{}: the header promises {} uncompressed bytes ({header_len} bytes of header, then {claim}) \
         but the gzip trailer (the file's last 4 bytes) records {isize} (mod 2^32): the file is \
         truncated, corrupt or has data after its gzip stream",
        path.display(), header_len.saturating_add(*payload)
    )]
    GzipSizeMismatch {
        /// The file.
        path: PathBuf,
        /// What the header describes, in words.
        claim: String,
        /// The header's length.
        header_len: u64,
        /// The bytes it describes after the header.
        payload: u64,
        /// The decompressed size modulo 2^32 that the gzip trailer records.
        isize: u32,
    },

    /// A header that claims more than this machine can address (only on 32-bit targets).
    #[error("{}: header claims {claim} ({}), more than this machine can address",
        path.display(), bytes(*payload))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What the header describes, in words.
        claim: String,
        /// The bytes it describes; `None` when their number overflows a `u64`.
        payload: Option<u64>,
    },

    /// Bytes follow the data the header describes.
    #[error("{}: {}: {} after the end of the data the header describes",
        path.display(), at(*end, *uncompressed), plural(*extra, "trailing byte"))]
    TrailingData {
        /// The file.
        path: PathBuf,
        /// Whether the counts are of a gzipped file's decompressed stream.
        uncompressed: bool,
        /// Where the described data ends.
        end: u64,
        /// How many bytes follow.
        extra: u64,
    },

    /// Bytes follow the end of a gzipped file's (first) gzip stream.
    #[error(
        "{}: compressed byte {offset}: {} after the end of the gzip stream (concatenated gzip \
         members are not read)",
        path.display(), plural(*extra, "byte")
    )]
    AfterGzipStream {
        /// The file.
        path: PathBuf,
        /// Where the gzip stream ends in the compressed file.
        offset: u64,
        /// How many bytes follow it.
        extra: u64,
    },

    /// The compressed data ends before the gzip stream does.
    #[error(
        "{}: the gzip stream is cut short after uncompressed byte {offset}: the compressed file is \
         truncated",
        path.display()
    )]
    GzipTruncated {
        /// The file.
        path: PathBuf,
        /// How many bytes were decompressed before the end.
        offset: u64,
    },

    /// The gzip stream is corrupt, or its checksum or recorded size does not match its data.
    #[error("{}: corrupt gzip data after uncompressed byte {offset}: {source}", path.display())]
    GzipCorrupt {
        /// The file.
        path: PathBuf,
        /// How many bytes were decompressed before the error.
        offset: u64,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },

    /// A label file holds a byte that is not a digit.
    #[error("{}: {} (label {index}): {label} is not a digit 0..=9",
        path.display(), at(*offset, *uncompressed))]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Whether the offset counts bytes of a gzipped file's decompressed stream.
        uncompressed: bool,
        /// Where the label is.
        offset: u64,
        /// Its index among the labels.
        index: usize,
        /// The label.
        label: u8,
    },

    /// A label file and an image file hold different numbers of items.
    #[error("{} holds {labels} labels but {} holds {images} images",
        labels_path.display(), images_path.display())]
    CountMismatch {
        /// The label file.
        labels_path: PathBuf,
        /// Its number of labels.
        labels: usize,
        /// The image file.
        images_path: PathBuf,
        /// Its number of images.
        images: usize,
    },

    /// Neither the raw nor the gzipped name of an MNIST file exists in the directory.
    #[error("{}: no MNIST {what} file: tried {}", dir.display(), tried.join(" and "))]
    NotFound {
        /// The directory searched.
        dir: PathBuf,
        /// Which file ("train images", ...).
        what: &'static str,
        /// The names tried, in order of preference.
        tried: Vec<String>,
    },

    /// [`write_idx_u8`] was given dimensions that do not fit its data or the format.
    #[error("{}: cannot write: {why}", path.display())]
    InvalidWrite {
        /// The file that was to be written.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl IdxError {
    /// The file (or, for [`IdxError::NotFound`], the directory) the error is about; for
    /// [`IdxError::CountMismatch`], the label file.
    pub fn path(&self) -> &Path {
        match self {
            IdxError::Io { path, .. }
            | IdxError::TruncatedHeader { path, .. }
            | IdxError::BadMagic { path, .. }
            | IdxError::WrongDimensionCount { path, .. }
            | IdxError::EmptyImageSize { path, .. }
            | IdxError::Truncated { path, .. }
            | IdxError::Implausible { path, .. }
            | IdxError::GzipSizeMismatch { path, .. }
            | IdxError::TooLarge { path, .. }
            | IdxError::TrailingData { path, .. }
            | IdxError::AfterGzipStream { path, .. }
            | IdxError::GzipTruncated { path, .. }
            | IdxError::GzipCorrupt { path, .. }
            | IdxError::LabelOutOfRange { path, .. }
            | IdxError::InvalidWrite { path, .. } => path,
            IdxError::CountMismatch { labels_path, .. } => labels_path,
            IdxError::NotFound { dir, .. } => dir,
        }
    }
}

fn at(offset: u64, uncompressed: bool) -> String {
    if uncompressed {
        format!("uncompressed byte {offset}")
    } else {
        format!("byte {offset}")
    }
}

fn holder(uncompressed: bool) -> &'static str {
    if uncompressed {
        "uncompressed stream"
    } else {
        "file"
    }
}

fn bytes(payload: Option<u64>) -> String {
    match payload {
        Some(n) => plural(n, "byte"),
        None => "more than 2^64 bytes".to_string(),
    }
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn dims_meaning(ndims: u8) -> &'static str {
    match ndims {
        1 => "labels: count",
        3 => "images: count x rows x cols",
        _ => "an array",
    }
}

fn dims_hint(found: u8, expected: u8) -> &'static str {
    match (found, expected) {
        (1, 3) => "; is this a label file?",
        (3, 1) => "; is this an image file?",
        _ => "",
    }
}

pub(super) fn type_name(code: u8) -> Option<&'static str> {
    match code {
        0x08 => Some("u8"),
        0x09 => Some("i8"),
        0x0B => Some("i16"),
        0x0C => Some("i32"),
        0x0D => Some("f32"),
        0x0E => Some("f64"),
        _ => None,
    }
}
