//! Comparisons giving masks, and `where_cond`. Not differentiable: masks carry no gradient
//! (`where_cond` passes the gradient to the branch each element came from).
//!
//! **PyTorch equivalent**: `eq ne lt le gt ge` (here they return `1.0`/`0.0` of the input's element
//! type, as descent has no bool dtype) and `torch.where(cond, a, b)`.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, or_panic};
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;
use descent_kernels::{BinaryOp, Float, strided};

macro_rules! compare_ops {
    ($($(#[$doc:meta])* $name:ident, $try_name:ident, $scalar:ident, $op:ident;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                /// If the shapes do not broadcast or the element types differ.
                pub fn $try_name(&self, rhs: &Tensor) -> Result<Tensor> {
                    self.try_zip(rhs, BinaryOp::$op, stringify!($name))
                }

                $(#[$doc])*
                ///
                /// # Panics
                /// If the shapes do not broadcast or the element types differ.
                #[track_caller]
                pub fn $name(&self, rhs: &Tensor) -> Tensor {
                    or_panic(self.$try_name(rhs))
                }

                $(#[$doc])*
                /// The right-hand side is a scalar.
                pub fn $scalar(&self, rhs: f64) -> Tensor {
                    or_panic(self.$try_name(&Tensor::scalar(rhs, self.dtype())))
                }
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
            let mut out = vec![T::ZERO; shape.iter().product()];
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

    /// `on_true` where `self` (the condition) is non-zero, else `on_false`.
    ///
    /// ```
    /// use descent_core::Tensor;
    /// let x = Tensor::from_vec(vec![-1.0f32, 2.0], [2]);
    /// let y = x.gt_scalar(0.0).where_cond(&x, &Tensor::zeros([1]));
    /// assert_eq!(y.to_vec_f32(), vec![0.0, 2.0]);
    /// ```
    ///
    /// # Panics
    /// If the shapes do not broadcast or the element types differ.
    #[track_caller]
    pub fn where_cond(&self, on_true: &Tensor, on_false: &Tensor) -> Tensor {
        or_panic(self.try_where_cond(on_true, on_false))
    }
}
