//! What a network holds, as data for figures: every layer's feature maps for some images,
//! and a convolution's filters normalised for display as image grids.

use super::error::{InterpretError, Result};
use super::input::layer_index;
use crate::layers::Sequential;
use autograd::{Element, Tape, Tensor};

/// Every layer's output for `images` (usually one image, `[1, H, W, C]`), in order, under
/// the layer's name; no tape is recorded.
///
/// ```
/// use autograd::Tensor;
/// use nn::interpret::feature_maps;
/// use nn::models::lenet5;
/// use rand::SeedableRng;
/// let model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
/// let maps = feature_maps(&model, &Tensor::zeros(&[1, 28, 28, 1])).unwrap();
/// assert_eq!(maps[0].0, "conv1");
/// assert_eq!(maps[0].1.shape(), &[1, 28, 28, 6]);
/// assert_eq!(maps.last().unwrap().1.shape(), &[1, 10]);
/// ```
pub fn feature_maps<T: Element>(
    model: &Sequential<T>,
    images: &Tensor<T>,
) -> Result<Vec<(String, Tensor<T>)>> {
    let tape = Tape::no_grad();
    let mut h = tape.constant(images.clone());
    let mut out = Vec::with_capacity(model.len());
    for (i, name) in model.names().enumerate() {
        h = model.forward_range(&h, i..i + 1)?;
        out.push((name.to_string(), h.value().clone()));
    }
    Ok(out)
}

/// The kernels of convolution `layer`, `[C_out, KH, KW, C_in]`, each kernel `W_c` scaled
/// on its own to `[0, 1]` (`(W − min W_c) / (max W_c − min W_c)`; a constant kernel reads
/// 0.5): one small image per filter, channels-last, for a grid.
///
/// ```
/// use nn::interpret::filters;
/// use nn::models::lenet5;
/// use rand::SeedableRng;
/// let model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
/// let f = filters(&model, "conv1").unwrap();
/// assert_eq!(f.shape(), &[6, 5, 5, 1]);
/// let first = &f.as_slice()[..25];
/// assert_eq!(first.iter().cloned().fold(f32::MAX, f32::min), 0.0);
/// assert_eq!(first.iter().cloned().fold(f32::MIN, f32::max), 1.0);
/// assert!(filters(&model, "fc1").is_err()); // not a convolution
/// ```
pub fn filters<T: Element>(model: &Sequential<T>, layer: &str) -> Result<Tensor<T>> {
    const F: &str = "filters";
    let i = layer_index(F, model, layer)?;
    let module = model
        .layers()
        .nth(i)
        .map(|(_, m)| m)
        .expect("index from position");
    let params = module.parameters();
    let w = params
        .iter()
        .find(|(n, p)| n == "w" && p.shape().len() == 4)
        .map(|(_, p)| p.value())
        .ok_or_else(|| InterpretError::Layer {
            function: F,
            layer: layer.to_string(),
            why: "is not a convolution (no kernel w of shape [C_out, KH, KW, C_in])".into(),
        })?;
    let per = w.numel() / w.shape()[0].max(1);
    let mut out = Vec::with_capacity(w.numel());
    for kernel in w.as_slice().chunks(per.max(1)) {
        let (lo, hi) = kernel
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v.to_f64()), hi.max(v.to_f64()))
            });
        out.extend(kernel.iter().map(|v| {
            T::from_f64(if hi > lo {
                (v.to_f64() - lo) / (hi - lo)
            } else {
                0.5
            })
        }));
    }
    Ok(Tensor::from_vec(out, w.shape())?)
}
