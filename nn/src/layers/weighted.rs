//! Layers with parameters: convolution and dense, each owning its weights and bias.

use super::init::{Init, fans};
use super::module::{Module, SpatialExtent};
use crate::ops::activation::Activation;
use crate::ops::conv::{Conv2dConfig, conv2d_with};
use crate::ops::dense::dense_with;
use autograd::{Element, Error, Param, Result, Tensor, Var};
use rand::Rng;

/// The parameters `w` and optionally `b` of a layer, named for [`Module::parameters`].
fn named<'a, T: Element>(w: &'a Param<T>, b: &'a Option<Param<T>>) -> Vec<(String, &'a Param<T>)> {
    let mut v = vec![("w".to_string(), w)];
    v.extend(b.iter().map(|b| ("b".to_string(), b)));
    v
}

fn named_mut<'a, T: Element>(
    w: &'a mut Param<T>,
    b: &'a mut Option<Param<T>>,
) -> Vec<(String, &'a mut Param<T>)> {
    let mut v = vec![("w".to_string(), w)];
    v.extend(b.iter_mut().map(|b| ("b".to_string(), b)));
    v
}

/// A convolution layer: kernel `w` `[C_out, KH, KW, C_in]`, bias `b` `[C_out]`, and an
/// activation fused into the op (none by default; see [`Conv2d::with_activation`]).
pub struct Conv2d<T: Element = f32> {
    /// The kernels.
    pub w: Param<T>,
    /// The bias, if any.
    pub b: Option<Param<T>>,
    /// Stride, padding, dilation.
    pub cfg: Conv2dConfig,
    /// Applied to the output inside the op.
    pub activation: Activation,
}

impl<T: Element> Conv2d<T> {
    /// `C_in -> C_out` channels with a `kernel = (KH, KW)` window, initialised like PyTorch's
    /// `Conv2d` (weights and bias uniform in `±1/√fan_in`).
    pub fn new<R: Rng + ?Sized>(
        c_in: usize,
        c_out: usize,
        kernel: (usize, usize),
        cfg: Conv2dConfig,
        rng: &mut R,
    ) -> Self {
        Self::with_init(
            c_in,
            c_out,
            kernel,
            cfg,
            Init::TorchDefault,
            Init::TorchDefault,
            rng,
        )
    }

    /// Like [`new`](Self::new) with chosen initialisers for the kernel and the bias.
    pub fn with_init<R: Rng + ?Sized>(
        c_in: usize,
        c_out: usize,
        (kh, kw): (usize, usize),
        cfg: Conv2dConfig,
        w_init: Init,
        b_init: Init,
        rng: &mut R,
    ) -> Self {
        let shape = [c_out, kh, kw, c_in];
        let f = fans(&shape);
        let w = Param::new(w_init.tensor(&shape, f, rng));
        let b = Some(Param::new(b_init.tensor(&[c_out], f, rng)));
        Conv2d {
            w,
            b,
            cfg,
            activation: Activation::Identity,
        }
    }

    /// The same layer with `activation` fused into its op (`A = σ(x * W + b)`): the same
    /// values as a separate activation layer, one pass over the output fewer each way.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// A layer from given tensors (a kernel `[C_out, KH, KW, C_in]` and a `[C_out]` bias).
    pub fn from_tensors(w: Tensor<T>, b: Option<Tensor<T>>, cfg: Conv2dConfig) -> Result<Self> {
        if w.rank() != 4 || b.as_ref().is_some_and(|b| b.shape() != [w.shape()[0]]) {
            let bs = b.as_ref().map_or(vec![], |b| b.shape().to_vec());
            return Err(Error::shapes(
                "Conv2d",
                w.shape(),
                &bs,
                "the kernel must be [C_out, KH, KW, C_in], the bias [C_out]",
            ));
        }
        Ok(Conv2d {
            w: Param::new(w),
            b: b.map(Param::new),
            cfg,
            activation: Activation::Identity,
        })
    }
}

impl<T: Element> Module<T> for Conv2d<T> {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        let tape = x.tape();
        let b = self.b.as_ref().map(|b| tape.param(b));
        conv2d_with(x, &tape.param(&self.w), b.as_ref(), self.cfg, self.activation)
    }
    fn spatial_extent(&self) -> Option<SpatialExtent> {
        let shape = self.w.shape();
        Some(SpatialExtent::Window {
            kernel: (shape[1], shape[2]),
            stride: self.cfg.stride,
            padding: self.cfg.padding,
            dilation: self.cfg.dilation,
        })
    }
    fn parameters(&self) -> Vec<(String, &Param<T>)> {
        named(&self.w, &self.b)
    }
    fn parameters_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
        named_mut(&mut self.w, &mut self.b)
    }
}

/// A dense layer: weight `w` `[In, Out]` and bias `b` `[Out]`, `Z = A · W + b`, and an
/// activation fused into the op (none by default; see [`Dense::with_activation`]).
pub struct Dense<T: Element = f32> {
    /// The weight.
    pub w: Param<T>,
    /// The bias, if any.
    pub b: Option<Param<T>>,
    /// Applied to the output inside the op.
    pub activation: Activation,
}

impl<T: Element> Dense<T> {
    /// `In -> Out` features, initialised like PyTorch's `Linear` (uniform in `±1/√In`).
    pub fn new<R: Rng + ?Sized>(inputs: usize, outputs: usize, rng: &mut R) -> Self {
        Self::with_init(inputs, outputs, Init::TorchDefault, Init::TorchDefault, rng)
    }

    /// Like [`new`](Self::new) with chosen initialisers for the weight and the bias.
    pub fn with_init<R: Rng + ?Sized>(
        inputs: usize,
        outputs: usize,
        w_init: Init,
        b_init: Init,
        rng: &mut R,
    ) -> Self {
        let f = fans(&[inputs, outputs]);
        let w = Param::new(w_init.tensor(&[inputs, outputs], f, rng));
        let b = Some(Param::new(b_init.tensor(&[outputs], f, rng)));
        Dense {
            w,
            b,
            activation: Activation::Identity,
        }
    }

    /// The same layer with `activation` fused into its op (`σ(A · W + b)`).
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// A layer from given tensors (a weight `[In, Out]` and an `[Out]` bias).
    pub fn from_tensors(w: Tensor<T>, b: Option<Tensor<T>>) -> Result<Self> {
        if w.rank() != 2 || b.as_ref().is_some_and(|b| b.shape() != [w.shape()[1]]) {
            let bs = b.as_ref().map_or(vec![], |b| b.shape().to_vec());
            return Err(Error::shapes(
                "Dense",
                w.shape(),
                &bs,
                "the weight must be [In, Out], the bias [Out]",
            ));
        }
        Ok(Dense {
            w: Param::new(w),
            b: b.map(Param::new),
            activation: Activation::Identity,
        })
    }
}

impl<T: Element> Module<T> for Dense<T> {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        let tape = x.tape();
        let b = self.b.as_ref().map(|b| tape.param(b));
        dense_with(x, &tape.param(&self.w), b.as_ref(), self.activation)
    }
    fn parameters(&self) -> Vec<(String, &Param<T>)> {
        named(&self.w, &self.b)
    }
    fn parameters_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
        named_mut(&mut self.w, &mut self.b)
    }
}
