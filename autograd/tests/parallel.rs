//! The kernels' thread pool: `busy` (the other threads spin between kernels) gives the same
//! results as `install`, lets a panic through without leaving spinners behind, and the pool's
//! threads are pinned one per CPU when there is one thread for each CPU the process may use.

use autograd::Tensor;
use autograd::runtime::parallel;

/// Every test of this binary asks for the same pool; whichever starts it first wins.
fn two_threads() {
    let _ = parallel::set_num_threads(2);
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

#[cfg(target_os = "linux")]
#[test]
fn pool_threads_are_pinned_one_per_cpu() {
    two_threads();
    parallel::install(|| ()); // the pool exists from here on
    let allowed = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:").map(|v| v.trim().to_string()))
        .unwrap();
    let cpus = cpu_count(&allowed);
    let pinned_expected = parallel::num_threads() >= 2
        && cpus == parallel::num_threads()
        && std::env::var("TAPEGRAD_PIN").map_or(true, |v| v != "0");
    let mut seen = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !name.trim().starts_with("tapegrad-") {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap();
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:").map(|v| v.trim().to_string()))
            .unwrap();
        seen.push((name.trim().to_string(), list));
    }
    assert_eq!(seen.len(), parallel::num_threads(), "pool threads: {seen:?}");
    if !pinned_expected {
        println!(
            "not pinned here ({cpus} CPUs allowed, {} threads)",
            parallel::num_threads()
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
