//! What a [`Trainer`](super::Trainer) shows while it runs: a progress bar per epoch on
//! standard error (indicatif; drawn only on a terminal) and a line per epoch.

use super::EpochRecord;
use crate::train::epoch::StepReport;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One epoch's bar, with the running loss and speed.
pub(super) struct EpochBar {
    bar: ProgressBar,
}

impl EpochBar {
    /// A bar of `steps` steps for epoch `epoch` of `epochs` (from 1), hidden when `shown`
    /// is false.
    pub fn new(shown: bool, epoch: usize, epochs: usize, steps: usize) -> Self {
        let target = match shown {
            true => ProgressDrawTarget::stderr(),
            false => ProgressDrawTarget::hidden(),
        };
        let bar = ProgressBar::with_draw_target(Some(steps as u64), target);
        if let Ok(style) = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(format!("{epoch}/{epochs}"));
        EpochBar { bar }
    }

    /// After a step: `before` samples and seconds of the epoch's earlier segments.
    pub fn step(&self, s: &StepReport, before: (usize, f64), mean_loss: f64) {
        if s.step.is_multiple_of(20) {
            let rate = (before.0 + s.samples) as f64 / (before.1 + s.seconds).max(1e-9);
            self.bar
                .set_message(format!("loss {mean_loss:.4}, {rate:.0} samples/s"));
        }
        self.bar.inc(1);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The line printed after an epoch:
/// `epoch  2/10: train loss 0.1234, validation loss 0.0567, validation accuracy 98.21%, 3.2 s, 18750 samples/s`.
pub(super) fn epoch_line(r: &EpochRecord, validation: &str) -> String {
    let mut line = format!(
        "epoch {:>2}/{}: train loss {:.4}",
        r.epoch, r.epochs, r.train.mean_loss
    );
    if let Some(v) = &r.validation {
        line += &format!(
            ", {validation} loss {:.4}, {validation} accuracy {:.2}%",
            v.loss,
            100.0 * v.accuracy
        );
    }
    let rate = r.train.samples as f64 / r.train.seconds.max(1e-9);
    line += &format!(", {:.1} s, {rate:.0} samples/s", r.train.seconds);
    line
}
