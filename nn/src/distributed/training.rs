//! Data-parallel training and evaluation: each process trains on its shard of every batch,
//! and the gradients are summed over the processes before every optimizer step.

use super::Context;
use crate::data::batches::{Batch, Batches, Normalize};
use crate::data::{Dataset, Pixel};
use crate::layers::Module;
use crate::ops::loss::Reduction;
use crate::train::epoch::{
    EpochError, EpochSummary, Schedule, StepReport, run_epoch, train_epoch_with as train_epoch_here,
};
use crate::train::loss::{CrossEntropy, Loss};
use crate::train::optim::Optimizer;
use crate::train::{Evaluation, Tally, evaluate as evaluate_here, tally};
use autograd::runtime::parallel;
use autograd::{Element, Error, Tape, Tensor};

/// [`train_epoch`](crate::train::epoch::train_epoch) over all processes of `ctx`: every
/// process passes the same `batches` (same data, batch size, seed, epoch, augmentation) and
/// makes only its shard of each ([`Batches::sharded`]). Each step computes the gradient of
/// the shard's summed loss `Σ_{n in shard} ℓ_n`, sums these gradients, the losses and the
/// shard sizes over the processes in one flat all-reduce (every parameter's dW in order, then
/// the loss, the sample count and an error flag), scales the sums by `1/N` for the whole
/// batch's `N`, and takes the same optimizer step on every process: the step of one process
/// with the mean loss on the whole batch, up to the order of the sums, also for a short last
/// batch whose shards are uneven or empty. The reports count the samples of all processes.
///
/// An error on some processes only (an op failing on one shard) is raised on all, with the
/// message of the lowest-ranked one. With one process this is `train_epoch` itself.
pub fn train_epoch<T: Element, P: Pixel>(
    ctx: &Context,
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    batches: Batches<'_, T, P>,
    schedule: Option<Schedule<'_>>,
    on_step: impl FnMut(&StepReport) + Send,
) -> Result<EpochSummary, EpochError> {
    train_epoch_with(
        ctx,
        model,
        optimizer,
        batches,
        schedule,
        &CrossEntropy::default(),
        on_step,
    )
}

/// [`train_epoch`] with another [`Loss`] than softmax cross-entropy (its sum over each
/// shard is what the processes add up).
pub fn train_epoch_with<T: Element, P: Pixel>(
    ctx: &Context,
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    batches: Batches<'_, T, P>,
    schedule: Option<Schedule<'_>>,
    loss: &dyn Loss<T>,
    on_step: impl FnMut(&StepReport) + Send,
) -> Result<EpochSummary, EpochError> {
    if ctx.size() == 1 {
        return train_epoch_here(model, optimizer, batches, schedule, loss, on_step);
    }
    let batches = batches.sharded(ctx.rank(), ctx.size());
    let step = |model: &mut dyn Module<T>, optimizer: &mut dyn Optimizer<T>, batch: &Batch<T>| {
        parallel::install(|| step(ctx, model, optimizer, batch, loss))
    };
    run_epoch(model, optimizer, batches, schedule, on_step, step)
}

/// One data-parallel step; returns the whole batch's mean loss and its size.
fn step<T: Element>(
    ctx: &Context,
    model: &mut dyn Module<T>,
    optimizer: &mut dyn Optimizer<T>,
    batch: &Batch<T>,
    loss: &dyn Loss<T>,
) -> Result<(f64, usize), EpochError> {
    let local = local_gradients(model, batch, loss);
    // The flat buffer: every dW in parameter order, this shard's loss and size, 1 if it failed.
    let params = model.parameters();
    let total: usize = params.iter().map(|(_, p)| p.value().numel()).sum();
    let mut flat = Vec::with_capacity(total + 3);
    match &local {
        Ok((loss, grads)) => {
            for (_, p) in &params {
                let dw = grads.param(p).expect("checked by local_gradients");
                flat.extend_from_slice(dw.as_slice());
            }
            flat.extend([*loss, T::from_usize(batch.labels.len()), T::ZERO]);
        }
        Err(_) => {
            flat.resize(total, T::ZERO);
            flat.extend([T::ZERO, T::ZERO, T::ONE]);
        }
    }
    ctx.all_reduce_sum(&mut flat);
    if flat[total + 2] != T::ZERO {
        let agreed = ctx.agree(local.map(|_| ())).expect_err("a process failed");
        return Err(Error::invalid("distributed::train_epoch", &[], agreed.to_string()).into());
    }
    let (_, mut grads) = local.expect("no process failed");
    // The whole batch's size: a count below 2^24, exact in f32.
    let n = flat[total + 1].to_f64().round() as usize;
    let inv_n = T::ONE / T::from_usize(n.max(1));
    let mut rest = &flat[..total];
    for (_, p) in &params {
        let dw = grads.param_mut(p).expect("checked by local_gradients");
        let (sum, after) = rest.split_at(dw.numel());
        dw.as_mut_slice()
            .iter_mut()
            .zip(sum)
            .for_each(|(d, &s)| *d = s * inv_n);
        rest = after;
    }
    let loss = flat[total].to_f64() / n.max(1) as f64;
    drop(params);
    optimizer.step(model.parameters_mut(), &grads)?;
    Ok((loss, n))
}

/// This shard's summed loss `Σ ℓ_n` and its gradients, one for every parameter (zero for an
/// empty shard).
fn local_gradients<T: Element>(
    model: &dyn Module<T>,
    batch: &Batch<T>,
    loss_fn: &dyn Loss<T>,
) -> Result<(T, autograd::Gradients<T>), EpochError> {
    let tape = Tape::new();
    let loss = if batch.labels.is_empty() {
        // No samples here: bind every parameter with a zero gradient, so that this process
        // still sends its part of the sum.
        let mut zero = tape.constant(Tensor::scalar(T::ZERO));
        for (_, p) in model.parameters() {
            zero = &zero + &tape.param(p).sum().mul_scalar(T::ZERO);
        }
        zero
    } else {
        let logits = model.forward(&tape.constant(batch.images.clone()))?;
        loss_fn.loss(&logits, &batch.labels, Reduction::Sum)?
    };
    let grads = tape.backward(&loss)?;
    for (name, p) in model.parameters() {
        if grads.param(p).is_none() {
            let why = format!("parameter {name} has no gradient: was it bound to the tape?");
            return Err(Error::invalid("distributed::train_epoch", p.shape(), why).into());
        }
    }
    Ok((loss.value().item()?, grads))
}

/// [`evaluate`](crate::train::evaluate) over all processes of `ctx`: each runs its shard of
/// every batch of `data` and the sums (loss, confusion matrix) are added up, so every process
/// gets the evaluation of the whole of `data`. With one process this is `evaluate` itself.
pub fn evaluate<T: Element, P: Pixel>(
    ctx: &Context,
    model: &mut dyn Module<T>,
    data: &Dataset<P>,
    batch_size: usize,
    normalize: Normalize,
    classes: usize,
) -> autograd::Result<Evaluation> {
    if ctx.size() == 1 {
        return evaluate_here(model, data, batch_size, normalize, classes);
    }
    let batches = Batches::<T, P>::new(data, batch_size, normalize)?;
    evaluate_batches(ctx, model, batches, classes, &CrossEntropy::default())
}

/// [`evaluate`] of any [`Batches`] (each process runs its shard of every batch) with `loss`
/// as the evaluation's loss.
pub fn evaluate_batches<T: Element, P: Pixel>(
    ctx: &Context,
    model: &mut dyn Module<T>,
    batches: Batches<'_, T, P>,
    classes: usize,
    loss: &dyn Loss<T>,
) -> autograd::Result<Evaluation> {
    let batches = batches.sharded(ctx.rank(), ctx.size());
    let local = tally(model, batches, classes, loss);
    let mine = ctx
        .agree(local)
        .map_err(|e| Error::invalid("distributed::evaluate", &[], e.to_string()))?;
    let mut sums = vec![mine.loss_sum, mine.correct as f64, mine.n as f64];
    sums.extend(mine.confusion.iter().flatten().map(|&c| c as f64));
    ctx.all_reduce_sum(&mut sums);
    let confusion = sums[3..]
        .chunks(classes.max(1))
        .map(|row| row.iter().map(|&c| c as usize).collect())
        .collect();
    let whole = Tally {
        loss_sum: sums[0],
        correct: sums[1] as usize,
        n: sums[2] as usize,
        confusion,
    };
    Ok(whole.evaluation())
}
