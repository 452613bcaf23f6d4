//! Images to a model's input: what [`Batches`](crate::data::batches::Batches) does to a
//! dataset, for one image or a few (a file a user drew, a camera frame), with the same
//! normalisation ([`Normalize`]).

use crate::data::{Normalize, Pixel};
use autograd::{Element, Error, Result, Tensor};

/// One image (`rows × cols × channels` values, row-major, channels interleaved: the layout
/// of a decoded PNG) of bytes or `f32`s as the model's input `[1, rows, cols, channels]`,
/// each value `v` of channel `k` becoming `(unit(v) − mean_k) / std_k` (for a byte,
/// `unit(b) = b / 255`).
///
/// ```
/// use nn::data::batches::Normalize;
/// use nn::data::input::image_to_input;
/// let digit = vec![0u8; 28 * 28];
/// let x = image_to_input::<f32>(&digit, [28, 28, 1], Normalize::MNIST).unwrap();
/// assert_eq!(x.shape(), &[1, 28, 28, 1]);
/// assert!((x.as_slice()[0] - Normalize::MNIST.value(0u8, 0) as f32).abs() < 1e-7);
/// // A colour photograph's pixel, with CIFAR-10's statistics.
/// let x = image_to_input::<f64>(&[255u8, 0, 0], [1, 1, 3], Normalize::CIFAR10).unwrap();
/// assert!((x.as_slice()[1] - (0.0 - 0.4822) / 0.2435).abs() < 1e-12);
/// ```
pub fn image_to_input<T: Element>(
    pixels: &[impl Pixel],
    shape: [usize; 3],
    normalize: Normalize,
) -> Result<Tensor<T>> {
    images_to_input(&[pixels], shape, normalize)
}

/// Several images of the same `[rows, cols, channels]` shape as one batch
/// `[N, rows, cols, channels]`, as [`image_to_input`] converts one. Fails when an image does
/// not hold `rows · cols · channels` values, a dimension is 0, or the normaliser has several
/// channels and not `channels` of them.
pub fn images_to_input<T: Element>(
    images: &[&[impl Pixel]],
    shape: [usize; 3],
    normalize: Normalize,
) -> Result<Tensor<T>> {
    to_input(images, shape, normalize)
}

fn to_input<T: Element, P: Pixel>(
    images: &[&[P]],
    shape: [usize; 3],
    normalize: Normalize,
) -> Result<Tensor<T>> {
    let per = shape.iter().product::<usize>();
    if per == 0 {
        return Err(Error::invalid(
            "images_to_input",
            &shape,
            "an image needs rows, columns and channels",
        ));
    }
    if let Some((i, img)) = images.iter().enumerate().find(|(_, img)| img.len() != per) {
        return Err(Error::invalid(
            "images_to_input",
            &shape,
            format!(
                "image {i} has {} values, not rows × cols × channels = {per}",
                img.len()
            ),
        ));
    }
    let lookup = normalize.lookup::<T, P>("images_to_input", shape[2])?;
    let mut out = autograd::runtime::buffer::take_dirty::<T>(per * images.len());
    for (dst, img) in out.chunks_exact_mut(per).zip(images) {
        P::convert(&lookup, img, dst);
    }
    let mut full = vec![images.len()];
    full.extend_from_slice(&shape);
    Tensor::from_vec(out, &full)
}
