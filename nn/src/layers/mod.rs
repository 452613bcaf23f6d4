//! Layers: modules around the ops, holding their parameters, and the [`Module`] trait that
//! models implement.
//!
//! A module maps a variable to a variable on the same tape, binding its parameters to that
//! tape as it goes; its parameters are named (`conv1.w`), which is how optimizers keep their
//! state and checkpoints store weights.
//!
//! - [`Module`] and [`Sequential`];
//! - with parameters: [`Conv2d`], [`Dense`] (initialised by [`Init`]);
//! - without: [`MaxPool2d`], [`AvgPool2d`], [`Flatten`], [`ReLU`], [`Sigmoid`], [`Tanh`],
//!   [`Dropout`].

pub mod init;
mod module;
mod sequential;
mod stateless;
mod weighted;

pub use init::Init;
pub use module::{Module, SpatialExtent};
pub use sequential::Sequential;
pub use stateless::{AvgPool2d, Dropout, Flatten, MaxPool2d, ReLU, Sigmoid, Tanh};
pub use weighted::{Conv2d, Dense};
