//! f32 matmul through the tensor API against the `gemm` crate called directly, same shape,
//! same threads, interleaved runs, medians (issue #2's acceptance figure).
//!
//! `cargo bench --bench matmul` (threads: `RAYON_NUM_THREADS`, default all cores).
//! Optional arguments: the size (default 1024) and the number of runs (default 30).

use std::time::Instant;
use tapegrad::autograd::Tensor;
use tapegrad::autograd::runtime::parallel;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(30);
    let threads = parallel::num_threads();
    let a = Tensor::<f32>::from_fn(&[n, n], |i| ((i * 7) % 13) as f32 * 0.1 - 0.6);
    let b = Tensor::<f32>::from_fn(&[n, n], |i| ((i * 5) % 11) as f32 * 0.1 - 0.5);
    let mut direct_out = vec![0.0f32; n * n];
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let direct = |dst: &mut [f32]| unsafe {
        gemm::gemm(
            n,
            n,
            n,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_slice().as_ptr(),
            1,
            n as isize,
            b.as_slice().as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    };
    // Warm up both, and check they agree.
    let api = a.matmul(&b).unwrap();
    direct(&mut direct_out);
    assert_eq!(
        api.as_slice(),
        &direct_out[..],
        "the API and the direct call disagree"
    );
    let flop = 2.0 * (n as f64).powi(3);
    let (mut t_api, mut t_direct) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let c = a.matmul(&b).unwrap();
        t_api.push(t.elapsed().as_secs_f64());
        std::hint::black_box(c);
        let t = Instant::now();
        direct(&mut direct_out);
        t_direct.push(t.elapsed().as_secs_f64());
        std::hint::black_box(&direct_out);
    }
    let (api_s, direct_s) = (median(t_api), median(t_direct));
    println!("f32 matmul {n}x{n}x{n}, {threads} threads, median of {runs} interleaved runs");
    println!(
        "  Tensor::matmul      {:8.2} ms  {:6.1} GFLOP/s",
        api_s * 1e3,
        flop / api_s / 1e9
    );
    println!(
        "  gemm::gemm direct   {:8.2} ms  {:6.1} GFLOP/s",
        direct_s * 1e3,
        flop / direct_s / 1e9
    );
    println!("  API / direct        {:8.1} %", 100.0 * direct_s / api_s);
}
