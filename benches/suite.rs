//! tapegrad's side of the benchmark suite (`bench/README.md` has the contract shared with
//! `bench/torch_suite.py`; `python3 bench/compare.py` runs both, alternating).
//!
//! ```text
//! cargo bench --bench suite -- ops --threads 2 --runs 20 [--filter conv]
//! cargo bench --bench suite -- e2e --threads 2 --batch 64 [--mnist-dir DIR] [--samples N]
//!                                  [--model lenet5|mnist_cnn|resnet]
//! cargo bench --bench suite -- infer --threads 2 --batch 1 --runs 200 [--model lenet5|mnist_cnn]
//! ```
//!
//! Each row is one JSON line on stdout; progress goes to stderr.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;
use tapegrad::autograd::runtime::{gemm, parallel, simd};
use tapegrad::autograd::{Tape, Tensor, Var};
use tapegrad::nn::data::Dataset;
use tapegrad::nn::data::batches::{Batches, Normalize};
use tapegrad::nn::data::idx;
use tapegrad::nn::inference::EvalMode;
use tapegrad::nn::layers::Sequential;
use tapegrad::nn::models::{ResNetConfig, lenet5, mnist_cnn, resnet};
use tapegrad::nn::ops::conv::{Conv2dConfig, conv2d};
use tapegrad::nn::ops::dense::dense;
use tapegrad::nn::ops::pool::{Pool2dConfig, max_pool2d};
use tapegrad::nn::train::optim::Adam;
use tapegrad::nn::train::train_step;

struct Args {
    mode: String,
    threads: usize,
    runs: usize,
    filter: Option<String>,
    batch: usize,
    mnist_dir: Option<String>,
    samples: Option<usize>,
    model: String,
}

fn parse_args() -> Result<Args, String> {
    let raw: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mut a = Args {
        mode: String::new(),
        threads: 2,
        runs: 20,
        filter: None,
        batch: 64,
        mnist_dir: None,
        samples: None,
        model: "lenet5".into(),
    };
    let mut it = raw.into_iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|_| format!("{v:?} is not a count"));
        match flag.as_str() {
            "ops" | "e2e" | "infer" => a.mode = flag.clone(),
            "--threads" => a.threads = num(value()?)?,
            "--runs" => a.runs = num(value()?)?.max(1),
            "--filter" => a.filter = Some(value()?),
            "--batch" => a.batch = num(value()?)?.max(1),
            "--mnist-dir" => a.mnist_dir = Some(value()?),
            "--samples" => a.samples = Some(num(value()?)?),
            "--model" => match value()?.as_str() {
                m @ ("lenet5" | "mnist_cnn" | "resnet") => a.model = m.to_string(),
                m => return Err(format!("--model {m:?} is not lenet5, mnist_cnn or resnet")),
            },
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.mode.is_empty() {
        return Err("usage: suite (ops | e2e | infer) [--threads T] [--runs R] [--filter S] [--batch B] [--mnist-dir DIR] [--samples N] [--model lenet5|mnist_cnn|resnet]".into());
    }
    Ok(a)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Times `f` `runs` times after warming up (at least five runs and 0.2 s, as
/// `bench/torch_suite.py` does: the first tens of milliseconds of a row run slower, a small
/// GEMM at 4x its steady time over its first 20 runs); the median in milliseconds.
fn time_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let (start, mut done) = (Instant::now(), 0);
    while done < 5 || start.elapsed().as_secs_f64() < 0.2 {
        f();
        done += 1;
    }
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn randn(shape: &[usize], std: f32, rng: &mut StdRng) -> Tensor<f32> {
    Tensor::rand_normal(shape, 0.0, std, rng)
}

fn report(name: &str, ms: f64, runs: usize, flops: Option<f64>) {
    let gflops = flops.map_or("null".to_string(), |f| format!("{:.2}", f / (ms / 1e3) / 1e9));
    println!(
        "{{\"side\": \"tapegrad\", \"name\": \"{name}\", \"median_ms\": {ms:.4}, \"runs\": {runs}, \"gflops\": {gflops}}}"
    );
}

/// Runs the forward (on a tape that records nothing) and the forward + backward (with a
/// random upstream gradient) of `op` over `inputs`, reporting both rows.
fn bench_op<F>(a: &Args, name: &str, inputs: &[Tensor<f32>], flops: Option<f64>, op: F)
where
    F: for<'t> Fn(&[Var<'t, f32>]) -> Var<'t, f32>,
{
    let selected = |row: &str| a.filter.as_ref().is_none_or(|f| row.contains(f.as_str()));
    let fwd = format!("{name}_fwd");
    if selected(&fwd) {
        eprintln!("{fwd}");
        let ms = time_ms(a.runs, || {
            let tape = Tape::no_grad();
            let vars: Vec<_> = inputs.iter().map(|t| tape.constant(t.clone())).collect();
            std::hint::black_box(op(&vars));
        });
        report(&fwd, ms, a.runs, flops);
    }
    let both = format!("{name}_fwdbwd");
    if selected(&both) {
        eprintln!("{both}");
        let gy = {
            let tape = Tape::no_grad();
            let vars: Vec<_> = inputs.iter().map(|t| tape.constant(t.clone())).collect();
            randn(op(&vars).shape(), 1.0, &mut StdRng::seed_from_u64(9))
        };
        let ms = time_ms(a.runs, || {
            let tape = Tape::new();
            let vars: Vec<_> = inputs.iter().map(|t| tape.var(t.clone())).collect();
            let y = op(&vars);
            std::hint::black_box(tape.backward_with(&y, gy.clone()).unwrap());
        });
        report(&both, ms, a.runs, flops.map(|f| 3.0 * f));
    }
}

/// Whether either row of a workload passes the filter (so its inputs are worth making).
fn wanted(a: &Args, name: &str) -> bool {
    a.filter.as_ref().is_none_or(|f| {
        format!("{name}_fwd").contains(f.as_str()) || format!("{name}_fwdbwd").contains(f.as_str())
    })
}

fn ops(a: &Args) {
    let mut rng = StdRng::seed_from_u64(0);
    for (n, h, ci, co, k, p) in [
        (64, 28, 1, 6, 5, 2),
        (64, 14, 6, 16, 5, 0),
        (64, 28, 1, 32, 3, 0),
        (64, 26, 32, 64, 3, 0),
        (32, 32, 64, 64, 3, 1),
    ] {
        let name = format!("conv2d_{n}_{h}x{h}_{ci}to{co}_k{k}p{p}");
        if !wanted(a, &name) {
            continue;
        }
        let o = h + 2 * p - k + 1;
        let flops = 2.0 * (n * o * o * co * ci * k * k) as f64;
        let inputs = [
            randn(&[n, h, h, ci], 1.0, &mut rng),
            randn(&[co, k, k, ci], 1.0 / ((ci * k * k) as f32).sqrt(), &mut rng),
            randn(&[co], 1.0, &mut rng),
        ];
        let cfg = Conv2dConfig::new().padding(p);
        bench_op(a, &name, &inputs, Some(flops), |v| {
            conv2d(&v[0], &v[1], Some(&v[2]), cfg).unwrap()
        });
    }
    for (n, h, c) in [(64, 28, 6), (64, 24, 64)] {
        let name = format!("maxpool2x2_{n}_{h}x{h}x{c}");
        if !wanted(a, &name) {
            continue;
        }
        let inputs = [randn(&[n, h, h, c], 1.0, &mut rng)];
        bench_op(a, &name, &inputs, None, |v| {
            max_pool2d(&v[0], Pool2dConfig::new(2)).unwrap()
        });
    }
    for (n, i, o) in [(64, 400, 120), (64, 9216, 128)] {
        let name = format!("dense_{n}x{i}x{o}");
        if !wanted(a, &name) {
            continue;
        }
        let inputs = [
            randn(&[n, i], 1.0, &mut rng),
            randn(&[i, o], 1.0 / (i as f32).sqrt(), &mut rng),
            randn(&[o], 1.0, &mut rng),
        ];
        bench_op(a, &name, &inputs, None, |v| {
            dense(&v[0], &v[1], Some(&v[2])).unwrap()
        });
    }
}

/// VmHWM (peak resident set) of this process, in MiB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The e2e network, freshly initialised (seeded).
fn new_model(a: &Args) -> Sequential<f32> {
    let mut rng = StdRng::seed_from_u64(1);
    match a.model.as_str() {
        "resnet" => resnet(&ResNetConfig::default(), &mut rng),
        "mnist_cnn" => mnist_cnn(&mut rng),
        _ => lenet5(&mut rng),
    }
}

fn e2e(a: &Args) -> Result<(), String> {
    let mut train = match &a.mnist_dir {
        Some(dir) => {
            idx::load_mnist(std::path::Path::new(dir), idx::Split::Train).map_err(|e| e.to_string())?
        }
        None => {
            let mut rng = StdRng::seed_from_u64(3);
            let n = 60_000;
            Dataset {
                images: (0..n * 784)
                    .map(|_| rand::RngExt::random::<u8>(&mut rng))
                    .collect(),
                labels: (0..n)
                    .map(|_| rand::RngExt::random_range(&mut rng, 0..10u8))
                    .collect(),
                rows: 28,
                cols: 28,
                channels: 1,
            }
        }
    };
    if let Some(s) = a.samples {
        train.labels.truncate(s);
        train.images.truncate(s * 784);
    }
    let mut model = new_model(a);
    let mut opt = Adam::new(1e-3);
    // Warm-up: 20 steps, untimed.
    for batch in Batches::<f32>::new(&train, a.batch, Normalize::MNIST)
        .map_err(|e| e.to_string())?
        .shuffled(5, 99)
        .take(20)
    {
        train_step(&mut model, &mut opt, &batch).map_err(|e| e.to_string())?;
    }
    let mut model = new_model(a);
    let mut opt = Adam::new(1e-3);
    let start = Instant::now();
    // The whole loop on the kernels' pool: batches are made there too, between steps.
    let last = parallel::busy(|| {
        let mut last = 0.0;
        let mut batches = Batches::<f32>::new(&train, a.batch, Normalize::MNIST)
            .map_err(|e| e.to_string())?
            .shuffled(5, 0);
        let mut next = batches.next();
        while let Some(batch) = next {
            // The next batch is made by whichever thread is idle during this step.
            let (loss, following) =
                parallel::join(|| train_step(&mut model, &mut opt, &batch), || batches.next());
            last = loss.map_err(|e| e.to_string())?;
            next = following;
        }
        Ok::<f32, String>(last)
    })?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"side\": \"tapegrad\", \"name\": \"{}_train_b{}_t{}\", \"samples_per_sec\": {:.1}, \"seconds\": {secs:.3}, \"samples\": {}, \"peak_rss_mb\": {:.1}, \"final_loss\": {last:.5}}}",
        a.model,
        a.batch,
        a.threads,
        train.len() as f64 / secs,
        train.len(),
        peak_rss_mb()
    );
    Ok(())
}

/// Inference: the model's logits for one batch of `--batch` normalised images, in evaluation
/// mode on a tape that records nothing, timed as the ops rows are (warm-up, median of
/// `--runs`); reports the latency and the throughput it implies.
fn infer(a: &Args) -> Result<(), String> {
    let mut model = new_model(a);
    let x = randn(&[a.batch, 28, 28, 1], 1.0, &mut StdRng::seed_from_u64(4));
    let eval = EvalMode::new(&mut model);
    let ms = time_ms(a.runs, || {
        std::hint::black_box(eval.forward(&x).unwrap());
    });
    println!(
        "{{\"side\": \"tapegrad\", \"name\": \"{}_infer_b{}_t{}\", \"median_ms\": {ms:.4}, \"runs\": {}, \"samples_per_sec\": {:.1}}}",
        a.model,
        a.batch,
        a.threads,
        a.runs,
        a.batch as f64 / (ms / 1e3)
    );
    Ok(())
}

/// The level as `TAPEGRAD_SIMD` and the runner's `--isa` spell it.
fn simd_name(level: simd::Level) -> &'static str {
    match level {
        simd::Level::Baseline => "baseline",
        simd::Level::Avx2 => "avx2",
        simd::Level::Avx512 => "avx512",
    }
}

fn main() {
    let result = parse_args().and_then(|a| {
        parallel::set_num_threads(a.threads)?;
        // The kernels' instruction set (capped by TAPEGRAD_SIMD) and the GEMM crate's (capped
        // by building without the gemm-avx512 feature): the runner's report names them (a line
        // without "name", so it is no result row).
        println!(
            "{{\"side\": \"tapegrad\", \"simd_level\": \"{}\", \"gemm_level\": \"{}\"}}",
            simd_name(simd::level()),
            simd_name(gemm::level())
        );
        match a.mode.as_str() {
            "ops" => {
                // On a thread of the kernels' pool, which then takes part in the kernels, as
                // the calling thread does in PyTorch's intra-op thread pool.
                parallel::install(|| ops(&a));
                Ok(())
            }
            "infer" => infer(&a),
            _ => e2e(&a),
        }
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
