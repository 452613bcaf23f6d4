//! Threads. Kernels run on one thread pool of the crate's own: batch-shaped kernels split the
//! batch into parts, large GEMMs split their output or their inner dimension. Its size is set
//! once per process, by [`set_num_threads`] or the `RAYON_NUM_THREADS` environment variable
//! (default: one thread per core).
//!
//! Run a whole training step inside [`install`] (as `nn::train::train_step` does): its serial
//! parts then run on a pool thread too, instead of on a third thread that competes with the
//! pool's threads for the cores between parallel kernels. Run a whole training loop inside
//! [`busy`] to keep the other threads awake between kernels.
//!
//! On Linux the pool's threads are pinned one per CPU when the pool has one thread for each
//! CPU the process may use, as it has by default (set `TAPEGRAD_PIN=0` to leave them
//! unpinned).

use gemm::Parallelism;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
        let cpus = pinning_cpus(n);
        ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("tapegrad-{i}"))
            .start_handler(move |i| {
                if let Some(cpu) = cpus.get(i) {
                    pin_to_cpu(*cpu);
                }
            })
            .build()
            .expect("the thread pool starts")
    })
}

/// The CPUs the pool's threads are pinned to, one each: the CPUs this process may run on when
/// the pool has exactly one thread for each of them (the default), otherwise none (no
/// pinning): with fewer threads, several processes would all pin to the same first CPUs;
/// with more, threads would share a CPU anyway. `TAPEGRAD_PIN=0` turns pinning off. (To pin a
/// pool smaller than the machine, give the process its own CPUs, e.g. `taskset -c 4-7`.)
///
/// Why: the pool's threads sleep between kernels and are woken for the next one, and Linux
/// tends to wake a thread on the CPU of the thread that wakes it. Unpinned, the two threads of
/// a 2-core machine ended up sharing one core in about half of the processes measured (a
/// conv2d forward at 2 threads took 0.19-0.21 ms in some processes and 0.34-0.35 ms, the
/// 1-thread time, in the others).
fn pinning_cpus(n: usize) -> Vec<usize> {
    if n < 2 || std::env::var("TAPEGRAD_PIN").is_ok_and(|v| v == "0") {
        return Vec::new();
    }
    let allowed = allowed_cpus();
    if allowed.len() == n { allowed } else { Vec::new() }
}

#[cfg(target_os = "linux")]
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bit set that sched_getaffinity fills for this process (pid 0);
    // CPU_ISSET reads it within its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// Pins the calling thread to `cpu` (best effort: a failure leaves it unpinned).
#[cfg(target_os = "linux")]
fn pin_to_cpu(cpu: usize) {
    // SAFETY: `set` is a zeroed bit set with one CPU added; sched_setaffinity with pid 0 only
    // changes the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to_cpu(_cpu: usize) {}

/// The number of threads kernels use.
pub fn num_threads() -> usize {
    pool().current_num_threads()
}

/// Sets the number of threads for the whole process. Must come before the first parallel
/// kernel runs; fails (and changes nothing) once the pool exists.
///
/// ```
/// // Typically the first line of `main`:
/// let _ = autograd::runtime::parallel::set_num_threads(2);
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
/// let total: u64 = autograd::runtime::parallel::install(|| (1..=100u64).sum());
/// assert_eq!(total, 5050);
/// ```
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    pool().install(f)
}

/// Runs `a` and `b` on the pool, at the same time when a pool thread is idle (`b` waits to be
/// picked up while `a` runs): for example, making the next batch during a training step.
///
/// ```
/// let (a, b) = autograd::runtime::parallel::join(|| 1 + 1, || "two");
/// assert_eq!((a, b), (2, "two"));
/// ```
pub fn join<RA: Send, RB: Send>(a: impl FnOnce() -> RA + Send, b: impl FnOnce() -> RB + Send) -> (RA, RB) {
    install(|| rayon::join(a, b))
}

/// Runs `f` on the pool with the pool's other threads kept awake until it returns: between
/// parallel kernels they spin, looking for work, instead of going to sleep and having to be
/// woken for the next kernel (what OpenMP runtimes do between parallel regions). For a loop
/// of short steps, such as training a small network, where each wake-up costs tens of
/// microseconds; the price is that the other cores stay busy while `f` runs its serial parts.
///
/// ```
/// let total: u64 = autograd::runtime::parallel::busy(|| (1..=100u64).sum());
/// assert_eq!(total, 5050);
/// ```
pub fn busy<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    /// Tells the spinners to stop, also when `f` panics.
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    install(|| {
        let caller = rayon::current_thread_index();
        let done = AtomicBool::new(false);
        rayon::in_place_scope(|scope| {
            for _ in 1..num_threads() {
                scope.spawn(|_| {
                    // Picked up by the caller itself (while it waits inside `f`): nothing to
                    // keep awake, and spinning there would never end.
                    if rayon::current_thread_index() == caller {
                        return;
                    }
                    while !done.load(Ordering::Acquire) {
                        if rayon::yield_now() != Some(rayon::Yield::Executed) {
                            // Nothing to steal: give the core to any other runnable thread
                            // (returns at once when there is none, so the core stays awake).
                            std::thread::yield_now();
                        }
                    }
                });
            }
            let _stop = Stop(&done);
            f()
        })
    })
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

/// Whether a kernel should split `parts` parts of its work across the pool's threads: when
/// there are at least two, the pool has more than one thread, the caller is not already one
/// part of a parallel kernel (see [`part`]), and `enough` says the work pays for the
/// hand-off (each kernel's own measured threshold: elements touched, multiply-adds, parts
/// per thread).
///
/// ```
/// use autograd::runtime::parallel;
/// // Inside a part of a parallel kernel nothing splits again.
/// assert!(!parallel::part(|| parallel::worth_splitting(8, true)));
/// assert!(!parallel::worth_splitting(1, true));
/// ```
pub fn worth_splitting(parts: usize, enough: bool) -> bool {
    enough && parts >= 2 && num_threads() > 1 && !in_parallel_region()
}

/// The work splitter of every kernel: runs `work(i, part)` for each part `i` of `parts` (any
/// disjoint pieces of the work: chunks of an output, tuples of chunks of several buffers)
/// and returns the results in part order. With `split` (see [`worth_splitting`]) the parts
/// run across the pool's threads, each as one [`part`] (kernels and GEMMs inside it stay on
/// its thread); otherwise one after another on the caller, which keeps its own threading.
/// Parts are made by the caller from the work's geometry alone, so results are bitwise the
/// same for any number of threads.
///
/// ```
/// use autograd::runtime::parallel;
/// let mut out = vec![0u64; 10];
/// let sums = parallel::for_each_part(out.chunks_mut(4), true, |i, part: &mut [u64]| {
///     part.iter_mut().for_each(|v| *v = i as u64);
///     part.len()
/// });
/// assert_eq!(sums, [4, 4, 2]);
/// assert_eq!(out, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
/// ```
pub fn for_each_part<P: Send, R: Send>(
    parts: impl IntoIterator<Item = P>,
    split: bool,
    work: impl Fn(usize, P) -> R + Sync,
) -> Vec<R> {
    use rayon::prelude::*;
    if !split {
        return parts.into_iter().enumerate().map(|(i, p)| work(i, p)).collect();
    }
    let parts: Vec<P> = parts.into_iter().collect();
    install(|| {
        parts
            .into_par_iter()
            .enumerate()
            .map(|(i, p)| part(|| work(i, p)))
            .collect()
    })
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
