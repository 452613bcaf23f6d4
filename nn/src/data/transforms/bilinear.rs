//! Bilinear sampling, shared by the transforms that move pixels ([`Affine`](super::Affine),
//! [`DisplacementField`](super::DisplacementField)): the value at a non-integer point `(px, py)`
//! is the mix of its four neighbours, `(1 − f_y)·((1 − f_x)·v₀₀ + f_x·v₁₀) + f_y·((1 − f_x)·v₀₁ +
//! f_x·v₁₁)`, each neighbour outside the image reading as the fill value.

use super::{ImageShape, Pixel};

/// A source coordinate's magnitude is clamped to this (2^24, far outside any image): a huge
/// elastic displacement (the fuzzer's `--elastic 3e30,1`) would otherwise overflow `⌊v⌋`.
const FAR: f32 = 16_777_216.0;

/// `⌊v⌋` and the fraction, without a call into the math library (on x86-64 without SSE4.1
/// `f32::floor` is one, and it was most of a transform's time). `v` beyond ±2^24 (or NaN)
/// is clamped first: such a point is far outside any image, which the caller's bounds checks
/// handle (it reads the fill value).
#[inline(always)]
fn floor(v: f32) -> (i32, f32) {
    // `max`/`min` of f32 drop a NaN: a NaN point lands at -2^24, outside (`clamp` would
    // keep the NaN).
    #[allow(clippy::manual_clamp)]
    let v = v.max(-FAR).min(FAR);
    let t = v as i32; // truncates toward zero
    let t = if (t as f32) > v { t - 1 } else { t };
    (t, v - t as f32)
}

/// Writes the `shape.c` channel values of `src` (one image of `shape`) at `(px, py)` into `out`.
#[inline(always)]
pub(super) fn sample<P: Pixel>(src: &[P], shape: ImageShape, fill: f32, (px, py): (f32, f32), out: &mut [P]) {
    let c = shape.c;
    let ((x0, fx), (y0, fy)) = (floor(px), floor(py));
    let (x0, y0) = (x0 as isize, y0 as isize);
    if x0 >= 0 && y0 >= 0 && (x0 as usize) + 1 < shape.w && (y0 as usize) + 1 < shape.h {
        // All four neighbours inside: no bounds checks per value.
        let i = (y0 as usize * shape.w + x0 as usize) * c;
        if c == 1 {
            // One channel (digits): the four neighbours from one slice, one bounds check.
            let w = shape.w;
            let quad = &src[i..i + w + 2];
            let top = quad[0].to_f32() * (1.0 - fx) + quad[1].to_f32() * fx;
            let bottom = quad[w].to_f32() * (1.0 - fx) + quad[w + 1].to_f32() * fx;
            out[0] = P::from_f32(top * (1.0 - fy) + bottom * fy);
            return;
        }
        let (row0, row1) = (&src[i..i + 2 * c], &src[i + shape.w * c..i + shape.w * c + 2 * c]);
        for (ch, o) in out.iter_mut().enumerate() {
            let top = row0[ch].to_f32() * (1.0 - fx) + row0[c + ch].to_f32() * fx;
            let bottom = row1[ch].to_f32() * (1.0 - fx) + row1[c + ch].to_f32() * fx;
            *o = P::from_f32(top * (1.0 - fy) + bottom * fy);
        }
        return;
    }
    let at = |x: isize, y: isize, ch: usize| -> f32 {
        if x < 0 || y < 0 || x as usize >= shape.w || y as usize >= shape.h {
            fill
        } else {
            src[(y as usize * shape.w + x as usize) * c + ch].to_f32()
        }
    };
    for (ch, o) in out.iter_mut().enumerate() {
        let top = at(x0, y0, ch) * (1.0 - fx) + at(x0 + 1, y0, ch) * fx;
        let bottom = at(x0, y0 + 1, ch) * (1.0 - fx) + at(x0 + 1, y0 + 1, ch) * fx;
        *o = P::from_f32(top * (1.0 - fy) + bottom * fy);
    }
}

/// [`sample`] at every point `(xs[k], ys[k])` of a row, into `out` (`xs.len()` pixels of
/// `shape.c` values): the integer parts and fractions of the whole row first (vector code),
/// then the mixes.
pub(super) fn sample_row<P: Pixel>(
    src: &[P],
    shape: ImageShape,
    fill: f32,
    xs: &[f32],
    ys: &[f32],
    out: &mut [P],
) {
    let c = shape.c;
    if c != 1 {
        for (k, o) in out.chunks_exact_mut(c).enumerate() {
            sample(src, shape, fill, (xs[k], ys[k]), o);
        }
        return;
    }
    // One-channel bytes on an AVX2 machine: groups of 8 points in vector code.
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<P>() == std::any::TypeId::of::<u8>()
        && autograd::runtime::simd::level() >= autograd::runtime::simd::Level::Avx2
        && shape.h >= 2
        && shape.w >= 2
    {
        // SAFETY: `P` is `u8` (the same type id), so `src` is a byte slice of its length.
        let bytes = unsafe { std::slice::from_raw_parts(src.as_ptr().cast::<u8>(), src.len()) };
        let n = out.len().min(xs.len()).min(ys.len());
        let mut k = 0;
        while k < n {
            // The last group overlaps the one before when the row is not a multiple of 8
            // (a point's value does not depend on its group).
            let start = if k + 8 <= n || n < 8 { k } else { n - 8 };
            let end = (start + 8).min(n);
            if end - start < 8 {
                sample_row_scalar(
                    src,
                    shape,
                    fill,
                    &xs[start..end],
                    &ys[start..end],
                    &mut out[start..end],
                );
                break;
            }
            // SAFETY: the CPU has AVX2 (checked above); `bytes` holds one image of `shape`,
            // and 8 points follow `start`.
            let values = unsafe { grey_group_avx2(bytes, shape, fill, &xs[start..end], &ys[start..end]) };
            // SAFETY: `P` is `u8` (the same type id): the group is 8 bytes.
            let group =
                unsafe { std::slice::from_raw_parts_mut(out[start..end].as_mut_ptr().cast::<u8>(), 8) };
            group.copy_from_slice(&values);
            k = end;
        }
        return;
    }
    sample_row_scalar(src, shape, fill, xs, ys, out);
}

/// [`sample_row`]'s scalar loop for one channel.
fn sample_row_scalar<P: Pixel>(
    src: &[P],
    shape: ImageShape,
    fill: f32,
    xs: &[f32],
    ys: &[f32],
    out: &mut [P],
) {
    let w = shape.w;
    let (hi_x, hi_y) = (w as f32 - 1.0, shape.h as f32 - 1.0);
    for ((o, &px), &py) in out.iter_mut().zip(xs).zip(ys) {
        // Inside the interior (all four neighbours in the image) the mix needs no checks.
        if px >= 0.0 && py >= 0.0 && px < hi_x && py < hi_y {
            let (x0, y0) = (px as usize, py as usize); // floor, for non-negative values
            let (fx, fy) = (px - x0 as f32, py - y0 as f32);
            let i = y0 * w + x0;
            let quad = &src[i..i + w + 2];
            let top = quad[0].to_f32() * (1.0 - fx) + quad[1].to_f32() * fx;
            let bottom = quad[w].to_f32() * (1.0 - fx) + quad[w + 1].to_f32() * fx;
            *o = P::from_f32(top * (1.0 - fy) + bottom * fy);
        } else {
            sample(src, shape, fill, (px, py), std::slice::from_mut(o));
        }
    }
}

/// 8 points of a row of one-channel bytes (`xs`, `ys` of length 8) as
/// [`sample_row_scalar`] computes them: the same `f32` operations in the same order, no fused
/// multiply-add, so the same bytes.
///
/// When all 8 are interior, the four neighbours of each point `i = y0·w + x0` are read as two
/// 4-byte gathers: at `i` (bytes 0 and 1: `v₀₀`, `v₁₀`) and at `i + w − 2` (bytes 2 and 3:
/// `v₀₁`, `v₁₁`), so that neither read passes the image's last byte (`x0 ≤ w − 2`,
/// `y0 ≤ h − 2`). Otherwise (a group near or past the border) each neighbour is gathered on
/// its own, reading the fill where it lies outside, as [`sample`] does.
///
/// # Safety
/// The CPU must support AVX2; `src` must hold one image of `shape` (`shape.c == 1`,
/// `h, w ≥ 2`); `xs` and `ys` must hold 8 values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn grey_group_avx2(src: &[u8], shape: ImageShape, fill: f32, xs: &[f32], ys: &[f32]) -> [u8; 8] {
    use std::arch::x86_64::*;
    debug_assert!(src.len() >= shape.w * shape.h && shape.c == 1 && xs.len() >= 8 && ys.len() >= 8);
    let w = shape.w as i32;
    // SAFETY: xs and ys hold 8 values (the caller's contract).
    let (px, py) = unsafe { (_mm256_loadu_ps(xs.as_ptr()), _mm256_loadu_ps(ys.as_ptr())) };
    let zero = _mm256_setzero_ps();
    let (hi_x, hi_y) = (
        _mm256_set1_ps(shape.w as f32 - 1.0),
        _mm256_set1_ps(shape.h as f32 - 1.0),
    );
    let inside = _mm256_and_ps(
        _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_GE_OQ>(px, zero),
            _mm256_cmp_ps::<_CMP_GE_OQ>(py, zero),
        ),
        _mm256_and_ps(
            _mm256_cmp_ps::<_CMP_LT_OQ>(px, hi_x),
            _mm256_cmp_ps::<_CMP_LT_OQ>(py, hi_y),
        ),
    );
    let (fx, fy, v00, v10, v01, v11);
    if _mm256_movemask_ps(inside) == 0xff {
        // Truncation is the floor of the interior's non-negative values, as `floor`.
        let (x0, y0) = (_mm256_cvttps_epi32(px), _mm256_cvttps_epi32(py));
        fx = _mm256_sub_ps(px, _mm256_cvtepi32_ps(x0));
        fy = _mm256_sub_ps(py, _mm256_cvtepi32_ps(y0));
        let i = _mm256_add_epi32(_mm256_mullo_epi32(y0, _mm256_set1_epi32(w)), x0);
        // SAFETY: interior points: the first read spans i ..= i + 3 <= (h − 2)·w + w + 1 <
        // h·w, the second i + w − 2 ..= i + w + 1 <= h·w − 1, and i + w − 2 >= 0 (w ≥ 2).
        let (top, bottom) = unsafe {
            (
                _mm256_i32gather_epi32::<1>(src.as_ptr().cast::<i32>(), i),
                _mm256_i32gather_epi32::<1>(
                    src.as_ptr().cast::<i32>(),
                    _mm256_add_epi32(i, _mm256_set1_epi32(w - 2)),
                ),
            )
        };
        let byte = _mm256_set1_epi32(0xff);
        v00 = _mm256_cvtepi32_ps(_mm256_and_si256(top, byte));
        v10 = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32::<8>(top), byte));
        v01 = _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32::<16>(bottom), byte));
        v11 = _mm256_cvtepi32_ps(_mm256_srli_epi32::<24>(bottom));
    } else {
        // `floor`: the clamp to ±2^24 (a NaN to −2^24: `vmaxps` returns its second operand
        // for a NaN, as `f32::max` drops it), then `⌊v⌋` and the fraction (exact below 2^24).
        let far = _mm256_set1_ps(FAR);
        let clamp = |v| _mm256_min_ps(_mm256_max_ps(v, _mm256_sub_ps(zero, far)), far);
        let (cx, cy) = (clamp(px), clamp(py));
        let (x0f, y0f) = (_mm256_floor_ps(cx), _mm256_floor_ps(cy));
        fx = _mm256_sub_ps(cx, x0f);
        fy = _mm256_sub_ps(cy, y0f);
        let (x0, y0) = (_mm256_cvttps_epi32(x0f), _mm256_cvttps_epi32(y0f));
        let (wv, hv, none) = (
            _mm256_set1_epi32(w),
            _mm256_set1_epi32(shape.h as i32),
            _mm256_set1_epi32(-1),
        );
        let last = _mm256_set1_epi32((shape.w * shape.h - 4) as i32);
        let fill = _mm256_set1_ps(fill);
        let neighbour = |dx: i32, dy: i32| {
            let (x, y) = (
                _mm256_add_epi32(x0, _mm256_set1_epi32(dx)),
                _mm256_add_epi32(y0, _mm256_set1_epi32(dy)),
            );
            // 0 <= x < w and 0 <= y < h.
            let valid = _mm256_and_si256(
                _mm256_and_si256(_mm256_cmpgt_epi32(x, none), _mm256_cmpgt_epi32(wv, x)),
                _mm256_and_si256(_mm256_cmpgt_epi32(y, none), _mm256_cmpgt_epi32(hv, y)),
            );
            // Outside neighbours read byte 0; every read is of 4 bytes from at most h·w − 4,
            // the byte wanted shifted down from where it lies among them.
            let at = _mm256_and_si256(_mm256_add_epi32(_mm256_mullo_epi32(y, wv), x), valid);
            let from = _mm256_min_epi32(at, last);
            // SAFETY: 0 <= from <= h·w − 4 (h, w ≥ 2): the 4 bytes lie inside `src`.
            let bytes = unsafe { _mm256_i32gather_epi32::<1>(src.as_ptr().cast::<i32>(), from) };
            let shift = _mm256_slli_epi32::<3>(_mm256_sub_epi32(at, from));
            let v = _mm256_and_si256(_mm256_srlv_epi32(bytes, shift), _mm256_set1_epi32(0xff));
            _mm256_blendv_ps(fill, _mm256_cvtepi32_ps(v), _mm256_castsi256_ps(valid))
        };
        (v00, v10, v01, v11) = (neighbour(0, 0), neighbour(1, 0), neighbour(0, 1), neighbour(1, 1));
    }
    let one = _mm256_set1_ps(1.0);
    let gx = _mm256_sub_ps(one, fx);
    let t = _mm256_add_ps(_mm256_mul_ps(v00, gx), _mm256_mul_ps(v10, fx));
    let b = _mm256_add_ps(_mm256_mul_ps(v01, gx), _mm256_mul_ps(v11, fx));
    let v = _mm256_add_ps(_mm256_mul_ps(t, _mm256_sub_ps(one, fy)), _mm256_mul_ps(b, fy));
    // `u8::from_f32`: `(v + 0.5) as u8`, a mix of bytes (or of the fill, a byte) being in
    // 0..=255.
    let rounded = _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_set1_ps(0.5)));
    let mut lanes = [0i32; 8];
    // SAFETY: 8 lanes into an array of 8.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), rounded) };
    lanes.map(|l| l as u8)
}
