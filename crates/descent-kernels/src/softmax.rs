//! Softmax and log-softmax along the middle axis of a contiguous `[outer, len, inner]` block.
//!
//! Contract: `out[o, r, i] = e^(x[o, r, i] - m) / sum_r' e^(x[o, r', i] - m)` with
//! `m = max_r x[o, r, i]` (log-softmax: `x - m - log sum e^(x - m)`). Subtracting the max keeps it
//! finite for any finite input.

use crate::float::Float;
use crate::parallel::worth_parallel;
use rayon::prelude::*;

fn row<T: Float>(x: &[T], out: &mut [T], log: bool) {
    let m = x.iter().fold(T::NEG_INFINITY, |a, &b| a.max_nan(b));
    if m == T::NEG_INFINITY {
        // All -inf: torch gives NaN; so does e^(-inf - -inf).
        out.iter_mut().for_each(|o| *o = T::from_f64(f64::NAN));
        return;
    }
    let mut s = T::ZERO;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - m).exp();
        s += *o;
    }
    if log {
        let ls = s.ln();
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v - m - ls;
        }
    } else {
        let inv = T::ONE / s;
        out.iter_mut().for_each(|o| *o *= inv);
    }
}

/// Softmax (`log = false`) or log-softmax (`log = true`) over the middle axis.
///
/// # Panics
/// If the lengths do not match `outer * len * inner`.
pub fn softmax<T: Float>(
    x: &[T],
    outer: usize,
    len: usize,
    inner: usize,
    out: &mut [T],
    log: bool,
) {
    assert_eq!(x.len(), outer * len * inner, "softmax: input length");
    assert_eq!(out.len(), x.len(), "softmax: output length");
    if x.is_empty() {
        return;
    }
    let block = len * inner;
    let one = |(o, out_o): (usize, &mut [T])| {
        let xo = &x[o * block..(o + 1) * block];
        if inner == 1 {
            row(xo, out_o, log);
        } else {
            let mut col = vec![T::ZERO; len];
            let mut res = vec![T::ZERO; len];
            for i in 0..inner {
                for r in 0..len {
                    col[r] = xo[r * inner + i];
                }
                row(&col, &mut res, log);
                for r in 0..len {
                    out_o[r * inner + i] = res[r];
                }
            }
        }
    };
    if worth_parallel(x.len()) && outer > 1 {
        out.par_chunks_mut(block).enumerate().for_each(one);
    } else {
        out.chunks_mut(block).enumerate().for_each(one);
    }
}
