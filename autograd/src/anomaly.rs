//! Anomaly mode: every op's output checked in forward and every gradient in backward for a
//! NaN or an infinity, so that a diverging run names the op where the first non-finite value
//! appeared (PyTorch's `torch.autograd.detect_anomaly`, which checks backward only).
//!
//! Off by default; a tape checks when [`Tape::detect_anomaly`](crate::Tape::detect_anomaly)
//! switched it on, or when it was made after [`set_detect_anomaly`]`(true)` (for code that
//! makes its own tapes, a training step say). When off it costs one branch per op.
//!
//! The first anomaly of a forward pass is kept on the tape (the op still returns its value,
//! so that ops which cannot fail stay so) and returned by the next backward pass, or by
//! [`Tape::anomaly`](crate::Tape::anomaly); a backward pass fails at the first gradient that
//! is not finite.
//!
//! ```
//! use autograd::{Error, Tape, Tensor};
//! let tape = Tape::<f64>::new();
//! tape.detect_anomaly(true);
//! let x = tape.var(Tensor::from_vec(vec![1.0, 0.0], &[2]).unwrap());
//! let y = x.log().sum(); // ln 0 = -inf
//! match tape.backward(&y) {
//!     Err(Error::NonFinite(a)) => assert_eq!((a.op.as_str(), a.position, a.index), ("log", 1, vec![1])),
//!     other => panic!("{:?}", other.err()),
//! }
//! ```

use crate::element::Element;
use crate::error::Error;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

static DEFAULT: AtomicBool = AtomicBool::new(false);

/// Whether tapes made from now on check for anomalies (the process-wide default; each tape
/// can still be switched with [`Tape::detect_anomaly`](crate::Tape::detect_anomaly)).
pub fn set_detect_anomaly(on: bool) {
    DEFAULT.store(on, Ordering::Relaxed);
}

/// The default that new tapes take ([`set_detect_anomaly`]).
pub fn detect_anomaly_default() -> bool {
    DEFAULT.load(Ordering::Relaxed)
}

/// What anomaly mode found: the op, where it sits on the tape, its inputs, and the first
/// non-finite value (the payload of [`Error::NonFinite`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "anomaly: {op} (tape entry {position}, input shapes {input_shapes:?}) gave {value} in {what}, at index {index:?} of shape {shape:?}"
)]
pub struct NonFinite {
    /// The op.
    pub op: String,
    /// Its position on the tape: the number of entries recorded before it.
    pub position: usize,
    /// The shapes of its inputs.
    pub input_shapes: Vec<Vec<usize>>,
    /// Where: `its output (...)` or `the gradient of input k`.
    pub what: String,
    /// The shape of the tensor that holds the value.
    pub shape: Vec<usize>,
    /// The index of the first non-finite element in it.
    pub index: Vec<usize>,
    /// That element.
    pub value: f64,
}

/// A tape's anomaly-mode state: whether it checks, the first forward anomaly, and the input
/// shapes of each recorded op (kept only while checking, for the errors of backward).
pub(crate) struct Anomaly {
    pub(crate) on: Cell<bool>,
    first: RefCell<Option<Error>>,
    input_shapes: RefCell<HashMap<usize, Vec<Vec<usize>>>>,
}

impl Anomaly {
    /// Off, or on if [`set_detect_anomaly`] said so.
    pub(crate) fn new() -> Self {
        Anomaly {
            on: Cell::new(detect_anomaly_default()),
            first: RefCell::new(None),
            input_shapes: RefCell::new(HashMap::new()),
        }
    }

    /// The first forward anomaly.
    pub(crate) fn first(&self) -> Option<Error> {
        self.first.borrow().clone()
    }

    /// Forgets what the tape's entries left (with [`Tape::reset`](crate::Tape::reset)).
    pub(crate) fn reset(&mut self) {
        self.first.get_mut().take();
        self.input_shapes.get_mut().clear();
    }

    /// The forward check of `op`, which is (or, unrecorded, would be) entry `position`.
    pub(crate) fn check_forward<T: Element>(
        &self,
        op: &str,
        position: usize,
        inputs: &[&Tensor<T>],
        value: &Tensor<T>,
        record: bool,
    ) {
        if record {
            let shapes = inputs.iter().map(|x| x.shape().to_vec()).collect();
            self.input_shapes.borrow_mut().insert(position, shapes);
        }
        let mut first = self.first.borrow_mut();
        if first.is_none() {
            *first = check_forward(op, position, inputs, value).err();
        }
    }

    /// The backward check of the gradient `op` (entry `position`) returned for input `slot`.
    pub(crate) fn check_gradient<T: Element>(
        &self,
        op: &str,
        position: usize,
        slot: usize,
        grad: &Tensor<T>,
    ) -> Result<(), Error> {
        let Some(found) = first_non_finite(grad) else {
            return Ok(());
        };
        let shapes = self.input_shapes.borrow().get(&position).cloned();
        let what = format!("the gradient of input {slot}");
        Err(error(op, position, shapes.unwrap_or_default(), what, grad, found))
    }
}

/// The row-major index of `t`'s first NaN or infinity, with the value.
fn first_non_finite<T: Element>(t: &Tensor<T>) -> Option<(usize, T)> {
    t.as_slice()
        .iter()
        .position(|v| !v.is_finite())
        .map(|i| (i, t.as_slice()[i]))
}

/// `flat` as an index into `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        index[i] = flat % d.max(1);
        flat /= d.max(1);
    }
    index
}

/// The error for a non-finite value at `flat` of `t`, found at `site` of `op`, entry `position`.
fn error<T: Element>(
    op: &str,
    position: usize,
    input_shapes: Vec<Vec<usize>>,
    what: String,
    t: &Tensor<T>,
    (flat, value): (usize, T),
) -> Error {
    Error::NonFinite(Box::new(NonFinite {
        op: op.to_string(),
        position,
        input_shapes,
        what,
        shape: t.shape().to_vec(),
        index: unravel(flat, t.shape()),
        value: value.to_f64(),
    }))
}

/// The forward check of an op's output; the error says which inputs already held a
/// non-finite value (the op only passed it on) or that all were finite (the op made it).
fn check_forward<T: Element>(
    op: &str,
    position: usize,
    inputs: &[&Tensor<T>],
    output: &Tensor<T>,
) -> Result<(), Error> {
    let Some(found) = first_non_finite(output) else {
        return Ok(());
    };
    let carried: Vec<String> = inputs
        .iter()
        .enumerate()
        .filter_map(|(k, x)| {
            first_non_finite(x).map(|(i, v)| format!("input {k} holds {v} at {:?}", unravel(i, x.shape())))
        })
        .collect();
    let what = if carried.is_empty() {
        "its output (all inputs finite)".to_string()
    } else {
        format!("its output ({})", carried.join(", "))
    };
    let shapes = inputs.iter().map(|x| x.shape().to_vec()).collect();
    Err(error(op, position, shapes, what, output, found))
}
