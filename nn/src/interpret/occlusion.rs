//! Occlusion sensitivity (Zeiler & Fergus 2014, Fig. 7): a square of side `size`, filled with
//! `fill`, is slid over the image with step `stride`; at each of its `P × Q` positions the
//! network runs on the occluded image. Position `(p, q)` puts the square's top-left corner at
//! pixel `(p·stride, q·stride)`, with `P = (H − size)/stride + 1` and `Q = (W − size)/stride + 1`
//! (the square always lies inside the image; every channel is covered).
//!
//! The occluded copies go through the model in chunks of 128 (no tape recorded).

use super::error::{InterpretError, Result};
use super::input::{CHUNK, check_batch, check_logits, check_nhwc, layer_index, map_dims};
use crate::layers::Sequential;
use autograd::{Element, Tape, Tensor};

/// The occluder: a square of side `size`, moved by `stride`, filled with `fill`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Occlusion {
    /// The square's side, in pixels.
    pub size: usize,
    /// The step between positions, in pixels.
    pub stride: usize,
    /// The value the square holds (in the model's input units: the normalised grey, say).
    pub fill: f64,
}

/// Occlusion maps of `N` images, each `[N, P, Q]` (position `(p, q)`: the square's
/// top-left corner at `(p·stride, q·stride)`).
#[derive(Clone, Debug, PartialEq)]
pub struct OcclusionMaps<T: Element> {
    /// The softmax probability of the image's target class with the square there.
    pub probability: Tensor<T>,
    /// The total activation (the sum over all positions) of one feature map of the chosen
    /// layer: the one with the strongest single activation in the unoccluded image.
    pub feature: Tensor<T>,
    /// Per image, that feature map's channel.
    pub feature_channel: Vec<usize>,
    /// The predicted class (the highest logit) with the square there, `[N, P, Q]` row-major.
    pub predicted: Vec<usize>,
    /// `(P, Q)`.
    pub positions: (usize, usize),
}

impl Occlusion {
    /// `(P, Q)` for an `H × W` image.
    pub fn positions(&self, h: usize, w: usize) -> (usize, usize) {
        (
            (h - self.size) / self.stride + 1,
            (w - self.size) / self.stride + 1,
        )
    }

    /// The maps of `images` `[N, H, W, C]` for their `targets`, with the feature map taken
    /// at the output of `layer`.
    ///
    /// ```
    /// use autograd::Tensor;
    /// use nn::interpret::Occlusion;
    /// use nn::layers::{Dense, Flatten, Sequential};
    /// // Two classes; logit 0 reads pixel (0, 0) only, logit 1 nothing.
    /// let w = Tensor::from_vec(vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &[4, 2]).unwrap();
    /// let model = Sequential::<f64>::new()
    ///     .add("flatten", Flatten)
    ///     .add("fc", Dense::from_tensors(w, None).unwrap());
    /// let x = Tensor::from_vec(vec![3.0, 1.0, 1.0, 1.0], &[1, 2, 2, 1]).unwrap();
    /// let occ = Occlusion { size: 1, stride: 1, fill: 0.0 };
    /// let maps = occ.maps(&model, "fc", &x, &[0]).unwrap();
    /// assert_eq!(maps.positions, (2, 2));
    /// // Covering (0, 0) drops logit 0 to 0: probability 1/2; elsewhere e³/(e³ + 1).
    /// let p = maps.probability.to_vec();
    /// assert!((p[0] - 0.5).abs() < 1e-12 && p[1] > 0.95 && p[1] == p[3]);
    /// assert_eq!(maps.predicted, [0, 0, 0, 0]); // a tie goes to the first class
    /// ```
    pub fn maps<T: Element>(
        &self,
        model: &Sequential<T>,
        layer: &str,
        images: &Tensor<T>,
        targets: &[usize],
    ) -> Result<OcclusionMaps<T>> {
        const F: &str = "Occlusion::maps";
        let n = check_batch(F, images, targets)?;
        let [_, h, w, c] = check_nhwc(F, images)?;
        if self.size == 0 || self.stride == 0 || self.size > h.min(w) {
            return Err(InterpretError::Setting {
                function: F,
                why: format!(
                    "size {} and stride {} must be positive, the square no larger than the {h}x{w} image",
                    self.size, self.stride
                ),
            });
        }
        let split = layer_index(F, model, layer)? + 1;
        let (p_count, q_count) = self.positions(h, w);
        let per_image = p_count * q_count;
        let pixels = h * w * c;
        // The strongest feature map of each unoccluded image.
        let mut feature_channel = Vec::with_capacity(n);
        for start in (0..n).step_by(CHUNK) {
            let end = (start + CHUNK).min(n);
            let tape = Tape::no_grad();
            let a = model.forward_range(&tape.constant(images.slice(0, start, end, 1)?), 0..split)?;
            let (_, _, fc) = map_dims(F, layer, a.shape())?;
            for map in a.value().as_slice().chunks(a.value().numel() / (end - start)) {
                let best = map
                    .iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |best, (i, v)| {
                        if v.to_f64() > best.1 {
                            (i % fc, v.to_f64())
                        } else {
                            best
                        }
                    });
                feature_channel.push(best.0);
            }
        }
        let total = n * per_image;
        let (mut probability, mut feature) = (Vec::with_capacity(total), Vec::with_capacity(total));
        let mut predicted = Vec::with_capacity(total);
        let x = images.as_slice();
        let fill = T::from_f64(self.fill);
        for start in (0..total).step_by(CHUNK) {
            let end = (start + CHUNK).min(total);
            let mut rows = Vec::with_capacity((end - start) * pixels);
            for r in start..end {
                let (img, pos) = (r / per_image, r % per_image);
                let (top, left) = ((pos / q_count) * self.stride, (pos % q_count) * self.stride);
                let at = rows.len();
                rows.extend_from_slice(&x[img * pixels..(img + 1) * pixels]);
                for i in top..top + self.size {
                    let row = at + (i * w + left) * c;
                    rows[row..row + self.size * c].fill(fill);
                }
            }
            let tape = Tape::no_grad();
            let batch = tape.constant(Tensor::from_vec(rows, &[end - start, h, w, c])?);
            let a = model.forward_range(&batch, 0..split)?;
            let (fh, fw, fc) = map_dims(F, layer, a.shape())?;
            for (i, map) in a.value().as_slice().chunks(fh * fw * fc).enumerate() {
                let ch = feature_channel[(start + i) / per_image];
                feature.push(T::from_f64(
                    map.iter().skip(ch).step_by(fc).map(|v| v.to_f64()).sum(),
                ));
            }
            let logits = model.forward_range(&a, split..model.len())?;
            let k = check_logits(
                F,
                logits.value(),
                (start..end).map(|r| (r / per_image, targets[r / per_image])),
            )?;
            for (i, row) in logits.value().as_slice().chunks(k).enumerate() {
                let target = targets[(start + i) / per_image];
                let (best, max) = row.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (j, v)| {
                    if v.to_f64() > b.1 { (j, v.to_f64()) } else { b }
                });
                let z: f64 = row.iter().map(|v| (v.to_f64() - max).exp()).sum();
                probability.push(T::from_f64((row[target].to_f64() - max).exp() / z));
                predicted.push(best);
            }
        }
        Ok(OcclusionMaps {
            probability: Tensor::from_vec(probability, &[n, p_count, q_count])?,
            feature: Tensor::from_vec(feature, &[n, p_count, q_count])?,
            feature_channel,
            predicted,
            positions: (p_count, q_count),
        })
    }
}
