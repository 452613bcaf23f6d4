//! The metrics file (`--metrics PATH`): every epoch's figures as JSON, rewritten atomically
//! after each epoch.

use serde::Serialize;
use std::path::Path;
use tapegrad::nn::train::checkpoint;

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
