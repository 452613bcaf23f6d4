//! Running an example binary from a test, as a user runs it (used by the CLI tests; the
//! other test crates that include `common` do not need it).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The binary of example `name`, which `cargo test` builds next to the test binaries (built here when
/// only this test target was asked for).
pub fn binary(name: &str) -> PathBuf {
    // One build at a time (tests run in parallel threads); each binary is built once.
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let profile_dir = deps.parent().unwrap().to_path_buf();
    let bin = profile_dir.join("examples").join(name);
    {
        let _one_at_a_time = BUILD.lock().unwrap_or_else(|e| e.into_inner());
        if !bin.exists() {
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args([
                "build",
                "--example",
                name,
                "--manifest-path",
                concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
            ]);
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
    let runner = std::env::var("TAPEGRAD_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut cmd = match words.next() {
        Some(emulator) => {
            let mut cmd = Command::new(emulator);
            cmd.args(words).arg(binary(name));
            cmd
        }
        None => Command::new(binary(name)),
    };
    cmd.args(args).output().unwrap()
}
