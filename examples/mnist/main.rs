//! The main job: train LeNet-5 on handwritten digits.
//!
//! `cargo run --release --example mnist` trains on the built-in synthetic digits (no files
//! needed); `-- --data DIR` trains on real MNIST IDX files; `-- --augment standard` augments
//! the training images on the fly. `-- --help` lists every option.
//!
//! Built with `--features mpi`, `mpirun -np P target/release/examples/mnist ...` trains
//! data-parallel over P processes (`nn::distributed`); rank 0 prints and writes the files.

use std::error::Error;
use std::fmt::Write as _;
use tapegrad::autograd::runtime::parallel;
use tapegrad::nn::data::Dataset;
use tapegrad::nn::data::batches::Normalize;
use tapegrad::nn::data::idx;
use tapegrad::nn::data::transforms::{Compose, RandomAffine};
use tapegrad::nn::distributed::{Context, evaluate};
use tapegrad::nn::layers::{Module, Sequential};
use tapegrad::nn::models::lenet5;
use tapegrad::nn::torch_compat;
use tapegrad::nn::train::epoch::EpochError;
use tapegrad::nn::train::{Control, EpochRecord, Evaluation, TrainError, Trainer};

mod cli;
mod data;
mod metrics;
mod setup;

use cli::{Failure, Options};
use data::{hold_out, load_data};
use metrics::{EpochMetrics, Metrics};
use setup::{Run, configure, loss_name, make_optimizer, make_schedule};

/// Seeds the angles of `--eval-rotate`: one fixed rotated test set for every run, whatever
/// its `--seed`, so that runs can be compared.
const EVAL_ROTATE_SEED: u64 = 0x005E_ED0F_7E57;

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
    let (train, validation) = hold_out(train, o.validation_size)?;
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
    let root = ctx.is_root();
    let loss_name = loss_name(&o);
    if root {
        let processes = match ctx.size() {
            1 => String::new(),
            p => format!("{p} processes x "),
        };
        let decay = match o.weight_decay() {
            0.0 => String::new(),
            w => format!(" weight decay {w}"),
        };
        let held_out = match &validation {
            Some(v) => format!(", {} held out for validation", v.len()),
            None => String::new(),
        };
        println!(
            "LeNet-5 on {source}: {} training and {} test images{held_out}, {} epochs of {} steps (batch {}), {} lr {}{decay}, {loss_name}, {processes}{} threads",
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
        loss: loss_name,
        epochs: Vec::new(),
    };
    let mut last_test = None;
    let fitted = {
        let on_epoch =
            |model: &mut dyn Module<f32>, r: &EpochRecord| -> Result<Control, Box<dyn Error + Send + Sync>> {
                let test_eval = match (&validation, &r.validation) {
                    (None, Some(e)) => e.clone(),
                    _ => evaluate(ctx, model, &test, 500, Normalize::MNIST, 10)?,
                };
                let mut score = |data: Option<&Dataset>| -> tapegrad::autograd::Result<Option<f64>> {
                    data.map(|d| evaluate(ctx, model, d, 500, Normalize::MNIST, 10).map(|e| e.accuracy))
                        .transpose()
                };
                let (rotated_test_accuracy, extra_test_accuracy) =
                    (score(rotated.as_ref())?, score(extra.as_ref())?);
                let m = EpochMetrics {
                    rotated_test_accuracy,
                    extra_test_accuracy,
                    ..EpochMetrics::of(r, &test_eval, validation.is_some())
                };
                let mut also = Vec::new();
                if validation.is_some() {
                    also.push(format!("test accuracy {:.2}%", 100.0 * m.test_accuracy));
                }
                if let (Some(a), Some(deg)) = (m.rotated_test_accuracy, o.eval_rotate) {
                    also.push(format!("rotated ±{deg}°: {:.2}%", 100.0 * a));
                }
                if let Some(a) = m.extra_test_accuracy {
                    also.push(format!("--extra-test: {:.2}%", 100.0 * a));
                }
                if root && !also.is_empty() {
                    println!("           {}", also.join(", "));
                }
                history.epochs.push(m);
                let written = match (&o.metrics, root) {
                    (Some(path), true) => history.write(path),
                    _ => Ok(()),
                };
                ctx.agree(written)?;
                last_test = Some(test_eval);
                Ok(Control::Continue)
            };
        let run = Run {
            schedule,
            augment: &augment,
            recipe: recipe.describe(),
            source: source.clone(),
            held_out: validation.is_some(),
        };
        let trainer = Trainer::new(optimizer.as_mut()).strategy(ctx).on_epoch(on_epoch);
        configure(trainer, &o, run).fit(&mut model, &train, Some(validation.as_ref().unwrap_or(&test)))
    };
    fitted.map_err(|e| match e {
        TrainError::Epoch {
            epoch,
            source: source @ EpochError::Diverged { .. },
        } => format!("{source} (epoch {epoch}): try a smaller --lr"),
        TrainError::Epoch { source, .. } => source.to_string(),
        TrainError::Resume {
            path,
            key,
            saved,
            now,
        } => format!(
            "{}: saved with --{} {saved}, now {now}: pass the same value to resume",
            path.display(),
            key.replace('_', "-")
        ),
        e => e.to_string(),
    })?;
    let eval = match last_test {
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
            true => {
                torch_compat::export_sequential(&mut model, path, &[28, 28, 1]).map_err(|e| e.to_string())
            }
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
