//! Grad-CAM (Selvaraju et al. 2017) at a chosen layer: with `A` the layer's output
//! `[N, h, w, C]` (after its activation, for a layer with a fused one) and `dA` the gradient
//! of the target logit with respect to it,
//!
//! ```text
//! α_c = (1 / (h·w)) Σ_ij dA_ijc          cam_ij = ReLU(Σ_c α_c · A_ijc)
//! ```
//!
//! as captum's `LayerGradCam(..., relu_attributions=True)` at the same layer output.

use super::error::{InterpretError, Result};
use super::input::{CHUNK, check_batch, check_logits, layer_index, one_hot};
use crate::layers::Sequential;
use autograd::{Element, Tape, Tensor};

/// The Grad-CAM map `[N, h, w]` of each image's target logit at the output of `layer`
/// (a layer of `model` whose output is `[N, h, w, C]`).
///
/// ```
/// use autograd::Tensor;
/// use nn::interpret::grad_cam;
/// use nn::layers::{Dense, Flatten, ReLU, Sequential};
/// // The "image" is its own 1x2 feature map with one channel; logit = 1·A_00 + 3·A_01:
/// // α = mean(1, 3) = 2, cam = ReLU(2·A).
/// let w = Tensor::from_vec(vec![1.0, 3.0], &[2, 1]).unwrap();
/// let model = Sequential::<f64>::new()
///     .add("relu", ReLU)
///     .add("flatten", Flatten)
///     .add("fc", Dense::from_tensors(w, None).unwrap());
/// let x = Tensor::from_vec(vec![0.5, 2.0], &[1, 1, 2, 1]).unwrap();
/// let cam = grad_cam(&model, "relu", &x, &[0]).unwrap();
/// assert_eq!(cam.shape(), &[1, 1, 2]);
/// assert_eq!(cam.to_vec(), [1.0, 4.0]);
/// ```
pub fn grad_cam<T: Element>(
    model: &Sequential<T>,
    layer: &str,
    images: &Tensor<T>,
    targets: &[usize],
) -> Result<Tensor<T>> {
    const F: &str = "grad_cam";
    let n = check_batch(F, images, targets)?;
    let split = layer_index(F, model, layer)? + 1;
    let mut cam = Vec::new();
    let mut map = (0, 0);
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        // Up to the layer without a tape; from there on recorded, from A as a variable (so
        // the backward pass stops at A).
        let below = Tape::no_grad();
        let a = model.forward_range(&below.constant(images.slice(0, start, end, 1)?), 0..split)?;
        let tape = Tape::new();
        tape.set_params_frozen(true);
        let a = tape.var(a.value().clone());
        let [rows, h, w, c] = *a.shape() else {
            return Err(InterpretError::Layer {
                function: F,
                layer: layer.to_string(),
                why: format!(
                    "has output shape {:?}; Grad-CAM needs feature maps [N, h, w, C]",
                    a.shape()
                ),
            });
        };
        map = (h, w);
        let logits = model.forward_range(&a, split..model.len())?;
        let chunk = &targets[start..end];
        let k = check_logits(
            F,
            logits.value(),
            chunk.iter().enumerate().map(|(r, &t)| (start + r, t)),
        )?;
        let grads = tape.backward_with(&logits, one_hot(rows, k, |r| chunk[r]))?;
        let (av, da) = (a.value().as_slice(), grads[&a].as_slice());
        let hw = h * w;
        for r in 0..rows {
            let (av, da) = (
                &av[r * hw * c..(r + 1) * hw * c],
                &da[r * hw * c..(r + 1) * hw * c],
            );
            // α_c: the spatial mean of dA.
            let mut alpha = vec![0.0f64; c];
            for d in da.chunks(c) {
                alpha.iter_mut().zip(d).for_each(|(al, &d)| *al += d.to_f64());
            }
            alpha.iter_mut().for_each(|al| *al /= hw as f64);
            cam.extend(av.chunks(c).map(|a| {
                let s: f64 = a.iter().zip(&alpha).map(|(&a, al)| a.to_f64() * al).sum();
                T::from_f64(if s < 0.0 { 0.0 } else { s })
            }));
        }
    }
    Ok(Tensor::from_vec(cam, &[n, map.0, map.1])?)
}
