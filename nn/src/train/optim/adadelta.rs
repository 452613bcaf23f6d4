//! Adadelta.

use super::optimizer::{
    Optimizer, OptimizerState, check_buffer_kinds, grad_of, over_param_chunks, put_buffers, t, take_buffers,
};
use autograd::runtime::simd;
use autograd::{Element, Gradients, Param, Result};

/// Adadelta (Zeiler 2012), as `torch.optim.Adadelta`:
///
/// ```text
/// g ← ∇ + λ·p                               (weight decay λ)
/// v ← ρ·v + (1-ρ)·g²                        (square_avg)
/// Δ ← √(u + ε) / √(v + ε) · g
/// u ← ρ·u + (1-ρ)·Δ²                        (acc_delta)
/// p ← p - η·Δ
/// ```
///
/// ```
/// use nn::train::optim::{Adadelta, Optimizer};
/// let opt = Adadelta::<f32>::new(1.0).rho(0.9);
/// assert_eq!(opt.name(), "adadelta");
/// ```
#[derive(Clone, Debug)]
pub struct Adadelta<T: Element> {
    lr: f64,
    rho: f64,
    eps: f64,
    weight_decay: f64,
    state: OptimizerState<T>,
}

/// The state buffers, named as PyTorch names them.
const KINDS: [&str; 2] = ["square_avg", "acc_delta"];

impl<T: Element> Adadelta<T> {
    /// Adadelta with learning rate `lr` (PyTorch's default is 1.0) and PyTorch's defaults:
    /// ρ 0.9, ε 1e-6, no weight decay.
    pub fn new(lr: f64) -> Self {
        Adadelta {
            lr,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
            state: OptimizerState::default(),
        }
    }
    /// The decay rate `ρ` of both averages.
    pub fn rho(mut self, rho: f64) -> Self {
        self.rho = rho;
        self
    }
    /// The `ε` inside both square roots.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// L2 weight decay `λ`.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl<T: Element> Optimizer<T> for Adadelta<T> {
    fn name(&self) -> &'static str {
        "adadelta"
    }

    fn step(&mut self, params: Vec<(String, &mut Param<T>)>, grads: &Gradients<T>) -> Result<()> {
        let (lr, rho, eps, wd) = (
            t::<T>(self.lr),
            t::<T>(self.rho),
            t::<T>(self.eps),
            t::<T>(self.weight_decay),
        );
        let (one_rho, decay) = (t::<T>(1.0 - self.rho), self.weight_decay != 0.0);
        for (name, p) in params {
            let grad = grad_of(self.name(), &name, p, grads)?;
            let mut bufs = take_buffers(&mut self.state, KINDS, [true, true], &name, grad.shape());
            let update = |pv: &mut [T], grad: &[T], [v, u]: [&mut [T]; 2]| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for i in 0..pv.len() {
                            let g = if decay { grad[i] + wd * pv[i] } else { grad[i] };
                            v[i] = rho * v[i] + one_rho * g * g;
                            let delta = (u[i] + eps).sqrt() / (v[i] + eps).sqrt() * g;
                            u[i] = rho * u[i] + one_rho * delta * delta;
                            pv[i] -= lr * delta;
                        }
                    },
                )
            };
            let [v, u] = &mut bufs;
            over_param_chunks(
                false,
                p.value_mut().as_mut_slice(),
                grad.as_slice(),
                [v.as_mut_slice(), u.as_mut_slice()],
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
