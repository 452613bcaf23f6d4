//! The bias rule shared by convolution and dense layers: the forward pass adds `b_c` to every
//! output position's channel `c`, and the backward pass sums the gradient over positions,
//! `db_c = Σ_ij dZ_ijc` (`docs/lecture.md#convolution-backward`). Both read a row-major
//! matrix with one row per position and one column per channel.

use autograd::Element;

/// Adds `b` to every row of the row-major matrix `z` (`b` has one entry per column).
#[inline(always)]
pub(crate) fn add_row_vector<T: Element>(z: &mut [T], b: &[T]) {
    for row in z.chunks_exact_mut(b.len()) {
        for (v, &bias) in row.iter_mut().zip(b) {
            *v += bias;
        }
    }
}

/// The sums of the columns of a row-major matrix with `cols` columns.
///
/// Adding row after row into `cols` sums makes each row wait for the previous one's stores
/// (LeNet's 6 kernels: a 6-value row at a time, 4% of a batch-16 training step). Narrow
/// matrices are therefore summed `R` rows at a time (`R · cols <= 64` partial sums, one per
/// column and row phase), and the phases added at the end.
#[inline(always)]
pub(crate) fn column_sums<T: Element>(z: &[T], cols: usize) -> Vec<T> {
    let mut sums = vec![T::ZERO; cols];
    let add = |sums: &mut [T], row: &[T]| sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
    if cols == 0 || cols >= 32 {
        z.chunks_exact(cols.max(1)).for_each(|row| add(&mut sums, row));
        return sums;
    }
    let phases = (64 / cols) * cols;
    let mut partial = [T::ZERO; 64];
    let mut rows = z.chunks_exact(phases);
    for block in &mut rows {
        add(&mut partial[..phases], block);
    }
    partial[..phases]
        .chunks_exact(cols)
        .for_each(|phase| add(&mut sums, phase));
    rows.remainder()
        .chunks_exact(cols)
        .for_each(|row| add(&mut sums, row));
    sums
}
