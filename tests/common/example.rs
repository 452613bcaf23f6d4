//! Running an example binary from a test, as a user runs it (used by the CLI tests; the
//! other test crates that include `common` do not need it).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The binary of example `name`, next to the test binaries. It is built (or found up to date)
/// by `cargo build` once per test process: `cargo test --test X` alone does not build the
/// examples, and a binary left from an earlier build may be stale.
pub fn binary(name: &str) -> PathBuf {
    binary_with(name, &[])
}

/// [`binary`] built with the package's `features` (a test process should ask for one set:
/// each build replaces the binary).
pub fn binary_with(name: &str, features: &[&str]) -> PathBuf {
    // One build at a time (tests run in parallel threads); each example is built once.
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let profile_dir = deps.parent().unwrap().to_path_buf();
    let bin = profile_dir.join("examples").join(name);
    {
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if !built.iter().any(|b| b == name) {
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args([
                "build",
                "--example",
                name,
                "--manifest-path",
                concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
            ]);
            if !features.is_empty() {
                cargo.args(["--features", &features.join(",")]);
            }
            // target/debug holds the dev profile; every other profile's folder is its name.
            let profile = profile_dir.file_name().unwrap().to_string_lossy().into_owned();
            if profile != "debug" {
                cargo.args(["--profile", &profile]);
            }
            // Built with `--target` (cross-compiled), the profile's folder is in the target's.
            let triple = profile_dir
                .parent()
                .and_then(|d| d.file_name())
                .and_then(|n| n.to_str());
            if let Some(triple) = triple
                && triple.starts_with(&format!("{}-", std::env::consts::ARCH))
            {
                cargo.args(["--target", triple]);
            }
            assert!(
                cargo.status().unwrap().success(),
                "building examples/{name} failed"
            );
            built.push(name.to_string());
        }
    }
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

/// Runs example `name` with `args`. A cross-compiled test binary runs under an emulator (cargo's
/// `runner`), but the example it starts goes to the kernel, which cannot run it without
/// binfmt_misc: the aarch64 runner of `.cargo/config.toml` names its emulator in
/// `TAPEGRAD_TEST_RUNNER` (a command and its arguments, split at spaces) to start it with.
pub fn run(name: &str, args: &[&str]) -> Output {
    command(name).args(args).output().unwrap()
}

/// The command that starts example `name` (under the emulator, as [`run`] explains), for a
/// test that spawns it and waits or kills it itself.
pub fn command(name: &str) -> Command {
    let runner = std::env::var("TAPEGRAD_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut cmd = Command::new(emulator);
            cmd.args(words).arg(binary(name));
            cmd
        }
        None => Command::new(binary(name)),
    }
}
