//! Using a trained model: evaluation-mode predictions whatever the model's mode,
//! probabilities and classes against hand computations, the summary against the layer
//! formulas, and errors that name the layer and the layout.

use autograd::{Error, Tape, Tensor};
use nn::inference::{EvalMode, classify, predict, probabilities, summary};
use nn::layers::{Conv2d, Dense, Dropout, Flatten, Module, Sequential};
use nn::models::lenet5;
use nn::ops::conv::Conv2dConfig;
use rand::SeedableRng;

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

fn with_dropout() -> Sequential<f64> {
    let r = &mut rng(1);
    Sequential::new()
        .add("fc1", Dense::new(6, 16, r))
        .add("drop", Dropout::new(0.5, 7).unwrap())
        .add("fc2", Dense::new(16, 4, r))
}

fn input() -> Tensor<f64> {
    Tensor::from_fn(&[5, 6], |i| ((i * 37 % 11) as f64 - 5.0) / 4.0)
}

#[test]
fn predict_runs_evaluation_behaviour_and_restores_the_mode() {
    let mut model = with_dropout();
    assert!(model.is_training());
    let x = input();
    // Evaluation behaviour by hand: dropout is the identity, so fc2(fc1(x)).
    let tape = Tape::no_grad();
    let h = model
        .layer("fc1")
        .unwrap()
        .forward(&tape.constant(x.clone()))
        .unwrap();
    let want = model.layer("fc2").unwrap().forward(&h).unwrap().value().clone();
    let a = predict(&mut model, &x).unwrap();
    let b = predict(&mut model, &x).unwrap();
    assert_eq!(a.to_vec(), want.to_vec());
    assert_eq!(b.to_vec(), want.to_vec());
    assert!(
        model.is_training(),
        "predict must put the model back in training mode"
    );
    // In training mode forward does drop units: the guard is what made the difference.
    let tape = Tape::no_grad();
    let trained = model.forward(&tape.constant(x.clone())).unwrap().value().clone();
    assert_ne!(trained.to_vec(), want.to_vec());
    // A model in evaluation mode stays there.
    model.set_training(false);
    drop(EvalMode::new(&mut model));
    assert!(!model.is_training());
}

#[test]
fn probabilities_and_classes_match_a_softmax_and_an_argmax_by_hand() {
    let mut model = with_dropout();
    let x = input();
    let logits = predict(&mut model, &x).unwrap();
    let p = probabilities(&mut model, &x).unwrap();
    let classes = classify(&mut model, &x).unwrap();
    for n in 0..5 {
        let row = &logits.as_slice()[4 * n..4 * n + 4];
        let max = row.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = row.iter().map(|v| (v - max).exp()).sum();
        for c in 0..4 {
            let want = (row[c] - max).exp() / z;
            assert!((p.as_slice()[4 * n + c] - want).abs() < 1e-15);
        }
        let best = (0..4).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(classes[n], best);
    }
}

#[test]
fn lenet5_summary_follows_the_layer_formulas() {
    let mut model = lenet5::<f32, _>(&mut rng(2));
    let s = summary(&mut model, &[28, 28, 1]).unwrap();
    // Output sides: (28 + 2·2 − 5) + 1 = 28, 28/2 = 14, 14 − 5 + 1 = 10, 10/2 = 5.
    let shapes: Vec<Vec<usize>> = vec![
        vec![1, 28, 28, 6],
        vec![1, 14, 14, 6],
        vec![1, 10, 10, 16],
        vec![1, 5, 5, 16],
        vec![1, 400],
        vec![1, 120],
        vec![1, 84],
        vec![1, 10],
    ];
    // Parameters: f·f·C_in·C_out + C_out for a conv, In·Out + Out for a dense layer.
    let params = [
        6 * 25 + 6,
        0,
        16 * 150 + 16,
        0,
        0,
        400 * 120 + 120,
        120 * 84 + 84,
        84 * 10 + 10,
    ];
    let kinds = [
        "Conv2d",
        "MaxPool2d",
        "Conv2d",
        "MaxPool2d",
        "Flatten",
        "Dense",
        "Dense",
        "Dense",
    ];
    for (i, l) in s.layers.iter().enumerate() {
        assert_eq!(
            (l.output.clone(), l.parameters, l.kind.as_str()),
            (shapes[i].clone(), params[i], kinds[i])
        );
    }
    assert_eq!(s.parameters(), params.iter().sum::<usize>());
    let text = s.to_string();
    assert!(
        text.contains("fc1") && text.contains("[1, 5, 5, 16]") && text.ends_with("61706 parameters"),
        "{text}"
    );
}

#[test]
fn errors_name_the_layer_path_and_kind() {
    let r = &mut rng(3);
    let inner = Sequential::<f64>::new()
        .add("fc1", Dense::new(6, 8, r))
        .add("fc2", Dense::new(5, 2, r));
    let model = Sequential::new().add("head", inner);
    let tape = Tape::no_grad();
    let err = model.forward(&tape.constant(input())).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("head.fc2 (Dense): "), "{msg}");
    assert!(matches!(err.root(), Error::ShapeMismatch { .. }), "{err:?}");
    assert!(matches!(err, Error::InLayer { ref path, .. } if path == "head.fc2"));
}

#[test]
fn an_nchw_batch_or_a_pytorch_kernel_gets_a_layout_hint() {
    let r = &mut rng(4);
    let conv = Conv2d::<f32>::new(1, 6, (5, 5), Conv2dConfig::new(), r);
    let model = Sequential::new().add("conv1", conv).add("flatten", Flatten);
    let tape = Tape::no_grad();
    // A batch in PyTorch's NCHW layout: [N, 1, 28, 28] reads as 28 channels.
    let err = model
        .forward(&tape.constant(Tensor::zeros(&[2, 1, 28, 28])))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("conv1 (Conv2d): "), "{msg}");
    assert!(msg.contains("looks NCHW") && msg.contains("permute"), "{msg}");
    assert!(
        msg.contains("has 28 channels") && msg.contains("expects 1 channel"),
        "{msg}"
    );
    assert!(!msg.contains("1 channels"), "{msg}");
    // A PyTorch kernel [C_out, C_in, f_H, f_W] = [32, 1, 3, 3], read as [32, 1, 3, 3] with
    // f_H = 1, f_W = 3, C_in = 3.
    let w = Tensor::<f32>::zeros(&[32, 1, 3, 3]);
    let conv = Conv2d::from_tensors(w, None, Conv2dConfig::new()).unwrap();
    let x = tape.constant(Tensor::zeros(&[2, 28, 28, 1]));
    let msg = conv.forward(&x).unwrap_err().to_string();
    assert!(
        msg.contains("looks like PyTorch's [C_out, C_in, f_H, f_W]"),
        "{msg}"
    );
    assert!(msg.contains("has 1 channel,"), "{msg}");
}

#[test]
fn a_layer_found_by_name_can_be_changed() {
    let mut model = with_dropout();
    model.layer_mut("drop").unwrap().set_training(false);
    assert!(!model.is_training());
    assert!(model.layer_mut("nope").is_none());
}

#[test]
fn images_become_the_batches_input() {
    use nn::data::batches::{Batches, Normalize};
    use nn::data::input::{image_to_input, images_to_input};
    // The same bytes through a Dataset's batches and through the helper: the same tensor.
    let data = nn::data::synthetic::generate(3, 5);
    let n = data.rows * data.cols;
    let batch = Batches::<f32>::new(&data, 3, Normalize::MNIST)
        .unwrap()
        .next()
        .unwrap();
    let imgs: Vec<&[u8]> = (0..3).map(|i| &data.images[i * n..(i + 1) * n]).collect();
    let x = images_to_input::<f32>(&imgs, [data.rows, data.cols, 1], Normalize::MNIST).unwrap();
    assert_eq!(x.shape(), batch.images.shape());
    assert_eq!(x.to_vec(), batch.images.to_vec());
    // Colour: channels interleaved, each byte by the formula.
    let rgb = [0u8, 128, 255, 10, 20, 30];
    let y = image_to_input::<f64>(&rgb, [1, 2, 3], Normalize::new(0.5, 0.25)).unwrap();
    assert_eq!(y.shape(), &[1, 1, 2, 3]);
    for (v, &b) in y.as_slice().iter().zip(&rgb) {
        assert!((v - (b as f64 / 255.0 - 0.5) / 0.25).abs() < 1e-15);
    }
    let err = images_to_input::<f32>(&[&rgb[..5]], [1, 2, 3], Normalize::UNIT).unwrap_err();
    assert!(err.to_string().contains("image 0 has 5 values"), "{err}");
}

#[test]
fn predictions_over_batches_are_those_of_the_whole_set_in_evaluation_mode() {
    use nn::data::batches::{Batch, Batches, Normalize};
    use nn::data::{Dataset, input::images_to_input};
    use nn::inference::{classify_batches, predict_batches};
    // Seven 1x2 RGB images (6 values each, the model's input after flattening).
    let data = Dataset::new(
        (0..42).map(|v| (v * 23 % 256) as u8).collect(),
        vec![0; 7],
        [1, 2, 3],
    )
    .unwrap();
    let mut model: Sequential<f64> = Sequential::new()
        .add("flatten", Flatten)
        .add("net", with_dropout());
    let normalize = Normalize::CIFAR10;
    let all: Vec<&[u8]> = (0..7).map(|i| data.image(i)).collect();
    let x = images_to_input::<f64>(&all, [1, 2, 3], normalize.clone()).unwrap();
    let want = predict(&mut model, &x).unwrap();
    assert!(model.is_training());
    // Batches of 3 (the last of 1), one batch of no images in between: the same rows.
    let mut batches: Vec<Batch<f64>> = Batches::new(&data, 3, normalize).unwrap().collect();
    batches.insert(
        1,
        Batch {
            images: Tensor::zeros(&[0, 1, 2, 3]),
            labels: vec![],
        },
    );
    let got = predict_batches(&mut model, batches.clone()).unwrap();
    assert_eq!(got.shape(), &[7, 4]);
    for (a, b) in got.as_slice().iter().zip(want.as_slice()) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    assert!(model.is_training());
    let classes = classify_batches(&mut model, batches).unwrap();
    assert_eq!(classes, classify(&mut model, &x).unwrap());
    assert_eq!(predict_batches(&mut model, Vec::new()).unwrap().shape(), &[0]);
}
