//! The attribution and inspection methods of `nn::interpret` against independent
//! computations: central finite differences, maps worked out by hand, direct per-position
//! loops, and the support of a gradient.

use autograd::{Tape, Tensor};
use nn::interpret::{
    Baseline, Field, IntegratedGradients, InterpretError, Method, Occlusion, Seed, attribute, filters,
    grad_cam, project, receptive_field, saliency, top_activations,
};
use nn::layers::{AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, Module, ReLU, Sequential};
use nn::models::lenet5;
use nn::ops::activation::Activation;
use nn::ops::conv::Conv2dConfig;
use nn::ops::pool::Pool2dConfig;
use rand::SeedableRng;

mod common;

fn t(v: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), shape).unwrap()
}

fn logits(model: &dyn Module<f64>, x: &Tensor<f64>) -> Tensor<f64> {
    let tape = Tape::no_grad();
    model.forward(&tape.constant(x.clone())).unwrap().value().clone()
}

#[test]
fn saliency_matches_central_finite_differences_in_f64() {
    let model = lenet5::<f64, _>(&mut rand::rngs::StdRng::seed_from_u64(4));
    let x = common::values(&[2, 28, 28, 1], 11);
    let targets = [3, 7];
    let g = saliency(&model, &x, &targets).unwrap();
    let eps = 1e-6;
    let pixels = 28 * 28;
    for (n, &target) in targets.iter().enumerate() {
        // All 2·784 perturbed images in one batch.
        let mut rows = Vec::with_capacity(2 * pixels * pixels);
        for p in 0..pixels {
            for sign in [1.0, -1.0] {
                let mut img = x.as_slice()[n * pixels..(n + 1) * pixels].to_vec();
                img[p] += sign * eps;
                rows.extend(img);
            }
        }
        let out = logits(&model, &t(&rows, &[2 * pixels, 28, 28, 1]));
        let g = &g.as_slice()[n * pixels..(n + 1) * pixels];
        let scale = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mut worst = 0.0f64;
        for p in 0..pixels {
            let fd = (out.as_slice()[2 * p * 10 + target] - out.as_slice()[(2 * p + 1) * 10 + target])
                / (2.0 * eps);
            worst = worst.max((fd - g[p]).abs());
        }
        println!("saliency vs finite differences, image {n}: max |diff| {worst:.2e} (max |g| {scale:.2e})");
        assert!(
            scale > 1e-4 && worst < 1e-6 * scale.max(1.0),
            "image {n}: {worst}"
        );
    }
}

#[test]
fn grad_cam_weights_the_layer_output_by_the_spatial_mean_of_its_gradient() {
    // conv: a 1x1 kernel with channels (1, -1) and a fused ReLU, so A_c0 = ReLU(x) and
    // A_c1 = ReLU(-x); logit = Σ v · A in flatten order (h, w, c). By hand: dA_c0 = v at
    // even features, dA_c1 at odd ones; α_c their means; cam = ReLU(α_0 A_c0 + α_1 A_c1).
    let w = t(&[1.0, -1.0], &[2, 1, 1, 1]);
    let conv = Conv2d::from_tensors(w, None, Conv2dConfig::new()).unwrap();
    let v = [1.0, -20.0, 3.0, -20.0, 5.0, -20.0, 7.0, -20.0];
    let model = Sequential::<f64>::new()
        .add("conv", conv.with_activation(Activation::Relu))
        .add("flatten", Flatten)
        .add("fc", Dense::from_tensors(t(&v, &[8, 1]), None).unwrap());
    let x = t(&[1.0, 2.0, -1.0, 3.0], &[1, 2, 2, 1]);
    // A_c0 = [1, 2, 0, 3], A_c1 = [0, 0, 1, 0]; α = (4, -20): [4, 8, -20, 12] -> ReLU.
    let cam = grad_cam(&model, "conv", &x, &[0]).unwrap();
    assert_eq!(cam.shape(), &[1, 2, 2]);
    assert_eq!(cam.to_vec(), [4.0, 8.0, 0.0, 12.0]);
    // Batched (two images, the second negated): each image its own map.
    let x2 = t(&[1.0, 2.0, -1.0, 3.0, -1.0, -2.0, 1.0, -3.0], &[2, 2, 2, 1]);
    let cam2 = grad_cam(&model, "conv", &x2, &[0, 0]).unwrap();
    // Image 2: A_c0 = [0, 0, 1, 0], A_c1 = [1, 2, 0, 3]: [-20, -40, 4, -60] -> ReLU.
    assert_eq!(cam2.to_vec(), [4.0, 8.0, 0.0, 12.0, 0.0, 0.0, 4.0, 0.0]);
}

/// A small conv net with every layer kind, random weights.
fn small_model(seed: u64) -> Sequential<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(
            "conv1",
            Conv2d::new(1, 4, (3, 3), Conv2dConfig::new().padding(1), &mut rng)
                .with_activation(Activation::Relu),
        )
        .add("pool1", MaxPool2d(Pool2dConfig::new(2)))
        .add("conv2", Conv2d::new(4, 5, (3, 3), Conv2dConfig::new(), &mut rng))
        .add("relu2", ReLU)
        .add("flatten", Flatten)
        .add("fc", Dense::new(5 * 2 * 2, 3, &mut rng))
}

#[test]
fn occlusion_maps_equal_one_forward_pass_per_occluded_image() {
    let model = small_model(2);
    let x = common::values(&[2, 9, 9, 1], 3);
    let targets = [1, 2];
    let occ = Occlusion {
        size: 3,
        stride: 2,
        fill: 0.25,
    };
    let maps = occ.maps(&model, "conv2", &x, &targets).unwrap();
    assert_eq!(maps.positions, (4, 4)); // (9 - 3) / 2 + 1
    let tape = Tape::no_grad();
    for n in 0..2 {
        let image = x.slice(0, n, n + 1, 1).unwrap();
        // The strongest feature map of conv2 in the unoccluded image, by a plain scan.
        let a = model
            .forward_until(&tape.constant(image.clone()), "conv2")
            .unwrap();
        let best = a
            .value()
            .as_slice()
            .iter()
            .enumerate()
            .fold((0, f64::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
        assert_eq!(maps.feature_channel[n], best.0 % 5);
        for p in 0..4 {
            for q in 0..4 {
                let mut img = image.clone();
                for i in 2 * p..2 * p + 3 {
                    for j in 2 * q..2 * q + 3 {
                        img.set(&[0, i, j, 0], 0.25).unwrap();
                    }
                }
                let z = logits(&model, &img).to_vec();
                let e: Vec<f64> = z.iter().map(|v| v.exp()).collect();
                let prob = e[targets[n]] / e.iter().sum::<f64>();
                let at = (n * 4 + p) * 4 + q;
                assert!(
                    (maps.probability.as_slice()[at] - prob).abs() < 1e-12,
                    "({n}, {p}, {q})"
                );
                let argmax = (0..3).fold(0, |b, k| if z[k] > z[b] { k } else { b });
                assert_eq!(maps.predicted[at], argmax);
                let a = model.forward_until(&tape.constant(img), "conv2").unwrap();
                let total: f64 = a
                    .value()
                    .as_slice()
                    .iter()
                    .skip(maps.feature_channel[n])
                    .step_by(5)
                    .sum();
                assert!((maps.feature.as_slice()[at] - total).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn the_receptive_field_bounds_the_gradient_of_one_activation() {
    // Identity activations and average pooling, so every pixel of the field matters: the
    // gradient's support is exactly the field (padding cut off at the borders).
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let model = Sequential::<f64>::new()
        .add(
            "conv1",
            Conv2d::new(1, 2, (5, 5), Conv2dConfig::new().padding(2), &mut rng),
        )
        .add(
            "pool",
            AvgPool2d {
                cfg: Pool2dConfig::new(2),
                count_include_pad: true,
            },
        )
        .add(
            "conv2",
            Conv2d::new(
                2,
                3,
                (3, 3),
                Conv2dConfig::new().stride(2).padding(1).dilation(2),
                &mut rng,
            ),
        );
    let x = common::values(&[1, 20, 20, 1], 1);
    for (i, j) in [(0, 0), (2, 3), (3, 3), (1, 0)] {
        let field = receptive_field(&model, "conv2", (i, j), (20, 20)).unwrap();
        let tape = Tape::new();
        let xv = tape.var(x.clone());
        let a = model.forward(&xv).unwrap();
        let mut seed = Tensor::zeros(a.shape());
        seed.set(&[0, i, j, 1], 1.0).unwrap();
        let g = tape.backward_with(&a, seed).unwrap()[&xv].clone();
        let (mut rows, mut cols) = ((usize::MAX, 0), (usize::MAX, 0));
        for (p, v) in g.as_slice().iter().enumerate() {
            if v.abs() > 1e-14 {
                let (r, c) = (p / 20, p % 20);
                rows = (rows.0.min(r), rows.1.max(r + 1));
                cols = (cols.0.min(c), cols.1.max(c + 1));
            }
        }
        assert_eq!(
            field,
            Field {
                rows: rows.0..rows.1,
                cols: cols.0..cols.1
            },
            "position ({i}, {j})"
        );
    }
}

#[test]
fn a_deconvnet_projection_rectifies_where_the_gradient_does_not() {
    // x -> 1x1 conv (w = 1) -> max pool 1x2 -> ReLU layer -> 1x2 conv (1, -1).
    // Forward: pool (3 from pixel 1, 2 from pixel 2), conv 3 - 2 = 1. Backward of that
    // activation: transposed filter 1·(1, -1); the ReLU layer: deconvnet rectifies to
    // (1, 0), the gradient keeps (1, -1) (both inputs positive); unpool to pixels 1 and 2.
    let conv = |w: &[f64], kw| Conv2d::from_tensors(t(w, &[1, 1, kw, 1]), None, Conv2dConfig::new()).unwrap();
    let model = Sequential::<f64>::new()
        .add("c1", conv(&[1.0], 1))
        .add(
            "pool",
            MaxPool2d(Pool2dConfig {
                kernel: (1, 2),
                stride: (1, 2),
                padding: (0, 0),
            }),
        )
        .add("relu", ReLU)
        .add("c2", conv(&[1.0, -1.0], 2));
    let x = t(&[1.0, 3.0, 2.0, 0.0], &[1, 1, 4, 1]);
    let seed = [Seed {
        channel: 0,
        position: Some((0, 0)),
    }];
    assert_eq!(
        project(&model, "c2", &x, &seed).unwrap().to_vec(),
        [0.0, 1.0, 0.0, 0.0]
    );
    let no_grad = Tape::no_grad();
    let head = model.forward_until(&no_grad.constant(x.clone()), "c2").unwrap();
    assert_eq!(head.value().to_vec(), [1.0]);
    // The gradient of the same activation, for contrast.
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let a = model.forward(&xv).unwrap();
    assert_eq!(
        tape.backward_with(&a, t(&[1.0], &[1, 1, 1, 1])).unwrap()[&xv].to_vec(),
        [0.0, 1.0, -1.0, 0.0]
    );
    // Projecting from the pooling layer: unpool, then the 1x1 conv; other maps zeroed.
    let p = project(
        &model,
        "pool",
        &x,
        &[Seed {
            channel: 0,
            position: Some((0, 1)),
        }],
    )
    .unwrap();
    assert_eq!(p.to_vec(), [0.0, 0.0, 2.0, 0.0]);
}

#[test]
fn top_activations_rank_the_images_and_crop_their_receptive_fields() {
    let model = small_model(5);
    let x = common::values(&[10, 9, 9, 1], 12);
    let top = top_activations(&model, "conv2", &x, 3).unwrap();
    assert_eq!(top.len(), 5);
    let tape = Tape::no_grad();
    let a = model.forward_until(&tape.constant(x.clone()), "conv2").unwrap();
    let a = a.value().as_slice();
    for (c, list) in top.iter().enumerate() {
        // Each image's maximum over the 2x2 map of channel c, by a plain scan.
        let mut maxima: Vec<(f64, usize)> = (0..10)
            .map(|n| ((0..4).map(|p| a[(n * 4 + p) * 5 + c]).fold(f64::MIN, f64::max), n))
            .collect();
        maxima.sort_by(|p, q| q.0.total_cmp(&p.0));
        let images: Vec<usize> = list.iter().map(|t| t.image).collect();
        assert_eq!(
            images,
            maxima[..3].iter().map(|m| m.1).collect::<Vec<_>>(),
            "channel {c}"
        );
        for t in list {
            let (i, j) = t.position;
            assert_eq!(a[(t.image * 4 + i * 2 + j) * 5 + c], t.value);
            // conv2 (3x3) after pool (2x2) after conv1 (3x3, p 1): output i reads pool rows
            // i..i+2, conv1 rows 2i..2i+5, input rows 2i-1..2i+6 (clipped).
            let rows = (2 * i).saturating_sub(1)..(2 * i + 7).min(9);
            assert_eq!(
                t.field,
                Field {
                    rows,
                    cols: (2 * j).saturating_sub(1)..(2 * j + 7).min(9)
                }
            );
        }
    }
}

#[test]
fn filters_are_each_scaled_to_the_unit_range() {
    let model = small_model(1);
    let f = filters(&model, "conv2").unwrap();
    assert_eq!(f.shape(), &[5, 3, 3, 4]);
    let raw = model.parameters()[2].1.value().clone();
    for (k, (kernel, raw)) in f.as_slice().chunks(36).zip(raw.as_slice().chunks(36)).enumerate() {
        let (lo, hi) = raw
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        for (v, r) in kernel.iter().zip(raw) {
            assert!((v - (r - lo) / (hi - lo)).abs() < 1e-12, "kernel {k}");
        }
    }
}

#[test]
fn integrated_gradients_of_a_relu_unit_follow_the_path_integral_by_hand() {
    // f(x) = ReLU(x_0 - x_1) summed to one logit, x = (3, 1), baseline 0: along the path
    // f = 2α, the gradient (1, -1) wherever α > 0; the trapezoid over α_k = k/(S-1) gives
    // weight 1 - w_0 = 1 - 1/(2(S-1)) to the points with α > 0.
    let model = Sequential::<f64>::new()
        .add("fc", Dense::from_tensors(t(&[1.0, -1.0], &[2, 1]), None).unwrap())
        .add("relu", ReLU);
    let steps = 5;
    let ig = IntegratedGradients {
        steps,
        baseline: Baseline::Constant(0.0),
    };
    let out = ig.attribute(&model, &t(&[3.0, 1.0], &[1, 2]), &[0]).unwrap();
    let w = 1.0 - 0.5 / (steps - 1) as f64;
    let a = out.attributions.to_vec();
    assert!(
        (a[0] - 3.0 * w).abs() < 1e-12 && (a[1] + w).abs() < 1e-12,
        "{a:?}"
    );
    assert!((out.change[0] - 2.0).abs() < 1e-12);
    assert!((out.delta[0] - (2.0 * w - 2.0)).abs() < 1e-12);
}

#[test]
fn bad_arguments_are_errors_naming_the_function() {
    let model = small_model(1);
    let x = common::values(&[2, 9, 9, 1], 1);
    let err = |e: InterpretError| e.to_string();
    let e = err(grad_cam(&model, "conv9", &x, &[0, 1]).unwrap_err());
    assert!(
        e.contains("grad_cam") && e.contains("conv9") && e.contains("conv1"),
        "{e}"
    );
    let e = err(attribute(&model, &x, &[0, 3], Method::Gradient).unwrap_err());
    assert!(
        e.contains("attribute") && e.contains("target class 3 of image 1") && e.contains("there are 3"),
        "{e}"
    );
    let e = err(saliency(&model, &x, &[0]).unwrap_err());
    assert!(e.contains("[2, 9, 9, 1]") && e.contains("1 targets"), "{e}");
    let e = err(grad_cam(&model, "fc", &x, &[0, 1]).unwrap_err());
    assert!(e.contains("grad_cam") && e.contains("[2, 3]"), "{e}");
    assert!(err(filters(&model, "fc").unwrap_err()).contains("not a convolution"));
    let ig = IntegratedGradients {
        steps: 1,
        baseline: Baseline::Constant(0.0),
    };
    assert!(err(ig.attribute(&model, &x, &[0, 1]).unwrap_err()).contains("steps = 1"));
    let occ = Occlusion {
        size: 10,
        stride: 1,
        fill: 0.0,
    };
    assert!(err(occ.maps(&model, "conv2", &x, &[0, 1]).unwrap_err()).contains("Occlusion::maps"));
    let bad_seed = [Seed {
        channel: 7,
        position: None,
    }; 2];
    let e = err(project(&model, "conv2", &x, &bad_seed).unwrap_err());
    assert!(e.contains("channel 7") && e.contains("there are 5"), "{e}");
    assert!(
        err(top_activations(&model, "flatten", &x.reshape(&[2, 81]).unwrap(), 1).unwrap_err())
            .contains("[N, H, W, C]")
    );
}
