//! Helpers shared by the root integration tests.

pub mod example;
#[allow(dead_code)] // not every test binary that includes `common` skips
pub mod skip;

use std::path::{Path, PathBuf};

/// A scratch folder of this test process, empty when made and removed again when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `<temp dir>/tapegrad-<name>-<pid>`.
    pub fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("tapegrad-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
