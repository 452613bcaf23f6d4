//! Batch normalisation layers: [`BatchNorm2d`] over the channels of `[N, H, W, C]` images and
//! [`BatchNorm1d`] over the features of `[N, C]` (after a dense layer), with learned `gamma`
//! and `beta` and running statistics kept as buffers.
//!
//! The forward pass takes `&self` (models are shared between threads), so a training-mode
//! forward pass cannot write the running statistics at once: it records its batch's
//! update, and the update is folded into `running_mean` and `running_var` the next time the
//! layer is borrowed mutably: by [`Module::parameters_mut`] (every optimizer step),
//! [`Module::buffers_mut`] or [`Module::set_training`]. Several forward passes in between
//! fold in order, each as PyTorch applies it (`r ← (1 − momentum)·r + momentum·s`).

use super::module::{Module, SpatialExtent};
use crate::ops::activation::Activation;
use crate::ops::norm::{Statistics, batch_norm};
use autograd::{Element, Error, Param, Result, Tensor, Var};
use std::sync::Mutex;

/// Running-statistics updates recorded by forward passes and not yet folded in: after them
/// `r = decay · r + (mean or var)` per channel.
#[derive(Debug, Default)]
struct Pending {
    decay: f64,
    mean: Vec<f64>,
    var: Vec<f64>,
}

/// The state and rule shared by [`BatchNorm2d`] and [`BatchNorm1d`].
pub struct BatchNorm<T: Element = f32> {
    /// `γ` `[C]`, initialised to ones.
    pub gamma: Param<T>,
    /// `β` `[C]`, initialised to zeros.
    pub beta: Param<T>,
    /// The running mean `[C]` (a buffer), initialised to zeros.
    pub running_mean: Tensor<T>,
    /// The running (unbiased) variance `[C]` (a buffer), initialised to ones.
    pub running_var: Tensor<T>,
    /// The weight of each batch in the running statistics (PyTorch's default 0.1).
    pub momentum: f64,
    /// Added to the variance (PyTorch's default 1e-5).
    pub eps: f64,
    /// Applied to the output inside the op.
    pub activation: Activation,
    training: bool,
    pending: Mutex<Option<Pending>>,
}

impl<T: Element> BatchNorm<T> {
    /// `C` channels, PyTorch's defaults: `γ = 1`, `β = 0`, running mean 0 and variance 1,
    /// momentum 0.1, eps 1e-5, training mode.
    pub fn new(channels: usize) -> Self {
        BatchNorm {
            gamma: Param::new(Tensor::ones(&[channels])),
            beta: Param::new(Tensor::zeros(&[channels])),
            running_mean: Tensor::zeros(&[channels]),
            running_var: Tensor::ones(&[channels]),
            momentum: 0.1,
            eps: 1e-5,
            activation: Activation::Identity,
            training: true,
            pending: Mutex::new(None),
        }
    }

    /// Whether the layer normalises with batch statistics (training) or running ones.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Folds the recorded updates into the running statistics.
    fn fold_pending(&mut self) {
        let pending = self.pending.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(p) = pending {
            for (r, add) in [(&mut self.running_mean, &p.mean), (&mut self.running_var, &p.var)] {
                for (v, &a) in r.as_mut_slice().iter_mut().zip(add) {
                    *v = T::from_f64(p.decay * v.to_f64() + a);
                }
            }
        }
    }

    fn forward_rank<'t>(&self, x: &Var<'t, T>, rank: usize, layer: &str) -> Result<Var<'t, T>> {
        let c = self.gamma.shape()[0];
        if x.shape().len() != rank || x.shape()[rank - 1] != c {
            let want = if rank == 4 { "[N, H, W, C]" } else { "[N, C]" };
            return Err(Error::invalid(
                layer,
                x.shape(),
                format!("the input must be {want} with C = {c}"),
            ));
        }
        let tape = x.tape();
        let (g, b) = (tape.param(&self.gamma), tape.param(&self.beta));
        let statistics = if self.training {
            Statistics::Batch
        } else {
            let f64s = |t: &Tensor<T>| t.as_slice().iter().map(|v| v.to_f64()).collect();
            Statistics::Running {
                mean: f64s(&self.running_mean),
                var: f64s(&self.running_var),
            }
        };
        let (y, moments) = batch_norm(x, &g, &b, statistics, self.eps, self.activation)?;
        if let Some(moments) = moments {
            let m = self.momentum;
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let p = pending.get_or_insert_with(|| Pending {
                decay: 1.0,
                mean: vec![0.0; c],
                var: vec![0.0; c],
            });
            p.decay *= 1.0 - m;
            for (v, s) in [
                (&mut p.mean, moments.mean.clone()),
                (&mut p.var, moments.unbiased_var()),
            ] {
                v.iter_mut().zip(s).for_each(|(v, s)| *v = (1.0 - m) * *v + m * s);
            }
        }
        Ok(y)
    }

    fn parameters(&self) -> Vec<(String, &Param<T>)> {
        vec![("gamma".into(), &self.gamma), ("beta".into(), &self.beta)]
    }

    fn parameters_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
        self.fold_pending();
        vec![("gamma".into(), &mut self.gamma), ("beta".into(), &mut self.beta)]
    }

    fn buffers(&self) -> Vec<(String, &Tensor<T>)> {
        vec![
            ("running_mean".into(), &self.running_mean),
            ("running_var".into(), &self.running_var),
        ]
    }

    fn buffers_mut(&mut self) -> Vec<(String, &mut Tensor<T>)> {
        self.fold_pending();
        vec![
            ("running_mean".into(), &mut self.running_mean),
            ("running_var".into(), &mut self.running_var),
        ]
    }

    fn set_training(&mut self, training: bool) {
        self.fold_pending();
        self.training = training;
    }
}

macro_rules! batch_norm_layer {
    ($(#[$doc:meta])* $name:ident, $rank:literal, $extent:expr) => {
        $(#[$doc])*
        pub struct $name<T: Element = f32>(pub BatchNorm<T>);

        impl<T: Element> $name<T> {
            /// `C` channels with PyTorch's defaults (see [`BatchNorm::new`]).
            pub fn new(channels: usize) -> Self {
                $name(BatchNorm::new(channels))
            }

            /// The same layer with `activation` fused into its op (`A = σ(BN(x))`).
            pub fn with_activation(mut self, activation: Activation) -> Self {
                self.0.activation = activation;
                self
            }

            /// The same layer with another momentum and eps.
            pub fn with_momentum_eps(mut self, momentum: f64, eps: f64) -> Self {
                self.0.momentum = momentum;
                self.0.eps = eps;
                self
            }
        }

        impl<T: Element> Module<T> for $name<T> {
            fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
                self.0.forward_rank(x, $rank, stringify!($name))
            }
            fn parameters(&self) -> Vec<(String, &Param<T>)> {
                self.0.parameters()
            }
            fn parameters_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
                self.0.parameters_mut()
            }
            fn buffers(&self) -> Vec<(String, &Tensor<T>)> {
                self.0.buffers()
            }
            fn buffers_mut(&mut self) -> Vec<(String, &mut Tensor<T>)> {
                self.0.buffers_mut()
            }
            fn set_training(&mut self, training: bool) {
                self.0.set_training(training)
            }
            fn is_training(&self) -> bool {
                self.0.is_training()
            }
            fn spatial_extent(&self) -> Option<SpatialExtent> {
                $extent
            }
        }
    };
}

batch_norm_layer!(
    /// Batch normalisation over the channels of `[N, H, W, C]` images (PyTorch's
    /// `BatchNorm2d`): parameters `gamma`, `beta`; buffers `running_mean`, `running_var`.
    ///
    /// ```
    /// use autograd::{Tape, Tensor};
    /// use nn::layers::{BatchNorm2d, Module};
    /// let mut bn = BatchNorm2d::<f64>::new(1);
    /// let tape = Tape::new();
    /// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[1, 2, 2, 1]).unwrap();
    /// let y = bn.forward(&tape.constant(x)).unwrap();
    /// assert!(y.value().as_slice()[0] < 0.0); // normalised with the batch mean 3
    /// bn.set_training(false); // folds the batch's update into the running statistics
    /// let names: Vec<String> = bn.buffers().into_iter().map(|(n, _)| n).collect();
    /// assert_eq!(names, ["running_mean", "running_var"]);
    /// assert!((bn.buffers()[0].1.as_slice()[0] - 0.3).abs() < 1e-12); // 0.9·0 + 0.1·3
    /// ```
    BatchNorm2d,
    4,
    Some(SpatialExtent::Pointwise)
);

batch_norm_layer!(
    /// Batch normalisation over the features of `[N, C]` (PyTorch's `BatchNorm1d` on a
    /// dense layer's output): parameters `gamma`, `beta`; buffers `running_mean`, `running_var`.
    BatchNorm1d,
    2,
    None
);
