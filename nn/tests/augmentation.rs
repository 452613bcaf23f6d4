//! Random erasing, composition with probabilities, recipes and the augmented batch pipeline:
//! each against what the definition says, worked out independently of the code under test.

use autograd::runtime::parallel;
use nn::data::Dataset;
use nn::data::batches::{Batches, Normalize};
use nn::data::transforms::{
    Affine, Compose, EraseValue, ImageShape, RandomAffine, RandomErasing, Recipe, Transform, sample_rng,
};
use rand::rngs::StdRng;

fn digits(n: usize, seed: u64) -> Dataset {
    nn::data::synthetic::generate(n, seed)
}

#[test]
fn erasing_overwrites_exactly_one_rectangle_of_the_drawn_size() {
    let shape = ImageShape { h: 20, w: 30, c: 2 };
    let src: Vec<u8> = (0..shape.len()).map(|i| (i % 250 + 1) as u8).collect();
    let erase = RandomErasing::new().value(EraseValue::Constant(0.0));
    for index in 0..200 {
        let (i, j, h, w) = erase
            .sample(&mut sample_rng(3, 0, index), shape)
            .unwrap()
            .expect("torchvision's ranges always fit a 20x30 image within ten attempts");
        // The area and aspect the draw may give, from the definition: a in [0.02, 0.33] of
        // 600 pixels, h/w in [0.3, 3.3], rounding allowed.
        let area = (h * w) as f64;
        assert!(
            (0.02 * 600.0 * 0.6..=0.33 * 600.0 * 1.4).contains(&area),
            "{h}x{w}"
        );
        assert!(i + h <= shape.h && j + w <= shape.w && h < shape.h && w < shape.w);
        let mut dst = vec![255u8; shape.len()];
        Transform::<u8>::apply(&erase, &mut sample_rng(3, 0, index), shape, 0, &src, &mut dst).unwrap();
        for y in 0..shape.h {
            for x in 0..shape.w {
                let inside = (i..i + h).contains(&y) && (j..j + w).contains(&x);
                for ch in 0..shape.c {
                    let k = (y * shape.w + x) * shape.c + ch;
                    let want = if inside { 0 } else { src[k] };
                    assert_eq!(dst[k], want, "pixel ({y}, {x}, {ch}) of sample {index}");
                }
            }
        }
    }
}

#[test]
fn erasing_a_fixed_square_and_its_values() {
    // Area 0.25 of 16x16 at ratio 1: h = w = round(√64) = 8, always.
    let shape = ImageShape { h: 16, w: 16, c: 1 };
    let src = vec![100.0f32; shape.len()];
    for (value, check) in [
        (EraseValue::Fill, (7.0, 7.0)),
        (EraseValue::Constant(-2.5), (-2.5, -2.5)),
        (EraseValue::Uniform(10.0, 20.0), (10.0, 20.0)),
    ] {
        let erase = RandomErasing::new().area(0.25, 0.25).ratio(1.0, 1.0).value(value);
        let mut dst = vec![0.0f32; shape.len()];
        erase
            .apply(&mut sample_rng(1, 2, 3), shape, 7.0, &src, &mut dst)
            .unwrap();
        let erased: Vec<f32> = dst.iter().copied().filter(|&v| v != 100.0).collect();
        assert_eq!(erased.len(), 64, "{value:?}");
        assert!(
            erased.iter().all(|&v| (check.0..=check.1).contains(&v)),
            "{value:?}: {erased:?}"
        );
    }
    // A rectangle that can never fit leaves the image alone.
    let never = RandomErasing::new().area(1.0, 1.0).ratio(1.0, 1.0);
    let mut dst = vec![0.0f32; shape.len()];
    never
        .apply(&mut sample_rng(1, 2, 3), shape, 0.0, &src, &mut dst)
        .unwrap();
    assert_eq!(dst, src);
}

#[test]
fn bad_erasing_parameters_name_the_transform() {
    let shape = ImageShape { h: 8, w: 8, c: 1 };
    for bad in [
        RandomErasing::new().area(0.0, 0.5),
        RandomErasing::new().area(0.5, 0.2),
        RandomErasing::new().area(0.1, 1.5),
        RandomErasing::new().ratio(-1.0, 2.0),
        RandomErasing::new().value(EraseValue::Uniform(2.0, 1.0)),
        RandomErasing::new().value(EraseValue::Constant(f32::NAN)),
    ] {
        let err = bad
            .sample(&mut sample_rng(0, 0, 0), shape)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RandomErasing"), "{err}");
    }
}

/// Shifts right by one pixel, deterministically (a transform whose effect is known).
#[derive(Debug)]
struct ShiftRight;

impl Transform<u8> for ShiftRight {
    fn name(&self) -> &str {
        "ShiftRight"
    }
    fn apply(
        &self,
        _: &mut StdRng,
        shape: ImageShape,
        fill: u8,
        src: &[u8],
        dst: &mut [u8],
    ) -> autograd::Result<()> {
        Affine {
            translation: (1.0, 0.0),
            ..Affine::default()
        }
        .apply(src, shape, fill, dst)
    }
}

#[test]
fn each_step_runs_with_its_probability() {
    let shape = ImageShape { h: 1, w: 4, c: 1 };
    let src = [1u8, 2, 3, 4];
    let mut out = [0u8; 4];
    // Probability 0 and 1: never and always; two steps compose in order.
    Compose::new()
        .then(ShiftRight, 0.0)
        .apply(&src, shape, 0, (1, 0, 0), &mut out)
        .unwrap();
    assert_eq!(out, src);
    let twice = Compose::new().then(ShiftRight, 1.0).then(ShiftRight, 1.0);
    twice.apply(&src, shape, 9, (1, 0, 0), &mut out).unwrap();
    assert_eq!(out, [9, 9, 1, 2]);
    // Probability 0.3 over 4,000 samples: the count of shifted images is binomial
    // (mean 1,200, sd 29); ±5 sd.
    let sometimes = Compose::new().then(ShiftRight, 0.3);
    let shifted = (0..4000u64)
        .filter(|&i| {
            sometimes.apply(&src, shape, 0, (5, 1, i), &mut out).unwrap();
            out != src
        })
        .count();
    assert!(
        (1055..=1345).contains(&shifted),
        "{shifted} of 4000 shifted at p = 0.3"
    );
}

#[test]
fn the_none_recipe_is_the_identity_and_standard_changes_images() {
    let data = digits(64, 2);
    let same = Recipe::NONE.compose().apply_to_dataset(&data, 1).unwrap();
    assert_eq!(same, data);
    let augmented = Recipe::STANDARD.compose().apply_to_dataset(&data, 1).unwrap();
    let changed = (0..data.len())
        .filter(|&i| augmented.image(i) != data.image(i))
        .count();
    assert!(changed >= 60, "{changed} of 64 images changed");
    // Ink is neither created nor lost wholesale by small affines.
    let ink = |d: &Dataset| d.images.iter().map(|&v| v as f64).sum::<f64>();
    let ratio = ink(&augmented) / ink(&data);
    assert!((0.75..1.3).contains(&ratio), "ink ratio {ratio}");
}

/// Every image of an epoch, by dataset index, as the batches made them.
fn epoch_images(data: &Dataset, batch: usize, augment: &Compose<u8>, start: usize) -> Vec<(usize, Vec<f32>)> {
    let n = data.rows * data.cols;
    let batches = Batches::<f32>::new(data, batch, Normalize::UNIT)
        .unwrap()
        .shuffled(11, 4)
        .augmented(augment, 7, 4)
        .unwrap()
        .starting_at(start);
    let mut out = Vec::new();
    let mut k = start * batch;
    let order = shuffled_order(data.len(), 11, 4);
    for b in batches {
        for img in b.images.as_slice().chunks(n) {
            out.push((order[k], img.to_vec()));
            k += 1;
        }
    }
    out
}

/// The order `Batches::shuffled(seed, epoch)` visits, read off a dataset whose images are
/// their own index.
fn shuffled_order(len: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let probe = Dataset {
        images: (0..len)
            .flat_map(|i| [(i % 256) as u8, (i / 256) as u8])
            .collect(),
        labels: vec![0; len],
        rows: 1,
        cols: 2,
        channels: 1,
    };
    Batches::<f32>::new(&probe, len, Normalize::UNIT)
        .unwrap()
        .shuffled(seed, epoch)
        .flat_map(|b| {
            b.images
                .as_slice()
                .chunks(2)
                .map(|p| (p[0] * 255.0).round() as usize + 256 * (p[1] * 255.0).round() as usize)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn an_augmented_image_depends_on_its_sample_only() {
    let _ = parallel::set_num_threads(2);
    let data = digits(100, 3);
    let augment = Recipe::STANDARD.compose().then(RandomErasing::new(), 0.5);
    let n = data.rows * data.cols;
    // What each image must be: the composition applied alone with the stream of
    // (seed 7, epoch 4, dataset index), then scaled to [0, 1].
    let expected = |i: usize| -> Vec<f32> {
        let mut out = vec![0u8; n];
        let shape = ImageShape {
            h: data.rows,
            w: data.cols,
            c: 1,
        };
        augment
            .apply(data.image(i), shape, 0, (7, 4, i as u64), &mut out)
            .unwrap();
        out.iter().map(|&b| (b as f64 / 255.0) as f32).collect()
    };
    let whole = epoch_images(&data, 64, &augment, 0);
    assert_eq!(whole.len(), 100);
    for (i, img) in &whole {
        assert_eq!(img, &expected(*i), "image {i}");
    }
    // Other batch sizes, a resumed pass, and no splitting across threads: the same bits.
    for (batch, start) in [(5, 0), (7, 3), (100, 0)] {
        assert_eq!(
            epoch_images(&data, batch, &augment, start),
            whole[start * batch..].to_vec()
        );
    }
    let serial = parallel::install(|| parallel::part(|| epoch_images(&data, 64, &augment, 0)));
    assert_eq!(serial, whole);
    assert!(parallel::num_threads() >= 2);
}

#[test]
fn a_failing_transform_ends_the_epoch_with_its_error() {
    /// Fails on any image with ink (the blank probe `augmented` tries passes).
    #[derive(Debug)]
    struct FailsOnInk;
    impl Transform<u8> for FailsOnInk {
        fn name(&self) -> &str {
            "FailsOnInk"
        }
        fn apply(
            &self,
            _: &mut StdRng,
            _: ImageShape,
            _: u8,
            src: &[u8],
            dst: &mut [u8],
        ) -> autograd::Result<()> {
            if src.iter().any(|&v| v > 0) {
                return Err(autograd::Error::invalid("FailsOnInk", &[], "ink".to_string()));
            }
            dst.copy_from_slice(src);
            Ok(())
        }
    }
    let data = digits(256, 4);
    let augment = Compose::new().then(FailsOnInk, 1.0);
    let mut model = nn::models::lenet5::<f32, _>(&mut <StdRng as rand::SeedableRng>::seed_from_u64(0));
    let mut sgd = nn::train::optim::Sgd::new(0.01);
    let batches = Batches::<f32>::new(&data, 32, Normalize::MNIST)
        .unwrap()
        .augmented(&augment, 1, 0)
        .unwrap();
    let err = nn::train::epoch::train_epoch(&mut model, &mut sgd, batches, None, |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("FailsOnInk") && err.to_string().contains("augmenting"),
        "{err}"
    );

    // Bad parameters fail when the batches are made, naming the transform.
    let bad = Compose::new().then(RandomAffine::new().scale(2.0, 1.0), 1.0);
    let err = Batches::<f32>::new(&data, 32, Normalize::MNIST)
        .unwrap()
        .augmented(&bad, 1, 0)
        .err()
        .unwrap();
    assert!(err.to_string().contains("RandomAffine"), "{err}");
}
