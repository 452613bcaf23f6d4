//! The main job: train LeNet-5 on handwritten digits.
//!
//! `cargo run --release --example mnist` trains on the built-in synthetic digits (no files
//! needed); `-- --data DIR` trains on real MNIST IDX files. `-- --help` lists every option.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Write as _;
use std::path::PathBuf;
use tapegrad::autograd::runtime::parallel;
use tapegrad::nn::data::Dataset;
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::{idx, synthetic};
use tapegrad::nn::layers::Sequential;
use tapegrad::nn::models::lenet5;
use tapegrad::nn::train::checkpoint;
use tapegrad::nn::train::epoch::{EpochError, Schedule, train_epoch};
use tapegrad::nn::train::optim::{Adam, ConstantLr, CosineLr, LrSchedule, Optimizer, Sgd, StepLr};
use tapegrad::nn::train::{Evaluation, evaluate};

const HELP: &str = "\
Train LeNet-5 on handwritten digits.

Usage: cargo run --release --example mnist -- [OPTIONS]

Data:
  --data DIR           train on real MNIST IDX files in DIR (train-images-idx3-ubyte,
                       train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
                       raw or .gz). Without it, the built-in synthetic digits are used.
                       MNIST: http://yann.lecun.com/exdb/mnist/ (or any mirror of those files).
  --train-size N       synthetic digits only: training images [default: 20000]
  --test-size N        synthetic digits only: test images [default: 4000]

Training:
  --epochs N           passes over the training set [default: 3]
  --batch-size N       images per step [default: 64]
  --optimizer NAME     sgd (with Nesterov momentum) | adam | adamw [default: sgd]
  --lr RATE            initial learning rate [default: 0.05 for sgd, 0.001 for adam/adamw]
  --schedule NAME      cosine | step | constant: cosine decays the rate to lr/100 over all
                       steps, step halves it every 3 epochs [default: cosine]
  --momentum M         sgd only: momentum, with Nesterov [default: 0.9]
  --weight-decay W     weight decay (L2 for sgd/adam, decoupled for adamw)
                       [default: 0, 0.01 for adamw]
  --seed N             seeds the initial weights, the shuffling and the synthetic digits
                       [default: 1]
  --threads N          worker threads [default: one per core]

Files:
  --save PATH          write a checkpoint (safetensors) after every epoch
  --resume PATH        continue from a checkpoint written by --save
  --metrics PATH       write per-epoch metrics as JSON after every epoch

  -h, --help           print this help";

/// Everything the command line can set.
#[derive(Debug)]
struct Options {
    data: Option<PathBuf>,
    train_size: usize,
    test_size: usize,
    epochs: usize,
    batch_size: usize,
    optimizer: String,
    lr: Option<f64>,
    schedule: String,
    momentum: f64,
    weight_decay: Option<f64>,
    seed: u64,
    threads: Option<usize>,
    save: Option<PathBuf>,
    resume: Option<PathBuf>,
    metrics: Option<PathBuf>,
}

/// A one-line error: the message is printed as `error: ...` and the process exits with 2.
type Failure = String;

fn parse_options(args: &[String]) -> Result<Option<Options>, Failure> {
    let mut o = Options {
        data: None,
        train_size: synthetic::DEFAULT_TRAIN,
        test_size: synthetic::DEFAULT_TEST,
        epochs: 3,
        batch_size: 64,
        optimizer: "sgd".into(),
        lr: None,
        schedule: "cosine".into(),
        momentum: 0.9,
        weight_decay: None,
        seed: 1,
        threads: None,
        save: None,
        resume: None,
        metrics: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value (see --help)"))
        };
        fn number<N: std::str::FromStr>(flag: &str, v: &str) -> Result<N, Failure> {
            v.parse()
                .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
        }
        match flag.as_str() {
            "--data" => o.data = Some(PathBuf::from(value()?)),
            "--train-size" => o.train_size = number(flag, value()?)?,
            "--test-size" => o.test_size = number(flag, value()?)?,
            "--epochs" => o.epochs = number(flag, value()?)?,
            "--batch-size" => o.batch_size = number(flag, value()?)?,
            "--optimizer" => o.optimizer = value()?.to_lowercase(),
            "--lr" => o.lr = Some(number(flag, value()?)?),
            "--schedule" => o.schedule = value()?.to_lowercase(),
            "--momentum" => o.momentum = number(flag, value()?)?,
            "--weight-decay" => o.weight_decay = Some(number(flag, value()?)?),
            "--seed" => o.seed = number(flag, value()?)?,
            "--threads" => o.threads = Some(number(flag, value()?)?),
            "--save" => o.save = Some(PathBuf::from(value()?)),
            "--resume" => o.resume = Some(PathBuf::from(value()?)),
            "--metrics" => o.metrics = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    if !["sgd", "adam", "adamw"].contains(&o.optimizer.as_str()) {
        return Err(format!(
            "--optimizer: {:?} is not one of sgd, adam, adamw",
            o.optimizer
        ));
    }
    if !["cosine", "step", "constant"].contains(&o.schedule.as_str()) {
        return Err(format!(
            "--schedule: {:?} is not one of cosine, step, constant",
            o.schedule
        ));
    }
    if o.batch_size == 0 || o.epochs == 0 || o.threads == Some(0) {
        return Err("--batch-size, --epochs and --threads must be positive".into());
    }
    if o.data.is_none() && (o.train_size == 0 || o.test_size == 0) {
        return Err("--train-size and --test-size must be positive".into());
    }
    if o.lr.is_some_and(|lr| !(lr > 0.0 && lr.is_finite())) {
        return Err("--lr must be a positive number".into());
    }
    Ok(Some(o))
}

fn make_optimizer(o: &Options) -> Box<dyn Optimizer<f32>> {
    match o.optimizer.as_str() {
        "adam" => Box::new(Adam::new(o.lr.unwrap_or(1e-3)).weight_decay(o.weight_decay.unwrap_or(0.0))),
        "adamw" => Box::new(Adam::adamw(o.lr.unwrap_or(1e-3)).weight_decay(o.weight_decay.unwrap_or(0.01))),
        _ => Box::new(
            Sgd::new(o.lr.unwrap_or(0.05))
                .momentum(o.momentum)
                .nesterov(o.momentum > 0.0)
                .weight_decay(o.weight_decay.unwrap_or(0.0)),
        ),
    }
}

fn make_schedule(o: &Options, base: f64, steps_per_epoch: usize) -> Box<dyn LrSchedule> {
    match o.schedule.as_str() {
        "cosine" => Box::new(CosineLr {
            base,
            min: base / 100.0,
            total: o.epochs * steps_per_epoch,
        }),
        "step" => Box::new(StepLr {
            base,
            step_size: 3 * steps_per_epoch,
            gamma: 0.5,
        }),
        _ => Box::new(ConstantLr(base)),
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

/// One epoch's figures, as the metrics file records them.
struct EpochMetrics {
    epoch: usize,
    train_loss: f64,
    test_accuracy: f64,
    seconds: f64,
    samples_per_sec: f64,
}

fn write_metrics(path: &std::path::Path, epochs: &[EpochMetrics]) -> Result<(), Failure> {
    let mut json = String::from("{\"epochs\": [");
    for (i, m) in epochs.iter().enumerate() {
        let sep = if i == 0 { "\n  " } else { ",\n  " };
        let _ = write!(
            json,
            "{sep}{{\"epoch\": {}, \"train_loss\": {:.6}, \"test_accuracy\": {:.4}, \"seconds\": {:.3}, \"samples_per_sec\": {:.1}}}",
            m.epoch, m.train_loss, m.test_accuracy, m.seconds, m.samples_per_sec
        );
    }
    json.push_str("\n]}\n");
    checkpoint::write_atomically(path, json.as_bytes()).map_err(|e| e.to_string())
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

fn run(o: Options) -> Result<(), Failure> {
    if let Some(n) = o.threads {
        parallel::set_num_threads(n)?;
    }
    let (train, test, source) = load_data(&o)?;
    let mut model: Sequential<f32> = lenet5(&mut rand::rngs::StdRng::seed_from_u64(o.seed));
    let mut optimizer = make_optimizer(&o);
    let steps_per_epoch = train.len().div_ceil(o.batch_size);
    let schedule = make_schedule(&o, optimizer.learning_rate(), steps_per_epoch);
    let mut start_epoch = 0;
    if let Some(path) = &o.resume {
        let ckpt = checkpoint::load::<f32>(path).map_err(|e| e.to_string())?;
        ckpt.restore_model(&mut model).map_err(|e| e.to_string())?;
        ckpt.restore_optimizer(optimizer.as_mut())
            .map_err(|e| e.to_string())?;
        for (key, ours) in [
            ("seed", o.seed.to_string()),
            ("batch_size", o.batch_size.to_string()),
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
        start_epoch = ckpt
            .metadata
            .get("epoch")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        println!("resumed from {} after epoch {start_epoch}", path.display());
    }
    println!(
        "LeNet-5 on {source}: {} training and {} test images, {} epochs of {} steps (batch {}), {} lr {}, {} threads",
        train.len(),
        test.len(),
        o.epochs,
        steps_per_epoch,
        o.batch_size,
        optimizer.name(),
        optimizer.learning_rate(),
        parallel::num_threads()
    );
    let mut history = Vec::new();
    let mut last_eval = None;
    for epoch in start_epoch..o.epochs {
        let bar = ProgressBar::with_draw_target(Some(steps_per_epoch as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
                .map_err(|e| e.to_string())?
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, o.epochs));
        let batches =
            Batches::<f32>::new(&train, o.batch_size, Normalize::MNIST).shuffled(o.seed, epoch as u64);
        let schedule = Schedule {
            schedule: schedule.as_ref(),
            first_step: epoch * steps_per_epoch,
        };
        let summary = train_epoch(&mut model, optimizer.as_mut(), batches, Some(schedule), |s| {
            if s.step % 20 == 0 {
                let rate = s.samples as f64 / s.seconds;
                bar.set_message(format!("loss {:.4}, {rate:.0} samples/s", s.mean_loss));
            }
            bar.inc(1);
        })
        .map_err(|e| match e {
            EpochError::Diverged { .. } => format!("{e} (epoch {}): try a smaller --lr", epoch + 1),
            e => e.to_string(),
        })?;
        bar.finish_and_clear();
        let eval = evaluate(&mut model, &test, 500, Normalize::MNIST, 10).map_err(|e| e.to_string())?;
        let m = EpochMetrics {
            epoch: epoch + 1,
            train_loss: summary.mean_loss,
            test_accuracy: eval.accuracy,
            seconds: summary.seconds,
            samples_per_sec: summary.samples as f64 / summary.seconds,
        };
        println!(
            "epoch {:>2}/{}: train loss {:.4}, test accuracy {:.2}%, {:.1} s, {:.0} samples/s",
            m.epoch,
            o.epochs,
            m.train_loss,
            100.0 * m.test_accuracy,
            m.seconds,
            m.samples_per_sec
        );
        history.push(m);
        if let Some(path) = &o.metrics {
            write_metrics(path, &history)?;
        }
        if let Some(path) = &o.save {
            let meta = [
                ("epoch", (epoch + 1).to_string()),
                ("seed", o.seed.to_string()),
                ("batch_size", o.batch_size.to_string()),
                ("data", source.clone()),
            ];
            checkpoint::save(path, &model, Some(optimizer.as_ref()), &meta).map_err(|e| e.to_string())?;
        }
        last_eval = Some(eval);
    }
    let eval = match last_eval {
        Some(e) => e,
        None => evaluate(&mut model, &test, 500, Normalize::MNIST, 10).map_err(|e| e.to_string())?,
    };
    println!(
        "test accuracy: {:.2}% ({} images), test loss {:.4}",
        100.0 * eval.accuracy,
        test.len(),
        eval.loss
    );
    print_confusion(&eval);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse_options(&args) {
        Ok(None) => {
            println!("{HELP}");
            return;
        }
        Ok(Some(o)) => run(o),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        // One line, whatever the message holds.
        eprintln!("error: {}", e.replace('\n', " "));
        std::process::exit(2);
    }
}

use rand::SeedableRng;
