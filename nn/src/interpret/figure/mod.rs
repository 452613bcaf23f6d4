//! Figures for understanding a network: PNG images (written atomically), grids of images,
//! colormaps and heatmaps, line charts, and one self-contained HTML page to show them on.
//!
//! - [`Image`]: 8-bit gray or RGB pixels, [`Image::write_png`] (temporary name, then rename);
//! - [`Grid`]: `N` images `[N, H, W, C]` (`f32`/`f64` tensors, bytes) in rows and columns,
//!   with padding, per-image or shared [`Normalization`] and integer upscaling;
//! - [`Colormap`]: [`Diverging`](Colormap::Diverging) (blue, white at 0, red) for signed maps,
//!   [`Sequential`](Colormap::Sequential) (viridis) for non-negative ones; [`heatmap`],
//!   [`overlay`] on a grayscale image, [`resize_bilinear`] for coarse maps;
//! - [`LineChart`]: axes, ticks and a legend, texts in a built-in 5×7 bitmap font (digits,
//!   upper-case letters and a few signs: no system fonts);
//! - [`Page`]: title, sections, paragraphs, figures with one-line captions, tables; no
//!   scripts, no network.
//!
//! ```
//! use autograd::Tensor;
//! use nn::interpret::figure::{Colormap, Grid, Normalization};
//! let maps = Tensor::<f32>::from_vec(vec![-1.0, 0.0, 0.5, 1.0], &[1, 2, 2, 1]).unwrap();
//! let img = Grid::new().padding(0).colormap(Colormap::Diverging)
//!     .normalization(Normalization::Shared).render(&maps).unwrap();
//! assert_eq!(img.rgb(0, 0), Colormap::Diverging.color(-1.0));
//! assert_eq!(img.rgb(1, 0), [255, 255, 255]);
//! # let path = std::env::temp_dir().join(format!("figure-doc-{}.png", std::process::id()));
//! img.write_png(&path).unwrap();
//! # std::fs::remove_file(&path).unwrap();
//! ```

mod chart;
mod colormap;
mod error;
pub mod font;
mod grid;
mod html;
mod image;

pub use chart::{LineChart, PALETTE, Series, ticks};
pub use colormap::{
    Colormap, NAN_DIVERGING, NAN_SEQUENTIAL, heatmap, overlay, position, resize_bilinear, value_range,
};
pub use error::{FigureError, Result};
pub use grid::{Grid, Normalization};
pub use html::{Page, escape};
pub use image::{Channels, Image};

#[cfg(test)]
mod tests;
