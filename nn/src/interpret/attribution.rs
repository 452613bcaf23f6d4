//! Attribution of a class logit to the input pixels by one backward pass: gradient saliency
//! (Simonyan et al. 2013), guided backpropagation (Springenberg et al. 2014) and the
//! deconvnet (Zeiler & Fergus 2014). The three differ only in what every ReLU sends back
//! ([`ReluRule`]); max pooling sends its signal to the forward pass's switches and a
//! convolution filters it with its transposed kernels (the lecture's input rule
//! `dZ_slice,ij += Σ_c dZ_ijc · W_c`) under all three.

use super::error::Result;
use super::input::{CHUNK, check_batch, check_logits, one_hot};
use crate::layers::Module;
use autograd::{Element, ReluRule, Tape, Tensor};

/// Which backward signal an attribution follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Method {
    /// The gradient `d logit / d x` (saliency; ReLUs send back `R · [X > 0]`).
    #[default]
    Gradient,
    /// Guided backpropagation (ReLUs send back `R · [X > 0] · [R > 0]`).
    GuidedBackprop,
    /// The deconvnet (ReLUs send back `R · [R > 0]`).
    Deconvnet,
}

impl Method {
    /// The ReLU rule the method runs the backward pass with.
    pub fn relu_rule(self) -> ReluRule {
        match self {
            Method::Gradient => ReluRule::Gradient,
            Method::GuidedBackprop => ReluRule::Guided,
            Method::Deconvnet => ReluRule::Deconvnet,
        }
    }

    /// Every method, in the order above.
    pub const ALL: [Method; 3] = [Method::Gradient, Method::GuidedBackprop, Method::Deconvnet];
}

/// The backward signal of each image's target logit at the input, following `method`:
/// `images` `[N, ...]` (any shape the model takes), `targets[n]` the class of image `n`;
/// the result has the images' shape. Raw and signed (captum's `Saliency` with
/// `abs=False`, `GuidedBackprop`, `Deconvolution`); take the absolute value for display.
///
/// Works on any [`Module`] whose forward pass is recorded on the tape (the model should be
/// in evaluation mode). Images go through in chunks of up to 128 per forward pass.
///
/// ```
/// use autograd::Tensor;
/// use nn::interpret::{Method, attribute};
/// use nn::layers::{Dense, Module, Sequential};
/// // logits = x · W: the gradient of logit t is column t of W, for every image.
/// let w = Tensor::from_vec(vec![1.0, -2.0, 3.0, 4.0], &[2, 2]).unwrap();
/// let model = Sequential::<f64>::new().add("fc", Dense::from_tensors(w, None).unwrap());
/// let x = Tensor::from_vec(vec![5.0, 6.0, 7.0, 8.0], &[2, 2]).unwrap();
/// let g = attribute(&model, &x, &[1, 0], Method::Gradient).unwrap();
/// assert_eq!(g.to_vec(), [-2.0, 4.0, 1.0, 3.0]);
/// ```
pub fn attribute<T: Element, M: Module<T> + ?Sized>(
    model: &M,
    images: &Tensor<T>,
    targets: &[usize],
    method: Method,
) -> Result<Tensor<T>> {
    let n = check_batch("attribute", images, targets)?;
    let per_image = images.numel() / n.max(1);
    let mut out = Vec::with_capacity(images.numel());
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        let rows = images.slice(0, start, end, 1)?;
        let rule = method.relu_rule();
        let (grads, _) = target_gradients("attribute", model, rows, &targets[start..end], (start, 1), rule)?;
        debug_assert_eq!(grads.numel(), (end - start) * per_image);
        out.extend_from_slice(grads.as_slice());
    }
    Ok(Tensor::from_vec(out, images.shape())?)
}

/// [`attribute`] with [`Method::Gradient`]: gradient saliency.
pub fn saliency<T: Element, M: Module<T> + ?Sized>(
    model: &M,
    images: &Tensor<T>,
    targets: &[usize],
) -> Result<Tensor<T>> {
    attribute(model, images, targets, Method::Gradient)
}

/// [`attribute`] with [`Method::GuidedBackprop`].
pub fn guided_backprop<T: Element, M: Module<T> + ?Sized>(
    model: &M,
    images: &Tensor<T>,
    targets: &[usize],
) -> Result<Tensor<T>> {
    attribute(model, images, targets, Method::GuidedBackprop)
}

/// [`attribute`] with [`Method::Deconvnet`].
pub fn deconvnet<T: Element, M: Module<T> + ?Sized>(
    model: &M,
    images: &Tensor<T>,
    targets: &[usize],
) -> Result<Tensor<T>> {
    attribute(model, images, targets, Method::Deconvnet)
}

/// One forward and one backward pass over `rows` (one chunk): the backward signal of
/// each row's target logit at the input, under `rule`, and the target logits themselves.
/// Parameters are frozen, so no `dW` is computed. Row `r` belongs to image
/// `(first_row + r) / rows_per_image` (for error messages), with
/// `(first_row, rows_per_image) = origin`.
pub(crate) fn target_gradients<T: Element, M: Module<T> + ?Sized>(
    function: &'static str,
    model: &M,
    rows: Tensor<T>,
    targets: &[usize],
    origin: (usize, usize),
    rule: ReluRule,
) -> Result<(Tensor<T>, Vec<f64>)> {
    let (first_row, rows_per_image) = origin;
    let tape = Tape::new();
    tape.set_relu_rule(rule);
    tape.set_params_frozen(true);
    let x = tape.var(rows);
    let logits = model.forward(&x)?;
    let image = |r: usize| (first_row + r) / rows_per_image.max(1);
    let k = check_logits(
        function,
        logits.value(),
        targets.iter().enumerate().map(|(r, &t)| (image(r), t)),
    )?;
    let values = logits.value().as_slice();
    let picked = targets
        .iter()
        .enumerate()
        .map(|(r, &t)| values[r * k + t].to_f64())
        .collect();
    let grads = tape.backward_with(&logits, one_hot(targets.len(), k, |r| targets[r]))?;
    Ok((grads[&x].clone(), picked))
}
