//! The maps of `nn::interpret` mean something on a trained network: LeNet-5 trained briefly
//! on the built-in digits (inputs in [0, 1], so black is 0): integrated-gradients
//! completeness, the model-randomisation sanity check (Adebayo et al. 2018), faithfulness
//! under pixel removal, occlusion, invariance and feature evolution. The measured figures
//! are printed (`-- --nocapture`). With `MNIST_DIR` set, the randomisation and faithfulness
//! checks also run on real MNIST.

use autograd::{Element, Tape, Tensor};
use nn::data::Dataset;
use nn::data::batches::{Batches, Normalize};
use nn::data::synthetic;
use nn::interpret::{
    Baseline, IntegratedGradients, Invariance, Method, Occlusion, Warp, attribute, feature_evolution,
    paper_layers, strongest_projections,
};
use nn::layers::{Module, Sequential};
use nn::models::lenet5;
use nn::train::checkpoint;
use nn::train::optim::Sgd;
use nn::train::{evaluate, train_step};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::sync::OnceLock;

#[path = "../../tests/common/skip.rs"]
mod skip;

struct Fixture {
    model: Sequential<f32>,
    test: Dataset,
    /// The untrained model's checkpoint and the trained one's, for feature evolution.
    checkpoints: [std::path::PathBuf; 2],
}

fn fit(train: &Dataset, epochs: u64, seed: u64, first: Option<&std::path::Path>) -> Sequential<f32> {
    let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(seed));
    if let Some(path) = first {
        checkpoint::save(path, &model, None, &[]).unwrap();
    }
    let mut opt = Sgd::new(0.05).momentum(0.9).nesterov(true);
    for epoch in 0..epochs {
        for batch in Batches::<f32>::new(train, 64, Normalize::UNIT)
            .unwrap()
            .shuffled(seed, epoch)
        {
            train_step(&mut model, &mut opt, &batch).unwrap();
        }
    }
    model.set_training(false);
    model
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (train, test) = synthetic::train_test_split(6_000, 1_000, 17);
        let dir = std::env::temp_dir().join(format!("interpret-trained-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let checkpoints = [dir.join("epoch0.safetensors"), dir.join("epoch2.safetensors")];
        let start = std::time::Instant::now();
        let mut model = fit(&train, 2, 3, Some(&checkpoints[0]));
        checkpoint::save(&checkpoints[1], &model, None, &[]).unwrap();
        let acc = evaluate(&mut model, &test, 256, Normalize::UNIT, 10)
            .unwrap()
            .accuracy;
        model.set_training(false);
        println!(
            "LeNet-5 on 6,000 synthetic digits, 2 epochs: {:.1}% test accuracy ({:.1?})",
            acc * 100.0,
            start.elapsed()
        );
        // The built-in digits are harder than MNIST since issue #12 (LeNet-5 gets about 83 % on
        // them after two epochs of 6,000, 95 % after the main job's three of 60,000).
        assert!(acc > 0.75, "the fixture did not train: {acc}");
        Fixture {
            model,
            test,
            checkpoints,
        }
    })
}

/// Images `range` of `data` as `[n, 28, 28, 1]` in [0, 1], with their labels.
fn images<T: Element>(data: &Dataset, range: std::ops::Range<usize>) -> (Tensor<T>, Vec<usize>) {
    let px: Vec<T> = range
        .clone()
        .flat_map(|i| data.image(i).iter().map(|&b| T::from_f64(b as f64 / 255.0)))
        .collect();
    let labels = range.clone().map(|i| data.labels[i] as usize).collect();
    (
        Tensor::from_vec(px, &[range.len(), data.rows, data.cols, 1]).unwrap(),
        labels,
    )
}

fn to_f64(model: &Sequential<f32>) -> Sequential<f64> {
    let mut m = lenet5::<f64, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
    for ((_, p), (_, q)) in m.parameters_mut().into_iter().zip(model.parameters()) {
        p.set(q.value().cast()).unwrap();
    }
    m
}

fn logits<T: Element>(model: &dyn Module<T>, x: &Tensor<T>) -> Vec<f64> {
    let tape = Tape::no_grad();
    model
        .forward(&tape.constant(x.clone()))
        .unwrap()
        .value()
        .as_slice()
        .iter()
        .map(|v| v.to_f64())
        .collect()
}

#[test]
fn integrated_gradients_are_complete_to_1e3_at_1024_steps_and_on_average_at_256() {
    let fx = fixture();
    let model = to_f64(&fx.model);
    let (x, labels) = images::<f64>(&fx.test, 0..16);
    let ig = IntegratedGradients {
        steps: 256,
        baseline: Baseline::Constant(0.0),
    };
    let start = std::time::Instant::now();
    let out = ig.attribute(&model, &x, &labels).unwrap();
    let elapsed = start.elapsed();
    let ratios: Vec<f64> = out
        .delta
        .iter()
        .zip(&out.change)
        .map(|(d, c)| d.abs() / c.abs())
        .collect();
    let worst = ratios.iter().cloned().fold(0.0, f64::max);
    let mean = ratios.iter().sum::<f64>() / 16.0;
    let within = ratios.iter().filter(|&&r| r <= 1e-3).count();
    // The gradient along the path is piecewise constant (ReLU and max-pool kinks), so the
    // trapezoid rule converges as 1/steps: at 256 steps most images are within 1e-3.
    assert!(mean <= 1e-3 && worst <= 2.5e-3 && within >= 12, "{ratios:?}");
    // Converging as 1/steps, every image is within 1e-3 four times finer. (The model differs
    // between platforms, its kinks with it: at 512 steps the worst image was 7.5e-4 on x86-64
    // and 1.4e-3 on aarch64; 1024 leaves room on both.)
    let ig1024 = IntegratedGradients {
        steps: 1024,
        baseline: Baseline::Constant(0.0),
    };
    let out1024 = ig1024.attribute(&model, &x, &labels).unwrap();
    let worst1024 = out1024
        .delta
        .iter()
        .zip(&out1024.change)
        .map(|(d, c)| d.abs() / c.abs())
        .fold(0.0, f64::max);
    assert!(
        worst1024 <= 1e-3 && worst1024 < worst,
        "1024 steps: {worst1024:.2e} (256: {worst:.2e})"
    );
    // The change is what the model says, computed separately.
    let (fx_, fb) = (logits(&model, &x), logits(&model, &Tensor::zeros(x.shape())));
    for n in 0..16 {
        let want = fx_[n * 10 + labels[n]] - fb[n * 10 + labels[n]];
        assert!((out.change[n] - want).abs() < 1e-9);
    }
    println!(
        "IG, f64, 16 images, |delta| / |f(x) - f(b)|: 256 steps max {worst:.2e}, mean {mean:.2e}, {within}/16 within 1e-3 \
         ({elapsed:.1?} for 16 x 256 passes); 1024 steps max {worst1024:.2e}"
    );
}

/// Spearman's rank correlation (ties get their mean rank).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for &k in &idx[i..=j] {
                r[k] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let var = |r: &[f64], m: f64| r.iter().map(|x| (x - m) * (x - m)).sum::<f64>().sqrt();
    let d = var(&ra, ma) * var(&rb, mb);
    if d == 0.0 { 0.0 } else { cov / d }
}

/// Cascading randomisation: the layers re-initialised from the top down, one more at each
/// step; per step and method, the mean Spearman correlation (of the absolute maps, and of
/// the signed ones) between the randomised and the trained model's maps of 32 test images.
fn randomisation(model: &Sequential<f32>, test: &Dataset) -> Vec<(String, [[f64; 2]; 3])> {
    let (x, labels) = images::<f32>(test, 0..32);
    let trained: Vec<Tensor<f32>> = Method::ALL
        .iter()
        .map(|&m| attribute(model, &x, &labels, m).unwrap())
        .collect();
    let fresh = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1234));
    let mut cascade = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
    for ((_, p), (_, q)) in cascade.parameters_mut().into_iter().zip(model.parameters()) {
        p.set(q.value().clone()).unwrap();
    }
    let mut rows = Vec::new();
    for layer in ["fc3", "fc2", "fc1", "conv2", "conv1"] {
        let new: Vec<(String, Tensor<f32>)> = fresh
            .parameters()
            .into_iter()
            .filter(|(n, _)| n.starts_with(&format!("{layer}.")))
            .map(|(n, p)| (n, p.value().clone()))
            .collect();
        for (name, p) in cascade.parameters_mut() {
            if let Some((_, v)) = new.iter().find(|(n, _)| *n == name) {
                p.set(v.clone()).unwrap();
            }
        }
        let mut cells = [[0.0; 2]; 3];
        for (m, method) in Method::ALL.iter().enumerate() {
            let map = attribute(&cascade, &x, &labels, *method).unwrap();
            for n in 0..32 {
                let span = n * 784..(n + 1) * 784;
                let a: Vec<f64> = trained[m].as_slice()[span.clone()]
                    .iter()
                    .map(|&v| v as f64)
                    .collect();
                let b: Vec<f64> = map.as_slice()[span].iter().map(|&v| v as f64).collect();
                let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
                cells[m][0] += spearman(&abs(&a), &abs(&b)) / 32.0;
                cells[m][1] += spearman(&a, &b) / 32.0;
            }
        }
        rows.push((format!("up to {layer}"), cells));
    }
    rows
}

fn print_randomisation(data: &str, rows: &[(String, [[f64; 2]; 3])]) {
    println!("model randomisation ({data}), mean Spearman vs trained, |map| / signed map:");
    println!(
        "  {:<14} {:>17} {:>17} {:>17}",
        "re-initialised", "gradient", "guided", "deconvnet"
    );
    for (step, cells) in rows {
        let c: Vec<String> = cells.iter().map(|[a, s]| format!("{a:.3} / {s:.3}")).collect();
        println!("  {step:<14} {:>17} {:>17} {:>17}", c[0], c[1], c[2]);
    }
}

#[test]
fn randomising_the_model_decorrelates_the_gradient_map() {
    let fx = fixture();
    let rows = randomisation(&fx.model, &fx.test);
    print_randomisation("synthetic digits", &rows);
    let [gradient, _, _] = rows.last().unwrap().1;
    assert!(
        gradient[0] < 0.3 && gradient[1] < 0.3,
        "gradient after full randomisation: {gradient:?}"
    );
}

/// How many pixels each side of a faithfulness check sets to black.
#[derive(Clone, Copy, Debug)]
enum Removal {
    /// 5% of the image's pixels on both sides: the top-ranked ones against as many random
    /// ink pixels.
    ImageShare,
    /// 5% of the digit's ink pixels on both sides: the top-ranked ones (anywhere) against
    /// as many random ink pixels.
    InkShare,
}

/// Per image: the drop of the target logit when the pixels with the highest attribution
/// (integrated gradients, zero baseline) are set to black, against the drop when as many
/// random ink pixels (> 0) are; the fraction of images where the first is at least twice
/// the second.
fn faithfulness(
    model: &Sequential<f32>,
    test: &Dataset,
    count: usize,
    steps: usize,
    removal: Removal,
) -> f64 {
    let (x, labels) = images::<f32>(test, 0..count);
    let ig = IntegratedGradients {
        steps,
        baseline: Baseline::Constant(0.0),
    };
    let attr = ig.attribute(model, &x, &labels).unwrap().attributions;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let (mut top, mut random) = (x.to_vec(), x.to_vec());
    for n in 0..count {
        let a = &attr.as_slice()[n * 784..(n + 1) * 784];
        let mut ink: Vec<usize> = (0..784).filter(|&p| x.as_slice()[n * 784 + p] > 0.0).collect();
        let k = match removal {
            Removal::ImageShare => 784 * 5 / 100,
            Removal::InkShare => (ink.len() as f64 * 0.05).round() as usize,
        };
        let mut order: Vec<usize> = (0..784).collect();
        order.sort_by(|&i, &j| a[j].total_cmp(&a[i]));
        order[..k].iter().for_each(|&p| top[n * 784 + p] = 0.0);
        ink.shuffle(&mut rng);
        ink.iter().take(k).for_each(|&p| random[n * 784 + p] = 0.0);
    }
    let shape = x.shape().to_vec();
    let (l0, lt, lr) = (
        logits(model, &x),
        logits(model, &Tensor::from_vec(top, &shape).unwrap()),
        logits(model, &Tensor::from_vec(random, &shape).unwrap()),
    );
    let good = (0..count)
        .filter(|&n| {
            let at = n * 10 + labels[n];
            l0[at] - lt[at] >= 2.0 * (l0[at] - lr[at])
        })
        .count();
    good as f64 / count as f64
}

#[test]
fn removing_the_top_attributed_pixels_hurts_more_than_removing_random_ink() {
    let fx = fixture();
    let start = std::time::Instant::now();
    let ink = faithfulness(&fx.model, &fx.test, 1_000, 32, Removal::InkShare);
    let image = faithfulness(&fx.model, &fx.test, 1_000, 32, Removal::ImageShare);
    println!(
        "faithfulness (IG, 32 steps, zero baseline), share of 1,000 test images where the top pixels' drop >= 2x random ink's: \
         {:.1}% removing 5% of the ink each side, {:.1}% removing 5% of the image each side ({:.1?})",
        ink * 100.0,
        image * 100.0,
        start.elapsed()
    );
    assert!(ink >= 0.9, "{ink}");
    // Removing 5% of the image (about a quarter of the ink) is the harder test: random ink
    // removal then hurts too. It still beats random by the factor on most images.
    assert!(image >= 0.8, "{image}");
}

#[test]
fn on_real_mnist_when_mnist_dir_is_set() {
    let Ok(dir) = std::env::var("MNIST_DIR") else {
        skip::skip(
            "on_real_mnist_when_mnist_dir_is_set",
            "MNIST_DIR is unset (point it at a folder with the MNIST IDX files to run this check)",
        );
        return;
    };
    use nn::data::idx::{Split, load_mnist};
    let train = load_mnist(&dir, Split::Train).unwrap();
    let test = load_mnist(&dir, Split::Test).unwrap();
    let first = |d: &Dataset, n: usize| Dataset {
        images: d.images[..n * 784].to_vec(),
        labels: d.labels[..n].to_vec(),
        rows: 28,
        cols: 28,
        channels: 1,
    };
    let mut model = fit(&first(&train, 10_000), 1, 3, None);
    let acc = evaluate(&mut model, &test, 256, Normalize::UNIT, 10)
        .unwrap()
        .accuracy;
    model.set_training(false);
    println!(
        "LeNet-5 on the first 10,000 MNIST training images, 1 epoch: {:.1}% test accuracy",
        acc * 100.0
    );
    let rows = randomisation(&model, &test);
    print_randomisation("MNIST", &rows);
    let fraction = faithfulness(&model, &test, 1_000, 32, Removal::InkShare);
    let image = faithfulness(&model, &test, 1_000, 32, Removal::ImageShare);
    println!(
        "faithfulness on MNIST: {:.1}% (5% of the ink), {:.1}% (5% of the image) of 1,000 test images",
        fraction * 100.0,
        image * 100.0
    );
    let [gradient, _, _] = rows.last().unwrap().1;
    assert!(gradient[0] < 0.3 && gradient[1] < 0.3 && fraction >= 0.9);
}

#[test]
fn the_most_harmful_occluder_covers_the_digit() {
    let fx = fixture();
    let (x, labels) = images::<f32>(&fx.test, 0..50);
    // The fill is about the mean pixel of the digits (the paper's grey square: the mean).
    let occ = Occlusion {
        size: 7,
        stride: 3,
        fill: 0.13,
    };
    let maps = occ.maps(&fx.model, "conv2", &x, &labels).unwrap();
    let (p, q) = maps.positions;
    let mut on_ink = 0;
    for n in 0..50 {
        let probs = &maps.probability.as_slice()[n * p * q..(n + 1) * p * q];
        let worst = (0..p * q).fold(0, |b, i| if probs[i] < probs[b] { i } else { b });
        let (top, left) = ((worst / q) * 3, (worst % q) * 3);
        let covers_ink =
            (top..top + 7).any(|i| (left..left + 7).any(|j| x.as_slice()[n * 784 + i * 28 + j] > 0.5));
        on_ink += usize::from(covers_ink);
    }
    println!("occlusion: the most harmful square covers ink in {on_ink} of 50 images");
    assert!(on_ink >= 45);
    // Batched speed: one image at stride 1 (484 positions of a 7x7 square).
    let one = x.slice(0, 0, 1, 1).unwrap();
    let start = std::time::Instant::now();
    let occ = Occlusion {
        size: 7,
        stride: 1,
        fill: 0.13,
    };
    let maps = occ.maps(&fx.model, "conv2", &one, &labels[..1]).unwrap();
    println!(
        "occlusion of one 28x28 image at stride 1 ({} positions): {:.1?}",
        maps.positions.0 * maps.positions.1,
        start.elapsed()
    );
}

#[test]
fn invariance_curves_start_at_zero_and_grow_with_the_shift() {
    let fx = fixture();
    let (first_layer, last_layer) = paper_layers(&fx.model).unwrap();
    assert_eq!((first_layer.as_str(), last_layer.as_str()), ("conv1", "fc2"));
    let (x, labels) = images::<f32>(&fx.test, 0..20);
    for warp in [Warp::Translation, Warp::Scale, Warp::Rotation] {
        let values: Vec<f64> = match warp {
            Warp::Translation => vec![0.0, 1.0, 2.0, 4.0, 6.0],
            Warp::Scale => vec![1.0, 0.9, 0.8, 0.7, 0.6],
            Warp::Rotation => vec![0.0, 10.0, 20.0, 45.0, 90.0],
        };
        let inv = Invariance {
            warp,
            values,
            fill: 0.0,
            first_layer: first_layer.clone(),
            last_layer: last_layer.clone(),
        };
        let curves = inv.curves(&fx.model, &x, &labels).unwrap();
        let clean = logits(&fx.model, &x);
        let mean = |c: &Vec<Vec<f64>>, v: usize| c.iter().map(|row| row[v]).sum::<f64>() / 20.0;
        for n in 0..20 {
            assert_eq!(
                (curves.first[n][0], curves.last[n][0]),
                (0.0, 0.0),
                "{warp:?}: the identity moves nothing"
            );
            let row = &clean[n * 10..(n + 1) * 10];
            let z: f64 = row.iter().map(|v| v.exp()).sum();
            assert!((curves.probability[n][0] - row[labels[n]].exp() / z).abs() < 1e-5);
        }
        let summary: Vec<String> = (0..5)
            .map(|v| {
                format!(
                    "{:.0}/{:.1}/{:.2}",
                    mean(&curves.first, v),
                    mean(&curves.last, v),
                    mean(&curves.probability, v)
                )
            })
            .collect();
        println!(
            "invariance {warp:?} {:?}: first/last distance/probability {}",
            inv.values,
            summary.join("  ")
        );
        assert!(mean(&curves.first, 4) > mean(&curves.first, 1), "{warp:?}");
    }
}

#[test]
fn feature_evolution_projects_each_checkpoints_strongest_activations() {
    let fx = fixture();
    let (x, _) = images::<f32>(&fx.test, 0..64);
    let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(77));
    let steps = feature_evolution(&mut model, &fx.checkpoints, "conv2", &x).unwrap();
    assert_eq!(steps.len(), 2);
    // The last step is the trained model's own.
    assert_eq!(steps[1], strongest_projections(&fx.model, "conv2", &x).unwrap());
    let untrained = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(3));
    assert_eq!(steps[0], strongest_projections(&untrained, "conv2", &x).unwrap());
    for step in &steps {
        assert_eq!(step.projections.shape(), &[16, 28, 28, 1]);
        for (c, top) in step.strongest.iter().enumerate() {
            let proj = &step.projections.as_slice()[c * 784..(c + 1) * 784];
            // A positive activation projects to something, inside its receptive field only.
            if top.value > 0.0 {
                assert!(proj.iter().any(|v| v.abs() > 0.0), "channel {c}");
            }
            for (p, v) in proj.iter().enumerate() {
                let (i, j) = (p / 28, p % 28);
                if *v != 0.0 {
                    assert!(top.field.rows.contains(&i) && top.field.cols.contains(&j));
                }
            }
        }
    }
}
