//! Unary elementwise ops: `neg abs exp log sqrt square recip tanh sigmoid relu leaky_relu gelu
//! erf powf clamp`, and the scalar forms of the binary ops.
//!
//! **PyTorch equivalent**: the functions of the same name (`gelu` is the exact, erf-based one;
//! `powf` is `torch.pow(x, p)`). Each is one kernel call and one recorded
//! op: `tanh` is coarse, not `(e^x - e^-x) / (e^x + e^-x)`. Derivatives (for the backward rules):
//! `tanh' = 1 - y^2` and `sigmoid' = y (1 - y)` use the saved output; `exp' = y`;
//! `log' = 1/x`, `sqrt' = 1/(2y)`, `relu' = [x > 0]`, `gelu' = Phi(x) + x phi(x)` use the input.

use crate::dtype::with_dtype;
use crate::error::Result;
use crate::ops::{BackwardRule, GradsIn, Op, opt};
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::elementwise_grad::{saves, unary_grad};
use descent_kernels::{UnaryOp, elementwise, isa, strided};

impl Tensor {
    /// Applies a unary kernel op to every element (the shared forward of this family).
    pub(crate) fn map_unary(&self, op: UnaryOp) -> Tensor {
        with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::for_overwrite::<T>(self.numel());
            match self.contiguous_slice::<T>() {
                // The common case skips the n-d walk (W4: a third of a small op's kernel time).
                Some(x) => elementwise::unary(op, x, &mut out),
                None => strided::unary(isa(), op, self.shape(), self.strided::<T>(), &mut out),
            }
            Tensor::from_parts(out, self.shape())
        })
    }
}

/// The backward rule of every unary op: `dx = g * op'(x)`, by the fused kernel
/// [`unary_grad`], reading the saved input or output ([`saves`] says which).
pub(crate) struct UnaryNode {
    pub(crate) op: UnaryOp,
    /// The input or the output, whichever [`saves`] names (at most one is ever needed).
    pub(crate) saved: Option<Tensor>,
}

impl BackwardRule for UnaryNode {
    fn saved_bytes(&self) -> usize {
        opt(&self.saved)
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        if !grads.needs(0) {
            return Ok(());
        }
        let need = saves(self.op);
        let dx = with_dtype!(g.dtype(), T => {
            let gs = g.elements::<T>();
            let saved = self.saved.as_ref().map(|t| t.elements::<T>());
            let saved: &[T] = saved.as_deref().unwrap_or(&[]);
            let (xs, ys) = if need.input { (saved, &[][..]) } else { (&[][..], saved) };
            let mut out = crate::dtype::for_overwrite::<T>(gs.len());
            unary_grad(self.op, xs, ys, &gs, &mut out);
            Tensor::from_parts(out, g.shape())
        });
        grads.set(0, dx);
        Ok(())
    }
}

impl Var {
    /// Records a unary op: the shared forward of this family on variables.
    #[track_caller]
    pub(crate) fn unary(&self, name: &'static str, op: UnaryOp) -> Var {
        let r = Var::record(name, &[self], || {
            let x = self.value();
            let y = x.map_unary(op);
            let need = saves(op);
            Ok(Recorded {
                op: Op::Unary(UnaryNode {
                    op,
                    saved: if need.input {
                        Some(x.clone())
                    } else if need.output {
                        Some(y.clone())
                    } else {
                        None
                    },
                }),
                value: y,
            })
        });
        // Unwrapped here rather than by the caller: one move of the `Var` fewer per op (W4).
        crate::error::or_panic(r)
    }
}

/// Declares each unary op once: its doc, its `Tensor` method, its `Var` method (recorded under
/// the op's name), and the kernel op it runs, whose forward and derivative are one entry of the
/// unary table in `descent_kernels`.
macro_rules! unary_ops {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) => $op:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self, $($arg: $ty),*) -> Tensor {
                    self.map_unary($op)
                }
            )*
        }

        impl Var {
            $(
                $(#[$doc])*
                ///
                /// # Panics
                /// If the variable's tape was consumed or dropped.
                #[track_caller]
                pub fn $name(&self, $($arg: $ty),*) -> Var {
                    self.unary(stringify!($name), $op)
                }
            )*
        }
    };
}

unary_ops! {
    /// `-x`; gradient `-g`.
    neg() => UnaryOp::Neg;
    /// `|x|`; gradient `g sign(x)`, 0 at 0.
    abs() => UnaryOp::Abs;
    /// `e^x`; gradient `g y`.
    exp() => UnaryOp::Exp;
    /// Natural logarithm (NaN below 0, `-inf` at 0); gradient `g / x`.
    log() => UnaryOp::Log;
    /// Square root (NaN below 0); gradient `g / (2 y)`.
    sqrt() => UnaryOp::Sqrt;
    /// `x^2`; gradient `2 x g`.
    square() => UnaryOp::Square;
    /// `1 / x`; gradient `-g y^2`.
    recip() => UnaryOp::Recip;
    /// Hyperbolic tangent, one op; gradient `g (1 - y^2)`.
    ///
    /// ```
    /// use descent_core::{Tape, Tensor};
    /// let y = Tensor::from_vec(vec![0.0f32, 100.0], [2]).tanh();
    /// assert_eq!(y.to_vec_f32(), vec![0.0, 1.0]);
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::from_vec(vec![0.0f64], [1]));
    /// let g = x.tanh().sum_all().backward();
    /// assert_eq!(g.wrt(&x).unwrap().to_vec_f64(), vec![1.0]); // 1 - tanh(0)^2
    /// ```
    tanh() => UnaryOp::Tanh;
    /// Logistic sigmoid `1 / (1 + e^-x)`, stable on both tails; gradient `g y (1 - y)`.
    sigmoid() => UnaryOp::Sigmoid;
    /// `max(x, 0)`, NaN stays NaN; gradient `g [x > 0]` (0 at 0, as PyTorch).
    relu() => UnaryOp::Relu;
    /// `x` where `x > 0`, else `negative_slope * x` (torch's default slope is 0.01); gradient
    /// `g` where `x > 0`, else `negative_slope g`.
    leaky_relu(negative_slope: f64) => UnaryOp::LeakyRelu(negative_slope);
    /// The exact GELU `x Phi(x)`, as `torch.nn.functional.gelu`'s default; gradient
    /// `g (Phi(x) + x phi(x))`.
    gelu() => UnaryOp::Gelu;
    /// The error function; gradient `g 2/sqrt(pi) e^(-x^2)`.
    erf() => UnaryOp::Erf;
    /// `x^p` for a scalar exponent; gradient `g p x^(p-1)`.
    powf(p: f64) => UnaryOp::Powf(p);
    /// `min(max(x, min), max)`, NaN stays NaN; gradient `g` on the closed interval `[min, max]`,
    /// else 0.
    clamp(min: f64, max: f64) => UnaryOp::Clamp(min, max);
    /// `x + c`.
    add_scalar(c: f64) => UnaryOp::AddScalar(c);
    /// `x - c`.
    sub_scalar(c: f64) => UnaryOp::AddScalar(-c);
    /// `x * c`.
    mul_scalar(c: f64) => UnaryOp::MulScalar(c);
    /// `x / c`.
    div_scalar(c: f64) => UnaryOp::MulScalar(1.0 / c);
    /// `c - x`.
    rsub_scalar(c: f64) => UnaryOp::RsubScalar(c);
    /// `c / x`.
    rdiv_scalar(c: f64) => UnaryOp::RdivScalar(c);
    /// `c^x`.
    rpow_scalar(c: f64) => UnaryOp::RpowScalar(c);
    /// `max(x, c)`, NaN stays NaN; on a tie the gradient is halved (docs/numerics.md).
    maximum_scalar(c: f64) => UnaryOp::MaximumScalar(c);
    /// `min(x, c)`, NaN stays NaN; on a tie the gradient is halved.
    minimum_scalar(c: f64) => UnaryOp::MinimumScalar(c);
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn unary_forward_golden() {
        let x = Tensor::from_vec(vec![-1.0f64, 0.5, 2.0], [3]);
        // relu: [0, 0.5, 2]; sigmoid(0.5) = 1 / (1 + e^-0.5) = 0.6224593312018546.
        assert_eq!(x.relu().to_vec_f64(), vec![0.0, 0.5, 2.0]);
        assert!((x.sigmoid().to_vec_f64()[1] - 0.622_459_331_201_854_6).abs() < 1e-15);
        // gelu(2) = 2 * Phi(2) = 2 * 0.9772498680518208 (torch: 1.9544997361036416).
        assert!((x.gelu().to_vec_f64()[2] - 1.954_499_736_103_641_6).abs() < 1e-14);
        assert_eq!(x.leaky_relu(0.1).to_vec_f64(), vec![-0.1, 0.5, 2.0]);
        assert_eq!(x.clamp(0.0, 1.0).to_vec_f64(), vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn unary_on_a_transposed_view() {
        let x = Tensor::from_vec(vec![1.0f32, 4.0, 9.0, 16.0], [2, 2]).t();
        assert_eq!(x.sqrt().to_vec_f32(), vec![1.0, 3.0, 2.0, 4.0]);
    }
}
