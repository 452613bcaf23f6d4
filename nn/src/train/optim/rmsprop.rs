//! RMSprop.

use super::optimizer::{
    Optimizer, OptimizerState, check_buffer_kinds, grad_of, over_param_chunks, put_buffers, t, take_buffers,
};
use autograd::runtime::simd;
use autograd::{Element, Gradients, Param, Result};

/// RMSprop, as `torch.optim.RMSprop` (Hinton's lecture 6e; `centered` after Graves 2013):
///
/// ```text
/// g ← ∇ + λ·p                               (weight decay λ)
/// v ← α·v + (1-α)·g²                        (square_avg)
/// centered: ḡ ← α·ḡ + (1-α)·g, d ← √(v - ḡ²) + ε     otherwise d ← √v + ε
/// momentum μ > 0: b ← μ·b + g/d, p ← p - η·b         otherwise p ← p - η·g/d
/// ```
///
/// ```
/// use nn::train::optim::{Optimizer, RmsProp};
/// let opt = RmsProp::<f32>::new(0.01).alpha(0.9).momentum(0.9).centered(true);
/// assert_eq!(opt.name(), "rmsprop");
/// ```
#[derive(Clone, Debug)]
pub struct RmsProp<T: Element> {
    lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    centered: bool,
    state: OptimizerState<T>,
}

/// The state buffers, named as PyTorch names them.
const KINDS: [&str; 3] = ["square_avg", "grad_avg", "momentum_buffer"];

impl<T: Element> RmsProp<T> {
    /// RMSprop with learning rate `lr` and PyTorch's defaults: α 0.99, ε 1e-8, no weight
    /// decay, no momentum, not centered.
    pub fn new(lr: f64) -> Self {
        RmsProp {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            state: OptimizerState::default(),
        }
    }
    /// The decay rate `α` of the averages.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// The denominator's `ε`.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// L2 weight decay `λ`.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    /// Momentum `μ` on the scaled gradient.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// Whether the second moment is centred by the running mean of the gradient.
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }
}

impl<T: Element> Optimizer<T> for RmsProp<T> {
    fn name(&self) -> &'static str {
        "rmsprop"
    }

    fn step(&mut self, params: Vec<(String, &mut Param<T>)>, grads: &Gradients<T>) -> Result<()> {
        let (lr, alpha, eps, wd, mu) = (
            t::<T>(self.lr),
            t::<T>(self.alpha),
            t::<T>(self.eps),
            t::<T>(self.weight_decay),
            t::<T>(self.momentum),
        );
        let one_alpha = t::<T>(1.0 - self.alpha);
        let (decay, centered, momentum) = (self.weight_decay != 0.0, self.centered, self.momentum != 0.0);
        for (name, p) in params {
            let grad = grad_of(self.name(), &name, p, grads)?;
            let used = [true, centered, momentum];
            let mut bufs = take_buffers(&mut self.state, KINDS, used, &name, grad.shape());
            let update = |pv: &mut [T], grad: &[T], [v, gavg, b]: [&mut [T]; 3]| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for i in 0..pv.len() {
                            let g = if decay { grad[i] + wd * pv[i] } else { grad[i] };
                            v[i] = alpha * v[i] + one_alpha * g * g;
                            let d = if centered {
                                gavg[i] = alpha * gavg[i] + one_alpha * g;
                                (v[i] - gavg[i] * gavg[i]).sqrt() + eps
                            } else {
                                v[i].sqrt() + eps
                            };
                            if momentum {
                                b[i] = mu * b[i] + g / d;
                                pv[i] -= lr * b[i];
                            } else {
                                pv[i] -= lr * g / d;
                            }
                        }
                    },
                )
            };
            let [v, gavg, b] = &mut bufs;
            over_param_chunks(
                false,
                p.value_mut().as_mut_slice(),
                grad.as_slice(),
                [v.as_mut_slice(), gavg.as_mut_slice(), b.as_mut_slice()],
                update,
            );
            put_buffers(&mut self.state, KINDS, &name, bufs);
        }
        self.state.step += 1;
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn state(&self) -> OptimizerState<T> {
        self.state.clone()
    }
    fn load_state(&mut self, state: OptimizerState<T>) -> Result<()> {
        check_buffer_kinds(self.name(), &state, &KINDS)?;
        self.state = state;
        Ok(())
    }
}
