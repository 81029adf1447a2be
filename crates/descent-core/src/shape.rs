//! Shapes, strides and the layout of a view into a buffer.

use crate::error::{Error, Result};
use smallvec::SmallVec;

/// Dimensions of a tensor; inline up to rank 6.
pub type Shape = SmallVec<[usize; 4]>;

/// Elements per step along each dimension; 0 repeats an element (broadcast).
pub type Strides = SmallVec<[usize; 4]>;

/// Where a tensor's elements are in its buffer: element `idx` is at
/// `offset + sum(idx[d] * strides[d])`.
#[derive(Debug, PartialEq, Eq)]
pub struct Layout {
    /// Dimensions.
    pub shape: Shape,
    /// Strides in elements.
    pub strides: Strides,
    /// Index of the first element.
    pub offset: usize,
}

impl Clone for Layout {
    // By hand: `SmallVec`'s `Clone` goes element by element through `Extend`, `from_slice` is a
    // copy (on W4 the derived clone was 5 % of all instructions).
    fn clone(&self) -> Self {
        Layout {
            shape: Shape::from_slice(&self.shape),
            strides: Strides::from_slice(&self.strides),
            offset: self.offset,
        }
    }
}

impl Layout {
    /// The row-major contiguous layout of `shape`.
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout {
            shape: Shape::from_slice(shape),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the elements are in row-major order with no gaps (size-1 dims may have any stride).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&n, &s) in self.shape.iter().zip(&self.strides).rev() {
            if n != 1 && s != expected {
                return false;
            }
            expected *= n;
        }
        true
    }
}

/// The element count of `shape`, or an error naming `op` and the shape if it overflows `usize`.
pub fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::InvalidArgument {
            op,
            message: format!("shape {shape:?} has more elements than fit in memory"),
        })
}

/// Row-major strides of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Strides {
    let mut strides = Strides::from_elem(0, shape.len());
    let mut acc = 1;
    for d in (0..shape.len()).rev() {
        strides[d] = acc;
        acc *= shape[d];
    }
    strides
}

/// The NumPy broadcast of two shapes, or an error naming the op, both shapes and the failing dim
/// (counted in the result's dimensions).
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Shape> {
    let rank = a.len().max(b.len());
    let mut out = Shape::from_elem(0, rank);
    for d in 0..rank {
        let da = (d + a.len()).checked_sub(rank).map_or(1, |i| a[i]);
        let db = (d + b.len()).checked_sub(rank).map_or(1, |i| b[i]);
        out[d] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::ShapeMismatch {
                op,
                lhs: a.into(),
                rhs: b.into(),
                detail: format!("do not broadcast: dim {d} is {da} vs {db} and neither is 1"),
            });
        };
    }
    checked_numel(op, &out)?;
    Ok(out)
}

/// The strides that view a tensor of `shape`/`strides` as the larger `target` shape: new leading
/// dims and expanded size-1 dims get stride 0. The caller has checked that the shapes broadcast.
pub fn broadcast_strides(shape: &[usize], strides: &[usize], target: &[usize]) -> Strides {
    let lead = target.len() - shape.len();
    let mut out = Strides::from_elem(0, target.len());
    for d in 0..shape.len() {
        out[lead + d] = if shape[d] == 1 && target[lead + d] != 1 {
            0
        } else {
            strides[d]
        };
    }
    out
}

/// Turns a possibly negative axis into an index below `rank`.
pub fn normalize_axis(op: &'static str, axis: isize, shape: &[usize]) -> Result<usize> {
    let rank = shape.len() as isize;
    let a = if axis < 0 { axis + rank } else { axis };
    if a < 0 || a >= rank {
        return Err(Error::InvalidAxis {
            op,
            axis,
            shape: shape.into(),
        });
    }
    Ok(a as usize)
}

/// Normalizes a set of axes, sorted, refusing repeats.
pub fn normalize_axes(
    op: &'static str,
    axes: &[isize],
    shape: &[usize],
) -> Result<SmallVec<[usize; 4]>> {
    let mut out: SmallVec<[usize; 4]> = SmallVec::new();
    for &a in axes {
        let n = normalize_axis(op, a, shape)?;
        if out.contains(&n) {
            return Err(Error::InvalidAxis {
                op,
                axis: a,
                shape: shape.into(),
            });
        }
        out.push(n);
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_error_names_op_shapes_and_dim() {
        let e = broadcast_shapes("add", &[4, 3], &[4, 5]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "add: [4, 3] and [4, 5] do not broadcast: dim 1 is 3 vs 5 and neither is 1"
        );
    }

    #[test]
    fn broadcast_prepends_and_expands() {
        assert_eq!(
            broadcast_shapes("add", &[3, 1], &[4]).unwrap().as_slice(),
            &[3, 4]
        );
        assert_eq!(
            broadcast_shapes("add", &[], &[2, 2]).unwrap().as_slice(),
            &[2, 2]
        );
        assert_eq!(
            broadcast_shapes("add", &[0, 1], &[1, 5])
                .unwrap()
                .as_slice(),
            &[0, 5]
        );
    }

    #[test]
    fn contiguity_ignores_size_one_strides() {
        let l = Layout {
            shape: Shape::from_slice(&[2, 1, 3]),
            strides: Strides::from_slice(&[3, 99, 1]),
            offset: 0,
        };
        assert!(l.is_contiguous());
    }
}
