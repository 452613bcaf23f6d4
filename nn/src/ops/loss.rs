//! Losses: softmax cross-entropy from logits (fused and numerically stable) and mean squared
//! error.

use autograd::{CustomOp, Element, Error, Result, Saved, Tensor, Var};

/// How a loss over a batch is reduced to one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean over the batch (the default, as in PyTorch).
    #[default]
    Mean,
    /// The sum over the batch.
    Sum,
}

/// Softmax cross-entropy of logits `x` `[N, K]` against integer labels, fused:
///
/// `L_n = log Σ_k e^{x_nk} - x_{n,label_n}`, computed as `-(x_{n,label} - m - log Σ_k e^{x_nk - m})`
/// with `m = max_k x_nk` so no exponential overflows; `L = mean_n L_n` (or the sum).
///
/// Backward: `dx_nk = dL · (softmax(x_n)_k - [k = label_n])`, divided by `N` for the mean.
pub struct SoftmaxCrossEntropyOp {
    labels: Vec<usize>,
    reduction: Reduction,
}

impl<T: Element> CustomOp<T> for SoftmaxCrossEntropyOp {
    fn name(&self) -> &str {
        "softmax_cross_entropy"
    }

    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        let x = inputs[0];
        if x.rank() != 2 || x.shape()[0] != self.labels.len() || x.shape()[1] == 0 {
            return Err(Error::shapes(
                "softmax_cross_entropy",
                x.shape(),
                &[self.labels.len()],
                "the logits must be [N, K] with K > 0 and one label per row",
            ));
        }
        let k = x.shape()[1];
        if let Some((row, &bad)) = self.labels.iter().enumerate().find(|&(_, &l)| l >= k) {
            return Err(Error::invalid(
                "softmax_cross_entropy",
                x.shape(),
                format!("label {bad} of row {row} is not a class index below {k}"),
            ));
        }
        // Per row: log-probabilities, kept as probabilities for the backward rule.
        let mut probs = x.to_vec();
        let mut total = T::ZERO;
        for (row, &label) in probs.chunks_exact_mut(k).zip(&self.labels) {
            let m = row.iter().copied().fold(T::NEG_INFINITY, T::max);
            let log_sum = row.iter().map(|&v| (v - m).exp()).sum::<T>().ln();
            total -= (row[label] - m) - log_sum;
            for v in row.iter_mut() {
                *v = ((*v - m) - log_sum).exp();
            }
        }
        if self.reduction == Reduction::Mean {
            total /= T::from_usize(self.labels.len().max(1));
        }
        saved.save(Tensor::from_vec(probs, x.shape())?);
        Ok(Tensor::scalar(total))
    }

    fn backward(&self, saved: &Saved<T>, dl: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let mut dx = saved.get(0).clone();
        let k = dx.shape()[1];
        let mut scale = dl.item()?;
        if self.reduction == Reduction::Mean {
            scale /= T::from_usize(self.labels.len().max(1));
        }
        for (row, &label) in dx.as_mut_slice().chunks_exact_mut(k).zip(&self.labels) {
            row[label] -= T::ONE;
            row.iter_mut().for_each(|v| *v *= scale);
        }
        Ok(vec![Some(dx)])
    }
}

/// Softmax cross-entropy of `logits` `[N, K]` against `labels` (class indices), reduced over
/// the batch. Returns a rank-0 variable.
///
/// ```
/// use autograd::{Tape, Tensor};
/// use nn::ops::loss::{softmax_cross_entropy, Reduction};
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::from_vec(vec![0.0, 0.0], &[1, 2]).unwrap());
/// let l = softmax_cross_entropy(&x, &[1], Reduction::Mean).unwrap();
/// assert!((l.value().item().unwrap() - 2f64.ln()).abs() < 1e-15);
/// ```
pub fn softmax_cross_entropy<'t, T: Element>(
    logits: &Var<'t, T>,
    labels: &[usize],
    reduction: Reduction,
) -> Result<Var<'t, T>> {
    Var::apply(
        SoftmaxCrossEntropyOp {
            labels: labels.to_vec(),
            reduction,
        },
        &[logits],
    )
}

/// Mean squared error `mean((prediction - target)²)` (or the sum of squares), built from
/// autograd primitives; `target` is a constant of the prediction's shape.
pub fn mse_loss<'t, T: Element>(
    prediction: &Var<'t, T>,
    target: &Tensor<T>,
    reduction: Reduction,
) -> Result<Var<'t, T>> {
    if prediction.shape() != target.shape() {
        return Err(Error::shapes(
            "mse_loss",
            prediction.shape(),
            target.shape(),
            "prediction and target must have one shape",
        ));
    }
    let diff = prediction.try_sub(&prediction.constant_like(target.clone()))?;
    let sq = diff.try_mul(&diff)?;
    Ok(match reduction {
        Reduction::Mean => sq.mean(),
        Reduction::Sum => sq.sum(),
    })
}
