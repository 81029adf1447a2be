//! Elementwise maps: unary ops and two-operand ops over rows with a stride each (0 broadcasts).
//!
//! Contract: `out[i] = f(x[i * sx])` (unary) and `out[i] = f(a[i * sa], b[i * sb])` (binary and
//! comparison) for `i < out.len()`. Inputs may be any length that covers the strided reads; `out`
//! is write-only. One `#[inline(always)]` body is compiled once per [`Isa`]: the portable path and
//! an AVX2+FMA path under `#[target_feature]` (see `simd/`). The scalar references that tests
//! compare against are [`unary_reference`], [`binary_reference`] and [`compare_reference`],
//! computed in `f64`.
//!
//! The unary ops themselves (forward, derivative, references) are the table of
//! [`crate::unary_ops`]; this module runs them over rows.

use crate::Isa;
use crate::float::Float;
use crate::parallel::{CHUNK, worth_parallel};
use crate::unary_ops::unary_row_body;
use rayon::prelude::*;

pub use crate::unary_ops::{UnaryOp, unary_reference};

/// A binary arithmetic op (differentiable; comparisons are [`CompareOp`]).
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
}

/// A comparison, giving `1` where it holds and `0` elsewhere in the element type (descent has no
/// bool dtype). Comparisons with NaN are false, except `Ne`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
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

impl CompareOp {
    /// Every comparison.
    pub const ALL: [CompareOp; 6] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Gt,
        CompareOp::Ge,
    ];
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::BinaryOp {}
    impl Sealed for super::CompareOp {}
}

/// A two-operand elementwise op: [`BinaryOp`] or [`CompareOp`] (sealed: exactly these two).
///
/// The row, contiguous and strided entry points ([`binary_row`], [`binary`],
/// [`crate::strided::binary`]) take either.
pub trait ZipOp: sealed::Sealed + Copy + Send + Sync + std::fmt::Debug {
    /// The body every ISA compiles: `out[i] = self(a[i * sa], b[i * sb])`, one `match` outside
    /// the loop. Call [`binary_row`] instead, which checks the lengths and picks the path.
    fn row_body<T: Float>(self, a: &[T], sa: usize, b: &[T], sb: usize, out: &mut [T]);
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

impl ZipOp for BinaryOp {
    #[inline(always)]
    fn row_body<T: Float>(self, a: &[T], sa: usize, b: &[T], sb: usize, out: &mut [T]) {
        match self {
            BinaryOp::Add => zip(a, sa, b, sb, out, |x, y| x + y),
            BinaryOp::Sub => zip(a, sa, b, sb, out, |x, y| x - y),
            BinaryOp::Mul => zip(a, sa, b, sb, out, |x, y| x * y),
            BinaryOp::Div => zip(a, sa, b, sb, out, |x, y| x / y),
            BinaryOp::Pow => zip(a, sa, b, sb, out, |x, y| x.powf(y)),
            BinaryOp::Maximum => zip(a, sa, b, sb, out, |x, y| x.max_nan(y)),
            BinaryOp::Minimum => zip(a, sa, b, sb, out, |x, y| x.min_nan(y)),
        }
    }
}

#[inline(always)]
fn flag<T: Float>(c: bool) -> T {
    if c { T::ONE } else { T::ZERO }
}

impl ZipOp for CompareOp {
    #[inline(always)]
    fn row_body<T: Float>(self, a: &[T], sa: usize, b: &[T], sb: usize, out: &mut [T]) {
        match self {
            CompareOp::Eq => zip(a, sa, b, sb, out, |x, y| flag(x == y)),
            CompareOp::Ne => zip(a, sa, b, sb, out, |x, y| flag(x != y)),
            CompareOp::Lt => zip(a, sa, b, sb, out, |x, y| flag(x < y)),
            CompareOp::Le => zip(a, sa, b, sb, out, |x, y| flag(x <= y)),
            CompareOp::Gt => zip(a, sa, b, sb, out, |x, y| flag(x > y)),
            CompareOp::Ge => zip(a, sa, b, sb, out, |x, y| flag(x >= y)),
        }
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

/// `out[i] = op(a[i * sa], b[i * sb])` on one row, on the given path, on this thread; `op` is a
/// [`BinaryOp`] or a [`CompareOp`].
///
/// # Panics
/// If `isa` is not supported by this CPU, or an input is too short for the strided reads.
pub fn binary_row<T: Float, O: ZipOp>(
    isa: Isa,
    op: O,
    a: &[T],
    sa: usize,
    b: &[T],
    sb: usize,
    out: &mut [T],
) {
    check_len("binary_row", a.len(), sa, out.len());
    check_len("binary_row", b.len(), sb, out.len());
    match isa {
        Isa::Fallback => op.row_body(a, sa, b, sb, out),
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

/// `out = op(a, b)` on contiguous slices of equal length, for a [`BinaryOp`] or a [`CompareOp`]:
/// default path, parallel above the threshold.
pub fn binary<T: Float, O: ZipOp>(op: O, a: &[T], b: &[T], out: &mut [T]) {
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

/// Elements of the stack block the in-place forms copy each piece of the accumulator to.
const ASSIGN_BLOCK: usize = 1024;

/// `acc = op(acc)` on a contiguous slice: [`unary`] in place. Each block of up to 1024 elements is
/// copied to a buffer on the stack and the same row kernel writes it back, so every element is
/// bit for bit what [`unary`] gives (the copy stays in L1: memory traffic is that of one read
/// and one write per element).
pub fn unary_assign<T: Float>(op: UnaryOp, acc: &mut [T]) {
    let isa = crate::isa();
    let run = |piece: &mut [T]| {
        let mut tmp = [T::ZERO; ASSIGN_BLOCK];
        for block in piece.chunks_mut(ASSIGN_BLOCK) {
            let x = &mut tmp[..block.len()];
            x.copy_from_slice(block);
            unary_row(isa, op, x, 1, block);
        }
    };
    if worth_parallel(acc.len()) {
        acc.par_chunks_mut(CHUNK).for_each(run);
    } else {
        run(acc);
    }
}

/// `acc = op(acc, b)` on contiguous slices, `b` repeated along `acc` (its length divides
/// `acc.len()`: equal lengths, or a trailing-dims broadcast such as a bias row): [`binary`] in
/// place, with the stack copy of [`unary_assign`], so each element is bit for bit what
/// [`binary`] gives on the broadcast operands.
///
/// # Panics
/// If `b` is empty while `acc` is not, or `b.len()` does not divide `acc.len()`.
pub fn binary_assign<T: Float, O: ZipOp>(op: O, acc: &mut [T], b: &[T]) {
    if acc.is_empty() {
        return;
    }
    assert!(
        !b.is_empty() && acc.len().is_multiple_of(b.len()),
        "binary_assign: the operand's length {} does not divide {}",
        b.len(),
        acc.len()
    );
    let isa = crate::isa();
    // A piece starts at a multiple of `b.len()` (or is within one period when `b` is longer than
    // a chunk), so `b` is read from the piece's offset modulo its length.
    let run = |start: usize, piece: &mut [T]| {
        let mut tmp = [T::ZERO; ASSIGN_BLOCK];
        let mut at = start;
        for block in piece.chunks_mut(ASSIGN_BLOCK) {
            let mut done = 0;
            while done < block.len() {
                let from = (at + done) % b.len();
                let n = (block.len() - done).min(b.len() - from);
                let x = &mut tmp[..n];
                x.copy_from_slice(&block[done..done + n]);
                binary_row(
                    isa,
                    op,
                    x,
                    1,
                    &b[from..from + n],
                    1,
                    &mut block[done..done + n],
                );
                done += n;
            }
            at += block.len();
        }
    };
    if worth_parallel(acc.len()) {
        let piece = if b.len() >= CHUNK {
            CHUNK
        } else {
            b.len() * (CHUNK / b.len())
        };
        acc.par_chunks_mut(piece)
            .enumerate()
            .for_each(|(i, p)| run(i * piece, p));
    } else {
        run(0, acc);
    }
}

/// The scalar reference of a binary op, in `f64`.
pub fn binary_reference(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Maximum => nan_or(a, b, a.max(b)),
        BinaryOp::Minimum => nan_or(a, b, a.min(b)),
    }
}

/// The scalar reference of a comparison, in `f64`: `1.0` where it holds, else `0.0`.
pub fn compare_reference(op: CompareOp, a: f64, b: f64) -> f64 {
    let holds = match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
    };
    if holds { 1.0 } else { 0.0 }
}

/// `v`, or NaN if `a` or `b` is NaN: the references of the NaN-propagating `maximum`/`minimum`.
pub(crate) fn nan_or(a: f64, b: f64, v: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        v
    }
}
