//! The errors of `nn::interpret`: each names the function and what did not fit.

use crate::train::checkpoint::CheckpointError;

/// What went wrong in an `nn::interpret` function.
#[derive(Debug, thiserror::Error)]
pub enum InterpretError {
    /// No layer of the model has this name.
    #[error("{function}: no layer is called {layer:?}; the model's layers are {layers:?}")]
    UnknownLayer {
        /// The function called.
        function: &'static str,
        /// The name asked for.
        layer: String,
        /// The model's layer names, in order.
        layers: Vec<String>,
    },
    /// A tensor has the wrong shape.
    #[error("{function}: shape {shape:?}: {why}")]
    Shape {
        /// The function called.
        function: &'static str,
        /// The offending shape.
        shape: Vec<usize>,
        /// What was expected.
        why: String,
    },
    /// A class (or channel) index is out of range.
    #[error("{function}: {what} {index} of image {image} is out of range: there are {count}")]
    OutOfRange {
        /// The function called.
        function: &'static str,
        /// What the index is ("target class", "channel", "position").
        what: &'static str,
        /// The image it belongs to.
        image: usize,
        /// The index given.
        index: usize,
        /// How many there are.
        count: usize,
    },
    /// The layer asked for cannot serve this function (not a convolution, no spatial output).
    #[error("{function}: layer {layer:?} {why}")]
    Layer {
        /// The function called.
        function: &'static str,
        /// The layer's name.
        layer: String,
        /// Why it does not fit.
        why: String,
    },
    /// A setting is out of its range (steps, samples, occlusion size...).
    #[error("{function}: {why}")]
    Setting {
        /// The function called.
        function: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The model's forward or backward pass failed.
    #[error(transparent)]
    Model(#[from] autograd::Error),
    /// A checkpoint could not be read or does not fit the model.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// `Result` with an [`InterpretError`].
pub type Result<T, E = InterpretError> = std::result::Result<T, E>;
