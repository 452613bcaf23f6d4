//! The metrics file (`--metrics PATH`): every epoch's figures as JSON, rewritten atomically
//! after each epoch.

use serde::Serialize;
use std::path::Path;
use tapegrad::nn::train::{EpochRecord, Evaluation, checkpoint};

/// One epoch's figures.
#[derive(Serialize, Debug, Clone)]
pub struct EpochMetrics {
    /// 1 for the first epoch.
    pub epoch: usize,
    /// The mean training loss over the epoch.
    pub train_loss: f64,
    /// The fraction of the test set classified correctly.
    pub test_accuracy: f64,
    /// The mean loss on the test set.
    pub test_loss: f64,
    /// `--validation-size`: the loss on the held-out images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_loss: Option<f64>,
    /// `--validation-size`: the accuracy on the held-out images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_accuracy: Option<f64>,
    /// `--eval-rotate`: the same on the rotated test set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_test_accuracy: Option<f64>,
    /// `--extra-test`: the same on that test set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_test_accuracy: Option<f64>,
    /// Seconds of training (evaluation excluded).
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_sec: f64,
}

impl EpochMetrics {
    /// An epoch's figures from the Trainer's record, the test set's evaluation, and whether
    /// the record's validation data is a held-out part of the training set (`--validation-size`).
    pub fn of(r: &EpochRecord, test: &Evaluation, held_out: bool) -> Self {
        let held_out = r.validation.as_ref().filter(|_| held_out);
        EpochMetrics {
            epoch: r.epoch,
            train_loss: r.train.mean_loss,
            test_accuracy: test.accuracy,
            test_loss: test.loss,
            validation_loss: held_out.map(|e| e.loss),
            validation_accuracy: held_out.map(|e| e.accuracy),
            rotated_test_accuracy: None,
            extra_test_accuracy: None,
            seconds: r.train.seconds,
            samples_per_sec: r.train.samples as f64 / r.train.seconds,
        }
    }
}

/// The whole file.
#[derive(Serialize, Debug, Default)]
pub struct Metrics {
    /// The augmentation, as `Recipe::describe` writes it.
    pub augment: String,
    /// The loss, as `Loss::describe` writes it.
    pub loss: String,
    /// Every epoch run by this process, in order.
    pub epochs: Vec<EpochMetrics>,
}

impl Metrics {
    /// Writes the file (to a temporary name, then renamed).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut json = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        json.push('\n');
        checkpoint::write_atomically(path, json.as_bytes()).map_err(|e| e.to_string())
    }
}
