//! The few vector operations the direct convolution kernels need, for the two x86-64
//! register widths: `Ymm` (8 lanes, AVX2 + FMA) and `Zmm` (16 lanes, AVX-512F). A kernel is
//! written once, generic over [`Vector`], and run through
//! [`simd::dispatch_at`](autograd::runtime::simd::dispatch_at) at its type's level.

use autograd::runtime::simd::Level;
use std::arch::x86_64::*;

/// The few vector operations the kernel needs, for one register width.
pub(crate) trait Vector: Copy {
    /// Lanes in a register.
    const WIDTH: usize;
    /// The instruction-set level the register type needs.
    const LEVEL: Level;
    /// # Safety
    /// `p` must be valid for `WIDTH` reads; the CPU must have the instructions.
    unsafe fn load(p: *const f32) -> Self;
    /// # Safety
    /// `p` must be valid for `WIDTH` writes; the CPU must have the instructions.
    unsafe fn store(self, p: *mut f32);
    /// # Safety
    /// The CPU must have the instructions.
    unsafe fn splat(x: f32) -> Self;
    /// `self + x · w`.
    /// # Safety
    /// The CPU must have the instructions.
    unsafe fn fmadd(self, x: Self, w: Self) -> Self;
    /// `self + x`.
    /// # Safety
    /// The CPU must have the instructions.
    unsafe fn add(self, x: Self) -> Self;
    /// `self - x`.
    /// # Safety
    /// The CPU must have the instructions.
    unsafe fn sub(self, x: Self) -> Self;
}

#[derive(Clone, Copy)]
pub(crate) struct Ymm(__m256);
#[derive(Clone, Copy)]
pub(crate) struct Zmm(__m512);

impl Vector for Ymm {
    const WIDTH: usize = 8;
    const LEVEL: Level = Level::Avx2;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        unsafe { Ymm(_mm256_loadu_ps(p)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        unsafe { _mm256_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        unsafe { Ymm(_mm256_set1_ps(x)) }
    }
    #[inline(always)]
    unsafe fn fmadd(self, x: Self, w: Self) -> Self {
        unsafe { Ymm(_mm256_fmadd_ps(x.0, w.0, self.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, x: Self) -> Self {
        unsafe { Ymm(_mm256_add_ps(self.0, x.0)) }
    }
    #[inline(always)]
    unsafe fn sub(self, x: Self) -> Self {
        unsafe { Ymm(_mm256_sub_ps(self.0, x.0)) }
    }
}

impl Vector for Zmm {
    const WIDTH: usize = 16;
    const LEVEL: Level = Level::Avx512;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        unsafe { Zmm(_mm512_loadu_ps(p)) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        unsafe { _mm512_storeu_ps(p, self.0) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        unsafe { Zmm(_mm512_set1_ps(x)) }
    }
    #[inline(always)]
    unsafe fn fmadd(self, x: Self, w: Self) -> Self {
        unsafe { Zmm(_mm512_fmadd_ps(x.0, w.0, self.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, x: Self) -> Self {
        unsafe { Zmm(_mm512_add_ps(self.0, x.0)) }
    }
    #[inline(always)]
    unsafe fn sub(self, x: Self) -> Self {
        unsafe { Zmm(_mm512_sub_ps(self.0, x.0)) }
    }
}
