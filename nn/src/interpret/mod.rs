//! Understanding what a network learned (the lecture's last part,
//! `docs/lecture.md#understanding-cnns`, after Zeiler & Fergus, *Visualizing and understanding
//! convolutional networks*, 2014).
//!
//! Everything here rests on two rules the ops already have: max pooling's backward rule
//! (unpooling with the forward pass's switches) and the convolution's input rule
//! (transposed filtering, `dZ_slice,ij += Σ_c dZ_ijc · W_c`). What changes between methods is
//! what every ReLU sends back, chosen per tape with
//! [`Tape::set_relu_rule`](autograd::Tape::set_relu_rule) ([`ReluRule`]): it reaches the
//! `relu` op, the [`ReLU`](crate::layers::ReLU) layer and the ReLUs fused into convolution
//! and dense ops.
//!
//! | what | where |
//! |---|---|
//! | gradient saliency, guided backpropagation, deconvnet attributions of a class logit | [`attribute`] ([`Method`]), [`saliency`], [`guided_backprop`], [`deconvnet`] |
//! | integrated gradients (trapezoid rule) with the convergence delta; SmoothGrad | [`IntegratedGradients`], [`SmoothGrad`] |
//! | Grad-CAM at a chosen layer | [`grad_cam`] |
//! | occlusion sensitivity (Fig. 7) | [`Occlusion`] |
//! | deconvnet projection of one feature map's activations to pixels | [`project`] ([`Seed`]) |
//! | the top-k images per feature map with their receptive fields | [`top_activations`], [`receptive_field`] |
//! | feature evolution over training (Fig. 4) | [`strongest_projections`], [`feature_evolution`] |
//! | invariance curves (Fig. 5) | [`Invariance`], [`paper_layers`] |
//! | feature maps at every layer; filters as normalised images | [`feature_maps`], [`filters`] |
//! | figures: PNG images, grids, colormaps and heatmaps, line charts, an HTML page | [`figure`] |
//!
//! Input-gradient methods take any [`Module`](crate::layers::Module) whose forward pass is
//! on the tape; the methods that look inside the network take a
//! [`Sequential`](crate::layers::Sequential) and a layer name. All work in `f32` and `f64`
//! and take batches `[N, H, W, C]`, run as batched passes (chunks of up to 128 rows); the
//! model should be in evaluation mode. Errors are [`InterpretError`]s naming the function.

mod attribution;
mod error;
mod evolution;
mod feature_maps;
pub mod figure;
mod grad_cam;
mod input;
mod integrated_gradients;
mod invariance;
mod occlusion;
mod projection;
mod receptive_field;
mod smooth_grad;
mod top_activations;

pub use attribution::{Method, attribute, deconvnet, guided_backprop, saliency};
pub use autograd::ReluRule;
pub use error::{InterpretError, Result};
pub use evolution::{EvolutionStep, feature_evolution, strongest_projections};
pub use feature_maps::{feature_maps, filters};
pub use grad_cam::grad_cam;
pub use integrated_gradients::{Baseline, IgAttribution, IntegratedGradients};
pub use invariance::{Invariance, InvarianceCurves, Warp, paper_layers};
pub use occlusion::{Occlusion, OcclusionMaps};
pub use projection::{Seed, project};
pub use receptive_field::{Field, receptive_field};
pub use smooth_grad::SmoothGrad;
pub use top_activations::{TopActivation, top_activations};
