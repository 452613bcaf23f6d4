//! The [`Trainer`]: the whole training loop of a classifier, configured once.

mod fit;
mod policy;
mod progress;

pub use policy::{Checkpoints, EarlyStopping, Monitor};

use super::Evaluation;
use super::epoch::{EpochError, EpochSummary};
use super::loss::{CrossEntropy, Loss};
use super::optim::{LrSchedule, Optimizer};
use super::strategy::{SingleProcess, Strategy};
use crate::data::Pixel;
use crate::data::batches::Normalize;
use crate::data::transforms::Compose;
use crate::layers::Module;
use autograd::Element;
use std::path::PathBuf;

/// Why training stopped before its last epoch or step.
#[derive(Clone, Debug, PartialEq)]
pub enum StopReason {
    /// The last epoch, or the step limit, was reached.
    Finished,
    /// [`EarlyStopping`]: the monitored value did not improve for `patience` epochs.
    EarlyStopping {
        /// The epoch (from 1) with the best value.
        best_epoch: usize,
        /// That value.
        best: f64,
    },
    /// The `on_epoch` callback asked to stop.
    Callback,
}

/// What one epoch did, as the `on_epoch` callback and [`History`] see it.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The epochs the run was configured for.
    pub epochs: usize,
    /// Optimizer steps taken since the start of training (the resumed ones included).
    pub steps: usize,
    /// The epoch's training summary (mean loss, samples, seconds; all processes').
    pub train: EpochSummary,
    /// The evaluation on the validation data, if the run has some.
    pub validation: Option<Evaluation>,
    /// Whether this epoch's monitored value is the best so far (always `true` without
    /// [`EarlyStopping`]).
    pub improved: bool,
}

/// The epochs a [`Trainer::fit`] ran, and why it stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// One record per epoch run (a resumed run's earlier epochs are not included).
    pub epochs: Vec<EpochRecord>,
    /// The optimizer steps taken in all, the resumed ones included.
    pub steps: usize,
    /// The optimizer steps a resumed run started from (0 for a fresh one).
    pub resumed_at: usize,
    /// Why the run ended.
    pub stopped: StopReason,
}

/// What can end a [`Trainer::fit`] early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// An epoch failed (an op, a transform, a diverged loss).
    #[error("epoch {epoch}: {source}")]
    Epoch {
        /// The epoch, from 1.
        epoch: usize,
        /// What happened.
        #[source]
        source: EpochError,
    },
    /// An op failed outside the training steps (evaluation, batching).
    #[error(transparent)]
    Op(#[from] autograd::Error),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] super::checkpoint::CheckpointError),
    /// A checkpoint to resume from was saved with another configuration.
    #[error("{}: saved with {key} {saved}, now {now}: use the same value to resume", path.display())]
    Resume {
        /// The checkpoint.
        path: PathBuf,
        /// The setting (`seed`, `batch_size`, or a key given to [`Trainer::resume_requires`]).
        key: String,
        /// Its value in the checkpoint.
        saved: String,
        /// Its value now.
        now: String,
    },
    /// The configuration cannot run (no data, a zero batch size, ...).
    #[error("Trainer: {0}")]
    Config(String),
    /// Another process failed (data-parallel training), or this one, with this message.
    #[error("{0}")]
    Processes(String),
    /// The `on_epoch` callback failed.
    #[error("{0}")]
    Callback(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The `on_epoch` callback's answer: go on, or stop after this epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Train the next epoch.
    Continue,
    /// Stop now (after this epoch's checkpoint).
    Stop,
}

/// The signature of [`Trainer::on_epoch`]'s callback.
type EpochCallback<'a, T> = dyn FnMut(&mut dyn Module<T>, &EpochRecord) -> Result<Control, Box<dyn std::error::Error + Send + Sync>>
    + 'a;

/// The training loop of a classifier on a [`Dataset<P>`](crate::data::Dataset) of any image
/// shape, channel count and pixel type `P` (inferred from [`fit`](Trainer::fit)'s data),
/// configured with builder methods and run by
/// [`fit`](Trainer::fit): epochs of seeded shuffled batches (optionally augmented), the
/// learning rate from a schedule over the global step count, a chosen [`Loss`], evaluation on
/// validation data after every epoch, checkpoints after every epoch and every N steps,
/// resuming from one (mid-epoch too, on the same batches an uninterrupted run sees), early
/// stopping, a progress bar, and a callback after each epoch. With a
/// [`Context`](crate::distributed::Context) as its [`strategy`](Trainer::strategy) the same
/// code trains data-parallel under `mpirun`.
///
/// ```
/// use nn::data::batches::Normalize;
/// use nn::data::synthetic;
/// use nn::models::lenet5;
/// use nn::train::{EarlyStopping, Monitor, Trainer};
/// use nn::train::loss::CrossEntropy;
/// use nn::train::optim::Sgd;
/// use rand::SeedableRng;
/// let (train, test) = synthetic::train_test_split(256, 64, 1);
/// let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
/// let mut sgd = Sgd::new(0.05).momentum(0.9);
/// let history = Trainer::new(&mut sgd)
///     .epochs(3)
///     .batch_size(32)
///     .normalize(Normalize::MNIST)
///     .loss(CrossEntropy::smoothed(0.05))
///     .early_stopping(EarlyStopping::new(Monitor::ValidationLoss).patience(2))
///     .progress_bar(false)
///     .log(false)
///     .fit(&mut model, &train, Some(&test))
///     .unwrap();
/// assert_eq!(history.steps, history.epochs.len() * 8);
/// assert!(history.epochs[0].validation.as_ref().unwrap().accuracy > 0.0);
/// ```
pub struct Trainer<'a, T: Element, S: Strategy = SingleProcess, P: Pixel = u8> {
    optimizer: &'a mut dyn Optimizer<T>,
    strategy: &'a S,
    epochs: usize,
    batch_size: usize,
    eval_batch_size: usize,
    seed: u64,
    classes: usize,
    max_steps: Option<usize>,
    normalize: Normalize,
    loss: Box<dyn Loss<T> + 'a>,
    schedule: Option<Box<dyn LrSchedule + 'a>>,
    augment: Option<&'a Compose<P>>,
    checkpoints: Option<Checkpoints>,
    resume: Option<PathBuf>,
    metadata: Vec<(String, String, bool)>,
    early_stopping: Option<EarlyStopping>,
    progress_bar: bool,
    log: bool,
    validation_name: String,
    on_epoch: Option<Box<EpochCallback<'a, T>>>,
}

impl<'a, T: Element, P: Pixel> Trainer<'a, T, SingleProcess, P> {
    /// A trainer that steps `optimizer`: 1 epoch of batches of 64, seed 0, 10 classes,
    /// MNIST's normalisation, softmax cross-entropy, the optimizer's own learning rate,
    /// no augmentation, no checkpoints, a progress bar and a line per epoch.
    pub fn new(optimizer: &'a mut dyn Optimizer<T>) -> Self {
        Trainer {
            optimizer,
            strategy: &SingleProcess,
            epochs: 1,
            batch_size: 64,
            eval_batch_size: 500,
            seed: 0,
            classes: 10,
            max_steps: None,
            normalize: Normalize::MNIST,
            loss: Box::new(CrossEntropy::default()),
            schedule: None,
            augment: None,
            checkpoints: None,
            resume: None,
            metadata: Vec::new(),
            early_stopping: None,
            progress_bar: true,
            log: true,
            validation_name: "validation".into(),
            on_epoch: None,
        }
    }
}

impl<'a, T: Element, S: Strategy, P: Pixel> Trainer<'a, T, S, P> {
    /// Runs on another [`Strategy`]: `&ctx` for data-parallel training over MPI
    /// (`--batch-size` then means the global batch, which every process shards).
    pub fn strategy<S2: Strategy>(self, strategy: &'a S2) -> Trainer<'a, T, S2, P> {
        Trainer {
            optimizer: self.optimizer,
            strategy,
            epochs: self.epochs,
            batch_size: self.batch_size,
            eval_batch_size: self.eval_batch_size,
            seed: self.seed,
            classes: self.classes,
            max_steps: self.max_steps,
            normalize: self.normalize,
            loss: self.loss,
            schedule: self.schedule,
            augment: self.augment,
            checkpoints: self.checkpoints,
            resume: self.resume,
            metadata: self.metadata,
            early_stopping: self.early_stopping,
            progress_bar: self.progress_bar,
            log: self.log,
            validation_name: self.validation_name,
            on_epoch: self.on_epoch,
        }
    }

    /// The number of epochs (passes over the training data).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// The (global) batch size of training; the last batch of an epoch may be smaller.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// The batch size of evaluation (default 500; it changes no result).
    pub fn eval_batch_size(mut self, batch_size: usize) -> Self {
        self.eval_batch_size = batch_size;
        self
    }

    /// The seed of the shuffling (and of augmentation): epoch `e`'s order is a function of
    /// `(seed, e)` alone.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The number of classes (the size of the confusion matrix; default 10).
    pub fn classes(mut self, classes: usize) -> Self {
        self.classes = classes;
        self
    }

    /// Stops after this many optimizer steps in all (the resumed ones included).
    pub fn max_steps(mut self, steps: usize) -> Self {
        self.max_steps = Some(steps);
        self
    }

    /// How bytes become inputs (default [`Normalize::MNIST`]).
    pub fn normalize(mut self, normalize: Normalize) -> Self {
        self.normalize = normalize;
        self
    }

    /// The training loss (default softmax cross-entropy); validation reports it too.
    pub fn loss(mut self, loss: impl Loss<T> + 'a) -> Self {
        self.loss = Box::new(loss);
        self
    }

    /// The learning rate at every step from `schedule`, over the global step count (a
    /// resumed run continues it).
    pub fn schedule(mut self, schedule: impl LrSchedule + 'a) -> Self {
        self.schedule = Some(Box::new(schedule));
        self
    }

    /// [`schedule`](Self::schedule) for a boxed schedule.
    pub fn schedule_boxed(mut self, schedule: Box<dyn LrSchedule + 'a>) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// Augments every training image on the fly (see
    /// [`Batches::augmented`](crate::data::batches::Batches::augmented)); an empty
    /// composition is no augmentation.
    pub fn augment(mut self, transforms: &'a Compose<P>) -> Self {
        self.augment = (!transforms.is_empty()).then_some(transforms);
        self
    }

    /// Writes checkpoints (model, optimizer, the step count, the metadata).
    pub fn checkpoints(mut self, checkpoints: Checkpoints) -> Self {
        self.checkpoints = Some(checkpoints);
        self
    }

    /// Resumes from a checkpoint written by a trainer: restores the model and the optimizer
    /// and goes on from its step (mid-epoch too), refusing one saved with another seed,
    /// batch size or [`resume_requires`](Self::resume_requires) value.
    pub fn resume_from(mut self, path: impl Into<PathBuf>) -> Self {
        self.resume = Some(path.into());
        self
    }

    /// Metadata written into every checkpoint (`("data", "MNIST from ...")`).
    pub fn metadata(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into(), false));
        self
    }

    /// Metadata written into every checkpoint that a resumed run must have alike (an
    /// augmentation recipe): resuming with another value is a [`TrainError::Resume`].
    pub fn resume_requires(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into(), true));
        self
    }

    /// Stops when the monitored validation value stops improving.
    pub fn early_stopping(mut self, early_stopping: EarlyStopping) -> Self {
        self.early_stopping = Some(early_stopping);
        self
    }

    /// Whether rank 0 draws a progress bar on standard error (default on; nothing is drawn
    /// when standard error is not a terminal).
    pub fn progress_bar(mut self, on: bool) -> Self {
        self.progress_bar = on;
        self
    }

    /// Whether rank 0 prints on standard output (default on): where a resumed run starts, a
    /// line per epoch (train loss, validation loss and accuracy, seconds, samples per
    /// second), and why it stopped early.
    pub fn log(mut self, on: bool) -> Self {
        self.log = on;
        self
    }

    /// What the log calls the validation data (default `validation`; `test` when a run
    /// watches its test set).
    pub fn validation_name(mut self, name: &str) -> Self {
        self.validation_name = name.into();
        self
    }

    /// Calls `callback` on every process after every epoch's evaluation, before its
    /// checkpoint: for more metrics, files, or a stop ([`Control::Stop`]). An error ends
    /// training with [`TrainError::Callback`].
    pub fn on_epoch(
        mut self,
        callback: impl FnMut(
            &mut dyn Module<T>,
            &EpochRecord,
        ) -> Result<Control, Box<dyn std::error::Error + Send + Sync>>
        + 'a,
    ) -> Self {
        self.on_epoch = Some(Box::new(callback));
        self
    }

    /// The optimizer steps of one epoch over `train_len` samples.
    pub fn steps_per_epoch(&self, train_len: usize) -> usize {
        train_len.div_ceil(self.batch_size.max(1))
    }
}
