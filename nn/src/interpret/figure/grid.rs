//! [`Grid`]: a batch of images `[N, H, W, C]` laid out in rows and columns as one picture.

use super::colormap::{Colormap, position, value_range};
use super::error::{FigureError, Result};
use super::image::{Channels, Image};
use autograd::{Element, Tensor};

/// How the values of a grid's images are mapped to colours.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Normalization {
    /// Each image stretched over its own range (see [`value_range`]): details of every
    /// image are visible, magnitudes are not comparable between images.
    PerImage,
    /// One range for all images: magnitudes are comparable.
    Shared,
    /// A fixed range `(lo, hi)` (for a signed colormap, `[-m, m]` with `m = max(|lo|, |hi|)`):
    /// `Range(0.0, 255.0)` shows bytes as they are.
    Range(f64, f64),
}

/// Lays out `N` images in a grid: `cols` per row (default `⌈√N⌉`), `padding` pixels of
/// `background` between and around them, each pixel upscaled `scale × scale` (nearest), so
/// that 28×28 digits are visible.
///
/// One-channel images are drawn through `colormap` (gray by default); three-channel images are
/// drawn as RGB (the colormap is then ignored).
///
/// ```
/// use autograd::Tensor;
/// use nn::interpret::figure::{Grid, Normalization};
/// // Two 1x1 images, 0.0 and 1.0, side by side, 2x upscaled, 1 pixel of padding.
/// let t = Tensor::<f32>::from_vec(vec![0.0, 1.0], &[2, 1, 1, 1]).unwrap();
/// let img = Grid::new().cols(2).padding(1).scale(2).normalization(Normalization::Shared).render(&t).unwrap();
/// assert_eq!((img.width(), img.height()), (1 + 2 + 1 + 2 + 1, 1 + 2 + 1));
/// assert_eq!(img.rgb(1, 1), [0, 0, 0]);
/// assert_eq!(img.rgb(4, 2), [255, 255, 255]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    cols: Option<usize>,
    padding: usize,
    scale: usize,
    normalization: Normalization,
    colormap: Colormap,
    background: [u8; 3],
}

impl Default for Grid {
    fn default() -> Self {
        Self::new()
    }
}

impl Grid {
    /// `⌈√N⌉` columns, 2 pixels of light grey padding (it shows the edges of white tiles),
    /// no upscaling, per-image normalisation, gray.
    pub fn new() -> Self {
        Grid {
            cols: None,
            padding: 2,
            scale: 1,
            normalization: Normalization::PerImage,
            colormap: Colormap::Gray,
            background: [200; 3],
        }
    }

    /// Images per row (rows follow: `⌈N / cols⌉`).
    pub fn cols(mut self, cols: usize) -> Self {
        self.cols = Some(cols);
        self
    }

    /// Pixels between images and around the grid (in output pixels, not upscaled).
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// Integer upscaling of every image pixel (nearest neighbour).
    pub fn scale(mut self, scale: usize) -> Self {
        self.scale = scale;
        self
    }

    /// How values become colours; see [`Normalization`].
    pub fn normalization(mut self, normalization: Normalization) -> Self {
        self.normalization = normalization;
        self
    }

    /// The colormap of one-channel images.
    pub fn colormap(mut self, colormap: Colormap) -> Self {
        self.colormap = colormap;
        self
    }

    /// The colour of the padding.
    pub fn background(mut self, rgb: [u8; 3]) -> Self {
        self.background = rgb;
        self
    }

    /// Renders a tensor of images `[N, H, W, C]` (`C` = 1 or 3) or `[N, H, W]` (one channel).
    pub fn render<T: Element>(&self, images: &Tensor<T>) -> Result<Image> {
        let values: Vec<f64> = images.as_slice().iter().map(|v| v.to_f64()).collect();
        self.render_values(&values, images.shape())
    }

    /// Renders bytes holding images of `shape` `[N, H, W, C]` or `[N, H, W]`.
    pub fn render_u8(&self, pixels: &[u8], shape: &[usize]) -> Result<Image> {
        let values: Vec<f64> = pixels.iter().map(|&b| b as f64).collect();
        self.render_values(&values, shape)
    }

    /// Renders `f64` values holding images of `shape` `[N, H, W, C]` or `[N, H, W]`.
    pub fn render_values(&self, values: &[f64], shape: &[usize]) -> Result<Image> {
        let fail = |why: String| FigureError::shape("Grid::render", shape, why);
        let (n, h, w, c) = match *shape {
            [n, h, w] => (n, h, w, 1),
            [n, h, w, c] => (n, h, w, c),
            _ => return Err(fail("images must be [N, H, W, C] or [N, H, W]".into())),
        };
        if c != 1 && c != 3 {
            return Err(fail(format!(
                "{c} channels: only 1 (gray or a colormap) or 3 (RGB)"
            )));
        }
        if n * h * w == 0 {
            return Err(fail("no pixels to draw".into()));
        }
        if values.len() != n * h * w * c {
            return Err(fail(format!(
                "needs {} values, got {}",
                n * h * w * c,
                values.len()
            )));
        }
        let signed = c == 1 && self.colormap.is_signed();
        let shared = match self.normalization {
            Normalization::PerImage => None,
            Normalization::Shared => Some(value_range(values.iter().copied(), signed).unwrap_or((0.0, 0.0))),
            Normalization::Range(lo, hi) => Some((lo, hi)),
        };
        let per = h * w * c;
        let tiles: Vec<Image> = values
            .chunks_exact(per)
            .map(|img| {
                let range =
                    shared.unwrap_or_else(|| value_range(img.iter().copied(), signed).unwrap_or((0.0, 0.0)));
                let pixels: Vec<u8> = if c == 1 {
                    img.iter()
                        .flat_map(|&v| self.colormap.color(position(v, range, signed)))
                        .collect()
                } else {
                    img.iter()
                        .map(|&v| Colormap::Gray.color(position(v, range, false))[0])
                        .collect()
                };
                Image::from_pixels(w, h, Channels::Rgb, pixels)
            })
            .collect::<Result<_>>()?;
        self.render_tiles(&tiles)
    }

    /// Lays out images that are already drawn (heatmaps, overlays); they may differ in size,
    /// each sits in the top-left corner of a cell as large as the largest.
    pub fn render_tiles(&self, tiles: &[Image]) -> Result<Image> {
        if self.scale == 0 {
            return Err(FigureError::invalid(
                "Grid::render",
                "the scale must be at least 1",
            ));
        }
        if self.cols == Some(0) {
            return Err(FigureError::invalid(
                "Grid::render",
                "a grid needs at least one column",
            ));
        }
        if tiles.is_empty() {
            return Err(FigureError::shape("Grid::render", &[0], "no images to lay out"));
        }
        let n = tiles.len();
        let cols = self
            .cols
            .unwrap_or_else(|| (n as f64).sqrt().ceil() as usize)
            .min(n);
        let rows = n.div_ceil(cols);
        let cell_w = tiles.iter().map(Image::width).max().unwrap_or(0) * self.scale;
        let cell_h = tiles.iter().map(Image::height).max().unwrap_or(0) * self.scale;
        let p = self.padding;
        let width = cols * cell_w + (cols + 1) * p;
        let height = rows * cell_h + (rows + 1) * p;
        let mut out = Image::filled_rgb(width, height, self.background);
        for (i, tile) in tiles.iter().enumerate() {
            let (r, col) = (i / cols, i % cols);
            out.paste(
                &tile.upscaled(self.scale)?,
                p + col * (cell_w + p),
                p + r * (cell_h + p),
            );
        }
        Ok(out)
    }
}
