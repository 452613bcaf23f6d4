//! Optimizers (SGD with momentum, Nesterov and weight decay; Adam; AdamW; RMSprop; Adadelta) and clipping by
//! global gradient norm. Each update follows PyTorch's `torch.optim` formulas, written out
//! beside the code; the state is named after the parameters, so it survives checkpoints.
//! Learning-rate schedules are in [`schedule`](LrSchedule).

mod adadelta;
mod adam;
mod optimizer;
mod rmsprop;
mod schedule;
mod sgd;

pub use adadelta::Adadelta;
pub use adam::Adam;
pub use optimizer::{Optimizer, OptimizerState, clip_grad_norm};
pub use rmsprop::RmsProp;
pub use schedule::{ConstantLr, CosineLr, LrSchedule, StepLr, Warmup};
pub use sgd::Sgd;
