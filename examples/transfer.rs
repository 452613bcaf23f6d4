//! Transfer from the built-in digits to real MNIST: trains LeNet-5 on the built-in synthetic
//! digits exactly as the main job's default run does (`cargo run --release --example mnist`:
//! the same data set, model, optimizer, schedule, batches and seeds) and scores it on the real
//! MNIST test set as well as on its own synthetic test split.
//!
//! ```sh
//! cargo run --release --example transfer -- --data path/to/mnist [--seed N] [--epochs N]
//!     [--train-size N]
//! ```
//!
//! `--data` defaults to the `MNIST_DIR` environment variable.

use std::path::PathBuf;
use std::time::Instant;
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::{idx, synthetic};
use tapegrad::nn::layers::Sequential;
use tapegrad::nn::models::lenet5;
use tapegrad::nn::train::epoch::{Schedule, train_epoch};
use tapegrad::nn::train::evaluate;
use tapegrad::nn::train::optim::{CosineLr, Optimizer, Sgd, Warmup};

use rand::SeedableRng;

const HELP: &str = "\
Train LeNet-5 on the built-in digits as the main job's default run does; score it on real MNIST.

Usage: cargo run --release --example transfer -- [OPTIONS]

  --data DIR         MNIST's IDX files (raw or .gz) [default: $MNIST_DIR]
  --seed N           the main job's --seed [default: 1]
  --epochs N         [default: 3]
  --train-size N     built-in training images [default: synthetic::DEFAULT_TRAIN]
  -h, --help         print this help";

struct Options {
    data: Option<PathBuf>,
    seed: u64,
    epochs: usize,
    train_size: usize,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        data: std::env::var_os("MNIST_DIR").map(PathBuf::from),
        seed: 1,
        epochs: 3,
        train_size: synthetic::DEFAULT_TRAIN,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        fn number<N: std::str::FromStr>(flag: &str, v: &str) -> Result<N, String> {
            v.parse()
                .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
        }
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--data" => o.data = Some(PathBuf::from(value()?)),
            "--seed" => o.seed = number(flag, value()?)?,
            "--epochs" => o.epochs = number(flag, value()?)?,
            "--train-size" => o.train_size = number(flag, value()?)?,
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    if o.epochs == 0 || o.train_size == 0 {
        return Err("--epochs and --train-size must be positive".into());
    }
    Ok(Some(o))
}

fn run(o: Options) -> Result<(), String> {
    let dir = o.data.ok_or("no MNIST: pass --data DIR or set MNIST_DIR")?;
    let mnist = idx::load_mnist(&dir, idx::Split::Test).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (train, test) = synthetic::train_test_split(o.train_size, synthetic::DEFAULT_TEST, o.seed);
    let generated = start.elapsed().as_secs_f64();

    // The main job's defaults: SGD with Nesterov momentum 0.9, lr 0.05 rising linearly over the
    // first 500 steps, then decayed by a cosine to lr/100 over all steps, batch 64, MNIST's
    // normalisation, weights and shuffles from --seed.
    let batch_size = 64;
    let mut model: Sequential<f32> = lenet5(&mut rand::rngs::StdRng::seed_from_u64(o.seed));
    let mut sgd = Sgd::new(0.05).momentum(0.9).nesterov(true);
    let steps_per_epoch = train.len().div_ceil(batch_size);
    let schedule = Warmup {
        steps: 500,
        inner: CosineLr {
            base: sgd.learning_rate(),
            min: sgd.learning_rate() / 100.0,
            total: o.epochs * steps_per_epoch,
        },
    };
    for epoch in 0..o.epochs {
        let batches =
            Batches::<f32>::new(&train, batch_size, Normalize::MNIST).shuffled(o.seed, epoch as u64);
        let schedule = Schedule {
            schedule: &schedule,
            first_step: epoch * steps_per_epoch,
        };
        train_epoch(&mut model, &mut sgd, batches, Some(schedule), |_| {}).map_err(|e| e.to_string())?;
    }
    let trained = start.elapsed().as_secs_f64() - generated;
    let own = evaluate(&mut model, &test, 500, Normalize::MNIST, 10).map_err(|e| e.to_string())?;
    let real = evaluate(&mut model, &mnist, 500, Normalize::MNIST, 10).map_err(|e| e.to_string())?;
    println!(
        "seed {}: {} built-in training images, {} epochs ({generated:.1} s generating, {trained:.1} s training)",
        o.seed,
        train.len(),
        o.epochs
    );
    println!(
        "built-in test accuracy {:.2}%, real MNIST test accuracy {:.2}% (loss {:.4})",
        100.0 * own.accuracy,
        100.0 * real.accuracy,
        real.loss
    );
    println!("real MNIST, recall per digit:");
    let recall: Vec<String> = real
        .confusion
        .iter()
        .enumerate()
        .map(|(d, row)| {
            format!(
                "{d}: {:.1}%",
                100.0 * row[d] as f64 / row.iter().sum::<usize>().max(1) as f64
            )
        })
        .collect();
    println!("  {}", recall.join("  "));
    println!("real MNIST confusion (rows: true digit, columns: predicted):");
    for (d, row) in real.confusion.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|c| format!("{c:>5}")).collect();
        println!("{d:>3} {}", cells.join(""));
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse(&args) {
        Ok(None) => {
            println!("{HELP}");
            return;
        }
        Ok(Some(o)) => run(o),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
