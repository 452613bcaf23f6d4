//! The passes of batch normalisation over a channels-last tensor, seen as a row-major matrix
//! of `m` rows (positions) and `C` columns (channels): per-channel sums over the rows, and
//! row-wise maps. Both split the rows into parts of a fixed size (set by `C` alone, never by
//! the thread count), run the parts across the pool's threads when the tensor is large, and
//! add the parts' sums in part order, so results are bitwise the same on any thread count.

use autograd::Element;
use autograd::runtime::{parallel, simd};
use std::ops::Range;

/// Elements per part: large enough to pay for a hand-off, small enough to stay in L2.
const PART_ELEMENTS: usize = 1 << 15;

/// Below this many elements a pass stays on the calling thread.
const SPLIT_ELEMENTS: usize = 1 << 16;

/// The rows of each part, for `rows` rows of `c` channels.
fn parts(rows: usize, c: usize) -> impl Iterator<Item = Range<usize>> {
    let per = (PART_ELEMENTS / c.max(1)).max(1);
    (0..rows.div_ceil(per)).map(move |i| i * per..((i + 1) * per).min(rows))
}

/// `k` per-channel sums (`k·c` values, sum `j` of channel `ch` at `j·c + ch`): `add(rows,
/// acc)` adds the contributions of `rows` into a zeroed `acc` of `k·c` values; the parts'
/// accumulators are added in part order.
pub(crate) fn channel_sums(
    rows: usize,
    c: usize,
    k: usize,
    add: impl Fn(Range<usize>, &mut [f64]) + Sync,
) -> Vec<f64> {
    let split = parallel::worth_splitting(
        rows.div_ceil((PART_ELEMENTS / c.max(1)).max(1)),
        rows * c >= SPLIT_ELEMENTS,
    );
    let partial = parallel::for_each_part(parts(rows, c), split, |_, range| {
        let mut acc = vec![0.0f64; k * c];
        simd::dispatch(
            #[inline(always)]
            || add(range, &mut acc),
        );
        acc
    });
    let mut total = vec![0.0f64; k * c];
    for acc in partial {
        total.iter_mut().zip(&acc).for_each(|(t, a)| *t += a);
    }
    total
}

/// Runs `map(rows, out_rows)` over the parts of `out` (`c` values a row), where `out_rows`
/// is the part's share of `out`.
pub(crate) fn map_rows<T: Element>(out: &mut [T], c: usize, map: impl Fn(Range<usize>, &mut [T]) + Sync) {
    let rows = out.len() / c.max(1);
    let ranges: Vec<Range<usize>> = parts(rows, c).collect();
    let split = parallel::worth_splitting(ranges.len(), out.len() >= SPLIT_ELEMENTS);
    let mut rest = out;
    let pieces = ranges.into_iter().map(move |r| {
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(r.len() * c);
        rest = tail;
        (r, part)
    });
    parallel::for_each_part(pieces, split, |_, (r, part)| {
        simd::dispatch(
            #[inline(always)]
            || map(r, part),
        )
    });
}

/// Channels per block of [`add_column_pairs`]: 16 `f64` sums of each kind stay in registers
/// (4 AVX-512 or 8 AVX2 registers) while the rows stream past.
const BLOCK: usize = 16;

/// For the rows `rows` of two `[m, c]` matrices `a` and `b`, adds `f(a, b, k)`'s two values
/// per element into `acc[..c]` and `acc[c..2c]`, per channel, where `k` is that channel's
/// value in `per_channel`.
///
/// Each channel's values are added in row order, as a plain row-by-row loop would add them
/// (so the sums do not depend on how the channels are blocked), but a block of
/// [`BLOCK`] channels at a time with its sums held in registers: a row-by-row loop over a
/// runtime `c` loads and stores both accumulators for every element.
#[inline(always)]
pub(crate) fn add_column_pairs<T: Element>(
    a: &[T],
    b: &[T],
    c: usize,
    per_channel: &[f64],
    rows: Range<usize>,
    acc: &mut [f64],
    f: impl Fn(f64, f64, f64) -> (f64, f64),
) {
    let (s1, s2) = acc.split_at_mut(c);
    let full = c / BLOCK * BLOCK;
    for g0 in (0..full).step_by(BLOCK) {
        let k: [f64; BLOCK] = std::array::from_fn(|l| per_channel[g0 + l]);
        let (mut p, mut q) = ([0.0f64; BLOCK], [0.0f64; BLOCK]);
        for r in rows.clone() {
            let at = r * c + g0;
            let (ar, br) = (&a[at..at + BLOCK], &b[at..at + BLOCK]);
            for l in 0..BLOCK {
                let (u, v) = f(ar[l].to_f64(), br[l].to_f64(), k[l]);
                p[l] += u;
                q[l] += v;
            }
        }
        for l in 0..BLOCK {
            s1[g0 + l] += p[l];
            s2[g0 + l] += q[l];
        }
    }
    if full < c {
        for r in rows {
            let span = r * c + full..(r + 1) * c;
            let lanes = s1[full..].iter_mut().zip(&mut s2[full..]);
            for ((a1, a2), ((&u, &v), &k)) in
                lanes.zip(a[span.clone()].iter().zip(&b[span]).zip(&per_channel[full..]))
            {
                let (u, v) = f(u.to_f64(), v.to_f64(), k);
                *a1 += u;
                *a2 += v;
            }
        }
    }
}

/// Adds row after row of `rows` (of a `[m, c]` matrix `x`) into `acc[..c]`: `Σ (x − shift)`,
/// and into `acc[c..2c]`: `Σ (x − shift)²`, per channel.
#[inline(always)]
pub(crate) fn add_shifted_moments<T: Element>(
    x: &[T],
    c: usize,
    shift: &[f64],
    rows: Range<usize>,
    acc: &mut [f64],
) {
    add_column_pairs(x, x, c, shift, rows, acc, |v, _, k| {
        let d = v - k;
        (d, d * d)
    });
}
