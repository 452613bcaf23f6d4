//! Threads. Kernels run on one thread pool of the crate's own: batch-shaped kernels split the
//! batch into parts, large GEMMs split their output or their inner dimension. Its size is set
//! once per process, by [`set_num_threads`] or the `RAYON_NUM_THREADS` environment variable
//! (default: one thread per core).
//!
//! Run a whole training step inside [`install`] (as `nn::train::train_step` does): its serial
//! parts then run on a pool thread too, instead of on a third thread that competes with the
//! pool's threads for the cores between parallel kernels.

use gemm::Parallelism;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

static POOL: OnceLock<ThreadPool> = OnceLock::new();
static REQUESTED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static IN_PART: Cell<bool> = const { Cell::new(false) };
}

fn pool() -> &'static ThreadPool {
    POOL.get_or_init(|| {
        let from_env = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0);
        let n = match REQUESTED.load(Ordering::Relaxed) {
            0 => from_env.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            n => n,
        };
        ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("tapegrad-{i}"))
            .build()
            .expect("the thread pool starts")
    })
}

/// The number of threads kernels use.
pub fn num_threads() -> usize {
    pool().current_num_threads()
}

/// Sets the number of threads for the whole process. Must come before the first parallel
/// kernel runs; fails (and changes nothing) once the pool exists.
///
/// ```
/// // Typically the first line of `main`:
/// let _ = autograd::parallel::set_num_threads(2);
/// ```
pub fn set_num_threads(n: usize) -> Result<(), String> {
    if POOL.get().is_some() {
        return Err(format!(
            "set_num_threads({n}): the thread pool already runs with {} threads",
            num_threads()
        ));
    }
    REQUESTED.store(n.max(1), Ordering::Relaxed);
    if pool().current_num_threads() != n.max(1) {
        return Err(format!(
            "set_num_threads({n}): another thread started the pool first"
        ));
    }
    Ok(())
}

/// Runs `f` on a thread of the pool (directly, if the caller is one already), so that the
/// kernels it runs share the pool's threads with it.
///
/// ```
/// let total: u64 = autograd::parallel::install(|| (1..=100u64).sum());
/// assert_eq!(total, 5050);
/// ```
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    pool().install(f)
}

/// Runs `a` and `b` on the pool, at the same time when a pool thread is idle (`b` waits to be
/// picked up while `a` runs): for example, making the next batch during a training step.
///
/// ```
/// let (a, b) = autograd::parallel::join(|| 1 + 1, || "two");
/// assert_eq!((a, b), (2, "two"));
/// ```
pub fn join<RA: Send, RB: Send>(a: impl FnOnce() -> RA + Send, b: impl FnOnce() -> RB + Send) -> (RA, RB) {
    install(|| rayon::join(a, b))
}

/// Runs `f` as one part of a parallel kernel: kernels and GEMMs inside it stay on the calling
/// thread instead of splitting their work again.
pub fn part<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_PART.with(|p| p.set(self.0));
        }
    }
    let _restore = Restore(IN_PART.with(|p| p.replace(true)));
    f()
}

/// Whether the caller runs inside one part of a parallel kernel (see [`part`]), where a
/// kernel must not split its work again.
pub fn in_parallel_region() -> bool {
    IN_PART.with(Cell::get)
}

/// How a GEMM of this size should be split.
pub(crate) fn gemm_parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    let threads = num_threads();
    // The `gemm` crate splits the output between threads: below ~32k outputs or ~4M
    // multiply-adds the hand-off costs more than it saves (measured on 2 cores: 64x120x400
    // ran slower on 2 threads than on 1).
    if threads <= 1 || in_parallel_region() || m * n < 1 << 15 || m * n * k < 1 << 22 {
        Parallelism::None
    } else {
        Parallelism::Rayon(threads)
    }
}
