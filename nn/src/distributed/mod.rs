//! Data-parallel training over several processes (issue #16): every process holds the whole
//! model, trains on its shard of every batch, and the gradients are summed over the processes
//! before each optimizer step, which all processes then take alike (what PyTorch's DDP and
//! Horovod do). The transport is MPI (feature `mpi`; run the program under `mpirun`).
//!
//! - [`Context`]: this process's rank among `size`, the collectives (a sum, broadcasts of
//!   named tensors, of a model, of an optimizer's state, agreeing on errors), and how to end
//!   the job after an error.
//! - [`train_epoch`] and [`evaluate`]: the epoch loop and the evaluation with each process
//!   on its shard ([`Batches::sharded`](crate::data::batches::Batches::sharded)).
//!
//! The whole batch is the one a single process would see (the same shuffled order on every
//! process, each taking a contiguous slice); each process backpropagates its shard's summed
//! loss, and the sums over all processes are scaled by `1/N` for the whole batch's `N`, so
//! the gradient is one process's mean gradient, whatever the shards' sizes. The result is that of one process up to the
//! order of the sums (docs/distributed.md has the measurements and the cost model).
//!
//! Without the `mpi` feature every [`Context`] is the single-process one and the functions
//! here are those of [`crate::train`].
//!
//! ```
//! use nn::data::batches::{Batches, Normalize};
//! use nn::data::synthetic;
//! use nn::distributed::{Context, evaluate, train_epoch};
//! use nn::models::lenet5;
//! use nn::train::optim::Sgd;
//! use rand::SeedableRng;
//! let ctx = Context::init().unwrap(); // under mpirun: one of several processes
//! let data = synthetic::generate(64, 1);
//! let mut model = lenet5::<f32, _>(&mut rand::rngs::StdRng::seed_from_u64(0));
//! ctx.broadcast_model(&mut model).unwrap(); // rank 0's initial weights everywhere
//! let mut sgd = Sgd::new(0.05);
//! let batches = Batches::<f32>::new(&data, 16, Normalize::MNIST).unwrap().shuffled(7, 0);
//! let summary = train_epoch(&ctx, &mut model, &mut sgd, batches, None, |_| {}).unwrap();
//! assert_eq!(summary.samples, 64); // all processes' samples
//! let eval = evaluate(&ctx, &mut model, &data, 32, Normalize::MNIST, 10).unwrap();
//! assert_eq!(eval.confusion.iter().flatten().sum::<usize>(), 64);
//! ```

mod broadcast;
mod context;
#[cfg(feature = "mpi")]
mod mpi_world;
#[cfg(not(feature = "mpi"))]
mod no_world;
mod strategy;
mod training;

pub use context::{Context, DistributedError};
pub use training::{evaluate, evaluate_batches, train_epoch, train_epoch_with};
