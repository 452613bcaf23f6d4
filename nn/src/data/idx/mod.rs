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

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Compression;
use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;

use super::Dataset;

/// The magic number of an IDX file of `u8` images: count x rows x cols.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;

/// The magic number of an IDX file of `u8` labels: one dimension, the count.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The IDX type code of unsigned bytes, the third byte of the magic number.
pub const U8_TYPE_CODE: u8 = 0x08;

/// The most a deflate stream can expand: 258 bytes from a 2-bit code, 1032:1. A gzipped file of
/// `n` bytes cannot decompress to more than `n * GZIP_MAX_RATIO` bytes, whatever its header says.
pub const GZIP_MAX_RATIO: u64 = 1032;

/// The first step in which a gzipped payload is read; each later step doubles what was read,
/// never beyond what the header claims.
const GZIP_FIRST_STEP: usize = 1 << 20;

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

fn type_name(code: u8) -> Option<&'static str> {
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

/// What a read expects of the file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Images,
    Labels,
    Any,
}

impl Kind {
    fn ndims(self) -> Option<u8> {
        match self {
            Kind::Images => Some(3),
            Kind::Labels => Some(1),
            Kind::Any => None,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Images => "0x00000803, u8 images",
            Kind::Labels => "0x00000801, u8 labels",
            Kind::Any => "0x000008nn, u8 in nn dimensions",
        }
    }

    /// The header's claim in words: "10000 images of 28x28", "10000 labels", "an array of 2x3".
    fn claim(self, dims: &[usize]) -> String {
        match (self, dims) {
            (Kind::Images, [n, r, c]) => format!("{n} images of {r}x{c}"),
            (Kind::Labels, [n]) => format!("{n} labels"),
            (_, []) => "a single element".to_string(),
            _ => {
                let shape: Vec<String> = dims.iter().map(usize::to_string).collect();
                format!("an array of {}", shape.join("x"))
            }
        }
    }
}

enum Input {
    Raw(BufReader<File>),
    Gzip(GzDecoder<BufReader<File>>),
}

/// An open IDX file, raw or gzipped, that counts the (decompressed) bytes read.
struct Reader<'a> {
    path: &'a Path,
    input: Input,
    file_len: u64,
    /// The gzip trailer's record of the decompressed size, mod 2^32.
    isize: u32,
    pos: u64,
}

impl<'a> Reader<'a> {
    fn open(path: &'a Path) -> Result<Self, IdxError> {
        let io_err = |op| {
            move |source| IdxError::Io {
                path: path.to_path_buf(),
                op,
                source,
            }
        };
        let mut file = File::open(path).map_err(io_err("open"))?;
        let file_len = file.metadata().map_err(io_err("read the metadata of"))?.len();
        let mut start = [0u8; 2];
        let n = read_full(&mut file, &mut start).map_err(|(_, e)| io_err("read")(e))?;
        let gzip = n == 2 && start == [0x1f, 0x8b];
        let mut isize = 0;
        if gzip {
            // 10 bytes of gzip header, an empty deflate stream needs at least 2, and 8 of trailer.
            if file_len < 20 {
                return Err(IdxError::GzipTruncated {
                    path: path.to_path_buf(),
                    offset: 0,
                });
            }
            let mut trailer = [0u8; 4];
            file.seek(SeekFrom::End(-4)).map_err(io_err("seek in"))?;
            file.read_exact(&mut trailer).map_err(io_err("read"))?;
            isize = u32::from_le_bytes(trailer);
        }
        file.seek(SeekFrom::Start(0)).map_err(io_err("seek in"))?;
        let buffered = BufReader::with_capacity(1 << 16, file);
        let input = if gzip {
            Input::Gzip(GzDecoder::new(buffered))
        } else {
            Input::Raw(buffered)
        };
        Ok(Reader {
            path,
            input,
            file_len,
            isize,
            pos: 0,
        })
    }

    fn gzip(&self) -> bool {
        matches!(self.input, Input::Gzip(_))
    }

    /// Reads until `buf` is full or the data ends; returns how many bytes were read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, IdxError> {
        let result = match &mut self.input {
            Input::Raw(r) => read_full(r, buf),
            Input::Gzip(r) => read_full(r, buf),
        };
        match result {
            Ok(n) => {
                self.pos += n as u64;
                Ok(n)
            }
            Err((n, source)) => {
                let path = self.path.to_path_buf();
                let offset = self.pos + n as u64;
                Err(match (&self.input, source.kind()) {
                    (Input::Raw(_), _) => IdxError::Io {
                        path,
                        op: "read",
                        source,
                    },
                    (Input::Gzip(_), io::ErrorKind::UnexpectedEof) => {
                        IdxError::GzipTruncated { path, offset }
                    }
                    (Input::Gzip(_), _) => IdxError::GzipCorrupt { path, offset, source },
                })
            }
        }
    }

    /// Reads to the end, counting the bytes left; for gzip this also checks the stream's checksum
    /// and that nothing follows it in the file.
    fn finish(mut self) -> Result<u64, IdxError> {
        let mut sink = vec![0u8; 1 << 16];
        let mut extra = 0u64;
        loop {
            let n = self.fill(&mut sink)?;
            if n == 0 {
                break;
            }
            extra += n as u64;
        }
        if let Input::Gzip(decoder) = self.input {
            let mut rest = decoder.into_inner();
            let end = rest.stream_position().map_err(|source| IdxError::Io {
                path: self.path.to_path_buf(),
                op: "seek in",
                source,
            })?;
            if end < self.file_len && extra == 0 {
                return Err(IdxError::AfterGzipStream {
                    path: self.path.to_path_buf(),
                    offset: end,
                    extra: self.file_len - end,
                });
            }
        }
        Ok(extra)
    }
}

/// Reads until `buf` is full or the reader ends, retrying interruptions; on an error, also says how
/// many bytes had been read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, (usize, io::Error)> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((n, e)),
        }
    }
    Ok(n)
}

/// Reads and checks one IDX file of `u8`; returns its dimensions, its data and its header length.
fn read_checked(path: &Path, kind: Kind) -> Result<(Vec<usize>, Vec<u8>, u64, bool), IdxError> {
    let mut r = Reader::open(path)?;
    let uncompressed = r.gzip();
    let owned = || path.to_path_buf();

    // The magic number.
    let mut magic = [0u8; 4];
    let n = r.fill(&mut magic)?;
    if n < 4 {
        return Err(IdxError::TruncatedHeader {
            path: owned(),
            uncompressed,
            needed: 4,
            found: n as u64,
        });
    }
    let found = u32::from_be_bytes(magic);
    let bad_magic = |problem: String| IdxError::BadMagic {
        path: owned(),
        uncompressed,
        found,
        expected: kind.expected(),
        problem,
    };
    if magic[..2] == [0x1f, 0x8b] {
        return Err(bad_magic("the decompressed data is gzipped again".to_string()));
    }
    if magic[..2] != [0, 0] {
        return Err(bad_magic(
            "not an IDX file: its first two bytes must be zero".to_string(),
        ));
    }
    if magic[2] != U8_TYPE_CODE {
        let code = magic[2];
        return Err(bad_magic(match type_name(code) {
            Some(name) => format!("its type code {code:#04x} is {name}, and only u8 is read"),
            None => format!("{code:#04x} is not an IDX type code"),
        }));
    }
    let ndims = magic[3];
    if let Some(expected) = kind.ndims()
        && ndims != expected
    {
        return Err(IdxError::WrongDimensionCount {
            path: owned(),
            uncompressed,
            magic: found,
            found: ndims,
            expected,
        });
    }

    // The dimensions: at most 255 of them, so this buffer is small whatever the file says.
    let header_len = 4 + 4 * u64::from(ndims);
    let mut raw_dims = vec![0u8; 4 * usize::from(ndims)];
    let n = r.fill(&mut raw_dims)?;
    if n < raw_dims.len() {
        return Err(IdxError::TruncatedHeader {
            path: owned(),
            uncompressed,
            needed: header_len,
            found: 4 + n as u64,
        });
    }
    let dims: Vec<usize> = raw_dims
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    if kind == Kind::Images && (dims[1] == 0 || dims[2] == 0) {
        return Err(IdxError::EmptyImageSize {
            path: owned(),
            uncompressed,
            rows: dims[1],
            cols: dims[2],
        });
    }

    // The size the header claims, against what the file can hold, before anything is allocated.
    let payload = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    let claim = || kind.claim(&dims);
    if uncompressed {
        let total = payload.and_then(|p| p.checked_add(header_len));
        let cap = r.file_len.saturating_mul(GZIP_MAX_RATIO);
        match (payload, total) {
            (Some(p), Some(t)) if t <= cap => {
                if t as u32 != r.isize {
                    return Err(IdxError::GzipSizeMismatch {
                        path: owned(),
                        claim: claim(),
                        header_len,
                        payload: p,
                        isize: r.isize,
                    });
                }
            }
            _ => {
                return Err(IdxError::Implausible {
                    path: owned(),
                    claim: claim(),
                    payload,
                    compressed_len: r.file_len,
                });
            }
        }
    } else {
        let available = r.file_len.saturating_sub(header_len);
        match payload {
            Some(p) if p == available => {}
            Some(p) if p < available => {
                return Err(IdxError::TrailingData {
                    path: owned(),
                    uncompressed,
                    end: header_len + p,
                    extra: available - p,
                });
            }
            _ => {
                return Err(IdxError::Truncated {
                    path: owned(),
                    uncompressed,
                    claim: claim(),
                    payload,
                    header_len,
                    found: available,
                });
            }
        }
    }
    let Some(len) = payload.and_then(|p| usize::try_from(p).ok()) else {
        return Err(IdxError::TooLarge {
            path: owned(),
            claim: claim(),
            payload,
        });
    };

    // The payload. A raw file's length was checked, so it is read at once; a gzipped file's claim
    // is only plausible, so it is read in steps that double what was read so far.
    let first_step = if uncompressed { GZIP_FIRST_STEP } else { len };
    let mut data: Vec<u8> = Vec::new();
    while data.len() < len {
        let filled = data.len();
        let step = filled.max(first_step).min(len - filled);
        data.reserve_exact(step);
        data.resize(filled + step, 0);
        let n = r.fill(&mut data[filled..])?;
        if n < step {
            return Err(IdxError::Truncated {
                path: owned(),
                uncompressed,
                claim: claim(),
                payload,
                header_len,
                found: (filled + n) as u64,
            });
        }
    }

    let end = header_len + len as u64;
    let extra = r.finish()?;
    if extra > 0 {
        return Err(IdxError::TrailingData {
            path: owned(),
            uncompressed,
            end,
            extra,
        });
    }
    Ok((dims, data, header_len, uncompressed))
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
    })
}

/// Writes `data` as an IDX file of `u8` with dimensions `dims` (outermost first), gzipped when
/// `gzip` is set. The file is written under a temporary name in the same directory, then renamed
/// into place, so `path` never holds a half-written file.
///
/// Fails with [`IdxError::InvalidWrite`] when `dims` has more than 255 entries, one exceeds
/// `u32::MAX`, or their product is not `data.len()`.
///
/// ```
/// use nn::data::idx::{read_labels, write_idx_u8};
///
/// let path = std::env::temp_dir().join(format!("labels-doc-{}-idx1-ubyte", std::process::id()));
/// write_idx_u8(&path, &[4], &[7, 2, 1, 0], false).unwrap();
/// assert_eq!(read_labels(&path).unwrap(), [7, 2, 1, 0]);
/// assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 + 4);
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn write_idx_u8(path: impl AsRef<Path>, dims: &[usize], data: &[u8], gzip: bool) -> Result<(), IdxError> {
    let path = path.as_ref();
    let invalid = |why: String| IdxError::InvalidWrite {
        path: path.to_path_buf(),
        why,
    };
    let ndims = u8::try_from(dims.len()).map_err(|_| {
        invalid(format!(
            "{} dimensions, the format allows at most 255",
            dims.len()
        ))
    })?;
    let mut header = Vec::with_capacity(4 + 4 * dims.len());
    header.extend_from_slice(&[0, 0, U8_TYPE_CODE, ndims]);
    for (i, &d) in dims.iter().enumerate() {
        let d = u32::try_from(d).map_err(|_| {
            invalid(format!(
                "dimension {i} is {d}, the format allows at most {}",
                u32::MAX
            ))
        })?;
        header.extend_from_slice(&d.to_be_bytes());
    }
    let shape: Vec<String> = dims.iter().map(usize::to_string).collect();
    let product = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if product != Some(data.len()) {
        return Err(invalid(format!(
            "dimensions {} describe {} elements, the data holds {}",
            shape.join("x"),
            product.map_or_else(|| "more than usize::MAX".to_string(), |n| n.to_string()),
            data.len()
        )));
    }
    let Some(name) = path.file_name() else {
        return Err(invalid("the path names no file".to_string()));
    };

    static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);
    let temp = path.with_file_name(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_file(&temp, &header, data, gzip).and_then(|()| {
        fs::rename(&temp, path).map_err(|source| IdxError::Io {
            path: path.to_path_buf(),
            op: "rename the temporary file onto",
            source,
        })
    });
    if result.is_err() {
        // Best effort: the temporary file may not exist, and the first error is the one to report.
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_file(temp: &Path, header: &[u8], data: &[u8], gzip: bool) -> Result<(), IdxError> {
    let io_err = |source| IdxError::Io {
        path: temp.to_path_buf(),
        op: "write",
        source,
    };
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(io_err)?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    if gzip {
        let mut enc = GzEncoder::new(out, Compression::default());
        enc.write_all(header).map_err(io_err)?;
        enc.write_all(data).map_err(io_err)?;
        out = enc.finish().map_err(io_err)?;
    } else {
        out.write_all(header).map_err(io_err)?;
        out.write_all(data).map_err(io_err)?;
    }
    let file = out.into_inner().map_err(|e| io_err(e.into_error()))?;
    file.sync_all().map_err(io_err)?;
    Ok(())
}
