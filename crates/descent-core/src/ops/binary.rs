//! Binary elementwise ops with NumPy broadcasting: `add sub mul div pow maximum minimum`, and
//! the operators `+ - * /` on tensors and scalars.
//!
//! **PyTorch equivalent**: `torch.add`, `sub`, `mul`, `div`, `pow`, `maximum`, `minimum`.
//! Broadcasting views each operand with stride 0 along expanded dims; nothing is copied. The
//! backward rules sum the gradient over the broadcast dims back to each input's shape.
//! Derivatives: `d(a*b) = b da + a db`, `d(a/b) = da/b - a/b^2 db`,
//! `d(a^b) = b a^(b-1) da + a^b ln a db`; `maximum` sends the gradient to the larger input and
//! splits it equally on ties (docs/numerics.md).

use crate::dtype::with_dtype;
use crate::error::{Error, Result};
use crate::ops::{BackwardRule, GradsIn, Op, opt};
use crate::panicking::panicking;
use crate::shape::{Shape, broadcast_shapes};
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::{BinaryOp, ZipOp, isa, strided};

impl Tensor {
    /// The shared forward of binary ops and comparisons: checks types and shapes, broadcasts, runs
    /// the kernel.
    pub(crate) fn try_zip(
        &self,
        rhs: &Tensor,
        op: impl ZipOp,
        name: &'static str,
    ) -> Result<Tensor> {
        if self.dtype() != rhs.dtype() {
            return Err(Error::DTypeMismatch {
                op: name,
                lhs: self.dtype(),
                rhs: rhs.dtype(),
            });
        }
        let shape = broadcast_shapes(name, self.shape(), rhs.shape())?;
        let (sa, sb) = (self.strides_for(&shape), rhs.strides_for(&shape));
        Ok(with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::try_for_overwrite::<T>(name, &shape)?;
            if self.shape() == rhs.shape()
                && let (Some(a), Some(b)) =
                    (self.contiguous_slice::<T>(), rhs.contiguous_slice::<T>())
            {
                // Same shape, both contiguous: no broadcasting and no n-d walk.
                descent_kernels::elementwise::binary(op, a, b, &mut out);
                return Ok(Tensor::from_parts(out, &shape));
            }
            let a = strided::Strided::new(self.buffer::<T>(), &sa, self.layout.offset);
            let b = strided::Strided::new(rhs.buffer::<T>(), &sb, rhs.layout.offset);
            strided::binary(isa(), op, &shape, a, b, &mut out);
            Tensor::from_parts(out, &shape)
        }))
    }
}

/// The backward rule of the binary ops. Each input's gradient is computed at the broadcast
/// shape, then summed back to the input's shape ([`Tensor::try_sum_to`]).
pub(crate) struct BinaryNode {
    pub(crate) op: BinaryOp,
    /// The inputs and the output, each saved only if the rule reads it.
    pub(crate) a: Option<Tensor>,
    pub(crate) b: Option<Tensor>,
    pub(crate) y: Option<Tensor>,
    pub(crate) a_shape: Shape,
    pub(crate) b_shape: Shape,
}

/// Which of `(a, b, y)` the backward rule of `op` reads.
fn binary_saves(op: BinaryOp) -> (bool, bool, bool) {
    match op {
        BinaryOp::Add | BinaryOp::Sub => (false, false, false),
        BinaryOp::Mul => (true, true, false),
        BinaryOp::Div => (false, true, true),
        BinaryOp::Pow => (true, true, true),
        BinaryOp::Maximum | BinaryOp::Minimum => (true, true, false),
    }
}

impl BackwardRule for BinaryNode {
    fn saved_bytes(&self) -> usize {
        opt(&self.a) + opt(&self.b) + opt(&self.y)
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let (need_a, need_b) = (grads.needs(0), grads.needs(1));
        let saved = |t: &Option<Tensor>| t.clone().expect("saved by the forward");
        let (da, db): (Option<Tensor>, Option<Tensor>) = match self.op {
            BinaryOp::Add => (need_a.then(|| g.clone()), need_b.then(|| g.clone())),
            BinaryOp::Sub => (need_a.then(|| g.clone()), need_b.then(|| g.neg())),
            BinaryOp::Mul => (
                need_a.then(|| g.mul(&saved(&self.b))),
                need_b.then(|| g.mul(&saved(&self.a))),
            ),
            BinaryOp::Div => {
                let b = saved(&self.b);
                (
                    need_a.then(|| g.div(&b)),
                    // d(a/b)/db = -a/b^2 = -y/b
                    need_b.then(|| g.mul(&saved(&self.y)).div(&b).neg()),
                )
            }
            BinaryOp::Pow => {
                let (a, b, y) = (saved(&self.a), saved(&self.b), saved(&self.y));
                (
                    // b a^(b-1); 0 where b = 0 (so a = 0 gives 0, not 0 * inf)
                    need_a.then(|| {
                        let d = b.mul(&a.pow(&b.sub_scalar(1.0)));
                        g.mul(
                            &b.eq_scalar(0.0)
                                .where_cond(&Tensor::scalar(0.0, g.dtype()), &d),
                        )
                    }),
                    // a^b ln a; 0 where a = 0 (the limit for b > 0, PyTorch's choice)
                    need_b.then(|| {
                        let d = y.mul(&a.log());
                        g.mul(
                            &a.eq_scalar(0.0)
                                .where_cond(&Tensor::scalar(0.0, g.dtype()), &d),
                        )
                    }),
                )
            }
            BinaryOp::Maximum | BinaryOp::Minimum => {
                let (a, b) = (saved(&self.a), saved(&self.b));
                // The winner takes the gradient; a tie splits it equally (docs/numerics.md).
                let share = |x: &Tensor, other: &Tensor| {
                    let wins = if self.op == BinaryOp::Maximum {
                        x.gt(other)
                    } else {
                        x.lt(other)
                    };
                    g.mul(&wins.add(&x.eq(other).mul_scalar(0.5)))
                };
                (need_a.then(|| share(&a, &b)), need_b.then(|| share(&b, &a)))
            }
        };
        if let Some(da) = da {
            grads.set(0, da.try_sum_to(&self.a_shape)?);
        }
        if let Some(db) = db {
            grads.set(1, db.try_sum_to(&self.b_shape)?);
        }
        Ok(())
    }
}

impl Var {
    /// Records a binary op with broadcasting: the shared forward of this family on variables.
    #[track_caller]
    fn try_zip_var(&self, rhs: &Var, op: BinaryOp, name: &'static str) -> Result<Var> {
        Var::record(name, &[self, rhs], || {
            let (a, b) = (self.value(), rhs.value());
            let y = a.try_zip(b, op, name)?;
            let (sa, sb, sy) = binary_saves(op);
            Ok(Recorded {
                op: Op::Binary(Box::new(BinaryNode {
                    op,
                    a: sa.then(|| a.clone()),
                    b: sb.then(|| b.clone()),
                    y: sy.then(|| y.clone()),
                    a_shape: a.dims(),
                    b_shape: b.dims(),
                })),
                value: y,
            })
        })
    }
}

/// Declares each binary op once, for `Tensor` and `Var`: `try_<op>` (the `Var` form records a
/// [`BinaryNode`]) and, through [`panicking!`], `<op>`.
macro_rules! binary_ops {
    ($($(#[$doc:meta])* $name:ident, $try_name:ident, $op:ident;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                /// If the shapes do not broadcast or the element types differ.
                pub fn $try_name(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.try_zip(rhs, BinaryOp::$op, stringify!($name))
                }
            )*
        }

        impl Var {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                /// If the shapes do not broadcast, the element types differ, or the operands are
                /// on different (or consumed) tapes.
                #[track_caller]
                pub fn $try_name(&self, rhs: &Var) -> Result<Var> {
                    self.try_zip_var(rhs, BinaryOp::$op, stringify!($name))
                }
            )*
        }

        panicking! { Tensor, Var:
            $(
                $(#[$doc])*
                $name = $try_name(rhs: &Self) -> Self;
            )*
        }
    };
}

binary_ops! {
    /// `a + b` with broadcasting; each gradient is `g` summed over the broadcast dims.
    add, try_add, Add;
    /// `a - b` with broadcasting; gradients `g` and `-g`.
    sub, try_sub, Sub;
    /// `a * b` with broadcasting; gradients `g b` and `g a`.
    mul, try_mul, Mul;
    /// `a / b` with broadcasting; gradients `g / b` and `-g a / b^2`.
    div, try_div, Div;
    /// `a^b` with broadcasting; gradients `g b a^(b-1)` and `g a^b ln a`.
    pow, try_pow, Pow;
    /// The larger of `a` and `b`, elementwise with broadcasting, NaN if either is NaN; the
    /// larger input takes the gradient, a tie splits it.
    maximum, try_maximum, Maximum;
    /// The smaller of `a` and `b`, elementwise with broadcasting, NaN if either is NaN; the
    /// smaller input takes the gradient, a tie splits it.
    minimum, try_minimum, Minimum;
}

/// The operators `+ - * /` between two `$T`s (owned or borrowed) and between a `$T` and an
/// `f64` on either side (`c - x` is `rsub_scalar`), and unary `-`: each calls the named method,
/// which panics at the caller's line on a shape mismatch.
macro_rules! operators {
    ($T:ident: $($trait:ident, $method:ident, $scalar_fn:ident, $rscalar:ident;)*) => {$(
        impl std::ops::$trait<&$T> for &$T {
            type Output = $T;
            #[track_caller]
            fn $method(self, rhs: &$T) -> $T {
                $T::$method(self, rhs)
            }
        }
        impl std::ops::$trait<$T> for $T {
            type Output = $T;
            #[track_caller]
            fn $method(self, rhs: $T) -> $T {
                $T::$method(&self, &rhs)
            }
        }
        impl std::ops::$trait<&$T> for $T {
            type Output = $T;
            #[track_caller]
            fn $method(self, rhs: &$T) -> $T {
                $T::$method(&self, rhs)
            }
        }
        impl std::ops::$trait<$T> for &$T {
            type Output = $T;
            #[track_caller]
            fn $method(self, rhs: $T) -> $T {
                $T::$method(self, &rhs)
            }
        }
        impl std::ops::$trait<f64> for &$T {
            type Output = $T;
            #[track_caller]
            fn $method(self, rhs: f64) -> $T {
                self.$scalar_fn(rhs)
            }
        }
        impl std::ops::$trait<f64> for $T {
            type Output = $T;
            #[track_caller]
            fn $method(self, rhs: f64) -> $T {
                self.$scalar_fn(rhs)
            }
        }
        impl std::ops::$trait<&$T> for f64 {
            type Output = $T;
            #[track_caller]
            fn $method(self, rhs: &$T) -> $T {
                rhs.$rscalar(self)
            }
        }
        impl std::ops::$trait<$T> for f64 {
            type Output = $T;
            #[track_caller]
            fn $method(self, rhs: $T) -> $T {
                rhs.$rscalar(self)
            }
        }
    )*
        impl std::ops::Neg for &$T {
            type Output = $T;
            #[track_caller]
            fn neg(self) -> $T {
                $T::neg(self)
            }
        }
        impl std::ops::Neg for $T {
            type Output = $T;
            #[track_caller]
            fn neg(self) -> $T {
                $T::neg(&self)
            }
        }
    };
}

macro_rules! all_operators {
    ($($T:ident),*) => {$(
        operators! { $T:
            Add, add, add_scalar, add_scalar;
            Sub, sub, sub_scalar, rsub_scalar;
            Mul, mul, mul_scalar, mul_scalar;
            Div, div, div_scalar, rdiv_scalar;
        }
    )*};
}

all_operators!(Tensor, Var);

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn broadcast_add_golden() {
        // [[0], [10], [20]] + [1, 2] = [[1, 2], [11, 12], [21, 22]].
        let a = Tensor::from_vec(vec![0.0f32, 10.0, 20.0], [3, 1]);
        let b = Tensor::from_vec(vec![1.0f32, 2.0], [2]);
        assert_eq!(
            (&a + &b).to_vec_f32(),
            vec![1.0, 2.0, 11.0, 12.0, 21.0, 22.0]
        );
        assert_eq!((&b * 2.0).to_vec_f32(), vec![2.0, 4.0]);
        assert_eq!((1.0 - &b).to_vec_f32(), vec![0.0, -1.0]);
        assert_eq!((4.0 / &b).to_vec_f32(), vec![4.0, 2.0]);
    }

    #[test]
    fn mismatch_message_names_op_shapes_and_dim() {
        let a = Tensor::zeros([4, 3]);
        let b = Tensor::zeros([4, 5]);
        assert_eq!(
            a.try_add(&b).unwrap_err().to_string(),
            "add: [4, 3] and [4, 5] do not broadcast: dim 1 is 3 vs 5 and neither is 1"
        );
        let c = Tensor::zeros([4, 3]).to_dtype(crate::DType::F64);
        assert!(
            a.try_mul(&c)
                .unwrap_err()
                .to_string()
                .starts_with("mul: element types differ")
        );
    }

    #[test]
    fn operator_panic_points_at_the_callers_line() {
        let r = std::panic::catch_unwind(|| {
            let _ = &Tensor::zeros([2]) + &Tensor::zeros([3]);
        });
        assert!(r.is_err());
    }
}
