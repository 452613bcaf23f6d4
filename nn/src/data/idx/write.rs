//! [`write_idx_u8`]: writes an IDX file of `u8`, raw or gzipped, atomically (a temporary file
//! renamed into place).

use std::fs::{self, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{IdxError, U8_TYPE_CODE};

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
