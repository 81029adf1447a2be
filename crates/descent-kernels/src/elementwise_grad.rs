//! Backward kernels of the unary ops: `dx = g * op'(x)` in one pass.
//!
//! Each derivative reads the saved input `x`, the saved output `y`, or neither, whichever is
//! cheaper and more accurate ([`saves`]): `tanh' = 1 - y^2` and `exp' = y` reuse the forward's
//! output instead of recomputing a transcendental. Ties of the piecewise ops follow
//! `docs/numerics.md`: `relu'(0) = 0`, `abs'(0) = 0`, `clamp` passes the gradient on its closed
//! interval, and `maximum(x, c)` at `x == c` sends half of it.

use crate::elementwise::UnaryOp;
use crate::float::Float;
use crate::parallel::{CHUNK, worth_parallel};
use crate::special::erf;
use rayon::prelude::*;

/// What the backward rule of a unary op reads: the forward's input, its output, or neither
/// (never both: the tape keeps at most one tensor per unary op).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saves {
    /// The derivative reads the input `x`.
    pub input: bool,
    /// The derivative reads the output `y`.
    pub output: bool,
}

/// Which saved values [`unary_grad`] needs for `op`: the tape keeps exactly these alive.
pub fn saves(op: UnaryOp) -> Saves {
    use UnaryOp::*;
    let (input, output) = match op {
        Neg | AddScalar(_) | MulScalar(_) | RsubScalar(_) => (false, false),
        Exp | Sqrt | Recip | Tanh | Sigmoid | RpowScalar(_) => (false, true),
        Abs | RdivScalar(_) | Log | Square | Relu | LeakyRelu(_) | Gelu | Erf | Powf(_)
        | Clamp(..) | MaximumScalar(_) | MinimumScalar(_) => (true, false),
    };
    Saves { input, output }
}

#[inline(always)]
fn map1<T: Float>(a: &[T], g: &[T], out: &mut [T], f: impl Fn(T, T) -> T) {
    for ((o, &a), &g) in out.iter_mut().zip(a).zip(g) {
        *o = f(a, g);
    }
}

/// The serial body: one `match` outside the loop.
fn unary_grad_row<T: Float>(op: UnaryOp, x: &[T], y: &[T], g: &[T], out: &mut [T]) {
    let c = |v: f64| T::from_f64(v);
    let half = c(0.5);
    let two = c(2.0);
    match op {
        UnaryOp::Neg | UnaryOp::RsubScalar(_) => map1(g, g, out, |_, g| -g),
        UnaryOp::AddScalar(_) => out.copy_from_slice(g),
        UnaryOp::MulScalar(s) => {
            let s = c(s);
            map1(g, g, out, |_, g| g * s)
        }
        UnaryOp::Abs => map1(x, g, out, |x, g| {
            if x > T::ZERO {
                g
            } else if x < T::ZERO {
                -g
            } else if x.is_nan() {
                x
            } else {
                T::ZERO
            }
        }),
        UnaryOp::Exp => map1(y, g, out, |y, g| g * y),
        UnaryOp::Log => map1(x, g, out, |x, g| g / x),
        UnaryOp::Sqrt => map1(y, g, out, |y, g| g / (two * y)),
        UnaryOp::Square => map1(x, g, out, |x, g| two * x * g),
        UnaryOp::Recip => map1(y, g, out, |y, g| -(g * y * y)),
        UnaryOp::Tanh => map1(y, g, out, |y, g| g * (T::ONE - y * y)),
        UnaryOp::Sigmoid => map1(y, g, out, |y, g| g * y * (T::ONE - y)),
        UnaryOp::Relu => map1(x, g, out, |x, g| if x > T::ZERO { g } else { T::ZERO }),
        UnaryOp::LeakyRelu(a) => {
            let a = c(a);
            map1(x, g, out, |x, g| if x > T::ZERO { g } else { a * g })
        }
        UnaryOp::Gelu => map1(x, g, out, |x, g| {
            g * T::from_f64(gelu_derivative(x.to_f64()))
        }),
        UnaryOp::Erf => map1(x, g, out, |x, g| {
            g * T::from_f64(std::f64::consts::FRAC_2_SQRT_PI * (-x.to_f64().powi(2)).exp())
        }),
        UnaryOp::Powf(p) => {
            if p == 0.0 {
                map1(x, g, out, |_, _| T::ZERO)
            } else {
                let (pt, pm1) = (c(p), c(p - 1.0));
                map1(x, g, out, |x, g| g * pt * x.powf(pm1))
            }
        }
        UnaryOp::Clamp(lo, hi) => {
            let (lo, hi) = (c(lo), c(hi));
            map1(x, g, out, |x, g| {
                if x >= lo && x <= hi {
                    g
                } else if x.is_nan() {
                    x
                } else {
                    T::ZERO
                }
            })
        }
        UnaryOp::RdivScalar(s) => {
            let s = c(s);
            map1(x, g, out, |x, g| -(g * s / (x * x)))
        }
        UnaryOp::RpowScalar(s) => {
            let ln = c(s.ln());
            map1(y, g, out, |y, g| g * y * ln)
        }
        UnaryOp::MaximumScalar(s) => {
            let s = c(s);
            map1(x, g, out, |x, g| pick(x > s, x == s, x, g, half))
        }
        UnaryOp::MinimumScalar(s) => {
            let s = c(s);
            map1(x, g, out, |x, g| pick(x < s, x == s, x, g, half))
        }
    }
}

/// The gradient share of a `maximum`/`minimum` operand: all of it when it wins, half on a tie,
/// NaN when the operand is NaN (the NaN won the forward).
#[inline(always)]
fn pick<T: Float>(wins: bool, tie: bool, x: T, g: T, half: T) -> T {
    if wins {
        g
    } else if tie {
        g * half
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// `d/dx [x Phi(x)] = Phi(x) + x phi(x)`.
pub fn gelu_derivative(x: f64) -> f64 {
    let phi = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    0.5 * (1.0 + erf(x * std::f64::consts::FRAC_1_SQRT_2)) + x * phi
}

/// `out = g * op'(x)` on contiguous slices of equal length, parallel above the threshold.
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
    if worth_parallel(n) {
        out.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .zip(y.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|((o, x), (y, g))| unary_grad_row(op, x, y, g, o));
    } else {
        unary_grad_row(op, x, y, g, out);
    }
}

/// The derivative `op'(x)` in `f64`, from the input alone: the oracle [`unary_grad`] is tested
/// against, written independently of it.
pub fn unary_derivative_reference(op: UnaryOp, x: f64) -> f64 {
    let tie = |wins: bool, tie: bool| {
        if wins {
            1.0
        } else if tie {
            0.5
        } else {
            0.0
        }
    };
    match op {
        UnaryOp::Neg => -1.0,
        UnaryOp::Abs => {
            if x == 0.0 {
                0.0
            } else {
                x.signum()
            }
        }
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => 1.0 / x,
        UnaryOp::Sqrt => 0.5 / x.sqrt(),
        UnaryOp::Square => 2.0 * x,
        UnaryOp::Recip => -1.0 / (x * x),
        UnaryOp::Tanh => 1.0 / x.cosh().powi(2),
        UnaryOp::Sigmoid => {
            let e = (-x.abs()).exp();
            e / (1.0 + e).powi(2)
        }
        UnaryOp::Relu => tie(x > 0.0, false),
        UnaryOp::LeakyRelu(a) => {
            if x > 0.0 {
                1.0
            } else {
                a
            }
        }
        UnaryOp::Gelu => gelu_derivative(x),
        UnaryOp::Erf => 2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp(),
        UnaryOp::Powf(p) => {
            if p == 0.0 {
                0.0
            } else {
                p * x.powf(p - 1.0)
            }
        }
        UnaryOp::Clamp(lo, hi) => tie(x >= lo && x <= hi, false),
        UnaryOp::AddScalar(_) => 1.0,
        UnaryOp::MulScalar(s) => s,
        UnaryOp::RsubScalar(_) => -1.0,
        UnaryOp::RdivScalar(s) => -s / (x * x),
        UnaryOp::RpowScalar(s) => s.powf(x) * s.ln(),
        UnaryOp::MaximumScalar(s) => tie(x > s, x == s),
        UnaryOp::MinimumScalar(s) => tie(x < s, x == s),
    }
}
