//! The `Module` trait.
//!
//! A module maps a variable to a variable on the same tape, binding its parameters to that
//! tape as it goes; its parameters are named (`conv1.w`), which is how optimizers keep their
//! state and checkpoints store weights. Models need not be `Sequential`: any struct with a
//! forward written in plain Rust (loops, branches) is a model; implement `Module` for it to
//! use the optimizers and checkpoints.

use autograd::{Element, Param, Result, Tensor, Var};

/// How a layer's output positions read its input positions along the two spatial axes of an
/// `[N, H, W, C]` image: what receptive fields are computed from
/// (`nn::interpret::receptive_field`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpatialExtent {
    /// Output position `(i, j)` reads input position `(i, j)` only (activations, dropout).
    Pointwise,
    /// A sliding window (convolution, pooling), per axis `(along H, along W)`: output `i`
    /// reads the inputs `i·s − p + k·d` for `k = 0, …, f − 1`.
    Window {
        /// `f`: the kernel size.
        kernel: (usize, usize),
        /// `s`: the stride.
        stride: (usize, usize),
        /// `p`: the padding on each side.
        padding: (usize, usize),
        /// `d`: the step between kernel taps.
        dilation: (usize, usize),
    },
}

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

    /// Every buffer with its name, in a fixed order: state that is not trained but belongs to
    /// the model (batch norm's running statistics, `bn1.running_mean`). Checkpoints save and
    /// restore buffers; optimizers never see them.
    fn buffers(&self) -> Vec<(String, &Tensor<T>)> {
        Vec::new()
    }

    /// Every buffer with its name, for restoring or broadcasting; the same order as
    /// [`buffers`](Self::buffers).
    fn buffers_mut(&mut self) -> Vec<(String, &mut Tensor<T>)> {
        Vec::new()
    }

    /// Switches between training (`true`) and evaluation behaviour (dropout, batch norm's
    /// statistics). A composite forwards it to every layer it holds.
    fn set_training(&mut self, _training: bool) {}

    /// How output positions read input positions, for layers that keep the image layout;
    /// `None` for layers that do not (flatten, dense) and for layers that do not say (the
    /// default).
    fn spatial_extent(&self) -> Option<SpatialExtent> {
        None
    }
}
