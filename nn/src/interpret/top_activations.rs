//! The images that excite each feature map most (Zeiler & Fergus 2014, Fig. 2: the top 9 of
//! the validation set per feature map), with the receptive field of the strongest position.

use super::error::{InterpretError, Result};
use super::input::{CHUNK, check_nhwc, layer_index, map_dims};
use super::receptive_field::{Field, receptive_field};
use crate::layers::Sequential;
use autograd::{Element, Tape, Tensor};

/// One image's strongest activation of one feature map.
#[derive(Clone, Debug, PartialEq)]
pub struct TopActivation {
    /// The image's index in the batch.
    pub image: usize,
    /// Where in the feature map, `(i, j)` (the first, in row-major order, on ties).
    pub position: (usize, usize),
    /// The activation there.
    pub value: f64,
    /// The input pixels that position reads (its receptive field; the crop to show).
    pub field: Field,
}

/// `(value, image, position)` of one image's maximum in one feature map.
type Candidate = (f64, usize, (usize, usize));

/// For every channel of `layer`'s output, the `k` images of `images` `[N, H, W, C]` whose
/// strongest activation of that feature map is highest, best first (each image at most once
/// per channel; ties go to the lower image index). The images go through in chunks of 128
/// without a tape.
///
/// ```
/// use autograd::Tensor;
/// use nn::interpret::top_activations;
/// use nn::layers::{ReLU, Sequential};
/// // The layer is the image itself (one channel): the brightest pixels win.
/// let model = Sequential::<f32>::new().add("relu", ReLU);
/// let x = Tensor::from_vec(vec![0.0, 5.0, 1.0, 0.0, 7.0, 2.0], &[3, 1, 2, 1]).unwrap();
/// let top = top_activations(&model, "relu", &x, 2).unwrap();
/// assert_eq!(top[0].iter().map(|t| t.image).collect::<Vec<_>>(), [2, 0]);
/// assert_eq!((top[0][0].position, top[0][0].value), ((0, 0), 7.0));
/// assert_eq!(top[0][0].field.cols, 0..1);
/// ```
pub fn top_activations<T: Element>(
    model: &Sequential<T>,
    layer: &str,
    images: &Tensor<T>,
    k: usize,
) -> Result<Vec<Vec<TopActivation>>> {
    const F: &str = "top_activations";
    let [n, h, w, _] = check_nhwc(F, images)?;
    if k == 0 {
        return Err(InterpretError::Setting {
            function: F,
            why: "k = 0: ask for at least one image".into(),
        });
    }
    let split = layer_index(F, model, layer)? + 1;
    // Per channel, (value, image, position) of every image's maximum.
    let mut best: Vec<Vec<Candidate>> = Vec::new();
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        let tape = Tape::no_grad();
        let a = model.forward_range(&tape.constant(images.slice(0, start, end, 1)?), 0..split)?;
        let (fh, fw, c) = map_dims(F, layer, a.shape())?;
        best.resize_with(c, Vec::new);
        for (r, map) in a.value().as_slice().chunks(fh * fw * c).enumerate() {
            for (ch, list) in best.iter_mut().enumerate() {
                let (mut v, mut at) = (f64::NEG_INFINITY, 0);
                for p in 0..fh * fw {
                    let x = map[p * c + ch].to_f64();
                    if x > v {
                        (v, at) = (x, p);
                    }
                }
                list.push((v, start + r, (at / fw, at % fw)));
            }
        }
    }
    best.into_iter()
        .map(|mut list| {
            list.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            list.truncate(k);
            list.into_iter()
                .map(|(value, image, position)| {
                    let field = if model.layer(layer).and_then(|l| l.spatial_extent()).is_some() {
                        receptive_field(model, layer, position, (h, w))?
                    } else {
                        Field {
                            rows: 0..h,
                            cols: 0..w,
                        }
                    };
                    Ok(TopActivation {
                        image,
                        position,
                        value,
                        field,
                    })
                })
                .collect()
        })
        .collect()
}
