//! Random numbers and portable maths: the SplitMix64 generator, seed hashing, and a sine and
//! cosine that give the same bits on every platform.

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, fast, and fully specified, so the stream is the
/// same on every platform and in every version.
pub(super) struct SplitMix64(u64);

impl SplitMix64 {
    pub(super) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub(super) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `[-a, a)`.
    pub(super) fn sym(&mut self, a: f64) -> f64 {
        self.range(-a, a)
    }

    /// Uniform in `0..n` (the multiply-shift map; its bias is below 2⁻⁶⁰ for the `n` used here).
    pub(super) fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
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
pub(super) fn hash2(a: u64, b: u64) -> u64 {
    mix64(a ^ mix64(b.wrapping_add(0x632B_E59B_D9B4_E019)))
}

/// Sine and cosine of `x` (radians) from range reduction and Taylor polynomials of degree 17 and
/// 18 on `[-π/2, π/2]` (error below 1e-13), using only correctly rounded IEEE operations, so every
/// platform gets the same bits.
pub(super) fn sin_cos(x: f64) -> (f64, f64) {
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

/// `e^(−x)` for `x ≥ 0` (0 beyond 700), from `e^(−x / 1024)` by a Taylor polynomial of degree 10
/// squared ten times (relative error below 1e-12 for `x ≤ 50`), using only correctly rounded
/// IEEE operations, so every platform gets the same bits.
pub(super) fn exp_neg(x: f64) -> f64 {
    if x > 700.0 {
        return 0.0;
    }
    let y = -x / 1024.0;
    let mut e = 0.0;
    for k in (1..=10).rev() {
        e = (e + 1.0) * y / k as f64;
    }
    e += 1.0;
    for _ in 0..10 {
        e *= e;
    }
    e
}
