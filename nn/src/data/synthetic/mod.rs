//! The built-in synthetic digit set: MNIST-like 28×28 grey digits drawn at run time, so the
//! main job needs no files.
//!
//! Each digit class has several *stroke templates* (the ways the digit is commonly written:
//! a `1` with or without a flag and a foot, an open or a closed `4`, a `7` with or without a
//! bar, with a short or a curved top or a tick down from the bar, a `9` with a round or a
//! pointed loop, a `2` plain, Z-like, L-like, ∂-like or curly with a small or a big loop, an `8`
//! of two loops or of one stroke, closed or open at the top, a `6` with a closed, an open or a
//! crossing loop, a `0` with an inward tail, …), made of pen strokes (lines, elliptic arcs,
//! cubic Bézier curves) in a unit box. Every image picks a template and draws it with its
//! own random pen and hand:
//!
//! - every point of the template moves by up to 0–0.15 of the digit's height, and its arcs'
//!   radii and ends change, so a loop's size or a stem's place varies independently of the
//!   rest; separate strokes move a little on their own;
//! - the strokes' free ends are shortened or lengthened a little, so loops open or overlap;
//! - the proportions are warped (a higher or lower waist, a wider top or bottom), and an
//!   elastic displacement field (a cubic B-spline over a 7×7 grid of random node displacements,
//!   the geometric counterpart of Simard et al.'s elastic distortion) bends the strokes;
//! - an affine map sets the aspect (width 0.75–1.3 of the height), a shear and a rotation
//!   (together leaning right on average, as handwriting does: rotation −12° to +18°, shear
//!   −0.36 to +0.15), and each digit's own lean and width on top, so that every digit's
//!   median slant and width match MNIST's (as its pen width matches its ink);
//! - as in MNIST, the digit is scaled so that its ink's bounding box (at grey level 30) has a
//!   longer side of 20 pixels, and moved by whole pixels so that its centre of mass lands on
//!   pixel (14, 14) (never onto the outermost ring of pixels);
//! - the pen is about 1.2–4.2 px wide (thin pens more often than bold ones), its pressure
//!   varies along each stroke (the width by up to ±30 %), and it is drawn anti-aliased from each
//!   pixel's distance to the stroke's centreline, with a soft edge and a saturated core; half
//!   the images are blurred a little (then brought back to full ink);
//! - half the images are then warped pixel by pixel by Simard et al.'s elastic distortion
//!   (α = 34, σ = 4 px: a smoothed random field of displacements, resampled bilinearly), which
//!   thins and thickens the strokes along their length and bends them at the scale of a few
//!   pixels; the outermost ring of pixels is left blank;
//! - mild noise is added to the ink and, in some images, a few faint specks to the background
//!   (never on the outermost two rings).
//!
//! Background pixels are 0 and ink reaches 255, with pixel statistics close to MNIST's: mean
//! about 0.139 (MNIST 0.131) and standard deviation 0.30 (0.31) on a 0–1 scale, 73 % of the
//! pixels exactly 0 (81 %), 5.8 % at 250 or more (7.5 %); the strokes' edges are softer than
//! MNIST's. A nearest-class-mean classifier gets about 62 % on it (77 % on MNIST at the same
//! sizes), LeNet-5 about 95 % (the main job's default run): they are harder than MNIST.
//!
//! Transfer: LeNet-5 trained only on these digits by the main job's default run (60 000
//! images, three epochs) scores about 97–97.5 % on the real MNIST test set (97.35 %, 97.11 %,
//! 97.51 % with seeds 1, 2, 3; measured by `cargo run --release --example mnist -- --extra-test
//! path/to/mnist --seed N`), as issue #12 asks (97 %).
//!
//! The data are deterministic and portable: the same seed gives the same bytes on every run and
//! platform. Random numbers come from a SplitMix64 generator written here (not `rand`'s
//! `StdRng`, whose stream the `rand` documentation says may change between versions and
//! platforms), and the geometry uses only correctly rounded `f64` operations (`+ − × ÷ √`,
//! rounding to integers), with sine, cosine and the elastic distortion's Gaussian `e^(−x)`
//! computed here by fixed polynomials rather than by the platform's math library. Each image
//! is drawn from a seed derived from `(seed, index)`, so images are drawn in parallel without
//! changing the result.
//!
//! ```
//! use nn::data::synthetic;
//!
//! let (train, test) = synthetic::train_test_split(1_000, 200, synthetic::DEFAULT_SEED);
//! assert_eq!((train.len(), test.len()), (1_000, 200));
//! assert_eq!((train.rows, train.cols), (28, 28));
//! // Balanced: 100 images of each digit.
//! assert!((0..10).all(|d| train.labels.iter().filter(|&&l| l == d).count() == 100));
//! // Deterministic.
//! assert_eq!(synthetic::generate(50, 7), synthetic::generate(50, 7));
//! ```

mod random;
mod render;
mod templates;
#[cfg(test)]
mod tests;
mod warp;

use super::Dataset;
use autograd::runtime::parallel;
use random::{SplitMix64, hash2};
use render::render;

/// Image height and width in pixels, as in MNIST.
pub const SIDE: usize = 28;

/// The number of training images the main job generates.
///
/// 60 000, as many as MNIST's training set: generating them takes a few seconds on two cores,
/// and three epochs of LeNet-5 over them about half a minute. The more varied the digits, the
/// more of them a network needs to see: with the main job's other defaults, LeNet-5 trained on
/// 60 000 of them scores about 97–97.5 % on the real MNIST test set (120 000 images or five
/// epochs added at most a few tenths of a point in earlier versions of the generator).
pub const DEFAULT_TRAIN: usize = 60_000;

/// The number of test images the main job generates: 4 000 (400 a class) gives an accuracy
/// figure with a standard error of about 0.3 points near 95 %.
pub const DEFAULT_TEST: usize = 4_000;

/// The seed of the main job's data set, so every run trains and tests on the same images.
pub const DEFAULT_SEED: u64 = 0x7A9E_6BAD_2024_0001;

const PIXELS: usize = SIDE * SIDE;

/// The stream of the label shuffle, apart from the images' streams `0..count`.
const LABEL_STREAM: u64 = u64::MAX;
/// The derived seeds of a split's two sets ("train" and "test" in ASCII).
const TRAIN_STREAM: u64 = 0x0074_7261_696E;
const TEST_STREAM: u64 = 0x7465_7374;

/// Generates `count` images of the digits 0–9, 28×28, with balanced classes (the counts of any
/// two digits differ by at most one) in a shuffled order.
///
/// The same `(count, seed)` always gives the same data set, byte for byte; the first `n` images
/// of a set do *not* in general equal a smaller set's, because the label order is a shuffle of
/// the whole set.
///
/// ```
/// use nn::data::synthetic;
///
/// let set = synthetic::generate(10, 1);
/// assert_eq!(set.images.len(), 10 * 28 * 28);
/// let mut labels = set.labels.clone();
/// labels.sort();
/// assert_eq!(labels, (0..10).collect::<Vec<u8>>());
/// // Every image has ink.
/// assert!((0..10).all(|i| set.image(i).iter().any(|&p| p > 128)));
/// ```
pub fn generate(count: usize, seed: u64) -> Dataset {
    let mut labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
    let mut rng = SplitMix64::new(hash2(seed, LABEL_STREAM));
    for i in (1..count).rev() {
        labels.swap(i, rng.below(i + 1));
    }
    let mut images = vec![0u8; count * PIXELS];
    // Each image from its own stream: the same bits on any number of threads.
    let parts = images.chunks_mut(PIXELS).zip(&labels);
    parallel::for_each_part(
        parts,
        parallel::worth_splitting(count, true),
        |i, (image, &label)| {
            let mut rng = SplitMix64::new(hash2(seed, i as u64));
            render(label as usize, &mut rng, image);
        },
    );
    Dataset {
        images,
        labels,
        rows: SIDE,
        cols: SIDE,
        channels: 1,
    }
}

/// Generates a training set of `train` images and a test set of `test` images from `seed`.
///
/// The two sets are drawn from two distinct seeds derived from `seed`, so the test images are
/// new draws of the same distribution, never copies of training images.
///
/// ```
/// use nn::data::synthetic::{self, DEFAULT_SEED};
///
/// let (train, test) = synthetic::train_test_split(100, 20, DEFAULT_SEED);
/// assert_eq!((train.len(), test.len()), (100, 20));
/// assert_ne!(train.image(0), test.image(0));
/// ```
pub fn train_test_split(train: usize, test: usize, seed: u64) -> (Dataset, Dataset) {
    (
        generate(train, hash2(seed, TRAIN_STREAM)),
        generate(test, hash2(seed, TEST_STREAM)),
    )
}
