//! [`Pixel`]: the value types an image can hold (`u8` and `f32`), what a transform needs of
//! them, and their conversion to a model's input; [`ImageShape`]: the shape of one image.

use autograd::Element;

/// The shape of one image, channels-last: `[H, W, C]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShape {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl ImageShape {
    /// The number of values of an image of this shape.
    pub fn len(&self) -> usize {
        self.h * self.w * self.c
    }

    /// Whether the image has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A pixel value of an image: `u8` (0 = black, 255 = white, as image files store them) or
/// `f32` (any value: already scaled, or a measurement).
///
/// Besides what transforms mix ([`to_f32`](Self::to_f32), [`from_f32`](Self::from_f32)), a
/// pixel type says what its value is on the unit scale ([`unit`](Self::unit)) and how a whole
/// image becomes a model's input ([`lookup`](Self::lookup) once, then
/// [`convert`](Self::convert) per image): the batch maker
/// ([`Batches`](crate::data::batches::Batches)) and
/// [`images_to_input`](crate::data::input::images_to_input) call these, so that no value is
/// converted through a per-element dispatch.
///
/// ```
/// use nn::data::Pixel;
/// assert_eq!(255u8.unit(), 1.0);
/// assert_eq!(0.25f32.unit(), 0.25);
/// // Channel 0 maps v to (v − 0.5) / 0.25, channel 1 to (v − 0) / 1.
/// let lookup = u8::lookup::<f32>(&[(0.5, 0.25), (0.0, 1.0)]);
/// let mut out = [0f32; 4];
/// u8::convert(&lookup, &[255, 255, 0, 51], &mut out);
/// assert_eq!(out, [2.0, 1.0, -2.0, 0.2]);
/// ```
pub trait Pixel: Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static {
    /// What [`lookup`](Self::lookup) prepares for [`convert`](Self::convert).
    type Lookup<T: Element>: Clone + Send + Sync;

    /// The value as `f32` (a byte as `0.0..=255.0`), for transforms to mix.
    fn to_f32(self) -> f32;
    /// A mixed value written back (`u8`: rounded half up and clamped to `0..=255`).
    fn from_f32(v: f32) -> Self;
    /// The value on the unit scale, where normalisation's means and standard deviations are
    /// stated (torchvision's `ToTensor`): a byte `b` is `b / 255`, an `f32` is taken as it is.
    fn unit(self) -> f64;

    /// Prepares the conversion of values to model inputs: channel `k` of `stats` (one
    /// `(mean, std)` pair per channel, or one pair for every channel) maps `v` to
    /// `(unit(v) − mean_k) / std_k`.
    fn lookup<T: Element>(stats: &[(f64, f64)]) -> Self::Lookup<T>;

    /// Converts `src` (pixels with channels interleaved, a whole number of pixels) into
    /// `dst` (of the same length) with a prepared `lookup`.
    fn convert<T: Element>(lookup: &Self::Lookup<T>, src: &[Self], dst: &mut [T]);
}

impl Pixel for u8 {
    /// One 256-entry table per channel.
    type Lookup<T: Element> = Vec<[T; 256]>;

    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        // Rounded half up (as `round` for the values a mix of bytes gives) without a call into
        // the math library; `as` truncates toward zero, saturates and maps NaN to 0.
        (v + 0.5) as u8
    }
    #[inline(always)]
    fn unit(self) -> f64 {
        self as f64 / 255.0
    }

    fn lookup<T: Element>(stats: &[(f64, f64)]) -> Vec<[T; 256]> {
        stats
            .iter()
            .map(|&(mean, std)| std::array::from_fn(|b| T::from_f64(((b as u8).unit() - mean) / std)))
            .collect()
    }

    fn convert<T: Element>(tables: &Vec<[T; 256]>, src: &[u8], dst: &mut [T]) {
        match tables.as_slice() {
            [table] => {
                for (d, &b) in dst.iter_mut().zip(src) {
                    *d = table[b as usize];
                }
            }
            tables => {
                let c = tables.len();
                for (d, s) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c)) {
                    for ((d, &b), table) in d.iter_mut().zip(s).zip(tables) {
                        *d = table[b as usize];
                    }
                }
            }
        }
    }
}

impl Pixel for f32 {
    /// One `(scale, shift)` per channel: `x = v · (1 / std) − mean / std`, in `f64`.
    type Lookup<T: Element> = Vec<(f64, f64)>;

    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn unit(self) -> f64 {
        self as f64
    }

    fn lookup<T: Element>(stats: &[(f64, f64)]) -> Vec<(f64, f64)> {
        stats
            .iter()
            .map(|&(mean, std)| (1.0 / std, -mean / std))
            .collect()
    }

    fn convert<T: Element>(affine: &Vec<(f64, f64)>, src: &[f32], dst: &mut [T]) {
        match affine.as_slice() {
            &[(scale, shift)] => {
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = T::from_f64(v as f64 * scale + shift);
                }
            }
            affine => {
                let c = affine.len();
                for (d, s) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c)) {
                    for ((d, &v), &(scale, shift)) in d.iter_mut().zip(s).zip(affine) {
                        *d = T::from_f64(v as f64 * scale + shift);
                    }
                }
            }
        }
    }
}
