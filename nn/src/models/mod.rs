//! Ready-made networks: [`lenet5`] and a small [`resnet`].

mod resnet;

pub use resnet::{ResNetConfig, resnet};

use crate::layers::Sequential;
use crate::layers::{Conv2d, Dense, Flatten, MaxPool2d};
use crate::ops::activation::Activation;
use crate::ops::conv::Conv2dConfig;
use crate::ops::pool::Pool2dConfig;
use autograd::Element;
use rand::Rng;

/// LeNet-5 as the golden schema defines it (`lenet5`, ReLU and max pooling), for
/// `[N, 28, 28, 1]` inputs and 10 classes, initialised like PyTorch's defaults:
///
/// | layer | output |
/// |---|---|
/// | `conv1` 5x5, 1 -> 6, padding 2, ReLU | `[N, 28, 28, 6]` |
/// | `pool1` max 2x2, stride 2 | `[N, 14, 14, 6]` |
/// | `conv2` 5x5, 6 -> 16, ReLU | `[N, 10, 10, 16]` |
/// | `pool2` max 2x2, stride 2 | `[N, 5, 5, 16]` |
/// | `flatten` (NHWC order) | `[N, 400]` |
/// | `fc1` 400 -> 120, ReLU; `fc2` 120 -> 84, ReLU; `fc3` 84 -> 10 | `[N, 10]` logits |
///
/// The ReLUs are fused into the conv and dense ops. Parameters: `conv1.w`, `conv1.b`,
/// `conv2.w`, `conv2.b`, `fc1.w`, `fc1.b`, `fc2.w`, `fc2.b`, `fc3.w`, `fc3.b`.
pub fn lenet5<T: Element, R: Rng + ?Sized>(rng: &mut R) -> Sequential<T> {
    let relu = Activation::Relu;
    Sequential::new()
        .add(
            "conv1",
            Conv2d::new(1, 6, (5, 5), Conv2dConfig::new().padding(2), rng).with_activation(relu),
        )
        .add("pool1", MaxPool2d(Pool2dConfig::new(2)))
        .add(
            "conv2",
            Conv2d::new(6, 16, (5, 5), Conv2dConfig::new(), rng).with_activation(relu),
        )
        .add("pool2", MaxPool2d(Pool2dConfig::new(2)))
        .add("flatten", Flatten)
        .add("fc1", Dense::new(400, 120, rng).with_activation(relu))
        .add("fc2", Dense::new(120, 84, rng).with_activation(relu))
        .add("fc3", Dense::new(84, 10, rng))
}
