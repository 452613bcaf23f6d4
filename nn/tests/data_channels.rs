//! Datasets beyond grey bytes (issue #13, point 2): RGB `u8` and `f32` datasets batch to
//! `[B, rows, cols, channels]` with each value `(v − mean_c) / std_c` computed by hand here,
//! `Normalize::of` agrees with a two-pass `f64` computation written here, normalisers that do
//! not fit are refused by name, augmentation moves a pixel's channels together, and a small
//! convolutional network learns a colour-only signal through `train_epoch` and `evaluate`.

use nn::data::batches::{Batches, Normalize};
use nn::data::input::images_to_input;
use nn::data::transforms::{Compose, RandomAffine};
use nn::data::{Dataset, Pixel};
use nn::layers::{Conv2d, Dense, GlobalAvgPool2d, Sequential};
use nn::ops::activation::Activation;
use nn::ops::conv::Conv2dConfig;
use nn::train::epoch::train_epoch;
use nn::train::evaluate;
use nn::train::optim::Sgd;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// `n` images of `rows x cols x channels` with values from `value(i, r, c, k)`, labelled `i % 10`.
fn dataset<P: Pixel>(
    n: usize,
    [rows, cols, channels]: [usize; 3],
    value: impl Fn(usize, usize, usize, usize) -> P,
) -> Dataset<P> {
    let mut images = Vec::new();
    for i in 0..n {
        for r in 0..rows {
            for c in 0..cols {
                for k in 0..channels {
                    images.push(value(i, r, c, k));
                }
            }
        }
    }
    Dataset::new(
        images,
        (0..n).map(|i| (i % 10) as u8).collect(),
        [rows, cols, channels],
    )
    .unwrap()
}

#[test]
fn rgb_bytes_batch_channels_last_with_each_channels_statistics() {
    let byte = |i: usize, r: usize, c: usize, k: usize| ((i * 50 + r * 17 + c * 5 + k * 80) % 256) as u8;
    let data = dataset(5, [3, 4, 3], byte);
    let (means, stds) = ([0.1, 0.5, 0.9], [0.2, 0.25, 0.5]);
    let normalize = Normalize::per_channel(&means, &stds).unwrap();
    let batches: Vec<_> = Batches::<f64>::new(&data, 2, normalize.clone())
        .unwrap()
        .collect();
    assert_eq!(batches.len(), 3);
    let mut image = 0;
    for batch in &batches {
        let b = batch.labels.len();
        assert_eq!(batch.images.shape(), &[b, 3, 4, 3]);
        for j in 0..b {
            for (r, c, k) in (0..3).flat_map(|r| (0..4).flat_map(move |c| (0..3).map(move |k| (r, c, k)))) {
                let want = (byte(image, r, c, k) as f64 / 255.0 - means[k]) / stds[k];
                let got = batch.images.get(&[j, r, c, k]).unwrap();
                assert!(
                    (got - want).abs() < 1e-14,
                    "image {image} ({r}, {c}, {k}): {got} vs {want}"
                );
            }
            image += 1;
        }
    }
    // One image through images_to_input: the same values as its batch.
    let x = images_to_input::<f64>(&[data.image(4)], [3, 4, 3], normalize).unwrap();
    assert_eq!(x.as_slice(), batches[2].images.as_slice());
}

#[test]
fn f32_values_are_taken_as_they_are() {
    let value = |i: usize, r: usize, c: usize, k: usize| {
        (i as f32 - 1.5) * 0.75 + r as f32 * 0.1 - c as f32 + k as f32 * 2.0
    };
    let data = dataset(4, [2, 3, 2], value);
    let (means, stds) = ([0.5, -1.0], [2.0, 0.125]);
    let batch = Batches::<f32, f32>::new(&data, 4, Normalize::per_channel(&means, &stds).unwrap())
        .unwrap()
        .next()
        .unwrap();
    assert_eq!(batch.images.shape(), &[4, 2, 3, 2]);
    for i in 0..4 {
        for (r, c, k) in (0..2).flat_map(|r| (0..3).flat_map(move |c| (0..2).map(move |k| (r, c, k)))) {
            let want = (value(i, r, c, k) as f64 - means[k]) / stds[k];
            let got = batch.images.get(&[i, r, c, k]).unwrap() as f64;
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{i} ({r}, {c}, {k}): {got} vs {want}"
            );
        }
    }
    // NaN propagates.
    let mut nan = data.clone();
    nan.images[3] = f32::NAN;
    let batch = Batches::<f32, f32>::new(&nan, 1, Normalize::UNIT)
        .unwrap()
        .next()
        .unwrap();
    assert!(batch.images.as_slice()[3].is_nan());
    assert!(
        batch
            .images
            .as_slice()
            .iter()
            .enumerate()
            .all(|(j, v)| j == 3 || v.is_finite())
    );
}

#[test]
fn normalize_of_is_each_channels_mean_and_population_std() {
    let mut rng = StdRng::seed_from_u64(11);
    // Channel k's bytes spread differently, so that a mix-up of channels shows.
    let bytes: Vec<u8> = (0..300 * 8 * 8 * 3)
        .map(|j| {
            let k = j % 3;
            let spread = [60, 255, 120][k] as u8;
            rng.random_range(0..=spread)
        })
        .collect();
    let data = Dataset::new(bytes.clone(), vec![0; 300], [8, 8, 3]).unwrap();
    let n = Normalize::of(&data).unwrap();
    assert_eq!(n.channels(), 3);
    for k in 0..3 {
        let values: Vec<f64> = bytes
            .iter()
            .skip(k)
            .step_by(3)
            .map(|&b| b as f64 / 255.0)
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / values.len() as f64;
        assert!(
            (n.mean(k) - mean).abs() < 1e-12,
            "channel {k}: {} vs {mean}",
            n.mean(k)
        );
        assert!(
            (n.std(k) - var.sqrt()).abs() < 1e-12,
            "channel {k}: {} vs {}",
            n.std(k),
            var.sqrt()
        );
    }
    // The statistics normalise the data to mean 0 and standard deviation 1 per channel.
    let batch = Batches::<f64>::new(&data, 300, n).unwrap().next().unwrap();
    for k in 0..3 {
        let x: Vec<f64> = batch
            .images
            .as_slice()
            .iter()
            .skip(k)
            .step_by(3)
            .copied()
            .collect();
        let mean = x.iter().sum::<f64>() / x.len() as f64;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / x.len() as f64;
        assert!(
            mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12,
            "channel {k}: {mean} {var}"
        );
    }
    // f32 data: the values as they are.
    let floats = Dataset::new(vec![1.0f32, -2.0, 3.0, 6.0], vec![0, 1], [1, 1, 2]).unwrap();
    let n = Normalize::of(&floats).unwrap();
    assert_eq!((n.mean(0), n.std(0), n.mean(1), n.std(1)), (2.0, 1.0, 2.0, 4.0));
    let empty = Dataset::<u8>::new(vec![], vec![], [2, 2, 3]).unwrap();
    assert!(
        Normalize::of(&empty)
            .unwrap_err()
            .to_string()
            .contains("no images")
    );
}

#[test]
fn normalisers_that_do_not_fit_are_refused_by_name() {
    let grey = dataset(2, [2, 2, 1], |_, _, _, _| 7u8);
    let err = Batches::<f32>::new(&grey, 2, Normalize::CIFAR10).err().unwrap();
    let msg = err.to_string();
    assert!(msg.starts_with("Batches::new:"), "{msg}");
    assert!(
        msg.contains("3 channels") && msg.contains("have 1 channel"),
        "{msg}"
    );
    let err = images_to_input::<f32>(&[grey.image(0)], [2, 2, 1], Normalize::CIFAR10).unwrap_err();
    assert!(err.to_string().starts_with("images_to_input:"), "{err}");
    // One pair fits any channel count; per_channel refuses what no normaliser can be.
    let rgb = dataset(2, [2, 2, 3], |_, _, _, k| k as u8);
    assert!(Batches::<f32>::new(&rgb, 2, Normalize::MNIST).is_ok());
    let two = Normalize::per_channel(&[0.5, 0.5], &[1.0, 1.0]).unwrap();
    let err = nn::train::evaluate(&mut Sequential::<f32>::new(), &rgb, 2, two, 3).unwrap_err();
    assert!(
        err.to_string().contains("2 channels") && err.to_string().contains("3 channels"),
        "{err}"
    );
    let refused: [(&[f64], &[f64], &str); 6] = [
        (&[0.5, 0.5], &[1.0], "2 means and 1 standard deviations"),
        (&[0.5], &[0.0], "standard deviation 0"),
        (&[0.5], &[-1.0], "standard deviation -1"),
        (&[f64::NAN], &[1.0], "mean NaN"),
        (&[0.5], &[f64::INFINITY], "standard deviation inf"),
        (&[], &[], "0 means"),
    ];
    for (means, stds, why) in refused {
        let err = Normalize::per_channel(means, stds).unwrap_err().to_string();
        assert!(
            err.starts_with("Normalize::per_channel:") && err.contains(why),
            "{err}"
        );
    }
    let err = Batches::<f32>::new(&rgb, 2, Normalize::new(0.5, 0.0))
        .err()
        .unwrap();
    assert!(err.to_string().contains("standard deviation 0"), "{err}");
    // A dataset built field by field that does not fit together.
    let mut broken = rgb.clone();
    broken.channels = 2;
    let err = Batches::<f32>::new(&broken, 2, Normalize::UNIT).err().unwrap();
    assert!(err.to_string().contains("need 16 values, got 24"), "{err}");
}

#[test]
fn datasets_check_their_sizes_and_split() {
    let err = Dataset::new(vec![0u8; 10], vec![0, 1], [1, 2, 3])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("Dataset::new:") && err.contains("need 12 values, got 10"),
        "{err}"
    );
    let err = Dataset::new(vec![0u8; 0], vec![0], [0, 2, 3])
        .unwrap_err()
        .to_string();
    assert!(err.contains("images of 0x2x3"), "{err}");
    let data = dataset(5, [1, 2, 3], |i, _, c, k| (i * 10 + c * 3 + k) as u8);
    let picked = data.subset(&[4, 1, 4]).unwrap();
    assert_eq!(picked.labels, [4, 1, 4]);
    assert_eq!(picked.image(1), data.image(1));
    assert_eq!(picked.image(2), &[40, 41, 42, 43, 44, 45]);
    assert!(data.subset(&[5]).unwrap_err().to_string().contains("index 5"));
    let (a, b) = data.split_at(2).unwrap();
    assert_eq!((a.len(), b.len(), b.image(0)), (2, 3, data.image(2)));
    assert_eq!(a.shape(), data.shape());
    assert!(data.split_at(6).is_err());
}

#[test]
fn augmentation_moves_a_pixels_channels_together() {
    // Every pixel is (200, 100, 50): after a shift, a pixel is either that colour (inside),
    // black (the fill, outside) or a bilinear mix of the two, so its channels stay in ratio.
    let data = dataset(6, [8, 8, 3], |_, _, _, k| [200u8, 100, 50][k]);
    let shift = Compose::new().then(RandomAffine::new().translate(0.3, 0.3), 1.0);
    let batch = Batches::<f64>::new(&data, 6, Normalize::UNIT)
        .unwrap()
        .augmented(&shift, 3, 0)
        .unwrap()
        .next()
        .unwrap();
    assert_eq!(batch.images.shape(), &[6, 8, 8, 3]);
    let x = batch.images.as_slice();
    let mut black = 0;
    for px in x.chunks_exact(3) {
        let t = px[0] * 255.0 / 200.0; // the fraction of the colour mixed in
        for (k, want) in [200.0, 100.0, 50.0].iter().enumerate() {
            // Bytes are rounded after mixing, so R's ratio is within half a byte and the
            // others' within 0.75 of a byte (half a byte plus R's rounding scaled down).
            assert!((px[k] * 255.0 - t * want).abs() <= 0.75 + 1e-9, "{px:?}");
        }
        black += usize::from(t == 0.0);
    }
    assert!(black > 0, "the shifts let the black outside in");
    // An f32 dataset is augmented the same way.
    let floats = dataset(2, [8, 8, 3], |_, _, _, k| [0.8f32, 0.4, 0.2][k]);
    let shift = Compose::<f32>::new().then(RandomAffine::new().translate(0.3, 0.3), 1.0);
    let copy = shift.apply_to_dataset(&floats, 5).unwrap();
    for px in copy.images.chunks_exact(3) {
        assert!(
            (px[1] * 2.0 - px[0]).abs() < 1e-6 && (px[2] * 4.0 - px[0]).abs() < 1e-6,
            "{px:?}"
        );
    }
}

/// `n` 32x32 RGB images whose class is the bright channel: its bytes are uniform in
/// `120..=255`, the others' in `0..=135`, at random positions, so only colour tells.
fn colour_only(n: usize, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
    let mut images = Vec::with_capacity(n * 32 * 32 * 3);
    for &label in &labels {
        for _ in 0..32 * 32 {
            for k in 0..3 {
                let bright = k == label as usize;
                images.push(if bright {
                    rng.random_range(120..=255u8)
                } else {
                    rng.random_range(0..=135u8)
                });
            }
        }
    }
    Dataset::new(images, labels, [32, 32, 3]).unwrap()
}

#[test]
fn a_conv_net_learns_a_colour_only_signal() {
    let (train, test) = (colour_only(150, 1), colour_only(60, 2));
    let normalize = Normalize::of(&train).unwrap();
    let rng = &mut StdRng::seed_from_u64(3);
    let mut model: Sequential<f32> = Sequential::new()
        .add(
            "conv",
            Conv2d::new(3, 6, (3, 3), Conv2dConfig::new().stride(2), rng).with_activation(Activation::Relu),
        )
        .add("pool", GlobalAvgPool2d)
        .add("fc", Dense::new(6, 3, rng));
    let before = evaluate(&mut model, &test, 32, normalize.clone(), 3).unwrap();
    let mut sgd = Sgd::new(0.1).momentum(0.9);
    for epoch in 0..6 {
        let batches = Batches::<f32>::new(&train, 16, normalize.clone())
            .unwrap()
            .shuffled(4, epoch);
        train_epoch(&mut model, &mut sgd, batches, None, |_| {}).unwrap();
    }
    let after = evaluate(&mut model, &test, 32, normalize, 3).unwrap();
    assert!(
        after.accuracy > 0.9,
        "accuracy {} (before training {})",
        after.accuracy,
        before.accuracy
    );
    assert_eq!(after.confusion.iter().flatten().sum::<usize>(), 60);
}

/// The same signal as `f32` pixels on the unit scale, trained by the `Trainer` (whose pixel
/// type follows the data): the batches, the normaliser and the evaluation all take the
/// channels.
#[test]
fn the_trainer_learns_a_colour_only_signal_from_f32_pixels() {
    let to_f32 = |d: Dataset| {
        let images = d.images.iter().map(|&b| f32::from(b) / 255.0).collect();
        Dataset::<f32>::new(images, d.labels, [32, 32, 3]).unwrap()
    };
    let (train, test) = (to_f32(colour_only(150, 5)), to_f32(colour_only(60, 6)));
    let rng = &mut StdRng::seed_from_u64(7);
    let mut model: Sequential<f32> = Sequential::new()
        .add(
            "conv",
            Conv2d::new(3, 6, (3, 3), Conv2dConfig::new().stride(2), rng).with_activation(Activation::Relu),
        )
        .add("pool", GlobalAvgPool2d)
        .add("fc", Dense::new(6, 3, rng));
    let mut sgd = Sgd::new(0.1).momentum(0.9);
    let history = nn::train::Trainer::new(&mut sgd)
        .epochs(6)
        .batch_size(16)
        .classes(3)
        .normalize(Normalize::of(&train).unwrap())
        .progress_bar(false)
        .log(false)
        .fit(&mut model, &train, Some(&test))
        .unwrap();
    let last = history.epochs.last().unwrap().validation.clone().unwrap();
    assert!(last.accuracy > 0.9, "accuracy {}", last.accuracy);
    assert_eq!(last.confusion.len(), 3);
}
