//! The model to explain: read from a checkpoint, or trained briefly here with snapshots kept
//! for the feature-evolution figure.

use super::{Failure, Options};
use rand::SeedableRng;
use std::path::PathBuf;
use tapegrad::nn::data::Dataset;
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::layers::Sequential;
use tapegrad::nn::models::lenet5;
use tapegrad::nn::train::optim::{CosineLr, LrSchedule, Optimizer, Sgd};
use tapegrad::nn::train::{checkpoint, train_step};

/// The evolution snapshots: a label (`step 10`, `epoch 1`) and a checkpoint each, in order.
pub type Snapshots = Vec<(String, PathBuf)>;

/// The model, the evolution snapshots and a sentence saying where the model came from.
pub fn model(
    o: &Options,
    train: &Dataset,
    normalize: Normalize,
) -> Result<(Sequential<f32>, Snapshots, String), Failure> {
    let from_evolution_flag = || {
        o.evolution
            .iter()
            .map(|p| {
                let label = p
                    .file_stem()
                    .map_or("?".into(), |s| s.to_string_lossy().into_owned());
                (label, p.clone())
            })
            .collect::<Vec<_>>()
    };
    match &o.checkpoint {
        Some(path) => {
            let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(o.seed));
            checkpoint::load::<f32>(path)
                .and_then(|c| c.restore_model(&mut model))
                .map_err(|e| e.to_string())?;
            let snapshots = if o.evolution.is_empty() {
                // No history for this checkpoint: a brief run of one epoch shows the evolution.
                let brief = Options {
                    epochs: 1,
                    ..o.clone()
                };
                train_with_snapshots(&brief, train, normalize)?.1
            } else {
                from_evolution_flag()
            };
            Ok((model, snapshots, format!("LeNet-5 from {}", path.display())))
        }
        None => {
            let (model, snapshots) = train_with_snapshots(o, train, normalize)?;
            let snapshots = if o.evolution.is_empty() {
                snapshots
            } else {
                from_evolution_flag()
            };
            let how = format!(
                "LeNet-5 trained here for {} epoch(s) on {} images (SGD, Nesterov momentum 0.9, lr {} with a cosine decay, batch {})",
                o.epochs,
                train.len(),
                o.lr,
                o.batch_size
            );
            Ok((model, snapshots, how))
        }
    }
}

/// The global steps after which a snapshot is kept: before training, after 10 and 50 steps,
/// half way through the first epoch and at the end of every epoch.
fn snapshot_steps(steps_per_epoch: usize, epochs: usize) -> Vec<usize> {
    let mut steps = vec![0, 10, 50, steps_per_epoch / 2];
    steps.extend((1..=epochs).map(|e| e * steps_per_epoch));
    let total = epochs * steps_per_epoch;
    steps.retain(|&s| s <= total);
    steps.sort_unstable();
    steps.dedup();
    steps
}

fn train_with_snapshots(
    o: &Options,
    train: &Dataset,
    normalize: Normalize,
) -> Result<(Sequential<f32>, Snapshots), Failure> {
    let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(o.seed));
    let mut sgd = Sgd::<f32>::new(o.lr).momentum(0.9).nesterov(true);
    let steps_per_epoch = train.len().div_ceil(o.batch_size);
    let schedule = CosineLr {
        base: o.lr,
        min: o.lr / 100.0,
        total: o.epochs * steps_per_epoch,
    };
    let dir = o.out.join("snapshots");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let wanted = snapshot_steps(steps_per_epoch, o.epochs);
    let mut snapshots = Vec::new();
    let mut keep = |model: &Sequential<f32>, step: usize| -> Result<(), Failure> {
        if wanted.contains(&step) {
            let path = dir.join(format!("step-{step:06}.safetensors"));
            checkpoint::save(&path, model, None, &[("step", step.to_string())]).map_err(|e| e.to_string())?;
            let label = if step.is_multiple_of(steps_per_epoch) && step > 0 {
                format!("epoch {}", step / steps_per_epoch)
            } else {
                format!("step {step}")
            };
            snapshots.push((label, path));
        }
        Ok(())
    };
    keep(&model, 0)?;
    let mut step = 0;
    for epoch in 0..o.epochs {
        for batch in Batches::<f32>::new(train, o.batch_size, normalize.clone())
            .map_err(|e| e.to_string())?
            .shuffled(o.seed, epoch as u64)
        {
            sgd.set_learning_rate(schedule.lr_at(step));
            let loss = train_step(&mut model, &mut sgd, &batch).map_err(|e| e.to_string())?;
            if !loss.is_finite() {
                return Err(format!(
                    "training diverged at step {step} (loss {loss}): try a smaller --lr"
                ));
            }
            step += 1;
            keep(&model, step)?;
        }
    }
    Ok((model, snapshots))
}
