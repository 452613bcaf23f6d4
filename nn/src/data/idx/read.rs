//! The checked reader: opens a raw or gzipped IDX file and checks its header against what the
//! file can hold before it reads (and allocates for) the data.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::bufread::GzDecoder;

use super::error::type_name;
use super::{GZIP_MAX_RATIO, IdxError, U8_TYPE_CODE};

/// The first step in which a gzipped payload is read; each later step doubles what was read,
/// never beyond what the header claims.
const GZIP_FIRST_STEP: usize = 1 << 20;

/// What a read expects of the file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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
pub(super) fn read_checked(path: &Path, kind: Kind) -> Result<(Vec<usize>, Vec<u8>, u64, bool), IdxError> {
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
