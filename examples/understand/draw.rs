//! Small drawing steps the sections share: tiles from raw values, crops, saving a figure.

use super::{Context, Failure};
use tapegrad::nn::interpret::Field;
use tapegrad::nn::interpret::figure::{Channels, Colormap, Image, heatmap};

/// A signed `h × w` map in the diverging colormap, scaled by its own largest magnitude.
pub fn signed(values: &[f64], h: usize, w: usize) -> Result<Image, Failure> {
    heatmap(values, h, w, Colormap::Diverging, None).map_err(|e| e.to_string())
}

/// A non-negative `h × w` map in viridis over `range` (its own `[min, max]` if `None`).
pub fn sequential(values: &[f64], h: usize, w: usize, range: Option<(f64, f64)>) -> Result<Image, Failure> {
    heatmap(values, h, w, Colormap::Sequential, range).map_err(|e| e.to_string())
}

/// Grey bytes as an image (0 black, 255 white).
pub fn gray(bytes: &[u8], h: usize, w: usize) -> Result<Image, Failure> {
    Image::from_pixels(w, h, Channels::Gray, bytes.to_vec()).map_err(|e| e.to_string())
}

/// The pixels of `field` from a one-channel `h × w` image (row-major).
pub fn crop<V: Copy>(values: &[V], w: usize, field: &Field) -> Vec<V> {
    field
        .rows
        .clone()
        .flat_map(|r| {
            values[r * w + field.cols.start..r * w + field.cols.end]
                .iter()
                .copied()
        })
        .collect()
}

/// Writes `img` as `OUT/name` and returns `name` for the page.
pub fn save(ctx: &Context, name: &str, img: &Image) -> Result<String, Failure> {
    img.write_png(&ctx.options.out.join(name))
        .map_err(|e| e.to_string())?;
    Ok(name.to_string())
}

/// Values of a tensor as `f64`.
pub fn values(t: &tapegrad::autograd::Tensor<f32>) -> Vec<f64> {
    t.as_slice().iter().map(|&v| v as f64).collect()
}
