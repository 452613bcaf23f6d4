//! Data-parallel training of the main job under `mpirun` (issue #16; feature `mpi`): two
//! processes at a global batch of 64 end on the parameters of one process at batch 64, the
//! same bits from run to run; a run resumed under MPI ends where an uninterrupted one does;
//! shards that are uneven or empty at the end of an epoch are weighted by the whole batch;
//! a failure on one process ends every process with one line.
//!
//! Runs with `cargo test --features mpi --test distributed`; skips, saying so, when `mpirun`
//! is missing (`.ci/run` installs OpenMPI).
#![cfg(feature = "mpi")]

mod common;
use common::Scratch;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use tapegrad::autograd::Tensor;
use tapegrad::nn::data::idx::write_idx_u8;
use tapegrad::nn::train::checkpoint;

/// A run that has not ended after this long is hung (a watchdog, not a timing check: the
/// runs here take a second or two).
const HUNG: Duration = Duration::from_secs(300);

fn binary() -> PathBuf {
    common::example::binary_with("mnist", &["mpi"])
}

/// Whether `mpirun` runs; reports `test` as skipped when not.
fn have_mpirun(test: &str) -> bool {
    let ok = Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        common::skip::skip(
            test,
            "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)",
        );
    }
    ok
}

/// Runs `cmd` to its end, killing it after [`HUNG`].
fn finish(mut cmd: Command, what: &str) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read_out = std::thread::spawn(move || std::io::read_to_string(&mut out).unwrap_or_default());
    let read_err = std::thread::spawn(move || std::io::read_to_string(&mut err).unwrap_or_default());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > HUNG {
            let _ = child.kill();
            panic!("{what} still runs after {HUNG:?}: hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: read_out.join().unwrap().into_bytes(),
        stderr: read_err.join().unwrap().into_bytes(),
    }
}

/// `mpirun` with one process group per entry of `groups` (processes, arguments).
fn mpirun(groups: &[(usize, Vec<String>)]) -> Output {
    let mut cmd = Command::new("mpirun");
    cmd.args(["-q", "--allow-run-as-root", "--oversubscribe"]);
    for (i, (np, args)) in groups.iter().enumerate() {
        if i > 0 {
            cmd.arg(":");
        }
        cmd.args(["-np", &np.to_string()]).arg(binary()).args(args);
    }
    finish(cmd, "mpirun")
}

/// The main job on `np` processes (1: started alone, without mpirun), which must succeed.
fn train(np: usize, args: &[String]) -> Output {
    let out = if np == 1 {
        let mut cmd = Command::new(binary());
        cmd.args(args);
        finish(cmd, "the main job")
    } else {
        mpirun(&[(np, args.to_vec())])
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{np} processes failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let banner = format!("{np} processes x 1 threads");
    assert_eq!(np > 1, stdout.contains(&banner), "not {np} processes: {stdout}");
    out
}

/// The options of a short run on the built-in digits, saving to `save`: plain SGD with
/// Nesterov momentum at a constant rate (no warm-up, so the weights move from step 1).
fn options(train_size: usize, extra: &[&str], save: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--train-size",
        &train_size.to_string(),
        "--test-size",
        "50",
        "--batch-size",
        "64",
        "--lr",
        "0.05",
        "--warmup",
        "0",
        "--schedule",
        "constant",
        "--threads",
        "1",
        "--save",
        save.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn params(path: &Path) -> BTreeMap<String, Tensor<f32>> {
    checkpoint::load::<f32>(path).unwrap().params
}

/// The largest `max |a - b| / max |b|` over the tensors.
fn max_relative_difference(a: &BTreeMap<String, Tensor<f32>>, b: &BTreeMap<String, Tensor<f32>>) -> f64 {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    a.iter()
        .map(|(name, x)| {
            let y = &b[name];
            let scale = y.as_slice().iter().fold(0f64, |m, v| m.max(v.abs() as f64));
            let diff = x
                .as_slice()
                .iter()
                .zip(y.as_slice())
                .fold(0f64, |m, (p, q)| m.max((p - q).abs() as f64));
            diff / scale.max(1e-30)
        })
        .fold(0.0, f64::max)
}

#[test]
fn two_processes_match_one_at_the_same_global_batch_with_the_same_bits_every_run() {
    if !have_mpirun("two_processes_match_one_at_the_same_global_batch_with_the_same_bits_every_run") {
        return;
    }
    let dir = Scratch::new("mpi-match");
    let (one, two, again, fewer) = (
        dir.join("one.st"),
        dir.join("two.st"),
        dir.join("again.st"),
        dir.join("fewer.st"),
    );
    // 1000 images: 10 steps stop inside the first epoch.
    train(1, &options(1000, &["--steps", "10"], &one));
    train(2, &options(1000, &["--steps", "10"], &two));
    train(2, &options(1000, &["--steps", "10"], &again));
    train(1, &options(1000, &["--steps", "9"], &fewer));
    let (one, two, again, fewer) = (params(&one), params(&two), params(&again), params(&fewer));
    let d = max_relative_difference(&two, &one);
    assert!(d <= 1e-5, "2 processes vs 1 after 10 steps: {d:e} relative");
    // One step fewer is far outside that tolerance: the comparison can tell steps apart.
    let step = max_relative_difference(&fewer, &one);
    eprintln!("after 10 steps, 2 processes vs 1: {d:e} relative; 9 steps vs 10: {step:e}");
    assert!(step > 1e-3, "a step changes the weights by only {step:e}");
    for (name, t) in &two {
        let bits = |t: &Tensor<f32>| t.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(t),
            bits(&again[name]),
            "{name} differs between two 2-process runs"
        );
    }
}

#[test]
fn shards_uneven_or_empty_at_the_end_of_an_epoch_are_weighted_by_the_whole_batch() {
    if !have_mpirun("shards_uneven_or_empty_at_the_end_of_an_epoch_are_weighted_by_the_whole_batch") {
        return;
    }
    let dir = Scratch::new("mpi-short");
    // 66 images in batches of 64: the second step of each epoch has 2 images, which 3
    // processes share as 1, 1 and none (the first step's 64 as 22, 21, 21).
    let (one, three) = (dir.join("one.st"), dir.join("three.st"));
    train(1, &options(66, &["--epochs", "3"], &one));
    train(3, &options(66, &["--epochs", "3"], &three));
    let d = max_relative_difference(&params(&three), &params(&one));
    eprintln!("after 6 steps, 3 processes vs 1: {d:e} relative");
    assert!(
        d <= 1e-5,
        "3 processes vs 1 after 3 epochs of 66 images: {d:e} relative"
    );
}

#[test]
fn a_run_resumed_under_mpi_ends_on_the_bits_of_an_uninterrupted_one() {
    if !have_mpirun("a_run_resumed_under_mpi_ends_on_the_bits_of_an_uninterrupted_one") {
        return;
    }
    let dir = Scratch::new("mpi-resume");
    let (half, resumed, whole) = (dir.join("half.st"), dir.join("resumed.st"), dir.join("whole.st"));
    // 320 images: 5 steps an epoch; 7 steps stop inside the second epoch, 13 inside the third.
    let epochs = ["--epochs", "3"];
    train(
        2,
        &options(320, &[&epochs[..], &["--steps", "7"]].concat(), &half),
    );
    let resume = ["--steps", "13", "--resume", half.to_str().unwrap()];
    let out = train(2, &options(320, &[&epochs[..], &resume].concat(), &resumed));
    assert!(String::from_utf8_lossy(&out.stdout).contains("after step 7"));
    train(
        2,
        &options(320, &[&epochs[..], &["--steps", "13"]].concat(), &whole),
    );
    let (a, b) = (
        checkpoint::load::<f32>(&resumed).unwrap(),
        checkpoint::load::<f32>(&whole).unwrap(),
    );
    assert_eq!(a.metadata["steps"], "13");
    for (name, t) in &b.params {
        assert!(
            t.as_slice() == a.params[name].as_slice(),
            "{name}: resumed differs"
        );
    }
    assert_eq!(a.optimizer, b.optimizer, "the momentum buffers differ");
}

/// Asserts that `out` failed with exactly one line of stderr, `error: ...` naming every one
/// of `words`.
fn assert_one_error_line(out: &Output, words: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected a failure; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for w in words {
        assert!(lines[0].contains(w), "{w:?} missing from: {stderr}");
    }
}

#[test]
fn a_bad_file_on_one_process_ends_every_process_with_one_message() {
    if !have_mpirun("a_bad_file_on_one_process_ends_every_process_with_one_message") {
        return;
    }
    let dir = Scratch::new("mpi-fail");
    // A valid MNIST folder for rank 0, a truncated image file for rank 1.
    let (good, bad) = (dir.join("good"), dir.join("bad"));
    for (folder, n) in [(&good, 8), (&bad, 8)] {
        std::fs::create_dir_all(folder).unwrap();
        let pixels: Vec<u8> = (0..n * 784).map(|i| (i % 251) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        for split in ["train", "t10k"] {
            let images = folder.join(format!("{split}-images-idx3-ubyte"));
            write_idx_u8(&images, &[n, 28, 28], &pixels, false).unwrap();
            write_idx_u8(
                folder.join(format!("{split}-labels-idx1-ubyte")),
                &[n],
                &labels,
                false,
            )
            .unwrap();
        }
    }
    let train_images = bad.join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&train_images).unwrap();
    std::fs::write(&train_images, &bytes[..bytes.len() / 2]).unwrap();
    let args = |data: &Path| vec!["--data".to_string(), data.to_str().unwrap().to_string()];
    let out = mpirun(&[(1, args(&good)), (1, args(&bad))]);
    assert_one_error_line(&out, &["rank 1 of 2", "train-images-idx3-ubyte"]);

    // Rank 0 alone writes checkpoints: a failure there ends rank 1 too, which is waiting.
    let nowhere = dir.join("missing").join("model.st");
    let out = mpirun(&[(2, options(128, &["--epochs", "2"], &nowhere))]);
    assert_one_error_line(&out, &["rank 0 of 2", "model.st"]);
}
