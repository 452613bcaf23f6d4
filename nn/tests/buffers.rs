//! Module buffers (batch norm's running statistics): named like parameters through every
//! composite, never seen by optimizers, saved in and restored from checkpoints exactly;
//! `set_training` reaches every layer.

use autograd::{Tape, Tensor};
use nn::layers::{BatchNorm2d, Dense, Module, Sequential};
use nn::models::{ResNetConfig, lenet5, resnet};
use nn::train::checkpoint;
use nn::train::optim::{Optimizer, Sgd};
use rand::SeedableRng;

fn small_resnet(seed: u64) -> Sequential<f32> {
    let cfg = ResNetConfig {
        in_channels: 1,
        stem: 4,
        stages: vec![(4, 1, 1), (6, 1, 2)],
        classes: 3,
    };
    resnet(&cfg, &mut rand::rngs::StdRng::seed_from_u64(seed))
}

fn images(n: usize, seed: u64) -> Tensor<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Tensor::randn(&[n, 8, 8, 1], &mut rng)
}

/// A few training forward passes and SGD steps, so the running statistics move.
fn train(model: &mut Sequential<f32>, steps: u64) {
    let mut sgd = Sgd::new(0.1);
    for s in 0..steps {
        let (loss, grads) = {
            let tape = Tape::new();
            let y = model.forward(&tape.constant(images(4, s))).unwrap();
            let loss = y.powf(2.0).mean();
            (loss.value().clone(), tape.backward(&loss).unwrap())
        };
        assert!(loss.item().unwrap().is_finite());
        sgd.step(model.parameters_mut(), &grads).unwrap();
    }
}

#[test]
fn buffers_are_named_like_parameters_in_the_same_order_both_ways() {
    let mut model = small_resnet(1);
    let names: Vec<String> = model.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        &names[..4],
        [
            "stem_bn.running_mean",
            "stem_bn.running_var",
            "stage1.block1.bn1.running_mean",
            "stage1.block1.bn1.running_var"
        ]
    );
    assert!(names.contains(&"stage2.block1.shortcut.bn.running_var".to_string()));
    let mut_names: Vec<String> = model.buffers_mut().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, mut_names);
    // No buffer is a parameter.
    let params: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().all(|b| !params.contains(b)));
    // The running statistics start at PyTorch's values and move with training.
    let before: Vec<Vec<f32>> = model.buffers().iter().map(|(_, t)| t.to_vec()).collect();
    assert_eq!(before[0], vec![0.0; 4]);
    assert_eq!(before[1], vec![1.0; 4]);
    train(&mut model, 2);
    let after: Vec<Vec<f32>> = model.buffers().iter().map(|(_, t)| t.to_vec()).collect();
    assert!(
        before.iter().zip(&after).all(|(b, a)| b != a),
        "every buffer moved"
    );
}

#[test]
fn a_checkpoint_restores_running_statistics_exactly_and_eval_outputs_with_them() {
    let mut model = small_resnet(2);
    train(&mut model, 3);
    let dir = std::env::temp_dir().join(format!("tapegrad-buffers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bn.safetensors");
    checkpoint::save(&path, &model, None, &[]).unwrap();
    let mut fresh = small_resnet(3);
    let ckpt = checkpoint::load::<f32>(&path).unwrap();
    assert_eq!(ckpt.buffers.len(), model.buffers().len());
    ckpt.restore_model(&mut fresh).unwrap();
    for ((n, a), (m, b)) in model.buffers().into_iter().zip(fresh.buffers()) {
        assert_eq!(n, m);
        assert_eq!(a.to_vec(), b.to_vec(), "{n}: bit for bit");
    }
    model.set_training(false);
    fresh.set_training(false);
    let x = images(5, 9);
    let tape = Tape::no_grad();
    let (ya, yb) = (
        model.forward(&tape.constant(x.clone())).unwrap(),
        fresh.forward(&tape.constant(x)).unwrap(),
    );
    assert_eq!(ya.value().to_vec(), yb.value().to_vec());

    // A model whose buffers have other shapes, or are missing from the file, is refused.
    let other = ResNetConfig {
        stem: 5,
        ..ResNetConfig {
            in_channels: 1,
            stem: 4,
            stages: vec![(4, 1, 1), (6, 1, 2)],
            classes: 3,
        }
    };
    let mut wrong = resnet::<f32, _>(&other, &mut rand::rngs::StdRng::seed_from_u64(4));
    let e = ckpt.restore_model(&mut wrong).unwrap_err().to_string();
    assert!(
        e.contains("buffer stem_bn.running_mean has shape [4] in the checkpoint, [5] in the model"),
        "{e}"
    );
    let plain = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(5));
    let lenet_path = dir.join("lenet.safetensors");
    checkpoint::save(&lenet_path, &plain, None, &[]).unwrap();
    let e = checkpoint::load::<f32>(&lenet_path)
        .unwrap()
        .restore_model(&mut fresh)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not in the checkpoint"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A checkpoint with no buffer tensors (as every checkpoint before buffers existed) still
/// loads into a model without buffers.
#[test]
fn a_checkpoint_without_buffers_loads_into_a_model_without_buffers() {
    let model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(6));
    let dir = std::env::temp_dir().join(format!("tapegrad-nobuffers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("old.safetensors");
    checkpoint::save(&path, &model, None, &[]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        !String::from_utf8_lossy(&bytes).contains("buffer."),
        "no buffer tensors written"
    );
    let mut fresh = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(7));
    let ckpt = checkpoint::load::<f32>(&path).unwrap();
    assert!(ckpt.buffers.is_empty());
    ckpt.restore_model(&mut fresh).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `set_training(false)` reaches the batch norms inside the residual blocks: in evaluation a
/// sample's output no longer depends on the rest of its batch.
#[test]
fn set_training_reaches_every_layer() {
    let mut model = small_resnet(8);
    train(&mut model, 2);
    let x = images(4, 10);
    let first = Tensor::from_vec(x.as_slice()[..64].to_vec(), &[1, 8, 8, 1]).unwrap();
    let tape = Tape::no_grad();
    let batch_out =
        |m: &Sequential<f32>| m.forward(&tape.constant(x.clone())).unwrap().value().as_slice()[..3].to_vec();
    let in_training = batch_out(&model);
    model.set_training(false);
    let in_eval = batch_out(&model);
    let alone = model.forward(&tape.constant(first)).unwrap().value().to_vec();
    assert_ne!(in_training, in_eval);
    for (a, b) in in_eval.iter().zip(&alone) {
        assert!((a - b).abs() < 1e-5, "{in_eval:?} vs {alone:?}");
    }
}

/// The optimizer never sees buffers: it updates exactly the parameters.
#[test]
fn optimizers_see_parameters_only() {
    let mut model = Sequential::<f32>::new()
        .add("bn", BatchNorm2d::new(1))
        .add("pool", nn::layers::GlobalAvgPool2d)
        .add("fc", Dense::new(1, 2, &mut rand::rngs::StdRng::seed_from_u64(0)));
    let names: Vec<String> = model.parameters_mut().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["bn.gamma", "bn.beta", "fc.w", "fc.b"]);
    train_once(&mut model);
}

fn train_once(model: &mut Sequential<f32>) {
    let tape = Tape::new();
    let y = model.forward(&tape.constant(images(3, 1))).unwrap();
    let grads = tape.backward(&y.sum()).unwrap();
    Sgd::new(0.1).step(model.parameters_mut(), &grads).unwrap();
}

/// Evaluation switches a model to evaluation mode and back: for a ResNet, whose only
/// mode-dependent layers are batch norms inside residual blocks, `is_training` must see them,
/// or the guard leaves the model in evaluation mode and later training steps normalise with
/// the running statistics (and stop updating them).
#[test]
fn evaluation_puts_a_resnet_with_batch_norm_back_in_training_mode() {
    let mut model = small_resnet(10);
    assert!(model.is_training());
    nn::inference::predict(&mut model, &images(2, 1)).unwrap();
    assert!(model.is_training(), "predict left the ResNet in evaluation mode");
    let before: Vec<Vec<f32>> = model.buffers().iter().map(|(_, b)| b.to_vec()).collect();
    train(&mut model, 1);
    let after: Vec<Vec<f32>> = model.buffers().iter().map(|(_, b)| b.to_vec()).collect();
    assert!(
        before.iter().zip(&after).all(|(b, a)| b != a),
        "a training step after evaluation did not move every running statistic"
    );
}
