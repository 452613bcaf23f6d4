//! The main job's hardening (issue #14): `--resume` refuses a checkpoint whose weights hold a
//! NaN, naming the tensor, and `--detect-anomaly` names the op where a diverging run first
//! made a NaN or an infinity.

mod common;
use common::Scratch;
use std::process::Output;

fn run(args: &[&str]) -> Output {
    common::example::run("mnist", args)
}

/// A failed run: non-zero exit, no panic, one `error:` line holding every one of `words`.
fn one_line_error(out: &Output, words: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected a failure; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for w in words {
        assert!(lines[0].contains(w), "{w:?} missing from: {stderr}");
    }
    lines[0].to_string()
}

const SMALL: [&str; 6] = ["--train-size", "200", "--test-size", "50", "--batch-size", "50"];

#[test]
fn resuming_a_checkpoint_with_a_nan_weight_fails_naming_the_tensor() {
    let d = Scratch::new("checked-resume");
    let ckpt = d.join("lenet.safetensors");
    let mut args = SMALL.to_vec();
    args.extend(["--epochs", "1", "--save", ckpt.to_str().unwrap()]);
    let out = run(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The first element of conv1.w becomes a NaN, in place in the file.
    let mut bytes = std::fs::read(&ckpt).unwrap();
    let (header_len, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let (start, _) = meta
        .info("conv1.w")
        .expect("conv1.w is in the checkpoint")
        .data_offsets;
    let at = 8 + header_len + start;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&ckpt, &bytes).unwrap();

    let mut args = SMALL.to_vec();
    args.extend(["--epochs", "2", "--resume", ckpt.to_str().unwrap()]);
    one_line_error(&run(&args), &["conv1.w", "NaN", "lenet.safetensors"]);
}

#[test]
fn detect_anomaly_names_the_op_of_a_diverging_run() {
    // A learning rate of 1e6 without warm-up overflows the weights within a few steps.
    let mut args = SMALL.to_vec();
    args.extend(["--epochs", "1", "--lr", "1e6", "--warmup", "0"]);
    let plain = run(&args);
    one_line_error(&plain, &["diverged"]);
    args.push("--detect-anomaly");
    let line = one_line_error(&run(&args), &["anomaly: ", "tape entry", "input shapes"]);
    // The op is one of LeNet-5's (or the loss), named where the message starts.
    let op = line["error: anomaly: ".len()..].split(' ').next().unwrap();
    let ops = [
        "conv2d",
        "max_pool2d",
        "avg_pool2d",
        "flatten",
        "reshape",
        "dense",
        "softmax_cross_entropy",
    ];
    assert!(ops.contains(&op), "{op:?} is not an op of the model: {line}");
}
