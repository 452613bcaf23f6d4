//! Using a trained model: predictions in evaluation mode that cannot run training behaviour,
//! probabilities, classes, and a [summary](Summary) of a model's layers.
//!
//! A model starts in training mode (dropout active), and `forward` does what the mode says.
//! [`EvalMode`] switches a model to evaluation for as long as it lives and back to the mode it
//! found when dropped; [`predict`], [`probabilities`] and [`classify`] run through it on
//! tapes that record nothing, so they give evaluation behaviour whatever mode the model is in.
//! [`predict_batches`] and [`classify_batches`] do the same over any source of batches (the
//! [`Batches`](crate::data::batches::Batches) of a dataset of any image shape, a `Vec`).
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

use crate::data::batches::Batch;
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

/// The model's outputs for every image of `batches` (any source of [`Batch`]es: the
/// [`Batches`](crate::data::batches::Batches) of a dataset, a `Vec`; their labels are not
/// read), in order, as one tensor `[N, ...]`, in evaluation mode. Batches of no images are
/// skipped; with none at all the result has shape `[0]`.
///
/// ```
/// use nn::data::{Dataset, batches::{Batches, Normalize}};
/// use nn::inference::{classify_batches, predict_batches};
/// use nn::layers::{Dense, Flatten, Sequential};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut model = Sequential::<f32>::new().add("flatten", Flatten).add("fc", Dense::new(12, 3, &mut rng));
/// // Five 2x2 RGB images, in batches of 2.
/// let data = Dataset::new((0..60).map(|v| v as u8).collect(), vec![0; 5], [2, 2, 3]).unwrap();
/// let logits = predict_batches(&mut model, Batches::new(&data, 2, Normalize::CIFAR10).unwrap()).unwrap();
/// assert_eq!(logits.shape(), &[5, 3]);
/// let classes = classify_batches(&mut model, Batches::new(&data, 2, Normalize::CIFAR10).unwrap()).unwrap();
/// assert_eq!(classes, logits.argmax_axis(1).unwrap());
/// ```
pub fn predict_batches<T: Element>(
    model: &mut dyn Module<T>,
    batches: impl IntoIterator<Item = Batch<T>>,
) -> Result<Tensor<T>> {
    let eval = EvalMode::new(model);
    let outputs = batches
        .into_iter()
        .filter(|b| b.images.shape().first() != Some(&0))
        .map(|b| eval.forward(&b.images))
        .collect::<Result<Vec<_>>>()?;
    match outputs.as_slice() {
        [] => Tensor::from_vec(Vec::new(), &[0]),
        [one] => Ok(one.clone()),
        many => Tensor::concat(&many.iter().collect::<Vec<_>>(), 0),
    }
}

/// The predicted class (the index of the highest output) of every image of `batches`, in
/// order, in evaluation mode: [`classify`] over any source of batches.
pub fn classify_batches<T: Element>(
    model: &mut dyn Module<T>,
    batches: impl IntoIterator<Item = Batch<T>>,
) -> Result<Vec<usize>> {
    let eval = EvalMode::new(model);
    let mut classes = Vec::new();
    for batch in batches
        .into_iter()
        .filter(|b| b.images.shape().first() != Some(&0))
    {
        let logits = eval.forward(&batch.images)?;
        let axis = logits.rank().max(1) - 1;
        classes.extend(logits.argmax_axis(axis)?);
    }
    Ok(classes)
}
