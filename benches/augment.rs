//! What on-the-fly augmentation costs an epoch (issue #12): plain and augmented LeNet-5
//! epochs on real MNIST, alternating, as the main job runs them (SGD with Nesterov momentum,
//! batch 64), and the transforms alone.
//!
//! ```text
//! MNIST_DIR=path/to/mnist cargo bench --bench augment -- [--rounds 5] [--threads 2]
//!     [--augment standard] [--elastic A,S,P]
//! ```
//!
//! Prints each epoch's seconds, the median of each kind and their ratio.

use rand::SeedableRng;
use std::time::Instant;
use tapegrad::autograd::runtime::parallel;
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::idx;
use tapegrad::nn::data::transforms::{Compose, Recipe};
use tapegrad::nn::models::lenet5;
use tapegrad::nn::train::epoch::train_epoch;
use tapegrad::nn::train::optim::Sgd;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let rounds: usize = value("--rounds")
        .map_or(Ok(5), |v| v.parse())
        .map_err(|e| format!("--rounds: {e}"))?;
    let threads: usize = value("--threads")
        .map_or(Ok(2), |v| v.parse())
        .map_err(|e| format!("--threads: {e}"))?;
    let mut recipe =
        Recipe::named(&value("--augment").unwrap_or_else(|| "standard".into())).map_err(|e| e.to_string())?;
    if let Some(spec) = value("--elastic") {
        let v: Vec<f32> = spec.split(',').filter_map(|p| p.parse().ok()).collect();
        let [a, s, p] = v[..] else {
            return Err("--elastic: expected ALPHA,SIGMA,P".into());
        };
        (recipe.elastic_alpha, recipe.elastic_sigma, recipe.elastic_p) = (a, s, p);
    }
    let Some(dir) = std::env::var_os("MNIST_DIR") else {
        println!("skipped: set MNIST_DIR to a folder with the MNIST IDX files");
        return Ok(());
    };
    parallel::set_num_threads(threads)?;
    let train = idx::load_mnist(std::path::Path::new(&dir), idx::Split::Train).map_err(|e| e.to_string())?;
    let augment: Compose<u8> = recipe.compose();
    println!(
        "{} training images, batch 64, {} threads, augmentation: {}",
        train.len(),
        parallel::num_threads(),
        recipe.describe()
    );

    // The transforms alone, over the whole training set.
    for (what, serial) in [("2 threads", false), ("1 thread", true)] {
        let start = Instant::now();
        let copy = if serial {
            parallel::install(|| parallel::part(|| augment.apply_to_dataset(&train, 1)))
        } else {
            augment.apply_to_dataset(&train, 1)
        };
        copy.map_err(|e| e.to_string())?;
        let s = start.elapsed().as_secs_f64();
        println!(
            "transforms alone ({what}): {s:.3} s for the epoch, {:.1} µs per image",
            1e6 * s / train.len() as f64
        );
    }

    let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
    let mut sgd = Sgd::new(0.01).momentum(0.9).nesterov(true);
    let (mut plain, mut augmented) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for aug in [false, true] {
            let mut batches = Batches::<f32>::new(&train, 64, Normalize::MNIST)
                .map_err(|e| e.to_string())?
                .shuffled(1, round as u64);
            if aug {
                batches = batches
                    .augmented(&augment, 1, round as u64)
                    .map_err(|e| e.to_string())?;
            }
            let s = train_epoch(&mut model, &mut sgd, batches, None, |_| {}).map_err(|e| e.to_string())?;
            println!(
                "round {}: {} epoch {:.3} s ({:.0} samples/s)",
                round + 1,
                if aug { "augmented" } else { "plain    " },
                s.seconds,
                s.samples as f64 / s.seconds
            );
            if aug { &mut augmented } else { &mut plain }.push(s.seconds);
        }
    }
    let (p, a) = (median(plain), median(augmented));
    println!(
        "median over {rounds} alternating rounds: plain {p:.3} s, augmented {a:.3} s, ratio {:.3}",
        a / p
    );
    Ok(())
}
