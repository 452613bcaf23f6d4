//! Deconvnet projections (Zeiler & Fergus 2014): one feature map's activation mapped back
//! to pixel space, as the paper does it. All other activations of the layer are set to zero;
//! then, down to the input, every max pooling unpools with the forward pass's switches (its
//! backward rule), every ReLU rectifies the signal (`R · [R > 0]`), and every convolution
//! filters it with its transposed kernels (the lecture's input rule,
//! `dZ_slice,ij += Σ_c dZ_ijc · W_c`). That is a backward pass from the layer under
//! [`ReluRule::Deconvnet`], seeded with the kept activations.

use super::error::{InterpretError, Result};
use super::input::{CHUNK, check_nhwc, layer_index, map_dims};
use crate::layers::Sequential;
use autograd::{Element, ReluRule, Tape, Tensor};

/// Which activations of a layer a projection keeps: one feature map (`channel`), at one
/// position `(i, j)` of it or at all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Seed {
    /// The feature map.
    pub channel: usize,
    /// One position of it (the paper's choice: its strongest activation), or `None` for
    /// the whole map. A dense layer's output `[N, F]` has the single position `(0, 0)`.
    pub position: Option<(usize, usize)>,
}

/// The deconvnet projection of each image's seed at the output of `layer` down to the
/// input: `images` `[N, H, W, C]`, one seed per image; the result has the images' shape.
/// The kept activations keep their values (the projection scales with them).
///
/// ```
/// use autograd::Tensor;
/// use nn::interpret::{Seed, project};
/// use nn::layers::{Conv2d, MaxPool2d, Sequential};
/// use nn::ops::{activation::Activation, conv::Conv2dConfig, pool::Pool2dConfig};
/// // A 1x2 kernel (1, -1) with a fused ReLU, then a max pool over the 1x2 output.
/// let w = Tensor::from_vec(vec![1.0, -1.0], &[1, 1, 2, 1]).unwrap();
/// let conv = Conv2d::from_tensors(w, None, Conv2dConfig::new()).unwrap();
/// let model = Sequential::<f64>::new()
///     .add("conv", conv.with_activation(Activation::Relu))
///     .add("pool", MaxPool2d(Pool2dConfig { kernel: (1, 2), stride: (1, 2), padding: (0, 0) }));
/// let x = Tensor::from_vec(vec![4.0, 1.0, 2.0], &[1, 1, 3, 1]).unwrap();
/// // conv: (3, -1) -> ReLU (3, 0) -> pool 3 from position 0. Unpool: (3, 0);
/// // rectify; transposed filter: 3·(1, -1) onto pixels 0 and 1.
/// let p = project(&model, "pool", &x, &[Seed { channel: 0, position: None }]).unwrap();
/// assert_eq!(p.to_vec(), [3.0, -3.0, 0.0]);
/// ```
pub fn project<T: Element>(
    model: &Sequential<T>,
    layer: &str,
    images: &Tensor<T>,
    seeds: &[Seed],
) -> Result<Tensor<T>> {
    const F: &str = "project";
    let [n, ..] = check_nhwc(F, images)?;
    if seeds.len() != n {
        return Err(InterpretError::Shape {
            function: F,
            shape: images.shape().to_vec(),
            why: format!("one seed per image: {} seeds for {n} images", seeds.len()),
        });
    }
    let split = layer_index(F, model, layer)? + 1;
    let mut out = Vec::with_capacity(images.numel());
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        let tape = Tape::new();
        tape.set_relu_rule(ReluRule::Deconvnet);
        tape.set_params_frozen(true);
        let x = tape.var(images.slice(0, start, end, 1)?);
        let a = model.forward_range(&x, 0..split)?;
        let (h, w, c) = map_dims(F, layer, a.shape())?;
        let av = a.value().as_slice();
        let mut seed = vec![T::ZERO; av.len()];
        for (r, s) in seeds[start..end].iter().enumerate() {
            let image = start + r;
            let out_of_range = |what, index, count| InterpretError::OutOfRange {
                function: F,
                what,
                image,
                index,
                count,
            };
            if s.channel >= c {
                return Err(out_of_range("channel", s.channel, c));
            }
            let base = r * h * w * c;
            let keep =
                |p: usize, seed: &mut [T]| seed[base + p * c + s.channel] = av[base + p * c + s.channel];
            match s.position {
                Some((i, j)) if i >= h || j >= w => return Err(out_of_range("position", i.max(j), h.max(w))),
                Some((i, j)) => keep(i * w + j, &mut seed),
                None => (0..h * w).for_each(|p| keep(p, &mut seed)),
            }
        }
        let grads = tape.backward_with(&a, Tensor::from_vec(seed, a.shape())?)?;
        out.extend_from_slice(grads[&x].as_slice());
    }
    Ok(Tensor::from_vec(out, images.shape())?)
}
