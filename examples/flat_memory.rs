//! Benchmark (issue #14): resident memory over a long augmented run. LeNet-5 trains on real
//! MNIST with the `standard` augmentation (a random affine of every image), SGD with Nesterov
//! momentum and a cosine schedule, as the main job trains, and is scored on the test set after
//! every epoch; after each epoch the process's resident set size (`VmRSS`) and what the buffer
//! pool holds are printed. The figure is the last epoch's resident memory over the mean of
//! epochs 2 and 3 (epoch 1 still fills the pool and the allocator's arenas): a run whose
//! buffer pool, tapes or data pipeline held growing state would show it here.
//!
//! ```text
//! MNIST_DIR=/path/to/mnist cargo run --release --example flat_memory -- [EPOCHS [TRAIN_IMAGES]]
//! ```
//!
//! `EPOCHS` defaults to 15; `TRAIN_IMAGES` (default: all 60 000) trains on the first that
//! many images only, for a quicker look (say so when quoting a figure made that way).

use tapegrad::autograd::runtime::{buffer, parallel};
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::idx::{Split, load_mnist};
use tapegrad::nn::data::transforms::Recipe;
use tapegrad::nn::layers::Sequential;
use tapegrad::nn::models::lenet5;
use tapegrad::nn::train::epoch::{Schedule, train_epoch};
use tapegrad::nn::train::evaluate;
use tapegrad::nn::train::optim::{CosineLr, Optimizer, Sgd};

/// The resident set size in KiB (`VmRSS` of `/proc/self/status`), 0 where there is none.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), String> {
    use rand::SeedableRng;
    let mut args = std::env::args().skip(1);
    let epochs: usize = args
        .next()
        .map_or(Ok(15), |a| a.parse())
        .map_err(|e| format!("EPOCHS: {e}"))?;
    let subset: Option<usize> = args
        .next()
        .map(|a| a.parse())
        .transpose()
        .map_err(|e| format!("TRAIN_IMAGES: {e}"))?;
    if epochs < 4 {
        return Err("EPOCHS must be at least 4 (the figure compares the last epoch with epochs 2-3)".into());
    }
    let dir =
        std::env::var("MNIST_DIR").map_err(|_| "set MNIST_DIR to a folder of MNIST IDX files".to_string())?;
    let mut train = load_mnist(&dir, Split::Train).map_err(|e| e.to_string())?;
    let test = load_mnist(&dir, Split::Test).map_err(|e| e.to_string())?;
    if let Some(n) = subset {
        let n = n.min(train.len());
        train.images.truncate(n * train.rows * train.cols);
        train.labels.truncate(n);
    }
    let augment = Recipe::STANDARD.compose();
    let mut model: Sequential<f32> = lenet5(&mut rand::rngs::StdRng::seed_from_u64(1));
    let mut sgd = Sgd::new(0.05).momentum(0.9).nesterov(true);
    let (batch, steps) = (64, train.len().div_ceil(64));
    let cosine = CosineLr {
        base: sgd.learning_rate(),
        min: sgd.learning_rate() / 100.0,
        total: epochs * steps,
    };
    println!(
        "LeNet-5, {} training images (augment standard), batch {batch}, {epochs} epochs, {} threads",
        train.len(),
        parallel::num_threads()
    );
    println!("epoch  resident MiB  pool MiB  test accuracy  seconds");
    let mut rss = Vec::new();
    for epoch in 0..epochs {
        let batches = Batches::<f32>::new(&train, batch, Normalize::MNIST)
            .map_err(|e| e.to_string())?
            .shuffled(1, epoch as u64)
            .augmented(&augment, 1, epoch as u64)
            .map_err(|e| e.to_string())?;
        let schedule = Schedule {
            schedule: &cosine,
            first_step: epoch * steps,
        };
        let summary =
            train_epoch(&mut model, &mut sgd, batches, Some(schedule), |_| {}).map_err(|e| e.to_string())?;
        let eval = evaluate(&mut model, &test, 500, Normalize::MNIST, 10).map_err(|e| e.to_string())?;
        let kib = resident_kib();
        rss.push(kib as f64);
        println!(
            "{:>5}  {:>12.1}  {:>8.1}  {:>12.2}%  {:>7.1}",
            epoch + 1,
            kib as f64 / 1024.0,
            buffer::held_bytes::<f32>() as f64 / (1 << 20) as f64,
            100.0 * eval.accuracy,
            summary.seconds
        );
    }
    let base = (rss[1] + rss[2]) / 2.0;
    let ratio = rss[epochs - 1] / base;
    println!(
        "resident memory: epoch {epochs} / mean of epochs 2-3 = {ratio:.4} (peak over epochs 2-{epochs}: {:.4}); {}",
        rss[1..].iter().fold(0.0f64, |m, &v| m.max(v)) / base,
        if ratio <= 1.05 {
            "within 5%"
        } else {
            "MORE than 5% growth"
        }
    );
    Ok(())
}
