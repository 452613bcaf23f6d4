//! What the interpretation methods cost on LeNet-5 (issue #11): occlusion of one 28x28 image
//! at stride 1 and integrated gradients at 256 steps, each run as batched passes (chunks of
//! up to 128 images per forward pass), and gradient saliency of a batch.
//!
//! ```text
//! cargo bench --bench interpret -- [--runs 9]
//! ```
//!
//! Prints the median over `runs` of each, in milliseconds. The model is LeNet-5 after one
//! short epoch on the built-in digits (the cost does not depend on the weights).

use rand::SeedableRng;
use std::time::Instant;
use tapegrad::autograd::Tensor;
use tapegrad::autograd::runtime::parallel;
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::synthetic;
use tapegrad::nn::interpret::{Baseline, IntegratedGradients, Occlusion, saliency};
use tapegrad::nn::layers::Module;
use tapegrad::nn::models::lenet5;
use tapegrad::nn::train::optim::Sgd;
use tapegrad::nn::train::train_step;

fn median_ms(runs: usize, f: &dyn Fn()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(9usize);
    let (train, test) = synthetic::train_test_split(2000, 64, 1);
    let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
    let mut sgd = Sgd::new(0.05).momentum(0.9);
    for b in Batches::<f32>::new(&train, 64, Normalize::MNIST).expect("batches of MNIST") {
        train_step(&mut model, &mut sgd, &b).expect("a training step");
    }
    model.set_training(false);
    let batch = Batches::<f32>::new(&test, 64, Normalize::MNIST)
        .expect("batches of MNIST")
        .next()
        .expect("a test batch");
    let one = batch.images.slice(0, 0, 1, 1).expect("the first image");
    let target = &batch.labels[..1];
    println!(
        "LeNet-5, {} threads, median of {runs} runs",
        parallel::num_threads()
    );

    // Filled with the training set's mean intensity (0 after normalisation).
    let occlusion = Occlusion {
        size: 7,
        stride: 1,
        fill: 0.0,
    };
    let ms = median_ms(runs, &|| {
        occlusion.maps(&model, "conv2", &one, target).expect("occlusion");
    });
    println!("occlusion, one image, 7x7 square at stride 1 (484 positions, 4 batched passes): {ms:.1} ms");

    let ig = IntegratedGradients {
        steps: 256,
        baseline: Baseline::Constant(0.0),
    };
    let ms = median_ms(runs, &|| {
        ig.attribute(&model, &one, target).expect("integrated gradients");
    });
    println!("integrated gradients, one image, 256 steps, f32 (2 batched passes): {ms:.1} ms");

    let mut model64 = lenet5::<f64, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
    for ((_, p), (_, q)) in model64.parameters_mut().into_iter().zip(model.parameters()) {
        p.set(q.value().cast()).expect("same shapes");
    }
    let one64: Tensor<f64> = one.cast();
    let ig64 = IntegratedGradients {
        steps: 256,
        baseline: Baseline::Constant(0.0),
    };
    let ms = median_ms(runs, &|| {
        ig64.attribute(&model64, &one64, target)
            .expect("integrated gradients");
    });
    println!("integrated gradients, one image, 256 steps, f64: {ms:.1} ms");

    let ms = median_ms(runs, &|| {
        saliency(&model, &batch.images, &batch.labels).expect("saliency");
    });
    println!("gradient saliency, 64 images, f32: {ms:.2} ms");
}
