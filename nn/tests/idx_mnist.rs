//! The real MNIST files, from the directory `MNIST_DIR` names; skipped when it is unset.

#[path = "../../tests/common/skip.rs"]
mod skip;

use std::path::PathBuf;
use std::time::Instant;

use nn::data::idx::{IMAGES_MAGIC, LABELS_MAGIC, Split, load_mnist, mnist_paths, read_labels};

fn mnist_dir() -> Option<PathBuf> {
    match std::env::var_os("MNIST_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            skip::skip(
                "real_mnist_loads_with_published_counts_and_sums",
                "MNIST_DIR is not set (it names the directory of MNIST's IDX files)",
            );
            None
        }
    }
}

/// MD5 (RFC 1321), to check the decompressed files against the published sums without a new
/// dependency.
fn md5(bytes: &[u8]) -> String {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
        5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15,
        21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut msg = bytes.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((bytes.len() as u64).wrapping_mul(8)).to_le_bytes());
    let mut h = [0x6745_2301u32, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    for block in msg.chunks_exact(64) {
        let m: Vec<u32> = block
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let rotated = a
                .wrapping_add(f)
                .wrapping_add(k[i])
                .wrapping_add(m[g])
                .rotate_left(S[i]);
            (a, b, c, d) = (d, b.wrapping_add(rotated), b, c);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter()
        .flat_map(|x| x.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn md5_known_answers() {
    assert_eq!(md5(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(
        md5(b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
        "57edf4a22be3c955ac49da2e2107b67a"
    );
}

fn idx_file(magic: u32, dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[test]
fn real_mnist_loads_with_published_counts_and_sums() {
    let Some(dir) = mnist_dir() else { return };
    let start = Instant::now();
    let train = load_mnist(&dir, Split::Train).unwrap();
    let test = load_mnist(&dir, Split::Test).unwrap();
    println!(
        "loaded MNIST train + test in {:.3} s",
        start.elapsed().as_secs_f64()
    );

    assert_eq!(
        (train.len(), train.rows, train.cols, train.images.len()),
        (60000, 28, 28, 60000 * 784)
    );
    assert_eq!(
        (test.len(), test.rows, test.cols, test.images.len()),
        (10000, 28, 28, 10000 * 784)
    );
    let mut counts = [0usize; 10];
    for &l in &test.labels {
        counts[l as usize] += 1;
    }
    assert_eq!(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    assert_eq!(
        read_labels(mnist_paths(&dir, Split::Test).unwrap().1).unwrap(),
        test.labels
    );

    // The published md5 sums are of the decompressed files: header, then data.
    let sums = [
        (
            idx_file(IMAGES_MAGIC, &[60000, 28, 28], &train.images),
            "6bbc9ace898e44ae57da46a324031adb",
        ),
        (
            idx_file(LABELS_MAGIC, &[60000], &train.labels),
            "a25bea736e30d166cdddb491f175f624",
        ),
        (
            idx_file(IMAGES_MAGIC, &[10000, 28, 28], &test.images),
            "2646ac647ad5339dbf082846283269ea",
        ),
        (
            idx_file(LABELS_MAGIC, &[10000], &test.labels),
            "27ae3e4e09519cfbb04c329615203637",
        ),
    ];
    for (file, sum) in &sums {
        assert_eq!(&md5(file), sum);
    }
}
