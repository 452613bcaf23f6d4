//! The loss a classifier is trained with: the [`Loss`] trait, which the training step, the
//! epoch loop, data-parallel training and the [`Trainer`](crate::train::Trainer) take, and the
//! usual choices ([`CrossEntropy`], with optional label smoothing, and [`OneHotMse`]).
//!
//! Every loss is the mean or the sum of a per-sample loss `ℓ_n` over the batch, so that
//! data-parallel training can sum `Σ_n ℓ_n` over the processes' shards and divide by the whole
//! batch's size once.

use crate::ops::loss::{Reduction, softmax_cross_entropy};
use autograd::{Element, Error, Result, Tensor, Var};

/// A training loss from a batch's logits `[N, K]` and its labels in `0..K`: the sum
/// `Σ_n ℓ_n` ([`Reduction::Sum`]) or the mean `Σ_n ℓ_n / N` ([`Reduction::Mean`]) of a
/// per-sample loss `ℓ_n`.
///
/// Implemented by [`CrossEntropy`], [`OneHotMse`] and by any closure of the same signature
/// (wrap it in [`loss_fn`] so that Rust infers the signature for every tape lifetime):
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::loss::Reduction;
/// use nn::train::loss::{Loss, loss_fn};
/// // A hinge loss on the label's logit, written on the tape.
/// let hinge = loss_fn(|logits, labels, r| {
///     let picked = logits.gather(1, labels)?;
///     let l = picked.neg().add_scalar(1.0).relu();
///     Ok(if r == Reduction::Mean { l.mean() } else { l.sum() })
/// });
/// let tape = Tape::new();
/// let x = tape.var(Tensor::from_vec(vec![0.25, 2.0], &[1, 2]).unwrap());
/// let l = Loss::<f64>::loss(&hinge, &x, &[0], Reduction::Mean).unwrap();
/// assert_eq!(l.value().item().unwrap(), 0.75);
/// ```
pub trait Loss<T: Element>: Sync {
    /// The loss of a batch, on the logits' tape.
    fn loss<'t>(&self, logits: &Var<'t, T>, labels: &[usize], reduction: Reduction) -> Result<Var<'t, T>>;

    /// A short description for logs and metrics (`cross-entropy`, ...).
    fn describe(&self) -> String {
        "custom loss".into()
    }
}

impl<T: Element, F> Loss<T> for F
where
    F: for<'t> Fn(&Var<'t, T>, &[usize], Reduction) -> Result<Var<'t, T>> + Sync,
{
    fn loss<'t>(&self, logits: &Var<'t, T>, labels: &[usize], reduction: Reduction) -> Result<Var<'t, T>> {
        self(logits, labels, reduction)
    }
}

/// A closure as a [`Loss`]: returns it unchanged, with its signature fixed for every tape
/// lifetime (as [`autograd::gradcheck::tape_fn`] does for gradient checks).
pub fn loss_fn<T: Element, F>(f: F) -> F
where
    F: for<'t> Fn(&Var<'t, T>, &[usize], Reduction) -> Result<Var<'t, T>> + Sync,
{
    f
}

/// Softmax cross-entropy (PyTorch's `CrossEntropyLoss`), optionally with label smoothing `ε`:
/// the target of sample `n` is `q_nk = (1 − ε)·[k = label_n] + ε / K`, and
///
/// `ℓ_n = −Σ_k q_nk · log softmax(x_n)_k`.
///
/// With `ε = 0` this is the fused [`softmax_cross_entropy`] op (`dx_nk = softmax(x_n)_k −
/// [k = label_n]`); with `ε > 0` it is written on the tape from `log_softmax`.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::loss::Reduction;
/// use nn::train::loss::{CrossEntropy, Loss};
/// let tape = Tape::new();
/// let x = tape.var(Tensor::from_vec(vec![0.0f64, 0.0], &[1, 2]).unwrap());
/// // Two equal logits: log 2 whatever the smoothing.
/// let l = CrossEntropy::smoothed(0.1).loss(&x, &[1], Reduction::Mean).unwrap();
/// assert!((l.value().item().unwrap() - 2f64.ln()).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CrossEntropy {
    /// `ε` in `[0, 1]`.
    pub label_smoothing: f64,
}

impl CrossEntropy {
    /// Cross-entropy with label smoothing `ε` (PyTorch's `label_smoothing`).
    pub fn smoothed(label_smoothing: f64) -> Self {
        CrossEntropy { label_smoothing }
    }
}

/// Checks labels against `[N, K]` logits, naming `op`.
fn check_labels<T: Element>(op: &str, logits: &Var<'_, T>, labels: &[usize]) -> Result<usize> {
    let shape = logits.shape();
    if shape.len() != 2 || shape[0] != labels.len() || shape[1] == 0 {
        return Err(Error::shapes(
            op,
            shape,
            &[labels.len()],
            "the logits must be [N, K] with K > 0 and one label per row",
        ));
    }
    let k = shape[1];
    if let Some((n, &l)) = labels.iter().enumerate().find(|&(_, &l)| l >= k) {
        return Err(Error::invalid(
            op,
            shape,
            format!("label {l} of sample {n} is not below the {k} classes"),
        ));
    }
    Ok(k)
}

/// The constant `[N, K]` targets `a·[k = label_n] + b`.
fn targets<T: Element>(labels: &[usize], k: usize, a: f64, b: f64) -> Result<Tensor<T>> {
    let mut q = vec![T::from_f64(b); labels.len() * k];
    for (n, &l) in labels.iter().enumerate() {
        q[n * k + l] = T::from_f64(a + b);
    }
    Tensor::from_vec(q, &[labels.len(), k])
}

impl<T: Element> Loss<T> for CrossEntropy {
    fn loss<'t>(&self, logits: &Var<'t, T>, labels: &[usize], reduction: Reduction) -> Result<Var<'t, T>> {
        let eps = self.label_smoothing;
        if !(0.0..=1.0).contains(&eps) {
            return Err(Error::invalid(
                "CrossEntropy",
                logits.shape(),
                format!("label_smoothing {eps} is not in [0, 1]"),
            ));
        }
        if eps == 0.0 {
            return softmax_cross_entropy(logits, labels, reduction);
        }
        let k = check_labels("CrossEntropy", logits, labels)?;
        let q = logits.constant_like(targets(labels, k, 1.0 - eps, eps / k as f64)?);
        let sum = logits.log_softmax(1)?.try_mul(&q)?.sum().neg();
        Ok(match reduction {
            Reduction::Sum => sum,
            Reduction::Mean => sum.mul_scalar(T::from_f64(1.0 / labels.len() as f64)),
        })
    }

    fn describe(&self) -> String {
        match self.label_smoothing {
            0.0 => "cross-entropy".into(),
            eps => format!("cross-entropy (label smoothing {eps})"),
        }
    }
}

/// Mean squared error against one-hot targets (the loss of LeCun et al. 1998's output layer,
/// and PyTorch's `MSELoss` on `one_hot(labels)`):
///
/// `ℓ_n = (1/K) Σ_k (x_nk − [k = label_n])²`, so the mean over the batch equals PyTorch's
/// element mean.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OneHotMse;

impl<T: Element> Loss<T> for OneHotMse {
    fn loss<'t>(&self, logits: &Var<'t, T>, labels: &[usize], reduction: Reduction) -> Result<Var<'t, T>> {
        let k = check_labels("OneHotMse", logits, labels)?;
        let y = logits.constant_like(targets(labels, k, 1.0, 0.0)?);
        let d = logits.try_sub(&y)?;
        let per = match reduction {
            Reduction::Sum => 1.0 / k as f64,
            Reduction::Mean => 1.0 / (k * labels.len()) as f64,
        };
        Ok(d.try_mul(&d)?.sum().mul_scalar(T::from_f64(per)))
    }

    fn describe(&self) -> String {
        "one-hot mean squared error".into()
    }
}
