//! The [`Trainer`](super::Trainer)'s policies: when to write checkpoints ([`Checkpoints`])
//! and when to stop early ([`EarlyStopping`] on a [`Monitor`]ed value).

use super::EpochRecord;
use crate::layers::Module;
use autograd::{Element, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where and how often a [`Trainer`](super::Trainer) writes checkpoints: after every epoch
/// and, with [`every_steps`](Self::every_steps), every `n` optimizer steps inside epochs too
/// (a resumed run starts from the step it was saved at, on the batches an uninterrupted run
/// sees). Only rank 0 writes; every write goes to a temporary name first and is renamed, so a
/// run killed while saving leaves the previous checkpoint whole.
///
/// ```
/// use nn::train::Checkpoints;
/// let c = Checkpoints::new("run.safetensors").every_steps(500).keep_best("best.safetensors");
/// assert_eq!(c.every(), Some(500));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoints {
    path: PathBuf,
    every_steps: Option<usize>,
    best: Option<PathBuf>,
}

impl Checkpoints {
    /// Checkpoints to `path` (overwritten each time) after every epoch.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Checkpoints {
            path: path.into(),
            every_steps: None,
            best: None,
        }
    }

    /// Also every `n` global optimizer steps (0: only after epochs).
    pub fn every_steps(mut self, n: usize) -> Self {
        self.every_steps = (n > 0).then_some(n);
        self
    }

    /// Also writes the model (without optimizer state) to `path` whenever the
    /// [`EarlyStopping`] monitor improves, or after every epoch without one.
    pub fn keep_best(mut self, path: impl Into<PathBuf>) -> Self {
        self.best = Some(path.into());
        self
    }

    /// The checkpoint's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The step interval, if any.
    pub fn every(&self) -> Option<usize> {
        self.every_steps
    }

    /// The best model's path, if kept.
    pub fn best(&self) -> Option<&Path> {
        self.best.as_deref()
    }
}

/// The value [`EarlyStopping`] watches after every epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// The validation loss (lower is better).
    ValidationLoss,
    /// The validation accuracy (higher is better).
    ValidationAccuracy,
    /// The epoch's mean training loss (lower is better; for runs without validation data).
    TrainLoss,
}

impl Monitor {
    /// The monitored value of an epoch, if it has one (the validation values need
    /// validation data).
    pub fn value(self, record: &EpochRecord) -> Option<f64> {
        match self {
            Monitor::ValidationLoss => record.validation.as_ref().map(|e| e.loss),
            Monitor::ValidationAccuracy => record.validation.as_ref().map(|e| e.accuracy),
            Monitor::TrainLoss => Some(record.train.mean_loss),
        }
    }

    /// Whether higher values are better.
    pub fn higher_is_better(self) -> bool {
        self == Monitor::ValidationAccuracy
    }

    /// The name used in logs and checkpoint metadata.
    pub fn name(self) -> &'static str {
        match self {
            Monitor::ValidationLoss => "validation loss",
            Monitor::ValidationAccuracy => "validation accuracy",
            Monitor::TrainLoss => "train loss",
        }
    }

    /// Whether `value` improves on `best` by more than `min_delta` (any value improves on
    /// none; NaN never improves).
    pub fn improves(self, value: f64, best: Option<f64>, min_delta: f64) -> bool {
        match best {
            None => !value.is_nan(),
            Some(b) if self.higher_is_better() => value > b + min_delta,
            Some(b) => value < b - min_delta,
        }
    }
}

/// Early stopping (Keras' `EarlyStopping`, Lightning's callback of that name): after every
/// epoch the [`Monitor`]ed value is compared with the best so far; an epoch that does not
/// improve it by more than `min_delta` counts against `patience`, and training stops when
/// `patience` epochs in a row did not. With [`restore_best`](Self::restore_best) the model
/// gets the best epoch's parameters and buffers back when training stops early. The count
/// and the best value are saved in checkpoints, so a resumed run goes on counting.
///
/// ```
/// use nn::train::{EarlyStopping, Monitor};
/// let e = EarlyStopping::new(Monitor::ValidationAccuracy).patience(5).min_delta(1e-3);
/// assert_eq!(e.monitor(), Monitor::ValidationAccuracy);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    min_delta: f64,
    restore_best: bool,
}

impl EarlyStopping {
    /// Watches `monitor` with patience 3, `min_delta` 0, not restoring the best weights.
    pub fn new(monitor: Monitor) -> Self {
        EarlyStopping {
            monitor,
            patience: 3,
            min_delta: 0.0,
            restore_best: false,
        }
    }

    /// Epochs in a row without improvement before stopping (at least 1).
    pub fn patience(mut self, epochs: usize) -> Self {
        self.patience = epochs.max(1);
        self
    }

    /// The least change that counts as an improvement.
    pub fn min_delta(mut self, delta: f64) -> Self {
        self.min_delta = delta.abs();
        self
    }

    /// Gives the model the best epoch's weights back when stopping early.
    pub fn restore_best(mut self, on: bool) -> Self {
        self.restore_best = on;
        self
    }

    /// The monitored value.
    pub fn monitor(&self) -> Monitor {
        self.monitor
    }

    /// The patience.
    pub fn patience_epochs(&self) -> usize {
        self.patience
    }
}

/// A model's parameters and buffers, copied.
pub(super) struct Snapshot<T: Element> {
    params: Vec<Tensor<T>>,
    buffers: Vec<Tensor<T>>,
}

impl<T: Element> Snapshot<T> {
    pub(super) fn of(model: &dyn Module<T>) -> Self {
        Snapshot {
            params: model
                .parameters()
                .iter()
                .map(|(_, p)| p.value().clone())
                .collect(),
            buffers: model.buffers().iter().map(|(_, b)| (*b).clone()).collect(),
        }
    }

    pub(super) fn restore(&self, model: &mut dyn Module<T>) {
        for ((_, p), v) in model.parameters_mut().into_iter().zip(&self.params) {
            p.value_mut().as_mut_slice().copy_from_slice(v.as_slice());
        }
        for ((_, b), v) in model.buffers_mut().into_iter().zip(&self.buffers) {
            b.as_mut_slice().copy_from_slice(v.as_slice());
        }
    }
}

/// Where early stopping stands.
pub(super) struct Watch<T: Element> {
    pub rule: EarlyStopping,
    pub best: Option<f64>,
    pub best_epoch: usize,
    pub bad_epochs: usize,
    pub snapshot: Option<Snapshot<T>>,
}

const BEST: &str = "early_stopping.best";
const BEST_EPOCH: &str = "early_stopping.best_epoch";
const BAD_EPOCHS: &str = "early_stopping.bad_epochs";

impl<T: Element> Watch<T> {
    pub fn new(rule: EarlyStopping) -> Self {
        Watch {
            rule,
            best: None,
            best_epoch: 0,
            bad_epochs: 0,
            snapshot: None,
        }
    }

    /// Takes up the count saved in a checkpoint's metadata.
    pub fn resume(&mut self, metadata: &BTreeMap<String, String>) {
        let get = |k: &str| metadata.get(k);
        self.best = get(BEST).and_then(|v| v.parse().ok());
        self.best_epoch = get(BEST_EPOCH).and_then(|v| v.parse().ok()).unwrap_or(0);
        self.bad_epochs = get(BAD_EPOCHS).and_then(|v| v.parse().ok()).unwrap_or(0);
    }

    /// The metadata to save.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        let mut m = vec![
            (BEST_EPOCH, self.best_epoch.to_string()),
            (BAD_EPOCHS, self.bad_epochs.to_string()),
        ];
        if let Some(b) = self.best {
            m.push((BEST, format!("{b:?}")));
        }
        m
    }

    /// Counts one epoch; returns whether it improved.
    pub fn observe(&mut self, record: &EpochRecord, model: &dyn Module<T>) -> bool {
        let value = self.rule.monitor.value(record).unwrap_or(f64::NAN);
        if self.rule.monitor.improves(value, self.best, self.rule.min_delta) {
            self.best = Some(value);
            self.best_epoch = record.epoch;
            self.bad_epochs = 0;
            if self.rule.restore_best {
                self.snapshot = Some(Snapshot::of(model));
            }
            true
        } else {
            self.bad_epochs += 1;
            false
        }
    }

    /// Whether patience ran out.
    pub fn exhausted(&self) -> bool {
        self.bad_epochs >= self.rule.patience
    }
}
