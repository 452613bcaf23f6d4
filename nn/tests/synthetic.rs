//! The built-in synthetic digits: determinism, balance, the split, MNIST-like pixel statistics,
//! and that the classes are learnable but not trivially so.

use nn::data::Dataset;
use nn::data::synthetic::{self, DEFAULT_SEED, DEFAULT_TEST, DEFAULT_TRAIN, SIDE};
use std::collections::HashSet;

const PIXELS: usize = SIDE * SIDE;

// The main job's defaults: enough data to pass 95 % with LeNet-5, a test set larger than 1 000.
const _: () = assert!(DEFAULT_TRAIN >= 10_000 && DEFAULT_TEST >= 1_000 && DEFAULT_TRAIN > DEFAULT_TEST);

fn class_counts(set: &Dataset) -> [usize; 10] {
    let mut counts = [0; 10];
    for &l in &set.labels {
        counts[l as usize] += 1;
    }
    counts
}

/// FNV-1a over the bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

#[test]
fn shapes_and_defaults() {
    let set = synthetic::generate(37, 3);
    assert_eq!((set.rows, set.cols, set.len()), (28, 28, 37));
    assert_eq!(set.images.len(), 37 * 28 * 28);
    assert!(set.labels.iter().all(|&l| l < 10));
    assert!(synthetic::generate(0, 3).is_empty());
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_other_seeds_differ() {
    let a = synthetic::generate(300, 42);
    assert_eq!(a, synthetic::generate(300, 42));
    let b = synthetic::generate(300, 43);
    assert_ne!(a.labels, b.labels);
    let same = (0..300).filter(|&i| a.image(i) == b.image(i)).count();
    assert_eq!(same, 0, "{same} images equal under different seeds");
}

/// The data set is part of the project's results: the same seed must give the same bytes on
/// every platform and build. If the generator was changed on purpose, update the fingerprint.
#[test]
fn the_data_are_stable_across_platforms_and_versions() {
    let set = synthetic::generate(64, DEFAULT_SEED);
    let fingerprint = fnv1a(&set.images) ^ fnv1a(&set.labels).rotate_left(17);
    assert_eq!(
        fingerprint, 0x8637_4c89_a051_52b4,
        "fingerprint {fingerprint:#018x}"
    );
}

#[test]
fn classes_are_balanced_and_shuffled() {
    for count in [1, 9, 10, 11, 1_234, 5_000] {
        let set = synthetic::generate(count, 7);
        let counts = class_counts(&set);
        let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(hi - lo <= 1, "count {count}: {counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), count);
    }
    let set = synthetic::generate(1_000, 7);
    let in_cycle = (0..1_000).filter(|&i| set.labels[i] as usize == i % 10).count();
    assert!(
        in_cycle < 200,
        "labels look unshuffled: {in_cycle} of 1000 follow i % 10"
    );
    let repeats = set.labels.windows(2).filter(|w| w[0] == w[1]).count();
    assert!(
        (50..150).contains(&repeats),
        "{repeats} equal neighbours, expected about 100"
    );
}

#[test]
fn the_split_never_copies_a_training_image_into_the_test_set() {
    let (train, test) = synthetic::train_test_split(3_000, 1_000, DEFAULT_SEED);
    assert_eq!((train.len(), test.len()), (3_000, 1_000));
    assert_eq!(class_counts(&test), [100; 10]);
    let seen: HashSet<&[u8]> = (0..train.len()).map(|i| train.image(i)).collect();
    assert_eq!(
        seen.len(),
        train.len(),
        "duplicate images inside the training set"
    );
    let copies = (0..test.len()).filter(|&i| seen.contains(test.image(i))).count();
    assert_eq!(copies, 0);
    // Neither set is the plain `generate` of the base seed, and other seeds give other splits.
    assert_ne!(
        train.images[..1_000 * PIXELS],
        synthetic::generate(3_000, DEFAULT_SEED).images[..1_000 * PIXELS]
    );
    let (train2, _) = synthetic::train_test_split(3_000, 1_000, DEFAULT_SEED + 1);
    assert_ne!(train.images, train2.images);
}

#[test]
fn pixel_statistics_are_mnist_like() {
    let set = synthetic::generate(2_000, 11);
    let n = set.images.len() as f64;
    let mean = set.images.iter().map(|&v| v as f64 / 255.0).sum::<f64>() / n;
    let var = set
        .images
        .iter()
        .map(|&v| (v as f64 / 255.0 - mean).powi(2))
        .sum::<f64>()
        / n;
    let zero = set.images.iter().filter(|&&v| v == 0).count() as f64 / n;
    let bright = set.images.iter().filter(|&&v| v > 128).count() as f64 / n;
    let full = set.images.iter().filter(|&&v| v >= 250).count() as f64 / n;
    println!(
        "mean {mean:.4} std {:.4} zero {zero:.3} >128 {bright:.3} >=250 {full:.3} (MNIST: 0.1307 0.3081 0.809 0.131 0.075)",
        var.sqrt()
    );
    assert!((0.09..0.17).contains(&mean), "mean {mean}");
    assert!((0.25..0.36).contains(&var.sqrt()), "std {}", var.sqrt());
    assert!(zero > 0.7, "only {zero} of the pixels are background");
    assert!((0.08..0.2).contains(&bright), "{bright} of the pixels are ink");
    assert!(full > 0.01, "the ink never reaches full intensity ({full})");
}

#[test]
fn every_image_has_ink_and_keeps_it_inside_the_frame() {
    let set = synthetic::generate(3_000, 5);
    let mut outside_centre = 0.0;
    let mut total = 0.0;
    for i in 0..set.len() {
        let image = set.image(i);
        let strong = image.iter().filter(|&&v| v >= 128).count();
        let peak = image.iter().max().unwrap();
        assert!(
            strong >= 15,
            "image {i} (a {}) has only {strong} pixels of ink",
            set.labels[i]
        );
        assert!(
            *peak >= 200,
            "image {i} (a {}) is faint: {peak} at most",
            set.labels[i]
        );
        let mut ring = 0.0;
        for r in 0..SIDE {
            for c in 0..SIDE {
                let v = image[r * SIDE + c] as f64;
                total += v;
                if !(4..24).contains(&r) || !(4..24).contains(&c) {
                    outside_centre += v;
                }
                if r == 0 || c == 0 || r == SIDE - 1 || c == SIDE - 1 {
                    ring += v;
                }
            }
        }
        assert!(ring == 0.0, "image {i} has ink {ring} on its border");
    }
    let share = outside_centre / total;
    println!("{share:.4} of the ink lies outside the central 20x20 box");
    assert!(
        share < 0.1,
        "{share} of the ink lies outside the central 20x20 box"
    );
}

fn as_f64(image: &[u8]) -> Vec<f64> {
    image.iter().map(|&v| v as f64 / 255.0).collect()
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[test]
fn images_of_a_class_are_closer_than_images_of_different_classes() {
    let set = synthetic::generate(2_000, 13);
    let images: Vec<Vec<f64>> = (0..set.len()).map(|i| as_f64(set.image(i))).collect();
    let (mut same, mut n_same, mut other, mut n_other) = (0.0, 0, 0.0, 0);
    for i in 0..images.len() {
        for j in (i + 1..images.len()).step_by(7) {
            let d = dist2(&images[i], &images[j]).sqrt();
            if set.labels[i] == set.labels[j] {
                same += d;
                n_same += 1;
            } else {
                other += d;
                n_other += 1;
            }
        }
    }
    let (same, other) = (same / n_same as f64, other / n_other as f64);
    println!("mean distance within a class {same:.3}, between classes {other:.3} (MNIST: 8.845, 10.252)");
    assert!(same < 0.95 * other, "within {same}, between {other}");
    // But a class is not one image repeated: images of a class vary a lot.
    assert!(
        same > 0.6 * other,
        "within {same}, between {other}: too little variation"
    );
}

#[test]
fn a_nearest_class_mean_classifier_learns_the_digits_but_not_perfectly() {
    let (train, test) = synthetic::train_test_split(4_000, 1_000, 99);
    let mut means = vec![vec![0.0; PIXELS]; 10];
    let counts = class_counts(&train);
    for i in 0..train.len() {
        let l = train.labels[i] as usize;
        for (m, v) in means[l].iter_mut().zip(as_f64(train.image(i))) {
            *m += v / counts[l] as f64;
        }
    }
    let correct = (0..test.len())
        .filter(|&i| {
            let x = as_f64(test.image(i));
            let guess = (0..10)
                .min_by(|&a, &b| dist2(&x, &means[a]).total_cmp(&dist2(&x, &means[b])))
                .unwrap();
            guess == test.labels[i] as usize
        })
        .count();
    let accuracy = correct as f64 / test.len() as f64;
    println!("nearest-class-mean accuracy {accuracy:.3} (MNIST, same sizes: 0.771)");
    assert!(
        accuracy > 0.6,
        "accuracy {accuracy}: the classes are not learnable"
    );
    assert!(accuracy < 0.92, "accuracy {accuracy}: the digits are too easy");
}
