//! The real-data check: with `MNIST_DIR` set, LeNet-5 trained for one epoch on real MNIST
//! reaches at least 98% test accuracy. Without it, the test prints why it skipped.

#[path = "common/skip.rs"]
mod skip;

use rand::SeedableRng;
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::idx::{Split, load_mnist};
use tapegrad::nn::models::lenet5;
use tapegrad::nn::train::optim::{CosineLr, LrSchedule, Optimizer, Sgd};
use tapegrad::nn::train::{evaluate, train_step};

#[test]
fn lenet5_reaches_98_percent_after_one_epoch_of_real_mnist() {
    let Ok(dir) = std::env::var("MNIST_DIR") else {
        skip::skip(
            "lenet5_reaches_98_percent_after_one_epoch_of_real_mnist",
            "MNIST_DIR is unset (point it at a folder with the MNIST IDX files to run this check)",
        );
        return;
    };
    let train = load_mnist(&dir, Split::Train).unwrap();
    let test = load_mnist(&dir, Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));

    // The main job's defaults: SGD with Nesterov momentum 0.9, learning rate 0.05 decayed by a
    // cosine over the run, batch 64.
    let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
    let mut opt = Sgd::new(0.05).momentum(0.9).nesterov(true);
    let steps = train.len().div_ceil(64);
    let schedule = CosineLr {
        base: 0.05,
        min: 0.05 / 100.0,
        total: steps,
    };
    let start = std::time::Instant::now();
    for (i, batch) in Batches::<f32>::new(&train, 64, Normalize::MNIST)
        .unwrap()
        .shuffled(1, 0)
        .enumerate()
    {
        opt.set_learning_rate(schedule.lr_at(i));
        let loss = train_step(&mut model, &mut opt, &batch).unwrap();
        assert!(loss.is_finite(), "the loss diverged at step {i}");
    }
    let eval = evaluate(&mut model, &test, 500, Normalize::MNIST, 10).unwrap();
    println!(
        "one epoch of real MNIST in {:.1} s: test accuracy {:.2}%, test loss {:.4}",
        start.elapsed().as_secs_f64(),
        100.0 * eval.accuracy,
        eval.loss
    );
    assert!(
        eval.accuracy >= 0.98,
        "test accuracy {:.2}% is below 98%",
        100.0 * eval.accuracy
    );
    // The confusion matrix accounts for every test image.
    assert_eq!(eval.confusion.iter().flatten().sum::<usize>(), 10_000);
}
