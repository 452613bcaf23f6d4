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
//! It is used for `f32` on CPUs with AVX2 when `C_in` is a multiple of the vector width (8 or
//! 16), so that a kernel row `f_W · C_in` fills whole registers and the slices of neighbouring
//! positions overlap in whole registers (a partly overlapping reload of a value just stored
//! stalls the CPU); otherwise [`DirectInputGrad::new`] returns `None` and the op uses
//! `dB = dZ · W` + col2im.

use crate::conv::ConvGeometry;
use crate::im2col::padded;
use autograd::{Element, buffer, simd};
use std::any::TypeId;

/// The plan of the direct input rule for one geometry (`f32` only).
pub struct DirectInputGrad {
    /// Where each run of consecutive taps starts, from its window's corner in the padded
    /// sample: one run per kernel row `f_W · C_in` without dilation along W, one per
    /// `(kh, kw)` (`C_in` taps) with it.
    starts: Vec<usize>,
    /// The taps in a run.
    run: usize,
    /// Registers of the vector width per run.
    regs: usize,
}

/// The slice as `f32` if `T` is `f32`.
fn as_f32<T: Element>(v: &[T]) -> Option<&[f32]> {
    // SAFETY: T is f32 (same type, checked by TypeId), so the cast is the identity.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len()) })
}

/// The mutable slice as `f32` if `T` is `f32`.
fn as_f32_mut<T: Element>(v: &mut [T]) -> Option<&mut [f32]> {
    // SAFETY: as in `as_f32`.
    (TypeId::of::<T>() == TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len()) })
}

impl DirectInputGrad {
    /// The plan for `g` with element type `T`; `None` when the direct rule does not apply
    /// (not `f32`, a CPU without AVX2, or `C_in` not a multiple of the vector width).
    pub fn new<T: Element>(g: &ConvGeometry) -> Option<Self> {
        if TypeId::of::<T>() != TypeId::of::<f32>() {
            return None;
        }
        let width = match simd::level() {
            simd::Level::Avx512 => 16,
            simd::Level::Avx2 => 8,
            _ => return None,
        };
        if !g.c_in.is_multiple_of(width) || cfg!(not(target_arch = "x86_64")) {
            return None;
        }
        let (c, wp, d) = (g.c_in, padded(g).1, g.cfg.dilation);
        let whole_rows = d.1 == 1;
        let starts = (0..g.kh)
            .flat_map(|kh| {
                let kws = if whole_rows { 1 } else { g.kw };
                (0..kws).map(move |kw| (kh * d.0 * wp + kw * d.1) * c)
            })
            .collect();
        let run = if whole_rows { g.kw * c } else { c };
        Some(DirectInputGrad {
            starts,
            run,
            regs: run / width,
        })
    }

    /// The input gradient of `samples` samples: `dx` (their `[H, W, C_in]` gradients, one after
    /// another) is overwritten with `Σ_ij` of each position's `Σ_c dZ_ijc · W_c` on its slice,
    /// for `dz` their `[positions, C_out]` gradient and `w` the kernels `[C_out, K]`.
    pub fn input_grad<T: Element>(&self, w: &[T], g: &ConvGeometry, dz: &[T], samples: usize, dx: &mut [T]) {
        let (w, dz, dx) = (
            as_f32(w).expect("checked in new"),
            as_f32(dz).expect("checked in new"),
            as_f32_mut(dx).expect("checked in new"),
        );
        let (in_len, out_len) = (g.h * g.w * g.c_in, g.oh * g.ow * g.c_out);
        assert!(
            w.len() == g.c_out * g.patch() && dz.len() == samples * out_len && dx.len() == samples * in_len
        );
        let (hp, wp) = padded(g);
        let (ph, pw, c) = (g.cfg.padding.0, g.cfg.padding.1, g.c_in);
        let unpadded = ph == 0 && pw == 0;
        // Without padding, each sample's gradient is accumulated in place.
        let mut scratch = buffer::take_dirty::<f32>(if unpadded { 0 } else { hp * wp * c });
        for (dz, dx) in dz.chunks_exact(out_len).zip(dx.chunks_exact_mut(in_len)) {
            let dxp: &mut [f32] = if unpadded { dx } else { &mut scratch };
            dxp.fill(0.0);
            self.sample(w, g, dz, dxp);
            if !unpadded {
                for (ih, row) in dx.chunks_exact_mut(g.w * c).enumerate() {
                    let at = ((ih + ph) * wp + pw) * c;
                    row.copy_from_slice(&scratch[at..at + g.w * c]);
                }
            }
        }
        buffer::recycle(scratch);
    }

    /// One sample: `dxp` (the padded sample's gradient, zeroed) gets every position's rows.
    fn sample(&self, w: &[f32], g: &ConvGeometry, dz: &[f32], dxp: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::direct_conv::x86::{Ymm, Zmm};
            let avx512 = simd::level() == simd::Level::Avx512;
            // Register budgets (`P·J` sums, `J` kernel registers, one gradient): 32 vector
            // registers with AVX-512, 16 with AVX2; `J` must divide the registers of a run.
            // SAFETY: each kernel runs only where its instructions exist (`simd::level`).
            unsafe {
                match (avx512, self.regs % 4, self.regs % 3, self.regs % 2) {
                    (true, 0, _, _) => run::<4, 6, Zmm>(self, w, g, dz, dxp),
                    (true, _, 0, _) => run::<3, 8, Zmm>(self, w, g, dz, dxp),
                    (true, _, _, 0) => run::<2, 12, Zmm>(self, w, g, dz, dxp),
                    (true, ..) => run::<1, 24, Zmm>(self, w, g, dz, dxp),
                    (false, _, 0, _) => run::<3, 4, Ymm>(self, w, g, dz, dxp),
                    (false, _, _, 0) => run::<2, 6, Ymm>(self, w, g, dz, dxp),
                    (false, ..) => run::<1, 12, Ymm>(self, w, g, dz, dxp),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("DirectInputGrad::new returns None off x86-64 ({w:?} {g:?} {dz:?} {dxp:?})")
    }
}

/// Runs the kernel compiled for the register type's instruction set.
///
/// # Safety
/// The CPU must have AVX2 and FMA, and AVX-512F for `Zmm`.
#[cfg(target_arch = "x86_64")]
unsafe fn run<const J: usize, const P: usize, V: crate::direct_conv::x86::Vector>(
    plan: &DirectInputGrad,
    w: &[f32],
    g: &ConvGeometry,
    dz: &[f32],
    dxp: &mut [f32],
) {
    let at = if V::WIDTH == 16 {
        simd::Level::Avx512
    } else {
        simd::Level::Avx2
    };
    simd::dispatch_at(
        at,
        #[inline(always)]
        || kernel::<J, P, V>(plan, w, g, dz, dxp),
    )
}

/// `dxp[corner(ij) + start + lanes] += Σ_c dZ_ijc · W[c, run + lanes]` for every run of taps,
/// `J` registers of it at a time, for `P` positions `ij` at a time: the kernels' registers
/// (`C_out · J` of them) stay in L1 while the positions stream past.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn kernel<const J: usize, const P: usize, V: crate::direct_conv::x86::Vector>(
    plan: &DirectInputGrad,
    w: &[f32],
    g: &ConvGeometry,
    dz: &[f32],
    dxp: &mut [f32],
) {
    let (c, c_out, k, wp) = (g.c_in, g.c_out, g.patch(), padded(g).1);
    let s = g.cfg.stride;
    let positions = g.oh * g.ow;
    debug_assert_eq!(plan.regs * V::WIDTH, plan.run);
    // Every write lies inside the padded sample (its last window ends at its end) and every
    // read of `w` inside `[C_out, K]`, `dz` inside `[positions, C_out]`.
    let last = ((g.oh - 1) * s.0 * wp + (g.ow - 1) * s.1) * c;
    assert!(last + plan.starts.last().map_or(0, |&s| s + plan.run) <= dxp.len());
    assert!(w.len() == c_out * k && dz.len() == positions * c_out && plan.regs.is_multiple_of(J));
    for (r, &start) in plan.starts.iter().enumerate() {
        for j0 in (0..plan.regs).step_by(J) {
            let w0 = w[r * plan.run + j0 * V::WIDTH..].as_ptr();
            let (mut oy, mut ox, mut pos) = (0, 0, 0);
            while pos < positions {
                let block = P.min(positions - pos);
                // Positions past the end repeat the last one; their sums are not added.
                let mut at = [0; P];
                let mut grad = [dz.as_ptr(); P];
                for p in 0..P {
                    at[p] = (oy * s.0 * wp + ox * s.1) * c + start + j0 * V::WIDTH;
                    grad[p] = dz[(pos + p.min(block - 1)) * c_out..].as_ptr();
                    if p < block {
                        ox += 1;
                        if ox == g.ow {
                            (oy, ox) = (oy + 1, 0);
                        }
                    }
                }
                // SAFETY: the CPU has the instructions (the caller's `run_at`); `w0 + co·K +
                // J·WIDTH` stays inside `w` (a run's registers lie inside its kernel row),
                // `grad[p] + co` inside `dz`, and `at[p] + J·WIDTH` inside `dxp` (the asserts).
                unsafe {
                    let mut acc = [[V::splat(0.0); J]; P];
                    for co in 0..c_out {
                        let wv: [V; J] = std::array::from_fn(|j| V::load(w0.add(co * k + j * V::WIDTH)));
                        for p in 0..P {
                            let d = V::splat(*grad[p].add(co));
                            for j in 0..J {
                                acc[p][j] = acc[p][j].fmadd(d, wv[j]);
                            }
                        }
                    }
                    let one = V::splat(1.0);
                    for (p, a) in acc.iter().enumerate().take(block) {
                        for (j, v) in a.iter().enumerate() {
                            let to = dxp.as_mut_ptr().add(at[p] + j * V::WIDTH);
                            V::load(to).fmadd(one, *v).store(to);
                        }
                    }
                }
                pos += block;
            }
        }
    }
}
