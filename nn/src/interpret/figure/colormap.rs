//! Colormaps for maps of numbers: a diverging one for signed maps (blue, white at zero,
//! red), a sequential one (viridis) for non-negative maps; heatmaps and overlays.

use super::error::{FigureError, Result};
use super::image::{Channels, Image};

/// Blue → white → red, at `t = -1, -0.5, 0, 0.5, 1` (ColorBrewer's RdBu, white at zero).
const DIVERGING: [[u8; 3]; 5] = [
    [33, 102, 172],
    [146, 197, 222],
    [255, 255, 255],
    [244, 165, 130],
    [178, 24, 43],
];

/// matplotlib's viridis at `t = 0, 0.1, ..., 1`.
const VIRIDIS: [[u8; 3]; 11] = [
    [68, 1, 84],
    [72, 36, 117],
    [65, 68, 135],
    [53, 95, 141],
    [42, 120, 142],
    [33, 145, 140],
    [34, 168, 132],
    [68, 191, 112],
    [122, 209, 81],
    [189, 223, 38],
    [253, 231, 37],
];

/// The colour of values that are not numbers (NaN): a mid gray in the sequential map and
/// black in the diverging one, so they stand out against both.
pub const NAN_SEQUENTIAL: [u8; 3] = [128, 128, 128];
/// See [`NAN_SEQUENTIAL`].
pub const NAN_DIVERGING: [u8; 3] = [0, 0, 0];

/// How a number becomes a colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colormap {
    /// Gray levels, black at 0, white at 1.
    Gray,
    /// For signed maps, symmetric about zero: `t = -1` blue, `0` white, `1` red.
    Diverging,
    /// For non-negative maps: viridis, dark purple at `t = 0` to yellow at `1`.
    Sequential,
}

fn interpolate(table: &[[u8; 3]], u: f64) -> [u8; 3] {
    let last = (table.len() - 1) as f64;
    let x = u.clamp(0.0, 1.0) * last;
    let i = (x.floor() as usize).min(table.len() - 2);
    let f = x - i as f64;
    std::array::from_fn(|c| {
        let (a, b) = (table[i][c] as f64, table[i + 1][c] as f64);
        (a + (b - a) * f).round() as u8
    })
}

impl Colormap {
    /// The colour of `t`, clamped to the map's domain: `[-1, 1]` for [`Diverging`](Self::Diverging),
    /// `[0, 1]` otherwise.
    ///
    /// ```
    /// use nn::interpret::figure::Colormap;
    /// assert_eq!(Colormap::Diverging.color(0.0), [255, 255, 255]);
    /// assert_eq!(Colormap::Sequential.color(1.0), [253, 231, 37]);
    /// assert_eq!(Colormap::Gray.color(2.0), [255, 255, 255]);
    /// ```
    pub fn color(self, t: f64) -> [u8; 3] {
        match self {
            Colormap::Gray if t.is_nan() => [0; 3],
            Colormap::Gray => [(t.clamp(0.0, 1.0) * 255.0).round() as u8; 3],
            Colormap::Diverging if t.is_nan() => NAN_DIVERGING,
            Colormap::Diverging => interpolate(&DIVERGING, (t + 1.0) / 2.0),
            Colormap::Sequential if t.is_nan() => NAN_SEQUENTIAL,
            Colormap::Sequential => interpolate(&VIRIDIS, t),
        }
    }

    /// Whether this map is symmetric about zero (values are scaled by their largest
    /// magnitude, not stretched from their minimum to their maximum).
    pub fn is_signed(self) -> bool {
        self == Colormap::Diverging
    }
}

/// The range `(lo, hi)` that [`Colormap`] scaling uses for `values`: `[min, max]` of the
/// finite values, or `[-m, m]` with `m` their largest magnitude for a signed map. `None` if no
/// value is finite.
pub fn value_range(values: impl IntoIterator<Item = f64>, signed: bool) -> Option<(f64, f64)> {
    let mut range: Option<(f64, f64)> = None;
    for v in values.into_iter().filter(|v| v.is_finite()) {
        range = Some(match range {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }
    range.map(|(lo, hi)| {
        if signed {
            let m = lo.abs().max(hi.abs());
            (-m, m)
        } else {
            (lo, hi)
        }
    })
}

/// Where `v` falls in `(lo, hi)` on the colormap's axis: `[-1, 1]` (zero at zero) for a signed
/// map, `[0, 1]` otherwise; an empty range (`lo == hi`) puts everything at the map's zero.
pub fn position(v: f64, (lo, hi): (f64, f64), signed: bool) -> f64 {
    if signed {
        let m = lo.abs().max(hi.abs());
        if m > 0.0 { v / m } else { 0.0 * v }
    } else if hi > lo {
        (v - lo) / (hi - lo)
    } else {
        0.0 * v
    }
}

/// A `[H, W]` map (row-major values) drawn in `colormap`, each value scaled by `range`
/// (see [`value_range`] for the usual choice; `None` takes it from the map itself).
///
/// ```
/// use nn::interpret::figure::{Colormap, heatmap};
/// let img = heatmap(&[-2.0, 0.0, 1.0], 1, 3, Colormap::Diverging, None).unwrap();
/// assert_eq!(img.rgb(0, 0), Colormap::Diverging.color(-1.0));
/// assert_eq!(img.rgb(1, 0), [255, 255, 255]);
/// assert_eq!(img.rgb(2, 0), Colormap::Diverging.color(0.5));
/// ```
pub fn heatmap(
    values: &[f64],
    height: usize,
    width: usize,
    colormap: Colormap,
    range: Option<(f64, f64)>,
) -> Result<Image> {
    if values.len() != height * width || values.is_empty() {
        return Err(FigureError::shape(
            "heatmap",
            &[height, width],
            format!("needs {} values, got {}", height * width, values.len()),
        ));
    }
    let signed = colormap.is_signed();
    let range = range
        .or_else(|| value_range(values.iter().copied(), signed))
        .unwrap_or((0.0, 0.0));
    let pixels = values
        .iter()
        .flat_map(|&v| colormap.color(position(v, range, signed)))
        .collect();
    Image::from_pixels(width, height, Channels::Rgb, pixels)
}

/// `heat` laid over the grayscale picture `base`: `(1 - alpha)·base + alpha·heat` per channel.
/// Both must have the same size; `alpha` is clamped to `[0, 1]`.
pub fn overlay(base: &Image, heat: &Image, alpha: f64) -> Result<Image> {
    if (base.width(), base.height()) != (heat.width(), heat.height()) {
        return Err(FigureError::shape(
            "overlay",
            &[heat.height(), heat.width()],
            format!(
                "the heatmap must have the base image's size {}x{}",
                base.height(),
                base.width()
            ),
        ));
    }
    let a = alpha.clamp(0.0, 1.0);
    let mut out = Image::filled(base.width(), base.height(), Channels::Rgb, 0);
    for y in 0..base.height() {
        for x in 0..base.width() {
            let (b, h) = (base.rgb(x, y), heat.rgb(x, y));
            let g = (b[0] as f64 + b[1] as f64 + b[2] as f64) / 3.0;
            let mix = std::array::from_fn(|c| ((1.0 - a) * g + a * h[c] as f64).round() as u8);
            out.put(x as i64, y as i64, mix);
        }
    }
    Ok(out)
}

/// A `[h, w]` map resized to `[height, width]` by bilinear interpolation with pixel centres
/// aligned (PyTorch's `interpolate(mode="bilinear", align_corners=False)`), the usual way to
/// lay a coarse map (Grad-CAM at a conv layer) over the input image.
pub fn resize_bilinear(
    values: &[f64],
    (h, w): (usize, usize),
    (height, width): (usize, usize),
) -> Result<Vec<f64>> {
    if values.len() != h * w || h == 0 || w == 0 || height == 0 || width == 0 {
        return Err(FigureError::shape(
            "resize_bilinear",
            &[h, w],
            format!(
                "needs {} values and a non-empty target (got {} values, target {height}x{width})",
                h * w,
                values.len()
            ),
        ));
    }
    let source = |o: usize, n_out: usize, n_in: usize| {
        let x = ((o as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).max(0.0);
        let i0 = (x.floor() as usize).min(n_in - 1);
        let i1 = (i0 + 1).min(n_in - 1);
        (i0, i1, x - i0 as f64)
    };
    let mut out = Vec::with_capacity(height * width);
    for oy in 0..height {
        let (y0, y1, fy) = source(oy, height, h);
        for ox in 0..width {
            let (x0, x1, fx) = source(ox, width, w);
            let at = |y: usize, x: usize| values[y * w + x];
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
            let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    Ok(out)
}
