//! The kernels' thread pool: `busy` (the other threads spin between kernels) gives the same
//! results as `install`, lets a panic through without leaving spinners behind, and the pool's
//! threads are pinned one per CPU when there is one thread for each CPU the process may use.

use autograd::Tensor;
use autograd::runtime::parallel;

/// Every test of this binary asks for the same pool of two threads (whichever starts it first
/// wins; they all ask for two), and needs them: with one, `busy` would have no other thread to
/// keep awake and the pool nothing to pin.
fn two_threads() {
    let _ = parallel::set_num_threads(2);
    assert_eq!(
        parallel::num_threads(),
        2,
        "these tests need a pool of two threads (set_num_threads(2) comes first in each)"
    );
}

/// A product big enough for the GEMM to split across the pool's threads.
fn product() -> Tensor<f32> {
    let a = Tensor::from_fn(&[256, 320], |i| ((i * 37) % 101) as f32 / 101.0 - 0.5);
    let b = Tensor::from_fn(&[320, 192], |i| ((i * 53) % 97) as f32 / 97.0 - 0.5);
    a.matmul(&b).unwrap()
}

#[test]
fn busy_gives_the_results_of_install() {
    two_threads();
    let expected = parallel::install(product);
    let (inside, joined) = parallel::busy(|| {
        let p = product();
        let (x, y) = parallel::join(product, || (1..=1000u64).sum::<u64>());
        assert_eq!(y, 500_500);
        (p, x)
    });
    assert_eq!(inside, expected);
    assert_eq!(joined, expected);
    // Called from outside the pool and from inside it, and nested.
    assert_eq!(
        parallel::install(|| parallel::busy(|| parallel::busy(product))),
        expected
    );
}

#[test]
fn busy_lets_a_panic_through_and_stops_its_spinners() {
    two_threads();
    let caught = std::panic::catch_unwind(|| parallel::busy(|| panic!("boom inside busy")));
    let message = caught.expect_err("the panic comes through");
    assert_eq!(message.downcast_ref::<&str>(), Some(&"boom inside busy"));
    // The pool is free again: were a spinner still running, this would hang (the test
    // harness's timeout) instead of finishing.
    assert_eq!(parallel::busy(|| 6 * 7), 42);
    assert_eq!(parallel::install(product), product());
}

/// Each pool thread pins itself in its start handler, which runs when the thread starts, some
/// time after the pool is built: a thread listed in `/proc/self/task` may not have run it yet
/// (nor named itself). So every thread reports its own affinity from inside the pool, all at
/// the same time (a barrier of the pool's size holds each until all have arrived, so the
/// reports come from as many different threads, each already past its start handler).
#[cfg(target_os = "linux")]
#[test]
fn pool_threads_are_pinned_one_per_cpu() {
    two_threads();
    let threads = parallel::num_threads();
    let cpus = cpu_count(&allowed_list("/proc/self/status"));
    let pinned_expected = cpus == threads && std::env::var("TAPEGRAD_PIN").map_or(true, |v| v != "0");
    let barrier = std::sync::Barrier::new(threads);
    let mut seen: Vec<(String, String)> = parallel::for_each_part(0..threads, true, |_, _| {
        barrier.wait();
        let name = std::thread::current().name().unwrap_or_default().to_string();
        (name, allowed_list("/proc/thread-self/status"))
    });
    seen.sort();
    let names: Vec<String> = (0..threads).map(|i| format!("tapegrad-{i}")).collect();
    assert_eq!(
        seen.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        names,
        "one report from each pool thread: {seen:?}"
    );
    if !pinned_expected {
        // Pinning is for a pool of one thread per allowed CPU only (not this one).
        assert!(
            seen.iter().all(|(_, l)| cpu_count(l) == cpus),
            "unpinned threads keep the process's {cpus} CPUs: {seen:?}"
        );
        return;
    }
    let mut lists: Vec<&str> = seen.iter().map(|(_, l)| l.as_str()).collect();
    assert!(
        lists.iter().all(|l| cpu_count(l) == 1),
        "each thread on one CPU: {seen:?}"
    );
    lists.sort();
    lists.dedup();
    assert_eq!(lists.len(), seen.len(), "each thread on its own CPU: {seen:?}");
}

/// The `Cpus_allowed_list` of a `/proc` status file.
#[cfg(target_os = "linux")]
fn allowed_list(status: &str) -> String {
    std::fs::read_to_string(status)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:").map(|v| v.trim().to_string()))
        .unwrap()
}

/// The number of CPUs in a list such as `0-3,6`.
#[cfg(target_os = "linux")]
fn cpu_count(list: &str) -> usize {
    list.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum()
}
