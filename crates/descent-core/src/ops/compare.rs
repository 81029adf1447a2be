//! Comparisons giving masks, and `where_cond`. Not differentiable: masks carry no gradient
//! (`where_cond` passes the gradient to the branch each element came from).
//!
//! **PyTorch equivalent**: `eq ne lt le gt ge` (here they return `1.0`/`0.0` of the input's element
//! type, as descent has no bool dtype) and `torch.where(cond, a, b)`.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, or_panic};
use crate::ops::{BackwardRule, GradsIn, Op};
use crate::panicking::panicking;
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::{CompareOp, strided};

/// Declares each comparison once, for `Tensor` and `Var`: `try_<op>`, `<op>` and `<op>_scalar`.
/// On variables the mask is recorded as a constant (no gradient flows through a comparison).
macro_rules! compare_ops {
    ($($(#[$doc:meta])* $name:ident, $try_name:ident, $scalar:ident, $op:ident;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                /// If the shapes do not broadcast or the element types differ.
                pub fn $try_name(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.try_zip(rhs, CompareOp::$op, stringify!($name))
                }

                $(#[$doc])*
                /// The right-hand side is a scalar (never fails).
                pub fn $scalar(&self, rhs: f64) -> Tensor {
                    or_panic(self.$try_name(&Tensor::scalar(rhs, self.dtype())))
                }
            )*
        }

        impl Var {
            $(
                $(#[$doc])*
                /// A constant: comparisons are not differentiable.
                ///
                /// # Errors
                /// If the shapes do not broadcast, the element types differ, or the operands are on
                /// different (or consumed) tapes.
                #[track_caller]
                pub fn $try_name(&self, rhs: &Var) -> Result<Var> {
                    Var::record_constant(stringify!($name), &[self, rhs], || {
                        self.value().$try_name(rhs.value())
                    })
                }

                $(#[$doc])*
                /// The right-hand side is a scalar; a constant.
                ///
                /// # Panics
                /// If the variable's tape was consumed or dropped.
                #[track_caller]
                pub fn $scalar(&self, rhs: f64) -> Var {
                    or_panic(Var::record_constant(stringify!($scalar), &[self], || {
                        Ok(self.value().$scalar(rhs))
                    }))
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

compare_ops! {
    /// Mask: `1` where `a == b`, else `0`.
    eq, try_eq, eq_scalar, Eq;
    /// Mask: `1` where `a != b`, else `0`.
    ne, try_ne, ne_scalar, Ne;
    /// Mask: `1` where `a < b`, else `0`.
    lt, try_lt, lt_scalar, Lt;
    /// Mask: `1` where `a <= b`, else `0`.
    le, try_le, le_scalar, Le;
    /// Mask: `1` where `a > b`, else `0`.
    gt, try_gt, gt_scalar, Gt;
    /// Mask: `1` where `a >= b`, else `0`.
    ge, try_ge, ge_scalar, Ge;
}

impl Tensor {
    /// `on_true` where `self` (the condition) is non-zero, else `on_false`; all three broadcast.
    ///
    /// # Errors
    /// If the shapes do not broadcast or the element types differ.
    pub fn try_where_cond(&self, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        for t in [on_true, on_false] {
            if t.dtype() != self.dtype() {
                return Err(Error::DTypeMismatch {
                    op: "where_cond",
                    lhs: self.dtype(),
                    rhs: t.dtype(),
                });
            }
        }
        let s = broadcast_shapes("where_cond", self.shape(), on_true.shape())?;
        let shape = broadcast_shapes("where_cond", &s, on_false.shape())?;
        let (sc, sa, sb) = (
            self.strides_for(&shape),
            on_true.strides_for(&shape),
            on_false.strides_for(&shape),
        );
        Ok(with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::for_overwrite::<T>(shape.iter().product());
            strided::select(
                &shape,
                strided::Strided::new(self.buffer::<T>(), &sc, self.layout.offset),
                strided::Strided::new(on_true.buffer::<T>(), &sa, on_true.layout.offset),
                strided::Strided::new(on_false.buffer::<T>(), &sb, on_false.layout.offset),
                &mut out,
            );
            Tensor::from_parts(out, &shape)
        }))
    }
}

/// The backward rule of `where_cond`: the gradient goes to `on_true` where the condition holds and
/// to `on_false` elsewhere, each summed back to its input's shape. The condition gets none.
pub(crate) struct WhereNode {
    /// The condition, broadcast to the output shape.
    pub(crate) cond: Tensor,
    pub(crate) true_shape: crate::shape::Shape,
    pub(crate) false_shape: crate::shape::Shape,
}

impl BackwardRule for WhereNode {
    fn saved_bytes(&self) -> usize {
        self.cond.nbytes()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let zero = Tensor::scalar(0.0, g.dtype());
        if grads.needs(0) {
            grads.set(
                0,
                self.cond
                    .where_cond(g, &zero)
                    .try_sum_to(&self.true_shape)?,
            );
        }
        if grads.needs(1) {
            grads.set(
                1,
                self.cond
                    .where_cond(&zero, g)
                    .try_sum_to(&self.false_shape)?,
            );
        }
        Ok(())
    }
}

impl Var {
    /// `on_true` where `self` (a mask; no gradient flows into it) is non-zero, else `on_false`,
    /// all three broadcasting. The gradient is routed to the branch that was chosen.
    ///
    /// # Errors
    /// If the shapes do not broadcast, the element types differ, or the tapes differ.
    #[track_caller]
    pub fn try_where_cond(&self, on_true: &Var, on_false: &Var) -> Result<Var> {
        Var::record("where_cond", &[on_true, on_false, self], || {
            let y = self
                .value()
                .try_where_cond(on_true.value(), on_false.value())?;
            Ok(Recorded {
                op: Op::Where(Box::new(WhereNode {
                    cond: self.value().broadcast_to(y.shape()),
                    true_shape: on_true.value().dims(),
                    false_shape: on_false.value().dims(),
                })),
                value: y,
            })
        })
    }
}

panicking! { Var:
    /// `on_true` where the mask `self` is non-zero, else `on_false`; see [`Var::try_where_cond`].
    where_cond = try_where_cond(on_true: &Var, on_false: &Var) -> Var;
}

panicking! { Tensor:
    /// `on_true` where `self` (the condition) is non-zero, else `on_false`.
    ///
    /// ```
    /// use descent_core::Tensor;
    /// let x = Tensor::from_vec(vec![-1.0f32, 2.0], [2]);
    /// let y = x.gt_scalar(0.0).where_cond(&x, &Tensor::zeros([1]));
    /// assert_eq!(y.to_vec_f32(), vec![0.0, 2.0]);
    /// ```
    where_cond = try_where_cond(on_true: &Tensor, on_false: &Tensor) -> Self;
}
