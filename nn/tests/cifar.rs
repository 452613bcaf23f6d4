//! The CIFAR-10 and CIFAR-100 binary readers (`nn::data::cifar`) on small files written here:
//! the planes become interleaved HWC pixels, the files of a split are read in order from the
//! folder or its `cifar-10-batches-bin` subfolder, and bad files fail with the file, the
//! record and the offset.

use nn::data::cifar::{
    CIFAR10_RECORD, CIFAR100_RECORD, Cifar100Labels, CifarError, Split, load_cifar10, load_cifar100,
    read_cifar10, read_cifar100,
};
use std::path::{Path, PathBuf};

/// The byte of channel `k` (0 = R) at position `p` (row-major, `0..1024`) of record `n`: a
/// function that differs between channels, positions and records.
fn pixel(n: usize, k: usize, p: usize) -> u8 {
    ((n * 31 + k * 97 + p * 3 + p / 32) % 256) as u8
}

/// One record of `n`'s pixels after `labels`, in the file's layout: planes R, G, B.
fn record(n: usize, labels: &[u8]) -> Vec<u8> {
    let mut out = labels.to_vec();
    for k in 0..3 {
        out.extend((0..1024).map(|p| pixel(n, k, p)));
    }
    out
}

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-cifar-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn planes_become_interleaved_pixels() {
    let dir = scratch("layout");
    let labels = [7u8, 0, 9];
    let bytes: Vec<u8> = (0..3).flat_map(|n| record(n, &[labels[n]])).collect();
    write(&dir.join("test_batch.bin"), &bytes);
    let data = load_cifar10(&dir, Split::Test).unwrap();
    assert_eq!((data.len(), data.rows, data.cols, data.channels), (3, 32, 32, 3));
    assert_eq!(data.labels, labels);
    for n in 0..3 {
        let image = data.image(n);
        for (r, c, k) in [(0, 0, 0), (0, 1, 2), (5, 17, 1), (31, 31, 2), (31, 0, 0)] {
            assert_eq!(
                image[(r * 32 + c) * 3 + k],
                pixel(n, k, r * 32 + c),
                "{n} {r} {c} {k}"
            );
        }
        let all = (0..1024).all(|p| (0..3).all(|k| image[p * 3 + k] == pixel(n, k, p)));
        assert!(all, "image {n}");
    }
    // The stream reader gives the same dataset.
    assert_eq!(read_cifar10(&bytes[..], "bytes").unwrap(), data);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_training_files_are_read_in_order_from_the_archive_folder() {
    let dir = scratch("train");
    let folder = dir.join("cifar-10-batches-bin");
    for file in 1..=5 {
        // File k holds records 2k and 2k + 1, labelled with the file's number.
        let bytes: Vec<u8> = (0..2).flat_map(|j| record(2 * file + j, &[file as u8])).collect();
        write(&folder.join(format!("data_batch_{file}.bin")), &bytes);
    }
    let data = load_cifar10(&dir, Split::Train).unwrap();
    assert_eq!(data.labels, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    for i in 0..10 {
        assert_eq!(data.image(i)[3 * 40 + 1], pixel(i + 2, 1, 40), "image {i}");
    }
    // The folder itself also works.
    assert_eq!(load_cifar10(&folder, Split::Train).unwrap(), data);

    // A missing batch is named, with the path looked at.
    std::fs::remove_file(folder.join("data_batch_4.bin")).unwrap();
    let err = load_cifar10(&dir, Split::Train).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, CifarError::NotFound { name, .. } if name == "data_batch_4.bin"),
        "{msg}"
    );
    assert!(msg.contains("cifar-10-batches-bin/data_batch_4.bin"), "{msg}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_without_the_files_names_both_places_looked_in() {
    let dir = scratch("missing");
    let err = load_cifar10(&dir, Split::Test).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("no CIFAR-10 test file test_batch.bin"), "{msg}");
    let here = dir.join("test_batch.bin").display().to_string();
    let sub = dir
        .join("cifar-10-batches-bin/test_batch.bin")
        .display()
        .to_string();
    assert!(msg.contains(&format!("tried {here} and {sub}")), "{msg}");
    assert_eq!(err.path(), dir);

    let file = dir.join("plain-file");
    write(&file, b"x");
    let err = load_cifar10(&file, Split::Test).unwrap_err();
    assert!(matches!(err, CifarError::Io { .. }), "{err}");
    assert!(err.to_string().contains("not a directory"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_file_is_refused() {
    let dir = scratch("empty");
    write(&dir.join("test_batch.bin"), &[]);
    let err = load_cifar10(&dir, Split::Test).unwrap_err();
    assert!(matches!(err, CifarError::Empty { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("test_batch.bin: empty"), "{msg}");
    assert!(msg.contains("3073 bytes"), "{msg}");
    let err = read_cifar10(&[][..], "nothing.bin").unwrap_err();
    assert!(err.to_string().starts_with("nothing.bin: empty"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_truncated_last_record_is_named_with_its_offset() {
    let dir = scratch("truncated");
    let mut bytes: Vec<u8> = (0..2).flat_map(|n| record(n, &[1])).collect();
    bytes.extend_from_slice(&record(2, &[1])[..500]);
    let path = dir.join("test_batch.bin");
    write(&path, &bytes);
    // Found from the file's length before reading, and by the stream reader at its end.
    let from_file = load_cifar10(&dir, Split::Test).unwrap_err();
    let from_stream = read_cifar10(&bytes[..], &path).unwrap_err();
    for err in [from_file, from_stream] {
        let want = (2, 2 * CIFAR10_RECORD as u64, 500);
        assert!(
            matches!(err, CifarError::Truncated { record, offset, found, .. } if (record, offset, found) == want),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("{}: byte 6146: record 2 is truncated", path.display())),
            "{msg}"
        );
        assert!(msg.contains("500 bytes into it"), "{msg}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_label_out_of_range_is_named_with_its_record() {
    let bytes: Vec<u8> = [record(0, &[9]), record(1, &[10])].concat();
    let err = read_cifar10(&bytes[..], "bad.bin").unwrap_err();
    assert!(
        matches!(
            err,
            CifarError::LabelOutOfRange {
                record: 1,
                offset: 3073,
                label: 10,
                classes: 10,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "bad.bin: byte 3073 (record 1): label 10 is not a class 0..=9"
    );
}

#[test]
fn cifar100_keeps_the_chosen_label_and_checks_both() {
    let dir = scratch("cifar100");
    let bytes: Vec<u8> = [record(0, &[19, 99]), record(1, &[0, 42])].concat();
    write(&dir.join("cifar-100-binary/train.bin"), &bytes);
    let fine = load_cifar100(&dir, Split::Train, Cifar100Labels::Fine).unwrap();
    let coarse = load_cifar100(&dir, Split::Train, Cifar100Labels::Coarse).unwrap();
    assert_eq!(
        (fine.labels.clone(), coarse.labels.clone()),
        (vec![99, 42], vec![19, 0])
    );
    assert_eq!(fine.images, coarse.images);
    assert_eq!(fine.image(1)[3 * 1023 + 2], pixel(1, 2, 1023));

    // A fine label of 100 is out of range whichever label is kept; its offset is the second byte.
    let bad = [record(0, &[3, 100])].concat();
    for labels in [Cifar100Labels::Coarse, Cifar100Labels::Fine] {
        let err = read_cifar100(&bad[..], "bad100.bin", labels).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad100.bin: byte 1 (record 0): fine label 100 is not a class 0..=99"
        );
    }
    // A CIFAR-100 record read as CIFAR-10 does not fit its record size.
    let one = record(0, &[5, 99]);
    assert_eq!(one.len(), CIFAR100_RECORD);
    let err = read_cifar10(&one[..], "one100.bin").unwrap_err();
    assert!(
        matches!(
            err,
            CifarError::Truncated {
                record: 1,
                found: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = load_cifar100(&dir, Split::Test, Cifar100Labels::Fine).unwrap_err();
    assert!(
        err.to_string().contains("no CIFAR-100 test file test.bin"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
