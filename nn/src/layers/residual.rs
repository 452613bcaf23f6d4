//! The basic residual block of ResNet (He et al. 2016), channels-last:
//!
//! ```text
//! F(x) = bn2(conv2(relu(bn1(conv1(x)))))      conv1 3x3 stride s, conv2 3x3, no biases
//! y    = relu(shortcut(x) + F(x))             shortcut = x, or bn(conv 1x1 stride s) of x
//! ```
//!
//! The shortcut is a projection exactly when the shape changes (`C_in ≠ C_out` or `s > 1`).
//! The ReLU after `bn1` is fused into its op, and the join is one op
//! ([`add_relu`](crate::ops::residual::add_relu)).

use super::init::Init;
use super::module::Module;
use super::norm::BatchNorm2d;
use super::weighted::Conv2d;
use crate::ops::activation::Activation;
use crate::ops::conv::Conv2dConfig;
use crate::ops::residual::add_relu;
use autograd::{Element, Param, Result, Tensor, Var};
use rand::Rng;

/// A basic residual block: parameters `conv1.w`, `bn1.gamma`, `bn1.beta`, `conv2.w`,
/// `bn2.gamma`, `bn2.beta`, and with a projection `shortcut.conv.w`, `shortcut.bn.gamma`,
/// `shortcut.bn.beta`; buffers `bn1.running_mean`, `bn1.running_var`, ... likewise.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::layers::{Module, Residual};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let block = Residual::<f32>::new(8, 16, 2, &mut rng); // a projection: 8 -> 16, stride 2
/// let tape = Tape::new();
/// let y = block.forward(&tape.constant(Tensor::ones(&[2, 6, 6, 8]))).unwrap();
/// assert_eq!(y.shape(), &[2, 3, 3, 16]);
/// assert_eq!(block.parameters().len(), 9);
/// assert_eq!(block.buffers()[0].0, "bn1.running_mean");
/// ```
pub struct Residual<T: Element = f32> {
    /// The first 3x3 convolution (stride `s`).
    pub conv1: Conv2d<T>,
    /// Its batch norm, with the ReLU fused.
    pub bn1: BatchNorm2d<T>,
    /// The second 3x3 convolution.
    pub conv2: Conv2d<T>,
    /// Its batch norm (no ReLU: that follows the join).
    pub bn2: BatchNorm2d<T>,
    /// The projection (1x1 convolution, stride `s`, and batch norm), if the shape changes.
    pub shortcut: Option<(Conv2d<T>, BatchNorm2d<T>)>,
}

/// A convolution without bias, initialised as PyTorch initialises `Conv2d` (uniform in
/// `±1/√fan_in`; with batch norm after it the scale sets the effective learning rate).
fn conv<T: Element, R: Rng + ?Sized>(
    c_in: usize,
    c_out: usize,
    k: usize,
    cfg: Conv2dConfig,
    rng: &mut R,
) -> Conv2d<T> {
    let mut c = Conv2d::with_init(
        c_in,
        c_out,
        (k, k),
        cfg,
        Init::TorchDefault,
        Init::Constant(0.0),
        rng,
    );
    c.b = None;
    c
}

impl<T: Element> Residual<T> {
    /// `C_in -> C_out` channels with stride `s` in the first convolution (and the projection).
    pub fn new<R: Rng + ?Sized>(c_in: usize, c_out: usize, stride: usize, rng: &mut R) -> Self {
        let cfg = Conv2dConfig::new().stride(stride).padding(1);
        let conv1 = conv(c_in, c_out, 3, cfg, rng);
        let conv2 = conv(c_out, c_out, 3, Conv2dConfig::new().padding(1), rng);
        let shortcut = (c_in != c_out || stride != 1).then(|| {
            (
                conv(c_in, c_out, 1, Conv2dConfig::new().stride(stride), rng),
                BatchNorm2d::new(c_out),
            )
        });
        Residual {
            conv1,
            bn1: BatchNorm2d::new(c_out).with_activation(Activation::Relu),
            conv2,
            bn2: BatchNorm2d::new(c_out),
            shortcut,
        }
    }

    /// The layers under their names, in order.
    fn children(&self) -> Vec<(&'static str, &dyn Module<T>)> {
        let mut v: Vec<(&'static str, &dyn Module<T>)> = vec![
            ("conv1", &self.conv1),
            ("bn1", &self.bn1),
            ("conv2", &self.conv2),
            ("bn2", &self.bn2),
        ];
        if let Some((c, b)) = &self.shortcut {
            v.extend([("shortcut.conv", c as &dyn Module<T>), ("shortcut.bn", b)]);
        }
        v
    }

    fn children_mut(&mut self) -> Vec<(&'static str, &mut dyn Module<T>)> {
        let mut v: Vec<(&'static str, &mut dyn Module<T>)> = vec![
            ("conv1", &mut self.conv1),
            ("bn1", &mut self.bn1),
            ("conv2", &mut self.conv2),
            ("bn2", &mut self.bn2),
        ];
        if let Some((c, b)) = &mut self.shortcut {
            v.push(("shortcut.conv", c));
            v.push(("shortcut.bn", b));
        }
        v
    }
}

/// `(prefix.name, item)` for every item of every child.
fn prefixed<'a, X: ?Sized + 'a, C: 'a>(
    children: Vec<(&'static str, C)>,
    items: impl Fn(C) -> Vec<(String, &'a X)>,
) -> Vec<(String, &'a X)> {
    children
        .into_iter()
        .flat_map(|(p, c)| items(c).into_iter().map(move |(n, x)| (format!("{p}.{n}"), x)))
        .collect()
}

fn prefixed_mut<'a, X: ?Sized + 'a, C: 'a>(
    children: Vec<(&'static str, C)>,
    items: impl Fn(C) -> Vec<(String, &'a mut X)>,
) -> Vec<(String, &'a mut X)> {
    children
        .into_iter()
        .flat_map(|(p, c)| items(c).into_iter().map(move |(n, x)| (format!("{p}.{n}"), x)))
        .collect()
}

impl<T: Element> Module<T> for Residual<T> {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        let h = self.bn1.forward(&self.conv1.forward(x)?)?;
        let f = self.bn2.forward(&self.conv2.forward(&h)?)?;
        let s = match &self.shortcut {
            Some((c, b)) => b.forward(&c.forward(x)?)?,
            None => x.clone(),
        };
        add_relu(&s, &f)
    }
    fn parameters(&self) -> Vec<(String, &Param<T>)> {
        prefixed(self.children(), |c| c.parameters())
    }
    fn parameters_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
        prefixed_mut(self.children_mut(), |c| c.parameters_mut())
    }
    fn buffers(&self) -> Vec<(String, &Tensor<T>)> {
        prefixed(self.children(), |c| c.buffers())
    }
    fn buffers_mut(&mut self) -> Vec<(String, &mut Tensor<T>)> {
        prefixed_mut(self.children_mut(), |c| c.buffers_mut())
    }
    fn set_training(&mut self, training: bool) {
        self.children_mut()
            .into_iter()
            .for_each(|(_, c)| c.set_training(training));
    }
    fn is_training(&self) -> bool {
        self.children().iter().any(|(_, c)| c.is_training())
    }
}
