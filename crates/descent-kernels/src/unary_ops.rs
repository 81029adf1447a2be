//! The unary elementwise ops as one table: each op's forward, derivative and `f64` references
//! side by side, one entry per op.
//!
//! The `unary_ops!` invocation at the end of this file (`src/unary_ops.rs`) is the table; the
//! macro's doc comment, just above it, says how to write an entry. From the table the macro
//! generates:
//!
//! - [`UnaryOp`], one variant per entry, with the entry's doc and its `f64` parameters;
//! - `unary_row_body`, the forward row kernel: one `match` outside the loop, the entry's
//!   `forward` closure inside it. Every instruction-set path compiles this one body (`simd/`);
//! - `unary_grad_row`, the backward row kernel `dx = g * op'(..)`, with the entry's `derivative`;
//! - [`saves`], what each derivative reads (the input, the output or neither), taken from the
//!   derivative's own parameter list, so the two cannot disagree;
//! - [`unary_reference`] and [`unary_derivative_reference`], the `f64` oracles the tests compare
//!   the fast code with, written independently of it;
//! - [`UnaryOp::samples`], instances of every op that the kernel tests iterate.
//!
//! Every generated `match` is exhaustive, so an op cannot lack a derivative or a reference.
//! Adding an op is one entry here plus its test line (`unary_case` in the kernel tests'
//! `common/mod.rs`); descent-core then gives it a `Tensor` and a `Var` method (`ops/unary.rs`).
//! Ties and NaN of the piecewise ops follow `docs/numerics.md`: `relu'(0) = 0`, `abs'(0) = 0`,
//! `clamp` passes the gradient on its closed interval, `maximum(x, c)` at `x == c` sends half of
//! it, and `relu`, `clamp`, `maximum`/`minimum` propagate NaN.

use crate::elementwise::nan_or;
use crate::float::Float;
use crate::special::{erf, gelu, gelu_derivative};
use std::f64::consts::{FRAC_2_SQRT_PI, PI, SQRT_2};

/// What the backward rule of a unary op reads: the forward's input, its output, or neither
/// (never both: the tape keeps at most one tensor per unary op).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saves {
    /// The derivative reads the input `x`.
    pub input: bool,
    /// The derivative reads the output `y`.
    pub output: bool,
}

/// `out[i] = f(x[i * sx])`: the forward loop.
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

/// `out[i] = f(saved[i], g[i])`: the loop of a derivative that reads the input or the output.
#[inline(always)]
fn grad_map<T: Float>(saved: &[T], g: &[T], out: &mut [T], f: impl Fn(T, T) -> T) {
    for ((o, &v), &g) in out.iter_mut().zip(saved).zip(g) {
        *o = f(v, g);
    }
}

/// `out[i] = f(g[i])`: the loop of a derivative that reads neither (`|g| g` becomes a `memcpy`).
#[inline(always)]
fn grad_map_g<T: Float>(g: &[T], out: &mut [T], f: impl Fn(T) -> T) {
    for (o, &g) in out.iter_mut().zip(g) {
        *o = f(g);
    }
}

/// The gradient share of a `maximum`/`minimum` operand: all of it when it wins, half on a tie,
/// NaN when the operand is NaN (the NaN won the forward).
#[inline(always)]
fn pick<T: Float>(wins: bool, tie: bool, x: T, g: T) -> T {
    if wins {
        g
    } else if tie {
        g * T::from_f64(0.5)
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// The reference of [`pick`]'s factor: `1` when the operand wins, `0.5` on a tie, else `0`.
fn share(wins: bool, tie: bool) -> f64 {
    if wins {
        1.0
    } else if tie {
        0.5
    } else {
        0.0
    }
}

/// The `f64` type of a parameter: `LeakyRelu(negative_slope)` is `LeakyRelu(f64)`.
macro_rules! f64_param {
    ($param:ident) => {
        f64
    };
}

/// Generates the unary ops from a table of one entry per op (the invocation below).
///
/// An entry (fields in this order; `derivative_setup` and `samples` are optional):
///
/// ```text
/// /// `x^p` (the variant's doc).
/// Powf(p) {
///     forward: |x| x.powf(p),
///     derivative_setup: { let p_minus_1 = T::from_f64(p - 1.0); },
///     derivative: |x, g| g * p * x.powf(p_minus_1),
///     reference: |x| x.powf(p),
///     reference_derivative: |x| p * x.powf(p - 1.0),
///     samples: [(2.5), (-1.5)],
/// },
/// ```
///
/// - The name and its parameters, `Name` or `Name(a, b)`, become the variant `Name(f64, f64)`.
/// - `forward` and `derivative` are the fast code, generic over `T: Float`: their arguments and
///   the parameters are `T` (each parameter converted from `f64` once per row, outside the loop).
///   The bodies are compiled once per instruction set, so they should stay branch-light,
///   straight-line arithmetic the compiler can vectorize (no libm call in the hot ops).
/// - The derivative's first argument says what it reads, and so what the tape keeps ([`saves`]):
///   `|x, g|` the forward's input, `|y, g|` its output, `|g|` neither. It returns `g * op'`.
/// - `derivative_setup` holds statements run once per row before the derivative's loop, with the
///   parameters still `f64`: constants the derivative needs beyond its parameters.
/// - `reference` and `reference_derivative` are plain `f64` code of the input `x`, written
///   independently of the fast code (another formula where there is one): the tests' oracles.
/// - `samples` lists the parameter values the tests try (one tuple per instance); an op without
///   parameters has exactly one instance and lists none.
///
/// To add an op: write its entry, then its one line in `unary_case` (tests/common/mod.rs:
/// input domain, tolerance and smooth intervals); the compiler points at every other place, as
/// all the generated `match`es and the tests' `match` are exhaustive.
macro_rules! unary_ops {
    // What a derivative reads, from its first argument.
    (@saves |$g:ident|) => { Saves { input: false, output: false } };
    (@saves |x, $g:ident|) => { Saves { input: true, output: false } };
    (@saves |y, $g:ident|) => { Saves { input: false, output: true } };
    (@saves $($other:tt)*) => { unary_ops!(@reads_what) };
    // The derivative's loop over the slice it reads.
    (@grad $xs:ident $ys:ident $gs:ident $out:ident |$g:ident| $body:expr) => {
        grad_map_g($gs, $out, |$g: T| $body)
    };
    (@grad $xs:ident $ys:ident $gs:ident $out:ident |$v:ident, $g:ident| $body:expr) => {
        grad_map(unary_ops!(@slice $v $xs $ys), $gs, $out, |$v: T, $g: T| $body)
    };
    (@slice x $xs:ident $ys:ident) => { $xs };
    (@slice y $xs:ident $ys:ident) => { $ys };
    (@slice $other:ident $xs:ident $ys:ident) => { unary_ops!(@reads_what) };
    (@reads_what) => {
        compile_error!("a derivative is `|x, g|` (reads the input), `|y, g|` (the output) or `|g|`")
    };
    // The instances of one op for `UnaryOp::samples`.
    (@samples $name:ident [] []) => { [UnaryOp::$name] };
    (@samples $name:ident [$($param:ident)+] [$(($($arg:expr),+))+]) => {
        [$(UnaryOp::$name($($arg),+)),+]
    };
    (@samples $name:ident $params:tt $samples:tt) => {
        compile_error!(concat!(
            "unary_ops!: `", stringify!($name),
            "` lists `samples` if and only if it has parameters"
        ))
    };
    // The table.
    ($(
        $(#[$attr:meta])*
        $name:ident $(($($param:ident),+))? {
            forward: |$fx:ident| $forward:expr,
            $(derivative_setup: { $($setup:tt)* },)?
            derivative: |$($darg:ident),+| $derivative:expr,
            reference: |$rx:ident| $reference:expr,
            reference_derivative: |$rdx:ident| $reference_derivative:expr,
            $(samples: [$(($($sample:expr),+)),+ $(,)?],)?
        }
    ),* $(,)?) => {
        /// A unary elementwise op. Parameters are `f64` and converted to the element type once.
        ///
        /// Each variant is one entry of the table in `unary_ops.rs`, with its forward, derivative
        /// and references.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum UnaryOp {
            $(
                $(#[$attr])*
                $name $(($(f64_param!($param)),+))?,
            )*
        }

        impl UnaryOp {
            /// Instances of every op, each parameterized one at the values its entry lists: what
            /// the kernel tests iterate, so a new op is tested as soon as it is in the table.
            pub fn samples() -> Vec<UnaryOp> {
                let mut all = Vec::new();
                $(
                    all.extend(unary_ops!(
                        @samples $name
                        [$($($param)+)?]
                        [$($(($($sample),+))+)?]
                    ));
                )*
                all
            }
        }

        /// The forward body every ISA compiles: one `match` outside the loop, a closure inside it.
        #[inline(always)]
        pub(crate) fn unary_row_body<T: Float>(op: UnaryOp, xs: &[T], sx: usize, out: &mut [T]) {
            match op {
                $(
                    UnaryOp::$name $(($($param),+))? => {
                        $($(let $param = T::from_f64($param);)+)?
                        map(xs, sx, out, |$fx: T| $forward)
                    }
                )*
            }
        }

        /// The backward body: `out = g * op'` from the saved input `xs` or output `ys`, one
        /// `match` outside the loop.
        pub(crate) fn unary_grad_row<T: Float>(
            op: UnaryOp,
            xs: &[T],
            ys: &[T],
            gs: &[T],
            out: &mut [T],
        ) {
            match op {
                $(
                    UnaryOp::$name $(($($param),+))? => {
                        $($($setup)*)?
                        $($(
                            // Some derivatives do not depend on a parameter (that of `x + c`).
                            #[allow(unused_variables)]
                            let $param = T::from_f64($param);
                        )+)?
                        unary_ops!(@grad xs ys gs out |$($darg),+| $derivative)
                    }
                )*
            }
        }

        /// Which saved values [`unary_grad`](crate::elementwise_grad::unary_grad) needs for `op`:
        /// the tape keeps exactly these alive.
        pub fn saves(op: UnaryOp) -> Saves {
            match op {
                $(UnaryOp::$name { .. } => unary_ops!(@saves |$($darg),+|),)*
            }
        }

        /// The scalar reference of a unary op, in `f64`, written independently of the fast body:
        /// the oracle the fast paths are tested against.
        pub fn unary_reference(op: UnaryOp, v: f64) -> f64 {
            match op {
                $(
                    UnaryOp::$name $(($($param),+))? => {
                        let $rx = v;
                        $reference
                    }
                )*
            }
        }

        /// The derivative `op'(x)` in `f64`, from the input alone: the oracle
        /// [`unary_grad`](crate::elementwise_grad::unary_grad) is tested against, written
        /// independently of it.
        pub fn unary_derivative_reference(op: UnaryOp, v: f64) -> f64 {
            match op {
                $(
                    // Some derivatives do not depend on a parameter (that of `x + c`).
                    #[allow(unused_variables)]
                    UnaryOp::$name $(($($param),+))? => {
                        let $rdx = v;
                        $reference_derivative
                    }
                )*
            }
        }
    };
}

unary_ops! {
    /// `-x`
    Neg {
        forward: |x| -x,
        derivative: |g| -g,
        reference: |x| -x,
        reference_derivative: |_x| -1.0,
    },
    /// `|x|`
    Abs {
        forward: |x| x.abs(),
        derivative: |x, g| if x > T::ZERO {
            g
        } else if x < T::ZERO {
            -g
        } else if x.is_nan() {
            x
        } else {
            T::ZERO
        },
        reference: |x| x.abs(),
        reference_derivative: |x| if x == 0.0 { 0.0 } else { x.signum() },
    },
    /// `e^x`
    Exp {
        forward: |x| x.exp(),
        derivative: |y, g| g * y,
        reference: |x| x.exp(),
        reference_derivative: |x| x.exp(),
    },
    /// `ln x`
    Log {
        forward: |x| x.ln(),
        derivative: |x, g| g / x,
        reference: |x| x.ln(),
        reference_derivative: |x| 1.0 / x,
    },
    /// `sqrt x`
    Sqrt {
        forward: |x| x.sqrt(),
        derivative: |y, g| g / (T::from_f64(2.0) * y),
        reference: |x| x.sqrt(),
        reference_derivative: |x| 0.5 / x.sqrt(),
    },
    /// `x^2`
    Square {
        forward: |x| x * x,
        derivative: |x, g| T::from_f64(2.0) * x * g,
        reference: |x| x * x,
        reference_derivative: |x| 2.0 * x,
    },
    /// `1 / x`
    Recip {
        forward: |x| T::ONE / x,
        derivative: |y, g| -(g * y * y),
        reference: |x| 1.0 / x,
        reference_derivative: |x| -1.0 / (x * x),
    },
    /// `tanh x`
    Tanh {
        // `Float::tanh`: Cephes' branch-free `tanhf` in `f32` (vectorizes), libm in `f64`.
        forward: |x| x.tanh(),
        derivative: |y, g| g * (T::ONE - y * y),
        reference: |x| x.tanh(),
        reference_derivative: |x| 1.0 / x.cosh().powi(2),
    },
    /// `1 / (1 + e^-x)`
    Sigmoid {
        // Stable on both tails: never evaluates `e^x` for large positive `x`.
        forward: |x| if x >= T::ZERO {
            T::ONE / (T::ONE + (-x).exp())
        } else {
            let e = x.exp();
            e / (T::ONE + e)
        },
        derivative: |y, g| g * y * (T::ONE - y),
        reference: |x| 1.0 / (1.0 + (-x).exp()),
        reference_derivative: |x| {
            let e = (-x.abs()).exp();
            e / (1.0 + e).powi(2)
        },
    },
    /// `max(x, 0)`; NaN stays NaN.
    Relu {
        forward: |x| if x < T::ZERO { T::ZERO } else { x },
        derivative: |x, g| if x > T::ZERO { g } else { T::ZERO },
        reference: |x| if x.is_nan() { x } else { x.max(0.0) },
        reference_derivative: |x| if x > 0.0 { 1.0 } else { 0.0 },
    },
    /// `x` if `x > 0`, else `negative_slope * x`.
    LeakyRelu(negative_slope) {
        forward: |x| if x > T::ZERO { x } else { negative_slope * x },
        derivative: |x, g| if x > T::ZERO { g } else { negative_slope * g },
        reference: |x| if x > 0.0 { x } else { negative_slope * x },
        reference_derivative: |x| if x > 0.0 { 1.0 } else { negative_slope },
        samples: [(0.125), (0.01)],
    },
    /// `x * Phi(x)` with the exact (erf) normal CDF, as PyTorch's default `gelu`.
    Gelu {
        forward: |x| T::from_f64(gelu(x.to_f64())),
        derivative: |x, g| g * T::from_f64(gelu_derivative(x.to_f64())),
        reference: |x| 0.5 * x * (1.0 + erf(x / SQRT_2)),
        reference_derivative: |x| gelu_derivative(x),
    },
    /// `erf x`
    Erf {
        forward: |x| T::from_f64(erf(x.to_f64())),
        derivative: |x, g| g * T::from_f64(FRAC_2_SQRT_PI * (-x.to_f64().powi(2)).exp()),
        reference: |x| erf(x),
        reference_derivative: |x| 2.0 / PI.sqrt() * (-x * x).exp(),
    },
    /// `x^p`
    Powf(p) {
        forward: |x| x.powf(p),
        derivative_setup: {
            // `x^0` is constant: its derivative is 0 even where `x^-1` is infinite.
            let p_is_zero = p == 0.0;
            let p_minus_1 = T::from_f64(p - 1.0);
        },
        derivative: |x, g| if p_is_zero { T::ZERO } else { g * p * x.powf(p_minus_1) },
        reference: |x| x.powf(p),
        reference_derivative: |x| if p == 0.0 { 0.0 } else { p * x.powf(p - 1.0) },
        samples: [(2.5), (-1.5), (3.0), (0.5), (0.0)],
    },
    /// `min(max(x, min), max)`; NaN stays NaN.
    Clamp(min, max) {
        forward: |x| if x < min {
            min
        } else if x > max {
            max
        } else {
            x
        },
        derivative: |x, g| if x >= min && x <= max {
            g
        } else if x.is_nan() {
            x
        } else {
            T::ZERO
        },
        reference: |x| if x.is_nan() { x } else { x.max(min).min(max) },
        reference_derivative: |x| if x >= min && x <= max { 1.0 } else { 0.0 },
        samples: [(-2.5, 4.0), (-1.0, 1.0)],
    },
    /// `x + c`
    AddScalar(c) {
        forward: |x| x + c,
        derivative: |g| g,
        reference: |x| x + c,
        reference_derivative: |_x| 1.0,
        samples: [(0.75)],
    },
    /// `x * c`
    MulScalar(c) {
        forward: |x| x * c,
        derivative: |g| g * c,
        reference: |x| x * c,
        reference_derivative: |_x| c,
        samples: [(-3.5), (1.0)],
    },
    /// `c - x` (reversed scalar subtraction).
    RsubScalar(c) {
        forward: |x| c - x,
        derivative: |g| -g,
        reference: |x| c - x,
        reference_derivative: |_x| -1.0,
        samples: [(2.25)],
    },
    /// `c / x` (reversed scalar division).
    RdivScalar(c) {
        forward: |x| c / x,
        derivative: |x, g| -(g * c / (x * x)),
        reference: |x| c / x,
        reference_derivative: |x| -c / (x * x),
        samples: [(1.5)],
    },
    /// `c^x` (reversed scalar power).
    RpowScalar(c) {
        forward: |x| c.powf(x),
        derivative_setup: { let ln_c = T::from_f64(c.ln()); },
        derivative: |y, g| g * y * ln_c,
        reference: |x| c.powf(x),
        reference_derivative: |x| c.powf(x) * c.ln(),
        samples: [(2.5)],
    },
    /// `max(x, c)`; NaN stays NaN.
    MaximumScalar(c) {
        forward: |x| x.max_nan(c),
        derivative: |x, g| pick(x > c, x == c, x, g),
        reference: |x| nan_or(x, c, x.max(c)),
        reference_derivative: |x| share(x > c, x == c),
        samples: [(0.5)],
    },
    /// `min(x, c)`; NaN stays NaN.
    MinimumScalar(c) {
        forward: |x| x.min_nan(c),
        derivative: |x, g| pick(x < c, x == c, x, g),
        reference: |x| nan_or(x, c, x.min(c)),
        reference_derivative: |x| share(x < c, x == c),
        samples: [(-0.5)],
    },
}
