//! [`Image`]: 8-bit grayscale or RGB pixels, and writing them as a PNG file.

use super::error::{FigureError, Result};
use crate::train::checkpoint::{CheckpointError, write_atomically};
use std::path::Path;

/// How many channels an [`Image`] has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    /// One byte per pixel.
    Gray,
    /// Three bytes per pixel, red, green, blue.
    Rgb,
}

impl Channels {
    /// Bytes per pixel.
    pub fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::Rgb => 3,
        }
    }
}

/// An 8-bit image, row-major, channels interleaved (`[height, width, channels]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    width: usize,
    height: usize,
    channels: Channels,
    pixels: Vec<u8>,
}

impl Image {
    /// A `width × height` image with every byte equal to `fill`.
    pub fn filled(width: usize, height: usize, channels: Channels, fill: u8) -> Self {
        Image {
            width,
            height,
            channels,
            pixels: vec![fill; width * height * channels.count()],
        }
    }

    /// An RGB image with every pixel `rgb`.
    pub fn filled_rgb(width: usize, height: usize, rgb: [u8; 3]) -> Self {
        let pixels = rgb.iter().copied().cycle().take(width * height * 3).collect();
        Image {
            width,
            height,
            channels: Channels::Rgb,
            pixels,
        }
    }

    /// An image from its bytes; fails unless there are `width·height·channels` of them.
    ///
    /// ```
    /// use nn::interpret::figure::{Channels, Image};
    /// let img = Image::from_pixels(2, 1, Channels::Gray, vec![0, 255]).unwrap();
    /// assert_eq!(img.rgb(1, 0), [255, 255, 255]);
    /// assert!(Image::from_pixels(2, 2, Channels::Rgb, vec![0; 5]).is_err());
    /// ```
    pub fn from_pixels(width: usize, height: usize, channels: Channels, pixels: Vec<u8>) -> Result<Self> {
        if pixels.len() != width * height * channels.count() {
            return Err(FigureError::shape(
                "Image::from_pixels",
                &[height, width, channels.count()],
                format!(
                    "needs {} bytes, got {}",
                    width * height * channels.count(),
                    pixels.len()
                ),
            ));
        }
        Ok(Image {
            width,
            height,
            channels,
            pixels,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Grayscale or RGB.
    pub fn channels(&self) -> Channels {
        self.channels
    }

    /// The bytes, row-major with channels interleaved.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The colour at column `x`, row `y` (a gray pixel repeated three times).
    pub fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let c = self.channels.count();
        let i = (y * self.width + x) * c;
        match self.channels {
            Channels::Gray => [self.pixels[i]; 3],
            Channels::Rgb => [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]],
        }
    }

    /// Sets the pixel at `(x, y)` to `rgb` (its mean for a gray image); outside the image,
    /// nothing happens, so shapes can be drawn across the border.
    pub fn put(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return;
        }
        let c = self.channels.count();
        let i = (y as usize * self.width + x as usize) * c;
        match self.channels {
            Channels::Gray => {
                self.pixels[i] = ((rgb[0] as u16 + rgb[1] as u16 + rgb[2] as u16) / 3) as u8;
            }
            Channels::Rgb => self.pixels[i..i + 3].copy_from_slice(&rgb),
        }
    }

    /// The same picture in RGB (a copy if it already is).
    pub fn to_rgb(&self) -> Image {
        match self.channels {
            Channels::Rgb => self.clone(),
            Channels::Gray => Image {
                width: self.width,
                height: self.height,
                channels: Channels::Rgb,
                pixels: self.pixels.iter().flat_map(|&g| [g, g, g]).collect(),
            },
        }
    }

    /// Every pixel repeated `k × k` times (nearest-neighbour upscaling); `k = 0` is refused.
    pub fn upscaled(&self, k: usize) -> Result<Image> {
        if k == 0 {
            return Err(FigureError::invalid(
                "Image::upscaled",
                "the factor must be at least 1",
            ));
        }
        let c = self.channels.count();
        let (w, h) = (self.width * k, self.height * k);
        let mut pixels = Vec::with_capacity(w * h * c);
        for y in 0..h {
            let row = &self.pixels[(y / k) * self.width * c..(y / k + 1) * self.width * c];
            for px in row.chunks_exact(c) {
                for _ in 0..k {
                    pixels.extend_from_slice(px);
                }
            }
        }
        Ok(Image {
            width: w,
            height: h,
            channels: self.channels,
            pixels,
        })
    }

    /// Copies `src` with its top-left corner at `(x, y)`, converting it to this image's
    /// channels; the part outside this image is dropped.
    pub fn paste(&mut self, src: &Image, x: usize, y: usize) {
        for sy in 0..src.height {
            for sx in 0..src.width {
                self.put((x + sx) as i64, (y + sy) as i64, src.rgb(sx, sy));
            }
        }
    }

    /// The PNG file's bytes (8 bits per channel).
    pub fn encode_png(&self) -> std::result::Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        let mut enc = png::Encoder::new(&mut bytes, self.width as u32, self.height as u32);
        enc.set_color(match self.channels {
            Channels::Gray => png::ColorType::Grayscale,
            Channels::Rgb => png::ColorType::Rgb,
        });
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::High);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(&self.pixels).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
        Ok(bytes)
    }

    /// Writes the image as a PNG to `path`, atomically: to a temporary name beside it first,
    /// renamed over `path` once complete.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(FigureError::shape(
                "Image::write_png",
                &[self.height, self.width, self.channels.count()],
                "a PNG needs at least one pixel",
            ));
        }
        let bytes = self.encode_png().map_err(|why| FigureError::Encode {
            path: path.to_path_buf(),
            why,
        })?;
        write_file(path, &bytes)
    }
}

/// Writes `bytes` to `path` through a temporary name and a rename (the checkpoints' writer).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes).map_err(|e| match e {
        CheckpointError::Io { path, source } => FigureError::Io { path, source },
        other => FigureError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}
