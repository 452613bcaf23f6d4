//! [`Context`]: who this process is among the job's processes, and the collectives that
//! data-parallel training needs (sums, broadcasts, agreeing on errors).

use autograd::Element;
use std::any::TypeId;
use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(feature = "mpi")]
use super::mpi_world::World;
#[cfg(not(feature = "mpi"))]
use super::no_world::World;

/// Why a distributed operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DistributedError {
    /// MPI could not start.
    #[error("distributed::Context::init: MPI did not start: {0}")]
    Init(String),
    /// A process failed; every process returns this error with the same message, that of
    /// the lowest-ranked process that failed.
    #[error("{}{message}", rank_prefix(*.rank, *.size))]
    Failed {
        /// The process that failed (the lowest-ranked one, if several did).
        rank: usize,
        /// The number of processes.
        size: usize,
        /// Its error.
        message: String,
    },
}

fn rank_prefix(rank: usize, size: usize) -> String {
    if size > 1 {
        format!("rank {rank} of {size}: ")
    } else {
        String::new()
    }
}

/// The processes of a data-parallel job and this one's place among them: rank `0..size`,
/// rank 0 being the one that prints and writes files.
///
/// With the `mpi` feature, [`Context::init`] starts MPI (run the program under `mpirun`, or
/// alone for one process); without it, every context is the single-process one, whose
/// collectives do nothing. `Context` is `Sync`: collectives may be called from any thread,
/// one at a time (MPI runs at `MPI_THREAD_SERIALIZED`).
///
/// Every collective (every method but the accessors) must be called by all processes, in
/// the same order, as in any MPI program.
///
/// ```
/// use nn::distributed::Context;
/// let ctx = Context::single();
/// assert_eq!((ctx.rank(), ctx.size(), ctx.is_root()), (0, 1, true));
/// let mut sums = [1.5f32, 2.0];
/// ctx.all_reduce_sum(&mut sums); // one process: unchanged
/// assert_eq!(sums, [1.5, 2.0]);
/// ```
pub struct Context {
    rank: usize,
    size: usize,
    local_size: usize,
    world: Option<World>,
    /// Set when [`Context::agree`] returned an error: every process knows it.
    failed_together: AtomicBool,
}

impl Context {
    /// The context of a program that runs as one process.
    pub fn single() -> Context {
        Context {
            rank: 0,
            size: 1,
            local_size: 1,
            world: None,
            failed_together: AtomicBool::new(false),
        }
    }

    /// Starts MPI once per process and returns this process's context (one process when the
    /// program was not started by `mpirun`). Without the `mpi` feature: [`Context::single`].
    pub fn init() -> Result<Context, DistributedError> {
        #[cfg(feature = "mpi")]
        {
            let world = World::init().map_err(DistributedError::Init)?;
            Ok(Context {
                rank: world.rank,
                size: world.size,
                local_size: world.local_size,
                world: Some(world),
                failed_together: AtomicBool::new(false),
            })
        }
        #[cfg(not(feature = "mpi"))]
        Ok(Context::single())
    }

    /// This process's rank, `0..size`.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of processes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether this is rank 0, the process that prints, writes metrics and saves checkpoints.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// The processes on this machine (those sharing its memory), this one included.
    pub fn local_size(&self) -> usize {
        self.local_size
    }

    /// The kernel threads each process should use so that this machine's processes share
    /// its cores (at least 1); `None` for a single process (keep the default, one per core).
    pub fn threads_per_process(&self) -> Option<usize> {
        if self.size == 1 {
            return None;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Some((cores / self.local_size.max(1)).max(1))
    }

    /// Sums `values` element-wise over all processes, in place: every process gets the same
    /// sums. For a fixed number of processes the sums are the same bits from run to run (MPI
    /// picks its reduction order from the process count and the length only).
    pub fn all_reduce_sum<T: Element>(&self, values: &mut [T]) {
        // (MPI refuses empty buffers; all processes pass the same length.)
        if self.size == 1 || values.is_empty() {
            return;
        }
        if let Some(w) = &self.world {
            if let Some(v) = same_type::<T, f32>(values) {
                w.all_reduce_sum(v);
            } else if let Some(v) = same_type::<T, f64>(values) {
                w.all_reduce_sum(v);
            } else {
                let mut wide: Vec<f64> = values.iter().map(|v| v.to_f64()).collect();
                w.all_reduce_sum(&mut wide);
                values.iter_mut().zip(wide).for_each(|(v, w)| *v = T::from_f64(w));
            }
        }
    }

    /// Rank `root`'s `values` into `values` on every process (all pass the same length).
    pub(crate) fn broadcast_values<T: Element>(&self, root: usize, values: &mut [T]) {
        if self.size == 1 || values.is_empty() {
            return;
        }
        if let Some(w) = &self.world {
            if let Some(v) = same_type::<T, f32>(values) {
                w.broadcast(root, v);
            } else if let Some(v) = same_type::<T, f64>(values) {
                w.broadcast(root, v);
            } else {
                let mut wide: Vec<f64> = values.iter().map(|v| v.to_f64()).collect();
                w.broadcast(root, &mut wide);
                values.iter_mut().zip(wide).for_each(|(v, w)| *v = T::from_f64(w));
            }
        }
    }

    /// Rank `root`'s bytes into `bytes` on every process (the others' may have any length).
    pub(crate) fn broadcast_bytes(&self, root: usize, bytes: &mut Vec<u8>) {
        if self.size == 1 {
            return;
        }
        if let Some(w) = &self.world {
            let mut len = [bytes.len() as u64];
            w.broadcast(root, &mut len);
            bytes.resize(len[0] as usize, 0);
            if !bytes.is_empty() {
                w.broadcast(root, &mut bytes[..]);
            }
        }
    }

    /// The lowest rank for which `failed` holds, over all processes.
    fn first_failed(&self, failed: bool) -> Option<usize> {
        let mut first = [if failed {
            self.rank as u64
        } else {
            self.size as u64
        }];
        if let Some(w) = &self.world {
            w.all_reduce_min(&mut first);
        }
        let first = first[0] as usize;
        (first < self.size).then_some(first)
    }

    /// Agrees on an outcome: every process passes its own, and all get `Ok` only if every
    /// process succeeded; otherwise all get the same [`DistributedError::Failed`], with the
    /// message of the lowest-ranked process that failed. Call it after steps that can fail
    /// on some processes only (reading files, parsing options), so that one process's
    /// failure ends all of them cleanly instead of leaving them waiting in the next
    /// collective.
    ///
    /// ```
    /// let ctx = nn::distributed::Context::single();
    /// assert_eq!(ctx.agree(Ok::<_, String>(3)).unwrap(), 3);
    /// let e = ctx.agree(Err::<(), _>("no such file")).unwrap_err();
    /// assert_eq!(e.to_string(), "no such file");
    /// ```
    pub fn agree<R, E: Display>(&self, outcome: Result<R, E>) -> Result<R, DistributedError> {
        let failed = self.first_failed(outcome.is_err());
        let Some(rank) = failed else {
            return outcome.map_err(|_| unreachable!("no process failed"));
        };
        let mut message = match &outcome {
            Err(e) => e.to_string().into_bytes(),
            Ok(_) => Vec::new(),
        };
        self.broadcast_bytes(rank, &mut message);
        self.failed_together.store(true, Ordering::Relaxed);
        Err(DistributedError::Failed {
            rank,
            size: self.size,
            message: String::from_utf8_lossy(&message).into_owned(),
        })
    }

    /// Ends the program after an error with exit status 2, printing `error: MESSAGE` once:
    /// when every process knows the error (it came from [`agree`](Self::agree)) rank 0 prints
    /// it and all processes finish MPI and exit; otherwise this process prints it, naming its
    /// rank, and ends the whole job (`MPI_Abort`), since the others may be waiting for it in
    /// a collective.
    pub fn exit_with_error(self, message: &str) -> ! {
        let line = message.replace('\n', " ");
        if self.size == 1 || self.failed_together.load(Ordering::Relaxed) {
            if self.is_root() {
                eprintln!("error: {line}");
            }
            // Finalizes MPI (with the feature: the world's universe ends with it).
            #[allow(clippy::drop_non_drop)]
            drop(self);
            std::process::exit(2);
        }
        eprintln!("error: {}{line}", rank_prefix(self.rank, self.size));
        if let Some(w) = &self.world {
            w.abort(2);
        }
        std::process::exit(2)
    }
}

/// `values` as a slice of `U` when `T` is `U`.
fn same_type<T: 'static, U: 'static>(values: &mut [T]) -> Option<&mut [U]> {
    if TypeId::of::<T>() != TypeId::of::<U>() {
        return None;
    }
    // SAFETY: `T` and `U` are the same type, so the slice is a slice of `U`.
    Some(unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<U>(), values.len()) })
}
