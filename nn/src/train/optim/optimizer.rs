//! The `Optimizer` trait, its named state, clipping by global gradient norm, and the
//! plumbing the optimizers share (a parameter's gradient, an update split across threads).

use autograd::runtime::{parallel, simd};
use autograd::{Element, Error, Gradients, Param, Result, Tensor};
use std::collections::BTreeMap;

/// An optimizer's state: the step count and its named buffers (`momentum.conv1.w`, ...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState<T: Element> {
    /// Updates done so far.
    pub step: u64,
    /// The buffers, named `<buffer>.<parameter>`.
    pub buffers: BTreeMap<String, Tensor<T>>,
}

/// Updates parameters from their gradients.
pub trait Optimizer<T: Element>: Send {
    /// The optimizer's name (`sgd`, `adam`, `adamw`).
    fn name(&self) -> &'static str;

    /// One update of every parameter from its gradient in `grads`. A parameter without a
    /// gradient (not bound to the tape) is an error: it would silently stop training.
    fn step(&mut self, params: Vec<(String, &mut Param<T>)>, grads: &Gradients<T>) -> Result<()>;

    /// The current learning rate.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate (schedules call this).
    fn set_learning_rate(&mut self, lr: f64);

    /// The state to checkpoint.
    fn state(&self) -> OptimizerState<T>;

    /// Restores a checkpointed state.
    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()>;
}

pub(crate) fn grad_of<'g, T: Element>(
    op: &str,
    name: &str,
    p: &Param<T>,
    grads: &'g Gradients<T>,
) -> Result<&'g Tensor<T>> {
    grads.param(p).ok_or_else(|| {
        Error::invalid(
            op,
            p.shape(),
            format!("parameter {name} has no gradient: was it bound to the tape?"),
        )
    })
}

pub(crate) fn t<T: Element>(v: f64) -> T {
    T::from_f64(v)
}

/// Elements per part when an update is split across threads.
const UPDATE_CHUNK: usize = 8192;

/// Runs an element-wise update `f(param, grad, state_1, state_2)` over a parameter, split
/// into parts of [`UPDATE_CHUNK`] elements across the pool's threads when it has at least two
/// (LeNet-5's first dense layer has 48k); the result is the same either way. A state may be
/// empty (an optimizer without it), and then each part gets it empty.
/// With `flush`, each part runs with subnormals flushed to zero.
pub(crate) fn over_param_chunks<T: Element>(
    flush: bool,
    p: &mut [T],
    g: &[T],
    s1: &mut [T],
    s2: &mut [T],
    update: impl Fn(&mut [T], &[T], &mut [T], &mut [T]) + Sync,
) {
    let f = |p: &mut [T], g: &[T], s1: &mut [T], s2: &mut [T]| {
        if flush {
            simd::with_denormals_flushed(|| update(p, g, s1, s2))
        } else {
            update(p, g, s1, s2)
        }
    };
    // A state's parts, then empty ones (all of them for an empty state).
    fn parts<T>(s: &mut [T]) -> impl Iterator<Item = &mut [T]> {
        s.chunks_mut(UPDATE_CHUNK)
            .chain(std::iter::repeat_with(|| &mut [][..]))
    }
    let split = parallel::worth_splitting(p.len().div_ceil(UPDATE_CHUNK), p.len() >= 2 * UPDATE_CHUNK);
    let parts = p
        .chunks_mut(UPDATE_CHUNK)
        .zip(g.chunks(UPDATE_CHUNK))
        .zip(parts(s1))
        .zip(parts(s2));
    parallel::for_each_part(parts, split, |_, (((p, g), s1), s2)| f(p, g, s1, s2));
}

/// Scales all gradients down so that their global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` (scale `max_norm / (norm + 1e-6)` when above). Returns
/// the norm before clipping.
pub fn clip_grad_norm<T: Element>(grads: &mut Gradients<T>, params: &[&Param<T>], max_norm: f64) -> f64 {
    let total: f64 = params
        .iter()
        .filter_map(|p| grads.param(p))
        .flat_map(|g| g.as_slice().iter().map(|v| v.to_f64() * v.to_f64()))
        .sum::<f64>()
        .sqrt();
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        for p in params {
            if let Some(g) = grads.param_mut(p) {
                let c = T::from_f64(coef);
                g.map_inplace(|v| v * c);
            }
        }
    }
    total
}
