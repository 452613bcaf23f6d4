//! The built-in synthetic digit set: MNIST-like 28×28 grey digits drawn at run time, so the
//! main job needs no files.
//!
//! Each digit class has one or more *stroke templates* (the ways the digit is commonly written:
//! a `1` with or without a flag, an open or a closed `4`, a `7` with or without a bar, …), made of
//! pen strokes (lines, elliptic arcs, cubic Bézier curves) in a unit box. Every image picks a
//! template and draws it with its own random pen and hand:
//!
//! - the strokes' free ends are shortened or lengthened a little, so loops open or overlap;
//! - the proportions are warped (a higher or lower waist, a wider top or bottom) and a smooth
//!   random displacement field bends the strokes, so no two images are the same shape;
//! - an affine map applies the size (0.8–1.1 of an 18.5 px centreline height, with an
//!   independent width factor of 0.85–1.15), a shear and a rotation (together leaning right on
//!   average, as handwriting does: rotation −8° to +17°, shear −0.32 to +0.08);
//! - the digit's ink centre lands within ±2 px of the image centre, and the digit is shrunk or
//!   moved where needed to keep the outermost ring of pixels blank;
//! - the pen is about 1.4–3.2 px wide, varies slightly along each stroke, and is drawn
//!   anti-aliased from each pixel's distance to the stroke's centreline, with a soft edge and a
//!   saturated core;
//! - mild noise is added to the ink and, in some images, a few faint specks to the background
//!   (never on the outermost two rings).
//!
//! Background pixels are 0 and ink is near 255, with pixel statistics close to MNIST's: mean
//! about 0.135 (MNIST 0.131) and standard deviation 0.31 (0.31) on a 0–1 scale, 81 % of the
//! pixels exactly 0 (81 %), 8 % at 250 or more (7.5 %). A nearest-class-mean classifier gets
//! about 74 % on it (77 % on MNIST at the same sizes), logistic regression about 92 % (89 %),
//! and LeNet-5 about 99 % after three epochs over 20 000 images (97.5 % on MNIST after four):
//! learnable, but not trivially.
//!
//! The data are deterministic and portable: the same seed gives the same bytes on every run and
//! platform. Random numbers come from a SplitMix64 generator written here (not `rand`'s
//! `StdRng`, whose stream the `rand` documentation says may change between versions and
//! platforms), and the geometry uses only correctly rounded `f64` operations (`+ − × ÷ √`,
//! rounding to integers), with sine and cosine computed here by a fixed polynomial rather than
//! by the platform's math library. Each image is drawn from a seed derived from `(seed, index)`, so images are drawn in
//! parallel without changing the result.
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

use super::Dataset;
use autograd::runtime::parallel;

/// Image height and width in pixels, as in MNIST.
pub const SIDE: usize = 28;

/// The number of training images the main job generates.
///
/// 20 000 rather than MNIST's 60 000, so that generating the set takes a fraction of a second
/// and an epoch of LeNet-5 stays short on two cores. It is enough: LeNet-5 (measured with
/// PyTorch as a reference: SGD with learning rate 0.05, momentum 0.9, batches of 64) reaches
/// 95–98 % test accuracy after one epoch over these 20 000 images and about 99 % after three.
pub const DEFAULT_TRAIN: usize = 20_000;

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

// ---------------------------------------------------------------------------------------------
// Random numbers and portable maths

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, fast, and fully specified, so the stream is the
/// same on every platform and in every version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `[-a, a)`.
    fn sym(&mut self, a: f64) -> f64 {
        self.range(-a, a)
    }

    /// Uniform in `0..n` (the multiply-shift map; its bias is below 2⁻⁶⁰ for the `n` used here).
    fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// SplitMix64's output function, a bijective mixer of 64-bit words.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed derived from two words; streams of nearby inputs are unrelated.
fn hash2(a: u64, b: u64) -> u64 {
    mix64(a ^ mix64(b.wrapping_add(0x632B_E59B_D9B4_E019)))
}

/// Sine and cosine of `x` (radians) from range reduction and Taylor polynomials of degree 17 and
/// 18 on `[-π/2, π/2]` (error below 1e-13), using only correctly rounded IEEE operations, so every
/// platform gets the same bits.
fn sin_cos(x: f64) -> (f64, f64) {
    use std::f64::consts::{FRAC_PI_2, PI, TAU};
    let r = x - (x / TAU).round() * TAU;
    let (r, sign) = if r > FRAC_PI_2 {
        (PI - r, -1.0)
    } else if r < -FRAC_PI_2 {
        (-PI - r, -1.0)
    } else {
        (r, 1.0)
    };
    let r2 = r * r;
    let mut s = 0.0;
    let mut c = 0.0;
    // Coefficients (-1)^k / (2k+1)! and (-1)^k / (2k)!, highest first.
    const S: [f64; 9] = [
        1.0 / 355_687_428_096_000.0,
        -1.0 / 1_307_674_368_000.0,
        1.0 / 6_227_020_800.0,
        -1.0 / 39_916_800.0,
        1.0 / 362_880.0,
        -1.0 / 5_040.0,
        1.0 / 120.0,
        -1.0 / 6.0,
        1.0,
    ];
    const C: [f64; 10] = [
        -1.0 / 6_402_373_705_728_000.0,
        1.0 / 20_922_789_888_000.0,
        -1.0 / 87_178_291_200.0,
        1.0 / 479_001_600.0,
        -1.0 / 3_628_800.0,
        1.0 / 40_320.0,
        -1.0 / 720.0,
        1.0 / 24.0,
        -0.5,
        1.0,
    ];
    for k in S {
        s = s * r2 + k;
    }
    for k in C {
        c = c * r2 + k;
    }
    (s * r, sign * c)
}

// ---------------------------------------------------------------------------------------------
// Templates

/// One drawing operation of a stroke, in the template's unit box (x to the right, y down, the
/// digit's height spanning `0..1`). A stroke is the polyline through its operations' points.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// Start (or continue) at a point.
    M(f64, f64),
    /// A line from the current point.
    L(f64, f64),
    /// A cubic Bézier curve from the current point: two control points, then the end.
    C(f64, f64, f64, f64, f64, f64),
    /// An elliptic arc: centre `(cx, cy)`, radii `(rx, ry)`, from angle `a0` to `a1` in degrees
    /// (0° to the right, 90° at the bottom: increasing angles turn clockwise on screen). Joined
    /// to the current point, if any, by a straight line.
    A(f64, f64, f64, f64, f64, f64),
}

use Op::{A, C, L, M};

/// One way of writing a digit: its strokes and its relative frequency among the digit's
/// templates.
struct Template {
    weight: f64,
    strokes: &'static [&'static [Op]],
}

const T0: &[Template] = &[
    // An upright oval, closed with a little overlap at the top.
    Template {
        weight: 0.5,
        strokes: &[&[A(0.5, 0.5, 0.3, 0.48, 250.0, 625.0)]],
    },
    // A narrow oval started at the upper right.
    Template {
        weight: 0.3,
        strokes: &[&[A(0.5, 0.5, 0.24, 0.48, 300.0, 670.0)]],
    },
    // A rounder oval, started at the top left and ending short of closing.
    Template {
        weight: 0.2,
        strokes: &[&[A(0.5, 0.52, 0.36, 0.46, 230.0, 575.0)]],
    },
];

const T1: &[Template] = &[
    // A single down stroke.
    Template {
        weight: 0.6,
        strokes: &[&[M(0.5, 0.0), L(0.5, 1.0)]],
    },
    // With a flag.
    Template {
        weight: 0.28,
        strokes: &[&[M(0.28, 0.2), L(0.56, 0.0), L(0.56, 1.0)]],
    },
    // With a flag and a foot.
    Template {
        weight: 0.12,
        strokes: &[
            &[M(0.3, 0.2), L(0.54, 0.0), L(0.54, 1.0)],
            &[M(0.3, 1.0), L(0.8, 1.0)],
        ],
    },
];

const T2: &[Template] = &[
    // A round top, a curved neck, a flat base.
    Template {
        weight: 0.45,
        strokes: &[&[
            A(0.5, 0.27, 0.3, 0.25, 195.0, 375.0),
            C(0.72, 0.55, 0.45, 0.72, 0.16, 0.98),
            L(0.86, 0.97),
        ]],
    },
    // A smaller top and a straight neck: Z-like.
    Template {
        weight: 0.3,
        strokes: &[&[
            A(0.5, 0.24, 0.28, 0.22, 200.0, 365.0),
            L(0.18, 0.97),
            L(0.84, 0.97),
        ]],
    },
    // A loop at the bottom left before the base.
    Template {
        weight: 0.25,
        strokes: &[&[
            A(0.5, 0.26, 0.3, 0.25, 195.0, 375.0),
            C(0.72, 0.5, 0.4, 0.7, 0.22, 0.9),
            C(0.12, 1.02, 0.42, 1.02, 0.36, 0.86),
            C(0.32, 0.78, 0.16, 0.86, 0.24, 0.94),
            C(0.36, 1.02, 0.64, 0.94, 0.86, 0.96),
        ]],
    },
];

const T3: &[Template] = &[
    // Two bowls meeting at a cusp.
    Template {
        weight: 0.65,
        strokes: &[&[
            A(0.47, 0.26, 0.28, 0.24, 200.0, 460.0),
            A(0.47, 0.73, 0.32, 0.26, 255.0, 520.0),
        ]],
    },
    // A flat top and a diagonal into the lower bowl.
    Template {
        weight: 0.35,
        strokes: &[&[
            M(0.18, 0.02),
            L(0.78, 0.02),
            L(0.42, 0.42),
            A(0.47, 0.7, 0.32, 0.28, 250.0, 520.0),
        ]],
    },
];

const T4: &[Template] = &[
    // Closed: a diagonal from the top of the stem, a bar, the stem.
    Template {
        weight: 0.45,
        strokes: &[
            &[M(0.64, 0.0), L(0.1, 0.66), L(0.9, 0.66)],
            &[M(0.64, 0.0), L(0.64, 1.0)],
        ],
    },
    // Open: a left upright, the bar, a separate stem.
    Template {
        weight: 0.55,
        strokes: &[
            &[M(0.2, 0.0), L(0.14, 0.6), L(0.88, 0.6)],
            &[M(0.68, 0.02), L(0.68, 1.0)],
        ],
    },
];

const T5: &[Template] = &[
    // A stem, a round belly, and a separate top bar.
    Template {
        weight: 0.6,
        strokes: &[
            &[
                M(0.3, 0.03),
                L(0.26, 0.45),
                A(0.47, 0.68, 0.31, 0.28, 228.0, 505.0),
            ],
            &[M(0.3, 0.03), L(0.8, 0.02)],
        ],
    },
    // One stroke: the bar, a slanted stem, a deeper belly.
    Template {
        weight: 0.4,
        strokes: &[&[
            M(0.82, 0.02),
            L(0.32, 0.04),
            L(0.22, 0.48),
            C(0.5, 0.3, 0.95, 0.48, 0.78, 0.8),
            C(0.64, 1.02, 0.3, 1.02, 0.16, 0.86),
        ]],
    },
];

const T6: &[Template] = &[
    // A curved stem into a round loop.
    Template {
        weight: 0.6,
        strokes: &[&[
            M(0.74, 0.02),
            C(0.45, 0.1, 0.2, 0.38, 0.2, 0.7),
            A(0.47, 0.72, 0.27, 0.26, 180.0, -150.0),
        ]],
    },
    // A straight slanted stem and a smaller loop.
    Template {
        weight: 0.4,
        strokes: &[&[
            M(0.66, 0.0),
            L(0.27, 0.6),
            A(0.5, 0.76, 0.25, 0.23, 200.0, -140.0),
        ]],
    },
];

const T7: &[Template] = &[
    // A bar and a straight stem.
    Template {
        weight: 0.5,
        strokes: &[&[M(0.14, 0.03), L(0.86, 0.03), L(0.42, 1.0)]],
    },
    // With a crossbar.
    Template {
        weight: 0.25,
        strokes: &[
            &[M(0.14, 0.03), L(0.86, 0.03), L(0.44, 1.0)],
            &[M(0.38, 0.52), L(0.82, 0.5)],
        ],
    },
    // A curved stem and a little hook at the start of the bar.
    Template {
        weight: 0.25,
        strokes: &[&[
            M(0.12, 0.14),
            L(0.14, 0.04),
            L(0.86, 0.04),
            C(0.62, 0.36, 0.46, 0.66, 0.46, 1.0),
        ]],
    },
];

const T8: &[Template] = &[
    // Two stacked loops.
    Template {
        weight: 0.5,
        strokes: &[
            &[A(0.5, 0.25, 0.22, 0.23, 90.0, 455.0)],
            &[A(0.5, 0.72, 0.28, 0.26, 270.0, 635.0)],
        ],
    },
    // One stroke: an S down, then back up through the waist.
    Template {
        weight: 0.5,
        strokes: &[&[
            M(0.74, 0.14),
            C(0.62, -0.04, 0.22, -0.02, 0.27, 0.24),
            C(0.31, 0.44, 0.8, 0.5, 0.79, 0.75),
            C(0.78, 1.03, 0.22, 1.03, 0.21, 0.76),
            C(0.2, 0.52, 0.72, 0.46, 0.73, 0.24),
            C(0.74, 0.06, 0.52, 0.0, 0.42, 0.02),
        ]],
    },
];

const T9: &[Template] = &[
    // A loop and a straight stem down from its right side.
    Template {
        weight: 0.45,
        strokes: &[&[A(0.48, 0.28, 0.27, 0.25, 5.0, -355.0), L(0.72, 1.0)]],
    },
    // A loop and a stem curving to the left at the bottom.
    Template {
        weight: 0.3,
        strokes: &[&[
            A(0.48, 0.28, 0.27, 0.25, 5.0, -355.0),
            C(0.76, 0.6, 0.72, 0.86, 0.5, 1.0),
        ]],
    },
    // A loop, then a separate straight stem.
    Template {
        weight: 0.25,
        strokes: &[
            &[A(0.46, 0.28, 0.27, 0.25, -20.0, 345.0)],
            &[M(0.74, 0.06), L(0.68, 1.0)],
        ],
    },
];

const TEMPLATES: [&[Template]; 10] = [T0, T1, T2, T3, T4, T5, T6, T7, T8, T9];

// ---------------------------------------------------------------------------------------------
// Drawing

#[derive(Clone, Copy, Debug)]
struct P {
    x: f64,
    y: f64,
}

fn p(x: f64, y: f64) -> P {
    P { x, y }
}

fn dist(a: P, b: P) -> f64 {
    ((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y)).sqrt()
}

/// Spacing of the polyline points along a stroke, in template units (about 0.7 px).
const STEP: f64 = 0.04;

/// The polyline of a stroke, in template units.
fn trace(ops: &[Op]) -> Vec<P> {
    let mut pts: Vec<P> = Vec::with_capacity(64);
    for &op in ops {
        match op {
            M(x, y) => pts.push(p(x, y)),
            L(x, y) => {
                let a = *pts.last().expect("a line needs a start");
                let b = p(x, y);
                let n = (dist(a, b) / STEP).ceil().max(1.0) as usize;
                for i in 1..=n {
                    let t = i as f64 / n as f64;
                    pts.push(p(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t));
                }
            }
            C(x1, y1, x2, y2, x, y) => {
                let a = *pts.last().expect("a curve needs a start");
                let (c1, c2, b) = (p(x1, y1), p(x2, y2), p(x, y));
                let n = ((dist(a, c1) + dist(c1, c2) + dist(c2, b)) / STEP)
                    .ceil()
                    .max(1.0) as usize;
                for i in 1..=n {
                    let t = i as f64 / n as f64;
                    let u = 1.0 - t;
                    let (w0, w1, w2, w3) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
                    pts.push(p(
                        w0 * a.x + w1 * c1.x + w2 * c2.x + w3 * b.x,
                        w0 * a.y + w1 * c1.y + w2 * c2.y + w3 * b.y,
                    ));
                }
            }
            A(cx, cy, rx, ry, a0, a1) => {
                let sweep = (a1 - a0).abs().to_radians() * rx.max(ry);
                let n = (sweep / STEP).ceil().max(1.0) as usize;
                for i in 0..=n {
                    let a = (a0 + (a1 - a0) * i as f64 / n as f64).to_radians();
                    let (s, c) = sin_cos(a);
                    pts.push(p(cx + rx * c, cy + ry * s));
                }
            }
        }
    }
    pts
}

/// Moves the start of a polyline by `delta` along it: shortens it when negative, extends it
/// along its first segment's direction when positive. Keeps at least a few points.
fn adjust_start(pts: &mut Vec<P>, delta: f64) {
    if pts.len() < 2 {
        return;
    }
    if delta > 0.0 {
        let (a, b) = (pts[0], pts[1]);
        let d = dist(a, b);
        if d > 1e-9 {
            let e = p(a.x + (a.x - b.x) / d * delta, a.y + (a.y - b.y) / d * delta);
            pts.insert(0, e);
        }
    } else {
        let mut left = -delta;
        let mut k = 0;
        while k + 4 < pts.len() {
            let d = dist(pts[k], pts[k + 1]);
            if d > left {
                let t = left / d;
                pts[k] = p(
                    pts[k].x + (pts[k + 1].x - pts[k].x) * t,
                    pts[k].y + (pts[k + 1].y - pts[k].y) * t,
                );
                break;
            }
            left -= d;
            k += 1;
        }
        pts.drain(..k);
    }
}

/// The random hand of one image: every distortion between template and pixels.
struct Hand {
    /// Vertical warp `y + waist·y(1−y)`: moves the middle of the digit up or down.
    waist: f64,
    /// Horizontal taper: the width scales by `1 + taper·(y − ½)`.
    taper: f64,
    /// A smooth displacement field, `Σ amp·sin(k·p + phase)` per axis.
    waves: [(f64, f64, f64, f64, bool); 6],
    /// Template units to pixels: the linear part of the affine map.
    m: [f64; 4],
}

impl Hand {
    fn new(rng: &mut SplitMix64) -> Self {
        let waist = rng.sym(0.14);
        let taper = rng.sym(0.3);
        let waves = std::array::from_fn(|i| {
            let amp = rng.range(0.0, 0.05);
            let wavelength = rng.range(0.6, 1.6);
            let (s, c) = sin_cos(rng.range(0.0, std::f64::consts::TAU));
            let k = std::f64::consts::TAU / wavelength;
            (
                amp,
                k * c,
                k * s,
                rng.range(0.0, std::f64::consts::TAU),
                i % 2 == 0,
            )
        });
        let size = 18.5 * rng.range(0.8, 1.1);
        let width = rng.range(0.85, 1.15);
        // Handwriting leans right more often than left: a negative shear moves the top right.
        let shear = rng.range(-0.32, 0.08);
        let (s, c) = sin_cos(rng.range(-8.0, 17.0).to_radians());
        // Rotation · [[size·width, shear·size], [0, size]]
        let (a, b, d) = (size * width, shear * size, size);
        let m = [c * a, c * b - s * d, s * a, s * b + c * d];
        Hand {
            waist,
            taper,
            waves,
            m,
        }
    }

    /// A template point mapped to pixels, before centring.
    fn map(&self, q: P) -> P {
        let y = q.y + self.waist * q.y * (1.0 - q.y);
        let x = 0.5 + (q.x - 0.5) * (1.0 + self.taper * (q.y - 0.5));
        let (mut dx, mut dy) = (0.0, 0.0);
        for &(amp, kx, ky, phase, horizontal) in &self.waves {
            let v = amp * sin_cos(kx * x + ky * y + phase).0;
            if horizontal {
                dx += v;
            } else {
                dy += v;
            }
        }
        let (u, v) = (x + dx - 0.5, y + dy - 0.5);
        p(self.m[0] * u + self.m[1] * v, self.m[2] * u + self.m[3] * v)
    }
}

/// A polyline in pixels with its pen's half-width at each point.
struct Pen {
    pts: Vec<P>,
    half: Vec<f64>,
}

/// Draws one image of `digit` into `out` (28×28 bytes).
fn render(digit: usize, rng: &mut SplitMix64, out: &mut [u8]) {
    let templates = TEMPLATES[digit];
    let total: f64 = templates.iter().map(|t| t.weight).sum();
    let mut pick = rng.unit() * total;
    let mut template = &templates[templates.len() - 1];
    for t in templates {
        if pick < t.weight {
            template = t;
            break;
        }
        pick -= t.weight;
    }
    draw(template, rng, out);
}

/// Draws one image of a template into `out` (28×28 bytes).
fn draw(template: &Template, rng: &mut SplitMix64, out: &mut [u8]) {
    let hand = Hand::new(rng);
    let half_width = rng.range(0.68, 1.6);
    let soft = rng.range(0.45, 0.95).min(half_width + 0.2);
    let wobble = rng.range(0.0, 0.15);

    // Strokes in pixels, with their pen widths.
    let mut pens: Vec<Pen> = Vec::with_capacity(template.strokes.len());
    for ops in template.strokes {
        let mut pts = trace(ops);
        adjust_start(&mut pts, rng.range(-0.1, 0.06));
        pts.reverse();
        adjust_start(&mut pts, rng.range(-0.1, 0.06));
        pts.reverse();
        let pts: Vec<P> = pts.into_iter().map(|q| hand.map(q)).collect();
        let (period, phase) = (rng.range(8.0, 25.0), rng.range(0.0, std::f64::consts::TAU));
        let mut along = 0.0;
        let mut half = Vec::with_capacity(pts.len());
        for i in 0..pts.len() {
            if i > 0 {
                along += dist(pts[i - 1], pts[i]);
            }
            half.push(
                half_width * (1.0 + wobble * sin_cos(along / period * std::f64::consts::TAU + phase).0),
            );
        }
        pens.push(Pen { pts, half });
    }

    // Centre the ink (length-weighted centroid of the centrelines) near the image centre, then
    // keep the digit inside the frame with a blank pixel at the border.
    let (mut sx, mut sy, mut sl) = (0.0, 0.0, 0.0);
    let (mut lo, mut hi) = (p(f64::MAX, f64::MAX), p(f64::MIN, f64::MIN));
    for pen in &pens {
        for w in pen.pts.windows(2) {
            let l = dist(w[0], w[1]);
            sx += (w[0].x + w[1].x) * 0.5 * l;
            sy += (w[0].y + w[1].y) * 0.5 * l;
            sl += l;
        }
        for (q, &h) in pen.pts.iter().zip(&pen.half) {
            lo = p(lo.x.min(q.x - h), lo.y.min(q.y - h));
            hi = p(hi.x.max(q.x + h), hi.y.max(q.y + h));
        }
    }
    let centre = if sl > 0.0 {
        p(sx / sl, sy / sl)
    } else {
        p(0.0, 0.0)
    };
    let room = SIDE as f64 - 2.0 - 2.0 * soft;
    let fit = (room / (hi.x - lo.x)).min(room / (hi.y - lo.y)).min(1.0);
    let target = p(SIDE as f64 / 2.0 + rng.sym(2.0), SIDE as f64 / 2.0 + rng.sym(2.0));
    let mut shift = p(target.x - centre.x * fit, target.y - centre.y * fit);
    let margin = 1.0 + soft;
    let bound = SIDE as f64 - margin;
    shift.x += (margin - (lo.x * fit + shift.x)).max(0.0) - (hi.x * fit + shift.x - bound).max(0.0);
    shift.y += (margin - (lo.y * fit + shift.y)).max(0.0) - (hi.y * fit + shift.y - bound).max(0.0);
    for pen in &mut pens {
        for q in &mut pen.pts {
            *q = p(q.x * fit + shift.x, q.y * fit + shift.y);
        }
    }

    // Anti-aliased ink: a linear ramp from nothing at `half + soft` from a centreline, reaching
    // full ink before `half − soft` (saturating like MNIST's pen strokes, see `INK_GAIN`).
    let mut ink = [0.0f64; PIXELS];
    for pen in &pens {
        for i in 0..pen.pts.len().saturating_sub(1) {
            let (a, b) = (pen.pts[i], pen.pts[i + 1]);
            let half = 0.5 * (pen.half[i] + pen.half[i + 1]) * fit;
            draw_segment(&mut ink, a, b, half, soft);
        }
        if pen.pts.len() == 1 {
            draw_segment(&mut ink, pen.pts[0], pen.pts[0], pen.half[0], soft);
        }
    }

    // Noise: mild on the ink, and a few faint specks on the background in some images.
    let noise = rng.range(0.0, 0.1);
    for v in &mut ink {
        if *v > 0.0 {
            *v += noise * rng.sym(1.0);
        }
    }
    if rng.chance(0.3) {
        for _ in 0..1 + rng.below(3) {
            // Never on the two outermost rings, which stay blank as in MNIST.
            let k = (2 + rng.below(SIDE - 4)) * SIDE + 2 + rng.below(SIDE - 4);
            ink[k] = (ink[k] + rng.range(0.05, 0.3)).min(1.0);
        }
    }
    for (o, v) in out.iter_mut().zip(ink) {
        *o = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    }
}

/// How far the ink ramp overshoots full intensity before clipping: > 1 gives the saturated
/// stroke cores that MNIST has (about 7 % of its pixels are 250 or more), and keeps the cores at
/// 255 under the ink noise.
const INK_GAIN: f64 = 1.25;

/// Draws the segment `a–b` with the given half-width and edge softness, keeping the darkest
/// value at each pixel (so overlapping segments do not add up).
fn draw_segment(ink: &mut [f64; PIXELS], a: P, b: P, half: f64, soft: f64) {
    let reach = half + soft;
    let last = SIDE as f64 - 1.0;
    let c0 = (a.x.min(b.x) - reach - 0.5).floor().clamp(0.0, last) as usize;
    let c1 = (a.x.max(b.x) + reach - 0.5).ceil().clamp(0.0, last) as usize;
    let r0 = (a.y.min(b.y) - reach - 0.5).floor().clamp(0.0, last) as usize;
    let r1 = (a.y.max(b.y) + reach - 0.5).ceil().clamp(0.0, last) as usize;
    let (ex, ey) = (b.x - a.x, b.y - a.y);
    let len2 = ex * ex + ey * ey;
    for r in r0..=r1 {
        let y = r as f64 + 0.5;
        for c in c0..=c1 {
            let x = c as f64 + 0.5;
            let t = if len2 > 0.0 {
                (((x - a.x) * ex + (y - a.y) * ey) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (dx, dy) = (x - a.x - t * ex, y - a.y - t * ey);
            let d = (dx * dx + dy * dy).sqrt();
            let v = (INK_GAIN * (reach - d) / (2.0 * soft)).clamp(0.0, INK_GAIN);
            let cell = &mut ink[r * SIDE + c];
            if v > *cell {
                *cell = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sin_cos_matches_the_math_library() {
        let mut worst: f64 = 0.0;
        for i in -20_000..=20_000 {
            let x = i as f64 * 0.001_234_567;
            let (s, c) = sin_cos(x);
            worst = worst.max((s - x.sin()).abs()).max((c - x.cos()).abs());
        }
        assert!(worst < 1e-12, "worst error {worst:e}");
    }

    #[test]
    fn splitmix_matches_the_reference_stream() {
        // The first outputs of SplitMix64 seeded with 1234567, from the reference C code.
        let mut rng = SplitMix64::new(1_234_567);
        let expected: [u64; 3] = [
            6_457_827_717_110_365_317,
            3_203_168_211_198_807_973,
            9_817_491_932_198_370_423,
        ];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
    }

    #[test]
    fn uniform_draws_cover_their_ranges() {
        let mut rng = SplitMix64::new(9);
        let mut counts = [0usize; 7];
        let (mut lo, mut hi) = (f64::MAX, f64::MIN);
        for _ in 0..70_000 {
            counts[rng.below(7)] += 1;
            let u = rng.range(-2.0, 3.0);
            lo = lo.min(u);
            hi = hi.max(u);
        }
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
        assert!(
            (-2.0..-1.99).contains(&lo) && (2.99..3.0).contains(&hi),
            "{lo} {hi}"
        );
    }

    /// Ink mass inside a centred `k×k` box, and on the image's outermost ring of pixels.
    fn ink_inside(image: &[u8], k: usize) -> (f64, f64, f64) {
        let (mut total, mut inside, mut ring) = (0.0, 0.0, 0.0);
        let lo = (SIDE - k) / 2;
        for r in 0..SIDE {
            for c in 0..SIDE {
                let v = image[r * SIDE + c] as f64;
                total += v;
                if (lo..lo + k).contains(&r) && (lo..lo + k).contains(&c) {
                    inside += v;
                }
                if r == 0 || c == 0 || r == SIDE - 1 || c == SIDE - 1 {
                    ring += v;
                }
            }
        }
        (total, inside, ring)
    }

    #[test]
    fn every_template_draws_a_digit_inside_the_frame() {
        for (digit, templates) in TEMPLATES.iter().enumerate() {
            for (k, template) in templates.iter().enumerate() {
                let mut inside_share = 0.0;
                for i in 0..50 {
                    let mut rng = SplitMix64::new(hash2(digit as u64 * 100 + k as u64, i));
                    let mut image = [0u8; PIXELS];
                    draw(template, &mut rng, &mut image);
                    let (total, inside, ring) = ink_inside(&image, 22);
                    let strong = image.iter().filter(|&&v| v >= 128).count();
                    let peak = image.iter().max().unwrap();
                    assert!(
                        strong >= 15,
                        "digit {digit} template {k} image {i}: {strong} pixels of ink"
                    );
                    assert!(
                        *peak >= 200,
                        "digit {digit} template {k} image {i}: faint ink, {peak} at most"
                    );
                    assert!(
                        ring == 0.0,
                        "digit {digit} template {k} image {i}: ink {ring} on the border"
                    );
                    inside_share += inside / total / 50.0;
                }
                assert!(
                    inside_share > 0.95,
                    "digit {digit} template {k}: {inside_share} of the ink in the 22×22 centre"
                );
            }
        }
    }

    #[test]
    fn templates_of_a_digit_differ_and_weights_are_positive() {
        for (digit, templates) in TEMPLATES.iter().enumerate() {
            assert!(templates.iter().all(|t| t.weight > 0.0), "digit {digit}");
            // Drawn with the same hand, two templates of a digit must give different images.
            for a in 0..templates.len() {
                for b in a + 1..templates.len() {
                    let (mut ia, mut ib) = ([0u8; PIXELS], [0u8; PIXELS]);
                    draw(&templates[a], &mut SplitMix64::new(5), &mut ia);
                    draw(&templates[b], &mut SplitMix64::new(5), &mut ib);
                    let diff: f64 = ia
                        .iter()
                        .zip(&ib)
                        .map(|(&x, &y)| (x as f64 - y as f64).abs())
                        .sum();
                    assert!(
                        diff > 20.0 * 255.0,
                        "digit {digit}: templates {a} and {b} differ by {diff}"
                    );
                }
            }
        }
        // The digits commonly written in several ways have several templates.
        for digit in [1, 2, 4, 7, 9] {
            assert!(TEMPLATES[digit].len() >= 2, "digit {digit}");
        }
    }
}
