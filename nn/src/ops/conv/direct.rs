//! The forward pass and the kernel rule of a convolution with few output channels, computed
//! directly, without building `B`.
//!
//! With `C_out <= 64` the GEMM of the im2col formulation has a small
//! dimension (LeNet's 6 or 16 kernels), which matrix kernels handle poorly, and building `B`
//! (then packing it again inside the GEMM) costs as much as the arithmetic. Here each output
//! position's `C_out` values are one short vector `Z_ij`:
//!
//! - forward: `Z_ij = b + Σ_{kh,kw,ci} B_ij[kh,kw,ci] · W[·,kh,kw,ci]` is accumulated tap by
//!   tap straight from the zero-padded input, for 3 to 8 output positions at a time so that
//!   their vectors stay in registers; the taps are walked in runs of consecutive values (a
//!   whole kernel row `f_W · C_in` when there is no dilation along W);
//! - kernel rule: `dW_c = Σ_ij dZ_ijc · B_ij` is accumulated position by position, for a block
//!   of taps at a time held in registers (`dWᵀ[tap] += x[ij + tap] · dZ_ij`).
//!
//! The kernel is written with AVX2 / AVX-512 vector instructions for `f32` (what training
//! uses); [`ConvPlan`](super::ConvPlan) chooses it where it applies, and the im2col + GEMM
//! path otherwise.

use super::geometry::ConvGeometry;
use super::im2col::pad_sample;
#[cfg(target_arch = "x86_64")]
use super::vector::{Ymm, Zmm};
use autograd::Element;
use autograd::runtime::buffer::{self, LINE_PAD, line_offset};
#[cfg(target_arch = "x86_64")]
use autograd::runtime::simd;
use autograd::runtime::simd::{as_f32, as_f32_mut};
use std::ops::Range;

/// A kernel laid out for the direct forward pass (`f32` only).
// Off x86-64 the plan never chooses it: the kernel is never built, its fields never read.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct DirectKernel {
    /// `W` transposed to `[K, L]`: row `j` holds tap `j` of every kernel, zero-padded to `L`
    /// lanes.
    wt: Vec<f32>,
    /// Where `W`ᵀ starts in `wt` (the first 64-byte boundary).
    wt_at: usize,
    /// The bias, zero-padded to `L` lanes.
    bias: Vec<f32>,
    /// The offset of each tap `(kh, kw, ci)` from its window's corner in the padded sample.
    taps: Vec<usize>,
    /// One more than the largest tap offset.
    span: usize,
    /// The taps come in runs of this many consecutive offsets: `f_W · C_in` (a whole kernel
    /// row) without dilation along W, `C_in` with it.
    run: usize,
    /// The lane count: `C_out` rounded up to 8, 16, 32 or 64.
    lanes: usize,
    /// `C_out`.
    c_out: usize,
}

impl DirectKernel {
    /// Lays out `w` (`[C_out, K]`) and `b` for `g` in `lanes` lanes (the plan's
    /// [`Kernel::Direct`](super::plan::Kernel::Direct)); `f32` only.
    pub fn new<T: Element>(w: &[T], b: Option<&[T]>, g: &ConvGeometry, lanes: usize) -> Self {
        let w = as_f32(w).expect("the plan chooses the direct kernel for f32 only");
        assert!(lanes >= g.c_out && lanes <= super::plan::MAX_DIRECT_CHANNELS);
        let k = g.patch();
        // From a cache-line boundary, so that no register load of a tap's row straddles two.
        let mut wt_buf = vec![0.0f32; k * lanes + LINE_PAD];
        let wt_at = line_offset(&wt_buf);
        let wt = &mut wt_buf[wt_at..wt_at + k * lanes];
        for co in 0..g.c_out {
            for j in 0..k {
                wt[j * lanes + co] = w[co * k + j];
            }
        }
        let mut bias = vec![0.0; lanes];
        if let Some(b) = b {
            bias[..g.c_out].copy_from_slice(as_f32(b).expect("f32, as w"));
        }
        let (c, wp, d) = (g.c_in, g.w + 2 * g.cfg.padding.1, g.cfg.dilation);
        let taps: Vec<usize> = (0..g.kh)
            .flat_map(|kh| {
                (0..g.kw).flat_map(move |kw| (0..c).map(move |ci| (kh * d.0 * wp + kw * d.1) * c + ci))
            })
            .collect();
        let span = taps.iter().max().map_or(0, |t| t + 1);
        let run = if d.1 == 1 { g.kw * c } else { c };
        DirectKernel {
            wt: wt_buf,
            wt_at,
            bias,
            taps,
            span,
            run,
            lanes,
            c_out: g.c_out,
        }
    }

    /// `Z = x * W + b` for the samples `samples` of `x`, written to `z` (their `[OH, OW, C_out]`
    /// outputs, one after another).
    pub fn forward<T: Element>(&self, x: &[T], g: &ConvGeometry, samples: Range<usize>, z: &mut [T]) {
        let (x, z) = (
            as_f32(x).expect("checked in new"),
            as_f32_mut(z).expect("checked in new"),
        );
        let (in_len, out_len) = (g.h * g.w * g.c_in, g.oh * g.ow * g.c_out);
        let mut xp =
            buffer::take_dirty::<f32>((g.h + 2 * g.cfg.padding.0) * (g.w + 2 * g.cfg.padding.1) * g.c_in);
        for (local, n) in samples.enumerate() {
            pad_sample(&x[n * in_len..(n + 1) * in_len], g, &mut xp);
            self.sample(&xp, g, &mut z[local * out_len..(local + 1) * out_len]);
        }
        buffer::recycle(xp);
    }

    /// The kernel rule `dW_c = Σ_ij dZ_ijc · B_ij` over the samples `samples`, with `dz`
    /// their `[positions, C_out]` gradient followed by at least [`DirectKernel::slack`] more
    /// values. Writes `dw` (`[C_out, K]`).
    #[cfg(test)]
    pub fn weight_grad<T: Element>(
        &self,
        x: &[T],
        g: &ConvGeometry,
        samples: Range<usize>,
        dz: &[T],
        dw: &mut [T],
    ) {
        let mut dwt = vec![T::ZERO; self.lane_len()];
        self.weight_grad_lanes(x, g, samples, dz, &mut dwt);
        self.dw_from_lanes(&dwt, dw);
    }

    /// The length of `dW` in the kernel's lane layout `dWᵀ` (`[K, L]`: row `j` holds tap `j`
    /// of every kernel, then `L - C_out` unused lanes).
    pub fn lane_len(&self) -> usize {
        self.taps.len() * self.lanes
    }

    /// [`DirectKernel::weight_grad`] added into `dwt`, `dW` in the lane layout (see
    /// [`DirectKernel::lane_len`]): partial sums over parts of a batch stay in this layout
    /// and are turned into `[C_out, K]` once, by [`DirectKernel::dw_from_lanes`].
    pub fn weight_grad_lanes<T: Element>(
        &self,
        x: &[T],
        g: &ConvGeometry,
        samples: Range<usize>,
        dz: &[T],
        dwt: &mut [T],
    ) {
        let (x, dz) = (
            as_f32(x).expect("checked in new"),
            as_f32(dz).expect("checked in new"),
        );
        let dwt = as_f32_mut(dwt).expect("checked in new");
        let (in_len, out_len) = (g.h * g.w * g.c_in, g.oh * g.ow * g.c_out);
        assert!(dz.len() >= samples.len() * out_len + self.slack() && dwt.len() == self.lane_len());
        let mut xp =
            buffer::take_dirty::<f32>((g.h + 2 * g.cfg.padding.0) * (g.w + 2 * g.cfg.padding.1) * g.c_in);
        for (local, n) in samples.enumerate() {
            pad_sample(&x[n * in_len..(n + 1) * in_len], g, &mut xp);
            #[cfg(not(target_arch = "x86_64"))]
            let _ = (local, dz, &mut *dwt);
            #[cfg(target_arch = "x86_64")]
            {
                let dzs = &dz[local * out_len..];
                let avx512 = simd::level() == simd::Level::Avx512;
                // SAFETY: each kernel runs only where its instructions exist (`simd::level`).
                unsafe {
                    // Register budgets: 32 vector registers with AVX-512, 16 with AVX2.
                    match (self.lanes, avx512) {
                        (8, true) => x86::run_dw::<1, 24, Ymm>(true, self, &xp, g, dzs, dwt),
                        (8, false) => x86::run_dw::<1, 12, Ymm>(false, self, &xp, g, dzs, dwt),
                        (16, true) => x86::run_dw::<1, 24, Zmm>(true, self, &xp, g, dzs, dwt),
                        (16, false) => x86::run_dw::<2, 6, Ymm>(false, self, &xp, g, dzs, dwt),
                        (32, true) => x86::run_dw::<2, 12, Zmm>(true, self, &xp, g, dzs, dwt),
                        (_, true) => x86::run_dw::<4, 6, Zmm>(true, self, &xp, g, dzs, dwt),
                        // 32 or 64 lanes in groups of 16 (see `kernel`): 12 sums, 2 of dZ
                        // and a broadcast fit AVX2's 16 registers; 3 taps of 4 registers
                        // spilled two sums to the stack.
                        (_, false) => x86::run_dw::<2, 6, Ymm>(false, self, &xp, g, dzs, dwt),
                    }
                }
            }
        }
        buffer::recycle(xp);
    }

    /// `dW` (`[C_out, K]`) from its lane layout `dwt` (see [`DirectKernel::lane_len`]).
    pub fn dw_from_lanes<T: Element>(&self, dwt: &[T], dw: &mut [T]) {
        let k = self.taps.len();
        assert!(dwt.len() == self.lane_len() && dw.len() == self.c_out * k);
        for (j, tap) in dwt.chunks_exact(self.lanes).enumerate() {
            for (row, &v) in dw.chunks_exact_mut(k).zip(&tap[..self.c_out]) {
                row[j] = v;
            }
        }
    }

    /// The values [`DirectKernel::weight_grad`] reads past the end of `dz`: it loads whole
    /// registers of `lanes` values per position, so the last position reads `lanes - C_out`
    /// values beyond it (none when `C_out` fills the registers).
    pub fn slack(&self) -> usize {
        self.lanes - self.c_out
    }

    /// One padded sample `xp` into its output `z`.
    fn sample(&self, xp: &[f32], g: &ConvGeometry, z: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            let avx512 = simd::level() == simd::Level::Avx512;
            // SAFETY: each kernel runs only where its instructions exist (`simd::level`).
            unsafe {
                match (self.lanes, avx512) {
                    (8, _) => x86::run::<1, 8, Ymm>(self, xp, g, z),
                    (16, true) => x86::run::<1, 8, Zmm>(self, xp, g, z),
                    (16, false) => x86::run::<2, 6, Ymm>(self, xp, g, z),
                    (32, true) => x86::run::<2, 6, Zmm>(self, xp, g, z),
                    (_, true) => x86::run::<4, 6, Zmm>(self, xp, g, z),
                    // 32 or 64 lanes in groups of 16 (see `kernel`): 6 positions of 2
                    // registers, 2 of W and a broadcast fit AVX2's 16 registers; 3 positions
                    // of 4 spilled two sums to the stack (0.7x the speed).
                    (_, false) => x86::run::<2, 6, Ymm>(self, xp, g, z),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (xp, g, z);
            unreachable!("the plan chooses the direct kernel on x86-64 only")
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::super::plan::MAX_DIRECT_CHANNELS;
    use super::super::vector::Vector;
    use super::{ConvGeometry, DirectKernel};
    use autograd::runtime::simd::{self, Level};

    /// Runs the kernel compiled for the register type's instruction set.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA, and AVX-512F for `Zmm`.
    pub unsafe fn run<const N: usize, const P: usize, V: Vector>(
        k: &DirectKernel,
        xp: &[f32],
        g: &ConvGeometry,
        z: &mut [f32],
    ) {
        simd::dispatch_at(
            V::LEVEL,
            #[inline(always)]
            || kernel::<N, P, V>(k, xp, g, z),
        )
    }

    /// Runs the weight-gradient kernel compiled for the register type's instruction set.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA, and AVX-512F for `Zmm`.
    pub unsafe fn run_dw<const N: usize, const TB: usize, V: Vector>(
        avx512: bool,
        k: &DirectKernel,
        xp: &[f32],
        g: &ConvGeometry,
        dz: &[f32],
        dwt: &mut [f32],
    ) {
        let at = if avx512 { Level::Avx512 } else { Level::Avx2 };
        let taps = k.taps.len();
        let main = taps / TB * TB;
        simd::dispatch_at(
            at,
            #[inline(always)]
            || {
                kernel_dw::<N, TB, V>(k, xp, g, dz, dwt, 0..main);
                // The last taps in a narrower block when they are few (LeNet's first layer
                // has 25): a block of TB would mostly compute unused taps.
                match taps - main {
                    0 => {}
                    t if t <= 4 && 4 < TB => kernel_dw::<N, 4, V>(k, xp, g, dz, dwt, main..taps),
                    t if t <= 8 && 8 < TB => kernel_dw::<N, 8, V>(k, xp, g, dz, dwt, main..taps),
                    _ => kernel_dw::<N, TB, V>(k, xp, g, dz, dwt, main..taps),
                }
            },
        )
    }

    /// `dWᵀ[tap] += Σ_pos x[corner(pos) + tap] · dZ[pos]` for the taps `range`, `TB` taps at
    /// a time held in registers (`N` registers of `V` per tap), one pass over the sample's
    /// positions per block of taps.
    #[inline(always)]
    fn kernel_dw<const N: usize, const TB: usize, V: Vector>(
        k: &DirectKernel,
        xp: &[f32],
        g: &ConvGeometry,
        dz: &[f32],
        dwt: &mut [f32],
        range: std::ops::Range<usize>,
    ) {
        let (lanes, group) = (k.lanes, N * V::WIDTH);
        debug_assert_eq!(lanes % group, 0);
        let (c, c_out, wp) = (g.c_in, g.c_out, g.w + 2 * g.cfg.padding.1);
        let s = g.cfg.stride;
        let positions = g.oh * g.ow;
        // Every read below is in bounds: taps stay inside the padded sample, dz has `lanes`
        // values of slack after the last position, dwt holds `K · lanes`.
        assert!(((g.oh - 1) * s.0 * wp + (g.ow - 1) * s.1) * c + k.span <= xp.len());
        assert!((positions - 1) * c_out + lanes <= dz.len() && dwt.len() == k.taps.len() * lanes);
        assert!(range.end <= k.taps.len());
        // Groups of `N · WIDTH` channels one after another (see `kernel`), each over a block
        // of taps.
        let blocks = (0..lanes)
            .step_by(group)
            .flat_map(|g0| range.clone().step_by(TB).map(move |t0| (g0, t0)));
        for (g0, t0) in blocks {
            let tb = TB.min(range.end - t0);
            // Unused tap slots read offset 0 (harmless) and are not stored.
            let taps: [usize; TB] = std::array::from_fn(|t| if t < tb { k.taps[t0 + t] } else { 0 });
            // SAFETY: the CPU has the instructions (`run_dw`'s contract); reads are in bounds
            // by the asserts above.
            unsafe {
                let zero = V::splat(0.0);
                let mut acc = [[zero; N]; TB];
                for oy in 0..g.oh {
                    let row = xp.as_ptr().add(oy * s.0 * wp * c);
                    let dz_row = dz.as_ptr().add(oy * g.ow * c_out);
                    for ox in 0..g.ow {
                        let d: [V; N] =
                            std::array::from_fn(|i| V::load(dz_row.add(ox * c_out + g0 + i * V::WIDTH)));
                        let x0 = row.add(ox * s.1 * c);
                        for t in 0..TB {
                            let x = V::splat(*x0.add(taps[t]));
                            for i in 0..N {
                                acc[t][i] = acc[t][i].fmadd(x, d[i]);
                            }
                        }
                    }
                }
                for (t, a) in acc.iter().enumerate().take(tb) {
                    for (i, v) in a.iter().enumerate() {
                        let at = dwt.as_mut_ptr().add((t0 + t) * lanes + g0 + i * V::WIDTH);
                        let sum = V::load(at).fmadd(V::splat(1.0), *v);
                        sum.store(at);
                    }
                }
            }
        }
    }

    /// `P` output positions at a time, each `N` registers of `V` per group of `N · WIDTH`
    /// channels: the lanes `L` are `G` such groups (with AVX2, groups of 16 lanes: `G` = 2 or
    /// 4 for 32 or 64 lanes, as 6 positions of 2 registers fit its 16 registers), computed one
    /// after another for the same block of positions while its input is in cache.
    #[inline(always)]
    fn kernel<const N: usize, const P: usize, V: Vector>(
        k: &DirectKernel,
        xp: &[f32],
        g: &ConvGeometry,
        z: &mut [f32],
    ) {
        let (lanes, group) = (k.lanes, N * V::WIDTH);
        debug_assert_eq!(lanes % group, 0);
        let (c, c_out, wp) = (g.c_in, g.c_out, g.w + 2 * g.cfg.padding.1);
        let s = g.cfg.stride;
        let wt = k.wt[k.wt_at..].as_ptr();
        // Output positions in row-major order, P at a time (across row ends).
        let positions = g.oh * g.ow;
        let mut pos = 0;
        // The output row and column of `pos`, stepped along (no division per block).
        let (mut oy, mut ox) = (0, 0);
        while pos < positions {
            let block = P.min(positions - pos);
            // Positions past the end repeat the last one; their sums are dropped.
            let mut corner = [0; P];
            for (p, corner) in corner.iter_mut().enumerate() {
                *corner = (oy * s.0 * wp + ox * s.1) * c;
                if p + 1 < block {
                    ox += 1;
                    if ox == g.ow {
                        (oy, ox) = (oy + 1, 0);
                    }
                }
            }
            // Step past the block's last position.
            ox += 1;
            if ox == g.ow {
                (oy, ox) = (oy + 1, 0);
            }
            // Every tap of every window lies inside the padded sample.
            assert!(corner[P - 1] + k.span <= xp.len() && k.wt.len() - k.wt_at >= k.taps.len() * lanes);
            for g0 in (0..lanes).step_by(group) {
                // SAFETY: the CPU has the instructions (`run`'s contract); the bias holds
                // `lanes` values; every read of `xp` is at `corner + tap < corner + span`,
                // in bounds by the assert; every read of `wt` is within its `K · lanes`
                // (`g0 + group <= lanes`).
                unsafe {
                    let mut acc: [[V; N]; P] =
                        [std::array::from_fn(|i| V::load(k.bias.as_ptr().add(g0 + i * V::WIDTH))); P];
                    // The taps come in runs of consecutive values (see `run`).
                    for (r, &start) in k.taps.iter().step_by(k.run).enumerate() {
                        let x0: [*const f32; P] = std::array::from_fn(|p| xp.as_ptr().add(corner[p] + start));
                        let w0 = wt.add(r * k.run * lanes + g0);
                        for ci in 0..k.run {
                            let w: [V; N] =
                                std::array::from_fn(|i| V::load(w0.add(ci * lanes + i * V::WIDTH)));
                            for p in 0..P {
                                let x = V::splat(*x0[p].add(ci));
                                for i in 0..N {
                                    acc[p][i] = acc[p][i].fmadd(x, w[i]);
                                }
                            }
                        }
                    }
                    // The group's channels that exist (the last group may end past C_out).
                    let valid = group.min(c_out.saturating_sub(g0));
                    for (p, a) in acc.iter().enumerate().take(block) {
                        let at = (pos + p) * c_out + g0;
                        if valid == 0 {
                            break;
                        } else if at + group <= z.len() && (valid == group || group == lanes) {
                            // Whole registers: the lanes past C_out land on the next positions,
                            // which are written after this one (with one group; with more, a
                            // last group that C_out does not fill is stored below instead, as
                            // the next positions' first groups are already written).
                            for (i, v) in a.iter().enumerate() {
                                v.store(z.as_mut_ptr().add(at + i * V::WIDTH));
                            }
                        } else {
                            let mut out = [0.0f32; MAX_DIRECT_CHANNELS];
                            for (i, v) in a.iter().enumerate() {
                                v.store(out.as_mut_ptr().add(i * V::WIDTH));
                            }
                            z[at..at + valid].copy_from_slice(&out[..valid]);
                        }
                    }
                }
            }
            pos += block;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::{ConvPlan, Kernel, MAX_DIRECT_CHANNELS};
    use super::super::{Conv2dConfig, ConvGeometry};
    use super::DirectKernel;
    use crate::ops::reference;
    use autograd::Tensor;

    fn values(shape: &[usize], seed: u64) -> Tensor<f64> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        Tensor::from_fn(shape, |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
    }

    /// The direct kernel's contract with the conv op: [`DirectKernel::slack`] is what
    /// `weight_grad` reads past the end of `dZ` (`C_out` rounded up to 8, 16, 32 or 64 lanes,
    /// minus `C_out`: none when `C_out` fills the registers, so the op can pass `dZ` without a
    /// copy), and whatever lies there (NaN here) never reaches `dW`, which matches the
    /// lecture's loop `dW_c = Σ_ij dZ_ijc · B_ij` in f64.
    #[test]
    fn direct_weight_grad_reads_only_its_slack() {
        let (n, h, w, c_in, f, p) = (2, 5, 6, 3, 3, 1);
        let mut checked = 0;
        for c_out in 1..=MAX_DIRECT_CHANNELS {
            let cfg = Conv2dConfig::new().padding(p);
            let g = ConvGeometry::new("test", &[n, h, w, c_in], &[c_out, f, f, c_in], cfg).unwrap();
            let Kernel::Direct { lanes } = ConvPlan::new::<f32>(&g).weight_grad.kernel else {
                continue; // this CPU (or its instruction-set cap) leaves C_out to the GEMM path
            };
            let kernel = values(&[c_out, f, f, c_in], 5);
            let kernel32: Vec<f32> = kernel.as_slice().iter().map(|&v| v as f32).collect();
            let direct = DirectKernel::new(&kernel32, None, &g, lanes);
            assert_eq!(direct.slack(), lanes - c_out, "C_out {c_out}");
            let x = values(&[n, h, w, c_in], 6);
            let dz = values(&[n, g.oh, g.ow, c_out], 7);
            let mut dz_slack: Vec<f32> = dz.as_slice().iter().map(|&v| v as f32).collect();
            dz_slack.extend(std::iter::repeat_n(f32::NAN, direct.slack()));
            let x32: Vec<f32> = x.as_slice().iter().map(|&v| v as f32).collect();
            let mut dw = vec![0.0f32; c_out * f * f * c_in];
            direct.weight_grad(&x32, &g, 0..n, &dz_slack, &mut dw);
            let want = reference::conv2d_weight_grad(&x, &dz, &g);
            for (i, (&got, &want)) in dw.iter().zip(want.as_slice()).enumerate() {
                let got = got as f64;
                assert!(
                    (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                    "C_out {c_out}: dW[{i}] {got} vs {want}"
                );
            }
            checked += 1;
        }
        println!("checked the direct kernel's dW and slack for {checked} kernel counts");
    }
}
