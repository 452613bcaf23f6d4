//! Images to a model's input: what [`Batches`](crate::data::batches::Batches) does to a
//! dataset, for one image or a few (a file a user drew, a camera frame), with the same
//! normalisation.

use crate::data::batches::Normalize;
use autograd::{Element, Error, Result, Tensor};

/// One image of bytes (`rows × cols × channels`, row-major, channels interleaved: the layout of
/// a decoded PNG) as the model's input `[1, rows, cols, channels]`, each byte `b` becoming
/// `(b / 255 − mean) / std`.
///
/// ```
/// use nn::data::batches::Normalize;
/// use nn::data::input::image_to_input;
/// let digit = vec![0u8; 28 * 28];
/// let x = image_to_input::<f32>(&digit, [28, 28, 1], Normalize::MNIST).unwrap();
/// assert_eq!(x.shape(), &[1, 28, 28, 1]);
/// assert!((x.as_slice()[0] - Normalize::MNIST.value(0) as f32).abs() < 1e-7);
/// ```
pub fn image_to_input<T: Element>(
    pixels: &[u8],
    shape: [usize; 3],
    normalize: Normalize,
) -> Result<Tensor<T>> {
    images_to_input(&[pixels], shape, normalize)
}

/// Several images of the same `[rows, cols, channels]` shape as one batch
/// `[N, rows, cols, channels]`.
pub fn images_to_input<T: Element>(
    images: &[&[u8]],
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
                "image {i} has {} bytes, not rows × cols × channels = {per}",
                img.len()
            ),
        ));
    }
    let table: [T; 256] = std::array::from_fn(|b| T::from_f64(normalize.value(b as u8)));
    let mut out = autograd::runtime::buffer::take_dirty::<T>(per * images.len());
    for (dst, &b) in out.iter_mut().zip(images.iter().flat_map(|img| img.iter())) {
        *dst = table[b as usize];
    }
    let mut full = vec![images.len()];
    full.extend_from_slice(&shape);
    Tensor::from_vec(out, &full)
}
