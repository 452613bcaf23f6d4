//! Softmax and log-softmax along an axis, both stable (the maximum is subtracted first).

use crate::element::Element;
use crate::error::Result;
use crate::op::{CustomOp, Saved};
use crate::shape::check_axis;
use crate::tape::Var;
use crate::tensor::Tensor;

/// Runs `f(lane)` over every lane along `axis` of a buffer of `shape`, where a lane is the
/// `len` elements `x[o, 0..len, i]`, handed over as a small gathered vector and written back.
fn for_each_lane<T: Element>(shape: &[usize], axis: usize, data: &mut [T], mut f: impl FnMut(&mut [T])) {
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut lane = vec![T::ZERO; len];
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            for k in 0..len {
                lane[k] = data[at(k)];
            }
            f(&mut lane);
            for k in 0..len {
                data[at(k)] = lane[k];
            }
        }
    }
}

/// `y_k = e^{x_k} / Σ_j e^{x_j}`; `dx = y ⊙ (dy - Σ_k dy_k y_k)`.
struct SoftmaxOp {
    axis: usize,
}

impl<T: Element> CustomOp<T> for SoftmaxOp {
    fn name(&self) -> &str {
        "softmax"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        check_axis("softmax", inputs[0].shape(), self.axis)?;
        let mut y = inputs[0].clone();
        let shape = y.shape().to_vec();
        for_each_lane(&shape, self.axis, y.as_mut_slice(), |lane| {
            let m = lane.iter().copied().fold(T::NEG_INFINITY, T::max);
            lane.iter_mut().for_each(|v| *v = (*v - m).exp());
            let total: T = lane.iter().copied().sum();
            lane.iter_mut().for_each(|v| *v /= total);
        });
        saved.save(y.clone());
        Ok(y)
    }
    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let y = saved.get(0);
        let dot = dy.try_mul(y)?.sum_axis(self.axis, true)?; // Σ_k dy_k y_k
        let dx = y.try_mul(&dy.try_sub(&dot)?)?;
        Ok(vec![Some(dx)])
    }
}

/// `y_k = x_k - log Σ_j e^{x_j}`; `dx = dy - softmax(x) · Σ_k dy_k`.
struct LogSoftmaxOp {
    axis: usize,
}

impl<T: Element> CustomOp<T> for LogSoftmaxOp {
    fn name(&self) -> &str {
        "log_softmax"
    }
    fn forward(&mut self, inputs: &[&Tensor<T>], saved: &mut Saved<T>) -> Result<Tensor<T>> {
        check_axis("log_softmax", inputs[0].shape(), self.axis)?;
        let mut y = inputs[0].clone();
        let shape = y.shape().to_vec();
        for_each_lane(&shape, self.axis, y.as_mut_slice(), |lane| {
            let m = lane.iter().copied().fold(T::NEG_INFINITY, T::max);
            let log_total = lane.iter().map(|&v| (v - m).exp()).sum::<T>().ln();
            lane.iter_mut().for_each(|v| *v = (*v - m) - log_total);
        });
        saved.save(y.clone());
        Ok(y)
    }
    fn backward(&self, saved: &Saved<T>, dy: &Tensor<T>, _: &[bool]) -> Result<Vec<Option<Tensor<T>>>> {
        let y = saved.get(0);
        let total = dy.sum_axis(self.axis, true)?;
        let softmax = y.map(|v| v.exp());
        let dx = dy.try_sub(&softmax.try_mul(&total)?)?;
        Ok(vec![Some(dx)])
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// Softmax along `axis`.
    pub fn softmax(&self, axis: usize) -> Result<Var<'t, T>> {
        Var::apply(SoftmaxOp { axis }, &[self])
    }
    /// Log-softmax along `axis`.
    pub fn log_softmax(&self, axis: usize) -> Result<Var<'t, T>> {
        Var::apply(LogSoftmaxOp { axis }, &[self])
    }
}
