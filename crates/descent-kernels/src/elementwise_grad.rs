//! Backward kernels of the unary ops: `dx = g * op'(x)` in one pass.
//!
//! Each derivative reads the saved input `x`, the saved output `y`, or neither, whichever is
//! cheaper and more accurate ([`saves`]): `tanh' = 1 - y^2` and `exp' = y` reuse the forward's
//! output instead of recomputing a transcendental. The derivatives themselves are written next to
//! their forwards, in the table of [`crate::unary_ops`]; this module runs them over slices.

use crate::float::Float;
use crate::parallel::{CHUNK, GRAD_PAR_THRESHOLD_IN_POOL, PAR_THRESHOLD, cut_off};
use crate::unary_ops::{UnaryOp, unary_grad_row};
use rayon::prelude::*;

pub use crate::special::gelu_derivative;
pub use crate::unary_ops::{Saves, saves, unary_derivative_reference};

/// `out = g * op'(x)` on contiguous slices of equal length, parallel from
/// [`GRAD_PAR_THRESHOLD_IN_POOL`] values (inside the pool) or [`PAR_THRESHOLD`] (outside).
///
/// `x` and `y` are the forward's input and output; pass an empty slice for one that
/// [`saves`] says the op does not read.
///
/// # Panics
/// If a needed slice's length differs from `g`'s, or `out`'s does.
pub fn unary_grad<T: Float>(op: UnaryOp, x: &[T], y: &[T], g: &[T], out: &mut [T]) {
    let n = g.len();
    let need = saves(op);
    assert_eq!(out.len(), n, "unary_grad: output length");
    assert!(!need.input || x.len() == n, "unary_grad: input length");
    assert!(
        !need.output || y.len() == n,
        "unary_grad: output-value length"
    );
    // Give unused operands the right length so the chunked walk below can zip them.
    let x = if need.input { x } else { g };
    let y = if need.output { y } else { g };
    if n >= cut_off(GRAD_PAR_THRESHOLD_IN_POOL, PAR_THRESHOLD) && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .zip(y.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|((o, x), (y, g))| grad_row(op, x, y, g, o));
    } else {
        grad_row(op, x, y, g, out);
    }
}

/// [`unary_grad_row`] on the best instruction set this CPU has.
fn grad_row<T: Float>(op: UnaryOp, x: &[T], y: &[T], g: &[T], out: &mut [T]) {
    match crate::isa() {
        crate::Isa::Avx2Fma => crate::simd::unary_grad_row_avx2(op, x, y, g, out),
        crate::Isa::Fallback => unary_grad_row(op, x, y, g, out),
    }
}
