//! Scatter-add: the adjoint of every gather-like forward (index_select, gather, slicing, pooling).
//!
//! Contract: `dst[offsets[i]] += src[i]` for every `i`, in increasing `i`, so repeated offsets
//! accumulate in a fixed order and the result is deterministic.

use crate::float::Float;

/// `dst[offsets[i]] += src[i]` for every `i`, in order.
///
/// # Panics
/// If the lengths of `offsets` and `src` differ, or an offset is outside `dst` (checked before any
/// write, so `dst` is left untouched).
pub fn scatter_add<T: Float>(dst: &mut [T], offsets: &[usize], src: &[T]) {
    assert_eq!(
        offsets.len(),
        src.len(),
        "scatter_add: offsets and src lengths"
    );
    if let Some(&bad) = offsets.iter().find(|&&o| o >= dst.len()) {
        panic!(
            "scatter_add: offset {bad} outside a destination of {}",
            dst.len()
        );
    }
    for (&o, &v) in offsets.iter().zip(src) {
        dst[o] += v;
    }
}

/// The buffer offsets of the elements of a strided view, in row-major order of `shape`:
/// `offset + sum_d idx[d] * strides[d]`.
///
/// # Panics
/// If `strides.len() != shape.len()`.
pub fn strided_offsets(shape: &[usize], strides: &[usize], offset: usize) -> Vec<usize> {
    assert_eq!(shape.len(), strides.len(), "strided_offsets: rank");
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let rank = shape.len();
    let mut idx = vec![0usize; rank];
    let mut at = offset;
    for _ in 0..n {
        out.push(at);
        for d in (0..rank).rev() {
            idx[d] += 1;
            at += strides[d];
            if idx[d] < shape[d] {
                break;
            }
            at -= strides[d] * shape[d];
            idx[d] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_offsets_accumulate() {
        let mut dst = [0.0f64; 3];
        scatter_add(&mut dst, &[2, 0, 2], &[1.0, 2.0, 3.0]);
        assert_eq!(dst, [2.0, 0.0, 4.0]);
    }

    #[test]
    fn offsets_of_a_transposed_view() {
        // A 2x3 buffer viewed as its 3x2 transpose.
        assert_eq!(strided_offsets(&[3, 2], &[1, 3], 0), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(strided_offsets(&[0, 2], &[2, 1], 0), Vec::<usize>::new());
        assert_eq!(strided_offsets(&[], &[], 7), vec![7]);
    }

    #[test]
    #[should_panic(expected = "outside a destination")]
    fn out_of_range_offset_panics_before_writing() {
        let mut dst = [0.0f32; 2];
        scatter_add(&mut dst, &[0, 5], &[1.0, 1.0]);
    }
}
