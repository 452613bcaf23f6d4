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
    /// The optimizer's name (`sgd`, `adam`, `adamw`, `rmsprop`, `adadelta`).
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

/// Runs an element-wise update `f(param, grad, states)` over a parameter, split into parts
/// of [`UPDATE_CHUNK`] elements across the pool's threads when it has at least two (LeNet-5's
/// first dense layer has 48k); the result is the same either way. Each of the `N` states is
/// a buffer of the parameter's length or empty (a buffer the optimizer does not use with
/// these settings), and then each part gets it empty. With `flush`, each part runs with
/// subnormals flushed to zero.
pub(crate) fn over_param_chunks<T: Element, const N: usize>(
    flush: bool,
    p: &mut [T],
    g: &[T],
    states: [&mut [T]; N],
    update: impl Fn(&mut [T], &[T], [&mut [T]; N]) + Sync,
) {
    let f = |p: &mut [T], g: &[T], s: [&mut [T]; N]| {
        if flush {
            simd::with_denormals_flushed(|| update(p, g, s))
        } else {
            update(p, g, s)
        }
    };
    let split = parallel::worth_splitting(p.len().div_ceil(UPDATE_CHUNK), p.len() >= 2 * UPDATE_CHUNK);
    // Each state's parts, then empty ones (all of them for an empty state).
    let mut chunks = states.map(|s| s.chunks_mut(UPDATE_CHUNK));
    let parts = p
        .chunks_mut(UPDATE_CHUNK)
        .zip(g.chunks(UPDATE_CHUNK))
        .map(move |(p, g)| {
            let s: [&mut [T]; N] = std::array::from_fn(|k| chunks[k].next().unwrap_or(&mut []));
            (p, g, s)
        });
    parallel::for_each_part(parts, split, |_, (p, g, s)| f(p, g, s));
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

/// Takes the buffers `<kind>.<name>` of one parameter out of `state` (zeros of `shape` on
/// the first step), an empty tensor for a kind not `used`; [`put_buffers`] returns them.
pub(crate) fn take_buffers<T: Element, const N: usize>(
    state: &mut OptimizerState<T>,
    kinds: [&str; N],
    used: [bool; N],
    name: &str,
    shape: &[usize],
) -> [Tensor<T>; N] {
    std::array::from_fn(|k| match used[k] {
        true => state
            .buffers
            .remove(&format!("{}.{name}", kinds[k]))
            .unwrap_or_else(|| Tensor::zeros(shape)),
        false => Tensor::zeros(&[0]),
    })
}

/// Puts back what [`take_buffers`] took.
pub(crate) fn put_buffers<T: Element, const N: usize>(
    state: &mut OptimizerState<T>,
    kinds: [&str; N],
    name: &str,
    buffers: [Tensor<T>; N],
) {
    for (kind, b) in kinds.iter().zip(buffers) {
        if b.numel() > 0 || b.rank() != 1 {
            state.buffers.insert(format!("{kind}.{name}"), b);
        }
    }
}

/// Fails when `state` holds a buffer whose kind is not one of `kinds` (a checkpoint of
/// another optimizer).
pub(crate) fn check_buffer_kinds<T: Element>(
    op: &str,
    state: &OptimizerState<T>,
    kinds: &[&str],
) -> Result<()> {
    let known = |k: &String| {
        kinds
            .iter()
            .any(|kind| k.strip_prefix(kind).is_some_and(|r| r.starts_with('.')))
    };
    match state.buffers.keys().find(|k| !known(k)) {
        Some(bad) => Err(Error::invalid(
            op,
            &[],
            format!("state buffer {bad:?} is not one of {op}'s ({})", kinds.join(", ")),
        )),
        None => Ok(()),
    }
}
