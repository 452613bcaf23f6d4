//! `Sequential`: layers applied one after another.

use super::module::Module;
use autograd::{Element, Error, Param, Result, Tensor, Var};
use std::ops::Range;

/// Layers applied one after another, each under a name that prefixes its parameters'.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::layers::{Dense, ReLU};
/// use nn::layers::{Module, Sequential};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let model = Sequential::<f32>::new()
///     .add("fc1", Dense::new(4, 8, &mut rng))
///     .add("relu", ReLU)
///     .add("fc2", Dense::new(8, 2, &mut rng));
/// let names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc1.w", "fc1.b", "fc2.w", "fc2.b"]);
/// let tape = Tape::new();
/// let y = model.forward(&tape.constant(Tensor::zeros(&[3, 4]))).unwrap();
/// assert_eq!(y.shape(), &[3, 2]);
/// ```
pub struct Sequential<T: Element = f32> {
    layers: Vec<(String, Box<dyn Module<T>>)>,
}

impl<T: Element> Default for Sequential<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> Sequential<T> {
    /// No layers yet.
    pub fn new() -> Self {
        Sequential { layers: Vec::new() }
    }

    /// Appends a layer under `name`.
    pub fn add(mut self, name: &str, layer: impl Module<T> + 'static) -> Self {
        self.layers.push((name.to_string(), Box::new(layer)));
        self
    }

    /// The layers' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.layers.iter().map(|(n, _)| n.as_str())
    }

    /// The number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers with their names, in order.
    pub fn layers(&self) -> impl Iterator<Item = (&str, &dyn Module<T>)> {
        self.layers.iter().map(|(n, l)| (n.as_str(), l.as_ref()))
    }

    /// The index of the layer called `name` (the first, if several share it).
    pub fn position(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|(n, _)| n == name)
    }

    /// The layer called `name`.
    pub fn layer(&self, name: &str) -> Option<&dyn Module<T>> {
        self.position(name).map(|i| self.layers[i].1.as_ref())
    }

    /// The layer called `name`, for changing it.
    pub fn layer_mut(&mut self, name: &str) -> Option<&mut (dyn Module<T> + 'static)> {
        let i = self.position(name)?;
        Some(self.layers[i].1.as_mut())
    }

    /// The layers `range` (by index) applied to `x`: `forward_range(x, 0..k)` then
    /// `forward_range(h, k..len())` is the whole forward pass, split at layer `k`, so a
    /// caller can look at, or keep the gradient of, the feature maps in between.
    ///
    /// ```
    /// use autograd::{Tape, Tensor};
    /// use nn::layers::{Dense, Module, ReLU, Sequential};
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let model = Sequential::<f64>::new()
    ///     .add("fc1", Dense::new(4, 8, &mut rng))
    ///     .add("relu", ReLU)
    ///     .add("fc2", Dense::new(8, 2, &mut rng));
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::ones(&[3, 4]));
    /// let k = model.position("relu").unwrap() + 1;
    /// let h = model.forward_range(&x, 0..k).unwrap();
    /// assert_eq!(h.shape(), &[3, 8]);
    /// let y = model.forward_range(&h, k..model.len()).unwrap();
    /// assert_eq!(y.value(), model.forward(&x).unwrap().value());
    /// ```
    pub fn forward_range<'t>(&self, x: &Var<'t, T>, range: Range<usize>) -> Result<Var<'t, T>> {
        let layers = self.layers.get(range.clone()).ok_or_else(|| {
            Error::invalid(
                "Sequential::forward_range",
                x.shape(),
                format!("layers {range:?} of {}", self.layers.len()),
            )
        })?;
        let mut h = x.clone();
        for (name, layer) in layers {
            h = layer.forward(&h).map_err(|e| e.in_layer(name, layer.kind()))?;
        }
        Ok(h)
    }

    /// The forward pass up to and including the layer called `name`, which lets a caller
    /// look at intermediate feature maps.
    pub fn forward_until<'t>(&self, x: &Var<'t, T>, name: &str) -> Result<Var<'t, T>> {
        let mut h = x.clone();
        for (n, layer) in &self.layers {
            h = layer.forward(&h).map_err(|e| e.in_layer(n, layer.kind()))?;
            if n == name {
                break;
            }
        }
        Ok(h)
    }
}

impl<T: Element> Module<T> for Sequential<T> {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        self.forward_range(x, 0..self.layers.len())
    }

    fn parameters(&self) -> Vec<(String, &Param<T>)> {
        self.layers
            .iter()
            .flat_map(|(prefix, l)| {
                l.parameters()
                    .into_iter()
                    .map(move |(n, p)| (format!("{prefix}.{n}"), p))
            })
            .collect()
    }

    fn parameters_mut(&mut self) -> Vec<(String, &mut Param<T>)> {
        self.layers
            .iter_mut()
            .flat_map(|(prefix, l)| {
                let prefix = prefix.clone();
                l.parameters_mut()
                    .into_iter()
                    .map(move |(n, p)| (format!("{prefix}.{n}"), p))
            })
            .collect()
    }

    fn buffers(&self) -> Vec<(String, &Tensor<T>)> {
        self.layers
            .iter()
            .flat_map(|(prefix, l)| {
                l.buffers()
                    .into_iter()
                    .map(move |(n, b)| (format!("{prefix}.{n}"), b))
            })
            .collect()
    }

    fn buffers_mut(&mut self) -> Vec<(String, &mut Tensor<T>)> {
        self.layers
            .iter_mut()
            .flat_map(|(prefix, l)| {
                let prefix = prefix.clone();
                l.buffers_mut()
                    .into_iter()
                    .map(move |(n, b)| (format!("{prefix}.{n}"), b))
            })
            .collect()
    }

    fn set_training(&mut self, training: bool) {
        self.layers.iter_mut().for_each(|(_, l)| l.set_training(training));
    }

    fn is_training(&self) -> bool {
        self.layers.iter().any(|(_, l)| l.is_training())
    }
}
