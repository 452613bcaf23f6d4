//! [`Context`] as the [`Trainer`](crate::train::Trainer)'s [`Strategy`]: data-parallel
//! epochs and evaluations, rank 0 writing, failures agreed on.

use super::Context;
use super::training::{evaluate_batches, train_epoch_with};
use crate::data::Pixel;
use crate::data::batches::Batches;
use crate::layers::Module;
use crate::train::Evaluation;
use crate::train::Strategy;
use crate::train::epoch::{EpochError, EpochSummary, Schedule, StepReport};
use crate::train::loss::Loss;
use crate::train::optim::Optimizer;
use autograd::Element;

impl Strategy for Context {
    fn is_root(&self) -> bool {
        Context::is_root(self)
    }

    fn processes(&self) -> usize {
        self.size()
    }

    fn train_epoch<T: Element, P: Pixel>(
        &self,
        model: &mut dyn Module<T>,
        optimizer: &mut dyn Optimizer<T>,
        batches: Batches<'_, T, P>,
        schedule: Option<Schedule<'_>>,
        loss: &dyn Loss<T>,
        on_step: &mut (dyn FnMut(&StepReport) + Send),
    ) -> Result<EpochSummary, EpochError> {
        train_epoch_with(self, model, optimizer, batches, schedule, loss, on_step)
    }

    fn evaluate<T: Element, P: Pixel>(
        &self,
        model: &mut dyn Module<T>,
        batches: Batches<'_, T, P>,
        classes: usize,
        loss: &dyn Loss<T>,
    ) -> autograd::Result<Evaluation> {
        evaluate_batches(self, model, batches, classes, loss)
    }

    fn agree(&self, outcome: Result<(), String>) -> Result<(), String> {
        Context::agree(self, outcome).map_err(|e| e.to_string())
    }

    fn broadcast<T: Element>(
        &self,
        model: &mut dyn Module<T>,
        optimizer: &mut dyn Optimizer<T>,
    ) -> Result<(), String> {
        self.broadcast_model(model).map_err(|e| e.to_string())?;
        self.broadcast_optimizer(optimizer).map_err(|e| e.to_string())
    }
}
