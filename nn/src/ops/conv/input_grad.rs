//! The input rule of a convolution computed directly, as the lecture writes it:
//! `dZ_slice(ij) += Σ_c dZ_ijc · W_c` for every output position `ij` — each position adds its
//! kernels, weighted by its `C_out` gradients, back onto the input slice it was computed from.
//!
//! The GEMM formulation computes the same sums as `dB = dZ · W` (one row of `B`'s shape per
//! position) and then adds each row of `dB` back onto its slice (col2im): `dB` is as large as
//! `B` and is written once and read once. Here the rows of `dB` are never stored: a block of
//! `P` positions accumulates its rows in registers, `J` vector registers of a kernel row at a
//! time, and adds them straight onto the zero-padded input gradient.
//!
//! It is used for `f32` on CPUs with AVX2 when a kernel row `f_W · C_in` nearly fills whole
//! registers (8 or 16 lanes; at most a quarter of the last register left over, which is
//! filled with zero kernels); otherwise [`DirectInputGrad::new`] returns `None` and the op
//! uses `dB = dZ · W` + col2im. Reloading a value the CPU has just stored stalls it when the
//! load only partly overlaps the store, which happens between neighbouring positions unless
//! their slices lie a whole number of registers apart; otherwise the positions are ordered so
//! that no block holds two positions of one row whose slices overlap (see
//! [`DirectInputGrad::new`]).

use super::geometry::ConvGeometry;
#[cfg(target_arch = "x86_64")]
use super::vector::{Vector, Ymm, Zmm};
use autograd::Element;
use autograd::runtime::buffer::{self, LINE_PAD, line_offset};
#[cfg(target_arch = "x86_64")]
use autograd::runtime::simd;
use autograd::runtime::simd::{as_f32, as_f32_mut};

/// The plan of the direct input rule for one geometry (`f32` only).
// Off x86-64 the plan never chooses it: the kernel is never built, its fields never read.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct DirectInputGrad {
    /// Where each run of consecutive taps starts, from its window's corner in the padded
    /// sample: one run per kernel row `f_W · C_in` without dilation along W, one per
    /// `(kh, kw)` (`C_in` taps) with it.
    starts: Vec<usize>,
    /// The taps in a run.
    run: usize,
    /// The run rounded up to whole registers.
    lanes: usize,
    /// The vector width.
    width: usize,
    /// The output positions in the order the kernel takes them, `P` at a time: each as
    /// (its first value in `dZ`, its window's corner in the padded sample).
    order: Vec<(usize, usize)>,
    /// The kernels a run at a time, `[runs, C_out, lanes]` from `kernels_at` (a cache-line
    /// boundary, see [`line_offset`]), the lanes past the run zero (they add zeros past the
    /// slice's end).
    kernels: Vec<f32>,
    kernels_at: usize,
}

impl DirectInputGrad {
    /// The kernels `w` (`[C_out, K]`) laid out a run at a time for `g`, in registers of
    /// `width` lanes (the plan's [`InputKernel::Direct`](super::plan::InputKernel::Direct):
    /// `f32`, AVX2 or AVX-512, a run of taps that leaves at most a quarter of its last
    /// register empty).
    ///
    /// The positions are taken row by row; where neighbouring slices do not lie a whole
    /// number of registers apart, in `q` passes over the rows, pass `φ` taking the columns
    /// `ox ≡ φ (mod q)`, with `q` the number of positions a run's registers span.
    pub fn new<T: Element>(w: &[T], g: &ConvGeometry, width: usize) -> Self {
        let w = as_f32(w).expect("the plan chooses the direct input rule for f32 only");
        let (c, wp, d, s) = (g.c_in, g.padded().1, g.cfg.dilation, g.cfg.stride);
        let whole_rows = d.1 == 1;
        let run = if whole_rows { g.kw * c } else { c };
        let lanes = run.next_multiple_of(width);
        debug_assert!(4 * lanes <= 5 * run, "the plan's condition");
        let starts = (0..g.kh)
            .flat_map(|kh| {
                let kws = if whole_rows { 1 } else { g.kw };
                (0..kws).map(move |kw| (kh * d.0 * wp + kw * d.1) * c)
            })
            .collect();
        let step = s.1 * c;
        let q = if step.is_multiple_of(width) {
            1
        } else {
            lanes.div_ceil(step)
        };
        let order = (0..q)
            .flat_map(|phase| {
                (0..g.oh).flat_map(move |oy| {
                    (phase..g.ow)
                        .step_by(q)
                        .map(move |ox| ((oy * g.ow + ox) * g.c_out, (oy * s.0 * wp + ox * s.1) * c))
                })
            })
            .collect();
        let (runs, k) = (g.patch() / run, g.patch());
        assert_eq!(w.len(), g.c_out * k);
        let mut kernels = vec![0.0f32; runs * g.c_out * lanes + LINE_PAD];
        let kernels_at = line_offset(&kernels);
        let rows = kernels[kernels_at..].chunks_exact_mut(lanes).take(runs * g.c_out);
        for (i, row) in rows.enumerate() {
            let (r, co) = (i / g.c_out, i % g.c_out);
            row[..run].copy_from_slice(&w[co * k + r * run..][..run]);
        }
        DirectInputGrad {
            starts,
            run,
            lanes,
            width,
            order,
            kernels,
            kernels_at,
        }
    }

    /// The input gradient of `samples` samples: `dx` (their `[H, W, C_in]` gradients, one after
    /// another) is overwritten with `Σ_ij` of each position's `Σ_c dZ_ijc · W_c` on its slice,
    /// for `dz` their `[positions, C_out]` gradient.
    pub fn input_grad<T: Element>(&self, g: &ConvGeometry, dz: &[T], samples: usize, dx: &mut [T]) {
        let (dz, dx) = (
            as_f32(dz).expect("checked in new"),
            as_f32_mut(dx).expect("checked in new"),
        );
        let (in_len, out_len) = (g.h * g.w * g.c_in, g.oh * g.ow * g.c_out);
        assert!(dz.len() == samples * out_len && dx.len() == samples * in_len);
        let (hp, wp) = g.padded();
        let (ph, pw, c) = (g.cfg.padding.0, g.cfg.padding.1, g.c_in);
        // Without padding and with whole registers, each sample's gradient is accumulated in
        // place; otherwise in a padded scratch sample, with room for the zeros past its end.
        let in_place = ph == 0 && pw == 0 && self.lanes == self.run;
        let scratch_len = hp * wp * c + self.lanes - self.run;
        let mut scratch = buffer::take_dirty::<f32>(if in_place { 0 } else { scratch_len });
        for (dz, dx) in dz.chunks_exact(out_len).zip(dx.chunks_exact_mut(in_len)) {
            let dxp: &mut [f32] = if in_place { dx } else { &mut scratch };
            dxp.fill(0.0);
            self.sample(g, dz, dxp);
            if !in_place {
                for (ih, row) in dx.chunks_exact_mut(g.w * c).enumerate() {
                    let at = ((ih + ph) * wp + pw) * c;
                    row.copy_from_slice(&scratch[at..at + g.w * c]);
                }
            }
        }
        buffer::recycle(scratch);
    }

    /// One sample: `dxp` (the padded sample's gradient, zeroed) gets every position's rows.
    fn sample(&self, g: &ConvGeometry, dz: &[f32], dxp: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            let avx512 = self.width == 16;
            // Register budgets (`P·J` sums, `J` kernel registers, one gradient): 32 vector
            // registers with AVX-512, 16 with AVX2; `J` must divide the registers of a run.
            // SAFETY: each kernel runs only where its instructions exist (`simd::level`).
            unsafe {
                let regs = self.lanes / self.width;
                match (avx512, regs % 4, regs % 3, regs % 2) {
                    (true, 0, _, _) => run::<4, 6, Zmm>(self, g, dz, dxp),
                    (true, _, 0, _) => run::<3, 8, Zmm>(self, g, dz, dxp),
                    (true, _, _, 0) => run::<2, 12, Zmm>(self, g, dz, dxp),
                    (true, ..) => run::<1, 24, Zmm>(self, g, dz, dxp),
                    (false, _, 0, _) => run::<3, 4, Ymm>(self, g, dz, dxp),
                    (false, _, _, 0) => run::<2, 6, Ymm>(self, g, dz, dxp),
                    (false, ..) => run::<1, 12, Ymm>(self, g, dz, dxp),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (g, dz, dxp);
            unreachable!("the plan chooses the direct input rule on x86-64 only")
        }
    }
}

/// Runs the kernel compiled for the register type's instruction set.
///
/// # Safety
/// The CPU must have AVX2 and FMA, and AVX-512F for `Zmm`.
#[cfg(target_arch = "x86_64")]
unsafe fn run<const J: usize, const P: usize, V: Vector>(
    plan: &DirectInputGrad,
    g: &ConvGeometry,
    dz: &[f32],
    dxp: &mut [f32],
) {
    simd::dispatch_at(
        V::LEVEL,
        #[inline(always)]
        || kernel::<J, P, V>(plan, g, dz, dxp),
    )
}

/// `dxp[corner(ij) + start + lanes] += Σ_c dZ_ijc · W[c, run + lanes]` for every run of taps,
/// `J` registers of it at a time, for `P` positions `ij` at a time: the kernels' registers
/// (`C_out · J` of them) stay in L1 while the positions stream past.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn kernel<const J: usize, const P: usize, V: Vector>(
    plan: &DirectInputGrad,
    g: &ConvGeometry,
    dz: &[f32],
    dxp: &mut [f32],
) {
    let c_out = g.c_out;
    let regs = plan.lanes / V::WIDTH;
    debug_assert_eq!(plan.width, V::WIDTH);
    // Every write lies inside the padded sample plus its room for zeros (the last window ends
    // at its end), every read of the kernels inside them, of `dz` inside `[positions, C_out]`.
    let last = plan.order.iter().map(|&(_, corner)| corner).max().unwrap_or(0);
    assert!(last + plan.starts.last().map_or(0, |&s| s + plan.lanes) <= dxp.len());
    let w = &plan.kernels[plan.kernels_at..];
    let run_stride = c_out * plan.lanes;
    assert!(w.len() >= plan.starts.len() * run_stride);
    assert!(dz.len() == g.oh * g.ow * c_out && regs.is_multiple_of(J) && !plan.order.is_empty());
    for (r, &start) in plan.starts.iter().enumerate() {
        for j0 in (0..regs).step_by(J) {
            let w0 = w[r * run_stride + j0 * V::WIDTH..].as_ptr();
            for block in plan.order.chunks(P) {
                // Positions past the end repeat the last one; their sums are not added.
                let at: [usize; P] =
                    std::array::from_fn(|p| block[p.min(block.len() - 1)].1 + start + j0 * V::WIDTH);
                let grad: [*const f32; P] =
                    std::array::from_fn(|p| dz[block[p.min(block.len() - 1)].0..].as_ptr());
                // SAFETY: the CPU has the instructions (the caller's `run`); `w0 + co · lanes +
                // J · WIDTH` stays inside the kernels, `grad[p] + co` inside `dz`, and
                // `at[p] + J · WIDTH` inside `dxp` (the asserts above).
                unsafe {
                    let mut acc = [[V::splat(0.0); J]; P];
                    for co in 0..c_out {
                        let wv: [V; J] =
                            std::array::from_fn(|j| V::load(w0.add(co * plan.lanes + j * V::WIDTH)));
                        for p in 0..P {
                            let d = V::splat(*grad[p].add(co));
                            for j in 0..J {
                                acc[p][j] = acc[p][j].fmadd(d, wv[j]);
                            }
                        }
                    }
                    let one = V::splat(1.0);
                    for (p, a) in acc.iter().enumerate().take(block.len()) {
                        for (j, v) in a.iter().enumerate() {
                            let to = dxp.as_mut_ptr().add(at[p] + j * V::WIDTH);
                            V::load(to).fmadd(one, *v).store(to);
                        }
                    }
                }
            }
        }
    }
}
