//! Binary elementwise ops with NumPy broadcasting: `add sub mul div pow maximum minimum`, and
//! the operators `+ - * /` on tensors and scalars.
//!
//! **PyTorch equivalent**: `torch.add`, `sub`, `mul`, `div`, `pow`, `maximum`, `minimum`.
//! Broadcasting views each operand with stride 0 along expanded dims; nothing is copied. The
//! backward rules (tape issue) sum the gradient over the broadcast dims back to each input's shape.
//! Derivatives: `d(a*b) = b da + a db`, `d(a/b) = da/b - a/b^2 db`,
//! `d(a^b) = b a^(b-1) da + a^b ln a db`; `maximum` sends the gradient to the larger input and
//! splits it equally on ties (docs/numerics.md).

use crate::dtype::with_dtype;
use crate::error::{Error, Result, or_panic};
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;
use descent_kernels::{BinaryOp, Float, isa, strided};

impl Tensor {
    /// The shared forward of binary ops: checks types and shapes, broadcasts, runs the kernel.
    pub(crate) fn try_zip(&self, rhs: &Tensor, op: BinaryOp, name: &'static str) -> Result<Tensor> {
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
            let mut out = vec![T::ZERO; shape.iter().product()];
            let a = strided::Strided::new(self.buffer::<T>(), &sa, self.layout.offset);
            let b = strided::Strided::new(rhs.buffer::<T>(), &sb, rhs.layout.offset);
            strided::binary(isa(), op, &shape, a, b, &mut out);
            Tensor::from_parts(out, &shape)
        }))
    }
}

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

                $(#[$doc])*
                ///
                /// # Panics
                /// If the shapes do not broadcast or the element types differ; the message names
                /// the op, both shapes and the failing dim.
                #[track_caller]
                pub fn $name(&self, rhs: &Tensor) -> Tensor {
                    or_panic(self.$try_name(rhs))
                }
            )*
        }
    };
}

binary_ops! {
    /// `a + b` with broadcasting.
    add, try_add, Add;
    /// `a - b` with broadcasting.
    sub, try_sub, Sub;
    /// `a * b` with broadcasting.
    mul, try_mul, Mul;
    /// `a / b` with broadcasting.
    div, try_div, Div;
    /// `a^b` with broadcasting.
    pow, try_pow, Pow;
    /// The larger of `a` and `b`, elementwise with broadcasting; NaN if either is NaN.
    maximum, try_maximum, Maximum;
    /// The smaller of `a` and `b`, elementwise with broadcasting; NaN if either is NaN.
    minimum, try_minimum, Minimum;
}

macro_rules! operator {
    ($trait:ident, $method:ident, $tensor_fn:ident, $scalar_fn:ident, $rscalar:expr) => {
        impl std::ops::$trait<&Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                self.$tensor_fn(rhs)
            }
        }
        impl std::ops::$trait<Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                (&self).$tensor_fn(&rhs)
            }
        }
        impl std::ops::$trait<&Tensor> for Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: &Tensor) -> Tensor {
                (&self).$tensor_fn(rhs)
            }
        }
        impl std::ops::$trait<Tensor> for &Tensor {
            type Output = Tensor;
            #[track_caller]
            fn $method(self, rhs: Tensor) -> Tensor {
                self.$tensor_fn(&rhs)
            }
        }
        impl std::ops::$trait<f64> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f64) -> Tensor {
                self.$scalar_fn(rhs)
            }
        }
        impl std::ops::$trait<f64> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f64) -> Tensor {
                (&self).$scalar_fn(rhs)
            }
        }
        impl std::ops::$trait<&Tensor> for f64 {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                #[allow(clippy::redundant_closure_call)]
                ($rscalar)(rhs, self)
            }
        }
        impl std::ops::$trait<Tensor> for f64 {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                #[allow(clippy::redundant_closure_call)]
                ($rscalar)(&rhs, self)
            }
        }
    };
}

operator!(Add, add, add, add_scalar, |t: &Tensor, c| t.add_scalar(c));
operator!(Sub, sub, sub, sub_scalar, |t: &Tensor, c| t.rsub_scalar(c));
operator!(Mul, mul, mul, mul_scalar, |t: &Tensor, c| t.mul_scalar(c));
operator!(Div, div, div, div_scalar, |t: &Tensor, c| t.rdiv_scalar(c));

impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}

impl std::ops::Neg for Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(&self)
    }
}

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
