//! The `Module` trait.
//!
//! A module maps a variable to a variable on the same tape, binding its parameters to that
//! tape as it goes; its parameters are named (`conv1.w`), which is how optimizers keep their
//! state and checkpoints store weights. Models need not be `Sequential`: any struct with a
//! forward written in plain Rust (loops, branches) is a model; implement `Module` for it to
//! use the optimizers and checkpoints.

use autograd::{Element, Param, Result, Var};

/// A layer or a model. Models are plain data, shareable between threads.
pub trait Module<T: Element = f32>: Send + Sync {
    /// The forward pass, recorded on `x`'s tape.
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>>;

    /// Every parameter with its name, in a fixed order.
    fn parameters(&self) -> Vec<(String, &Param<T>)> {
        Vec::new()
    }

    /// Every parameter with its name, for updating; the same order as [`parameters`](Self::parameters).
    fn parameters_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
        Vec::new()
    }

    /// Switches between training (`true`) and evaluation behaviour (dropout).
    fn set_training(&mut self, _training: bool) {}
}
