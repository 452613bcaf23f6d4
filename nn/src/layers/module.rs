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
///
/// A composite model is a struct of layers with a forward pass in plain Rust;
/// `#[derive(Module)]` writes the rest: the parameters of every `#[module]` field under the
/// field's name (`conv1.w`), every `#[param]` field under its own, and `set_training` and
/// `is_training` for all of them. The forward pass is the struct's inherent `forward` (or the
/// method `#[module(forward = name)]` names); [`forward_named`](Module::forward_named) makes
/// a child's errors name it.
///
/// ```
/// use autograd::{Element, Param, Result, Tensor, Var};
/// use nn::Module;
/// use nn::layers::{Dense, Dropout, Module as _};
/// use rand::SeedableRng;
///
/// #[derive(Module)]
/// struct Mlp<T: Element> {
///     #[module]
///     fc1: Dense<T>,
///     #[module]
///     drop: Dropout,
///     #[module]
///     fc2: Dense<T>,
///     #[param]
///     scale: Param<T>,
///     steps: usize, // not part of the module
/// }
///
/// impl<T: Element> Mlp<T> {
///     fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
///         let h = self.fc1.forward_named("fc1", x)?.relu();
///         let h = self.drop.forward_named("drop", &h)?;
///         let y = self.fc2.forward_named("fc2", &h)?;
///         y.try_mul(&x.tape().param(&self.scale))
///     }
/// }
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut mlp = Mlp::<f32> {
///     fc1: Dense::new(4, 8, &mut rng),
///     drop: Dropout::new(0.1, 1).unwrap(),
///     fc2: Dense::new(8, 2, &mut rng),
///     scale: Param::new(Tensor::ones(&[1])),
///     steps: 0,
/// };
/// let names: Vec<String> = mlp.parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["scale", "fc1.w", "fc1.b", "fc2.w", "fc2.b"]);
/// mlp.set_training(false);
/// assert!(!mlp.is_training());
/// # let _ = mlp.steps;
/// ```
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

    /// Whether the module behaves differently in training and is in training mode now
    /// (`false` for a module whose behaviour does not depend on the mode).
    fn is_training(&self) -> bool {
        false
    }

    /// [`forward`](Self::forward), with any error marked as raised inside the layer `name`
    /// (`conv1 (Conv2d): ...`): what a composite model's forward calls its children with, so
    /// that its errors name the layer as `Sequential`'s do.
    fn forward_named<'t>(&self, name: &str, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        self.forward(x).map_err(|e| e.in_layer(name, self.kind()))
    }

    /// What kind of layer this is (`Conv2d`, `Dense`, `Sequential`): the type's name without
    /// its path and generic arguments. Errors and summaries show it.
    fn kind(&self) -> &'static str {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        base.rsplit("::").next().unwrap_or(base)
    }

    /// How output positions read input positions, for layers that keep the image layout;
    /// `None` for layers that do not (flatten, dense) and for layers that do not say (the
    /// default).
    fn spatial_extent(&self) -> Option<SpatialExtent> {
        None
    }
}
