//! The main job: train LeNet-5 on handwritten digits.
//!
//! `cargo run --release --example mnist` trains on the built-in synthetic digits (no files
//! needed); `-- --data DIR` trains on real MNIST IDX files; `-- --augment standard` augments
//! the training images on the fly. `-- --help` lists every option.
//!
//! Built with `--features mpi`, `mpirun -np P target/release/examples/mnist ...` trains
//! data-parallel over P processes (`nn::distributed`); rank 0 prints and writes the files.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Write as _;
use tapegrad::autograd::runtime::parallel;
use tapegrad::nn::data::Dataset;
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::transforms::{Compose, RandomAffine};
use tapegrad::nn::data::{idx, synthetic};
use tapegrad::nn::distributed::{Context, evaluate, train_epoch};
use tapegrad::nn::layers::Sequential;
use tapegrad::nn::models::lenet5;
use tapegrad::nn::torch_compat;
use tapegrad::nn::train::Evaluation;
use tapegrad::nn::train::checkpoint;
use tapegrad::nn::train::epoch::{EpochError, Schedule};
use tapegrad::nn::train::optim::{
    Adadelta, Adam, ConstantLr, CosineLr, LrSchedule, Optimizer, RmsProp, Sgd, StepLr, Warmup,
};

mod cli;
mod metrics;

use cli::{Failure, OptimizerName, Options, ScheduleName};
use metrics::{EpochMetrics, Metrics};

/// Seeds the angles of `--eval-rotate`: one fixed rotated test set for every run, whatever
/// its `--seed`, so that runs can be compared.
const EVAL_ROTATE_SEED: u64 = 0x005E_ED0F_7E57;

fn make_optimizer(o: &Options) -> Box<dyn Optimizer<f32>> {
    match o.optimizer {
        OptimizerName::Adam => {
            Box::new(Adam::new(o.lr.unwrap_or(1e-3)).weight_decay(o.weight_decay.unwrap_or(0.0)))
        }
        OptimizerName::Adamw => {
            Box::new(Adam::adamw(o.lr.unwrap_or(1e-3)).weight_decay(o.weight_decay.unwrap_or(0.01)))
        }
        OptimizerName::Rmsprop => {
            Box::new(RmsProp::new(o.lr.unwrap_or(1e-3)).weight_decay(o.weight_decay.unwrap_or(0.0)))
        }
        OptimizerName::Adadelta => {
            Box::new(Adadelta::new(o.lr.unwrap_or(1.0)).weight_decay(o.weight_decay.unwrap_or(0.0)))
        }
        OptimizerName::Sgd => Box::new(
            Sgd::new(o.lr.unwrap_or(0.05))
                .momentum(o.momentum)
                .nesterov(o.momentum > 0.0)
                .weight_decay(o.weight_decay.unwrap_or(0.0)),
        ),
    }
}

fn make_schedule(o: &Options, base: f64, steps_per_epoch: usize) -> Box<dyn LrSchedule> {
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

fn load_data(o: &Options) -> Result<(Dataset, Dataset, String), Failure> {
    match &o.data {
        Some(dir) => {
            let train = idx::load_mnist(dir, idx::Split::Train).map_err(|e| e.to_string())?;
            let test = idx::load_mnist(dir, idx::Split::Test).map_err(|e| e.to_string())?;
            if (train.rows, train.cols) != (28, 28) || (test.rows, test.cols) != (28, 28) {
                return Err(format!(
                    "{}: LeNet-5 needs 28x28 images, the files hold {}x{}",
                    dir.display(),
                    train.rows,
                    train.cols
                ));
            }
            Ok((train, test, format!("MNIST from {}", dir.display())))
        }
        None => {
            let (train, test) = synthetic::train_test_split(o.train_size, o.test_size, o.seed);
            Ok((train, test, "built-in synthetic digits".into()))
        }
    }
}

fn print_confusion(e: &Evaluation) {
    println!("confusion matrix (rows: true digit, columns: predicted):");
    let mut header = String::from("      ");
    for p in 0..e.confusion.len() {
        let _ = write!(header, "{p:>6}");
    }
    println!("{header}");
    for (label, row) in e.confusion.iter().enumerate() {
        let mut line = format!("{label:>6}");
        for &c in row {
            let _ = write!(line, "{c:>6}");
        }
        println!("{line}");
    }
}

fn run(o: Options, ctx: &Context) -> Result<(), Failure> {
    let agreed = |e: tapegrad::nn::distributed::DistributedError| e.to_string();
    if let Some(n) = o.threads.or(ctx.threads_per_process()) {
        parallel::set_num_threads(n)?;
    }
    // Every tape made from now on (each training step's) checks its ops and gradients.
    tapegrad::autograd::anomaly::set_detect_anomaly(o.detect_anomaly);
    let (train, test, source) = ctx.agree(load_data(&o)).map_err(agreed)?;
    let recipe = o.recipe()?;
    let augment = recipe.compose();
    let rotated = match o.eval_rotate {
        Some(deg) if deg > 0.0 => {
            let turn = Compose::new().then(RandomAffine::new().degrees(deg), 1.0);
            Some(
                turn.apply_to_dataset(&test, EVAL_ROTATE_SEED)
                    .map_err(|e| e.to_string())?,
            )
        }
        _ => None,
    };
    let extra = ctx.agree(load_extra(&o)).map_err(agreed)?;
    let mut model: Sequential<f32> = lenet5(&mut rand::rngs::StdRng::seed_from_u64(o.seed));
    let mut optimizer = make_optimizer(&o);
    let steps_per_epoch = train.len().div_ceil(o.batch_size);
    let schedule = make_schedule(&o, optimizer.learning_rate(), steps_per_epoch);
    if let Some(path) = &o.import_torch {
        let imported =
            torch_compat::import_sequential(&mut model, path, &[28, 28, 1]).map_err(|e| e.to_string());
        ctx.agree(imported).map_err(agreed)?;
        if ctx.is_root() {
            println!("weights from the PyTorch state_dict {}", path.display());
        }
    }
    let resumed = resume(&o, &mut model, optimizer.as_mut(), &recipe, steps_per_epoch);
    let start_step = ctx.agree(resumed).map_err(agreed)?;
    // Every process trains rank 0's model (the same seed makes the same one; this makes sure).
    ctx.broadcast_model(&mut model).map_err(agreed)?;
    ctx.broadcast_optimizer(optimizer.as_mut()).map_err(agreed)?;
    let root = ctx.is_root();
    if let (Some(path), true) = (&o.resume, root) {
        println!("resumed from {} after step {start_step}", path.display());
    }
    let processes = match ctx.size() {
        1 => String::new(),
        p => format!("{p} processes x "),
    };
    if root {
        println!(
            "LeNet-5 on {source}: {} training and {} test images, {} epochs of {} steps (batch {}), {} lr {}, {processes}{} threads",
            train.len(),
            test.len(),
            o.epochs,
            steps_per_epoch,
            o.batch_size,
            optimizer.name(),
            optimizer.learning_rate(),
            parallel::num_threads()
        );
        println!("augmentation: {}", recipe.describe());
    }
    let mut history = Metrics {
        augment: recipe.describe(),
        epochs: Vec::new(),
    };
    let mut last_eval = None;
    let last_step = o.steps.unwrap_or(usize::MAX).min(o.epochs * steps_per_epoch);
    for epoch in start_step / steps_per_epoch..o.epochs {
        let first_step = (epoch * steps_per_epoch).max(start_step);
        if first_step >= last_step {
            break;
        }
        let skip = first_step - epoch * steps_per_epoch;
        let steps = (last_step - first_step).min(steps_per_epoch - skip);
        let target = if root {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(steps as u64), target);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
                .map_err(|e| e.to_string())?
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, o.epochs));
        let mut batches = Batches::<f32>::new(&train, o.batch_size, Normalize::MNIST)
            .map_err(|e| e.to_string())?
            .shuffled(o.seed, epoch as u64)
            .starting_at(skip)
            .stopping_after(steps);
        if !augment.is_empty() {
            batches = batches
                .augmented(&augment, o.seed, epoch as u64)
                .map_err(|e| e.to_string())?;
        }
        let schedule = Schedule {
            schedule: schedule.as_ref(),
            first_step,
        };
        let summary = train_epoch(
            ctx,
            &mut model,
            optimizer.as_mut(),
            batches,
            Some(schedule),
            |s| {
                if s.step % 20 == 0 {
                    let rate = s.samples as f64 / s.seconds;
                    bar.set_message(format!("loss {:.4}, {rate:.0} samples/s", s.mean_loss));
                }
                bar.inc(1);
            },
        )
        .map_err(|e| match e {
            EpochError::Diverged { .. } => format!("{e} (epoch {}): try a smaller --lr", epoch + 1),
            e => e.to_string(),
        })?;
        bar.finish_and_clear();
        let eval = evaluate(ctx, &mut model, &test, 500, Normalize::MNIST, 10).map_err(|e| e.to_string())?;
        let mut score = |data: Option<&Dataset>| -> Result<Option<f64>, Failure> {
            data.map(|d| evaluate(ctx, &mut model, d, 500, Normalize::MNIST, 10).map(|e| e.accuracy))
                .transpose()
                .map_err(|e| e.to_string())
        };
        let (rotated_test_accuracy, extra_test_accuracy) = (score(rotated.as_ref())?, score(extra.as_ref())?);
        let m = EpochMetrics {
            epoch: epoch + 1,
            train_loss: summary.mean_loss,
            test_accuracy: eval.accuracy,
            rotated_test_accuracy,
            extra_test_accuracy,
            seconds: summary.seconds,
            samples_per_sec: summary.samples as f64 / summary.seconds,
        };
        let mut also = String::new();
        if let (Some(a), Some(deg)) = (m.rotated_test_accuracy, o.eval_rotate) {
            let _ = write!(also, ", rotated ±{deg}°: {:.2}%", 100.0 * a);
        }
        if let Some(a) = m.extra_test_accuracy {
            let _ = write!(also, ", --extra-test: {:.2}%", 100.0 * a);
        }
        if root {
            println!(
                "epoch {:>2}/{}: train loss {:.4}, test accuracy {:.2}%{also}, {:.1} s, {:.0} samples/s",
                m.epoch,
                o.epochs,
                m.train_loss,
                100.0 * m.test_accuracy,
                m.seconds,
                m.samples_per_sec
            );
        }
        history.epochs.push(m);
        let done = first_step + summary.steps;
        let written = match root {
            true => write_files(
                &o,
                &history,
                &model,
                optimizer.as_ref(),
                &recipe,
                &source,
                done,
                steps_per_epoch,
            ),
            false => Ok(()),
        };
        ctx.agree(written).map_err(agreed)?;
        last_eval = Some(eval);
    }
    let eval = match last_eval {
        Some(e) => e,
        None => evaluate(ctx, &mut model, &test, 500, Normalize::MNIST, 10).map_err(|e| e.to_string())?,
    };
    if root {
        println!(
            "test accuracy: {:.2}% ({} images), test loss {:.4}",
            100.0 * eval.accuracy,
            test.len(),
            eval.loss
        );
        print_confusion(&eval);
    }
    if let Some(path) = &o.export_torch {
        let exported = match root {
            true => torch_compat::export_sequential(&model, path, &[28, 28, 1]).map_err(|e| e.to_string()),
            false => Ok(()),
        };
        ctx.agree(exported).map_err(agreed)?;
        if root {
            println!("wrote the PyTorch state_dict {}", path.display());
        }
    }
    Ok(())
}

/// The `--extra-test` set, if asked for.
fn load_extra(o: &Options) -> Result<Option<Dataset>, Failure> {
    match &o.extra_test {
        Some(dir) => {
            let t = idx::load_mnist(dir, idx::Split::Test).map_err(|e| e.to_string())?;
            if (t.rows, t.cols) != (28, 28) {
                return Err(format!(
                    "{}: LeNet-5 needs 28x28 images, the files hold {}x{}",
                    dir.display(),
                    t.rows,
                    t.cols
                ));
            }
            Ok(Some(t))
        }
        None => Ok(None),
    }
}

/// `--resume`: restores the model and the optimizer, checks the options that must not
/// change, and returns the optimizer steps already taken.
fn resume(
    o: &Options,
    model: &mut Sequential<f32>,
    optimizer: &mut dyn Optimizer<f32>,
    recipe: &tapegrad::nn::data::transforms::Recipe,
    steps_per_epoch: usize,
) -> Result<usize, Failure> {
    let Some(path) = &o.resume else {
        return Ok(0);
    };
    let ckpt = checkpoint::load::<f32>(path).map_err(|e| e.to_string())?;
    ckpt.restore_model(model).map_err(|e| e.to_string())?;
    ckpt.restore_optimizer(optimizer).map_err(|e| e.to_string())?;
    for (key, ours) in [
        ("seed", o.seed.to_string()),
        ("batch_size", o.batch_size.to_string()),
        ("augment", recipe.describe()),
    ] {
        if let Some(theirs) = ckpt.metadata.get(key)
            && *theirs != ours
        {
            return Err(format!(
                "{}: saved with --{} {theirs}, now {ours}: pass the same value to resume",
                path.display(),
                key.replace('_', "-")
            ));
        }
    }
    let count = |key: &str| ckpt.metadata.get(key).and_then(|e| e.parse::<usize>().ok());
    let epoch = count("epoch").unwrap_or(0);
    Ok(count("steps").unwrap_or(epoch * steps_per_epoch))
}

/// Rank 0's files after an epoch (or the part of one that `--steps` allowed): the metrics
/// and the checkpoint.
#[allow(clippy::too_many_arguments)]
fn write_files(
    o: &Options,
    history: &Metrics,
    model: &Sequential<f32>,
    optimizer: &dyn Optimizer<f32>,
    recipe: &tapegrad::nn::data::transforms::Recipe,
    source: &str,
    steps: usize,
    steps_per_epoch: usize,
) -> Result<(), Failure> {
    if let Some(path) = &o.metrics {
        history.write(path)?;
    }
    if let Some(path) = &o.save {
        let meta = [
            ("epoch", (steps / steps_per_epoch).to_string()),
            ("steps", steps.to_string()),
            ("seed", o.seed.to_string()),
            ("batch_size", o.batch_size.to_string()),
            ("augment", recipe.describe()),
            ("data", source.to_string()),
        ];
        checkpoint::save(path, model, Some(optimizer), &meta).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn main() {
    // Under mpirun, OpenMPI spins while a process waits in the all-reduce; on cores shared with
    // other work that made 2 processes 0.6x one (docs/distributed.md). Yielding costs next to
    // nothing on a dedicated core (sched_yield returns at once), so it is the default here;
    // set OMPI_MCA_mpi_yield_when_idle=0 to spin. Read by MPI at init; other MPIs ignore it.
    if std::env::var_os("OMPI_MCA_mpi_yield_when_idle").is_none() {
        // SAFETY: the first statement of main: no other thread exists to read the environment.
        unsafe { std::env::set_var("OMPI_MCA_mpi_yield_when_idle", "1") };
    }
    let ctx = Context::init().unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match ctx.agree(Options::parse_from_args(&args)) {
        Ok(None) => return,
        Ok(Some(o)) => run(o, &ctx),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        // One line, whatever the message holds; every process ends.
        ctx.exit_with_error(&e);
    }
}

use rand::SeedableRng;
