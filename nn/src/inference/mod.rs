//! Using a trained model: predictions in evaluation mode that cannot run training behaviour,
//! probabilities, classes, and a [summary](Summary) of a model's layers.
//!
//! A model starts in training mode (dropout active), and `forward` does what the mode says.
//! [`EvalMode`] switches a model to evaluation for as long as it lives and back to the mode it
//! found when dropped; [`predict`], [`probabilities`] and [`classify`] run through it on
//! tapes that record nothing, so they give evaluation behaviour whatever mode the model is in.
//!
//! ```
//! use autograd::Tensor;
//! use nn::inference::{classify, probabilities};
//! use nn::models::lenet5;
//! use rand::SeedableRng;
//! let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
//! let images = Tensor::zeros(&[2, 28, 28, 1]); // normalised, [N, H, W, C]
//! let p = probabilities(&mut model, &images).unwrap();
//! assert_eq!(p.shape(), &[2, 10]);
//! assert!((p.as_slice()[..10].iter().sum::<f32>() - 1.0).abs() < 1e-5);
//! assert_eq!(classify(&mut model, &images).unwrap().len(), 2);
//! ```

mod summary;

pub use summary::{LayerSummary, Summary, summary};

use crate::layers::Module;
use autograd::runtime::parallel;
use autograd::{Element, Result, Tape, Tensor};

/// A model in evaluation mode for as long as this guard lives; dropping it puts the model
/// back in the mode it was in.
///
/// ```
/// use nn::inference::EvalMode;
/// use nn::layers::{Dropout, Module, Sequential};
/// let mut model = Sequential::<f32>::new().add("drop", Dropout::new(0.5, 1).unwrap());
/// assert!(model.is_training());
/// {
///     let eval = EvalMode::new(&mut model);
///     assert!(!eval.model().is_training());
/// }
/// assert!(model.is_training());
/// ```
pub struct EvalMode<'m, T: Element> {
    model: &'m mut dyn Module<T>,
    was_training: bool,
}

impl<'m, T: Element> EvalMode<'m, T> {
    /// Switches `model` to evaluation mode.
    pub fn new(model: &'m mut dyn Module<T>) -> Self {
        let was_training = model.is_training();
        model.set_training(false);
        EvalMode { model, was_training }
    }

    /// The model, in evaluation mode.
    pub fn model(&self) -> &dyn Module<T> {
        self.model
    }

    /// The model's output for `x` (a batch, `[N, ...]`), on a tape that records nothing.
    pub fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        parallel::install(|| {
            let tape = Tape::no_grad();
            Ok(self.model.forward(&tape.constant(x.clone()))?.value().clone())
        })
    }
}

impl<T: Element> Drop for EvalMode<'_, T> {
    fn drop(&mut self) {
        if self.was_training {
            self.model.set_training(true);
        }
    }
}

/// The model's output (logits, for a classifier) for the batch `x`, in evaluation mode.
pub fn predict<T: Element>(model: &mut dyn Module<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
    EvalMode::new(model).forward(x)
}

/// Softmax probabilities over the last axis of the model's output, in evaluation mode.
pub fn probabilities<T: Element>(model: &mut dyn Module<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
    let logits = predict(model, x)?;
    let tape = Tape::no_grad();
    let axis = logits.rank().max(1) - 1;
    Ok(tape.constant(logits).softmax(axis)?.value().clone())
}

/// The index of the highest output of each row (the predicted class), in evaluation mode.
pub fn classify<T: Element>(model: &mut dyn Module<T>, x: &Tensor<T>) -> Result<Vec<usize>> {
    let logits = predict(model, x)?;
    let axis = logits.rank().max(1) - 1;
    logits.argmax_axis(axis)
}
