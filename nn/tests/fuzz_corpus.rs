//! The fuzz corpus on stable: every committed input of `fuzz/corpus/<target>/` (seeds and
//! the inputs of past findings) goes through the fuzz targets' own entry points
//! (`fuzz/src/lib.rs`, included here), each in `catch_unwind`, so a parser that panics on
//! one fails this test with the file's name and the panic's message.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod entries;

use std::path::Path;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| entry(&data)) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {why}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{target}: {failures:#?}");
}

#[test]
fn idx_raw_corpus() {
    replay("idx_raw", entries::idx_raw);
}

#[test]
fn idx_gzip_corpus() {
    replay("idx_gzip", entries::idx_gzip);
}

#[test]
fn cifar_corpus() {
    replay("cifar", entries::cifar);
}

#[test]
fn checkpoint_corpus() {
    replay("checkpoint", entries::checkpoint);
}

#[test]
fn recipe_corpus() {
    replay("recipe", entries::recipe);
}

#[test]
fn torch_state_dict_corpus() {
    replay("torch_state_dict", entries::torch_state_dict);
}
