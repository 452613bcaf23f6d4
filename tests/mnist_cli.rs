//! The main job, `examples/mnist/`, run as a user runs it: bad options and bad files end
//! with one line on stderr and a non-zero exit, never a panic; a short run writes metrics
//! and a checkpoint that a second run resumes from.

mod common;
use common::Scratch;
use std::path::Path;
use std::process::Output;
use tapegrad::nn::data::idx::write_idx_u8;

/// Runs the example with `args`.
fn run(args: &[&str]) -> Output {
    common::example::run("mnist", args)
}

fn scratch(tag: &str) -> Scratch {
    Scratch::new(&format!("cli-{tag}"))
}

/// Asserts a failed run: non-zero exit, exactly one line on stderr that starts with `error:`
/// and contains every one of `words`, and no panic.
fn assert_one_line_error(out: &Output, words: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected a failure, got success; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for w in words {
        assert!(lines[0].contains(w), "{w:?} missing from: {stderr}");
    }
}

/// A small valid MNIST folder: `n` train and `n` test images of 28x28, raw files.
fn mnist_folder(dir: &Path, n: usize) {
    let pixels: Vec<u8> = (0..n * 784).map(|i| (i % 251) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    for split in ["train", "t10k"] {
        write_idx_u8(
            dir.join(format!("{split}-images-idx3-ubyte")),
            &[n, 28, 28],
            &pixels,
            false,
        )
        .unwrap();
        write_idx_u8(
            dir.join(format!("{split}-labels-idx1-ubyte")),
            &[n],
            &labels,
            false,
        )
        .unwrap();
    }
}

#[test]
fn help_lists_every_option() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--data",
        "--epochs",
        "--batch-size",
        "--lr",
        "--optimizer",
        "--seed",
        "--save",
        "--resume",
        "--metrics",
        "--augment",
        "--elastic",
        "--eval-rotate",
        "--extra-test",
        "--loss",
        "--label-smoothing",
        "--validation-size",
        "--early-stopping",
        "--checkpoint-every",
    ] {
        assert!(help.contains(opt), "--help does not explain {opt}");
    }
}

#[test]
fn bad_options_are_one_line_errors() {
    assert_one_line_error(&run(&["--bogus"]), &["--bogus"]);
    assert_one_line_error(&run(&["--optimizer", "lbfgs"]), &["lbfgs"]);
    assert_one_line_error(&run(&["--epochs", "x"]), &["--epochs", "x"]);
    assert_one_line_error(&run(&["--lr"]), &["--lr", "needs a value"]);
    assert_one_line_error(&run(&["--batch-size", "0"]), &["--batch-size"]);
    assert_one_line_error(&run(&["--data", "/nonexistent/mnist"]), &["/nonexistent/mnist"]);
    assert_one_line_error(&run(&["--augment", "fancy"]), &["--augment", "fancy", "standard"]);
    assert_one_line_error(&run(&["--elastic", "3"]), &["--elastic", "ALPHA,SIGMA"]);
    assert_one_line_error(&run(&["--rotate", "500"]), &["--rotate"]);
    assert_one_line_error(
        &run(&["--extra-test", "/nonexistent/t10k"]),
        &["/nonexistent/t10k"],
    );
    assert_one_line_error(&run(&["--loss", "hinge"]), &["--loss", "hinge"]);
    assert_one_line_error(
        &run(&["--loss", "mse", "--label-smoothing", "0.1"]),
        &["--label-smoothing"],
    );
    assert_one_line_error(&run(&["--checkpoint-every", "5"]), &["--save"]);
    assert_one_line_error(&run(&["--validation-size", "99999"]), &["--validation-size"]);
}

/// The Trainer's options in the main job: a held-out validation set, early stopping on it
/// (a `--min-delta` no epoch can beat stops after the patience), checkpoints inside epochs,
/// another loss.
#[test]
fn validation_early_stopping_checkpoints_and_loss_options() {
    let d = scratch("trainer");
    let (metrics, ckpt) = (d.join("metrics.json"), d.join("lenet.safetensors"));
    let args = [
        "--train-size",
        "300",
        "--test-size",
        "100",
        "--batch-size",
        "32",
        "--epochs",
        "6",
        "--validation-size",
        "60",
        "--early-stopping",
        "2",
        "--min-delta",
        "100",
        "--loss",
        "mse",
        "--metrics",
        metrics.to_str().unwrap(),
        "--save",
        ckpt.to_str().unwrap(),
        "--checkpoint-every",
        "5",
    ];
    let out = run(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("60 held out for validation"), "{stdout}");
    assert!(
        stdout.contains("early stopping: validation loss did not improve for 2 epochs (best"),
        "{stdout}"
    );
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    assert_eq!(json["loss"], "one-hot mean squared error");
    let epochs = json["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 3, "{json}");
    assert!(
        epochs
            .iter()
            .all(|e| e["validation_loss"].is_f64() && e["test_accuracy"].is_f64())
    );
    // 240 training images, 8 steps an epoch: the last checkpoint is the one after epoch 3.
    let saved = tapegrad::nn::train::checkpoint::load::<f32>(&ckpt).unwrap();
    assert_eq!(saved.metadata["steps"], "24");
    assert_eq!(saved.metadata["early_stopping.bad_epochs"], "2");
}

#[test]
fn a_truncated_image_file() {
    let d = scratch("truncated");
    mnist_folder(&d, 20);
    let path = d.join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    assert_one_line_error(
        &run(&["--data", d.to_str().unwrap()]),
        &["train-images-idx3-ubyte", "truncated"],
    );
}

#[test]
fn a_wrong_magic_number() {
    let d = scratch("magic");
    mnist_folder(&d, 20);
    let path = d.join("t10k-images-idx3-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[2] = 0x09;
    std::fs::write(&path, &bytes).unwrap();
    assert_one_line_error(
        &run(&["--data", d.to_str().unwrap()]),
        &["t10k-images-idx3-ubyte", "magic"],
    );
}

#[test]
fn a_label_file_of_another_length() {
    let d = scratch("labels");
    mnist_folder(&d, 20);
    write_idx_u8(d.join("train-labels-idx1-ubyte"), &[19], &[1; 19], false).unwrap();
    assert_one_line_error(
        &run(&["--data", d.to_str().unwrap()]),
        &["19 labels", "20 images"],
    );
}

#[test]
fn a_header_claiming_two_billion_images() {
    let d = scratch("huge");
    mnist_folder(&d, 20);
    let path = d.join("train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4..8].copy_from_slice(&(1u32 << 31).to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();
    // Reading or allocating what the header claims (1.6 TB) would end in an allocation
    // abort or an out-of-memory kill, not in this one-line error.
    assert_one_line_error(&run(&["--data", d.to_str().unwrap()]), &["2147483648 images"]);
}

#[test]
fn a_short_run_writes_metrics_and_a_checkpoint_that_resumes() {
    let d = scratch("run");
    let (metrics, ckpt) = (d.join("metrics.json"), d.join("lenet.safetensors"));
    let common = ["--train-size", "300", "--test-size", "100", "--batch-size", "32"];
    let mut args: Vec<&str> = common.to_vec();
    args.extend([
        "--epochs",
        "1",
        "--metrics",
        metrics.to_str().unwrap(),
        "--save",
        ckpt.to_str().unwrap(),
    ]);
    let out = run(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("test accuracy") && stdout.contains("confusion matrix"),
        "{stdout}"
    );
    let json = std::fs::read_to_string(&metrics).unwrap();
    for key in [
        "\"epochs\"",
        "\"epoch\": 1",
        "\"train_loss\"",
        "\"test_accuracy\": 0.",
        "\"seconds\"",
        "\"samples_per_sec\"",
    ] {
        assert!(json.contains(key), "{key} missing from {json}");
    }
    assert!(ckpt.exists());

    // Resume for a second epoch: the metrics then hold epoch 2 only, from this run.
    let mut args: Vec<&str> = common.to_vec();
    args.extend([
        "--epochs",
        "2",
        "--metrics",
        metrics.to_str().unwrap(),
        "--resume",
        ckpt.to_str().unwrap(),
    ]);
    let out = run(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("resumed from"));
    let json = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        json.contains("\"epoch\": 2") && !json.contains("\"epoch\": 1,"),
        "{json}"
    );

    // Resuming with another seed would not reproduce the run: refused.
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--epochs", "2", "--seed", "5", "--resume", ckpt.to_str().unwrap()]);
    assert_one_line_error(&run(&args), &["--seed"]);
}

#[test]
fn an_augmented_run_scores_the_rotated_test_set() {
    let d = scratch("augment");
    let metrics = d.join("metrics.json");
    let args = [
        "--train-size",
        "300",
        "--test-size",
        "100",
        "--epochs",
        "1",
        "--augment",
        "standard",
        "--elastic",
        "8,3,0.5",
        "--erase",
        "0.2",
        "--eval-rotate",
        "30",
        "--metrics",
        metrics.to_str().unwrap(),
    ];
    let out = run(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rotated ±30°"), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    let described = json["augment"].as_str().unwrap();
    for part in [
        "affine",
        "elastic (alpha 8, sigma 3) p=0.5",
        "random erasing p=0.2",
    ] {
        assert!(described.contains(part), "{part} missing from {described}");
    }
    let rotated = json["epochs"][0]["rotated_test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rotated), "{json}");
}

#[test]
fn exported_pytorch_weights_import_back_to_the_same_test_accuracy() {
    let d = scratch("torch");
    let exported = d.join("torch.safetensors");
    let common = [
        "--train-size",
        "600",
        "--test-size",
        "200",
        "--batch-size",
        "32",
        "--warmup",
        "0",
    ];
    let accuracy = |out: &Output| -> String {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = stdout.lines().find(|l| l.starts_with("test accuracy:"));
        line.unwrap_or_else(|| panic!("no test accuracy in {stdout}"))
            .to_string()
    };
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--epochs", "2", "--export-torch", exported.to_str().unwrap()]);
    let trained = run(&args);
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    assert!(exported.exists());
    // The same seed (it also draws the built-in digits), so the untrained model is the one
    // training started from; the imported weights must give the trained model's loss.
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--epochs", "0", "--import-torch", exported.to_str().unwrap()]);
    let imported = run(&args);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert_eq!(accuracy(&trained), accuracy(&imported));
    let percent: f64 = accuracy(&imported)["test accuracy: ".len()..]
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        percent > 30.0,
        "the run did not train, so the check proves little: {percent}%"
    );

    // --epochs 0 without weights to evaluate is refused.
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--epochs", "0"]);
    assert_one_line_error(&run(&args), &["--epochs", "--import-torch"]);
}

#[test]
fn the_standard_recipe_regularises_as_its_help_says_and_options_override_it() {
    let d = scratch("standard-recipe");
    let metrics = |tag: &str, extra: &[&str]| {
        let path = d.join(format!("{tag}.json"));
        let mut args = vec![
            "--epochs",
            "1",
            "--warmup",
            "0",
            "--train-size",
            "256",
            "--test-size",
            "64",
        ];
        args.extend_from_slice(&["--augment", "standard", "--metrics", path.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let header = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap()
            .to_string();
        // The figures without the timings.
        let text = std::fs::read_to_string(path).unwrap();
        let figures: Vec<String> = text
            .lines()
            .filter(|l| !l.contains("seconds") && !l.contains("samples_per_sec"))
            .map(String::from)
            .collect();
        assert!(figures.iter().any(|l| l.contains("train_loss")), "{text}");
        (header, figures)
    };
    let (header, recipe) = metrics("recipe", &[]);
    assert!(
        header.contains("weight decay 0.001") && header.contains("label smoothing 0.05"),
        "{header}"
    );
    // The same run as the two options spelled out, and another without them.
    let (_, spelled) = metrics(
        "spelled",
        &["--weight-decay", "0.001", "--label-smoothing", "0.05"],
    );
    assert_eq!(recipe, spelled);
    let (header, plain) = metrics("plain", &["--weight-decay", "0", "--label-smoothing", "0"]);
    assert!(
        !header.contains("weight decay") && !header.contains("smoothing"),
        "{header}"
    );
    assert_ne!(recipe, plain);
}
