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
