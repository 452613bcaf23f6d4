//! A header that lies about its size never makes the IDX reader allocate what it claims: a
//! counting global allocator measures the peak of live heap bytes while each bad file is read.
//!
//! This binary holds a single test so that no other test's allocations run beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;
use nn::data::idx::{IMAGES_MAGIC, IdxError, read_images};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call forwards to the system allocator unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Count the old and the new block as live together, as a moving realloc holds both.
        grew(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The peak of live heap bytes above what was live before, while `f` runs.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - before)
}

fn idx_header(dims: [u32; 3]) -> Vec<u8> {
    let mut out = IMAGES_MAGIC.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    for part in parts {
        enc.write_all(part).unwrap();
    }
    enc.finish().unwrap()
}

#[test]
fn lying_headers_do_not_allocate_their_claims() {
    const MIB: usize = 1 << 20;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("idx-alloc");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();

    // 2^31 images of 28x28 (1.7 TB) with 7840 bytes of data, raw and gzipped.
    let data = noise(7840);
    let header = idx_header([1 << 31, 28, 28]);
    let raw = dir.join("huge-raw");
    fs::write(&raw, [&header[..], &data].concat()).unwrap();
    let gz = dir.join("huge.gz");
    fs::write(&gz, gzip(&[&header, &data])).unwrap();
    for path in [&raw, &gz] {
        let (result, peak) = peak_during(|| read_images(path));
        let err = result.unwrap_err();
        println!("{err} (peak {peak} bytes)");
        assert!(
            matches!(err, IdxError::Truncated { .. } | IdxError::Implausible { .. }),
            "{err:?}"
        );
        assert!(peak < MIB, "peak allocation {peak} bytes");
    }

    // A gzipped file whose header claims 2^32 bytes more than it holds passes every check made before
    // reading (the gzip trailer records sizes mod 2^32, and 4 MiB of incompressible data may expand to
    // 4.3 GB): the reader finds the lie only by reading, and reads no more than the real data.
    let images = 65;
    let data = noise(images * 256 * 256);
    let header = idx_header([(images as u32) + (1 << 16), 256, 256]);
    let path = dir.join("aliased.gz");
    fs::write(&path, gzip(&[&header, &data])).unwrap();
    drop(data);
    let (result, peak) = peak_during(|| read_images(&path));
    let err = result.unwrap_err();
    println!("{err} (peak {peak} bytes)");
    assert!(
        matches!(err, IdxError::Truncated { uncompressed: true, found, .. } if found == (images * 256 * 256) as u64),
        "{err:?}"
    );
    assert!(
        peak < 32 * MIB,
        "peak allocation {peak} bytes for 4 MiB of real data"
    );

    // The honest file is read with little more than its own size.
    let data = noise(1000 * 28 * 28);
    let path = dir.join("honest.gz");
    fs::write(&path, gzip(&[&idx_header([1000, 28, 28]), &data])).unwrap();
    let (result, peak) = peak_during(|| read_images(&path));
    assert_eq!(result.unwrap().pixels, data);
    println!("honest: {} bytes of pixels, peak {peak} bytes", data.len());
    assert!(peak < data.len() + 2 * MIB, "peak allocation {peak} bytes");
}
