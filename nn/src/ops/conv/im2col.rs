//! im2col and col2im for channels-last convolution: the matrix `B` of the lecture's slices
//! `B_ij` (one row per output position, `K = f_H·f_W·C_in` columns ordered `(kh, kw, ci)` like
//! a kernel `W_c`), and its adjoint, which adds a gradient `dB` back into the input.
//!
//! `B` is built one sample at a time from the sample surrounded by its zero padding, so no tap
//! needs a bounds check. It is stored in one of two layouts, whichever makes the copies long:
//!
//! - row-major (`[rows, K]`) when a kernel row holds many elements (`f_W·C_in >= 16`): each
//!   slice's kernel row is one contiguous run of the padded input;
//! - column-major (`Bᵀ`, `[K, rows]`) otherwise (a single input channel, say): each tap of a
//!   whole output row is one run.
//!
//! [`Layout::view`] turns either into the `[rows, K]` matrix the GEMMs read.

use super::geometry::ConvGeometry;
use autograd::runtime::gemm::{MatMut, MatRef};
use autograd::runtime::{buffer, simd};
use autograd::{Element, Result};
use std::ops::Range;

/// How a buffer holds `B` (or `dB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[rows, K]`, a row per output position.
    RowMajor,
    /// `[K, rows]`, a row per tap.
    ColumnMajor,
}

impl Layout {
    /// The layout whose copies are longest for this convolution.
    pub(crate) fn for_geometry(g: &ConvGeometry) -> Self {
        if g.kw * g.c_in >= 16 && g.cfg.dilation.1 == 1 {
            Layout::RowMajor
        } else {
            Layout::ColumnMajor
        }
    }

    /// The `[rows, K]` matrix `B` held in `buf`.
    pub(crate) fn view<T>(self, buf: &[T], rows: usize, k: usize) -> Result<MatRef<'_, T>> {
        match self {
            Layout::RowMajor => MatRef::new(buf, rows, k),
            Layout::ColumnMajor => MatRef::strided(buf, rows, k, 1, rows),
        }
    }

    /// The `[rows, K]` matrix `dB` to be written into `buf`.
    pub(crate) fn view_mut<T>(self, buf: &mut [T], rows: usize, k: usize) -> Result<MatMut<'_, T>> {
        match self {
            Layout::RowMajor => MatMut::new(buf, rows, k),
            Layout::ColumnMajor => MatMut::strided(buf, rows, k, 1, rows),
        }
    }
}

/// One sample's input inside its zero padding, so that every tap of every window reads
/// inside the buffer.
pub(crate) fn pad_sample<T: Element>(x: &[T], g: &ConvGeometry, xp: &mut [T]) {
    let (ph, pw, c) = (g.cfg.padding.0, g.cfg.padding.1, g.c_in);
    let wp = g.padded().1;
    let (row_len, inner) = (wp * c, g.w * c);
    if ph > 0 || pw > 0 {
        // Only the border is zeroed (the rows above and below, the columns left and right
        // of each row, and anything after): the inside is overwritten below.
        xp[..ph * row_len].fill(T::ZERO);
        xp[(ph + g.h) * row_len..].fill(T::ZERO);
        for ih in 0..g.h {
            let at = (ih + ph) * row_len;
            xp[at..at + pw * c].fill(T::ZERO);
            xp[at + pw * c + inner..at + row_len].fill(T::ZERO);
        }
    }
    for (ih, row) in x.chunks_exact(inner).enumerate() {
        let at = (ih + ph) * row_len + pw * c;
        xp[at..at + inner].copy_from_slice(row);
    }
}

/// The offset in the padded sample of tap `(kh, kw)` of output position `(oh, ow)`.
#[inline]
fn tap_offset(g: &ConvGeometry, wp: usize, oh: usize, ow: usize, kh: usize, kw: usize) -> usize {
    let (s, d) = (g.cfg.stride, g.cfg.dilation);
    ((oh * s.0 + kh * d.0) * wp + ow * s.1 + kw * d.1) * g.c_in
}

/// The runs one sample's slices are made of, the traversal im2col and col2im share: for each
/// run, `f(b_at, at, len, step)` with `b_at` where its `len` consecutive values start in `B`
/// (the sample's rows start at row `first` of `rows`), `at` where it starts in the padded
/// sample and `step` the distance between its values there.
///
/// - row-major: slice `B_ij`'s kernel row `kh` is one run of `f_W·C_in` (dilation 1 along W);
/// - column-major: tap `(kh, kw, ci)` of one output row is one run of `OW` values, `s·C_in`
///   apart in the padded sample.
#[inline(always)]
fn for_each_run(
    g: &ConvGeometry,
    layout: Layout,
    first: usize,
    rows: usize,
    mut f: impl FnMut(usize, usize, usize, usize),
) {
    let (c, k, wp) = (g.c_in, g.patch(), g.padded().1);
    match layout {
        Layout::RowMajor => {
            let run = g.kw * c;
            for r in 0..g.oh * g.ow {
                let (oh, ow) = (r / g.ow, r % g.ow);
                for kh in 0..g.kh {
                    f(
                        (first + r) * k + kh * run,
                        tap_offset(g, wp, oh, ow, kh, 0),
                        run,
                        1,
                    );
                }
            }
        }
        Layout::ColumnMajor => {
            let step = g.cfg.stride.1 * c;
            for kh in 0..g.kh {
                for kw in 0..g.kw {
                    for ci in 0..c {
                        let j = (kh * g.kw + kw) * c + ci;
                        for oh in 0..g.oh {
                            let at = tap_offset(g, wp, oh, 0, kh, kw) + ci;
                            f(j * rows + first + oh * g.ow, at, g.ow, step);
                        }
                    }
                }
            }
        }
    }
}

/// im2col for the samples `samples` of the batch: writes their slices `B_ij` into `b` in
/// `layout` (every element written; zeros where a slice reaches into the padding).
pub(crate) fn im2col<T: Element>(
    x: &[T],
    g: &ConvGeometry,
    samples: Range<usize>,
    layout: Layout,
    b: &mut [T],
) {
    let (c, per_sample) = (g.c_in, g.oh * g.ow);
    let (in_len, rows) = (g.h * g.w * c, samples.len() * per_sample);
    let (hp, wp) = g.padded();
    let mut xp = buffer::take_dirty::<T>(hp * wp * c);
    for (local, n) in samples.enumerate() {
        pad_sample(&x[n * in_len..(n + 1) * in_len], g, &mut xp);
        for_each_run(g, layout, local * per_sample, rows, |b_at, at, len, step| {
            let dst = &mut b[b_at..b_at + len];
            if step == 1 {
                dst.copy_from_slice(&xp[at..at + len]);
            } else {
                for (d, &v) in dst.iter_mut().zip(xp[at..].iter().step_by(step)) {
                    *d = v;
                }
            }
        });
    }
    buffer::recycle(xp);
}

/// col2im, the adjoint of [`im2col`]: adds every element of `db` (`dB` in `layout`, for the
/// samples `samples`) back into the input position its slice read (`dZ_slice,ij += ...`),
/// accumulating where slices overlap, and writes those samples' input gradient to `dx`.
pub(crate) fn col2im<T: Element>(
    db: &[T],
    g: &ConvGeometry,
    samples: Range<usize>,
    layout: Layout,
    dx: &mut [T],
) {
    simd::dispatch(
        #[inline(always)]
        || col2im_kernel(db, g, samples, layout, dx),
    )
}

#[inline(always)]
fn col2im_kernel<T: Element>(
    db: &[T],
    g: &ConvGeometry,
    samples: Range<usize>,
    layout: Layout,
    dx: &mut [T],
) {
    let (c, per_sample) = (g.c_in, g.oh * g.ow);
    let (in_len, rows) = (g.h * g.w * c, samples.len() * per_sample);
    let (ph, pw) = g.cfg.padding;
    let (hp, wp) = g.padded();
    let mut dxp = buffer::take_dirty::<T>(hp * wp * c);
    for local in 0..samples.len() {
        dxp.fill(T::ZERO);
        for_each_run(g, layout, local * per_sample, rows, |b_at, at, len, step| {
            let src = &db[b_at..b_at + len];
            if step == 1 {
                for (d, &v) in dxp[at..at + len].iter_mut().zip(src) {
                    *d += v;
                }
            } else {
                for (d, &v) in dxp[at..].iter_mut().step_by(step).zip(src) {
                    *d += v;
                }
            }
        });
        // The interior is the gradient; what fell on the padding is dropped.
        let dxs = &mut dx[local * in_len..(local + 1) * in_len];
        for (ih, row) in dxs.chunks_exact_mut(g.w * c).enumerate() {
            let at = ((ih + ph) * wp + pw) * c;
            row.copy_from_slice(&dxp[at..at + g.w * c]);
        }
    }
    buffer::recycle(dxp);
}
