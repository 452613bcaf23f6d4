//! Running a kernel with the widest vector instructions the CPU has.
//!
//! The crate is compiled for the baseline x86-64 instruction set, so that its binaries run on
//! any x86-64 machine; hot loops written as plain Rust are then vectorised 4 floats wide. A
//! kernel run through [`dispatch`] is compiled three times (baseline, AVX2 + FMA, AVX-512) and
//! the widest version this CPU supports is chosen at run time, once. The kernel's loops must
//! be inlined into the closure (mark the functions it calls `#[inline(always)]`) to be
//! compiled with the wider instructions.
//!
//! ```
//! let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
//! let total: f32 = autograd::simd::dispatch(|| v.iter().sum());
//! assert_eq!(total, 499_500.0);
//! ```

use std::sync::OnceLock;

/// The instruction sets a kernel can be compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Baseline x86-64 (SSE2), or any other architecture.
    Baseline,
    /// AVX2 with FMA (x86-64-v3).
    Avx2,
    /// AVX-512 F/BW/DQ/VL (x86-64-v4).
    Avx512,
}

/// The widest level this CPU supports (detected once). `TAPEGRAD_SIMD=baseline|avx2`
/// caps it, to compare the levels or to work around a CPU problem.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("TAPEGRAD_SIMD").as_deref() {
            Ok("baseline") => Level::Baseline,
            Ok("avx2") => Level::Avx2,
            _ => Level::Avx512,
        };
        detect().min(cap)
    })
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    use std::arch::is_x86_feature_detected as has;
    if has!("avx512f")
        && has!("avx512bw")
        && has!("avx512dq")
        && has!("avx512vl")
        && has!("avx2")
        && has!("fma")
    {
        Level::Avx512
    } else if has!("avx2") && has!("fma") {
        Level::Avx2
    } else {
        Level::Baseline
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Baseline
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn run_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` compiled for the widest instruction set this CPU supports.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    dispatch_at(level(), f)
}

/// Runs `f` compiled for `at`, which may be narrower than what the CPU supports: for a kernel
/// written for one instruction set (its vector width or register budget, say).
///
/// # Panics
/// If `at` is wider than [`level`].
///
/// ```
/// use autograd::simd::{Level, dispatch_at, level};
/// let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
/// let total: f32 = dispatch_at(level().min(Level::Avx2), || v.iter().sum());
/// assert_eq!(total, 499_500.0);
/// ```
#[inline(always)]
pub fn dispatch_at<R>(at: Level, f: impl FnOnce() -> R) -> R {
    assert!(
        at <= level(),
        "dispatch_at({at:?}): this CPU supports {:?} at most",
        level()
    );
    #[cfg(target_arch = "x86_64")]
    match at {
        // SAFETY: `level()` reports a level only when the CPU supports all of its features,
        // and `at` is at most that level (checked above).
        Level::Avx512 => unsafe { run_avx512(f) },
        // SAFETY: as above.
        Level::Avx2 => unsafe { run_avx2(f) },
        Level::Baseline => f(),
    }
    #[cfg(not(target_arch = "x86_64"))]
    f()
}
