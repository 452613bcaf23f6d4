//! The record reader: streams whole records from any reader, checks each label, and turns
//! each record's three colour planes into interleaved `HWC` pixels.

use std::io::{self, BufReader, Read};
use std::path::Path;

use super::{CifarError, IMAGE_BYTES, PLANE};

/// What a record holds before its pixels, and which label byte is kept.
#[derive(Clone, Copy, Debug)]
pub(super) struct Format {
    /// "CIFAR-10" or "CIFAR-100".
    pub name: &'static str,
    /// The label bytes before the pixels, each with its name in errors and its number of
    /// classes: one for CIFAR-10, coarse and fine for CIFAR-100. Every one is checked.
    pub labels: &'static [(&'static str, usize)],
    /// The label byte kept.
    pub keep: usize,
}

impl Format {
    pub fn record_len(&self) -> usize {
        self.labels.len() + IMAGE_BYTES
    }
}

/// Images (interleaved `HWC`) and labels read so far, from one file or several.
#[derive(Default)]
pub(super) struct Records {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Records {
    /// Reserves room for `records` more records (known from a file's length), failing with
    /// [`CifarError::TooLarge`] instead of aborting.
    pub fn reserve(&mut self, path: &Path, records: usize) -> Result<(), CifarError> {
        let too_large = |bytes| CifarError::TooLarge {
            path: path.to_path_buf(),
            bytes,
        };
        let bytes = records.checked_mul(IMAGE_BYTES).ok_or(too_large(usize::MAX))?;
        self.images
            .try_reserve_exact(bytes)
            .map_err(|_| too_large(bytes))?;
        self.labels
            .try_reserve_exact(records)
            .map_err(|_| too_large(records))?;
        Ok(())
    }

    /// Appends every record of `reader` (named `path` in errors); a reader that holds no
    /// record, or ends inside one, is an error. Returns the records read.
    pub fn read(&mut self, reader: impl Read, path: &Path, format: Format) -> Result<usize, CifarError> {
        let record_len = format.record_len();
        let mut reader = BufReader::with_capacity(1 << 16, reader);
        let mut record = vec![0u8; record_len];
        let mut count = 0usize;
        loop {
            let n = read_full(&mut reader, &mut record).map_err(|source| CifarError::Io {
                path: path.to_path_buf(),
                op: "read",
                source,
            })?;
            if n == 0 {
                break;
            }
            let offset = count as u64 * record_len as u64;
            if n < record_len {
                return Err(CifarError::Truncated {
                    path: path.to_path_buf(),
                    format: format.name,
                    record: count,
                    offset,
                    found: n,
                    record_len,
                });
            }
            for (i, (&label, &(which, classes))) in record.iter().zip(format.labels).enumerate() {
                if usize::from(label) >= classes {
                    return Err(CifarError::LabelOutOfRange {
                        path: path.to_path_buf(),
                        record: count,
                        offset: offset + i as u64,
                        which,
                        label,
                        classes,
                    });
                }
            }
            self.images
                .try_reserve(IMAGE_BYTES)
                .map_err(|_| CifarError::TooLarge {
                    path: path.to_path_buf(),
                    bytes: self.images.len().saturating_add(IMAGE_BYTES),
                })?;
            let start = self.images.len();
            self.images.resize(start + IMAGE_BYTES, 0);
            interleave(&record[format.labels.len()..], &mut self.images[start..]);
            self.labels.push(record[format.keep]);
            count += 1;
        }
        if count == 0 {
            return Err(CifarError::Empty {
                path: path.to_path_buf(),
                format: format.name,
                record_len,
            });
        }
        Ok(count)
    }
}

/// The planes of one record (1024 R, 1024 G, 1024 B bytes, each 32x32 row-major) as
/// interleaved pixels `(R, G, B)`, row-major.
fn interleave(planes: &[u8], out: &mut [u8]) {
    let (r, rest) = planes.split_at(PLANE);
    let (g, b) = rest.split_at(PLANE);
    for (((px, &r), &g), &b) in out.chunks_exact_mut(3).zip(r).zip(g).zip(b) {
        px.copy_from_slice(&[r, g, b]);
    }
}

/// Reads until `buf` is full or the reader ends, retrying interruptions.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
