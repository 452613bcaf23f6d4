//! A small ResNet on handwritten digits: a 3x3 stem, three stages of residual blocks (16
//! channels at 28x28, 32 at 14x14, 64 at 7x7), global average pooling and a dense layer,
//! with batch norm after every convolution (`nn::models::resnet`).
//!
//! `cargo run --release --example resnet -- --data DIR --epochs 5` trains on real MNIST;
//! without `--data`, on the built-in digits. The options are the main job's
//! (`cargo run --example mnist -- --help`); `--save` writes checkpoints with the running
//! statistics (`tools/resnet_torch_eval.py` scores one in PyTorch). `-- --help` lists them.

#[allow(dead_code)]
#[path = "mnist/cli.rs"]
mod cli;
#[allow(dead_code)]
#[path = "mnist/metrics.rs"]
mod metrics;

use clap::CommandFactory;
use cli::{Failure, OptimizerName, Options, ScheduleName};
use metrics::{EpochMetrics, Metrics};
use rand::SeedableRng;
use tapegrad::autograd::runtime::parallel;
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::{Dataset, idx, synthetic};
use tapegrad::nn::layers::{Module, Sequential};
use tapegrad::nn::models::{ResNetConfig, resnet};
use tapegrad::nn::train::checkpoint;
use tapegrad::nn::train::epoch::{Schedule, train_epoch};
use tapegrad::nn::train::evaluate;
use tapegrad::nn::train::optim::{
    Adadelta, Adam, ConstantLr, CosineLr, LrSchedule, Optimizer, RmsProp, Sgd, StepLr, Warmup,
};

fn make_optimizer(o: &Options) -> Box<dyn Optimizer<f32>> {
    let wd = o.weight_decay;
    match o.optimizer {
        OptimizerName::Adam => Box::new(Adam::new(o.lr.unwrap_or(1e-3)).weight_decay(wd.unwrap_or(0.0))),
        OptimizerName::Adamw => Box::new(Adam::adamw(o.lr.unwrap_or(1e-3)).weight_decay(wd.unwrap_or(0.01))),
        OptimizerName::Rmsprop => {
            Box::new(RmsProp::new(o.lr.unwrap_or(1e-3)).weight_decay(wd.unwrap_or(0.0)))
        }
        OptimizerName::Adadelta => {
            Box::new(Adadelta::new(o.lr.unwrap_or(1.0)).weight_decay(wd.unwrap_or(0.0)))
        }
        OptimizerName::Sgd => Box::new(
            Sgd::new(o.lr.unwrap_or(0.05))
                .momentum(o.momentum)
                .nesterov(o.momentum > 0.0)
                .weight_decay(wd.unwrap_or(0.0)),
        ),
    }
}

fn make_schedule(o: &Options, base: f64, steps_per_epoch: usize) -> Box<dyn LrSchedule> {
    let steps = o.warmup;
    match o.schedule {
        ScheduleName::Cosine => Box::new(Warmup {
            steps,
            inner: CosineLr {
                base,
                min: base / 100.0,
                total: o.epochs * steps_per_epoch,
            },
        }),
        ScheduleName::Step => Box::new(Warmup {
            steps,
            inner: StepLr {
                base,
                step_size: 3 * steps_per_epoch,
                gamma: 0.5,
            },
        }),
        ScheduleName::Constant => Box::new(Warmup {
            steps,
            inner: ConstantLr(base),
        }),
    }
}

fn load_data(o: &Options) -> Result<(Dataset, Dataset, String), Failure> {
    match &o.data {
        Some(dir) => {
            let train = idx::load_mnist(dir, idx::Split::Train).map_err(|e| e.to_string())?;
            let test = idx::load_mnist(dir, idx::Split::Test).map_err(|e| e.to_string())?;
            Ok((train, test, format!("MNIST from {}", dir.display())))
        }
        None => {
            let (train, test) = synthetic::train_test_split(o.train_size, o.test_size, o.seed);
            Ok((train, test, "built-in synthetic digits".into()))
        }
    }
}

fn run(o: Options) -> Result<(), Failure> {
    if o.extra_test.is_some()
        || o.eval_rotate.is_some()
        || o.import_torch.is_some()
        || o.export_torch.is_some()
    {
        return Err(
            "--extra-test, --eval-rotate, --import-torch and --export-torch are the main job's (examples/mnist)".into(),
        );
    }
    if let Some(n) = o.threads {
        parallel::set_num_threads(n)?;
    }
    let (train, test, source) = load_data(&o)?;
    let recipe = o.recipe()?;
    let augment = recipe.compose();
    let mut rng = rand::rngs::StdRng::seed_from_u64(o.seed);
    let mut model: Sequential<f32> = resnet(&ResNetConfig::default(), &mut rng);
    let mut optimizer = make_optimizer(&o);
    let steps_per_epoch = train.len().div_ceil(o.batch_size);
    let schedule = make_schedule(&o, optimizer.learning_rate(), steps_per_epoch);
    let mut start_epoch = 0;
    if let Some(path) = &o.resume {
        let ckpt = checkpoint::load::<f32>(path).map_err(|e| e.to_string())?;
        ckpt.restore_model(&mut model).map_err(|e| e.to_string())?;
        ckpt.restore_optimizer(optimizer.as_mut())
            .map_err(|e| e.to_string())?;
        start_epoch = ckpt
            .metadata
            .get("epoch")
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        println!("resumed from {} after epoch {start_epoch}", path.display());
    }
    let params: usize = model.parameters().iter().map(|(_, p)| p.value().numel()).sum();
    println!(
        "ResNet ({params} parameters) on {source}: {} training and {} test images, {} epochs of {} steps (batch {}), {} lr {}, {} threads, augmentation: {}",
        train.len(),
        test.len(),
        o.epochs,
        steps_per_epoch,
        o.batch_size,
        optimizer.name(),
        optimizer.learning_rate(),
        parallel::num_threads(),
        recipe.describe()
    );
    let mut history = Metrics {
        augment: recipe.describe(),
        epochs: Vec::new(),
    };
    for epoch in start_epoch..o.epochs {
        let mut batches = Batches::<f32>::new(&train, o.batch_size, Normalize::MNIST)
            .map_err(|e| e.to_string())?
            .shuffled(o.seed, epoch as u64);
        if !augment.is_empty() {
            batches = batches
                .augmented(&augment, o.seed, epoch as u64)
                .map_err(|e| e.to_string())?;
        }
        let schedule = Schedule {
            schedule: schedule.as_ref(),
            first_step: epoch * steps_per_epoch,
        };
        let summary = train_epoch(&mut model, optimizer.as_mut(), batches, Some(schedule), |_| {})
            .map_err(|e| e.to_string())?;
        let eval = evaluate(&mut model, &test, 500, Normalize::MNIST, 10).map_err(|e| e.to_string())?;
        let m = EpochMetrics {
            epoch: epoch + 1,
            train_loss: summary.mean_loss,
            test_accuracy: eval.accuracy,
            rotated_test_accuracy: None,
            extra_test_accuracy: None,
            seconds: summary.seconds,
            samples_per_sec: summary.samples as f64 / summary.seconds,
        };
        println!(
            "epoch {:>2}/{}: train loss {:.4}, test accuracy {:.2}% (running statistics), {:.1} s, {:.0} samples/s",
            m.epoch,
            o.epochs,
            m.train_loss,
            100.0 * m.test_accuracy,
            m.seconds,
            m.samples_per_sec
        );
        history.epochs.push(m);
        if let Some(path) = &o.metrics {
            history.write(path)?;
        }
        if let Some(path) = &o.save {
            let meta = [
                ("epoch", (epoch + 1).to_string()),
                ("seed", o.seed.to_string()),
                ("model", "resnet".to_string()),
                ("test_accuracy", format!("{:?}", eval.accuracy)),
                ("data", source.clone()),
            ];
            checkpoint::save(path, &model, Some(optimizer.as_ref()), &meta).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        let mut cmd = Options::command()
            .name("resnet")
            .about("Train a small ResNet on handwritten digits: real MNIST with --data DIR, else the built-in digits.")
            .override_usage("cargo run --release --example resnet -- [OPTIONS]");
        let _ = cmd.print_help();
        return;
    }
    let result = match Options::parse_from_args(&args) {
        Ok(None) => return,
        Ok(Some(o)) => run(o),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("error: {}", e.replace('\n', " "));
        std::process::exit(2);
    }
}
