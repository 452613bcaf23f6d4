//! Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016) for 3x3 convolutions of stride
//! 1: each 2x2 block of outputs (a *tile*) is computed from the 4x4 input window it reads with
//! 16 multiplications per channel pair instead of the direct sum's 36.
//!
//! With `d` a tile's 4x4 input window of one channel and `g` a 3x3 kernel,
//!
//! `Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A`,
//!
//! ```text
//!      | 1  0 -1  0 |        | 1    0    0  |
//! Bᵀ = | 0  1  1  0 |    G = | 1/2  1/2  1/2|    Aᵀ = | 1  1  1  0 |
//!      | 0 -1  1  0 |        | 1/2 -1/2  1/2|         | 0  1 -1 -1 |
//!      | 0  1  0 -1 |        | 0    0    1  |
//! ```
//!
//! is the 2x2 block of `Z_ij = Σ_{kh,kw} d[i+kh, j+kw] · g[kh, kw]`, the lecture's sum over a
//! slice `B_ij`, exactly (in exact arithmetic). Over channels the 16 products `⊙` become 16
//! matrix products: `M_ξ = V_ξ · U_ξ` with `V_ξ` the tiles' transformed inputs (`[tiles, C_in]`)
//! and `U_ξ = (G g Gᵀ)_ξ` the transformed kernels (`[C_in, C_out]`), for `ξ` in the 4x4 grid.
//!
//! The same code computes the input rule of such a layer: `dZ_slice += Σ_c dZ_ijc · W_c`
//! summed over the positions that read an input element is a 3x3 convolution of `dZ`, padded
//! by `2 - p`, with the kernels turned by 180° and their channel axes swapped
//! ([`Winograd::for_input_grad`]). The kernel rule goes through the same transforms backwards
//! (`weight_grad`: `dg = Gᵀ [Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)] G`).
//!
//! Rounding differs from the direct sums (the transforms add and subtract inputs before they
//! are multiplied); `tests/f32_kernels.rs` derives the bound it must stay within. A NaN or an
//! infinity can also come out differently (`∞ - ∞` inside a transform is NaN where the direct
//! sum gives `∞`), so the op recomputes any chunk whose result is not finite with the direct
//! kernels, which follow IEEE arithmetic term by term: NaN semantics stay those of PyTorch.
//!
//! Used for `f32` with AVX2 or AVX-512 where both channel counts are whole registers (see
//! [`ConvPlan`](super::ConvPlan)).

use super::geometry::{Conv2dConfig, ConvGeometry};
#[cfg(target_arch = "x86_64")]
use super::vector::{Ymm, Zmm};
use autograd::Element;
use autograd::runtime::buffer::{self, LINE_PAD, line_offset};
use autograd::runtime::simd::{as_f32, as_f32_mut};

mod weight_grad;

/// Tiles transformed and multiplied together: their transformed inputs (`16 · TILES · C_in`
/// values) and products (`16 · TILES · C_out`) stay in L2, each `U_ξ` in L1 while the tiles
/// pass.
const TILES: usize = 24;

/// `G`, the kernel transform.
const G: [[f64; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

/// Whether F(2x2, 3x3) computes `g` at `width`-lane registers: a 3x3 kernel, stride and
/// dilation 1, padding at most 2 (so that the input rule is a convolution too), both channel
/// counts whole registers and at most 64 output channels (the register budget of the
/// products).
pub(crate) fn applies(g: &ConvGeometry, width: usize) -> bool {
    let c = g.cfg;
    g.kh == 3
        && g.kw == 3
        && c.stride == (1, 1)
        && c.dilation == (1, 1)
        && c.padding.0 <= 2
        && c.padding.1 <= 2
        && g.c_in.is_multiple_of(width)
        && g.c_out.is_multiple_of(width)
        && g.c_out <= 64
}

/// The geometry of the input rule of `g` as a convolution: `dZ` (`[N, OH, OW, C_out]`) padded
/// by `2 - p`, with `C_in` kernels of `C_out` channels; its output is `[N, H, W, C_in]`.
pub(crate) fn input_grad_geometry(g: &ConvGeometry) -> ConvGeometry {
    let p = g.cfg.padding;
    let cfg = Conv2dConfig {
        stride: (1, 1),
        padding: (2 - p.0, 2 - p.1),
        dilation: (1, 1),
    };
    ConvGeometry::new(
        "conv2d",
        &[g.n, g.oh, g.ow, g.c_out],
        &[g.c_in, 3, 3, g.c_out],
        cfg,
    )
    .expect("the input rule of a valid 3x3 convolution is one")
}

/// A layer's kernels transformed for F(2x2, 3x3) (`f32` only).
// Off x86-64 the plan never chooses it: the kernel is never built, its fields never read.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct Winograd {
    /// `U_ξ = (G g Gᵀ)_ξ` for every kernel and channel, `[16, C_in, C_out]` from `u_at` (a
    /// cache-line boundary).
    u: Vec<f32>,
    u_at: usize,
    /// The bias (zeros without one), `C_out` values.
    bias: Vec<f32>,
    /// The convolution computed.
    g: ConvGeometry,
    /// The vector width.
    width: usize,
}

impl Winograd {
    /// The forward pass of `g` (where [`applies`]) with kernels `w` (`[C_out, 3, 3, C_in]`) and
    /// bias `b`.
    pub fn new<T: Element>(w: &[T], b: Option<&[T]>, g: &ConvGeometry, width: usize) -> Self {
        let w = as_f32(w).expect("the plan chooses Winograd for f32 only");
        let (c_in, c_out) = (g.c_in, g.c_out);
        assert_eq!(w.len(), c_out * 9 * c_in);
        Self::build(
            |co, kh, kw, ci| w[((co * 3 + kh) * 3 + kw) * c_in + ci],
            b,
            g,
            width,
        )
    }

    /// The input rule of `g` (where [`applies`]) for kernels `w` (`[C_out, 3, 3, C_in]`): the
    /// forward pass of [`input_grad_geometry`] with `W'[ci, kh, kw, co] = W[co, 2-kh, 2-kw, ci]`.
    pub fn for_input_grad<T: Element>(w: &[T], g: &ConvGeometry, width: usize) -> Self {
        let w = as_f32(w).expect("the plan chooses Winograd for f32 only");
        let (c_in, c_out) = (g.c_in, g.c_out);
        assert_eq!(w.len(), c_out * 9 * c_in);
        let gt = input_grad_geometry(g);
        // In the input rule's terms: kernel `ci` (an output channel), channel `co`.
        let flipped =
            |ci: usize, kh: usize, kw: usize, co: usize| w[((co * 3 + 2 - kh) * 3 + 2 - kw) * c_in + ci];
        Self::build(flipped, None::<&[T]>, &gt, width)
    }

    fn build<T: Element>(
        w: impl Fn(usize, usize, usize, usize) -> f32,
        b: Option<&[T]>,
        g: &ConvGeometry,
        width: usize,
    ) -> Self {
        assert!(applies(g, width));
        let (c_in, c_out) = (g.c_in, g.c_out);
        let mut u = vec![0.0f32; 16 * c_in * c_out + LINE_PAD];
        let u_at = line_offset(&u);
        for co in 0..c_out {
            for ci in 0..c_in {
                // G g Gᵀ in f64, rounded once.
                let mut gg = [[0.0f64; 3]; 4];
                for (i, row) in gg.iter_mut().enumerate() {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = (0..3).map(|k| G[i][k] * f64::from(w(co, k, j, ci))).sum();
                    }
                }
                for i in 0..4 {
                    for j in 0..4 {
                        let v: f64 = (0..3).map(|k| gg[i][k] * G[j][k]).sum();
                        u[u_at + ((i * 4 + j) * c_in + ci) * c_out + co] = v as f32;
                    }
                }
            }
        }
        let bias = match b {
            Some(b) => as_f32(b).expect("f32, as w").to_vec(),
            None => vec![0.0; c_out],
        };
        Winograd {
            u,
            u_at,
            bias,
            g: *g,
            width,
        }
    }

    /// The convolution of `samples` samples `x` (`[samples, H, W, C_in]` of the geometry it
    /// was built for) into `z` (`[samples, OH, OW, C_out]`); `false` if any value of `z` is not
    /// finite (the caller then recomputes them with the direct kernels).
    pub fn forward<T: Element>(&self, x: &[T], samples: usize, z: &mut [T]) -> bool {
        let (x, z) = (
            as_f32(x).expect("checked in new"),
            as_f32_mut(z).expect("checked in new"),
        );
        let g = &self.g;
        let (in_len, out_len) = (g.h * g.w * g.c_in, g.oh * g.ow * g.c_out);
        assert!(x.len() == samples * in_len && z.len() == samples * out_len);
        let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
        // The padded sample: `p` zeros before, and after as many as the last tiles read.
        let (hp, wp) = (2 * th + 2, 2 * tw + 2);
        let mut xp = buffer::take_zeroed::<f32>(hp * wp * g.c_in);
        let mut v = buffer::take_dirty::<f32>(16 * TILES * g.c_in);
        let mut m = buffer::take_dirty::<f32>(16 * TILES * g.c_out);
        let mut finite = true;
        let (ph, pw) = g.cfg.padding;
        for (x, z) in x.chunks_exact(in_len).zip(z.chunks_exact_mut(out_len)) {
            for (ih, row) in x.chunks_exact(g.w * g.c_in).enumerate() {
                let at = ((ih + ph) * wp + pw) * g.c_in;
                xp[at..at + row.len()].copy_from_slice(row);
            }
            finite &= self.sample(&xp, wp, &mut v, &mut m, z);
        }
        buffer::recycle(xp);
        buffer::recycle(v);
        buffer::recycle(m);
        finite
    }

    /// One padded sample `xp` (rows of `wp` positions) into `z`, [`TILES`] tiles at a time.
    fn sample(&self, xp: &[f32], wp: usize, v: &mut [f32], m: &mut [f32], z: &mut [f32]) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let g = &self.g;
            // SAFETY: each kernel runs only where its instructions exist (the plan's level).
            unsafe {
                match (self.width, g.c_out / self.width) {
                    (16, 1) => x86::run::<1, 8, Zmm>(self, xp, wp, v, m, z),
                    (16, 2) => x86::run::<2, 12, Zmm>(self, xp, wp, v, m, z),
                    (16, 3) => x86::run::<3, 8, Zmm>(self, xp, wp, v, m, z),
                    (16, _) => x86::run::<4, 6, Zmm>(self, xp, wp, v, m, z),
                    // AVX2's 16 registers: 12 sums of 2 registers, 2 of U and a broadcast.
                    (_, n) if n % 2 == 0 => x86::run::<2, 6, Ymm>(self, xp, wp, v, m, z),
                    _ => x86::run::<1, 12, Ymm>(self, xp, wp, v, m, z),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (xp, wp, v, m, z);
            unreachable!("the plan chooses Winograd on x86-64 only")
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::vector::Vector;
    use super::{TILES, Winograd};
    use autograd::runtime::simd;

    /// Runs the sample's kernels compiled for the register type's instruction set.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA, and AVX-512F for `Zmm`.
    pub unsafe fn run<const N: usize, const P: usize, V: Vector>(
        k: &Winograd,
        xp: &[f32],
        wp: usize,
        v: &mut [f32],
        m: &mut [f32],
        z: &mut [f32],
    ) -> bool {
        simd::dispatch_at(
            V::LEVEL,
            #[inline(always)]
            || sample::<N, P, V>(k, xp, wp, v, m, z),
        )
    }

    /// Every tile of one sample: transform the inputs, multiply, transform the products back.
    #[inline(always)]
    fn sample<const N: usize, const P: usize, V: Vector>(
        k: &Winograd,
        xp: &[f32],
        wp: usize,
        v: &mut [f32],
        m: &mut [f32],
        z: &mut [f32],
    ) -> bool {
        let g = &k.g;
        let (c_in, c_out, w) = (g.c_in, g.c_out, V::WIDTH);
        let (th, tw) = (g.oh.div_ceil(2), g.ow.div_ceil(2));
        assert!(c_in.is_multiple_of(w) && c_out.is_multiple_of(N * w));
        assert!(xp.len() >= (2 * th + 2) * wp * c_in && wp >= 2 * tw + 2);
        assert!(v.len() >= 16 * TILES * c_in && m.len() >= 16 * TILES * c_out);
        assert!(z.len() == g.oh * g.ow * c_out && k.bias.len() == c_out);
        assert!(k.u.len() - k.u_at >= 16 * c_in * c_out);
        // SAFETY (every block below): the CPU has the instructions (`run`'s contract); each
        // tile's 4x4 window lies inside `xp` (the assert on its size), `v` and `m` hold
        // `16 · TILES` rows of `C_in` and `C_out`, `U` 16 blocks of `C_in · C_out`, and the
        // outputs written are inside `z` (checked per position).
        let zero = unsafe { V::splat(0.0) };
        let mut bad = zero;
        let tiles = th * tw;
        for first in (0..tiles).step_by(TILES) {
            let count = TILES.min(tiles - first);
            // Bᵀ d B for each tile and channel register: first along W, then along H.
            for t in 0..count {
                let (ty, tx) = ((first + t) / tw, (first + t) % tw);
                let corner = (2 * ty * wp + 2 * tx) * c_in;
                for c0 in (0..c_in).step_by(w) {
                    unsafe {
                        let out = v.as_mut_ptr().add(t * c_in + c0);
                        input_transform::<V>(xp.as_ptr().add(corner + c0), wp, c_in, out, TILES * c_in);
                    }
                }
            }
            // M_ξ = V_ξ · U_ξ, `P` tiles of `N` registers at a time, the last few 4 or 2 at
            // a time.
            let main = count / P * P;
            multiply::<N, P, V>(k, v, m, 0..main);
            let rest = count - main;
            if rest > 0 && P > 4 && rest <= 4 {
                multiply::<N, 4, V>(k, v, m, main..count);
            } else if rest > 0 {
                multiply::<N, P, V>(k, v, m, main..count);
            }
            // Aᵀ M A + b for each tile: first along W, then along H; outputs past OH or OW
            // (the last tiles of an odd size) are not written.
            for t in 0..count {
                let (ty, tx) = ((first + t) / tw, (first + t) % tw);
                for c0 in (0..c_out).step_by(w) {
                    unsafe {
                        let q = m.as_ptr().add(t * c_out + c0);
                        let mut s = [[zero; 2]; 4];
                        for (i, s) in s.iter_mut().enumerate() {
                            let e: [V; 4] =
                                std::array::from_fn(|j| V::load(q.add((i * 4 + j) * TILES * c_out)));
                            *s = [e[0].add(e[1]).add(e[2]), e[1].sub(e[2]).sub(e[3])];
                        }
                        let b = V::load(k.bias.as_ptr().add(c0));
                        for j in 0..2 {
                            let y = [
                                s[0][j].add(s[1][j]).add(s[2][j]).add(b),
                                s[1][j].sub(s[2][j]).sub(s[3][j]).add(b),
                            ];
                            for (i, y) in y.iter().enumerate() {
                                let (oy, ox) = (2 * ty + i, 2 * tx + j);
                                if oy < g.oh && ox < g.ow {
                                    // y - y is NaN exactly where y is not finite.
                                    bad = bad.add(y.sub(*y));
                                    y.store(z.as_mut_ptr().add((oy * g.ow + ox) * c_out + c0));
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut lanes = [0.0f32; 16];
        unsafe { bad.store(lanes.as_mut_ptr()) };
        lanes[..w].iter().all(|v| *v == 0.0)
    }

    /// `V = Bᵀ d B` of one channel register of one tile: `d` the 4x4 window from `p` (pixels
    /// `c_in` values apart, rows `wp` pixels), first along W, then along H; `V_ξ` (`ξ = 4i + j`)
    /// is stored at `out + ξ · stride`.
    ///
    /// # Safety
    /// The CPU has the register type's instructions; the window and the 16 stores are inside
    /// their buffers.
    #[inline(always)]
    pub(super) unsafe fn input_transform<V: Vector>(
        p: *const f32,
        wp: usize,
        c_in: usize,
        out: *mut f32,
        stride: usize,
    ) {
        unsafe {
            let zero = V::splat(0.0);
            let mut r = [[zero; 4]; 4];
            for (i, r) in r.iter_mut().enumerate() {
                let d: [V; 4] = std::array::from_fn(|j| V::load(p.add((i * wp + j) * c_in)));
                *r = [d[0].sub(d[2]), d[1].add(d[2]), d[2].sub(d[1]), d[1].sub(d[3])];
            }
            for j in 0..4 {
                let col = [
                    r[0][j].sub(r[2][j]),
                    r[1][j].add(r[2][j]),
                    r[2][j].sub(r[1][j]),
                    r[1][j].sub(r[3][j]),
                ];
                for (i, x) in col.iter().enumerate() {
                    x.store(out.add((i * 4 + j) * stride));
                }
            }
        }
    }

    /// `M_ξ[t] = Σ_ci V_ξ[t, ci] · U_ξ[ci]` for the tiles `tiles` of the block, every `ξ`, `P`
    /// tiles of `N` registers at a time (tiles past the end repeat the last one; their
    /// products are dropped).
    #[inline(always)]
    fn multiply<const N: usize, const P: usize, V: Vector>(
        k: &Winograd,
        v: &[f32],
        m: &mut [f32],
        tiles: std::ops::Range<usize>,
    ) {
        let (c_in, c_out, w) = (k.g.c_in, k.g.c_out, V::WIDTH);
        assert!(tiles.end <= TILES && v.len() >= 16 * TILES * c_in && m.len() >= 16 * TILES * c_out);
        assert!(c_out.is_multiple_of(N * w) && k.u.len() - k.u_at >= 16 * c_in * c_out);
        // SAFETY: the CPU has the instructions (`run`'s contract); the reads and writes stay
        // inside `U`, `v` and `m` (the asserts above).
        unsafe {
            let zero = V::splat(0.0);
            for xi in 0..16 {
                let u = k.u.as_ptr().add(k.u_at + xi * c_in * c_out);
                for g0 in (0..c_out).step_by(N * w) {
                    for t0 in tiles.clone().step_by(P) {
                        let block = P.min(tiles.end - t0);
                        let rows: [*const f32; P] = std::array::from_fn(|p| {
                            v.as_ptr().add((xi * TILES + t0 + p.min(block - 1)) * c_in)
                        });
                        let mut acc = [[zero; N]; P];
                        for ci in 0..c_in {
                            let uv: [V; N] = std::array::from_fn(|i| V::load(u.add(ci * c_out + g0 + i * w)));
                            for p in 0..P {
                                let x = V::splat(*rows[p].add(ci));
                                for i in 0..N {
                                    acc[p][i] = acc[p][i].fmadd(x, uv[i]);
                                }
                            }
                        }
                        for (p, a) in acc.iter().enumerate().take(block) {
                            let out = m.as_mut_ptr().add((xi * TILES + t0 + p) * c_out + g0);
                            for (i, s) in a.iter().enumerate() {
                                s.store(out.add(i * w));
                            }
                        }
                    }
                }
            }
        }
    }
}
