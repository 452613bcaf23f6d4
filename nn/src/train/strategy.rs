//! How the [`Trainer`](crate::train::Trainer) spreads training over processes: the
//! [`Strategy`] trait, with [`SingleProcess`] (the default) here and data-parallel training
//! over MPI in [`crate::distributed::Context`], which implements it.

use crate::data::Pixel;
use crate::data::batches::Batches;
use crate::layers::Module;
use crate::train::Evaluation;
use crate::train::epoch::{EpochError, EpochSummary, Schedule, StepReport, train_epoch_with};
use crate::train::loss::Loss;
use crate::train::optim::Optimizer;
use crate::train::tally;
use autograd::Element;

/// Where a [`Trainer`](crate::train::Trainer)'s epochs and evaluations run: in this process
/// ([`SingleProcess`]) or over all processes of an MPI job
/// ([`Context`](crate::distributed::Context)). Every process of a job runs the same
/// `Trainer`; the strategy shards the batches, sums what must be summed, and decides which
/// process writes files.
pub trait Strategy: Sync {
    /// Whether this process writes files and prints (rank 0).
    fn is_root(&self) -> bool {
        true
    }

    /// How many processes train together.
    fn processes(&self) -> usize {
        1
    }

    /// One epoch of training on `batches` (the whole batches; the strategy takes this
    /// process's part of each), `on_step` after every step.
    fn train_epoch<T: Element, P: Pixel>(
        &self,
        model: &mut dyn Module<T>,
        optimizer: &mut dyn Optimizer<T>,
        batches: Batches<'_, T, P>,
        schedule: Option<Schedule<'_>>,
        loss: &dyn Loss<T>,
        on_step: &mut (dyn FnMut(&StepReport) + Send),
    ) -> Result<EpochSummary, EpochError>;

    /// The evaluation of `model` on the whole of `batches`, the same on every process.
    fn evaluate<T: Element, P: Pixel>(
        &self,
        model: &mut dyn Module<T>,
        batches: Batches<'_, T, P>,
        classes: usize,
        loss: &dyn Loss<T>,
    ) -> autograd::Result<Evaluation>;

    /// Every process's outcome of a step that may fail on some of them only (writing a
    /// file on rank 0): `Ok` on all only if all succeeded, otherwise the same message on
    /// all.
    fn agree(&self, outcome: Result<(), String>) -> Result<(), String> {
        outcome
    }

    /// Makes every process's model and optimizer state rank 0's (after rank 0 resumed).
    fn broadcast<T: Element>(
        &self,
        model: &mut dyn Module<T>,
        optimizer: &mut dyn Optimizer<T>,
    ) -> Result<(), String> {
        let _ = (model, optimizer);
        Ok(())
    }
}

/// Training in this process alone, on the kernels' thread pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Strategy for SingleProcess {
    fn train_epoch<T: Element, P: Pixel>(
        &self,
        model: &mut dyn Module<T>,
        optimizer: &mut dyn Optimizer<T>,
        batches: Batches<'_, T, P>,
        schedule: Option<Schedule<'_>>,
        loss: &dyn Loss<T>,
        on_step: &mut (dyn FnMut(&StepReport) + Send),
    ) -> Result<EpochSummary, EpochError> {
        train_epoch_with(model, optimizer, batches, schedule, loss, on_step)
    }

    fn evaluate<T: Element, P: Pixel>(
        &self,
        model: &mut dyn Module<T>,
        batches: Batches<'_, T, P>,
        classes: usize,
        loss: &dyn Loss<T>,
    ) -> autograd::Result<Evaluation> {
        Ok(tally(model, batches, classes, loss)?.evaluation())
    }
}
