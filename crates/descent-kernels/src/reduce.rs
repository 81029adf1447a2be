//! Reductions over the middle axis of a contiguous `[outer, len, inner]` block.
//!
//! Any reduction over a set of axes is brought to this form by the caller (merge the reduced axes
//! into one block, or permute them to the end). Contract: for every `o < outer`, `i < inner`,
//! `out[o * inner + i] = R(x[(o * len + r) * inner + i] for r < len)`.
//!
//! Determinism: the summation order depends only on the sizes. Long rows are summed in fixed
//! chunks of [`REDUCE_CHUNK`] (eight lanes each), whose partial sums are then added in order, on
//! one thread or many alike.

use crate::Isa;
use crate::float::Float;
use crate::parallel::{REDUCE_CHUNK, worth_parallel};
use rayon::prelude::*;

/// The primitive row reductions that have a vectorized body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// `sum x`
    Sum,
    /// `max x`; NaN if any element is NaN, `-inf` for an empty row.
    Max,
    /// `min x`; NaN if any element is NaN, `+inf` for an empty row.
    Min,
}

/// A reduction as users name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// `sum x`
    Sum,
    /// `sum x / len` (NaN for an empty row).
    Mean,
    /// `max x`
    Max,
    /// `min x`
    Min,
    /// `log sum e^x`, computed as `m + log sum e^(x - m)` with `m = max x`.
    LogSumExp,
    /// `sum (x - mean)^2 / (len - correction)`; `correction = 1` is the unbiased estimator.
    Var {
        /// Bessel's correction, as `torch.var(correction=…)`.
        correction: usize,
    },
}

const LANES: usize = 8;

/// The body every ISA compiles: eight independent lanes so the compiler can vectorize, combined
/// in a fixed order.
#[inline(always)]
pub(crate) fn reduce_row_body<T: Float>(op: ReduceOp, x: &[T]) -> T {
    let init = match op {
        ReduceOp::Sum => T::ZERO,
        ReduceOp::Max => T::NEG_INFINITY,
        ReduceOp::Min => T::INFINITY,
    };
    let mut acc = [init; LANES];
    let mut nan = [false; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    match op {
        ReduceOp::Sum => {
            for c in chunks {
                for l in 0..LANES {
                    acc[l] += c[l];
                }
            }
        }
        ReduceOp::Max => {
            for c in chunks {
                for l in 0..LANES {
                    nan[l] |= c[l].is_nan();
                    acc[l] = if c[l] > acc[l] { c[l] } else { acc[l] };
                }
            }
        }
        ReduceOp::Min => {
            for c in chunks {
                for l in 0..LANES {
                    nan[l] |= c[l].is_nan();
                    acc[l] = if c[l] < acc[l] { c[l] } else { acc[l] };
                }
            }
        }
    }
    let mut r = combine(op, &acc);
    for &v in tail {
        r = combine2(op, r, v);
    }
    if nan.iter().any(|&n| n) || (op != ReduceOp::Sum && tail.iter().any(|v| v.is_nan())) {
        return T::from_f64(f64::NAN);
    }
    r
}

#[inline(always)]
fn combine2<T: Float>(op: ReduceOp, a: T, b: T) -> T {
    match op {
        ReduceOp::Sum => a + b,
        ReduceOp::Max => a.max_nan(b),
        ReduceOp::Min => a.min_nan(b),
    }
}

#[inline(always)]
fn combine<T: Float>(op: ReduceOp, acc: &[T; LANES]) -> T {
    // Pairwise, in a fixed order.
    let a = combine2(
        op,
        combine2(op, acc[0], acc[4]),
        combine2(op, acc[2], acc[6]),
    );
    let b = combine2(
        op,
        combine2(op, acc[1], acc[5]),
        combine2(op, acc[3], acc[7]),
    );
    combine2(op, a, b)
}

/// Reduces one contiguous row on the given path, on this thread, without chunking.
pub fn reduce_row_with<T: Float>(isa: Isa, op: ReduceOp, x: &[T]) -> T {
    match isa {
        Isa::Fallback => reduce_row_body(op, x),
        Isa::Avx2Fma => crate::simd::reduce_row_avx2(op, x),
    }
}

/// Reduces one contiguous row of any length in fixed chunks, in parallel when long.
///
/// The result is the same bit for bit whatever the thread count.
pub fn reduce_row<T: Float>(op: ReduceOp, x: &[T]) -> T {
    let isa = crate::isa();
    if x.len() <= REDUCE_CHUNK {
        return reduce_row_with(isa, op, x);
    }
    let partials: Vec<T> = if worth_parallel(x.len()) {
        x.par_chunks(REDUCE_CHUNK)
            .map(|c| reduce_row_with(isa, op, c))
            .collect()
    } else {
        x.chunks(REDUCE_CHUNK)
            .map(|c| reduce_row_with(isa, op, c))
            .collect()
    };
    // The partials are few; fold them in order.
    let mut r = partials[0];
    for &p in &partials[1..] {
        r = combine2(op, r, p);
    }
    r
}

/// Reduces the middle axis of a contiguous `[outer, len, inner]` block into `out` (`outer * inner`).
///
/// # Panics
/// If `x.len() != outer * len * inner` or `out.len() != outer * inner`.
pub fn reduce<T: Float>(
    op: Reduction,
    x: &[T],
    outer: usize,
    len: usize,
    inner: usize,
    out: &mut [T],
) {
    assert_eq!(x.len(), outer * len * inner, "reduce: input length");
    assert_eq!(out.len(), outer * inner, "reduce: output length");
    if out.is_empty() {
        return;
    }
    let block = len * inner;
    let run = |o: usize, out_o: &mut [T]| {
        let xo = &x[o * block..(o + 1) * block];
        if inner == 1 {
            out_o[0] = reduce_one_row(op, xo);
        } else {
            reduce_columns(op, xo, len, inner, out_o);
        }
    };
    if worth_parallel(x.len()) && outer > 1 {
        out.par_chunks_mut(inner)
            .enumerate()
            .for_each(|(o, out_o)| run(o, out_o));
    } else {
        out.chunks_mut(inner)
            .enumerate()
            .for_each(|(o, out_o)| run(o, out_o));
    }
}

fn reduce_one_row<T: Float>(op: Reduction, x: &[T]) -> T {
    let n = T::from_usize(x.len());
    match op {
        Reduction::Sum => reduce_row(ReduceOp::Sum, x),
        Reduction::Mean => reduce_row(ReduceOp::Sum, x) / n,
        Reduction::Max => reduce_row(ReduceOp::Max, x),
        Reduction::Min => reduce_row(ReduceOp::Min, x),
        Reduction::LogSumExp => {
            let m = reduce_row(ReduceOp::Max, x);
            if !m.is_finite() {
                // All -inf gives -inf; any +inf gives +inf; NaN stays NaN.
                return m;
            }
            let mut s = T::ZERO;
            for chunk in x.chunks(REDUCE_CHUNK) {
                let mut part = T::ZERO;
                for &v in chunk {
                    part += (v - m).exp();
                }
                s += part;
            }
            m + s.ln()
        }
        Reduction::Var { correction } => {
            let mean = reduce_row(ReduceOp::Sum, x) / n;
            let mut s = T::ZERO;
            for chunk in x.chunks(REDUCE_CHUNK) {
                let mut part = T::ZERO;
                for &v in chunk {
                    part += (v - mean) * (v - mean);
                }
                s += part;
            }
            s / T::from_usize(x.len().saturating_sub(correction))
        }
    }
}

/// Reduces `[len, inner]` over `len` into `out[inner]`, one row of `inner` at a time.
fn reduce_columns<T: Float>(op: Reduction, x: &[T], len: usize, inner: usize, out: &mut [T]) {
    let rows = || x.chunks_exact(inner);
    let fold = |out: &mut [T], init: T, f: &dyn Fn(T, T) -> T| {
        out.iter_mut().for_each(|o| *o = init);
        for row in rows() {
            for (o, &v) in out.iter_mut().zip(row) {
                *o = f(*o, v);
            }
        }
    };
    let n = T::from_usize(len);
    match op {
        Reduction::Sum | Reduction::Mean => {
            out.iter_mut().for_each(|o| *o = T::ZERO);
            for row in rows() {
                for (o, &v) in out.iter_mut().zip(row) {
                    *o += v;
                }
            }
            if op == Reduction::Mean {
                out.iter_mut().for_each(|o| *o /= n);
            }
        }
        Reduction::Max => fold(out, T::NEG_INFINITY, &|a, b| a.max_nan(b)),
        Reduction::Min => fold(out, T::INFINITY, &|a, b| a.min_nan(b)),
        Reduction::LogSumExp => {
            let mut m = vec![T::ZERO; inner];
            fold(&mut m, T::NEG_INFINITY, &|a, b| a.max_nan(b));
            out.iter_mut().for_each(|o| *o = T::ZERO);
            for row in rows() {
                for ((o, &v), &mi) in out.iter_mut().zip(row).zip(&m) {
                    *o += (v - mi).exp();
                }
            }
            for (o, &mi) in out.iter_mut().zip(&m) {
                *o = if mi.is_finite() { mi + o.ln() } else { mi };
            }
        }
        Reduction::Var { correction } => {
            let mut mean = vec![T::ZERO; inner];
            for row in rows() {
                for (m, &v) in mean.iter_mut().zip(row) {
                    *m += v;
                }
            }
            mean.iter_mut().for_each(|m| *m /= n);
            out.iter_mut().for_each(|o| *o = T::ZERO);
            for row in rows() {
                for ((o, &v), &m) in out.iter_mut().zip(row).zip(&mean) {
                    *o += (v - m) * (v - m);
                }
            }
            let d = T::from_usize(len.saturating_sub(correction));
            out.iter_mut().for_each(|o| *o /= d);
        }
    }
}

/// Index of the largest (`largest = true`) or smallest element along the middle axis of
/// `[outer, len, inner]`; the first one on ties, the first NaN if there is one (as PyTorch).
///
/// # Panics
/// If `len == 0` or the lengths do not match.
pub fn arg_reduce<T: Float>(
    largest: bool,
    x: &[T],
    outer: usize,
    len: usize,
    inner: usize,
    out: &mut [usize],
) {
    assert!(len > 0, "arg_reduce: empty axis");
    assert_eq!(x.len(), outer * len * inner, "arg_reduce: input length");
    assert_eq!(out.len(), outer * inner, "arg_reduce: output length");
    for o in 0..outer {
        for i in 0..inner {
            let at = |r: usize| x[(o * len + r) * inner + i];
            let mut best = 0;
            let mut bv = at(0);
            if !bv.is_nan() {
                for r in 1..len {
                    let v = at(r);
                    if v.is_nan() {
                        best = r;
                        break;
                    }
                    if (largest && v > bv) || (!largest && v < bv) {
                        best = r;
                        bv = v;
                    }
                }
            }
            out[o * inner + i] = best;
        }
    }
}
