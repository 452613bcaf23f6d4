//! The crate's error type.
//!
//! Policy: every operation that can fail on its arguments has a form that returns
//! [`Result`]; the arithmetic operators (`+ - * /` on tensors and variables), which cannot
//! return a `Result`, panic with exactly the message the `try_` form would return.

use thiserror::Error;

/// What went wrong, always naming the op and the shapes involved.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    /// Two operands whose shapes do not fit together.
    #[error("{op}: shapes {lhs:?} and {rhs:?} do not fit: {why}")]
    ShapeMismatch {
        /// The op that refused them.
        op: String,
        /// The first operand's shape.
        lhs: Vec<usize>,
        /// The second operand's shape.
        rhs: Vec<usize>,
        /// What rule they break.
        why: String,
    },
    /// An argument that is invalid for the input it is applied to.
    #[error("{op}: {why}{}", shape_note(shape))]
    InvalidArgument {
        /// The op that refused it.
        op: String,
        /// The input's shape.
        shape: Vec<usize>,
        /// What is wrong with it.
        why: String,
    },
    /// A buffer whose length does not match the shape it is given.
    #[error("{op}: {len} elements cannot have shape {shape:?} ({expected} elements)")]
    LengthMismatch {
        /// The op that refused it.
        op: String,
        /// The buffer's length.
        len: usize,
        /// The requested shape.
        shape: Vec<usize>,
        /// The element count of that shape.
        expected: usize,
    },
    /// Variables of two different tapes were combined, or a gradient of one tape was asked
    /// of another.
    #[error("{op}: variables belong to different tapes")]
    ForeignTape {
        /// The op that noticed.
        op: String,
    },
    /// Anomaly mode ([`Tape::detect_anomaly`](crate::Tape::detect_anomaly)) found a NaN or
    /// an infinity in an op's output or in a gradient its backward rule returned.
    #[error("{0}")]
    NonFinite(Box<crate::anomaly::NonFinite>),
    /// `backward` was called on something it cannot start from.
    #[error("backward: {why}")]
    Backward {
        /// What is wrong.
        why: String,
    },
    /// An error inside a layer of a model: the layer's path in the model (`fc2`,
    /// `block1.conv2`) and its kind (`Dense`), then the op's own error.
    #[error("{path} ({kind}): {source}")]
    InLayer {
        /// The layer's path, names joined by dots from the outermost model in.
        path: String,
        /// The innermost layer's type (`Conv2d`, `Dense`).
        kind: String,
        /// The op's error.
        source: Box<Error>,
    },
}

impl Error {
    /// A [`Error::ShapeMismatch`].
    pub fn shapes(op: &str, lhs: &[usize], rhs: &[usize], why: impl Into<String>) -> Self {
        Error::ShapeMismatch {
            op: op.to_string(),
            lhs: lhs.to_vec(),
            rhs: rhs.to_vec(),
            why: why.into(),
        }
    }

    /// An [`Error::InvalidArgument`].
    pub fn invalid(op: &str, shape: &[usize], why: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op: op.to_string(),
            shape: shape.to_vec(),
            why: why.into(),
        }
    }
}

impl Error {
    /// This error as raised inside layer `name` of kind `kind`; an error already inside a
    /// layer gets `name` in front of its path (`block1` + `conv2` → `block1.conv2`).
    ///
    /// ```
    /// use autograd::Error;
    /// let e = Error::invalid("dense", &[2, 3], "bad").in_layer("fc2", "Dense").in_layer("head", "Sequential");
    /// assert_eq!(e.to_string(), "head.fc2 (Dense): dense: bad (input shape [2, 3])");
    /// assert!(matches!(e.root(), Error::InvalidArgument { .. }));
    /// ```
    pub fn in_layer(self, name: &str, kind: &str) -> Self {
        match self {
            Error::InLayer { path, kind, source } => Error::InLayer {
                path: format!("{name}.{path}"),
                kind,
                source,
            },
            other => Error::InLayer {
                path: name.to_string(),
                kind: kind.to_string(),
                source: Box::new(other),
            },
        }
    }

    /// The op's own error, inside any layers it was raised in.
    pub fn root(&self) -> &Error {
        match self {
            Error::InLayer { source, .. } => source.root(),
            other => other,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// ` (input shape [..])` after an invalid-argument message, or nothing when no input shape
/// applies (a constructor's or a transform's parameters).
fn shape_note(shape: &[usize]) -> String {
    if shape.is_empty() {
        String::new()
    } else {
        format!(" (input shape {shape:?})")
    }
}
