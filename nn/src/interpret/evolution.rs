//! Feature evolution over training (Zeiler & Fergus 2014, Fig. 4): at each chosen point of
//! training, every feature map's strongest activation over a set of images, projected to
//! pixels by the deconvnet.

use super::error::Result;
use super::projection::{Seed, project};
use super::top_activations::{TopActivation, top_activations};
use crate::layers::Sequential;
use crate::train::checkpoint;
use autograd::{Element, Tensor};
use std::path::Path;

/// One point of training: per channel of the layer, its strongest activation and that
/// activation's deconvnet projection.
#[derive(Clone, Debug, PartialEq)]
pub struct EvolutionStep<T: Element> {
    /// Per channel, the image and position of the strongest activation.
    pub strongest: Vec<TopActivation>,
    /// Per channel, the projection of that one activation, `[C, H, W, C_in]`.
    pub projections: Tensor<T>,
}

/// Every channel's strongest activation at the output of `layer` over `images`
/// `[N, H, W, C]`, and its projection ([`project`] with the one activation kept).
///
/// ```
/// use autograd::Tensor;
/// use nn::interpret::strongest_projections;
/// use nn::models::lenet5;
/// use rand::SeedableRng;
/// let model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
/// let images = Tensor::rand_uniform(&[4, 28, 28, 1], 0.0, 1.0, &mut rand::rngs::StdRng::seed_from_u64(1));
/// let step = strongest_projections(&model, "conv2", &images).unwrap();
/// assert_eq!(step.strongest.len(), 16);
/// assert_eq!(step.projections.shape(), &[16, 28, 28, 1]);
/// ```
pub fn strongest_projections<T: Element>(
    model: &Sequential<T>,
    layer: &str,
    images: &Tensor<T>,
) -> Result<EvolutionStep<T>> {
    let strongest: Vec<TopActivation> = top_activations(model, layer, images, 1)?
        .into_iter()
        .filter_map(|mut top| top.pop())
        .collect();
    let picked: Vec<usize> = strongest.iter().map(|t| t.image).collect();
    let seeds: Vec<Seed> = strongest
        .iter()
        .enumerate()
        .map(|(channel, t)| Seed {
            channel,
            position: Some(t.position),
        })
        .collect();
    let projections = project(model, layer, &images.index_select(0, &picked)?, &seeds)?;
    Ok(EvolutionStep {
        strongest,
        projections,
    })
}

/// [`strongest_projections`] at every checkpoint, in order: each is restored into `model`
/// (which must have the checkpoints' parameters) before the images go through. `model` is
/// left holding the last checkpoint's parameters.
pub fn feature_evolution<T: Element, P: AsRef<Path>>(
    model: &mut Sequential<T>,
    checkpoints: &[P],
    layer: &str,
    images: &Tensor<T>,
) -> Result<Vec<EvolutionStep<T>>> {
    checkpoints
        .iter()
        .map(|path| {
            checkpoint::load::<T>(path.as_ref())?.restore_model(model)?;
            strongest_projections(model, layer, images)
        })
        .collect()
}
