//! Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

use super::optimizer::{Optimizer, OptimizerState, check_buffer_kinds, grad_of, over_param_chunks, t};
use autograd::runtime::simd;
use autograd::{Element, Gradients, Param, Result, Tensor};

/// Stochastic gradient descent, as `torch.optim.SGD`:
///
/// ```text
/// g ← ∇ + λ·p                          (weight decay λ)
/// b ← g on the first step, else μ·b + g (momentum μ; no dampening)
/// g ← g + μ·b if Nesterov, else b
/// p ← p - η·g
/// ```
///
/// Subnormal values are flushed to zero during the update unless
/// [`flush_denormals(false)`](Sgd::flush_denormals) says otherwise.
#[derive(Clone, Debug)]
pub struct Sgd<T: Element> {
    lr: f64,
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
    flush_denormals: bool,
    state: OptimizerState<T>,
}

impl<T: Element> Sgd<T> {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            flush_denormals: true,
            state: OptimizerState::default(),
        }
    }
    /// Whether the update flushes subnormal values to zero (the default; see
    /// [`Adam::flush_denormals`](super::Adam::flush_denormals)).
    pub fn flush_denormals(mut self, flush: bool) -> Self {
        self.flush_denormals = flush;
        self
    }
    /// With momentum `μ`.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// With Nesterov momentum.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// With L2 weight decay `λ` (added to the gradient).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

impl<T: Element> Optimizer<T> for Sgd<T> {
    fn name(&self) -> &'static str {
        "sgd"
    }

    fn step(&mut self, params: Vec<(String, &mut Param<T>)>, grads: &Gradients<T>) -> Result<()> {
        let (lr, mu, wd) = (t::<T>(self.lr), t::<T>(self.momentum), t::<T>(self.weight_decay));
        let (nesterov, decay) = (self.nesterov, self.weight_decay != 0.0);
        // L2 weight decay adds `λ·p` to the gradient (skipped at 0, so that an infinite
        // weight does not turn its gradient into NaN).
        let decayed = move |gi: T, pi: T| if decay { gi + wd * pi } else { gi };
        for (name, p) in params {
            let grad = grad_of("sgd", &name, p, grads)?;
            // The momentum buffer starts as the first step's gradient.
            let key = format!("momentum.{name}");
            let first = self.momentum != 0.0 && !self.state.buffers.contains_key(&key);
            let mut no_buffer = Vec::new();
            let buf = if self.momentum != 0.0 {
                let zeros = || Tensor::zeros(grad.shape());
                self.state.buffers.entry(key).or_insert_with(zeros).as_mut_slice()
            } else {
                &mut no_buffer[..]
            };
            let update = |pv: &mut [T], grad: &[T], [buf]: [&mut [T]; 1]| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        if buf.is_empty() {
                            for (pi, &gi) in pv.iter_mut().zip(grad) {
                                *pi -= lr * decayed(gi, *pi);
                            }
                            return;
                        }
                        for ((pi, &gi), bi) in pv.iter_mut().zip(grad).zip(buf) {
                            let g = decayed(gi, *pi);
                            *bi = if first { g } else { mu * *bi + g };
                            *pi -= lr * if nesterov { g + mu * *bi } else { *bi };
                        }
                    },
                )
            };
            over_param_chunks(
                self.flush_denormals,
                p.value_mut().as_mut_slice(),
                grad.as_slice(),
                [buf],
                update,
            );
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
        check_buffer_kinds("sgd", &state, &["momentum"])?;
        self.state = state;
        Ok(())
    }
}
