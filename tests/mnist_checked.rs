//! The main job's hardening (issue #14): `--resume` refuses a checkpoint whose weights hold a
//! NaN, naming the tensor, and `--detect-anomaly` names the op where a diverging run first
//! made a NaN or an infinity; a run killed while it saves leaves a checkpoint that resumes.

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

/// Killed with SIGKILL at moments spread over its run (seeded, up to 0.4 s after one of its
/// saves) while it saves after every step, the main job always leaves a checkpoint that loads
/// into LeNet-5 with its optimizer, and the next run resumes from it. The last run finishes, and
/// no temporary file of a killed writer stays beside the checkpoint.
#[test]
fn a_run_killed_while_saving_leaves_a_checkpoint_that_resumes() {
    use rand::{RngExt, SeedableRng};
    use std::time::{Duration, Instant};
    use tapegrad::nn::{models::lenet5, train::checkpoint, train::optim::Sgd};

    let d = Scratch::new("checked-kill");
    let ckpt = d.join("lenet.safetensors");
    let path = ckpt.to_str().unwrap();
    let mut args = SMALL.to_vec();
    args.extend(["--epochs", "100000", "--threads", "1"]);
    args.extend(["--save", path, "--checkpoint-every", "1"]);
    let saved_at = || std::fs::metadata(&ckpt).and_then(|m| m.modified()).ok();
    let steps_in = |c: &checkpoint::Checkpoint<f32>| c.metadata["steps"].parse::<usize>().unwrap();

    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let (mut kills, mut last_steps) = (0, 0);
    for round in 0..8 {
        let mut run_args = args.clone();
        if ckpt.exists() {
            run_args.extend(["--resume", path]);
        }
        let before = saved_at();
        let mut child = common::example::command("mnist")
            .args(&run_args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for this run's first save (it starts by making its data), then a seeded moment.
        let start = Instant::now();
        while saved_at() == before && child.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "round {round}: no save in 300 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..400_000)));
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        let _ = child.kill();
        child.wait().unwrap();

        let loaded = checkpoint::load::<f32>(&ckpt)
            .unwrap_or_else(|e| panic!("round {round}: the checkpoint left does not load: {e}"));
        let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
        loaded.restore_model(&mut model).unwrap();
        loaded.restore_optimizer(&mut Sgd::<f32>::new(0.05)).unwrap();
        assert!(
            steps_in(&loaded) >= last_steps,
            "round {round}: the checkpoint went back"
        );
        last_steps = steps_in(&loaded);
    }
    assert!(
        kills >= 6,
        "only {kills} of 8 runs were still training when killed"
    );

    // The last run resumes and stops after 5 more steps.
    let target = (last_steps + 5).to_string();
    let mut run_args = args.clone();
    run_args.extend(["--resume", path, "--steps", &target]);
    let out = run(&run_args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(steps_in(&checkpoint::load::<f32>(&ckpt).unwrap()), last_steps + 5);
    let left: Vec<_> = std::fs::read_dir(&*d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lenet.safetensors")
        .collect();
    assert!(left.is_empty(), "left beside the checkpoint: {left:?}");
}
