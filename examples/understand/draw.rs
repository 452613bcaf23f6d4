//! Small drawing steps the sections share: tiles from raw values, crops, saving a figure.

use super::{Context, Failure};
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
