//! Training: one step and evaluation for classifiers (what every training loop repeats), an
//! epoch loop that keeps the machine busy ([`epoch`]), optimizers and learning-rate
//! schedules ([`optim`]), and checkpoints ([`checkpoint`]).

pub mod checkpoint;
pub mod epoch;
pub mod optim;

use crate::data::Dataset;
use crate::data::batches::{Batch, Batches, Normalize};
use crate::layers::Module;
use crate::ops::loss::{Reduction, softmax_cross_entropy};
use crate::train::optim::Optimizer;
use autograd::runtime::parallel;
use autograd::{Element, Result, Tape};

/// One step on a fresh tape: forward, softmax cross-entropy (mean), backward, optimizer
/// update. Returns the batch's loss before the update.
///
/// The tape is dropped before the update, so parameters are updated in place without copies.
///
/// The step runs on the kernels' thread pool ([`autograd::runtime::parallel::install`]), so that its
/// serial parts do not compete with the pool's threads for the cores.
pub fn train_step<T: Element>(
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    batch: &Batch<T>,
) -> Result<T> {
    parallel::install(|| train_step_here(model, optimizer, batch))
}

fn train_step_here<T: Element>(
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    batch: &Batch<T>,
) -> Result<T> {
    let (loss, grads) = {
        let tape = Tape::new();
        let logits = model.forward(&tape.constant(batch.images.clone()))?;
        let loss = softmax_cross_entropy(&logits, &batch.labels, Reduction::Mean)?;
        (loss.value().item()?, tape.backward(&loss)?)
    };
    optimizer.step(model.parameters_mut(), &grads)?;
    Ok(loss)
}

/// A classifier's results on a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The mean softmax cross-entropy.
    pub loss: f64,
    /// The fraction of images whose highest logit is their label.
    pub accuracy: f64,
    /// `confusion[label][predicted]`: how many images of each label got each prediction.
    pub confusion: Vec<Vec<usize>>,
}

/// Runs `model` over `data` in evaluation mode on tapes that record nothing.
pub fn evaluate<T: Element>(
    model: &mut dyn Module<T>,
    data: &Dataset,
    batch_size: usize,
    normalize: Normalize,
    classes: usize,
) -> Result<Evaluation> {
    parallel::install(|| evaluate_here(model, data, batch_size, normalize, classes))
}

fn evaluate_here<T: Element>(
    model: &mut dyn Module<T>,
    data: &Dataset,
    batch_size: usize,
    normalize: Normalize,
    classes: usize,
) -> Result<Evaluation> {
    let tally = tally(model, Batches::<T>::new(data, batch_size, normalize), classes)?;
    Ok(tally.evaluation(data.len()))
}

/// The sums behind an [`Evaluation`], over some batches (one process's part of the data in
/// data-parallel evaluation, [`crate::distributed::evaluate`]).
pub(crate) struct Tally {
    /// The summed softmax cross-entropy.
    pub loss_sum: f64,
    /// Images whose highest logit is their label.
    pub correct: usize,
    /// `confusion[label][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

impl Tally {
    /// The evaluation of `n` images.
    pub fn evaluation(self, n: usize) -> Evaluation {
        let n = n.max(1) as f64;
        Evaluation {
            loss: self.loss_sum / n,
            accuracy: self.correct as f64 / n,
            confusion: self.confusion,
        }
    }
}

/// Runs `model` in evaluation mode over `batches` (on the calling thread), summing.
pub(crate) fn tally<T: Element>(
    model: &mut dyn Module<T>,
    batches: Batches<'_, T>,
    classes: usize,
) -> Result<Tally> {
    model.set_training(false);
    let mut confusion = vec![vec![0usize; classes]; classes];
    let mut total_loss = 0.0;
    let mut correct = 0;
    for batch in batches.filter(|b| !b.labels.is_empty()) {
        let tape = Tape::no_grad();
        let logits = model.forward(&tape.constant(batch.images.clone()))?;
        let loss = softmax_cross_entropy(&logits, &batch.labels, Reduction::Sum)?;
        total_loss += loss.value().item()?.to_f64();
        let predicted = logits.value().argmax_axis(1)?;
        for (&label, &p) in batch.labels.iter().zip(&predicted) {
            if label < classes && p < classes {
                confusion[label][p] += 1;
            }
            correct += usize::from(label == p);
        }
    }
    model.set_training(true);
    Ok(Tally {
        loss_sum: total_loss,
        correct,
        confusion,
    })
}
