//! Reporting a test that skips its check: it passes (`ok`), so without this it would look
//! like a check that ran. The line is written to the process's standard error directly,
//! past libtest's output capture, so it shows in every `cargo test` run; `.ci/run` gathers
//! these lines into its summary.

use std::io::Write;

/// Prints `SKIPPED <test>: <reason>` where `cargo test` shows it, captured or not.
pub fn skip(test: &str, reason: &str) {
    let line = format!("SKIPPED {test}: {reason}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
