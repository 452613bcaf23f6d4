//! Receptive fields: the input pixels one position of a layer's output reads, from the
//! layers' windows ([`SpatialExtent`]). A window layer with kernel `f`, stride `s`, padding
//! `p` and dilation `d` maps output rows `a..=b` to input rows `a·s − p ..= b·s − p + d(f − 1)`,
//! clipped to the rows that exist (padding reads nothing); pointwise layers keep them.

use super::error::{InterpretError, Result};
use super::input::layer_index;
use crate::layers::{Sequential, SpatialExtent};
use autograd::{Element, Tensor};
use std::ops::Range;

/// A rectangle of input pixels: rows `rows` and columns `cols` (half-open).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// The rows, top to bottom.
    pub rows: Range<usize>,
    /// The columns, left to right.
    pub cols: Range<usize>,
}

impl Field {
    /// The crop of image `image` of `images` `[N, H, W, C]` that the field covers,
    /// `[rows, cols, C]`.
    ///
    /// ```
    /// use autograd::Tensor;
    /// use nn::interpret::Field;
    /// let images = Tensor::<f32>::from_fn(&[2, 3, 3, 1], |i| i as f32);
    /// let crop = Field { rows: 1..3, cols: 0..2 }.crop(&images, 1).unwrap();
    /// assert_eq!(crop.shape(), &[2, 2, 1]);
    /// assert_eq!(crop.to_vec(), [12.0, 13.0, 15.0, 16.0]);
    /// ```
    pub fn crop<T: Element>(&self, images: &Tensor<T>, image: usize) -> Result<Tensor<T>> {
        let [n, h, w, c] = *images.shape() else {
            return Err(InterpretError::Shape {
                function: "Field::crop",
                shape: images.shape().to_vec(),
                why: "the images must be [N, H, W, C]".into(),
            });
        };
        if image >= n
            || self.rows.end > h
            || self.cols.end > w
            || self.rows.is_empty()
            || self.cols.is_empty()
        {
            return Err(InterpretError::Shape {
                function: "Field::crop",
                shape: images.shape().to_vec(),
                why: format!(
                    "image {image}, rows {:?}, cols {:?} are not inside the batch",
                    self.rows, self.cols
                ),
            });
        }
        let one = images.slice(0, image, image + 1, 1)?;
        let rows = one.slice(1, self.rows.start, self.rows.end, 1)?;
        let crop = rows.slice(2, self.cols.start, self.cols.end, 1)?;
        Ok(crop.reshape(&[self.rows.len(), self.cols.len(), c])?)
    }
}

/// The input pixels that output position `(i, j)` of `layer` reads, for `H × W` inputs
/// `input`; every layer up to `layer` must keep the image layout
/// ([`Module::spatial_extent`](crate::layers::Module::spatial_extent)).
///
/// ```
/// use nn::interpret::{Field, receptive_field};
/// use nn::models::lenet5;
/// use rand::SeedableRng;
/// let model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
/// // conv1 (5x5, p 2) -> pool1 (2x2, s 2) -> conv2 (5x5): conv2's (0, 0) reads pool1 rows
/// // 0..=4, conv1 rows 0..=9, input rows -2..=11, of which 0..=11 exist.
/// let f = receptive_field(&model, "conv2", (0, 0), (28, 28)).unwrap();
/// assert_eq!(f, Field { rows: 0..12, cols: 0..12 });
/// // fc1 does not keep the image layout.
/// assert!(receptive_field(&model, "fc1", (0, 0), (28, 28)).is_err());
/// ```
pub fn receptive_field<T: Element>(
    model: &Sequential<T>,
    layer: &str,
    (i, j): (usize, usize),
    input: (usize, usize),
) -> Result<Field> {
    const F: &str = "receptive_field";
    let last = layer_index(F, model, layer)?;
    // The sizes of every layer's input, forward; then the field, backward.
    let mut extents = Vec::with_capacity(last + 1);
    let mut size = (input.0 as isize, input.1 as isize);
    for (name, module) in model.layers().take(last + 1) {
        let extent = module.spatial_extent().ok_or_else(|| InterpretError::Layer {
            function: F,
            layer: name.to_string(),
            why: "does not keep the image layout (or does not describe its window)".into(),
        })?;
        extents.push((extent, size));
        if let SpatialExtent::Window {
            kernel,
            stride,
            padding,
            dilation,
        } = extent
        {
            let out = |n: isize, f: usize, s: usize, p: usize, d: usize| {
                (n + 2 * p as isize - (d * (f - 1)) as isize - 1).div_euclid(s as isize) + 1
            };
            size = (
                out(size.0, kernel.0, stride.0, padding.0, dilation.0),
                out(size.1, kernel.1, stride.1, padding.1, dilation.1),
            );
        }
    }
    if i as isize >= size.0 || j as isize >= size.1 {
        return Err(InterpretError::Shape {
            function: F,
            shape: vec![i, j],
            why: format!("the position is outside {layer}'s {}x{} output", size.0, size.1),
        });
    }
    let (mut rows, mut cols) = ((i as isize, i as isize), (j as isize, j as isize));
    for (extent, (h, w)) in extents.into_iter().rev() {
        if let SpatialExtent::Window {
            kernel,
            stride,
            padding,
            dilation,
        } = extent
        {
            let back = |(a, b): (isize, isize), f: usize, s: usize, p: usize, d: usize, n: isize| {
                let (s, p) = (s as isize, p as isize);
                (
                    (a * s - p).max(0),
                    (b * s - p + (d * (f - 1)) as isize).min(n - 1),
                )
            };
            rows = back(rows, kernel.0, stride.0, padding.0, dilation.0, h);
            cols = back(cols, kernel.1, stride.1, padding.1, dilation.1, w);
        }
    }
    Ok(Field {
        rows: rows.0 as usize..(rows.1 + 1) as usize,
        cols: cols.0 as usize..(cols.1 + 1) as usize,
    })
}
