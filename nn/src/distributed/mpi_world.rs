//! The MPI side of a [`Context`](super::Context) (feature `mpi`): the universe, the world
//! communicator, and the few collectives data-parallel training uses.

use mpi::Threading;
use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use std::sync::Mutex;

/// MPI, started with `MPI_THREAD_SERIALIZED`: any thread may call it, one call at a time.
pub(crate) struct World {
    inner: Mutex<Inner>,
    /// This process's rank and the number of processes.
    pub rank: usize,
    pub size: usize,
    /// Processes on this node (those that share its memory), this one included.
    pub local_size: usize,
}

struct Inner {
    // Dropped after `comm` (field order): dropping the universe finalizes MPI.
    comm: SimpleCommunicator,
    _universe: Universe,
}

// SAFETY: MPI runs at `MPI_THREAD_SERIALIZED` (checked in `World::init`), which allows calls
// from any thread as long as no two overlap; the mutex around `Inner` makes every call take
// turns, and the handles are plain identifiers that do not belong to a thread.
unsafe impl Send for Inner {}

impl World {
    /// Starts MPI; `Err` with the reason when it cannot (already started, or without
    /// support for serialized calls from several threads).
    pub fn init() -> Result<World, String> {
        let (universe, threading) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or("MPI is already initialised in this process")?;
        if !matches!(threading, Threading::Serialized | Threading::Multiple) {
            return Err(format!(
                "the MPI library provides thread level {threading:?}, tapegrad needs Serialized \
                 (its training steps run on the kernels' thread pool)"
            ));
        }
        let comm = universe.world();
        let (rank, size) = (comm.rank() as usize, comm.size() as usize);
        let local_size = comm.split_shared(comm.rank()).size() as usize;
        Ok(World {
            inner: Mutex::new(Inner {
                comm,
                _universe: universe,
            }),
            rank,
            size,
            local_size,
        })
    }

    fn with<R>(&self, f: impl FnOnce(&SimpleCommunicator) -> R) -> R {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&inner.comm)
    }

    /// Element-wise sum over all processes, in place.
    pub fn all_reduce_sum<X: Equivalence + Copy>(&self, buf: &mut [X]) {
        let send = buf.to_vec();
        self.with(|c| c.all_reduce_into(&send[..], buf, SystemOperation::sum()));
    }

    /// Element-wise minimum over all processes, in place.
    pub fn all_reduce_min<X: Equivalence + Copy>(&self, buf: &mut [X]) {
        let send = buf.to_vec();
        self.with(|c| c.all_reduce_into(&send[..], buf, SystemOperation::min()));
    }

    /// `root`'s values into `buf` on every process.
    pub fn broadcast<X: Equivalence>(&self, root: usize, buf: &mut [X]) {
        self.with(|c| c.process_at_rank(root as i32).broadcast_into(buf));
    }

    /// Ends every process of the job with `code` (`MPI_Abort`).
    pub fn abort(&self, code: i32) -> ! {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.comm.abort(code)
    }
}
