//! What can go wrong when making a figure.

use std::path::PathBuf;

/// A figure's error; every message names the function and the shapes or the file.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// An input has a shape the function cannot draw.
    #[error("{function}: shape {shape:?}: {why}")]
    Shape {
        /// The function that refused it.
        function: &'static str,
        /// The shape it was given.
        shape: Vec<usize>,
        /// What is wrong with it.
        why: String,
    },
    /// An argument other than a shape is out of range (an empty series, a zero scale).
    #[error("{function}: {why}")]
    Invalid {
        /// The function that refused it.
        function: &'static str,
        /// What is wrong.
        why: String,
    },
    /// Writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The PNG encoder refused the image.
    #[error("{}: PNG encoding failed: {why}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's message.
        why: String,
    },
}

impl FigureError {
    pub(crate) fn shape(function: &'static str, shape: &[usize], why: impl Into<String>) -> Self {
        FigureError::Shape {
            function,
            shape: shape.to_vec(),
            why: why.into(),
        }
    }

    pub(crate) fn invalid(function: &'static str, why: impl Into<String>) -> Self {
        FigureError::Invalid {
            function,
            why: why.into(),
        }
    }
}

/// The figure module's result.
pub type Result<T> = std::result::Result<T, FigureError>;
