//! Layers without parameters: pooling (windows, global, adaptive), flatten, activations and dropout.

use super::module::{Module, SpatialExtent};
use crate::ops::dropout::dropout;
use crate::ops::pool::{Pool2dConfig, adaptive_avg_pool2d, avg_pool2d, global_avg_pool2d, max_pool2d};
use autograd::{Element, Error, Result, Var};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Mutex;

/// Max pooling (no parameters).
pub struct MaxPool2d(pub Pool2dConfig);

impl<T: Element> Module<T> for MaxPool2d {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        max_pool2d(x, self.0)
    }
    fn spatial_extent(&self) -> Option<SpatialExtent> {
        Some(pool_extent(self.0))
    }
}

fn pool_extent(cfg: Pool2dConfig) -> SpatialExtent {
    SpatialExtent::Window {
        kernel: cfg.kernel,
        stride: cfg.stride,
        padding: cfg.padding,
        dilation: (1, 1),
    }
}

/// Average pooling (no parameters); see [`avg_pool2d`] for `count_include_pad`.
pub struct AvgPool2d {
    /// Kernel, stride, padding.
    pub cfg: Pool2dConfig,
    /// Whether padded zeros count in the divisor.
    pub count_include_pad: bool,
}

impl<T: Element> Module<T> for AvgPool2d {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        avg_pool2d(x, self.cfg, self.count_include_pad)
    }
    fn spatial_extent(&self) -> Option<SpatialExtent> {
        Some(pool_extent(self.cfg))
    }
}

/// `[N, H, W, C] -> [N, H·W·C]`.
pub struct Flatten;

impl<T: Element> Module<T> for Flatten {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        x.flatten()
    }
}

/// `max(x, 0)`.
pub struct ReLU;

impl<T: Element> Module<T> for ReLU {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        Ok(x.relu())
    }
    fn spatial_extent(&self) -> Option<SpatialExtent> {
        Some(SpatialExtent::Pointwise)
    }
}

/// `1 / (1 + e⁻ˣ)`.
pub struct Sigmoid;

impl<T: Element> Module<T> for Sigmoid {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        Ok(x.sigmoid())
    }
    fn spatial_extent(&self) -> Option<SpatialExtent> {
        Some(SpatialExtent::Pointwise)
    }
}

/// `tanh x`.
pub struct Tanh;

impl<T: Element> Module<T> for Tanh {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        Ok(x.tanh())
    }
    fn spatial_extent(&self) -> Option<SpatialExtent> {
        Some(SpatialExtent::Pointwise)
    }
}

/// Inverted dropout: in training, zeroes each element with probability `p` and scales the
/// rest by `1/(1-p)`; in evaluation, the identity. Each call runs
/// [`ops::dropout::dropout`](crate::ops::dropout::dropout) with a new seed from the layer's
/// own generator, seeded at construction.
pub struct Dropout {
    p: f64,
    training: bool,
    rng: Mutex<StdRng>,
}

impl Dropout {
    /// Dropout with drop probability `p` in `[0, 1)`, starting in training mode.
    pub fn new(p: f64, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::invalid(
                "Dropout",
                &[],
                format!("drop probability {p} is not in [0, 1)"),
            ));
        }
        Ok(Dropout {
            p,
            training: true,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        })
    }
}

impl<T: Element> Module<T> for Dropout {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        // A new mask at every call: its seed is the next draw of the layer's generator.
        let seed = self.rng.lock().unwrap_or_else(|e| e.into_inner()).next_u64();
        dropout(x, self.p, seed)
    }
    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
    fn is_training(&self) -> bool {
        self.training
    }
    fn spatial_extent(&self) -> Option<SpatialExtent> {
        Some(SpatialExtent::Pointwise)
    }
}

/// Global average pooling, `[N, H, W, C] -> [N, C]` (no parameters).
pub struct GlobalAvgPool2d;

impl<T: Element> Module<T> for GlobalAvgPool2d {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        global_avg_pool2d(x)
    }
}

/// Adaptive average pooling to a fixed `(OH, OW)`, `[N, H, W, C] -> [N, OH, OW, C]`.
pub struct AdaptiveAvgPool2d(pub (usize, usize));

impl<T: Element> Module<T> for AdaptiveAvgPool2d {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        adaptive_avg_pool2d(x, self.0)
    }
}
