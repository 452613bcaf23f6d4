//! Learning-rate schedules: the rate for each step or epoch.

/// A learning-rate schedule: the rate for step (or epoch) `t`, counted from 0.
pub trait LrSchedule: Send + Sync {
    /// The learning rate at `t`.
    fn lr_at(&self, t: usize) -> f64;
}

/// A constant rate.
#[derive(Clone, Copy, Debug)]
pub struct ConstantLr(pub f64);

impl LrSchedule for ConstantLr {
    fn lr_at(&self, _: usize) -> f64 {
        self.0
    }
}

/// `base · γ^⌊t / step_size⌋`, as `torch.optim.lr_scheduler.StepLR`.
#[derive(Clone, Copy, Debug)]
pub struct StepLr {
    /// The initial rate.
    pub base: f64,
    /// How many steps between decays.
    pub step_size: usize,
    /// The decay factor.
    pub gamma: f64,
}

impl LrSchedule for StepLr {
    fn lr_at(&self, t: usize) -> f64 {
        self.base * self.gamma.powi((t / self.step_size.max(1)) as i32)
    }
}

/// Cosine annealing from `base` down to `min` over `total` steps, as
/// `torch.optim.lr_scheduler.CosineAnnealingLR`: `min + (base - min)·(1 + cos(π·t/total))/2`,
/// then `min` after `total`.
#[derive(Clone, Copy, Debug)]
pub struct CosineLr {
    /// The initial rate.
    pub base: f64,
    /// The final rate.
    pub min: f64,
    /// The length of the schedule.
    pub total: usize,
}

impl LrSchedule for CosineLr {
    fn lr_at(&self, t: usize) -> f64 {
        let frac = (t.min(self.total) as f64) / (self.total.max(1) as f64);
        self.min + (self.base - self.min) * (1.0 + (std::f64::consts::PI * frac).cos()) / 2.0
    }
}

/// A linear warm-up in front of another schedule: the rate of `inner` scaled by
/// `(t + 1) / steps` for the first `steps` steps, then `inner` unchanged. Starting a
/// high rate gently keeps the first steps from pushing units of a freshly initialised
/// network into the dead zone of their ReLU.
///
/// ```
/// use nn::train::optim::{ConstantLr, LrSchedule, Warmup};
/// let s = Warmup { steps: 4, inner: ConstantLr(0.1) };
/// let want = [0.025, 0.05, 0.075, 0.1, 0.1, 0.1];
/// for (t, w) in want.iter().enumerate() {
///     assert!((s.lr_at(t) - w).abs() < 1e-15, "step {t}: {}", s.lr_at(t));
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Warmup<S: LrSchedule> {
    /// The length of the warm-up, in steps (0: none).
    pub steps: usize,
    /// The schedule warmed up.
    pub inner: S,
}

impl<S: LrSchedule> LrSchedule for Warmup<S> {
    fn lr_at(&self, t: usize) -> f64 {
        let lr = self.inner.lr_at(t);
        if t < self.steps {
            lr * (t + 1) as f64 / self.steps as f64
        } else {
            lr
        }
    }
}
