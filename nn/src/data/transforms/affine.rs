//! Affine transforms of an image: rotation, translation, scale and shear about the image's
//! centre, sampled bilinearly, with a fill value where the source falls outside the image.
//!
//! With the centre `c = ((W − 1)/2, (H − 1)/2)` in pixel coordinates (`x` to the right, `y`
//! down, pixel `(x, y)` at integer coordinates) and
//!
//! ```text
//! M = s · R(θ) · S(φ),  R(θ) = [[cos θ, sin θ], [−sin θ, cos θ]],  S(φ) = [[1, tan φ], [0, 1]]
//! ```
//!
//! the output pixel `q` takes the source value at `p = c + M⁻¹ (q − c − t)`: a point `p` of
//! the input moves to `q = c + M (p − c) + t`. A positive `θ` turns the picture
//! counter-clockwise as it is displayed (as torchvision's `RandomAffine` does), a positive
//! translation `t = (t_x, t_y)` moves it right and down, `s > 1` enlarges it and a positive
//! shear `φ` slants it along `x`. The value at a non-integer `p` is the bilinear mix of its
//! four neighbours, each neighbour outside the image reading as the fill value.

use super::{ImageShape, Pixel, bilinear};
use autograd::{Error, Result};

/// One affine transform (the parameters a [`RandomAffine`](super::RandomAffine) draws).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    /// `θ`, degrees, counter-clockwise as displayed.
    pub rotation: f32,
    /// `t = (t_x, t_y)`, pixels, right and down.
    pub translation: (f32, f32),
    /// `s`, 1 keeps the size.
    pub scale: f32,
    /// `φ`, degrees, along `x`.
    pub shear: f32,
}

impl Default for Affine {
    fn default() -> Self {
        Affine {
            rotation: 0.0,
            translation: (0.0, 0.0),
            scale: 1.0,
            shear: 0.0,
        }
    }
}

impl Affine {
    /// `M⁻¹` as `[[a, b], [d, e]]`, or an error when `M` is singular or not finite.
    fn inverse(&self) -> Result<[[f32; 2]; 2]> {
        let (theta, phi) = (self.rotation.to_radians(), self.shear.to_radians());
        let (sin, cos) = theta.sin_cos();
        let k = phi.tan();
        // M = s · R · S = s · [[cos, cos·k + sin], [−sin, −sin·k + cos]].
        let m = [[cos, cos * k + sin], [-sin, -sin * k + cos]].map(|row| row.map(|v| v * self.scale));
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        if !det.is_finite() || det.abs() < 1e-12 {
            return Err(Error::invalid(
                "Affine",
                &[],
                format!("{self:?} is not invertible (scale 0 or shear ±90°)"),
            ));
        }
        Ok([[m[1][1] / det, -m[0][1] / det], [-m[1][0] / det, m[0][0] / det]])
    }

    /// Writes `src` (an image of `shape`) transformed into `dst` (the same shape), reading
    /// `fill` outside the source.
    ///
    /// ```
    /// use nn::data::transforms::{Affine, ImageShape};
    /// let shape = ImageShape { h: 1, w: 3, c: 1 };
    /// let mut out = [0u8; 3];
    /// // One pixel to the right: the left column is the fill.
    /// let shift = Affine { translation: (1.0, 0.0), ..Affine::default() };
    /// shift.apply(&[10u8, 20, 30], shape, 255, &mut out).unwrap();
    /// assert_eq!(out, [255, 10, 20]);
    /// ```
    pub fn apply<P: Pixel>(&self, src: &[P], shape: ImageShape, fill: P, dst: &mut [P]) -> Result<()> {
        if src.len() != shape.len() || dst.len() != shape.len() {
            return Err(Error::invalid(
                "Affine::apply",
                &[src.len(), dst.len()],
                format!(
                    "source and destination must both hold {shape:?}: {} values",
                    shape.len()
                ),
            ));
        }
        let inv = self.inverse()?;
        let (cx, cy) = ((shape.w as f32 - 1.0) / 2.0, (shape.h as f32 - 1.0) / 2.0);
        let fill = fill.to_f32();
        let c = shape.c;
        // The source points of one output row, computed for the whole row first (vector code),
        // then sampled.
        let (mut xs, mut ys) = (vec![0.0f32; shape.w], vec![0.0f32; shape.w]);
        for qy in 0..shape.h {
            let dy = qy as f32 - cy - self.translation.1;
            for (qx, (px, py)) in xs.iter_mut().zip(ys.iter_mut()).enumerate() {
                let dx = qx as f32 - cx - self.translation.0;
                *px = cx + inv[0][0] * dx + inv[0][1] * dy;
                *py = cy + inv[1][0] * dx + inv[1][1] * dy;
            }
            let row = &mut dst[qy * shape.w * c..(qy + 1) * shape.w * c];
            bilinear::sample_row(src, shape, fill, &xs, &ys, row);
        }
        Ok(())
    }
}
