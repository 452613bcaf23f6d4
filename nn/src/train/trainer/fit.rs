//! [`Trainer::fit`]: the loop.
//!
//! An epoch is trained in segments that end at checkpoint steps (every N global steps) and at
//! the step limit; each segment is one [`Strategy::train_epoch`] over the epoch's batches
//! `[start, end)` of the order of `(seed, epoch)`, so segments, resumed runs and
//! uninterrupted runs all see the same batches and the same augmentation draws.

use super::policy::Watch;
use super::progress::{EpochBar, epoch_line};
use super::{Control, EpochRecord, History, StopReason, TrainError, Trainer};
use crate::data::batches::Batches;
use crate::data::{Dataset, Pixel};
use crate::layers::Module;
use crate::train::checkpoint;
use crate::train::epoch::{EpochError, EpochSummary, Schedule};
use crate::train::strategy::Strategy;
use autograd::Element;
use std::path::Path;

impl<T: Element, S: Strategy, P: Pixel> Trainer<'_, T, S, P> {
    /// Trains `model` on `train`, evaluating it on `validation` (if given) after every
    /// epoch; returns what each epoch did. See [`Trainer`] for what it does in between.
    ///
    /// Errors: a configuration that cannot run ([`TrainError::Config`]: a batch size of 0,
    /// no training data, early stopping on validation values without validation data), a
    /// checkpoint to resume from that does not fit, an epoch that fails or diverges (naming
    /// the epoch and the step), a checkpoint that cannot be written, a callback's error.
    pub fn fit(
        &mut self,
        model: &mut dyn Module<T>,
        train: &Dataset<P>,
        validation: Option<&Dataset<P>>,
    ) -> Result<History, TrainError> {
        self.check(train, validation)?;
        let spe = self.steps_per_epoch(train.len());
        let mut watch = self.early_stopping.clone().map(Watch::new);
        let resumed = self.resume_into(model, spe, watch.as_mut());
        let agreed = self
            .strategy
            .agree(resumed.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        let start = match (resumed, agreed) {
            (Ok(steps), Ok(())) => steps,
            // One process: its own error, with its type.
            (Err(e), _) if self.strategy.processes() == 1 => return Err(e),
            (_, Err(message)) => return Err(TrainError::Processes(message)),
            (Err(e), Ok(())) => return Err(e),
        };
        self.strategy
            .broadcast(model, &mut *self.optimizer)
            .map_err(TrainError::Processes)?;
        let last = self.max_steps.unwrap_or(usize::MAX).min(self.epochs * spe);
        let mut history = History {
            epochs: Vec::new(),
            steps: start,
            resumed_at: start,
            stopped: StopReason::Finished,
        };
        for epoch in start / spe..self.epochs {
            let first = (epoch * spe).max(history.steps);
            if first >= last {
                break;
            }
            let end = ((epoch + 1) * spe).min(last);
            let summary = self.train_epoch(model, train, epoch, spe, first, end, watch.as_ref())?;
            history.steps = end;
            let validation = match validation {
                Some(v) => {
                    let batches = Batches::<T, P>::new(v, self.eval_batch_size, self.normalize.clone())?;
                    Some(
                        self.strategy
                            .evaluate(model, batches, self.classes, self.loss.as_ref())?,
                    )
                }
                None => None,
            };
            let mut record = EpochRecord {
                epoch: epoch + 1,
                epochs: self.epochs,
                steps: end,
                train: summary,
                validation,
                improved: true,
            };
            if let Some(w) = watch.as_mut() {
                record.improved = w.observe(&record, model);
            }
            if self.log && self.strategy.is_root() {
                println!("{}", epoch_line(&record, &self.validation_name));
            }
            let control = match self.on_epoch.as_mut() {
                Some(callback) => callback(model, &record).map_err(TrainError::Callback)?,
                None => Control::Continue,
            };
            self.save(model, end, spe, watch.as_ref(), record.improved)?;
            history.epochs.push(record);
            if let Some(w) = watch.as_ref().filter(|w| w.exhausted()) {
                history.stopped = StopReason::EarlyStopping {
                    best_epoch: w.best_epoch,
                    best: w.best.unwrap_or(f64::NAN),
                };
                if let Some(snapshot) = &w.snapshot {
                    snapshot.restore(model);
                }
                if self.log && self.strategy.is_root() {
                    println!(
                        "early stopping: {} did not improve for {} epochs (best {:.4} at epoch {})",
                        w.rule.monitor().name(),
                        w.bad_epochs,
                        w.best.unwrap_or(f64::NAN),
                        w.best_epoch
                    );
                }
                break;
            }
            if control == Control::Stop {
                history.stopped = StopReason::Callback;
                break;
            }
        }
        Ok(history)
    }

    fn check(&self, train: &Dataset<P>, validation: Option<&Dataset<P>>) -> Result<(), TrainError> {
        let fail = |why: &str| Err(TrainError::Config(why.to_string()));
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return fail("the batch size must be at least 1");
        }
        if train.is_empty() {
            return fail("the training data set is empty");
        }
        if let Some(e) = &self.early_stopping
            && e.monitor() != super::Monitor::TrainLoss
            && validation.is_none()
        {
            return fail(&format!(
                "early stopping on the {} needs validation data (pass some to fit, or monitor the train loss)",
                e.monitor().name()
            ));
        }
        Ok(())
    }

    /// Steps `[first, end)` of `epoch`, in segments that end at checkpoint steps.
    #[allow(clippy::too_many_arguments)]
    fn train_epoch(
        &mut self,
        model: &mut dyn Module<T>,
        train: &Dataset<P>,
        epoch: usize,
        spe: usize,
        first: usize,
        end: usize,
        watch: Option<&Watch<T>>,
    ) -> Result<EpochSummary, TrainError> {
        let root = self.strategy.is_root();
        let bar = EpochBar::new(self.progress_bar && root, epoch + 1, self.epochs, end - first);
        let mut total = EpochSummary {
            steps: 0,
            samples: 0,
            mean_loss: 0.0,
            seconds: 0.0,
        };
        let mut loss_sum = 0.0;
        let mut at = first;
        while at < end {
            let stop = match self.checkpoints.as_ref().and_then(|c| c.every()) {
                Some(n) => ((at / n + 1) * n).min(end),
                None => end,
            };
            let mut batches = Batches::<T, P>::new(train, self.batch_size, self.normalize.clone())?
                .shuffled(self.seed, epoch as u64)
                .starting_at(at - epoch * spe)
                .stopping_after(stop - at);
            if let Some(augment) = self.augment {
                batches = batches.augmented(augment, self.seed, epoch as u64)?;
            }
            let schedule = self.schedule.as_deref().map(|schedule| Schedule {
                schedule,
                first_step: at,
            });
            let before = (total.samples, total.seconds, loss_sum);
            let mut on_step = |s: &crate::train::epoch::StepReport| {
                let mean = (before.2 + s.mean_loss * s.samples as f64) / (before.0 + s.samples) as f64;
                bar.step(s, (before.0, before.1), mean);
            };
            let done = self
                .strategy
                .train_epoch(
                    model,
                    &mut *self.optimizer,
                    batches,
                    schedule,
                    self.loss.as_ref(),
                    &mut on_step,
                )
                .map_err(|e| {
                    let source = match e {
                        EpochError::Diverged { step, loss } => EpochError::Diverged {
                            step: step + at - epoch * spe,
                            loss,
                        },
                        e => e,
                    };
                    TrainError::Epoch {
                        epoch: epoch + 1,
                        source,
                    }
                })?;
            loss_sum += done.mean_loss * done.samples as f64;
            total.steps += done.steps;
            total.samples += done.samples;
            total.seconds += done.seconds;
            at = stop;
            if at < end {
                // A checkpoint inside the epoch (the one at its end follows the evaluation).
                self.save(model, at, spe, watch, false)?;
            }
        }
        bar.finish();
        total.mean_loss = loss_sum / total.samples.max(1) as f64;
        Ok(total)
    }

    /// Restores a checkpoint if resuming; returns the steps already taken.
    fn resume_into(
        &mut self,
        model: &mut dyn Module<T>,
        spe: usize,
        watch: Option<&mut Watch<T>>,
    ) -> Result<usize, TrainError> {
        let Some(path) = self.resume.clone() else {
            return Ok(0);
        };
        let ckpt = checkpoint::load::<T>(&path)?;
        let mut required = vec![
            ("seed".to_string(), self.seed.to_string()),
            ("batch_size".to_string(), self.batch_size.to_string()),
        ];
        required.extend(
            self.metadata
                .iter()
                .filter(|(_, _, must)| *must)
                .map(|(k, v, _)| (k.clone(), v.clone())),
        );
        for (key, now) in required {
            if let Some(saved) = ckpt.metadata.get(&key)
                && *saved != now
            {
                let saved = saved.clone();
                return Err(TrainError::Resume {
                    path,
                    key,
                    saved,
                    now,
                });
            }
        }
        ckpt.restore_model(model)?;
        ckpt.restore_optimizer(&mut *self.optimizer)?;
        if let Some(w) = watch {
            w.resume(&ckpt.metadata);
        }
        let count = |key: &str| ckpt.metadata.get(key).and_then(|e| e.parse::<usize>().ok());
        let steps = count("steps").unwrap_or(count("epoch").unwrap_or(0) * spe);
        if self.log && self.strategy.is_root() {
            println!("resumed from {} after step {steps}", path.display());
        }
        Ok(steps)
    }

    /// Rank 0 writes the checkpoint after `steps` steps (and the best model when `improved`),
    /// if checkpoints are configured; every process learns whether it worked.
    fn save(
        &self,
        model: &dyn Module<T>,
        steps: usize,
        spe: usize,
        watch: Option<&Watch<T>>,
        improved: bool,
    ) -> Result<(), TrainError> {
        let Some(c) = &self.checkpoints else {
            return Ok(());
        };
        let written = match self.strategy.is_root() {
            true => self
                .write(model, c.path(), steps, spe, watch, true)
                .and_then(|()| match (c.best(), improved) {
                    (Some(best), true) => self.write(model, best, steps, spe, watch, false),
                    _ => Ok(()),
                }),
            false => Ok(()),
        };
        let agreed = self.strategy.agree(written.map_err(|e| e.to_string()));
        agreed.map_err(TrainError::Processes)
    }

    fn write(
        &self,
        model: &dyn Module<T>,
        path: &Path,
        steps: usize,
        spe: usize,
        watch: Option<&Watch<T>>,
        with_optimizer: bool,
    ) -> Result<(), TrainError> {
        let mut meta: Vec<(&str, String)> = vec![
            ("epoch", (steps / spe).to_string()),
            ("steps", steps.to_string()),
            ("seed", self.seed.to_string()),
            ("batch_size", self.batch_size.to_string()),
            ("loss", self.loss.describe()),
        ];
        meta.extend(self.metadata.iter().map(|(k, v, _)| (k.as_str(), v.clone())));
        if let Some(w) = watch {
            meta.extend(w.metadata());
        }
        let optimizer = with_optimizer.then_some(&*self.optimizer as &dyn crate::train::optim::Optimizer<T>);
        checkpoint::save(path, model, optimizer, &meta)?;
        Ok(())
    }
}
