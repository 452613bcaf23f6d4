//! Layers: modules around the ops, holding their parameters, and the [`Module`] trait that
//! models implement.
//!
//! A module maps a variable to a variable on the same tape, binding its parameters to that
//! tape as it goes; its parameters are named (`conv1.w`), which is how optimizers keep their
//! state and checkpoints store weights.
//!
//! - [`Module`] and [`Sequential`];
//! - with parameters: [`Conv2d`], [`Dense`] (initialised by [`Init`]);
//! - without: [`MaxPool2d`], [`AvgPool2d`], [`GlobalAvgPool2d`], [`AdaptiveAvgPool2d`],
//!   [`Flatten`], [`ReLU`], [`Sigmoid`], [`Tanh`], [`LeakyReLU`], [`ELU`], [`GELU`],
//!   [`Softmax`], [`LogSoftmax`], [`Dropout`];
//! - with buffers (non-trainable state, [`Module::buffers`]): [`BatchNorm2d`], [`BatchNorm1d`];
//! - composites: [`Residual`] (a ResNet basic block).

pub mod init;
mod module;
mod norm;
mod pointwise;
mod residual;
mod sequential;
mod stateless;
mod weighted;

pub use init::Init;
pub use module::{Module, SpatialExtent};
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d};
pub use pointwise::{ELU, GELU, LeakyReLU, LogSoftmax, Softmax};
pub use residual::Residual;
pub use sequential::Sequential;
pub use stateless::{
    AdaptiveAvgPool2d, AvgPool2d, Dropout, Flatten, GlobalAvgPool2d, MaxPool2d, ReLU, Sigmoid, Tanh,
};
pub use weighted::{Conv2d, Dense};
