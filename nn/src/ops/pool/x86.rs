//! The pooling kernels for `f32` vectorised over channels on x86-64: AVX-512 (16 channels a
//! register, the last ones masked) and AVX2 (8 channels a register). Each computes exactly
//! what the generic loops of `max.rs` and `avg.rs` compute over one sample, in the same order:
//! the same values bit for bit, the same argmax mask, the same tie and NaN rules.
//!
//! AVX2 has no cheap masked stores, so its kernels read and write whole registers wherever
//! 8 lanes fit inside the sample's buffer, and use `vmaskmov` only at its very end. The lanes
//! past a window element's channels then belong to the next pixel: a forward kernel writes
//! garbage there, which the next output (written later, in memory order) overwrites; a
//! backward kernel adds `+0.0` there, which changes no gradient (they start at `+0.0` and a
//! sum of them is never `-0.0`).

use super::geometry::PoolGeometry;
use std::arch::x86_64::*;

/// The lanes `0..8` of an AVX2 register.
#[inline(always)]
fn lanes8() -> __m256i {
    // SAFETY: every caller runs with AVX2 enabled (the kernels' `target_feature`).
    unsafe { _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7) }
}

/// 8 floats of `v` from `at`: a plain load where they lie inside `v`, else the lanes `tail`
/// keeps (the others read as zero).
///
/// # Safety
/// AVX2; `tail` keeps only lanes `at + i < v.len()`.
#[inline(always)]
unsafe fn load8(v: &[f32], at: usize, tail: __m256i) -> __m256 {
    // SAFETY: the plain load reads `at..at + 8 <= v.len()`; the masked one reads only the
    // lanes inside `v` (the caller's promise on `tail`).
    unsafe {
        if at + 8 <= v.len() {
            _mm256_loadu_ps(v.as_ptr().add(at))
        } else {
            _mm256_maskload_ps(v.as_ptr().add(at), tail)
        }
    }
}

/// Stores 8 floats of `x` at `at` in `v`: all of them where they fit, else the lanes `tail`
/// keeps.
///
/// # Safety
/// As [`load8`].
#[inline(always)]
unsafe fn store8(v: &mut [f32], at: usize, tail: __m256i, x: __m256) {
    // SAFETY: as in `load8`.
    unsafe {
        if at + 8 <= v.len() {
            _mm256_storeu_ps(v.as_mut_ptr().add(at), x)
        } else {
            _mm256_maskstore_ps(v.as_mut_ptr().add(at), tail, x)
        }
    }
}

/// The lanes where `v` takes over from `best` in max pooling: a larger value or a NaN, as in
/// `max_pool_mask` (the first of equal values stays).
#[inline(always)]
fn takes_over8(v: __m256, best: __m256) -> __m256 {
    // SAFETY: as in `lanes8`.
    unsafe {
        _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_GT_OQ>(v, best),
            _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
        )
    }
}

/// [`takes_over8`] for 16 lanes, as a mask.
///
/// # Safety
/// AVX-512F.
#[inline(always)]
unsafe fn takes_over16(v: __m512, best: __m512) -> __mmask16 {
    // SAFETY: the caller's promise.
    unsafe { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v) }
}

/// The mask of the lanes `i < n` among 8.
#[inline(always)]
fn first_lanes8(n: usize) -> __m256i {
    // SAFETY: as in `lanes8`.
    unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), lanes8()) }
}

/// The mask of the lanes `i < n` among 16.
#[inline(always)]
fn first_lanes16(n: usize) -> __mmask16 {
    if n >= 16 { 0xffff } else { (1 << n) - 1 }
}

/// Max pooling's forward pass over one sample with AVX-512 (`MASK`: with the argmax, else
/// `argmax` untouched): `max_pool_mask`'s maxima `y`
/// and argmax indices.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn max_pool_mask_avx512<const MASK: bool>(
    x: &[f32],
    g: &PoolGeometry,
    y: &mut [f32],
    argmax: &mut [u32],
) {
    let c = g.c;
    assert!(x.len() == g.h * g.w * c && y.len() == g.oh * g.ow * c && (!MASK || argmax.len() == y.len()));
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // As in `max_pool_mask_avx2`: whole 2x2 windows, channels in whole registers.
    let whole = g.cfg.kernel == (2, 2) && c.is_multiple_of(16);
    for oh in 0..g.oh {
        let rows = g.rows(oh);
        for ow in 0..g.ow {
            let (cols, out) = (g.cols(ow), (oh * g.ow + ow) * c);
            let first = (rows.start * g.w + cols.start) * c;
            if whole && rows.len() == 2 && cols.len() == 2 {
                // SAFETY: as in `max_pool_mask_avx2`, with `c % 16 == 0`.
                unsafe { window2x2_avx512::<MASK>(x, first, g.w * c, c, y, argmax, out) };
                continue;
            }
            for c0 in (0..c).step_by(16) {
                let k = first_lanes16(c - c0);
                // SAFETY: masked loads and stores touch only the lanes `c0..c` of a window
                // element or an output, inside `x`, `y` and `argmax` (the assert above and
                // the window's rows and columns lying inside the image).
                unsafe {
                    // Indices fit in 32 bits (checked by the op); i32 arithmetic wraps like u32.
                    let index = |at: usize| _mm512_add_epi32(_mm512_set1_epi32((at + c0) as i32), lane);
                    let mut best = _mm512_maskz_loadu_ps(k, x.as_ptr().add(first + c0));
                    let mut at_best = index(first);
                    for ih in rows.clone() {
                        for iw in cols.clone() {
                            let at = (ih * g.w + iw) * c;
                            let v = _mm512_maskz_loadu_ps(k, x.as_ptr().add(at + c0));
                            // A larger value or a NaN takes over, as in `max_pool_mask`.
                            let take = takes_over16(v, best);
                            best = _mm512_mask_mov_ps(best, take, v);
                            if MASK {
                                at_best = _mm512_mask_mov_epi32(at_best, take, index(at));
                            }
                        }
                    }
                    _mm512_mask_storeu_ps(y.as_mut_ptr().add(out + c0), k, best);
                    if MASK {
                        _mm512_mask_storeu_epi32(argmax.as_mut_ptr().add(out + c0).cast(), k, at_best);
                    }
                }
            }
        }
    }
}

/// Max pooling's forward pass over one sample with AVX2 (`MASK`: with the argmax, else
/// `argmax` untouched): `max_pool_mask`'s maxima `y` and
/// argmax indices, 8 channels at a time.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn max_pool_mask_avx2<const MASK: bool>(
    x: &[f32],
    g: &PoolGeometry,
    y: &mut [f32],
    argmax: &mut [u32],
) {
    let c = g.c;
    assert!(x.len() == g.h * g.w * c && y.len() == g.oh * g.ow * c && (!MASK || argmax.len() == y.len()));
    // The argmax as f32 bits, so that it is stored with `store8` (blends move bits unchanged).
    // SAFETY: u32 and f32 have the same size and alignment, and every bit pattern is an f32.
    let argmax: &mut [f32] =
        unsafe { std::slice::from_raw_parts_mut(argmax.as_mut_ptr().cast(), argmax.len()) };
    // 2x2 windows wholly inside the image, channels in whole registers: the same comparisons
    // in the same order, without the generic loop's ranges and tail checks.
    let whole = g.cfg.kernel == (2, 2) && c.is_multiple_of(8);
    for oh in 0..g.oh {
        let rows = g.rows(oh);
        for ow in 0..g.ow {
            let (cols, out) = (g.cols(ow), (oh * g.ow + ow) * c);
            let first = (rows.start * g.w + cols.start) * c;
            if whole && rows.len() == 2 && cols.len() == 2 {
                // SAFETY: the window's four elements `first + {0, c, w·c, w·c + c}` lie inside
                // `x` (its rows and columns are inside the image) and `out..out + c` inside `y`
                // and `argmax` (the assert above); `c0 + 8 <= c` as `c % 8 == 0`.
                unsafe { window2x2::<MASK>(x, first, g.w * c, c, y, argmax, out) };
                continue;
            }
            for c0 in (0..c).step_by(8) {
                let tail = first_lanes8(c - c0);
                // SAFETY: every load and store is of `c0..c0 + 8` of a window element or an
                // output, whole where that lies inside `x`, `y` and `argmax` (see the module's
                // docs for the lanes past `c`), masked to `c0..c` else (`tail`).
                unsafe {
                    // Indices fit in 32 bits (checked by the op); i32 arithmetic wraps like u32.
                    let index = |at: usize| {
                        _mm256_castsi256_ps(_mm256_add_epi32(_mm256_set1_epi32((at + c0) as i32), lanes8()))
                    };
                    let mut best = load8(x, first + c0, tail);
                    let mut at_best = index(first);
                    for ih in rows.clone() {
                        for iw in cols.clone() {
                            let at = (ih * g.w + iw) * c;
                            let v = load8(x, at + c0, tail);
                            // A larger value or a NaN takes over, as in `max_pool_mask`.
                            let take = takes_over8(v, best);
                            best = _mm256_blendv_ps(best, v, take);
                            if MASK {
                                at_best = _mm256_blendv_ps(at_best, index(at), take);
                            }
                        }
                    }
                    store8(y, out + c0, tail, best);
                    if MASK {
                        store8(argmax, out + c0, tail, at_best);
                    }
                }
            }
        }
    }
}

/// One whole 2x2 window of [`max_pool_mask_avx512`] over all `c` channels (a multiple of
/// 16), as [`window2x2`].
///
/// # Safety
/// AVX-512F; as [`window2x2`].
#[target_feature(enable = "avx512f")]
unsafe fn window2x2_avx512<const MASK: bool>(
    x: &[f32],
    first: usize,
    row: usize,
    c: usize,
    y: &mut [f32],
    argmax: &mut [u32],
    out: usize,
) {
    let at = [first + c, first + row, first + row + c];
    let lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let (xp, yp, mp) = (x.as_ptr(), y.as_mut_ptr(), argmax.as_mut_ptr());
    for c0 in (0..c).step_by(16) {
        // SAFETY: the caller's promise; every access is `c0..c0 + 16` of an element or output.
        unsafe {
            let index = |at: usize| _mm512_add_epi32(_mm512_set1_epi32((at + c0) as i32), lane);
            let mut best = _mm512_loadu_ps(xp.add(first + c0));
            let mut at_best = index(first);
            for &a in &at {
                let v = _mm512_loadu_ps(xp.add(a + c0));
                let take = takes_over16(v, best);
                best = _mm512_mask_mov_ps(best, take, v);
                if MASK {
                    at_best = _mm512_mask_mov_epi32(at_best, take, index(a));
                }
            }
            _mm512_storeu_ps(yp.add(out + c0), best);
            if MASK {
                _mm512_storeu_si512(mp.add(out + c0).cast(), at_best);
            }
        }
    }
}

/// One whole 2x2 window of [`max_pool_mask_avx2`] over all `c` channels (a multiple of 8):
/// its elements at `first`, `first + c`, `first + row`, `first + row + c`, taken in that
/// order by the same rule (a larger value or a NaN takes over from the first).
///
/// # Safety
/// AVX2; the four elements' `c` channels lie inside `x`, `out..out + c` inside `y` and (with
/// `MASK`) `argmax`.
#[target_feature(enable = "avx2")]
unsafe fn window2x2<const MASK: bool>(
    x: &[f32],
    first: usize,
    row: usize,
    c: usize,
    y: &mut [f32],
    argmax: &mut [f32],
    out: usize,
) {
    let at = [first + c, first + row, first + row + c];
    let (xp, yp, mp) = (x.as_ptr(), y.as_mut_ptr(), argmax.as_mut_ptr());
    for c0 in (0..c).step_by(8) {
        // SAFETY: the caller's promise; every access is `c0..c0 + 8` of an element or output.
        unsafe {
            let index = |at: usize| {
                _mm256_castsi256_ps(_mm256_add_epi32(_mm256_set1_epi32((at + c0) as i32), lanes8()))
            };
            let mut best = _mm256_loadu_ps(xp.add(first + c0));
            let mut at_best = index(first);
            for &a in &at {
                let v = _mm256_loadu_ps(xp.add(a + c0));
                let take = takes_over8(v, best);
                best = _mm256_blendv_ps(best, v, take);
                if MASK {
                    at_best = _mm256_blendv_ps(at_best, index(a), take);
                }
            }
            _mm256_storeu_ps(yp.add(out + c0), best);
            if MASK {
                _mm256_storeu_ps(mp.add(out + c0), at_best);
            }
        }
    }
}

/// Average pooling's forward pass over one sample with AVX-512: each window's sum in
/// row-major order from `+0.0`, divided by `divisor(oh, ow)`, as `avg.rs`'s loop.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn avg_pool_avx512(
    x: &[f32],
    g: &PoolGeometry,
    y: &mut [f32],
    divisor: impl Fn(usize, usize) -> usize,
) {
    let c = g.c;
    assert!(x.len() == g.h * g.w * c && y.len() == g.oh * g.ow * c);
    for oh in 0..g.oh {
        for ow in 0..g.ow {
            let out = (oh * g.ow + ow) * c;
            let d = _mm512_set1_ps(divisor(oh, ow) as f32);
            for c0 in (0..c).step_by(16) {
                let k = first_lanes16(c - c0);
                // SAFETY: masked loads and stores of the lanes `c0..c` of window elements
                // and of an output, inside `x` and `y` (the assert above).
                unsafe {
                    let mut sum = _mm512_setzero_ps();
                    for ih in g.rows(oh) {
                        for iw in g.cols(ow) {
                            let at = (ih * g.w + iw) * c + c0;
                            sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(k, x.as_ptr().add(at)));
                        }
                    }
                    _mm512_mask_storeu_ps(y.as_mut_ptr().add(out + c0), k, _mm512_div_ps(sum, d));
                }
            }
        }
    }
}

/// [`avg_pool_avx512`] with AVX2, 8 channels at a time.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn avg_pool_avx2(
    x: &[f32],
    g: &PoolGeometry,
    y: &mut [f32],
    divisor: impl Fn(usize, usize) -> usize,
) {
    let c = g.c;
    assert!(x.len() == g.h * g.w * c && y.len() == g.oh * g.ow * c);
    for oh in 0..g.oh {
        for ow in 0..g.ow {
            let out = (oh * g.ow + ow) * c;
            let d = _mm256_set1_ps(divisor(oh, ow) as f32);
            for c0 in (0..c).step_by(8) {
                let tail = first_lanes8(c - c0);
                // SAFETY: as in `max_pool_mask_avx2`.
                unsafe {
                    let mut sum = _mm256_setzero_ps();
                    for ih in g.rows(oh) {
                        for iw in g.cols(ow) {
                            sum = _mm256_add_ps(sum, load8(x, (ih * g.w + iw) * c + c0, tail));
                        }
                    }
                    store8(y, out + c0, tail, _mm256_div_ps(sum, d));
                }
            }
        }
    }
}

/// Average pooling's backward pass over one sample with AVX-512: `dA = dZ ⊗ M`,
/// `M = 1/divisor(oh, ow)` over each window, added in `avg.rs`'s order. `da` must be zeroed.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn avg_pool_backward_avx512(
    dz: &[f32],
    g: &PoolGeometry,
    da: &mut [f32],
    divisor: impl Fn(usize, usize) -> usize,
) {
    let c = g.c;
    assert!(da.len() == g.h * g.w * c && dz.len() == g.oh * g.ow * c);
    for oh in 0..g.oh {
        for ow in 0..g.ow {
            let out = (oh * g.ow + ow) * c;
            let m = _mm512_set1_ps(1.0 / divisor(oh, ow) as f32);
            for c0 in (0..c).step_by(16) {
                let k = first_lanes16(c - c0);
                // SAFETY: masked loads and stores of the lanes `c0..c` of an output of `dz`
                // and of window elements of `da`, inside them (the assert above).
                unsafe {
                    let gz = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dz.as_ptr().add(out + c0)), m);
                    for ih in g.rows(oh) {
                        for iw in g.cols(ow) {
                            let p = da.as_mut_ptr().add((ih * g.w + iw) * c + c0);
                            _mm512_mask_storeu_ps(p, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, p), gz));
                        }
                    }
                }
            }
        }
    }
}

/// [`avg_pool_backward_avx512`] with AVX2, 8 channels at a time.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn avg_pool_backward_avx2(
    dz: &[f32],
    g: &PoolGeometry,
    da: &mut [f32],
    divisor: impl Fn(usize, usize) -> usize,
) {
    let c = g.c;
    assert!(da.len() == g.h * g.w * c && dz.len() == g.oh * g.ow * c);
    for oh in 0..g.oh {
        for ow in 0..g.ow {
            let out = (oh * g.ow + ow) * c;
            let m = _mm256_set1_ps(1.0 / divisor(oh, ow) as f32);
            for c0 in (0..c).step_by(8) {
                let tail = first_lanes8(c - c0);
                // SAFETY: as in `max_pool_mask_avx2`; the lanes past `c` of `gz` are `+0.0`
                // (masked), so adding them elsewhere changes nothing (the module's docs).
                unsafe {
                    let gz = _mm256_and_ps(
                        _mm256_mul_ps(load8(dz, out + c0, tail), m),
                        _mm256_castsi256_ps(tail),
                    );
                    for ih in g.rows(oh) {
                        for iw in g.cols(ow) {
                            let at = (ih * g.w + iw) * c + c0;
                            store8(da, at, tail, _mm256_add_ps(load8(da, at, tail), gz));
                        }
                    }
                }
            }
        }
    }
}
