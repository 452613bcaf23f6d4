//! The IDX reader and writer: round trips, and one test per kind of bad file, each checking the
//! error's variant and that its message is one line naming the file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use nn::data::idx::{
    IMAGES_MAGIC, IdxArray, IdxError, LABELS_MAGIC, Split, load_mnist, mnist_paths, read_idx_u8, read_images,
    read_labels, write_idx_u8,
};

/// A fresh, empty directory for one test.
fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("idx-tests")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// An IDX file's bytes, header as given.
fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Deterministic bytes that do not compress.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// The message is one line and names the file; returns it, printed for the test log.
fn message(err: &IdxError, path: &Path) -> String {
    let msg = err.to_string();
    println!("{msg}");
    assert!(!msg.contains('\n'), "not one line: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "does not name {}: {msg}",
        path.display()
    );
    assert_eq!(err.path(), path);
    msg
}

#[test]
fn round_trip_raw_and_gzip() {
    let dir = test_dir("round_trip");
    let pixels = noise(3 * 4 * 5, 1);
    let labels: Vec<u8> = (0..3).map(|i| i * 4 % 10).collect();
    for gz in [false, true] {
        let images_path = dir.join(format!("images-{gz}"));
        let labels_path = dir.join(format!("labels-{gz}"));
        write_idx_u8(&images_path, &[3, 4, 5], &pixels, gz).unwrap();
        write_idx_u8(&labels_path, &[3], &labels, gz).unwrap();
        let raw = fs::read(&images_path).unwrap();
        assert_eq!(raw[..2] == [0x1f, 0x8b], gz);
        if !gz {
            assert_eq!(raw, idx_bytes(IMAGES_MAGIC, &[3, 4, 5], &pixels));
        }

        let images = read_images(&images_path).unwrap();
        assert_eq!((images.count, images.rows, images.cols), (3, 4, 5));
        assert_eq!(images.pixels, pixels);
        assert_eq!(images.image(2), &pixels[40..60]);
        assert_eq!(read_labels(&labels_path).unwrap(), labels);
        assert_eq!(
            read_idx_u8(&images_path).unwrap(),
            IdxArray {
                dims: vec![3, 4, 5],
                data: pixels.clone()
            }
        );

        // Other shapes: no images, a 2-D array, a single element.
        write_idx_u8(&images_path, &[0, 28, 28], &[], gz).unwrap();
        let empty = read_images(&images_path).unwrap();
        assert_eq!(
            (empty.count, empty.rows, empty.cols, empty.pixels.len()),
            (0, 28, 28, 0)
        );
        write_idx_u8(&images_path, &[2, 3], &pixels[..6], gz).unwrap();
        assert_eq!(
            read_idx_u8(&images_path).unwrap(),
            IdxArray {
                dims: vec![2, 3],
                data: pixels[..6].to_vec()
            }
        );
        write_idx_u8(&images_path, &[], &[42], gz).unwrap();
        assert_eq!(
            read_idx_u8(&images_path).unwrap(),
            IdxArray {
                dims: vec![],
                data: vec![42]
            }
        );
    }
    // Nothing but the written files is left: the temporary files were renamed.
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["images-false", "images-true", "labels-false", "labels-true"]
    );
}

#[test]
fn gzip_is_recognised_by_its_bytes_not_its_name() {
    let dir = test_dir("gzip_by_bytes");
    let bytes = idx_bytes(LABELS_MAGIC, &[4], &[1, 2, 3, 4]);
    let gz_named_raw = write(&dir, "labels.gz", &bytes);
    let raw_named_gz = write(&dir, "labels-idx1-ubyte", &gzip(&bytes));
    assert_eq!(read_labels(&gz_named_raw).unwrap(), [1, 2, 3, 4]);
    assert_eq!(read_labels(&raw_named_gz).unwrap(), [1, 2, 3, 4]);
}

#[test]
fn wrong_magic_number() {
    let dir = test_dir("wrong_magic");
    for gz in [false, true] {
        let not_idx = idx_bytes(0xDEAD_BEEF, &[1, 1, 1], &[0]);
        let f32_file = idx_bytes(0x0000_0D03, &[1, 1, 1], &[0, 0, 0, 0]);
        for (name, bytes, expect) in [("not-idx", not_idx, "not an IDX file"), ("f32", f32_file, "f32")] {
            let bytes = if gz { gzip(&bytes) } else { bytes };
            let path = write(&dir, &format!("{name}-{gz}"), &bytes);
            let err = read_images(&path).unwrap_err();
            assert!(
                matches!(err, IdxError::BadMagic { uncompressed, .. } if uncompressed == gz),
                "{err:?}"
            );
            let msg = message(&err, &path);
            assert!(msg.contains(expect) && msg.contains("0x00000803"), "{msg}");
            assert!(
                msg.contains(if gz { "uncompressed byte 0" } else { "byte 0" }),
                "{msg}"
            );
        }
    }
}

#[test]
fn wrong_dimension_count() {
    let dir = test_dir("wrong_dims");
    let labels = write(&dir, "labels", &idx_bytes(LABELS_MAGIC, &[2], &[1, 2]));
    let err = read_images(&labels).unwrap_err();
    assert!(matches!(
        err,
        IdxError::WrongDimensionCount {
            found: 1,
            expected: 3,
            magic: LABELS_MAGIC,
            ..
        }
    ));
    assert!(message(&err, &labels).contains("label file"));

    let images = write(&dir, "images", &gzip(&idx_bytes(IMAGES_MAGIC, &[1, 1, 1], &[5])));
    let err = read_labels(&images).unwrap_err();
    assert!(matches!(
        err,
        IdxError::WrongDimensionCount {
            found: 3,
            expected: 1,
            uncompressed: true,
            ..
        }
    ));
    message(&err, &images);
}

#[test]
fn truncated_header() {
    let dir = test_dir("truncated_header");
    let empty = write(&dir, "empty", &[]);
    let err = read_images(&empty).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::TruncatedHeader {
                needed: 4,
                found: 0,
                ..
            }
        ),
        "{err:?}"
    );
    message(&err, &empty);

    let short = write(&dir, "short", &idx_bytes(IMAGES_MAGIC, &[10, 28], &[]));
    let err = read_images(&short).unwrap_err();
    assert!(matches!(
        err,
        IdxError::TruncatedHeader {
            needed: 16,
            found: 12,
            uncompressed: false,
            ..
        }
    ));
    message(&err, &short);
}

#[test]
fn empty_image_size() {
    let dir = test_dir("empty_image_size");
    let path = write(&dir, "images", &idx_bytes(IMAGES_MAGIC, &[5, 0, 28], &[]));
    let err = read_images(&path).unwrap_err();
    assert!(matches!(
        err,
        IdxError::EmptyImageSize {
            rows: 0,
            cols: 28,
            ..
        }
    ));
    message(&err, &path);
}

#[test]
fn truncated_raw_file() {
    let dir = test_dir("truncated_raw");
    let full = idx_bytes(IMAGES_MAGIC, &[10, 28, 28], &noise(7840, 2));
    let path = write(&dir, "t10k-images-idx3-ubyte", &full[..16 + 1234]);
    let err = read_images(&path).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::Truncated {
                payload: Some(7840),
                header_len: 16,
                found: 1234,
                uncompressed: false,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = message(&err, &path);
    assert!(
        msg.contains("10 images of 28x28 (7840 bytes) after byte 16, the file holds 1234"),
        "{msg}"
    );
}

#[test]
fn truncated_gzip_file() {
    let dir = test_dir("truncated_gzip");
    let full = gzip(&idx_bytes(IMAGES_MAGIC, &[10, 28, 28], &noise(7840, 3)));

    // A download cut short: its last 4 bytes are not the gzip trailer, so they disagree with the header.
    let cut = &full[..full.len() / 2];
    let path = write(&dir, "cut.gz", cut);
    let err = read_images(&path).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::GzipSizeMismatch {
                header_len: 16,
                payload: 7840,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(message(&err, &path).contains("truncated"));

    // The same, with a trailer that agrees with the header: the decoder runs out of input.
    let mut forged = cut.to_vec();
    forged.extend_from_slice(&[0, 0, 0, 0]);
    forged.extend_from_slice(&(16u32 + 7840).to_le_bytes());
    let path = write(&dir, "cut-forged.gz", &forged);
    let err = read_images(&path).unwrap_err();
    assert!(
        matches!(err, IdxError::GzipTruncated { .. } | IdxError::GzipCorrupt { .. }),
        "{err:?}"
    );
    message(&err, &path);

    // Too short to be gzip at all.
    let path = write(&dir, "stub.gz", &full[..12]);
    let err = read_images(&path).unwrap_err();
    assert!(
        matches!(err, IdxError::GzipTruncated { offset: 0, .. }),
        "{err:?}"
    );
    message(&err, &path);
}

#[test]
fn corrupt_gzip_checksum() {
    let dir = test_dir("corrupt_gzip");
    let mut bytes = gzip(&idx_bytes(LABELS_MAGIC, &[100], &[3; 100]));
    let crc_at = bytes.len() - 8;
    bytes[crc_at] ^= 0xFF;
    let path = write(&dir, "labels.gz", &bytes);
    let err = read_labels(&path).unwrap_err();
    assert!(matches!(err, IdxError::GzipCorrupt { .. }), "{err:?}");
    assert!(message(&err, &path).contains("checksum"));
}

#[test]
fn trailing_bytes() {
    let dir = test_dir("trailing");
    let mut bytes = idx_bytes(LABELS_MAGIC, &[3], &[1, 2, 3]);
    bytes.extend_from_slice(&[9; 5]);
    let path = write(&dir, "labels", &bytes);
    let err = read_labels(&path).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::TrailingData {
                end: 11,
                extra: 5,
                uncompressed: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(message(&err, &path).contains("byte 11: 5 trailing bytes"));

    // Gzipped, the trailer records the real size, which is not the header's.
    let path = write(&dir, "labels.gz", &gzip(&bytes));
    let err = read_labels(&path).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::GzipSizeMismatch {
                payload: 3,
                isize: 16,
                ..
            }
        ),
        "{err:?}"
    );
    message(&err, &path);

    // Bytes after the gzip stream, even ones that look like its trailer.
    let mut gz = gzip(&bytes[..11]);
    gz.extend_from_slice(&11u32.to_le_bytes());
    let stream_end = gz.len() as u64 - 4;
    let path = write(&dir, "labels-junk.gz", &gz);
    let err = read_labels(&path).unwrap_err();
    assert!(
        matches!(err, IdxError::AfterGzipStream { extra: 4, offset, .. } if offset == stream_end),
        "{err:?}"
    );
    message(&err, &path);
}

#[test]
fn header_claiming_two_billion_images_fails_fast() {
    let dir = test_dir("huge_claim");
    let mut bytes = idx_bytes(IMAGES_MAGIC, &[1 << 31, 28, 28], &noise(7840, 4));

    let path = write(&dir, "huge", &bytes);
    let start = Instant::now();
    let err = read_images(&path).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(
            err,
            IdxError::Truncated {
                payload: Some(1_683_627_180_032),
                found: 7840,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(message(&err, &path).contains("2147483648 images of 28x28 (1683627180032 bytes)"));

    let path = write(&dir, "huge.gz", &gzip(&bytes));
    let start = Instant::now();
    let err = read_images(&path).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(
            err,
            IdxError::Implausible {
                payload: Some(1_683_627_180_032),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(message(&err, &path).contains("header claims 2147483648 images of 28x28 (1683627180032 bytes)"));

    // Dimensions whose product overflows 64 bits.
    bytes[4..16].copy_from_slice(&[0xFF; 12]);
    let path = write(&dir, "overflow", &bytes);
    let err = read_images(&path).unwrap_err();
    assert!(
        matches!(err, IdxError::Truncated { payload: None, .. }),
        "{err:?}"
    );
    assert!(message(&err, &path).contains("more than 2^64 bytes"));
}

#[test]
fn label_out_of_range() {
    let dir = test_dir("label_range");
    let mut labels: Vec<u8> = (0..30).map(|i| i % 10).collect();
    labels[17] = 11;
    let bytes = idx_bytes(LABELS_MAGIC, &[30], &labels);
    for (name, file, at) in [
        ("raw", bytes.clone(), "byte 25"),
        ("gz", gzip(&bytes), "uncompressed byte 25"),
    ] {
        let path = write(&dir, name, &file);
        let err = read_labels(&path).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::LabelOutOfRange {
                    offset: 25,
                    index: 17,
                    label: 11,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = message(&err, &path);
        assert!(
            msg.contains(&format!("{at} (label 17): 11 is not a digit 0..=9")),
            "{msg}"
        );
    }
}

#[test]
fn load_mnist_checks_counts_and_names() {
    let dir = test_dir("load_mnist");
    let images = noise(5 * 28 * 28, 5);
    write_idx_u8(dir.join("t10k-images-idx3-ubyte.gz"), &[5, 28, 28], &images, true).unwrap();
    write_idx_u8(
        dir.join("t10k-labels-idx1-ubyte.gz"),
        &[5],
        &[0, 1, 2, 3, 4],
        true,
    )
    .unwrap();
    let test = load_mnist(&dir, Split::Test).unwrap();
    assert_eq!((test.len(), test.rows, test.cols), (5, 28, 28));
    assert_eq!(test.images, images);
    assert_eq!(test.labels, [0, 1, 2, 3, 4]);

    // A raw file is preferred to a gzipped one.
    let raw_labels = dir.join("t10k-labels-idx1-ubyte");
    write_idx_u8(&raw_labels, &[5], &[9, 8, 7, 6, 5], false).unwrap();
    assert_eq!(mnist_paths(&dir, Split::Test).unwrap().1, raw_labels);
    assert_eq!(load_mnist(&dir, Split::Test).unwrap().labels, [9, 8, 7, 6, 5]);

    // A label file of another length.
    write_idx_u8(&raw_labels, &[4], &[9, 8, 7, 6], false).unwrap();
    let err = load_mnist(&dir, Split::Test).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::CountMismatch {
                labels: 4,
                images: 5,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = message(&err, &raw_labels);
    assert!(msg.contains("t10k-images-idx3-ubyte.gz holds 5 images"), "{msg}");

    // Missing files, and a missing directory.
    let err = load_mnist(&dir, Split::Train).unwrap_err();
    assert!(
        matches!(
            err,
            IdxError::NotFound {
                what: "train images",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = message(&err, &dir);
    assert!(
        msg.contains("tried train-images-idx3-ubyte and train-images-idx3-ubyte.gz"),
        "{msg}"
    );
    let nowhere = dir.join("nowhere");
    let err = load_mnist(&nowhere, Split::Train).unwrap_err();
    assert!(matches!(err, IdxError::Io { .. }), "{err:?}");
    message(&err, &nowhere);
}

#[test]
fn missing_file() {
    let dir = test_dir("missing_file");
    let path = dir.join("absent-idx1-ubyte");
    let err = read_labels(&path).unwrap_err();
    assert!(
        matches!(&err, IdxError::Io { op: "open", source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    message(&err, &path);
}

#[test]
fn writer_rejects_bad_shapes_and_leaves_nothing() {
    let dir = test_dir("writer");
    let path = dir.join("bad");
    for (dims, data) in [
        (vec![3, 28, 28], vec![0u8; 2000]),
        (vec![1usize << 33, 0], vec![]),
        (vec![1; 256], vec![0]),
    ] {
        let err = write_idx_u8(&path, &dims, &data, false).unwrap_err();
        assert!(matches!(err, IdxError::InvalidWrite { .. }), "{err:?}");
        message(&err, &path);
    }
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}
