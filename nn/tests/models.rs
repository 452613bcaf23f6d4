//! The ready-made networks against their definitions: `mnist_cnn` is the CNN of PyTorch's
//! MNIST example (`pytorch/examples`, `mnist/main.py`): its layer table and parameter counts
//! from that architecture's formulas, dropout active in training only, and it learns.

use nn::data::batches::{Batches, Normalize};
use nn::data::synthetic;
use nn::inference::{predict, summary};
use nn::layers::Module;
use nn::models::mnist_cnn;
use nn::train::optim::Adam;
use nn::train::train_step;
use rand::SeedableRng;

fn model() -> nn::layers::Sequential<f32> {
    mnist_cnn(&mut rand::rngs::StdRng::seed_from_u64(3))
}

#[test]
fn mnist_cnn_has_the_pytorch_examples_layers_and_parameter_counts() {
    let mut m = model();
    let s = summary(&mut m, &[28, 28, 1]).unwrap();
    // (name, output shape for one sample, parameters): conv k·k·Cin·Cout + Cout, dense
    // In·Out + Out, as `sum(p.numel())` counts them per layer of the PyTorch module.
    let want: [(&str, &[usize], usize); 8] = [
        ("conv1", &[1, 26, 26, 32], 3 * 3 * 32 + 32),
        ("conv2", &[1, 24, 24, 64], 3 * 3 * 32 * 64 + 64),
        ("pool", &[1, 12, 12, 64], 0),
        ("dropout1", &[1, 12, 12, 64], 0),
        ("flatten", &[1, 9216], 0),
        ("fc1", &[1, 128], 9216 * 128 + 128),
        ("dropout2", &[1, 128], 0),
        ("fc2", &[1, 10], 128 * 10 + 10),
    ];
    let got: Vec<_> = s
        .layers
        .iter()
        .map(|l| (l.name.as_str(), l.output.as_slice(), l.parameters))
        .collect();
    assert_eq!(got, want);
    assert_eq!(s.parameters(), 1_199_882);
}

#[test]
fn mnist_cnn_drops_out_in_training_and_not_in_evaluation() {
    let mut m = model();
    let x = autograd::Tensor::from_fn(&[2, 28, 28, 1], |i| ((i * 31 % 17) as f32 - 8.0) / 8.0);
    let train = |m: &nn::layers::Sequential<f32>| {
        let tape = autograd::Tape::no_grad();
        m.forward(&tape.constant(x.clone())).unwrap().value().clone()
    };
    assert!(m.is_training());
    let (a, b) = (train(&m), train(&m));
    assert_ne!(
        a.as_slice(),
        b.as_slice(),
        "two training passes drew the same masks"
    );
    let (p, q) = (predict(&mut m, &x).unwrap(), predict(&mut m, &x).unwrap());
    assert_eq!(p.as_slice(), q.as_slice());
    assert_ne!(p.as_slice(), a.as_slice());
    assert!(m.is_training(), "predict left the model in evaluation mode");
}

#[test]
fn mnist_cnn_learns_the_built_in_digits() {
    // Small, for the emulated aarch64 run: 20 steps on one batch of 16.
    let data = synthetic::generate(16, 11);
    let batch = Batches::<f32>::new(&data, 16, Normalize::MNIST)
        .unwrap()
        .next()
        .unwrap();
    let mut m = model();
    let mut opt = Adam::new(1e-3);
    let first = train_step(&mut m, &mut opt, &batch).unwrap();
    let mut last = first;
    for _ in 0..19 {
        last = train_step(&mut m, &mut opt, &batch).unwrap();
    }
    // Ten classes start near ln 10 = 2.3; 20 Adam steps on one batch of 16 fit it.
    assert!((first - 10f32.ln()).abs() < 0.5, "first loss {first}");
    assert!(last < 0.3 * first, "loss {first} -> {last} after 20 steps");
    println!("mnist_cnn on 16 built-in digits: loss {first:.3} -> {last:.3} after 20 Adam steps");
}
