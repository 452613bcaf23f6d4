//! A small ResNet for `[N, H, W, C]` images (He et al. 2016, the CIFAR layout): a 3x3 stem,
//! stages of [`Residual`] blocks (the first block of a stage may halve the size and change
//! the width, through a 1x1 projection), global average pooling and a dense classifier.

use crate::layers::{BatchNorm2d, Conv2d, Dense, GlobalAvgPool2d, Init, Residual, Sequential};
use crate::ops::activation::Activation;
use crate::ops::conv::Conv2dConfig;
use autograd::Element;
use rand::Rng;

/// The shape of a [`resnet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResNetConfig {
    /// Input channels (1 for MNIST).
    pub in_channels: usize,
    /// Channels of the stem convolution.
    pub stem: usize,
    /// Per stage: `(channels, blocks, stride of its first block)`.
    pub stages: Vec<(usize, usize, usize)>,
    /// Output classes.
    pub classes: usize,
}

impl Default for ResNetConfig {
    /// The MNIST network of `examples/resnet.rs`: stem 16, stages 16 (28x28), 32 (14x14),
    /// 64 (7x7), one block each, 10 classes.
    fn default() -> Self {
        ResNetConfig {
            in_channels: 1,
            stem: 16,
            stages: vec![(16, 1, 1), (32, 1, 2), (64, 1, 2)],
            classes: 10,
        }
    }
}

/// The network of `cfg`, as layers named
///
/// | layer | what |
/// |---|---|
/// | `stem` | 3x3 conv, padding 1, no bias |
/// | `stem_bn` | batch norm with ReLU fused |
/// | `stage{i}.block{j}` | [`Residual`] (from 1) |
/// | `pool` | global average pooling, `[N, C]` |
/// | `fc` | dense to `classes` logits |
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::layers::Module;
/// use nn::models::{ResNetConfig, resnet};
/// use rand::SeedableRng;
/// let model = resnet::<f32, _>(&ResNetConfig::default(), &mut rand::rngs::StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// let y = model.forward(&tape.constant(Tensor::zeros(&[2, 28, 28, 1]))).unwrap();
/// assert_eq!(y.shape(), &[2, 10]);
/// assert!(model.buffers().iter().any(|(n, _)| n == "stage2.block1.shortcut.bn.running_var"));
/// ```
pub fn resnet<T: Element, R: Rng + ?Sized>(cfg: &ResNetConfig, rng: &mut R) -> Sequential<T> {
    let conv = Conv2dConfig::new().padding(1);
    let mut stem = Conv2d::with_init(
        cfg.in_channels,
        cfg.stem,
        (3, 3),
        conv,
        Init::TorchDefault,
        Init::Constant(0.0),
        rng,
    );
    stem.b = None;
    let mut model = Sequential::new().add("stem", stem).add(
        "stem_bn",
        BatchNorm2d::new(cfg.stem).with_activation(Activation::Relu),
    );
    let mut width = cfg.stem;
    for (i, &(channels, blocks, stride)) in cfg.stages.iter().enumerate() {
        for j in 0..blocks {
            let s = if j == 0 { stride } else { 1 };
            model = model.add(
                &format!("stage{}.block{}", i + 1, j + 1),
                Residual::new(width, channels, s, rng),
            );
            width = channels;
        }
    }
    model
        .add("pool", GlobalAvgPool2d)
        .add("fc", Dense::new(width, cfg.classes, rng))
}
