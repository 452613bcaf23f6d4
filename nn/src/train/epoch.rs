//! One epoch of training: a [`train_step`](super::train_step) per batch, run so that the
//! machine is kept busy, which a hand-written loop would have to arrange itself:
//!
//! - the whole epoch runs on the kernels' thread pool with the other threads kept awake
//!   between kernels ([`parallel::busy`]): a small network's step is a string of short
//!   kernels, and waking sleeping threads for each costs tens of microseconds;
//! - the next batch is made by whichever thread is idle while the step runs
//!   ([`parallel::join`]);
//! - the learning rate follows a schedule over the global step count, and a loss that is not
//!   finite stops the epoch with an error naming the step.

use super::loss::{CrossEntropy, Loss};
use super::optim::{LrSchedule, Optimizer};
use super::train_step_with;
use crate::data::Pixel;
use crate::data::batches::{Batch, Batches};
use crate::layers::Module;
use autograd::Element;
use autograd::runtime::parallel;
use std::time::Instant;

/// Where an epoch stands after one of its steps, as [`train_epoch`] reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// The step within the epoch, from 0.
    pub step: usize,
    /// This step's mean loss (before the update).
    pub loss: f64,
    /// The samples of the epoch so far, this step's included.
    pub samples: usize,
    /// The mean loss over the epoch so far.
    pub mean_loss: f64,
    /// Seconds since the epoch started.
    pub seconds: f64,
}

/// What an epoch did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochSummary {
    /// Optimizer steps taken.
    pub steps: usize,
    /// Samples trained on.
    pub samples: usize,
    /// The mean loss over the epoch's samples.
    pub mean_loss: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Why an epoch stopped early.
#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    /// An op failed.
    #[error(transparent)]
    Op(#[from] autograd::Error),
    /// A transform failed on an image while the batch was made.
    #[error("augmenting a batch failed: {0}")]
    Augment(#[source] autograd::Error),
    /// The loss was not finite.
    #[error("the loss diverged ({loss}) at step {} of the epoch", step + 1)]
    Diverged {
        /// The step within the epoch, from 0.
        step: usize,
        /// The loss it returned.
        loss: f64,
    },
}

/// The learning rate of an epoch's steps: `schedule` at the global step `first_step + i`.
#[derive(Clone, Copy)]
pub struct Schedule<'a> {
    /// The schedule.
    pub schedule: &'a dyn LrSchedule,
    /// The global step count at the epoch's first step (`epoch · steps_per_epoch`).
    pub first_step: usize,
}

/// Trains `model` for one epoch, one optimizer step per batch of `batches` (see the module
/// doc for how it runs), setting the learning rate from `schedule` when given and calling
/// `on_step` after each step (for progress displays).
///
/// ```
/// use nn::data::batches::{Batches, Normalize};
/// use nn::data::synthetic;
/// use nn::models::lenet5;
/// use nn::train::epoch::train_epoch;
/// use nn::train::optim::Sgd;
/// use rand::SeedableRng;
/// let data = synthetic::generate(64, 1);
/// let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
/// let mut sgd = Sgd::new(0.05).momentum(0.9);
/// let batches = Batches::<f32>::new(&data, 16, Normalize::MNIST).unwrap().shuffled(7, 0);
/// let summary = train_epoch(&mut model, &mut sgd, batches, None, |_| {}).unwrap();
/// assert_eq!((summary.steps, summary.samples), (4, 64));
/// assert!(summary.mean_loss.is_finite());
/// ```
pub fn train_epoch<T: Element, P: Pixel>(
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    batches: Batches<'_, T, P>,
    schedule: Option<Schedule<'_>>,
    on_step: impl FnMut(&StepReport) + Send,
) -> Result<EpochSummary, EpochError> {
    train_epoch_with(
        model,
        optimizer,
        batches,
        schedule,
        &CrossEntropy::default(),
        on_step,
    )
}

/// [`train_epoch`] with another [`Loss`] than softmax cross-entropy.
pub fn train_epoch_with<T: Element, P: Pixel>(
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    batches: Batches<'_, T, P>,
    schedule: Option<Schedule<'_>>,
    loss: &dyn Loss<T>,
    on_step: impl FnMut(&StepReport) + Send,
) -> Result<EpochSummary, EpochError> {
    let step = |model: &mut dyn Module<T>, optimizer: &mut dyn Optimizer<T>, batch: &Batch<T>| {
        Ok((
            train_step_with(model, optimizer, batch, loss)?.to_f64(),
            batch.labels.len(),
        ))
    };
    run_epoch(model, optimizer, batches, schedule, on_step, step)
}

/// The loop of [`train_epoch`] around any training step: `step` trains on one batch and
/// returns the step's mean loss and the samples it counts (all processes' in data-parallel
/// training, [`crate::distributed`]).
pub(crate) fn run_epoch<T: Element, P: Pixel>(
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    mut batches: Batches<'_, T, P>,
    schedule: Option<Schedule<'_>>,
    mut on_step: impl FnMut(&StepReport) + Send,
    step_fn: impl Fn(&mut dyn Module<T>, &mut dyn Optimizer<T>, &Batch<T>) -> Result<(f64, usize), EpochError>
    + Sync,
) -> Result<EpochSummary, EpochError> {
    let start = Instant::now();
    parallel::busy(|| {
        let (mut loss_sum, mut samples, mut step) = (0.0f64, 0usize, 0usize);
        let mut next = batches.next();
        while let Some(batch) = next {
            if let Some(s) = schedule {
                optimizer.set_learning_rate(s.schedule.lr_at(s.first_step + step));
            }
            let (done, following) = parallel::join(
                || step_fn(&mut *model, &mut *optimizer, &batch),
                || batches.next(),
            );
            next = following;
            let (loss, counted) = done?;
            if !loss.is_finite() {
                return Err(EpochError::Diverged { step, loss });
            }
            loss_sum += loss * counted as f64;
            samples += counted;
            on_step(&StepReport {
                step,
                loss,
                samples,
                mean_loss: loss_sum / samples as f64,
                seconds: start.elapsed().as_secs_f64(),
            });
            step += 1;
        }
        if let Some(e) = batches.take_error() {
            return Err(EpochError::Augment(e));
        }
        Ok(EpochSummary {
            steps: step,
            samples,
            mean_loss: loss_sum / samples.max(1) as f64,
            seconds: start.elapsed().as_secs_f64(),
        })
    })
}
