//! Checks of the arguments every method shares (images, targets, layer names), and how a
//! batch is cut into the chunks that one forward pass handles.

use super::error::{InterpretError, Result};
use crate::layers::Sequential;
use autograd::{Element, Tensor};

/// The most rows (images, or perturbed copies of them) one forward pass takes.
pub(crate) const CHUNK: usize = 128;

/// The number of images `N` of a batch `[N, ...]` with one target each.
pub(crate) fn check_batch<T: Element>(
    function: &'static str,
    images: &Tensor<T>,
    targets: &[usize],
) -> Result<usize> {
    let shape = images.shape();
    if shape.len() < 2 || shape[0] != targets.len() {
        return Err(InterpretError::Shape {
            function,
            shape: shape.to_vec(),
            why: format!(
                "the images must be a batch [N, ...] with one target each; {} targets were given",
                targets.len()
            ),
        });
    }
    Ok(shape[0])
}

/// `[N, H, W, C]`, or an error naming `function`.
pub(crate) fn check_nhwc<T: Element>(function: &'static str, images: &Tensor<T>) -> Result<[usize; 4]> {
    match *images.shape() {
        [n, h, w, c] => Ok([n, h, w, c]),
        _ => Err(InterpretError::Shape {
            function,
            shape: images.shape().to_vec(),
            why: "the images must be [N, H, W, C]".into(),
        }),
    }
}

/// Checks that `logits` is `[rows, K]` and that every target is below `K`; `targets` gives
/// `(image, target)` per row, the image for the error message. Returns `K`.
pub(crate) fn check_logits<T: Element>(
    function: &'static str,
    logits: &Tensor<T>,
    targets: impl IntoIterator<Item = (usize, usize)>,
) -> Result<usize> {
    let [_, k] = *logits.shape() else {
        return Err(InterpretError::Shape {
            function,
            shape: logits.shape().to_vec(),
            why: "the model's output must be logits [N, K]".into(),
        });
    };
    for (image, t) in targets {
        if t >= k {
            return Err(InterpretError::OutOfRange {
                function,
                what: "target class",
                image,
                index: t,
                count: k,
            });
        }
    }
    Ok(k)
}

/// The index of the layer called `layer`.
pub(crate) fn layer_index<T: Element>(
    function: &'static str,
    model: &Sequential<T>,
    layer: &str,
) -> Result<usize> {
    model.position(layer).ok_or_else(|| InterpretError::UnknownLayer {
        function,
        layer: layer.to_string(),
        layers: model.names().map(str::to_string).collect(),
    })
}

/// `[rows, K]` zeros with a one at `(r, targets[r])`: the output gradient that makes a
/// backward pass give each row's target logit's gradient.
pub(crate) fn one_hot<T: Element>(rows: usize, k: usize, target: impl Fn(usize) -> usize) -> Tensor<T> {
    let mut g = vec![T::ZERO; rows * k];
    for r in 0..rows {
        g[r * k + target(r)] = T::ONE;
    }
    Tensor::from_vec(g, &[rows, k]).expect("rows * k values")
}

/// `(h, w, c)` of a layer output `[N, h, w, c]`, reading a dense output `[N, F]` as
/// `[N, 1, 1, F]`.
pub(crate) fn map_dims(
    function: &'static str,
    layer: &str,
    shape: &[usize],
) -> Result<(usize, usize, usize)> {
    match *shape {
        [_, h, w, c] => Ok((h, w, c)),
        [_, f] => Ok((1, 1, f)),
        _ => Err(InterpretError::Layer {
            function,
            layer: layer.to_string(),
            why: format!("has output shape {shape:?}, neither [N, H, W, C] nor [N, F]"),
        }),
    }
}
