//! Training: the [`Trainer`] that owns the whole loop (epochs, schedule, loss, validation,
//! checkpoints every N steps, resuming, early stopping, progress), and the parts it is made
//! of for those who write their own loop: one step and evaluation for classifiers, an epoch
//! loop that keeps the machine busy ([`epoch`]), losses ([`loss`]), optimizers and
//! learning-rate schedules ([`optim`]), checkpoints ([`checkpoint`]), and the
//! single-process or data-parallel [`strategy`].

pub mod checkpoint;
pub mod epoch;
pub mod loss;
pub mod optim;
pub mod strategy;
mod trainer;

pub use strategy::{SingleProcess, Strategy};
pub use trainer::{
    Checkpoints, Control, EarlyStopping, EpochRecord, History, Monitor, StopReason, TrainError, Trainer,
};

use crate::data::batches::{Batch, Batches, Normalize};
use crate::data::{Dataset, Pixel};
use crate::inference::EvalMode;
use crate::layers::Module;
use crate::ops::loss::Reduction;
use crate::train::loss::{CrossEntropy, Loss};
use crate::train::optim::Optimizer;
use autograd::runtime::parallel;
use autograd::{Element, Result, Tape};

/// One step on a fresh tape: forward, softmax cross-entropy (mean), backward, optimizer
/// update. Returns the batch's loss before the update. [`train_step_with`] takes another
/// [`Loss`].
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
    train_step_with(model, optimizer, batch, &CrossEntropy::default())
}

/// [`train_step`] with the mean of `loss` over the batch.
pub fn train_step_with<T: Element>(
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    batch: &Batch<T>,
    loss: &dyn Loss<T>,
) -> Result<T> {
    parallel::install(|| train_step_here(model, optimizer, batch, loss))
}

fn train_step_here<T: Element>(
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    batch: &Batch<T>,
    loss_fn: &dyn Loss<T>,
) -> Result<T> {
    let (loss, grads) = {
        let tape = Tape::new();
        let logits = model.forward(&tape.constant(batch.images.clone()))?;
        let loss = loss_fn.loss(&logits, &batch.labels, Reduction::Mean)?;
        (loss.value().item()?, tape.backward(&loss)?)
    };
    optimizer.step(model.parameters_mut(), &grads)?;
    Ok(loss)
}

/// A classifier's results on a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The mean loss per sample (softmax cross-entropy, or the [`Trainer`]'s loss).
    pub loss: f64,
    /// The fraction of images whose highest logit is their label.
    pub accuracy: f64,
    /// `confusion[label][predicted]`: how many images of each label got each prediction.
    pub confusion: Vec<Vec<usize>>,
}

/// Runs `model` over `data` (images of any shape and channel count, `u8` or `f32`) in
/// evaluation mode on tapes that record nothing, each image normalised by `normalize` as
/// [`Batches::new`] does (and failing as it does); the model is back in the mode it was in
/// afterwards.
pub fn evaluate<T: Element, P: Pixel>(
    model: &mut dyn Module<T>,
    data: &Dataset<P>,
    batch_size: usize,
    normalize: Normalize,
    classes: usize,
) -> Result<Evaluation> {
    evaluate_batches(model, Batches::<T, P>::new(data, batch_size, normalize)?, classes)
}

/// [`evaluate`] over any source of batches (images of any shape, labels in `0..classes`):
/// a [`Batches`] of a dataset, a `Vec` of batches, an iterator that reads them from files.
///
/// ```
/// use autograd::Tensor;
/// use nn::data::batches::Batch;
/// use nn::layers::{Dense, Flatten, Sequential};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut model = Sequential::<f32>::new().add("flatten", Flatten).add("fc", Dense::new(12, 3, &mut rng));
/// let batches = vec![Batch { images: Tensor::ones(&[2, 2, 2, 3]), labels: vec![0, 2] }];
/// let e = nn::train::evaluate_batches(&mut model, batches, 3).unwrap();
/// assert_eq!(e.confusion.iter().flatten().sum::<usize>(), 2);
/// ```
pub fn evaluate_batches<T: Element>(
    model: &mut dyn Module<T>,
    batches: impl IntoIterator<Item = Batch<T>>,
    classes: usize,
) -> Result<Evaluation> {
    Ok(tally(model, batches, classes, &CrossEntropy::default())?.evaluation())
}

/// The sums behind an [`Evaluation`] (one process's part of the data in data-parallel
/// evaluation, [`crate::distributed::evaluate`], adds them up over the processes).
pub(crate) struct Tally {
    /// The summed softmax cross-entropy.
    pub loss_sum: f64,
    /// Images whose highest logit is their label.
    pub correct: usize,
    /// Images.
    pub n: usize,
    /// `confusion[label][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

impl Tally {
    /// The means.
    pub fn evaluation(self) -> Evaluation {
        let n = self.n.max(1) as f64;
        Evaluation {
            loss: self.loss_sum / n,
            accuracy: self.correct as f64 / n,
            confusion: self.confusion,
        }
    }
}

/// The sums of [`evaluate_batches`], the loss being `loss`; empty batches are skipped.
pub(crate) fn tally<T: Element>(
    model: &mut dyn Module<T>,
    batches: impl IntoIterator<Item = Batch<T>>,
    classes: usize,
    loss_fn: &dyn Loss<T>,
) -> Result<Tally> {
    let eval = EvalMode::new(model);
    let mut confusion = vec![vec![0usize; classes]; classes];
    let mut total_loss = 0.0;
    let (mut correct, mut n) = (0, 0);
    for batch in batches.into_iter().filter(|b| !b.labels.is_empty()) {
        let logits = eval.forward(&batch.images)?;
        let loss = parallel::install(|| {
            let tape = Tape::no_grad();
            loss_fn
                .loss(&tape.constant(logits.clone()), &batch.labels, Reduction::Sum)?
                .value()
                .item()
        })?;
        total_loss += loss.to_f64();
        let predicted = logits.argmax_axis(1)?;
        for (&label, &p) in batch.labels.iter().zip(&predicted) {
            if label < classes && p < classes {
                confusion[label][p] += 1;
            }
            correct += usize::from(label == p);
        }
        n += batch.labels.len();
    }
    Ok(Tally {
        loss_sum: total_loss,
        correct,
        n,
        confusion,
    })
}
