//! `Sequential`: layers applied one after another.

use super::module::Module;
use autograd::{Element, Param, Result, Var};

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

    /// The forward pass up to and including the layer called `name`, which lets a caller
    /// look at intermediate feature maps.
    pub fn forward_until<'t>(&self, x: &Var<'t, T>, name: &str) -> Result<Var<'t, T>> {
        let mut h = x.clone();
        for (n, layer) in &self.layers {
            h = layer.forward(&h)?;
            if n == name {
                break;
            }
        }
        Ok(h)
    }
}

impl<T: Element> Module<T> for Sequential<T> {
    fn forward<'t>(&self, x: &Var<'t, T>) -> Result<Var<'t, T>> {
        let mut h = x.clone();
        for (_, layer) in &self.layers {
            h = layer.forward(&h)?;
        }
        Ok(h)
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

    fn set_training(&mut self, training: bool) {
        self.layers.iter_mut().for_each(|(_, l)| l.set_training(training));
    }
}
