//! Prints which kernels run each convolution of LeNet-5 and of the benchmark suite
//! (`benches/suite.rs`), and why: the forward pass, the kernel rule `dW` and the input rule
//! `dX`, in `f32`, at this CPU's instruction set and at the narrower ones.
//!
//! ```sh
//! cargo run --release --example conv_plan            # every level up to this CPU's
//! cargo run --release --example conv_plan -- avx2    # one level: baseline, avx2 or avx512
//! ```
//!
//! A training run prints the plan of each new geometry as it meets it with
//! `TAPEGRAD_LOG=plan`.

use tapegrad::autograd::DType;
use tapegrad::autograd::runtime::simd::{self, Level};
use tapegrad::nn::ops::conv::{Conv2dConfig, ConvGeometry, ConvPlan};

/// `(name, input [N, H, W, C_in], kernel [C_out, f_H, f_W, C_in], padding)`, stride 1.
const LAYERS: &[(&str, [usize; 4], [usize; 4], usize)] = &[
    ("LeNet-5 conv1, batch 16", [16, 28, 28, 1], [6, 5, 5, 1], 2),
    ("LeNet-5 conv2, batch 16", [16, 14, 14, 6], [16, 5, 5, 6], 0),
    ("LeNet-5 conv1, batch 64", [64, 28, 28, 1], [6, 5, 5, 1], 2),
    ("LeNet-5 conv2, batch 64", [64, 14, 14, 6], [16, 5, 5, 6], 0),
    ("LeNet-5 conv1, batch 256", [256, 28, 28, 1], [6, 5, 5, 1], 2),
    ("LeNet-5 conv2, batch 256", [256, 14, 14, 6], [16, 5, 5, 6], 0),
    (
        "suite conv2d_64_28x28_1to32_k3p0",
        [64, 28, 28, 1],
        [32, 3, 3, 1],
        0,
    ),
    (
        "suite conv2d_64_26x26_32to64_k3p0",
        [64, 26, 26, 32],
        [64, 3, 3, 32],
        0,
    ),
    (
        "suite conv2d_32_32x32_64to64_k3p1",
        [32, 32, 32, 64],
        [64, 3, 3, 64],
        1,
    ),
];

fn main() {
    let levels: Vec<Level> = match std::env::args().nth(1).as_deref() {
        None => [Level::Baseline, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|&l| l <= simd::level())
            .collect(),
        Some("baseline") => vec![Level::Baseline],
        Some("avx2") => vec![Level::Avx2],
        Some("avx512") => vec![Level::Avx512],
        Some(other) => {
            eprintln!("error: unknown level {other:?}: expected baseline, avx2 or avx512");
            std::process::exit(2);
        }
    };
    println!("this CPU: {:?} (TAPEGRAD_SIMD caps it)", simd::level());
    for level in levels {
        println!("\n== f32 at {level:?} ==");
        for (name, x, k, p) in LAYERS {
            let g = ConvGeometry::new("conv2d", x, k, Conv2dConfig::new().padding(*p))
                .expect("the listed layers are valid");
            println!("\n{name}\n{}", ConvPlan::at_level(&g, DType::F32, level));
        }
    }
}
