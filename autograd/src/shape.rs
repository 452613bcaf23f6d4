//! Shapes, row-major strides and NumPy broadcasting.

use crate::error::{Error, Result};
use smallvec::SmallVec;

/// A tensor's shape: the length of each axis, outermost first. Up to six axes live inline.
pub type Shape = SmallVec<[usize; 6]>;

/// The number of elements of a shape (1 for the scalar shape `[]`).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major (C order) strides of a contiguous tensor of this shape, in elements.
pub fn strides(shape: &[usize]) -> Shape {
    let mut s: Shape = smallvec::smallvec![0; shape.len()];
    let mut acc = 1;
    for i in (0..shape.len()).rev() {
        s[i] = acc;
        acc *= shape[i];
    }
    s
}

/// Checks that `axis` is a valid axis of a tensor of rank `rank`.
pub fn check_axis(op: &str, shape: &[usize], axis: usize) -> Result<()> {
    if axis >= shape.len() {
        return Err(Error::invalid(
            op,
            shape,
            format!("axis {axis} is out of range for rank {}", shape.len()),
        ));
    }
    Ok(())
}

/// The shape two operands broadcast to under NumPy's rules: align the shapes at their last
/// axis; two lengths fit when they are equal or one of them is 1.
///
/// ```
/// use autograd::shape::broadcast_shapes;
/// assert_eq!(broadcast_shapes("add", &[4, 1, 3], &[5, 1]).unwrap().as_slice(), &[4, 5, 3]);
/// assert!(broadcast_shapes("add", &[2, 3], &[4]).is_err());
/// ```
pub fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let rank = a.len().max(b.len());
    let mut out: Shape = smallvec::smallvec![0; rank];
    for i in 0..rank {
        let da = if i < rank - a.len() {
            1
        } else {
            a[i - (rank - a.len())]
        };
        let db = if i < rank - b.len() {
            1
        } else {
            b[i - (rank - b.len())]
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shapes(
                op,
                a,
                b,
                format!("axis {i} of the broadcast result has lengths {da} and {db}"),
            ));
        };
    }
    Ok(out)
}

/// Strides for reading a tensor of shape `from` as if it had the (broadcast) shape `to`:
/// axes that are broadcast get stride 0.
pub(crate) fn broadcast_strides(from: &[usize], to: &[usize]) -> Shape {
    let own = strides(from);
    let offset = to.len() - from.len();
    let mut s: Shape = smallvec::smallvec![0; to.len()];
    for i in 0..from.len() {
        if from[i] != 1 {
            s[i + offset] = own[i];
        }
    }
    s
}
