//! Checkpoints: a resumed run ends bit for bit where an uninterrupted one does; writes are
//! atomic; a checkpoint that does not fit is refused with the file's name.

use nn::data::Dataset;
use nn::data::batches::{Batches, Normalize};
use nn::layers::{Module, Sequential};
use nn::models::lenet5;
use nn::train::checkpoint::{self, CheckpointError};
use nn::train::optim::{Adam, Optimizer, Sgd};
use nn::train::train_step;
use rand::{RngExt, SeedableRng};
use std::path::PathBuf;

fn data() -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let n = 96;
    Dataset {
        images: (0..n * 784).map(|_| rng.random::<u8>()).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        rows: 28,
        cols: 28,
        channels: 1,
    }
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tapegrad-ckpt-{}-{name}", std::process::id()))
}

/// Trains epochs `[start_epoch, epochs)`, starting at batch `start_batch` of the first; stops
/// after `stop_after` steps if given. Returns how many steps ran.
fn train(
    model: &mut Sequential<f32>,
    opt: &mut dyn Optimizer<f32>,
    data: &Dataset,
    (start_epoch, start_batch): (u64, usize),
    epochs: u64,
    stop_after: Option<usize>,
) -> usize {
    let mut steps = 0;
    for epoch in start_epoch..epochs {
        let skip = if epoch == start_epoch { start_batch } else { 0 };
        for batch in Batches::<f32>::new(data, 16, Normalize::MNIST)
            .unwrap()
            .shuffled(7, epoch)
            .starting_at(skip)
        {
            if stop_after == Some(steps) {
                return steps;
            }
            train_step(model, opt, &batch).unwrap();
            steps += 1;
        }
    }
    steps
}

fn bits(model: &Sequential<f32>) -> Vec<(String, Vec<u32>)> {
    model
        .parameters()
        .into_iter()
        .map(|(n, p)| (n, p.value().as_slice().iter().map(|v| v.to_bits()).collect()))
        .collect()
}

fn resume_matches(make_opt: fn() -> Box<dyn Optimizer<f32>>, tag: &str) {
    let data = data();
    let per_epoch = data.len().div_ceil(16);
    // Uninterrupted: 2 epochs.
    let mut reference = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
    let mut opt = make_opt();
    assert_eq!(
        train(&mut reference, opt.as_mut(), &data, (0, 0), 2, None),
        2 * per_epoch
    );

    // Interrupted in the middle of the first epoch, saved, loaded into fresh objects.
    let stop = per_epoch / 2 + 1;
    let mut first = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
    let mut opt1 = make_opt();
    train(&mut first, opt1.as_mut(), &data, (0, 0), 2, Some(stop));
    let path = tmp(tag);
    checkpoint::save(
        &path,
        &first,
        Some(opt1.as_ref()),
        &[("epoch", "0".into()), ("batch", stop.to_string())],
    )
    .unwrap();
    drop((first, opt1));

    let ckpt = checkpoint::load::<f32>(&path).unwrap();
    let mut resumed = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(999)); // other weights
    let mut opt2 = make_opt();
    ckpt.restore_model(&mut resumed).unwrap();
    ckpt.restore_optimizer(opt2.as_mut()).unwrap();
    assert_eq!(opt2.state().step, stop as u64);
    let (epoch, batch): (u64, usize) = (
        ckpt.metadata["epoch"].parse().unwrap(),
        ckpt.metadata["batch"].parse().unwrap(),
    );
    train(&mut resumed, opt2.as_mut(), &data, (epoch, batch), 2, None);
    std::fs::remove_file(&path).unwrap();

    assert_eq!(
        bits(&resumed),
        bits(&reference),
        "{tag}: resumed weights differ from the uninterrupted run"
    );
    assert_eq!(opt2.state(), opt.state());
}

#[test]
fn resuming_adam_is_bit_for_bit() {
    resume_matches(|| Box::new(Adam::<f32>::new(1e-3)), "adam");
}

#[test]
fn resuming_sgd_with_nesterov_momentum_is_bit_for_bit() {
    resume_matches(
        || {
            Box::new(
                Sgd::<f32>::new(0.05)
                    .momentum(0.9)
                    .nesterov(true)
                    .weight_decay(1e-4),
            )
        },
        "sgd",
    );
}

#[test]
fn a_failed_save_leaves_nothing_behind() {
    // The destination is an existing directory: the rename fails, the error names the
    // path, the directory is untouched and no temporary file remains.
    let dir = tmp("dir-target");
    std::fs::create_dir_all(dir.join("keep")).unwrap();
    let model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
    let e = checkpoint::save(&dir, &model, None, &[]).unwrap_err();
    assert!(
        matches!(e, CheckpointError::Io { .. }) && e.to_string().contains("dir-target"),
        "{e}"
    );
    assert!(dir.join("keep").is_dir());
    let parent = dir.parent().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("dir-target.tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn saving_over_a_checkpoint_replaces_it_whole() {
    let path = tmp("replace");
    let a = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
    let b = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(2));
    checkpoint::save(&path, &a, None, &[]).unwrap();
    checkpoint::save(&path, &b, None, &[]).unwrap();
    let mut c = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(3));
    checkpoint::load::<f32>(&path)
        .unwrap()
        .restore_model(&mut c)
        .unwrap();
    assert_eq!(bits(&c), bits(&b));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn checkpoints_that_do_not_fit_are_refused() {
    let path = tmp("mismatch");
    let model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
    checkpoint::save(&path, &model, Some(&Adam::<f32>::new(1e-3)), &[]).unwrap();
    let ckpt = checkpoint::load::<f32>(&path).unwrap();

    let mut other = Sequential::<f32>::new().add(
        "conv1",
        nn::layers::Dense::new(3, 3, &mut rand::rngs::StdRng::seed_from_u64(0)),
    );
    let e = ckpt.restore_model(&mut other).unwrap_err().to_string();
    assert!(
        e.contains("mismatch") && e.contains("conv1.w") && e.contains("[3, 3]"),
        "{e}"
    );

    let e = ckpt
        .restore_optimizer(&mut Sgd::<f32>::new(0.1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("adam") && e.contains("sgd"), "{e}");

    // An f64 model can load an f32 checkpoint (values converted).
    let mut wide = lenet5::<f64, _>(&mut rand::rngs::StdRng::seed_from_u64(5));
    checkpoint::load::<f64>(&path)
        .unwrap()
        .restore_model(&mut wide)
        .unwrap();
    assert_eq!(
        wide.parameters()[0].1.value().cast::<f32>(),
        *model.parameters()[0].1.value()
    );

    std::fs::write(&path, b"not a checkpoint at all").unwrap();
    let e = checkpoint::load::<f32>(&path).unwrap_err();
    assert!(
        matches!(e, CheckpointError::Format { .. }) && e.to_string().contains("mismatch"),
        "{e}"
    );
    std::fs::remove_file(&path).unwrap();
    let e = checkpoint::load::<f32>(&path).unwrap_err();
    assert!(matches!(e, CheckpointError::Io { .. }), "{e}");
}

/// A checkpoint whose parameter or optimizer buffer holds a NaN or an infinity is refused,
/// naming the tensor and the index; `NonFiniteValues::Allow` reads it as it is.
#[test]
fn non_finite_values_are_refused_unless_allowed() {
    use nn::train::checkpoint::NonFiniteValues;
    // Element 1 of conv1.w [6, 5, 5, 1] is at [0, 0, 1, 0].
    let cases = [
        ("conv1.w", f32::NAN, vec![0, 0, 1, 0]),
        ("fc3.b", f32::INFINITY, vec![1]),
    ];
    for (tensor, bad, at) in cases {
        let mut model: Sequential<f32> = lenet5(&mut rand::rngs::StdRng::seed_from_u64(3));
        let mut sgd = Sgd::new(0.01).momentum(0.9);
        train(&mut model, &mut sgd, &data(), (0, 0), 1, Some(1));
        for (name, p) in model.parameters_mut() {
            if name == tensor {
                p.value_mut().as_mut_slice()[1] = bad;
            }
        }
        let path = tmp(&format!("nonfinite-{tensor}"));
        checkpoint::save(&path, &model, Some(&sgd), &[]).unwrap();
        match checkpoint::load::<f32>(&path) {
            Err(CheckpointError::NonFinite {
                tensor: t,
                index,
                value,
                ..
            }) => {
                assert_eq!(t, tensor);
                assert_eq!(index, at);
                assert_eq!(value.is_nan(), bad.is_nan());
            }
            other => panic!("{tensor}: {other:?}"),
        }
        let msg = checkpoint::load::<f32>(&path).unwrap_err().to_string();
        assert!(
            msg.contains(tensor) && msg.contains(path.to_str().unwrap()),
            "{msg}"
        );
        let read = checkpoint::load_with::<f32>(&path, NonFiniteValues::Allow).unwrap();
        assert_eq!(read.params[tensor].as_slice()[1].to_bits(), bad.to_bits());
        std::fs::remove_file(&path).unwrap();
    }
    // The optimizer's state is checked too.
    let mut model: Sequential<f32> = lenet5(&mut rand::rngs::StdRng::seed_from_u64(3));
    let mut sgd = Sgd::new(0.01).momentum(0.9);
    train(&mut model, &mut sgd, &data(), (0, 0), 1, Some(1));
    let path = tmp("nonfinite-optimizer");
    checkpoint::save(&path, &model, Some(&sgd), &[]).unwrap();
    let mut ckpt = checkpoint::load::<f32>(&path).unwrap();
    let (name, buffer) = ckpt.optimizer.buffers.iter_mut().next().unwrap();
    let name = name.clone();
    buffer.as_mut_slice()[0] = f32::NAN;
    let mut broken = sgd.clone();
    broken.load_state(ckpt.optimizer.clone()).unwrap();
    checkpoint::save(&path, &model, Some(&broken), &[]).unwrap();
    match checkpoint::load::<f32>(&path) {
        Err(CheckpointError::NonFinite { tensor, .. }) => assert_eq!(tensor, format!("optimizer.{name}")),
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(&path).unwrap();
}
