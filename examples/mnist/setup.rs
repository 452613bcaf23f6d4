//! The main job's training setup from its options, shared with the other training examples:
//! the optimizer, the learning-rate schedule, and the `Trainer`'s loss, checkpoints, resume,
//! step limit and early stopping.

use crate::cli::{LossName, OptimizerName, Options, ScheduleName};
use tapegrad::nn::data::batches::Normalize;
use tapegrad::nn::data::transforms::Compose;
use tapegrad::nn::train::loss::{CrossEntropy, Loss, OneHotMse};
use tapegrad::nn::train::optim::{
    Adadelta, Adam, ConstantLr, CosineLr, LrSchedule, Optimizer, RmsProp, Sgd, StepLr, Warmup,
};
use tapegrad::nn::train::{Checkpoints, EarlyStopping, Monitor, Strategy, Trainer};

/// `--optimizer`, `--lr`, `--momentum`, `--weight-decay`.
pub fn make_optimizer(o: &Options) -> Box<dyn Optimizer<f32>> {
    let wd = o.weight_decay();
    match o.optimizer {
        OptimizerName::Adam => Box::new(Adam::new(o.lr.unwrap_or(1e-3)).weight_decay(wd)),
        OptimizerName::Adamw => Box::new(Adam::adamw(o.lr.unwrap_or(1e-3)).weight_decay(wd)),
        OptimizerName::Rmsprop => Box::new(RmsProp::new(o.lr.unwrap_or(1e-3)).weight_decay(wd)),
        OptimizerName::Adadelta => Box::new(Adadelta::new(o.lr.unwrap_or(1.0)).weight_decay(wd)),
        OptimizerName::Sgd => Box::new(
            Sgd::new(o.lr.unwrap_or(0.05))
                .momentum(o.momentum)
                .nesterov(o.momentum > 0.0)
                .weight_decay(wd),
        ),
    }
}

pub fn make_schedule(o: &Options, base: f64, steps_per_epoch: usize) -> Box<dyn LrSchedule> {
    fn warm(steps: usize, inner: impl LrSchedule + 'static) -> Box<dyn LrSchedule> {
        Box::new(Warmup { steps, inner })
    }
    let steps = o.warmup;
    match o.schedule {
        ScheduleName::Cosine => warm(
            steps,
            CosineLr {
                base,
                min: base / 100.0,
                total: o.epochs * steps_per_epoch,
            },
        ),
        ScheduleName::Step => warm(
            steps,
            StepLr {
                base,
                step_size: 3 * steps_per_epoch,
                gamma: 0.5,
            },
        ),
        ScheduleName::Constant => warm(steps, ConstantLr(base)),
    }
}

/// `--loss` and `--label-smoothing`, as the logs and metrics name it.
pub fn loss_name(o: &Options) -> String {
    match o.loss {
        LossName::Mse => Loss::<f32>::describe(&OneHotMse),
        LossName::CrossEntropy => Loss::<f32>::describe(&CrossEntropy::smoothed(o.label_smoothing())),
    }
}

/// What a training example decided before configuring its `Trainer`.
pub struct Run<'a> {
    /// The learning-rate schedule.
    pub schedule: Box<dyn LrSchedule + 'a>,
    /// The augmentation (an empty composition for none).
    pub augment: &'a Compose<u8>,
    /// The augmentation recipe as `Recipe::describe` writes it (a resumed run must match).
    pub recipe: String,
    /// Where the data came from (saved in checkpoints).
    pub source: String,
    /// Whether the validation data is held out of the training set (else it is the test set).
    pub held_out: bool,
}

/// The `Trainer` configured from the options: MNIST's normalisation, `run`'s schedule and
/// augmentation, epochs, batch size, seed, `--loss`, `--save` (with `--checkpoint-every`,
/// `--save-best`), `--resume`, `--steps`, `--early-stopping` (on the validation loss, with
/// `--min-delta`).
pub fn configure<'a, S: Strategy>(t: Trainer<'a, f32, S>, o: &Options, run: Run<'a>) -> Trainer<'a, f32, S> {
    let mut t = t
        .normalize(Normalize::MNIST)
        .schedule_boxed(run.schedule)
        .augment(run.augment)
        .resume_requires("augment", run.recipe)
        .metadata("data", run.source)
        .validation_name(if run.held_out { "validation" } else { "test" })
        .epochs(o.epochs)
        .batch_size(o.batch_size)
        .seed(o.seed);
    t = match o.loss {
        LossName::Mse => t.loss(OneHotMse),
        LossName::CrossEntropy => t.loss(CrossEntropy::smoothed(o.label_smoothing())),
    };
    if let Some(path) = &o.save {
        let mut c = Checkpoints::new(path).every_steps(o.checkpoint_every.unwrap_or(0));
        if let Some(best) = &o.save_best {
            c = c.keep_best(best);
        }
        t = t.checkpoints(c);
    }
    if let Some(path) = &o.resume {
        t = t.resume_from(path);
    }
    if let Some(n) = o.steps {
        t = t.max_steps(n);
    }
    if let Some(patience) = o.early_stopping {
        let rule = EarlyStopping::new(Monitor::ValidationLoss)
            .patience(patience)
            .min_delta(o.min_delta);
        t = t.early_stopping(rule);
    }
    t
}
