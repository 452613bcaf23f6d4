//! Bilinear sampling, shared by the transforms that move pixels ([`Affine`](super::Affine),
//! [`DisplacementField`](super::DisplacementField)): the value at a non-integer point `(px, py)`
//! is the mix of its four neighbours, `(1 − f_y)·((1 − f_x)·v₀₀ + f_x·v₁₀) + f_y·((1 − f_x)·v₀₁ +
//! f_x·v₁₁)`, each neighbour outside the image reading as the fill value.

use super::{ImageShape, Pixel};

/// Writes the `shape.c` channel values of `src` (one image of `shape`) at `(px, py)` into `out`.
#[inline(always)]
pub(super) fn sample<P: Pixel>(src: &[P], shape: ImageShape, fill: f32, (px, py): (f32, f32), out: &mut [P]) {
    let c = shape.c;
    let at = |x: isize, y: isize, ch: usize| -> f32 {
        if x < 0 || y < 0 || x as usize >= shape.w || y as usize >= shape.h {
            fill
        } else {
            src[(y as usize * shape.w + x as usize) * c + ch].to_f32()
        }
    };
    let (x0, y0) = (px.floor(), py.floor());
    let (fx, fy) = (px - x0, py - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    for (ch, o) in out.iter_mut().enumerate() {
        let top = at(x0, y0, ch) * (1.0 - fx) + at(x0 + 1, y0, ch) * fx;
        let bottom = at(x0, y0 + 1, ch) * (1.0 - fx) + at(x0 + 1, y0 + 1, ch) * fx;
        *o = P::from_f32(top * (1.0 - fy) + bottom * fy);
    }
}
