//! Ready-made networks: [`lenet5`], [`mnist_cnn`] (the CNN of PyTorch's MNIST example) and a
//! small [`resnet`].

mod resnet;

pub use resnet::{ResNetConfig, resnet};

use crate::layers::Sequential;
use crate::layers::{Conv2d, Dense, Dropout, Flatten, MaxPool2d};
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

/// The CNN of PyTorch's official MNIST example (`pytorch/examples`, `mnist/main.py`), for
/// `[N, 28, 28, 1]` inputs and 10 classes, initialised like PyTorch's defaults:
///
/// | layer | output |
/// |---|---|
/// | `conv1` 3x3, 1 -> 32, ReLU | `[N, 26, 26, 32]` |
/// | `conv2` 3x3, 32 -> 64, ReLU | `[N, 24, 24, 64]` |
/// | `pool` max 2x2, stride 2 | `[N, 12, 12, 64]` |
/// | `dropout1` p = 0.25 | |
/// | `flatten` (NHWC order) | `[N, 9216]` |
/// | `fc1` 9216 -> 128, ReLU | `[N, 128]` |
/// | `dropout2` p = 0.5 | |
/// | `fc2` 128 -> 10 | `[N, 10]` logits |
///
/// 1,199,882 parameters (`conv1.w`, `conv1.b`, `conv2.w`, `conv2.b`, `fc1.w`, `fc1.b`,
/// `fc2.w`, `fc2.b`). The example ends with `log_softmax` and `nll_loss`: that is softmax
/// cross-entropy on these logits. The dropout masks come from generators seeded from `rng`.
/// Its `fc1.w` rows are in NHWC order: [`torch_compat`](crate::torch_compat) converts a
/// PyTorch state dict (NCHW flatten order) for it.
///
/// ```
/// use nn::models::mnist_cnn;
/// use rand::SeedableRng;
/// let mut model = mnist_cnn::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
/// let logits = nn::inference::predict(&mut model, &autograd::Tensor::zeros(&[2, 28, 28, 1])).unwrap();
/// assert_eq!(logits.shape(), &[2, 10]);
/// ```
pub fn mnist_cnn<T: Element, R: Rng + ?Sized>(rng: &mut R) -> Sequential<T> {
    let relu = Activation::Relu;
    let conv1 = Conv2d::new(1, 32, (3, 3), Conv2dConfig::new(), rng).with_activation(relu);
    let conv2 = Conv2d::new(32, 64, (3, 3), Conv2dConfig::new(), rng).with_activation(relu);
    let dropout1 = Dropout::new(0.25, rng.next_u64()).expect("0.25 is a drop probability");
    let fc1 = Dense::new(9216, 128, rng).with_activation(relu);
    let dropout2 = Dropout::new(0.5, rng.next_u64()).expect("0.5 is a drop probability");
    Sequential::new()
        .add("conv1", conv1)
        .add("conv2", conv2)
        .add("pool", MaxPool2d(Pool2dConfig::new(2)))
        .add("dropout1", dropout1)
        .add("flatten", Flatten)
        .add("fc1", fc1)
        .add("dropout2", dropout2)
        .add("fc2", Dense::new(128, 10, rng))
}
