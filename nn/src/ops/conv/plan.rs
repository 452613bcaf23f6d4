//! Which kernels run a convolution: every path choice of the forward pass, the kernel rule
//! `dW` and the input rule `dX`, made in one place ([`ConvPlan::new`]) from the geometry, the
//! element type and the CPU's instruction set, with the reason for each.
//!
//! | rule | kernels, in order of preference |
//! |---|---|
//! | forward `Z_ijc = Σ B_ij ⊙ W_c + b_c` | pointwise GEMM on the input itself; the direct kernel (no `B`); im2col + GEMM |
//! | kernel `dW_c = Σ_ij dZ_ijc · B_ij` | the same three as the forward pass |
//! | input `dZ_slice += Σ_c dZ_ijc · W_c` | pointwise GEMM; the direct input rule (no `dB`; with AVX2 for `C_out <= 32` only); `dB = dZ · W` + col2im |
//!
//! On top of these, 3x3 layers of stride 1 whose channel counts are whole registers run the
//! forward pass, the input rule and the kernel rule as Winograd F(2x2, 3x3)
//! ([`ConvPlan::winograd`]; the kernels above then run only for a chunk of the batch whose
//! Winograd result is not finite, so that NaN and infinities come out as the direct sums give
//! them). `TAPEGRAD_WINOGRAD=off`
//! turns it off (to compare).
//!
//! Set `TAPEGRAD_LOG=plan` to print each new plan to standard error when a convolution first
//! runs with it; `cargo run --release --example conv_plan` prints the plans of LeNet-5 and
//! of the benchmark suite's layers.
//!
//! ```
//! use nn::ops::conv::{Conv2dConfig, ConvGeometry, ConvPlan};
//! let g = ConvGeometry::new("conv2d", &[64, 28, 28, 1], &[6, 5, 5, 1], Conv2dConfig::new().padding(2))
//!     .unwrap();
//! let plan = ConvPlan::new::<f64>(&g);
//! // Only f32 has direct kernels; f64 (checking) builds B.
//! assert!(matches!(plan.forward.kernel, nn::ops::conv::Kernel::Im2col { .. }));
//! println!("{plan}");
//! ```

use super::geometry::ConvGeometry;
use super::im2col::Layout;
use super::winograd;
use autograd::runtime::{parallel, simd};
use autograd::{DType, Element};
use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// The widest `C_out` the direct kernel handles (with AVX2, in groups of 16 lanes).
pub const MAX_DIRECT_CHANNELS: usize = 64;

/// With AVX2, the direct input rule runs for at most this many kernels (`C_out`); above it,
/// `dB = dZ · W` + col2im.
pub const AVX2_DIRECT_INPUT_CHANNELS: usize = 32;

/// The batch is processed in chunks of this many rows of `B` (whole samples, at least one):
/// small enough for a chunk's slice matrix to stay in cache, and fixed by the geometry alone,
/// so results are bitwise the same whatever the number of threads.
const CHUNK_ELEMENTS: usize = 64 * 1024;

/// A kernel for the forward pass or the kernel rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// `B` is the input itself (1x1 kernel, stride 1, no padding): one GEMM on it.
    Pointwise,
    /// The direct kernel: each position's `C_out` values accumulated in `lanes` vector lanes
    /// straight from the padded input, without building `B` (`f32`, AVX2 or AVX-512).
    Direct {
        /// `C_out` rounded up to 8, 16, 32 or 64.
        lanes: usize,
    },
    /// im2col builds `B` in `layout`, then one GEMM.
    Im2col {
        /// How `B` is stored.
        layout: Layout,
    },
}

/// A kernel for the input rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKernel {
    /// `dX = dZ · W`: `dB` is the input gradient itself.
    Pointwise,
    /// The direct input rule: each position's `Σ_c dZ_ijc · W_c` accumulated in registers of
    /// `width` lanes and added onto its slice, without storing `dB` (`f32`, AVX2 or AVX-512).
    Direct {
        /// The vector width: 8 (AVX2) or 16 (AVX-512).
        width: usize,
    },
    /// `dB = dZ · W` (one GEMM into `layout`), then col2im adds each row back onto its slice.
    Col2im {
        /// How `dB` is stored.
        layout: Layout,
    },
}

/// Which rules of a plan run as Winograd F(2x2, 3x3) (see [`ConvPlan::winograd`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WinogradRules {
    /// The forward pass.
    pub forward: bool,
    /// The input rule.
    pub input_grad: bool,
    /// The weight rule.
    pub weight_grad: bool,
}

/// One choice of a plan: the kernel and why it was chosen over the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice<K> {
    /// The kernel that runs.
    pub kernel: K,
    /// Why this one.
    pub why: &'static str,
}

/// Which kernels run one convolution, and how its batch is split (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvPlan {
    /// The sizes the plan is for.
    pub geometry: ConvGeometry,
    /// The element type.
    pub dtype: DType,
    /// The instruction set the kernels run with.
    pub level: simd::Level,
    /// The forward pass `Z = B · Wᵀ + b`.
    pub forward: Choice<Kernel>,
    /// The kernel rule `dW = dZᵀ · B`.
    pub weight_grad: Choice<Kernel>,
    /// The input rule `dZ_slice += Σ_c dZ_ijc · W_c`.
    pub input_grad: Choice<InputKernel>,
    /// Which of the forward pass, the input rule and the kernel rule run as Winograd F(2x2,
    /// 3x3) instead of [`ConvPlan::forward`], [`ConvPlan::input_grad`] and
    /// [`ConvPlan::weight_grad`] (those then run only for a chunk whose Winograd result holds
    /// a NaN or an infinity).
    pub winograd: Choice<WinogradRules>,
    /// Samples per chunk of the batch (the last chunk may have fewer).
    pub samples_per_chunk: usize,
    /// Chunks of the batch.
    pub chunks: usize,
    /// Whether the chunks run across the pool's threads (each chunk's GEMMs then on one
    /// thread) rather than one after another with threaded GEMMs.
    pub split_batch: bool,
}

impl ConvPlan {
    /// The plan for `g` with elements `T` at the CPU's instruction set ([`simd::level`]).
    pub fn new<T: Element>(g: &ConvGeometry) -> Self {
        Self::at_level(g, T::DTYPE, simd::level())
    }

    /// The plan for `g` with elements of type `dtype` at the instruction set `level` (which
    /// must not be wider than the CPU's for the plan to run).
    pub fn at_level(g: &ConvGeometry, dtype: DType, level: simd::Level) -> Self {
        let vector = dtype == DType::F32 && level != simd::Level::Baseline && cfg!(target_arch = "x86_64");
        let layout = Layout::for_geometry(g);
        let im2col_why = match layout {
            Layout::RowMajor => "im2col, row-major B: a kernel row f_W·C_in holds 16 or more values",
            Layout::ColumnMajor => "im2col, column-major B: kernel rows are short (f_W·C_in < 16) or dilated",
        };
        let direct_lanes = match g.c_out {
            _ if !vector => None,
            1..=8 => Some(8),
            9..=16 => Some(16),
            17..=32 => Some(32),
            33..=MAX_DIRECT_CHANNELS => Some(64),
            _ => None,
        };
        let forward = if g.is_pointwise() {
            Choice {
                kernel: Kernel::Pointwise,
                why: "1x1 kernel, stride 1, no padding: B is the input itself",
            }
        } else if let Some(lanes) = direct_lanes {
            Choice {
                kernel: Kernel::Direct { lanes },
                why: "f32 with few kernels (C_out <= 64): no B built",
            }
        } else {
            let why = if !vector {
                im2col_why
            } else {
                "too many kernels for the direct kernel's registers: im2col + GEMM"
            };
            Choice {
                kernel: Kernel::Im2col { layout },
                why,
            }
        };
        let input_grad = if g.is_pointwise() {
            Choice {
                kernel: InputKernel::Pointwise,
                why: "1x1 kernel, stride 1, no padding: dB is the input gradient itself",
            }
        } else {
            let width = if level == simd::Level::Avx512 { 16 } else { 8 };
            let run = if g.cfg.dilation.1 == 1 {
                g.kw * g.c_in
            } else {
                g.c_in
            };
            let lanes = run.next_multiple_of(width);
            // With AVX2's 16 registers and many kernels, the GEMM `dB = dZ · W` (C_out terms
            // per value) outruns the direct rule: 0.81-0.86x its time at 32->64 and 64->64
            // (issue #15); with AVX-512's 32 registers the direct rule stays ahead.
            let gemm_wins = width == 8 && g.c_out > AVX2_DIRECT_INPUT_CHANNELS;
            if vector && 4 * lanes <= 5 * run && !gemm_wins {
                Choice {
                    kernel: InputKernel::Direct { width },
                    why: "f32, a run of taps nearly fills whole registers: no dB stored",
                }
            } else {
                let why = if gemm_wins && vector {
                    "AVX2 with over 32 kernels: the GEMM dB = dZ · W outruns the direct rule's 16 registers"
                } else if vector {
                    "a run of taps would leave over a quarter of its last register empty: dB + col2im"
                } else {
                    "no direct input rule for this element type or CPU: dB + col2im"
                };
                Choice {
                    kernel: InputKernel::Col2im { layout },
                    why,
                }
            }
        };
        let winograd = winograd_choice(g, vector, level, &forward);
        // Winograd's kernel rule pays for each chunk's part of dW (its transform back to 3x3 and
        // the sum over chunks): chunks 4 times larger (layerbench, 1 thread, the ResNet's layers:
        // 39-40 ms fwd+bwd against 48-50 ms with the usual chunks).
        let elements = if winograd.kernel.weight_grad {
            4 * CHUNK_ELEMENTS
        } else {
            CHUNK_ELEMENTS
        };
        let samples_per_chunk = (elements / (g.oh * g.ow * g.patch()).max(1)).clamp(1, g.n.max(1));
        let chunks = g.n.div_ceil(samples_per_chunk);
        ConvPlan {
            geometry: *g,
            dtype,
            level,
            forward,
            weight_grad: forward,
            input_grad,
            winograd,
            samples_per_chunk,
            chunks,
            split_batch: chunks >= 2 * parallel::num_threads(),
        }
    }

    /// The vector width of the plan's kernels: 16 lanes with AVX-512, 8 otherwise.
    pub fn vector_width(&self) -> usize {
        if self.level == simd::Level::Avx512 { 16 } else { 8 }
    }

    /// Prints the plan to standard error if `TAPEGRAD_LOG` names `plan` (a comma-separated
    /// list) and this plan has not been printed before in this process.
    pub fn log(&self) {
        static ON: OnceLock<bool> = OnceLock::new();
        static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
        let on = *ON.get_or_init(|| {
            std::env::var("TAPEGRAD_LOG").is_ok_and(|v| v.split(',').any(|s| s.trim() == "plan"))
        });
        if !on {
            return;
        }
        let text = self.to_string();
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        if seen.get_or_insert_with(HashSet::new).insert(text.clone()) {
            eprintln!("{text}");
        }
    }
}

/// Whether `TAPEGRAD_WINOGRAD=off` turned Winograd off (read once).
fn winograd_off() -> bool {
    static OFF: OnceLock<bool> = OnceLock::new();
    *OFF.get_or_init(|| std::env::var("TAPEGRAD_WINOGRAD").is_ok_and(|v| v.trim() == "off"))
}

/// Which rules of `g` run as Winograd F(2x2, 3x3), and why.
fn winograd_choice(
    g: &ConvGeometry,
    vector: bool,
    level: simd::Level,
    forward: &Choice<Kernel>,
) -> Choice<WinogradRules> {
    let none = WinogradRules {
        forward: false,
        input_grad: false,
        weight_grad: false,
    };
    let width = if level == simd::Level::Avx512 { 16 } else { 8 };
    let shape = g.kh == 3
        && g.kw == 3
        && g.cfg.stride == (1, 1)
        && g.cfg.dilation == (1, 1)
        && g.cfg.padding.0 <= 2
        && g.cfg.padding.1 <= 2;
    let why = if !vector {
        "no Winograd kernels for this element type or CPU"
    } else if !shape {
        "not a 3x3 kernel of stride and dilation 1 with padding <= 2"
    } else if winograd_off() {
        "off (TAPEGRAD_WINOGRAD=off)"
    } else {
        let rules = WinogradRules {
            // Its fallback for a chunk that is not finite is the direct kernel.
            forward: matches!(forward.kernel, Kernel::Direct { .. }) && winograd::applies(g, width),
            input_grad: winograd::applies(&winograd::input_grad_geometry(g), width),
            // Its fallback is the plan's dW kernel, whichever it is.
            weight_grad: winograd::applies(g, width),
        };
        let why = if rules == none {
            "the channel counts are not whole registers (or C_out > 64)"
        } else {
            "3x3, stride 1, channels in whole registers: 16 products per 2x2 outputs instead of 36"
        };
        return Choice { kernel: rules, why };
    };
    Choice { kernel: none, why }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kernel::Pointwise => write!(f, "pointwise GEMM"),
            Kernel::Direct { lanes } => write!(f, "direct kernel, {lanes} lanes"),
            Kernel::Im2col { layout } => write!(f, "im2col ({layout:?}) + GEMM"),
        }
    }
}

impl fmt::Display for InputKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputKernel::Pointwise => write!(f, "pointwise GEMM"),
            InputKernel::Direct { width } => write!(f, "direct input rule, {width}-lane registers"),
            InputKernel::Col2im { layout } => write!(f, "GEMM into dB ({layout:?}) + col2im"),
        }
    }
}

impl fmt::Display for ConvPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.geometry;
        let c = &g.cfg;
        writeln!(
            f,
            "conv2d plan: x [{}, {}, {}, {}] * W [{}, {}, {}, {}], s {:?} p {:?} d {:?} -> Z {:?}, {} at {:?}",
            g.n,
            g.h,
            g.w,
            g.c_in,
            g.c_out,
            g.kh,
            g.kw,
            g.c_in,
            c.stride,
            c.padding,
            c.dilation,
            g.output_shape(),
            self.dtype,
            self.level
        )?;
        writeln!(f, "  forward: {} ({})", self.forward.kernel, self.forward.why)?;
        writeln!(
            f,
            "  dW:      {} ({})",
            self.weight_grad.kernel, self.weight_grad.why
        )?;
        writeln!(
            f,
            "  dX:      {} ({})",
            self.input_grad.kernel, self.input_grad.why
        )?;
        let w = self.winograd.kernel;
        let names = [
            (w.forward, "forward"),
            (w.input_grad, "dX"),
            (w.weight_grad, "dW"),
        ];
        let chosen: Vec<&str> = names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
        let rules = if chosen.is_empty() {
            "none".to_string()
        } else {
            chosen.join(", ")
        };
        writeln!(f, "  Winograd F(2x2,3x3): {rules} ({})", self.winograd.why)?;
        write!(
            f,
            "  batch:   {} chunk(s) of {} sample(s), {}",
            self.chunks,
            self.samples_per_chunk,
            if self.split_batch {
                "across the pool's threads"
            } else {
                "one after another, GEMMs threaded"
            }
        )
    }
}
