//! `examples/understand`, run as a user runs it on the built-in digits with a tiny budget:
//! the page refers only to PNGs that are in its folder, and `maps.safetensors` holds every
//! map with the promised shape, dtype and metadata, for the images the model was fed.

mod common;
use common::Scratch;
use rand::SeedableRng;
use safetensors::{Dtype, SafeTensors};
use tapegrad::autograd::{Tape, Tensor};
use tapegrad::nn::data::synthetic;
use tapegrad::nn::layers::Module;
use tapegrad::nn::models::lenet5;
use tapegrad::nn::train::checkpoint;

const MEAN: f64 = 0.1307;
const STD: f64 = 0.3081;

/// Every `src="..."` of the page.
fn image_sources(html: &str) -> Vec<String> {
    html.split("src=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        .collect()
}

fn f32_values(view: &safetensors::tensor::TensorView<'_>) -> Vec<f32> {
    view.data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn a_tiny_run_writes_a_page_of_existing_pngs_and_every_map() {
    let dir = Scratch::new("understand-cli");
    let out = dir.join("out");
    let args = [
        "--out",
        out.to_str().unwrap(),
        "--train-size",
        "400",
        "--test-size",
        "200",
        "--epochs",
        "1",
        "--explain",
        "3",
        "--top-pool",
        "100",
        "--ig-steps",
        "8",
        "--smoothgrad-samples",
        "4",
        "--occlusion-size",
        "7",
        "--occlusion-stride",
        "3",
        "--seed",
        "5",
    ];
    let run = common::example::run("understand", &args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "understand failed: {stderr}");

    // The page: only relative PNGs that exist and decode, no scripts, nothing remote.
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let sources = image_sources(&html);
    assert!(sources.len() >= 12, "only {} figures", sources.len());
    for src in &sources {
        assert!(
            src.ends_with(".png") && !src.contains('/') && !src.contains(':'),
            "{src}"
        );
        let bytes = std::fs::read(out.join(src)).unwrap_or_else(|e| panic!("{src}: {e}"));
        let info = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap()
            .info()
            .clone();
        assert!(info.width > 0 && info.height > 0, "{src}");
    }
    for must in [
        "filters_conv1.png",
        "maps_conv1.png",
        "maps_pool2.png",
        "top9_conv2.png",
        "attributions.png",
        "occlusion.png",
        "evolution_conv2.png",
        "invariance_rotation.png",
    ] {
        assert!(sources.iter().any(|s| s == must), "{must} is not on the page");
    }
    assert_eq!(html.matches("<figcaption>").count(), sources.len());
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));

    // The maps: names, dtypes, shapes.
    let bytes = std::fs::read(out.join("maps.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let n = 3;
    // (28 - 7) / 3 + 1 positions of the occluder each way; conv2's output is 10x10.
    let expected: [(&str, Vec<usize>); 8] = [
        ("images", vec![n, 28, 28, 1]),
        ("saliency", vec![n, 28, 28, 1]),
        ("guided_backprop", vec![n, 28, 28, 1]),
        ("deconvnet", vec![n, 28, 28, 1]),
        ("integrated_gradients", vec![n, 28, 28, 1]),
        ("smooth_grad", vec![n, 28, 28, 1]),
        ("grad_cam", vec![n, 10, 10]),
        ("occlusion", vec![n, 8, 8]),
    ];
    for (name, shape) in &expected {
        let t = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((t.dtype(), t.shape()), (Dtype::F32, shape.as_slice()), "{name}");
        assert!(
            f32_values(&t).iter().all(|v| v.is_finite()),
            "{name} has non-finite values"
        );
    }
    let targets = st.tensor("targets").unwrap();
    assert_eq!((targets.dtype(), targets.shape()), (Dtype::I64, [n].as_slice()));
    let targets: Vec<i64> = targets
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(targets, [0, 1, 2], "one digit per class, in order");
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    assert_eq!(meta["ig_steps"], "8");
    assert_eq!(
        (meta["occlusion_size"].as_str(), meta["occlusion_stride"].as_str()),
        ("7", "3")
    );
    let black = (0.0 - MEAN) / STD;
    for key in ["baseline", "occlusion_fill"] {
        let v: f64 = meta[key].parse().unwrap();
        assert!((v - black).abs() < 1e-12, "{key} = {v}, black is {black}");
    }

    // The images are the first test digit of each class, normalised as the model is fed.
    let (_, test) = synthetic::train_test_split(400, 200, 5);
    let images = f32_values(&st.tensor("images").unwrap());
    for (k, class) in (0..3u8).enumerate() {
        let index = test.labels.iter().position(|&l| l == class).unwrap();
        for (p, &byte) in test.image(index).iter().enumerate() {
            let want = (byte as f64 / 255.0 - MEAN) / STD;
            assert!(
                (images[k * 784 + p] as f64 - want).abs() < 1e-5,
                "image {k} pixel {p}"
            );
        }
    }

    // Occlusion: position (i, j) is the target's softmax probability of the model written
    // beside the maps, with a 7x7 black square whose corner is at (3i, 3j).
    let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
    checkpoint::load::<f32>(&out.join("model.safetensors"))
        .unwrap()
        .restore_model(&mut model)
        .unwrap();
    let occlusion = f32_values(&st.tensor("occlusion").unwrap());
    for (k, (i, j)) in [(0usize, (0usize, 0usize)), (1, (4, 3)), (2, (7, 7))] {
        let mut x = images[k * 784..(k + 1) * 784].to_vec();
        for r in 3 * i..3 * i + 7 {
            for c in 3 * j..3 * j + 7 {
                x[r * 28 + c] = black as f32;
            }
        }
        let tape = Tape::no_grad();
        let logits = model
            .forward(&tape.constant(Tensor::from_vec(x, &[1, 28, 28, 1]).unwrap()))
            .unwrap();
        let l: Vec<f64> = logits.value().as_slice().iter().map(|&v| v as f64).collect();
        let max = l.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = l.iter().map(|v| (v - max).exp()).sum();
        let p = (l[targets[k] as usize] - max).exp() / z;
        let got = occlusion[k * 64 + i * 8 + j] as f64;
        assert!((got - p).abs() < 1e-5, "image {k} at ({i}, {j}): {got} vs {p}");
    }
}

#[test]
fn bad_options_end_with_an_error_not_a_panic() {
    let dir = Scratch::new("understand-cli-bad");
    let out = dir.join("out");
    for args in [
        vec!["--out", out.to_str().unwrap(), "--explain", "0"],
        vec![
            "--out",
            out.to_str().unwrap(),
            "--checkpoint",
            "/nonexistent/lenet.safetensors",
        ],
        vec!["--bogus"],
        vec![],
    ] {
        let run = common::example::run("understand", &args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{args:?} succeeded");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}
