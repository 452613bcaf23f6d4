//! The `Trainer` (issue #13): the same parameters as the hand-written loop it replaces,
//! checkpoints every N steps that resume to the bits of an uninterrupted run, early stopping
//! with the best weights restored, the losses against their formulas, clear errors.

use autograd::gradcheck::{GradCheck, tape_fn};
use autograd::{Tape, Tensor};
use nn::data::Dataset;
use nn::data::batches::{Batches, Normalize};
use nn::data::synthetic;
use nn::data::transforms::{Compose, RandomAffine};
use nn::layers::{Module, Sequential};
use nn::models::lenet5;
use nn::ops::loss::Reduction;
use nn::train::epoch::{Schedule, train_epoch};
use nn::train::loss::{CrossEntropy, Loss, OneHotMse, loss_fn};
use nn::train::optim::{ConstantLr, CosineLr, Sgd};
use nn::train::{Checkpoints, Control, EarlyStopping, Monitor, StopReason, TrainError, Trainer};
use rand::SeedableRng;
use std::path::PathBuf;

fn model(seed: u64) -> Sequential<f32> {
    lenet5(&mut rand::rngs::StdRng::seed_from_u64(seed))
}

fn weights(m: &dyn Module<f32>) -> Vec<Vec<f32>> {
    m.parameters().iter().map(|(_, p)| p.value().to_vec()).collect()
}

fn data() -> (Dataset, Dataset) {
    synthetic::train_test_split(200, 60, 3)
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "tapegrad-trainer-{}-{name}.safetensors",
        std::process::id()
    ))
}

/// A quiet trainer of batch 32, seed 5, over `epochs`.
fn trainer<'a>(sgd: &'a mut Sgd<f32>, epochs: usize) -> Trainer<'a, f32> {
    Trainer::new(sgd)
        .epochs(epochs)
        .batch_size(32)
        .seed(5)
        .progress_bar(false)
        .log(false)
}

#[test]
fn fit_takes_the_steps_of_the_hand_written_loop() {
    let (train, test) = data();
    let cosine = CosineLr {
        base: 0.05,
        min: 0.001,
        total: 14,
    };
    let mut by_hand = model(1);
    let mut sgd = Sgd::new(0.05).momentum(0.9);
    for epoch in 0..2 {
        let batches = Batches::<f32>::new(&train, 32, Normalize::MNIST)
            .unwrap()
            .shuffled(5, epoch);
        let schedule = Schedule {
            schedule: &cosine,
            first_step: epoch as usize * 7,
        };
        train_epoch(&mut by_hand, &mut sgd, batches, Some(schedule), |_| {}).unwrap();
    }
    let mut fitted = model(1);
    let mut sgd = Sgd::new(0.05).momentum(0.9);
    let history = trainer(&mut sgd, 2)
        .schedule(cosine)
        .fit(&mut fitted, &train, Some(&test))
        .unwrap();
    assert_eq!(weights(&fitted), weights(&by_hand));
    assert_eq!((history.steps, history.epochs.len()), (14, 2));
    assert_eq!(history.stopped, StopReason::Finished);
    let eval = nn::train::evaluate(&mut fitted, &test, 500, Normalize::MNIST, 10).unwrap();
    assert_eq!(history.epochs[1].validation.as_ref(), Some(&eval));
}

#[test]
fn checkpoints_every_n_steps_resume_to_the_bits_of_an_uninterrupted_run() {
    let (train, _) = data();
    let shift = Compose::new().then(RandomAffine::new().degrees(10.0).translate(0.1, 0.1), 0.8);
    let mut whole = model(2);
    let mut sgd = Sgd::new(0.05).momentum(0.9);
    trainer(&mut sgd, 3)
        .augment(&shift)
        .fit(&mut whole, &train, None)
        .unwrap();

    // Stopped after 10 of 21 steps (mid-epoch 2), checkpointing every 4: the last write is
    // at step 10 (the end of the run), the one before at step 8.
    let path = temp("every");
    let mut first = model(2);
    let mut sgd = Sgd::new(0.05).momentum(0.9);
    let mut saved_steps = Vec::new();
    trainer(&mut sgd, 3)
        .augment(&shift)
        .checkpoints(Checkpoints::new(&path).every_steps(4))
        .max_steps(10)
        .on_epoch(|_, r| {
            saved_steps.push(r.steps);
            Ok(Control::Continue)
        })
        .fit(&mut first, &train, None)
        .unwrap();
    assert_eq!(saved_steps, [7, 10]);
    let ckpt = nn::train::checkpoint::load::<f32>(&path).unwrap();
    assert_eq!(ckpt.metadata["steps"], "10");

    let mut resumed = model(99); // other initial weights: the checkpoint must replace them
    let mut sgd = Sgd::new(0.05).momentum(0.9);
    let history = trainer(&mut sgd, 3)
        .augment(&shift)
        .resume_from(&path)
        .fit(&mut resumed, &train, None)
        .unwrap();
    assert_eq!(history.resumed_at, 10);
    assert_eq!(history.steps, 21);
    assert_eq!(history.epochs.iter().map(|r| r.epoch).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(weights(&resumed), weights(&whole));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_checkpoint_of_another_seed_or_recipe_is_refused_naming_the_setting() {
    let (train, _) = data();
    let path = temp("refuse");
    let mut m = model(3);
    let mut sgd = Sgd::new(0.05);
    trainer(&mut sgd, 1)
        .resume_requires("augment", "none")
        .checkpoints(Checkpoints::new(&path))
        .fit(&mut m, &train, None)
        .unwrap();
    let mut sgd = Sgd::new(0.05);
    let e = trainer(&mut sgd, 2)
        .seed(6)
        .resume_from(&path)
        .fit(&mut m, &train, None)
        .unwrap_err();
    assert!(
        matches!(&e, TrainError::Resume { key, .. } if key == "seed"),
        "{e}"
    );
    let mut sgd = Sgd::new(0.05);
    let e = trainer(&mut sgd, 2)
        .resume_requires("augment", "standard")
        .resume_from(&path)
        .fit(&mut m, &train, None)
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("augment") && text.contains("none") && text.contains("standard"),
        "{text}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn early_stopping_stops_after_patience_and_restores_the_best_weights() {
    // Enough steps for the first epoch to learn (64 of batch 16).
    let (train, test) = synthetic::train_test_split(1024, 100, 4);
    let mut m = model(4);
    let mut sgd = Sgd::new(0.05).momentum(0.9);
    let mut after_first = None;
    let rule = EarlyStopping::new(Monitor::ValidationLoss)
        .patience(2)
        .restore_best(true);
    let history = trainer(&mut sgd, 10)
        .batch_size(16)
        .schedule(ConstantLr(0.05))
        .early_stopping(rule)
        .on_epoch(|model, r| {
            if r.epoch == 1 {
                // The best epoch by construction: the weights are wiped after it, and a
                // LeNet-5 of zero weights learns nothing but the last layer's bias.
                after_first = Some(weights(&*model));
                for (_, p) in model.parameters_mut() {
                    p.value_mut().as_mut_slice().fill(0.0);
                }
            }
            Ok(Control::Continue)
        })
        .fit(&mut m, &train, Some(&test))
        .unwrap();
    assert_eq!(history.epochs.len(), 3, "{history:?}");
    let first_loss = history.epochs[0].validation.as_ref().unwrap().loss;
    assert!(first_loss < 2.0, "epoch 1 learned too little: {first_loss}");
    assert_eq!(
        history.stopped,
        StopReason::EarlyStopping {
            best_epoch: 1,
            best: first_loss
        }
    );
    assert_eq!(Some(weights(&m)), after_first);
}

#[test]
fn a_callback_can_stop_training() {
    let (train, _) = data();
    let mut m = model(5);
    let mut sgd = Sgd::new(0.05);
    let history = trainer(&mut sgd, 5)
        .on_epoch(|_, r| {
            Ok(if r.epoch == 2 {
                Control::Stop
            } else {
                Control::Continue
            })
        })
        .fit(&mut m, &train, None)
        .unwrap();
    assert_eq!((history.epochs.len(), history.stopped), (2, StopReason::Callback));
}

#[test]
fn configurations_that_cannot_run_are_errors() {
    let (train, _) = data();
    let empty = Dataset {
        images: vec![],
        labels: vec![],
        rows: 28,
        cols: 28,
        channels: 1,
    };
    let mut m = model(6);
    let mut sgd = Sgd::new(0.05);
    let e = trainer(&mut sgd, 1)
        .batch_size(0)
        .fit(&mut m, &train, None)
        .unwrap_err();
    assert!(e.to_string().contains("batch size"), "{e}");
    let mut sgd = Sgd::new(0.05);
    let e = trainer(&mut sgd, 1).fit(&mut m, &empty, None).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let mut sgd = Sgd::new(0.05);
    let e = trainer(&mut sgd, 1)
        .early_stopping(EarlyStopping::new(Monitor::ValidationAccuracy))
        .fit(&mut m, &train, None)
        .unwrap_err();
    assert!(e.to_string().contains("validation data"), "{e}");
    let mut sgd = Sgd::new(0.05);
    let e = trainer(&mut sgd, 1)
        .resume_from(temp("no-such-file"))
        .fit(&mut m, &train, None)
        .unwrap_err();
    assert!(e.to_string().contains("no-such-file"), "{e}");
}

#[test]
fn a_diverging_run_names_the_epoch_and_the_step() {
    let (train, _) = data();
    let mut m = model(7);
    let mut sgd = Sgd::new(1e9);
    let e = trainer(&mut sgd, 2).fit(&mut m, &train, None).unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("epoch 1: the loss diverged"), "{text}");
}

/// The two losses against their formulas in f64, per sample, and their gradients against
/// finite differences.
#[test]
fn the_losses_follow_their_formulas() {
    let x = Tensor::<f64>::from_fn(&[3, 4], |i| (i as f64 * 0.73).sin() * 2.0);
    let labels = [2usize, 0, 3];
    let row = |n: usize| &x.as_slice()[n * 4..n * 4 + 4];
    let log_softmax = |n: usize, k: usize| {
        let r = row(n);
        let m = r.iter().cloned().fold(f64::MIN, f64::max);
        r[k] - m - r.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
    };
    for eps in [0.0, 0.1, 1.0] {
        let expect: f64 = (0..3)
            .map(|n| {
                -(0..4)
                    .map(|k| {
                        ((1.0 - eps) * f64::from(u8::from(k == labels[n])) + eps / 4.0) * log_softmax(n, k)
                    })
                    .sum::<f64>()
            })
            .sum();
        for (reduction, scale) in [(Reduction::Sum, 1.0), (Reduction::Mean, 1.0 / 3.0)] {
            let tape = Tape::new();
            let l = CrossEntropy::smoothed(eps).loss(&tape.var(x.clone()), &labels, reduction);
            let got = l.unwrap().value().item().unwrap();
            assert!(
                (got - expect * scale).abs() < 1e-13,
                "ε {eps}: {got} vs {}",
                expect * scale
            );
        }
        let r = GradCheck::default()
            .run(
                std::slice::from_ref(&x),
                tape_fn(|v| CrossEntropy::smoothed(eps).loss(&v[0], &labels, Reduction::Mean)),
            )
            .unwrap();
        assert!(r.passed, "ε {eps}: {r}");
    }
    let squares: f64 = (0..3)
        .flat_map(|n| (0..4).map(move |k| (n, k)))
        .map(|(n, k)| (row(n)[k] - f64::from(u8::from(k == labels[n]))).powi(2))
        .sum();
    let tape = Tape::new();
    let mean = OneHotMse
        .loss(&tape.var(x.clone()), &labels, Reduction::Mean)
        .unwrap();
    assert!((mean.value().item().unwrap() - squares / 12.0).abs() < 1e-14);
    let sum = OneHotMse
        .loss(&tape.var(x.clone()), &labels, Reduction::Sum)
        .unwrap();
    assert!((sum.value().item().unwrap() - squares / 4.0).abs() < 1e-14);
    let r = GradCheck::default()
        .run(
            std::slice::from_ref(&x),
            tape_fn(|v| OneHotMse.loss(&v[0], &labels, Reduction::Sum)),
        )
        .unwrap();
    assert!(r.passed, "{r}");
    let tape = Tape::new();
    for bad in [vec![4usize, 0, 0], vec![0, 0]] {
        let e = OneHotMse
            .loss(&tape.var(x.clone()), &bad, Reduction::Mean)
            .unwrap_err();
        assert!(e.to_string().contains("OneHotMse"), "{e}");
    }
    let e = CrossEntropy::smoothed(1.5).loss(&tape.var(x.clone()), &labels, Reduction::Mean);
    assert!(e.unwrap_err().to_string().contains("label_smoothing"));
}

/// The trainer's loss is the one trained with (a loss that ignores the data has zero
/// gradients, so the weights do not move) and the one validation reports.
#[test]
fn the_chosen_loss_is_trained_and_reported() {
    let (train, test) = data();
    let mut m = model(8);
    let before = weights(&m);
    let mut sgd = Sgd::new(0.05);
    let flat = loss_fn(|logits: &autograd::Var<'_, f32>, _, _| Ok(logits.sum().mul_scalar(0.0)));
    let history = trainer(&mut sgd, 1)
        .loss(flat)
        .fit(&mut m, &train, Some(&test))
        .unwrap();
    assert_eq!(weights(&m), before);
    assert_eq!(history.epochs[0].validation.as_ref().unwrap().loss, 0.0);
    assert_eq!(history.epochs[0].train.mean_loss, 0.0);
}
