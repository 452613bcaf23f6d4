//! `maps.safetensors`: the explained images and their raw maps, for `tools/captum_check.py`.

use super::explain::Maps;
use super::{Context, Failure};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use std::collections::HashMap;
use tapegrad::autograd::Tensor;
use tapegrad::nn::interpret::OcclusionMaps;
use tapegrad::nn::train::checkpoint::write_atomically;

fn f32_bytes(t: &Tensor<f32>) -> Vec<u8> {
    t.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes `OUT/maps.safetensors`: `images`, `targets` (I64), `saliency`, `guided_backprop`,
/// `deconvnet`, `integrated_gradients`, `smooth_grad` (`[N, 28, 28, 1]`), `grad_cam`
/// (`[N, h, w]`, at conv2) and `occlusion` (`[N, P, Q]`, the target's probability), with the
/// settings as metadata.
pub fn write(ctx: &Context, maps: &Maps, occlusion: &OcclusionMaps<f32>) -> Result<(), Failure> {
    let o = &ctx.options;
    let float = [
        ("images", &maps.images),
        ("saliency", &maps.saliency),
        ("guided_backprop", &maps.guided_backprop),
        ("deconvnet", &maps.deconvnet),
        ("integrated_gradients", &maps.integrated_gradients),
        ("smooth_grad", &maps.smooth_grad),
        ("grad_cam", &maps.grad_cam),
        ("occlusion", &occlusion.probability),
    ];
    let mut data: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = float
        .iter()
        .map(|(name, t)| (*name, Dtype::F32, t.shape().to_vec(), f32_bytes(t)))
        .collect();
    let targets: Vec<u8> = maps
        .targets
        .iter()
        .flat_map(|&t| (t as i64).to_le_bytes())
        .collect();
    data.push(("targets", Dtype::I64, vec![maps.targets.len()], targets));
    let views = data
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes).map(|v| (name.to_string(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let meta: HashMap<String, String> = [
        ("ig_steps", o.ig_steps.to_string()),
        ("baseline", format!("{:?}", maps.ig_baseline)),
        ("occlusion_size", o.occlusion_size.to_string()),
        ("occlusion_stride", o.occlusion_stride.to_string()),
        (
            "occlusion_fill",
            format!("{:?}", ctx.normalized(o.occlusion_byte)),
        ),
        ("smoothgrad_samples", o.smoothgrad_samples.to_string()),
        ("smoothgrad_sigma", format!("{:?}", o.smoothgrad_sigma)),
        ("grad_cam_layer", "conv2".to_string()),
        ("normalize_mean", format!("{:?}", ctx.normalize.mean(0))),
        ("normalize_std", format!("{:?}", ctx.normalize.std(0))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())?;
    write_atomically(&o.out.join("maps.safetensors"), &bytes).map_err(|e| e.to_string())
}
