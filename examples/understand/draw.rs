//! Small drawing steps the sections share: tiles from raw values, receptive-field crops,
//! headings, saving a figure.

use super::{Context, Failure};
use tapegrad::autograd::Tensor;
use tapegrad::nn::interpret::Field;
use tapegrad::nn::interpret::figure::{Channels, Colormap, Grid, Image, font, heatmap};

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

/// The signed tile of `field` of image `k` of `maps` `[N, H, W, 1]` (its receptive-field crop).
pub fn signed_crop(maps: &Tensor<f32>, k: usize, field: &Field) -> Result<Image, Failure> {
    let patch = field.crop(maps, k).map_err(|e| e.to_string())?;
    signed(&values(&patch), field.rows.len(), field.cols.len())
}

/// The model inputs of `field` of image `k` of `images` `[N, H, W, 1]`, shown as the bytes
/// they came from (black 0, white 255).
pub fn input_crop(ctx: &Context, images: &Tensor<f32>, k: usize, field: &Field) -> Result<Image, Failure> {
    let patch = field.crop(images, k).map_err(|e| e.to_string())?;
    let (lo, hi) = (ctx.normalized(0), ctx.normalized(255));
    let bytes: Vec<u8> = patch
        .as_slice()
        .iter()
        .map(|&v| ((v as f64 - lo) / (hi - lo) * 255.0).round().clamp(0.0, 255.0) as u8)
        .collect();
    gray(&bytes, field.rows.len(), field.cols.len())
}

/// Writes `img` as `OUT/name` and returns `name` for the page.
pub fn save(ctx: &Context, name: &str, img: &Image) -> Result<String, Failure> {
    img.write_png(&ctx.options.out.join(name))
        .map_err(|e| e.to_string())?;
    Ok(name.to_string())
}

/// Values of a tensor as `f64`.
pub fn values(t: &Tensor<f32>) -> Vec<f64> {
    t.as_slice().iter().map(|&v| v as f64).collect()
}

/// A `width`-wide white strip with `text` centred in the built-in font (twice its size when
/// that fits), for column headings.
pub fn label(text: &str, width: usize) -> Image {
    let scale = if font::text_size(text, 2).0 + 4 <= width {
        2
    } else {
        1
    };
    let (w, h) = font::text_size(text, scale);
    let mut img = Image::filled_rgb(width, h + 8, [255; 3]);
    font::draw_text(
        &mut img,
        text,
        (width.saturating_sub(w) / 2) as i64,
        4,
        scale,
        [0; 3],
    );
    img
}

/// A grid of `tiles` (`cols` per row, already at display size) under a row of column
/// headings, one per column.
pub fn with_headings(headings: &[&str], tiles: &[Image], padding: usize) -> Result<Image, Failure> {
    let cols = headings.len();
    let cell = tiles.iter().map(Image::width).max().unwrap_or(0);
    let heads: Vec<Image> = headings.iter().map(|h| label(h, cell)).collect();
    let grid = Grid::new().cols(cols).padding(padding);
    let top = grid.render_tiles(&heads).map_err(|e| e.to_string())?;
    let body = grid.render_tiles(tiles).map_err(|e| e.to_string())?;
    let mut out = Image::filled_rgb(body.width(), top.height() + body.height() - padding, [200; 3]);
    out.paste(&top, 0, 0);
    out.paste(&body, 0, top.height() - padding);
    Ok(out)
}
