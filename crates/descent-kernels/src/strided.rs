//! N-dimensional walks over strided inputs into a contiguous output.
//!
//! A [`Strided`] names where an operand's elements are: element `idx` (a multi-index into the
//! common `shape`) is at `data[offset + sum(idx[d] * strides[d])]`. A stride of 0 repeats an
//! element (broadcasting). The walks first merge dimensions that are contiguous in every operand,
//! so the common cases become one long row, then call the row kernels of [`crate::elementwise`].

use crate::elementwise::{UnaryOp, ZipOp, binary_row, unary_row};
use crate::float::Float;
use crate::parallel::{CHUNK, worth_parallel};
use crate::{Isa, isa};
use rayon::prelude::*;

/// Where an operand's elements are in its buffer.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a, T> {
    /// The whole buffer.
    pub data: &'a [T],
    /// Elements per step along each dimension (0 for a broadcast dimension).
    pub strides: &'a [usize],
    /// Index of the element at the all-zeros multi-index.
    pub offset: usize,
}

impl<'a, T> Strided<'a, T> {
    /// A contiguous row-major operand of `shape`.
    pub fn new(data: &'a [T], strides: &'a [usize], offset: usize) -> Self {
        Strided {
            data,
            strides,
            offset,
        }
    }
}

const MAX_OPERANDS: usize = 2;

/// Dimensions after merging: `shape` and, for each operand, its strides.
struct Merged {
    shape: Vec<usize>,
    strides: [Vec<usize>; MAX_OPERANDS],
}

/// Drops size-1 dimensions and merges neighbours that are contiguous in every operand.
#[allow(clippy::needless_range_loop)] // `j` indexes two parallel arrays.
fn merge(shape: &[usize], strides: &[&[usize]]) -> Merged {
    let k = strides.len();
    let mut m = Merged {
        shape: Vec::with_capacity(shape.len()),
        strides: [Vec::new(), Vec::new()],
    };
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        if let Some(&last) = m.shape.last() {
            let mergeable =
                (0..k).all(|j| m.strides[j].last() == Some(&(strides[j][d] * shape[d])));
            if mergeable {
                *m.shape.last_mut().expect("non-empty") = last * shape[d];
                for j in 0..k {
                    *m.strides[j].last_mut().expect("non-empty") = strides[j][d];
                }
                continue;
            }
        }
        m.shape.push(shape[d]);
        for j in 0..k {
            m.strides[j].push(strides[j][d]);
        }
    }
    if m.shape.is_empty() {
        m.shape.push(1);
        for j in 0..k {
            m.strides[j].push(0);
        }
    }
    m
}

/// Checks that every element the walk reads is inside the buffer.
fn check_bounds<T>(what: &str, shape: &[usize], s: &Strided<'_, T>) {
    assert_eq!(shape.len(), s.strides.len(), "{what}: rank of strides");
    if shape.contains(&0) {
        return;
    }
    let last = s.offset
        + shape
            .iter()
            .zip(s.strides)
            .map(|(&n, &st)| (n - 1) * st)
            .sum::<usize>();
    assert!(
        last < s.data.len(),
        "{what}: strided read at {last} past a buffer of {}",
        s.data.len()
    );
}

/// Calls `row(out_row, offsets)` for every row of the merged walk; rows are the last dimension.
/// Rows are handed out in fixed-size blocks, in parallel when the output is large.
fn walk<T: Float, const K: usize>(
    m: &Merged,
    offsets: [usize; K],
    out: &mut [T],
    row: impl Fn(&mut [T], [usize; K]) + Sync,
) {
    let rank = m.shape.len();
    let inner = m.shape[rank - 1];
    let outer_shape = &m.shape[..rank - 1];
    let rows_per_block = (CHUNK / inner.max(1)).max(1);
    let block = |(bi, out_b): (usize, &mut [T])| {
        let first = bi * rows_per_block;
        // Multi-index of the first row, then an odometer.
        let mut idx = vec![0usize; outer_shape.len()];
        let mut rem = first;
        for d in (0..outer_shape.len()).rev() {
            idx[d] = rem % outer_shape[d];
            rem /= outer_shape[d];
        }
        let mut off = offsets;
        for (j, o) in off.iter_mut().enumerate() {
            *o += idx
                .iter()
                .zip(&m.strides[j])
                .map(|(&i, &s)| i * s)
                .sum::<usize>();
        }
        for out_r in out_b.chunks_mut(inner) {
            row(out_r, off);
            for d in (0..outer_shape.len()).rev() {
                idx[d] += 1;
                for (j, o) in off.iter_mut().enumerate() {
                    *o += m.strides[j][d];
                }
                if idx[d] < outer_shape[d] {
                    break;
                }
                for (j, o) in off.iter_mut().enumerate() {
                    *o -= m.strides[j][d] * outer_shape[d];
                }
                idx[d] = 0;
            }
        }
    };
    let block_len = rows_per_block * inner;
    if worth_parallel(out.len()) {
        out.par_chunks_mut(block_len).enumerate().for_each(block);
    } else {
        out.chunks_mut(block_len).enumerate().for_each(block);
    }
}

/// `out = x` (a gather into contiguous row-major order).
///
/// # Panics
/// If `out.len()` is not the element count of `shape` or a read would fall outside `x.data`.
pub fn copy<T: Float>(shape: &[usize], x: Strided<'_, T>, out: &mut [T]) {
    unary(isa(), UnaryOp::MulScalar(1.0), shape, x, out)
}

/// `out = op(x)` over a strided `x` of `shape`, into contiguous `out`.
///
/// # Panics
/// If `out.len()` is not the element count of `shape` or a read would fall outside `x.data`.
pub fn unary<T: Float>(isa: Isa, op: UnaryOp, shape: &[usize], x: Strided<'_, T>, out: &mut [T]) {
    assert_eq!(
        out.len(),
        shape.iter().product::<usize>(),
        "unary: output length"
    );
    check_bounds("unary", shape, &x);
    if out.is_empty() {
        return;
    }
    let m = merge(shape, &[x.strides]);
    let sx = *m.strides[0].last().expect("rank >= 1");
    let copy = op == UnaryOp::MulScalar(1.0);
    walk(&m, [x.offset], out, |o, [ox]| {
        if copy && sx == 1 {
            o.copy_from_slice(&x.data[ox..ox + o.len()]);
        } else {
            unary_row(isa, op, &x.data[ox..], sx, o)
        }
    });
}

/// `out = op(a, b)` over strided `a` and `b` of the common (already broadcast) `shape`, for a
/// binary op or a comparison.
///
/// # Panics
/// If `out.len()` is not the element count of `shape` or a read would fall outside a buffer.
pub fn binary<T: Float, O: ZipOp>(
    isa: Isa,
    op: O,
    shape: &[usize],
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    out: &mut [T],
) {
    assert_eq!(
        out.len(),
        shape.iter().product::<usize>(),
        "binary: output length"
    );
    check_bounds("binary", shape, &a);
    check_bounds("binary", shape, &b);
    if out.is_empty() {
        return;
    }
    let m = merge(shape, &[a.strides, b.strides]);
    let sa = *m.strides[0].last().expect("rank >= 1");
    let sb = *m.strides[1].last().expect("rank >= 1");
    walk(&m, [a.offset, b.offset], out, |o, [oa, ob]| {
        binary_row(isa, op, &a.data[oa..], sa, &b.data[ob..], sb, o)
    });
}

/// `out = if cond != 0 { a } else { b }` over three strided operands of a common `shape`.
///
/// # Panics
/// If `out.len()` is not the element count of `shape` or a read would fall outside a buffer.
pub fn select<T: Float>(
    shape: &[usize],
    cond: Strided<'_, T>,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    out: &mut [T],
) {
    assert_eq!(
        out.len(),
        shape.iter().product::<usize>(),
        "where: output length"
    );
    for s in [&cond, &a, &b] {
        check_bounds("where", shape, s);
    }
    if out.is_empty() {
        return;
    }
    // Three operands: gather the condition first, then two masked binary walks would cost more
    // than this simple odometer.
    let n = shape.len();
    let mut idx = vec![0usize; n];
    let (mut oc, mut oa, mut ob) = (cond.offset, a.offset, b.offset);
    for o in out.iter_mut() {
        *o = if cond.data[oc] != T::ZERO {
            a.data[oa]
        } else {
            b.data[ob]
        };
        for d in (0..n).rev() {
            idx[d] += 1;
            oc += cond.strides[d];
            oa += a.strides[d];
            ob += b.strides[d];
            if idx[d] < shape[d] {
                break;
            }
            oc -= cond.strides[d] * shape[d];
            oa -= a.strides[d] * shape[d];
            ob -= b.strides[d] * shape[d];
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_joins_contiguous_dims_and_drops_ones() {
        let m = merge(&[2, 1, 3, 4], &[&[12, 12, 4, 1]]);
        assert_eq!(m.shape, vec![24]);
        assert_eq!(m.strides[0], vec![1]);
        let m = merge(&[2, 3], &[&[1, 2]]);
        assert_eq!(m.shape, vec![2, 3]);
    }

    #[test]
    fn copy_transposed() {
        // x = [[0, 1, 2], [3, 4, 5]] viewed transposed as 3x2.
        let x: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let mut out = vec![0.0; 6];
        copy(&[3, 2], Strided::new(&x, &[1, 3], 0), &mut out);
        assert_eq!(out, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    }
}
