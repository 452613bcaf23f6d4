//! Invariance curves (Zeiler & Fergus 2014, Fig. 5): how far the features of a transformed
//! image move from those of the original, at the first convolution and at the last hidden
//! layer, and the true class's probability, against the size of a translation, a scaling
//! or a rotation. The warps are [`Affine`] transforms about the image's centre (bilinear,
//! `fill` outside the image).

use super::error::{InterpretError, Result};
use super::input::{CHUNK, check_batch, check_logits, check_nhwc, layer_index};
use crate::data::transforms::{Affine, ImageShape};
use crate::layers::{Module, Sequential};
use autograd::{Element, Tape, Tensor};

/// The family of transforms a curve runs through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Warp {
    /// A horizontal shift by `value` pixels (positive: to the right).
    Translation,
    /// A scaling by the factor `value` (1: unchanged).
    Scale,
    /// A rotation by `value` degrees (positive: counter-clockwise as displayed).
    Rotation,
}

impl Warp {
    /// The transform of size `value`.
    pub fn affine(self, value: f64) -> Affine {
        let v = value as f32;
        match self {
            Warp::Translation => Affine {
                translation: (v, 0.0),
                ..Affine::default()
            },
            Warp::Scale => Affine {
                scale: v,
                ..Affine::default()
            },
            Warp::Rotation => Affine {
                rotation: v,
                ..Affine::default()
            },
        }
    }
}

/// One curve per image: `first[n][v]`, `last[n][v]` and `probability[n][v]` at `values[v]`.
#[derive(Clone, Debug, PartialEq)]
pub struct InvarianceCurves {
    /// The transform sizes.
    pub values: Vec<f64>,
    /// The Euclidean distance between the transformed and the original image's outputs of
    /// the first layer.
    pub first: Vec<Vec<f64>>,
    /// The same at the last layer.
    pub last: Vec<Vec<f64>>,
    /// The softmax probability of the image's target class for the transformed image.
    pub probability: Vec<Vec<f64>>,
}

/// The settings of the curves.
#[derive(Clone, Debug, PartialEq)]
pub struct Invariance {
    /// The transform family.
    pub warp: Warp,
    /// The transform sizes along the curve.
    pub values: Vec<f64>,
    /// The input value outside the warped image (the normalised background).
    pub fill: f64,
    /// The layer whose features `first` compares (the first convolution).
    pub first_layer: String,
    /// The layer whose features `last` compares (the last hidden layer).
    pub last_layer: String,
}

/// The paper's two layers of `model`: the first layer with a kernel of shape
/// `[C_out, KH, KW, C_in]`, and the last hidden layer, the one before the last layer that has
/// parameters (LeNet-5: `conv1` and `fc2`).
pub fn paper_layers<T: Element>(model: &Sequential<T>) -> Result<(String, String)> {
    let layers: Vec<(&str, &dyn Module<T>)> = model.layers().collect();
    let conv = layers
        .iter()
        .find(|(_, l)| l.parameters().iter().any(|(_, p)| p.shape().len() == 4));
    let output = layers.iter().rposition(|(_, l)| !l.parameters().is_empty());
    match (conv, output) {
        (Some((first, _)), Some(out)) if out > 0 => Ok((first.to_string(), layers[out - 1].0.to_string())),
        _ => Err(InterpretError::Setting {
            function: "paper_layers",
            why: "the model needs a convolution and a parameterised output layer after a hidden one".into(),
        }),
    }
}

impl Invariance {
    /// The curves of `images` `[N, H, W, C]` with their `targets`. The `N · V` transformed
    /// images go through the model in chunks of 128, without a tape.
    pub fn curves<T: Element>(
        &self,
        model: &Sequential<T>,
        images: &Tensor<T>,
        targets: &[usize],
    ) -> Result<InvarianceCurves> {
        const F: &str = "Invariance::curves";
        let n = check_batch(F, images, targets)?;
        let [_, h, w, c] = check_nhwc(F, images)?;
        let (first, last) = (
            layer_index(F, model, &self.first_layer)? + 1,
            layer_index(F, model, &self.last_layer)? + 1,
        );
        if first > last {
            return Err(InterpretError::Setting {
                function: F,
                why: format!("{} comes after {}", self.first_layer, self.last_layer),
            });
        }
        let shape = ImageShape { h, w, c };
        let pixels = shape.len();
        let affines: Vec<Affine> = self.values.iter().map(|&v| self.warp.affine(v)).collect();
        let x: Vec<f32> = images.as_slice().iter().map(|v| v.to_f64() as f32).collect();
        let fill = self.fill as f32;
        let count = affines.len();
        // Row 0 of each image: the original; rows 1..=V: its transforms.
        let per = count + 1;
        let total = n * per;
        let (mut f1, mut f2, mut prob) = (Vec::new(), Vec::new(), Vec::new());
        for start in (0..total).step_by(CHUNK) {
            let end = (start + CHUNK).min(total);
            let mut rows = vec![0f32; (end - start) * pixels];
            for (r, row) in (start..end).zip(rows.chunks_mut(pixels)) {
                let src = &x[(r / per) * pixels..(r / per + 1) * pixels];
                match r % per {
                    0 => row.copy_from_slice(src),
                    v => affines[v - 1].apply(src, shape, fill, row)?,
                }
            }
            let rows = rows.into_iter().map(|v| T::from_f64(v as f64)).collect();
            let tape = Tape::no_grad();
            let batch = tape.constant(Tensor::from_vec(rows, &[end - start, h, w, c])?);
            let a1 = model.forward_range(&batch, 0..first)?;
            let a2 = model.forward_range(&a1, first..last)?;
            let logits = model.forward_range(&a2, last..model.len())?;
            let k = check_logits(
                F,
                logits.value(),
                (start..end).map(|r| (r / per, targets[r / per])),
            )?;
            for (a, out) in [(&a1, &mut f1), (&a2, &mut f2)] {
                let len = a.value().numel() / (end - start);
                out.extend(
                    a.value()
                        .as_slice()
                        .chunks(len)
                        .map(|f| f.iter().map(|v| v.to_f64()).collect::<Vec<_>>()),
                );
            }
            for (i, row) in logits.value().as_slice().chunks(k).enumerate() {
                let t = targets[(start + i) / per];
                let max = row.iter().map(|v| v.to_f64()).fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = row.iter().map(|v| (v.to_f64() - max).exp()).sum();
                prob.push((row[t].to_f64() - max).exp() / z);
            }
        }
        let distance = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt()
        };
        let curve = |f: &[Vec<f64>], img: usize| -> Vec<f64> {
            (1..per)
                .map(|v| distance(&f[img * per + v], &f[img * per]))
                .collect()
        };
        Ok(InvarianceCurves {
            values: self.values.clone(),
            first: (0..n).map(|i| curve(&f1, i)).collect(),
            last: (0..n).map(|i| curve(&f2, i)).collect(),
            probability: (0..n)
                .map(|i| prob[i * per + 1..(i + 1) * per].to_vec())
                .collect(),
        })
    }
}
