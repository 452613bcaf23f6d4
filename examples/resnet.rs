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
#[path = "mnist/data.rs"]
mod data;
#[allow(dead_code)]
#[path = "mnist/metrics.rs"]
mod metrics;
#[path = "mnist/setup.rs"]
mod setup;

use clap::CommandFactory;
use cli::{Failure, Options};
use data::{hold_out, load_data};
use metrics::{EpochMetrics, Metrics};
use rand::SeedableRng;
use setup::{Run, configure, loss_name, make_optimizer, make_schedule};
use tapegrad::autograd::runtime::parallel;
use tapegrad::nn::data::batches::Normalize;
use tapegrad::nn::layers::{Module, Sequential};
use tapegrad::nn::models::{ResNetConfig, resnet};
use tapegrad::nn::train::{Control, EpochRecord, Trainer, evaluate};

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
    let (train, validation) = hold_out(train, o.validation_size)?;
    let recipe = o.recipe()?;
    let augment = recipe.compose();
    let mut rng = rand::rngs::StdRng::seed_from_u64(o.seed);
    let mut model: Sequential<f32> = resnet(&ResNetConfig::default(), &mut rng);
    let mut optimizer = make_optimizer(&o);
    let steps_per_epoch = train.len().div_ceil(o.batch_size);
    let schedule = make_schedule(&o, optimizer.learning_rate(), steps_per_epoch);
    let params: usize = model.parameters().iter().map(|(_, p)| p.value().numel()).sum();
    println!(
        "ResNet ({params} parameters) on {source}: {} training and {} test images, {} epochs of {} steps (batch {}), {} lr {}, {}, {} threads, augmentation: {}",
        train.len(),
        test.len(),
        o.epochs,
        steps_per_epoch,
        o.batch_size,
        optimizer.name(),
        optimizer.learning_rate(),
        loss_name(&o),
        parallel::num_threads(),
        recipe.describe()
    );
    let mut history = Metrics {
        augment: recipe.describe(),
        loss: loss_name(&o),
        epochs: Vec::new(),
    };
    // Evaluation runs with the running statistics of batch norm (evaluation mode).
    let on_epoch = |model: &mut dyn Module<f32>,
                    r: &EpochRecord|
     -> Result<Control, Box<dyn std::error::Error + Send + Sync>> {
        let test_eval = match (&validation, &r.validation) {
            (None, Some(e)) => e.clone(),
            _ => evaluate(model, &test, 500, Normalize::MNIST, 10)?,
        };
        history
            .epochs
            .push(EpochMetrics::of(r, &test_eval, validation.is_some()));
        if validation.is_some() {
            println!("           test accuracy {:.2}%", 100.0 * test_eval.accuracy);
        }
        if let Some(path) = &o.metrics {
            history.write(path)?;
        }
        Ok(Control::Continue)
    };
    let run = Run {
        schedule,
        augment: &augment,
        recipe: recipe.describe(),
        source: source.clone(),
        held_out: validation.is_some(),
    };
    let trainer = Trainer::new(optimizer.as_mut())
        .resume_requires("model", "resnet")
        .on_epoch(on_epoch);
    configure(trainer, &o, run)
        .fit(&mut model, &train, Some(validation.as_ref().unwrap_or(&test)))
        .map_err(|e| e.to_string())?;
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
