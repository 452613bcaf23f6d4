//! Threads. Kernels run on rayon's global pool: GEMMs split their work across it, and
//! batch-shaped kernels split the batch. Its size is set once per process, by
//! [`set_num_threads`] or the `RAYON_NUM_THREADS` environment variable (default: one thread
//! per core).

use gemm::Parallelism;

/// The number of threads kernels use.
pub fn num_threads() -> usize {
    rayon::current_num_threads()
}

/// Sets the number of threads for the whole process. Must come before the first parallel
/// kernel runs; fails (and changes nothing) once the pool exists.
///
/// ```
/// // Typically the first line of `main`:
/// let _ = autograd::parallel::set_num_threads(2);
/// ```
pub fn set_num_threads(n: usize) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n.max(1))
        .build_global()
        .map_err(|e| format!("set_num_threads({n}): {e}"))
}

/// Whether the caller is one of the pool's worker threads (inside a parallel region), where
/// a kernel must not split its work again.
pub fn in_parallel_region() -> bool {
    rayon::current_thread_index().is_some()
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
