//! A model's summary: its layers with their kinds, output shapes and parameter counts, found
//! by running the model once on a zero input.

use crate::layers::{Module, Sequential};
use autograd::{Element, Result, Tape, Tensor};
use std::fmt;

/// One row of a [`Summary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSummary {
    /// The layer's name in the model.
    pub name: String,
    /// Its kind (`Conv2d`).
    pub kind: String,
    /// Its output shape for one sample (batch 1), batch axis included.
    pub output: Vec<usize>,
    /// Its number of trained parameters.
    pub parameters: usize,
}

/// What [`summary`] finds; `Display` prints it as a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The input shape, batch axis included.
    pub input: Vec<usize>,
    /// One row per layer.
    pub layers: Vec<LayerSummary>,
}

impl Summary {
    /// Trained parameters in all.
    pub fn parameters(&self) -> usize {
        self.layers.iter().map(|l| l.parameters).sum()
    }
}

/// The summary of `model` for samples of shape `sample` (`[H, W, C]` for images): each
/// layer's output shape and parameter count, from one forward pass of a zero batch of one.
///
/// ```
/// use nn::inference::summary;
/// use nn::models::lenet5;
/// use rand::SeedableRng;
/// let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(1));
/// let s = summary(&mut model, &[28, 28, 1]).unwrap();
/// assert_eq!(s.layers[0].output, [1, 28, 28, 6]);
/// assert_eq!(s.parameters(), 61_706);
/// println!("{s}");
/// ```
pub fn summary<T: Element>(model: &mut Sequential<T>, sample: &[usize]) -> Result<Summary> {
    // In evaluation mode: batch norm then takes one sample and records no running statistics
    // from the probe's zeros.
    let training = model.is_training();
    model.set_training(false);
    let s = probe(model, sample);
    model.set_training(training);
    s
}

fn probe<T: Element>(model: &Sequential<T>, sample: &[usize]) -> Result<Summary> {
    let mut input = vec![1];
    input.extend_from_slice(sample);
    let tape = Tape::<T>::no_grad();
    let mut x = tape.constant(Tensor::zeros(&input));
    let mut layers = Vec::new();
    for (i, (name, layer)) in model.layers().enumerate() {
        x = model.forward_range(&x, i..i + 1)?;
        layers.push(LayerSummary {
            name: name.to_string(),
            kind: layer.kind().to_string(),
            output: x.shape().to_vec(),
            parameters: count(layer),
        });
    }
    Ok(Summary { input, layers })
}

fn count<T: Element>(m: &dyn Module<T>) -> usize {
    m.parameters().iter().map(|(_, p)| p.value().numel()).sum()
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = |s: &[usize]| format!("{s:?}");
        let rows: Vec<[String; 4]> = self
            .layers
            .iter()
            .map(|l| {
                [
                    l.name.clone(),
                    l.kind.clone(),
                    shape(&l.output),
                    l.parameters.to_string(),
                ]
            })
            .collect();
        let head = ["layer", "kind", "output", "parameters"].map(String::from);
        let width: Vec<usize> = (0..4)
            .map(|c| {
                rows.iter()
                    .chain([&head])
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        writeln!(f, "input {}", shape(&self.input))?;
        for r in std::iter::once(&head).chain(&rows) {
            writeln!(
                f,
                "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = width[0],
                w1 = width[1],
                w2 = width[2],
                w3 = width[3]
            )?;
        }
        write!(f, "{} parameters", self.parameters())
    }
}
