//! The weight rule of a Winograd layer: `dW_c = Σ_ij dZ_ijc · B_ij` through the same
//! transforms.
//!
//! With `Y = Aᵀ [U ⊙ V] A` per tile (`U = G g Gᵀ`, `V = Bᵀ d B`), the chain rule gives, summed
//! over every tile of every sample,
//!
//! `dg = Gᵀ [ Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B) ] G`,
//!
//! where `dY` is the tile's 2x2 block of `dZ` (zeros past `OH` or `OW`). Over channels the 16
//! sums become 16 matrix products, `dU_ξ = V_ξᵀ · dM_ξ` (`[C_in, tiles] · [tiles, C_out]`,
//! `dM = A dY Aᵀ`), with 16 multiplications per tile and channel pair instead of the direct
//! sum's 36; the kernel transform back (`Gᵀ dU G`) runs once per chunk.
//!
//! Rounding differs from the direct sums; `tests/f32_kernels.rs` bounds it. A chunk whose
//! result is not finite is computed again by the direct kernel (see the module above).

use super::ConvGeometry;
use super::Winograd;
use autograd::Element;
use autograd::runtime::buffer;
use autograd::runtime::simd::{self, as_f32, as_f32_mut};

impl Winograd {
    /// The weight rule of `g` (where [`applies`](super::applies)); it needs no kernels.
    pub fn for_weight_grad(g: &ConvGeometry, width: usize) -> Self {
        assert!(super::applies(g, width));
        Winograd {
            u: Vec::new(),
            u_at: 0,
            bias: Vec::new(),
            g: *g,
            width,
        }
    }

    /// `dW` (`[C_out, 3, 3, C_in]`, overwritten) of `samples` samples `x` (`[samples, H, W,
    /// C_in]`) and their `dz` (`[samples, OH, OW, C_out]`); `false` if a value of `dW` is not
    /// finite (the caller then computes the chunk again with the direct kernel).
    pub fn weight_grad<T: Element>(&self, x: &[T], dz: &[T], samples: usize, dw: &mut [T]) -> bool {
        let (x, dz, dw) = (
            as_f32(x).expect("the plan chooses Winograd for f32 only"),
            as_f32(dz).expect("f32, as x"),
            as_f32_mut(dw).expect("f32, as x"),
        );
        let g = &self.g;
        let (c_in, c_out) = (g.c_in, g.c_out);
        assert!(x.len() == samples * g.h * g.w * c_in && dz.len() == samples * g.oh * g.ow * c_out);
        assert_eq!(dw.len(), c_out * 9 * c_in);
        let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
        let wp = 2 * tw + 2;
        let mut xp = buffer::take_zeroed::<f32>((2 * th + 2) * wp * c_in);
        // Tiles per block: their V and dM (64 · block · (C_in + C_out) bytes) stay in L2. An
        // odd count, so that a tile's 16 rows (`block` rows of C_in apart) do not all fall
        // into the same cache set.
        let block = (4096 / (c_in + c_out)).clamp(32, 128) | 1;
        let mut v = buffer::take_dirty::<f32>(16 * block * c_in);
        let mut m = buffer::take_dirty::<f32>(16 * block * c_out);
        let mut du = buffer::take_zeroed::<f32>(16 * c_in * c_out);
        let args = Chunk {
            x,
            dz,
            samples,
            block,
        };
        self.accumulate(&args, &mut xp, &mut v, &mut m, &mut du);
        let mut scratch = buffer::take_dirty::<f32>(15 * c_in * c_out);
        simd::dispatch(
            #[inline(always)]
            || dw_from_du(&du, c_in, c_out, &mut scratch, dw),
        );
        for b in [xp, v, m, du, scratch] {
            buffer::recycle(b);
        }
        dw.iter().all(|w| w.is_finite())
    }

    /// `dU_ξ += V_ξᵀ · dM_ξ` over every tile of the chunk, in the register blocking of the
    /// plan's vector width.
    fn accumulate(&self, c: &Chunk, xp: &mut [f32], v: &mut [f32], m: &mut [f32], du: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            use super::super::vector::{Ymm, Zmm};
            // SAFETY: each kernel runs only where its instructions exist (the plan's level).
            unsafe {
                match (self.width, self.g.c_out / self.width) {
                    (16, 1) => x86::run::<1, 16, Zmm>(self, c, xp, v, m, du),
                    (16, 2) => x86::run::<2, 8, Zmm>(self, c, xp, v, m, du),
                    (16, 3) => x86::run::<3, 8, Zmm>(self, c, xp, v, m, du),
                    (16, _) => x86::run::<4, 4, Zmm>(self, c, xp, v, m, du),
                    (_, n) if n % 2 == 0 => x86::run::<2, 4, Ymm>(self, c, xp, v, m, du),
                    _ => x86::run::<1, 8, Ymm>(self, c, xp, v, m, du),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let Chunk {
                x,
                dz,
                samples,
                block,
            } = c;
            let _ = (x, dz, samples, block, xp, v, m, du);
            unreachable!("the plan chooses Winograd on x86-64 only")
        }
    }
}

/// One chunk's inputs.
struct Chunk<'a> {
    x: &'a [f32],
    dz: &'a [f32],
    samples: usize,
    /// Tiles transformed before they are multiplied.
    block: usize,
}

/// `dW[co, kh, kw, ci] = (Gᵀ dU G)[kh, kw]` for every channel pair; `scratch` holds at least
/// `15 · C_in · C_out` values. `Gᵀ` applied to 4 rows `a, b, c, d` gives
/// `a + (b + c)/2, (b - c)/2, (b + c)/2 + d`.
#[inline(always)]
fn dw_from_du(du: &[f32], c_in: usize, c_out: usize, scratch: &mut [f32], dw: &mut [f32]) {
    let n = c_in * c_out;
    assert!(du.len() >= 16 * n && scratch.len() >= 15 * n && dw.len() == 9 * n);
    let apply = |rows: [&[f32]; 4], out: [&mut [f32]; 3]| {
        let [a, b, c, d] = rows.map(|r| &r[..n]);
        let [o0, o1, o2] = out;
        for e in 0..n {
            let (s, t) = (0.5 * (b[e] + c[e]), 0.5 * (b[e] - c[e]));
            o0[e] = a[e] + s;
            o1[e] = t;
            o2[e] = s + d[e];
        }
    };
    // Along W: t[i][kw] from the row ξ = 4i..4i+3, `[4, 3, n]`.
    let (t, col) = scratch.split_at_mut(12 * n);
    for i in 0..4 {
        let rows = std::array::from_fn(|j| &du[(4 * i + j) * n..(4 * i + j + 1) * n]);
        let [o0, o1, o2] = split3(&mut t[3 * i * n..3 * (i + 1) * n], n);
        apply(rows, [o0, o1, o2]);
    }
    // Along H, straight into dW's layout (one value at a time: its channel axis is last).
    for kw in 0..3 {
        let rows = std::array::from_fn(|i| &t[(3 * i + kw) * n..(3 * i + kw + 1) * n]);
        let [o0, o1, o2] = split3(col, n);
        apply(rows, [o0, o1, o2]);
        for (kh, o) in col.chunks_exact(n).take(3).enumerate() {
            for (ci, row) in o.chunks_exact(c_out).enumerate() {
                for (co, &value) in row.iter().enumerate() {
                    dw[((co * 3 + kh) * 3 + kw) * c_in + ci] = value;
                }
            }
        }
    }
}

/// Three consecutive `n`-value parts of `s`.
fn split3(s: &mut [f32], n: usize) -> [&mut [f32]; 3] {
    let (a, rest) = s.split_at_mut(n);
    let (b, c) = rest.split_at_mut(n);
    [a, b, &mut c[..n]]
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::super::vector::Vector;
    use super::super::x86::input_transform;
    use super::{Chunk, Winograd};
    use autograd::runtime::simd;

    /// The chunk's tiles, compiled for the register type's instruction set.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA, and AVX-512F for `Zmm`.
    pub unsafe fn run<const N: usize, const P: usize, V: Vector>(
        k: &Winograd,
        c: &Chunk,
        xp: &mut [f32],
        v: &mut [f32],
        m: &mut [f32],
        du: &mut [f32],
    ) {
        simd::dispatch_at(
            V::LEVEL,
            #[inline(always)]
            || tiles::<N, P, V>(k, c, xp, v, m, du),
        )
    }

    /// Every tile of every sample: `V = Bᵀ d B` and `dM = A dY Aᵀ` into the block, and the
    /// block into `dU` whenever it is full.
    #[inline(always)]
    fn tiles<const N: usize, const P: usize, V: Vector>(
        k: &Winograd,
        c: &Chunk,
        xp: &mut [f32],
        v: &mut [f32],
        m: &mut [f32],
        du: &mut [f32],
    ) {
        let g = &k.g;
        let (c_in, c_out, w, block) = (g.c_in, g.c_out, V::WIDTH, c.block);
        let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
        let (wp, (ph, pw)) = (2 * tw + 2, g.cfg.padding);
        let (in_len, out_len) = (g.h * g.w * c_in, g.oh * g.ow * c_out);
        assert!(c_in.is_multiple_of(w) && c_out.is_multiple_of(N * w));
        assert!(xp.len() >= (2 * th + 2) * wp * c_in && g.h + ph <= 2 * th + 2 && g.w + pw <= wp);
        assert!(v.len() >= 16 * block * c_in && m.len() >= 16 * block * c_out);
        assert!(du.len() >= 16 * c_in * c_out);
        assert!(c.x.len() >= c.samples * in_len && c.dz.len() >= c.samples * out_len);
        let mut fill = 0;
        for s in 0..c.samples {
            let x = &c.x[s * in_len..(s + 1) * in_len];
            for (ih, row) in x.chunks_exact(g.w * c_in).enumerate() {
                let at = ((ih + ph) * wp + pw) * c_in;
                xp[at..at + row.len()].copy_from_slice(row);
            }
            let dz = &c.dz[s * out_len..(s + 1) * out_len];
            for tile in 0..th * tw {
                let (ty, tx) = (tile / tw, tile % tw);
                let corner = (2 * ty * wp + 2 * tx) * c_in;
                // SAFETY (both blocks): the CPU has the instructions (`run`'s contract); the
                // 4x4 window lies inside `xp` and the stores inside `v` and `m` (the asserts:
                // `fill < block`), the dY loads inside `dz` (checked per position).
                for c0 in (0..c_in).step_by(w) {
                    unsafe {
                        let out = v.as_mut_ptr().add(fill * c_in + c0);
                        input_transform::<V>(xp.as_ptr().add(corner + c0), wp, c_in, out, block * c_in);
                    }
                }
                // Which of the tile's 2x2 outputs exist (the last tiles of an odd size).
                let inside = |i: usize, j: usize| 2 * ty + i < g.oh && 2 * tx + j < g.ow;
                let present = [[inside(0, 0), inside(0, 1)], [inside(1, 0), inside(1, 1)]];
                for c0 in (0..c_out).step_by(w) {
                    unsafe {
                        let zero = V::splat(0.0);
                        let mut r = [[zero; 4]; 2];
                        // A dY Aᵀ: first along W, then along H (A's rows: 1 0, 1 1, 1 -1, 0 -1).
                        for (i, r) in r.iter_mut().enumerate() {
                            let at = ((2 * ty + i) * g.ow + 2 * tx) * c_out + c0;
                            let a = if present[i][0] {
                                V::load(dz.as_ptr().add(at))
                            } else {
                                zero
                            };
                            let b = if present[i][1] {
                                V::load(dz.as_ptr().add(at + c_out))
                            } else {
                                zero
                            };
                            *r = [a, a.add(b), a.sub(b), zero.sub(b)];
                        }
                        for j in 0..4 {
                            let (a, b) = (r[0][j], r[1][j]);
                            let col = [a, a.add(b), a.sub(b), zero.sub(b)];
                            for (i, e) in col.iter().enumerate() {
                                e.store(m.as_mut_ptr().add(((i * 4 + j) * block + fill) * c_out + c0));
                            }
                        }
                    }
                }
                fill += 1;
                if fill == block {
                    multiply::<N, P, V>(c_in, c_out, block, fill, v, m, du);
                    fill = 0;
                }
            }
        }
        if fill > 0 {
            multiply::<N, P, V>(c_in, c_out, block, fill, v, m, du);
        }
    }

    /// `dU_ξ[ci] += Σ_t V_ξ[t, ci] · dM_ξ[t]` over the first `count` tiles of the block, `P`
    /// input channels of `N` registers of output channels at a time.
    #[inline(always)]
    fn multiply<const N: usize, const P: usize, V: Vector>(
        c_in: usize,
        c_out: usize,
        block: usize,
        count: usize,
        v: &[f32],
        m: &[f32],
        du: &mut [f32],
    ) {
        let w = V::WIDTH;
        assert!(count <= block && v.len() >= 16 * block * c_in && m.len() >= 16 * block * c_out);
        assert!(c_out.is_multiple_of(N * w) && du.len() >= 16 * c_in * c_out);
        // SAFETY: the CPU has the instructions (`run`'s contract); the reads and writes stay
        // inside `v`, `m` and `du` (the asserts above; rows past C_in are never touched).
        unsafe {
            let zero = V::splat(0.0);
            for xi in 0..16 {
                let (vb, mb) = (
                    v.as_ptr().add(xi * block * c_in),
                    m.as_ptr().add(xi * block * c_out),
                );
                let d = du.as_mut_ptr().add(xi * c_in * c_out);
                for g0 in (0..c_out).step_by(N * w) {
                    for c0 in (0..c_in).step_by(P) {
                        let rows = P.min(c_in - c0);
                        let mut acc = [[zero; N]; P];
                        for (p, a) in acc.iter_mut().enumerate().take(rows) {
                            for (i, a) in a.iter_mut().enumerate() {
                                *a = V::load(d.add((c0 + p) * c_out + g0 + i * w));
                            }
                        }
                        for t in 0..count {
                            let mut dm = [zero; N];
                            for (i, v) in dm.iter_mut().enumerate() {
                                *v = V::load(mb.add(t * c_out + g0 + i * w));
                            }
                            let vr = vb.add(t * c_in + c0);
                            for (p, a) in acc.iter_mut().enumerate() {
                                let x = V::splat(*vr.add(p.min(rows - 1)));
                                for i in 0..N {
                                    a[i] = a[i].fmadd(x, dm[i]);
                                }
                            }
                        }
                        for (p, a) in acc.iter().enumerate().take(rows) {
                            for (i, s) in a.iter().enumerate() {
                                s.store(d.add((c0 + p) * c_out + g0 + i * w));
                            }
                        }
                    }
                }
            }
        }
    }
}
