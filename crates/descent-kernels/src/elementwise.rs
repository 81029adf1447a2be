//! Elementwise maps: unary ops and binary ops over rows with a stride each (0 broadcasts).
//!
//! Contract: `out[i] = f(x[i * sx])` (unary) and `out[i] = f(a[i * sa], b[i * sb])` (binary) for
//! `i < out.len()`. Inputs may be any length that covers the strided reads; `out` is write-only.
//! One `#[inline(always)]` body is compiled once per [`Isa`]: the portable path and an
//! AVX2+FMA path under `#[target_feature]` (see `simd/`). The scalar reference that tests compare
//! against is [`unary_reference`] / [`binary_reference`], computed in `f64`.

use crate::Isa;
use crate::float::Float;
use crate::parallel::{CHUNK, worth_parallel};
use crate::special::{erf, gelu};
use rayon::prelude::*;

/// A unary elementwise op. Parameters are `f64` and converted to the element type once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `|x|`
    Abs,
    /// `e^x`
    Exp,
    /// `ln x`
    Log,
    /// `sqrt x`
    Sqrt,
    /// `x^2`
    Square,
    /// `1 / x`
    Recip,
    /// `tanh x`
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `max(x, 0)`; NaN stays NaN.
    Relu,
    /// `x` if `x > 0`, else `alpha * x`.
    LeakyRelu(f64),
    /// `x * Phi(x)` with the exact (erf) normal CDF, as PyTorch's default `gelu`.
    Gelu,
    /// `erf x`
    Erf,
    /// `x^p`
    Powf(f64),
    /// `min(max(x, lo), hi)`; NaN stays NaN.
    Clamp(f64, f64),
    /// `x + c`
    AddScalar(f64),
    /// `x * c`
    MulScalar(f64),
    /// `c - x` (reversed scalar subtraction).
    RsubScalar(f64),
    /// `c / x` (reversed scalar division).
    RdivScalar(f64),
    /// `c^x` (reversed scalar power).
    RpowScalar(f64),
    /// `max(x, c)`
    MaximumScalar(f64),
    /// `min(x, c)`
    MinimumScalar(f64),
}

/// A binary elementwise op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a^b`
    Pow,
    /// `max(a, b)`; NaN if either is NaN (as `torch.maximum`).
    Maximum,
    /// `min(a, b)`; NaN if either is NaN (as `torch.minimum`).
    Minimum,
    /// `1` where `a == b`, else `0`.
    Eq,
    /// `1` where `a != b`, else `0`.
    Ne,
    /// `1` where `a < b`, else `0`.
    Lt,
    /// `1` where `a <= b`, else `0`.
    Le,
    /// `1` where `a > b`, else `0`.
    Gt,
    /// `1` where `a >= b`, else `0`.
    Ge,
}

#[inline(always)]
fn map<T: Float>(x: &[T], sx: usize, out: &mut [T], f: impl Fn(T) -> T) {
    let n = out.len();
    if n == 0 {
        // No reads: `x` may be empty, even at stride 0.
        return;
    }
    if sx == 1 {
        for (o, &v) in out.iter_mut().zip(&x[..n]) {
            *o = f(v);
        }
    } else if sx == 0 {
        let v = f(x[0]);
        out.iter_mut().for_each(|o| *o = v);
    } else {
        for (i, o) in out.iter_mut().enumerate() {
            *o = f(x[i * sx]);
        }
    }
}

#[inline(always)]
fn zip<T: Float>(a: &[T], sa: usize, b: &[T], sb: usize, out: &mut [T], f: impl Fn(T, T) -> T) {
    let n = out.len();
    if n == 0 {
        // No reads: the inputs may be empty, even at stride 0.
        return;
    }
    match (sa, sb) {
        (1, 1) => {
            for ((o, &x), &y) in out.iter_mut().zip(&a[..n]).zip(&b[..n]) {
                *o = f(x, y);
            }
        }
        (1, 0) => {
            let y = b[0];
            for (o, &x) in out.iter_mut().zip(&a[..n]) {
                *o = f(x, y);
            }
        }
        (0, 1) => {
            let x = a[0];
            for (o, &y) in out.iter_mut().zip(&b[..n]) {
                *o = f(x, y);
            }
        }
        _ => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = f(a[i * sa], b[i * sb]);
            }
        }
    }
}

#[inline(always)]
fn flag<T: Float>(c: bool) -> T {
    if c { T::ONE } else { T::ZERO }
}

/// The body every ISA compiles: one `match` outside the loop, a closure inside it.
#[inline(always)]
pub(crate) fn unary_row_body<T: Float>(op: UnaryOp, x: &[T], sx: usize, out: &mut [T]) {
    let c = |v: f64| T::from_f64(v);
    match op {
        UnaryOp::Neg => map(x, sx, out, |v| -v),
        UnaryOp::Abs => map(x, sx, out, |v| v.abs()),
        UnaryOp::Exp => map(x, sx, out, |v| v.exp()),
        UnaryOp::Log => map(x, sx, out, |v| v.ln()),
        UnaryOp::Sqrt => map(x, sx, out, |v| v.sqrt()),
        UnaryOp::Square => map(x, sx, out, |v| v * v),
        UnaryOp::Recip => map(x, sx, out, |v| T::ONE / v),
        UnaryOp::Tanh => map(x, sx, out, |v| v.tanh()),
        UnaryOp::Sigmoid => map(x, sx, out, sigmoid),
        UnaryOp::Relu => map(x, sx, out, |v| if v < T::ZERO { T::ZERO } else { v }),
        UnaryOp::LeakyRelu(alpha) => {
            let alpha = c(alpha);
            map(x, sx, out, |v| if v > T::ZERO { v } else { alpha * v })
        }
        UnaryOp::Gelu => map(x, sx, out, |v| T::from_f64(gelu(v.to_f64()))),
        UnaryOp::Erf => map(x, sx, out, |v| T::from_f64(erf(v.to_f64()))),
        UnaryOp::Powf(p) => {
            let p = c(p);
            map(x, sx, out, |v| v.powf(p))
        }
        UnaryOp::Clamp(lo, hi) => {
            let (lo, hi) = (c(lo), c(hi));
            map(x, sx, out, |v| {
                if v < lo {
                    lo
                } else if v > hi {
                    hi
                } else {
                    v
                }
            })
        }
        UnaryOp::AddScalar(s) => {
            let s = c(s);
            map(x, sx, out, |v| v + s)
        }
        UnaryOp::MulScalar(s) => {
            let s = c(s);
            map(x, sx, out, |v| v * s)
        }
        UnaryOp::RsubScalar(s) => {
            let s = c(s);
            map(x, sx, out, |v| s - v)
        }
        UnaryOp::RdivScalar(s) => {
            let s = c(s);
            map(x, sx, out, |v| s / v)
        }
        UnaryOp::RpowScalar(s) => {
            let s = c(s);
            map(x, sx, out, |v| s.powf(v))
        }
        UnaryOp::MaximumScalar(s) => {
            let s = c(s);
            map(x, sx, out, |v| v.max_nan(s))
        }
        UnaryOp::MinimumScalar(s) => {
            let s = c(s);
            map(x, sx, out, |v| v.min_nan(s))
        }
    }
}

/// The body every ISA compiles for binary ops.
#[inline(always)]
pub(crate) fn binary_row_body<T: Float>(
    op: BinaryOp,
    a: &[T],
    sa: usize,
    b: &[T],
    sb: usize,
    out: &mut [T],
) {
    match op {
        BinaryOp::Add => zip(a, sa, b, sb, out, |x, y| x + y),
        BinaryOp::Sub => zip(a, sa, b, sb, out, |x, y| x - y),
        BinaryOp::Mul => zip(a, sa, b, sb, out, |x, y| x * y),
        BinaryOp::Div => zip(a, sa, b, sb, out, |x, y| x / y),
        BinaryOp::Pow => zip(a, sa, b, sb, out, |x, y| x.powf(y)),
        BinaryOp::Maximum => zip(a, sa, b, sb, out, |x, y| x.max_nan(y)),
        BinaryOp::Minimum => zip(a, sa, b, sb, out, |x, y| x.min_nan(y)),
        BinaryOp::Eq => zip(a, sa, b, sb, out, |x, y| flag(x == y)),
        BinaryOp::Ne => zip(a, sa, b, sb, out, |x, y| flag(x != y)),
        BinaryOp::Lt => zip(a, sa, b, sb, out, |x, y| flag(x < y)),
        BinaryOp::Le => zip(a, sa, b, sb, out, |x, y| flag(x <= y)),
        BinaryOp::Gt => zip(a, sa, b, sb, out, |x, y| flag(x > y)),
        BinaryOp::Ge => zip(a, sa, b, sb, out, |x, y| flag(x >= y)),
    }
}

#[inline(always)]
fn sigmoid<T: Float>(v: T) -> T {
    // Stable on both tails: never evaluates e^x for large positive x.
    if v >= T::ZERO {
        T::ONE / (T::ONE + (-v).exp())
    } else {
        let e = v.exp();
        e / (T::ONE + e)
    }
}

/// `out[i] = op(x[i * sx])` on one row, on the given instruction-set path, on this thread.
///
/// # Panics
/// If `isa` is not supported by this CPU, or `x` is too short for the strided reads.
pub fn unary_row<T: Float>(isa: Isa, op: UnaryOp, x: &[T], sx: usize, out: &mut [T]) {
    check_len("unary_row", x.len(), sx, out.len());
    match isa {
        Isa::Fallback => unary_row_body(op, x, sx, out),
        Isa::Avx2Fma => crate::simd::unary_row_avx2(op, x, sx, out),
    }
}

/// `out[i] = op(a[i * sa], b[i * sb])` on one row, on the given path, on this thread.
///
/// # Panics
/// If `isa` is not supported by this CPU, or an input is too short for the strided reads.
pub fn binary_row<T: Float>(
    isa: Isa,
    op: BinaryOp,
    a: &[T],
    sa: usize,
    b: &[T],
    sb: usize,
    out: &mut [T],
) {
    check_len("binary_row", a.len(), sa, out.len());
    check_len("binary_row", b.len(), sb, out.len());
    match isa {
        Isa::Fallback => binary_row_body(op, a, sa, b, sb, out),
        Isa::Avx2Fma => crate::simd::binary_row_avx2(op, a, sa, b, sb, out),
    }
}

fn check_len(what: &str, len: usize, stride: usize, n: usize) {
    if n > 0 {
        assert!(
            (n - 1) * stride < len,
            "{what}: input of length {len} too short for {n} reads at stride {stride}"
        );
    }
}

/// `out = op(x)` on contiguous slices of equal length: default path, parallel above the threshold.
pub fn unary<T: Float>(op: UnaryOp, x: &[T], out: &mut [T]) {
    assert_eq!(x.len(), out.len(), "unary: input and output lengths differ");
    let isa = crate::isa();
    if worth_parallel(out.len()) {
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(o, x)| unary_row(isa, op, x, 1, o));
    } else {
        unary_row(isa, op, x, 1, out);
    }
}

/// `out = op(a, b)` on contiguous slices of equal length: default path, parallel above the threshold.
pub fn binary<T: Float>(op: BinaryOp, a: &[T], b: &[T], out: &mut [T]) {
    assert!(
        a.len() == out.len() && b.len() == out.len(),
        "binary: input and output lengths differ"
    );
    let isa = crate::isa();
    if worth_parallel(out.len()) {
        out.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
            .for_each(|(o, (a, b))| binary_row(isa, op, a, 1, b, 1, o));
    } else {
        binary_row(isa, op, a, 1, b, 1, out);
    }
}

/// The scalar reference of a unary op, in `f64`, written independently of the fast body: the
/// oracle the fast paths are tested against.
pub fn unary_reference(op: UnaryOp, v: f64) -> f64 {
    match op {
        UnaryOp::Neg => -v,
        UnaryOp::Abs => v.abs(),
        UnaryOp::Exp => v.exp(),
        UnaryOp::Log => v.ln(),
        UnaryOp::Sqrt => v.sqrt(),
        UnaryOp::Square => v * v,
        UnaryOp::Recip => 1.0 / v,
        UnaryOp::Tanh => v.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        UnaryOp::Relu => {
            if v.is_nan() {
                v
            } else {
                v.max(0.0)
            }
        }
        UnaryOp::LeakyRelu(alpha) => {
            if v > 0.0 {
                v
            } else {
                alpha * v
            }
        }
        UnaryOp::Gelu => 0.5 * v * (1.0 + erf(v / std::f64::consts::SQRT_2)),
        UnaryOp::Erf => erf(v),
        UnaryOp::Powf(p) => v.powf(p),
        UnaryOp::Clamp(lo, hi) => {
            if v.is_nan() {
                v
            } else {
                v.max(lo).min(hi)
            }
        }
        UnaryOp::AddScalar(s) => v + s,
        UnaryOp::MulScalar(s) => v * s,
        UnaryOp::RsubScalar(s) => s - v,
        UnaryOp::RdivScalar(s) => s / v,
        UnaryOp::RpowScalar(s) => s.powf(v),
        UnaryOp::MaximumScalar(s) => nan_or(v, s, v.max(s)),
        UnaryOp::MinimumScalar(s) => nan_or(v, s, v.min(s)),
    }
}

/// The scalar reference of a binary op, in `f64`.
pub fn binary_reference(op: BinaryOp, a: f64, b: f64) -> f64 {
    let flag = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Maximum => nan_or(a, b, a.max(b)),
        BinaryOp::Minimum => nan_or(a, b, a.min(b)),
        BinaryOp::Eq => flag(a == b),
        BinaryOp::Ne => flag(a != b),
        BinaryOp::Lt => flag(a < b),
        BinaryOp::Le => flag(a <= b),
        BinaryOp::Gt => flag(a > b),
        BinaryOp::Ge => flag(a >= b),
    }
}

fn nan_or(a: f64, b: f64, v: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        v
    }
}
