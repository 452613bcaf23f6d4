//! Running a kernel with the widest vector instructions the CPU has.
//!
//! The crate is compiled for the baseline x86-64 instruction set, so that its binaries run on
//! any x86-64 machine; hot loops written as plain Rust are then vectorised 4 floats wide. A
//! kernel run through [`dispatch`] is compiled three times (baseline, AVX2 + FMA, AVX-512) and
//! the widest version this CPU supports is chosen at run time, once. The kernel's loops must
//! be inlined into the closure (mark the functions it calls `#[inline(always)]`) to be
//! compiled with the wider instructions. That includes closures handed down to the code
//! that dispatches (a helper that runs `f` over parts of a tensor, say): write them as
//! `#[inline(always)] |..| ..` too. A large closure that is not marked stays a function of
//! its own, compiled for the baseline; nothing fails, it only runs 4 floats wide (`perf
//! annotate` shows `xmm` registers where `zmm` or `ymm` were expected).
//!
//! ```
//! let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
//! let total: f32 = autograd::runtime::simd::dispatch(|| v.iter().sum());
//! assert_eq!(total, 499_500.0);
//! ```

use crate::element::Element;
use std::any::TypeId;
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

/// The widest level this CPU supports (detected once), without the `TAPEGRAD_SIMD` cap.
pub fn detected() -> Level {
    static DETECTED: OnceLock<Level> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

/// The level tapegrad's own kernels run at: the CPU's widest ([`detected`]), capped by
/// `TAPEGRAD_SIMD=baseline|avx2`, to compare the levels or to work around a CPU problem. The
/// `gemm` crate's kernels choose theirs themselves ([`gemm::level`](super::gemm::level)).
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = match std::env::var("TAPEGRAD_SIMD").as_deref() {
            Ok("baseline") => Level::Baseline,
            Ok("avx2") => Level::Avx2,
            _ => Level::Avx512,
        };
        detected().min(cap)
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
/// use autograd::runtime::simd::{Level, dispatch_at, level};
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

/// Runs `f` with subnormal floats flushed to zero on the calling thread: subnormal inputs
/// read as zero and results that would be subnormal are stored as zero (x86-64's DAZ and FTZ
/// modes; TensorFlow and XLA run all their CPU kernels so). Each instruction that meets a
/// subnormal (below `f32::MIN_POSITIVE`, about 1.2e-38) otherwise costs the CPU a microcode
/// assist of about a hundred cycles: an optimizer whose momenta decay through that range
/// (weights behind a dead ReLU get zero gradients) ran LeNet-5 training at batch 16 at
/// 24k samples/s instead of 34k. The previous mode is restored when `f` returns or panics.
/// On other architectures `f` runs unchanged.
///
/// ```
/// use autograd::runtime::simd::with_denormals_flushed;
/// let tiny = std::hint::black_box(1e-30f32);
/// assert!(tiny * 1e-10 > 0.0); // gradual underflow: a subnormal
/// # #[cfg(target_arch = "x86_64")]
/// assert_eq!(with_denormals_flushed(|| std::hint::black_box(tiny) * 1e-10), 0.0);
/// assert!(tiny * 1e-10 > 0.0); // the mode is back
/// ```
pub fn with_denormals_flushed<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        /// The MXCSR bits: flush to zero (15) and denormals are zero (6).
        const FTZ_DAZ: u32 = 1 << 15 | 1 << 6;
        fn read() -> u32 {
            let mut csr = 0u32;
            // SAFETY: stmxcsr stores the 4-byte MXCSR register at the given address.
            unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags)) };
            csr
        }
        fn write(csr: u32) {
            // SAFETY: ldmxcsr loads MXCSR from the given address; only the rounding and
            // flushing modes change (the value came from stmxcsr, plus two mode bits).
            unsafe {
                std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly))
            };
        }
        /// Restores the mode, also when `f` panics.
        struct Restore(u32);
        impl Drop for Restore {
            fn drop(&mut self) {
                write(self.0);
            }
        }
        let before = read();
        let _restore = Restore(before);
        write(before | FTZ_DAZ);
        f()
    }
    #[cfg(not(target_arch = "x86_64"))]
    f()
}

/// The slice as `f32` if `T` is `f32`, for kernels written for `f32` alone (the direct
/// convolution, vectorised max pooling): `None` for any other element type.
///
/// ```
/// use autograd::runtime::simd::as_f32;
/// assert_eq!(as_f32(&[1.0f32, 2.0]), Some(&[1.0f32, 2.0][..]));
/// assert_eq!(as_f32(&[1.0f64]), None);
/// ```
pub fn as_f32<T: Element>(v: &[T]) -> Option<&[f32]> {
    // SAFETY: T is f32 (same type, checked by TypeId), so the cast is the identity.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len()) })
}

/// The mutable slice as `f32` if `T` is `f32` (see [`as_f32`]).
pub fn as_f32_mut<T: Element>(v: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: as in `as_f32`.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len()) })
}
