//! Matrix multiply: 2-D, and batched N-D with broadcast batch dims.
//!
//! **PyTorch equivalent**: `torch.matmul` (1-D operands are treated as a row or column vector and
//! the added dim removed again). Transposed and otherwise strided views go to `matrixmultiply`
//! through their strides: `x.matmul(&w.t())` copies nothing. Derivatives:
//! `grad_lhs = grad_out B^T`, `grad_rhs = A^T grad_out`, each summed over broadcast batch dims.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid};
use crate::ops::{BackwardRule, GradsIn, Op};
use crate::panicking::panicking;
use crate::shape::{Shape, broadcast_shapes, broadcast_strides};
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::matmul::{MatRef, gemm_batched};

impl Tensor {
    /// Matrix product; see the module docs for the shape rules.
    ///
    /// # Errors
    /// If an operand is 0-dimensional, the inner dimensions differ, the batch dims do not
    /// broadcast, or the element types differ.
    pub fn try_matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        if self.dtype() != rhs.dtype() {
            return Err(Error::DTypeMismatch {
                op: "matmul",
                lhs: self.dtype(),
                rhs: rhs.dtype(),
            });
        }
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(invalid(
                "matmul",
                format!(
                    "{:?} x {:?}: both operands need at least one dimension",
                    self.shape(),
                    rhs.shape()
                ),
            ));
        }
        // 1-D operands: a row vector on the left, a column vector on the right.
        let a = if self.rank() == 1 {
            self.unsqueeze(0)
        } else {
            self.clone()
        };
        let b = if rhs.rank() == 1 {
            rhs.unsqueeze(1)
        } else {
            rhs.clone()
        };
        let (ra, rb) = (a.rank(), b.rank());
        let (m, k) = (a.shape()[ra - 2], a.shape()[ra - 1]);
        let (k2, n) = (b.shape()[rb - 2], b.shape()[rb - 1]);
        if k != k2 {
            return Err(Error::ShapeMismatch {
                op: "matmul",
                lhs: self.shape().into(),
                rhs: rhs.shape().into(),
                detail: format!("cannot be multiplied: inner dimensions differ ({k} vs {k2})"),
            });
        }
        let batch = broadcast_shapes("matmul", &a.shape()[..ra - 2], &b.shape()[..rb - 2])
            .map_err(|e| match e {
                Error::ShapeMismatch { detail, .. } => Error::ShapeMismatch {
                    op: "matmul",
                    lhs: self.shape().into(),
                    rhs: rhs.shape().into(),
                    detail: format!("batch dims {}", detail),
                },
                other => other,
            })?;
        let sa = broadcast_strides(&a.shape()[..ra - 2], &a.strides()[..ra - 2], &batch);
        let sb = broadcast_strides(&b.shape()[..rb - 2], &b.strides()[..rb - 2], &batch);
        let (rsa, csa) = (a.strides()[ra - 2], a.strides()[ra - 1]);
        let (rsb, csb) = (b.strides()[rb - 2], b.strides()[rb - 1]);
        let nb: usize = batch.iter().product();
        let mut out_shape: Shape = batch.clone();
        out_shape.push(m);
        out_shape.push(n);
        let offset = |i: usize, strides: &[usize], base: usize| {
            let mut rem = i;
            let mut off = base;
            for d in (0..batch.len()).rev() {
                off += (rem % batch[d]) * strides[d];
                rem /= batch[d];
            }
            off
        };
        let a_offsets: Vec<usize> = (0..nb).map(|i| offset(i, &sa, a.layout.offset)).collect();
        let b_offsets: Vec<usize> = (0..nb).map(|i| offset(i, &sb, b.layout.offset)).collect();
        let out = with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::try_for_overwrite::<T>("matmul", &out_shape)?;
            let am = MatRef { data: a.buffer::<T>(), offset: 0, rs: rsa, cs: csa };
            let bm = MatRef { data: b.buffer::<T>(), offset: 0, rs: rsb, cs: csb };
            gemm_batched(m, k, n, am, &a_offsets, bm, &b_offsets, &mut out);
            Tensor::from_parts(out, &out_shape)
        });
        // Undo the vector promotion.
        let out = if self.rank() == 1 {
            out.squeeze(-2)
        } else {
            out
        };
        Ok(if rhs.rank() == 1 {
            out.squeeze(-1)
        } else {
            out
        })
    }
}

/// The backward rule of matmul: `dA = G B^T`, `dB = A^T G`, each summed over broadcast batch
/// dims. 1-D operands are lifted to a row (left) or column (right) as in the forward, and the
/// gradient is brought back to the operand's shape. The transposes are views: no copy.
pub(crate) struct MatmulNode {
    pub(crate) a: Tensor,
    pub(crate) b: Tensor,
}

impl BackwardRule for MatmulNode {
    fn saved_bytes(&self) -> usize {
        self.a.nbytes() + self.b.nbytes()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let a2 = if self.a.rank() == 1 {
            self.a.unsqueeze(0)
        } else {
            self.a.clone()
        };
        let b2 = if self.b.rank() == 1 {
            self.b.unsqueeze(1)
        } else {
            self.b.clone()
        };
        // The output shape before 1-D dims were dropped: batch, m, n.
        let (ra, rb) = (a2.rank(), b2.rank());
        let batch = broadcast_shapes("matmul", &a2.shape()[..ra - 2], &b2.shape()[..rb - 2])?;
        let mut full: Shape = batch.clone();
        full.push(a2.shape()[ra - 2]);
        full.push(b2.shape()[rb - 1]);
        let g2 = g.try_reshape(&full[..])?;
        if grads.needs(0) {
            let da = g2.try_matmul(&b2.t())?.try_sum_to(a2.shape())?;
            grads.set(0, da.try_reshape(self.a.shape())?);
        }
        if grads.needs(1) {
            let db = a2.t().try_matmul(&g2)?.try_sum_to(b2.shape())?;
            grads.set(1, db.try_reshape(self.b.shape())?);
        }
        Ok(())
    }
}

impl Var {
    /// Matrix product (2-D, batched N-D with broadcast batch dims, 1-D vectors), as
    /// [`Tensor::matmul`]; gradients `G B^T` and `A^T G`.
    ///
    /// # Errors
    /// As [`Tensor::try_matmul`], or if the operands are on different tapes.
    #[track_caller]
    pub fn try_matmul(&self, rhs: &Var) -> Result<Var> {
        Var::record("matmul", &[self, rhs], || {
            let (a, b) = (self.value(), rhs.value());
            Ok(Recorded {
                value: a.try_matmul(b)?,
                op: Op::Matmul(Box::new(MatmulNode {
                    a: a.clone(),
                    b: b.clone(),
                })),
            })
        })
    }
}

panicking! { Tensor, Var:
    /// Matrix product; see `try_matmul`.
    ///
    /// ```
    /// use descent_core::Tensor;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
    /// assert_eq!(a.matmul(&Tensor::eye(2)).to_vec_f32(), a.to_vec_f32());
    /// ```
    matmul = try_matmul(rhs: &Self) -> Self;
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn matmul_golden_and_transposed_view() {
        // [[1, 2], [3, 4]] x [[5, 6], [7, 8]] = [[19, 22], [43, 50]].
        let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
        let b = Tensor::from_vec(vec![5.0f32, 6.0, 7.0, 8.0], [2, 2]);
        assert_eq!(a.matmul(&b).to_vec_f32(), vec![19.0, 22.0, 43.0, 50.0]);
        // a^T b = [[1, 3], [2, 4]] x b = [[26, 30], [38, 44]].
        assert_eq!(a.t().matmul(&b).to_vec_f32(), vec![26.0, 30.0, 38.0, 44.0]);
    }

    #[test]
    fn matmul_error_message() {
        let e = Tensor::zeros([32, 784])
            .try_matmul(&Tensor::zeros([128, 10]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "matmul: [32, 784] and [128, 10] cannot be multiplied: inner dimensions differ (784 vs 128)"
        );
    }

    #[test]
    fn batched_broadcast_and_vectors() {
        let a = Tensor::ones([3, 2, 4]);
        let b = Tensor::ones([4, 5]);
        let c = a.matmul(&b);
        assert_eq!(c.shape(), &[3, 2, 5]);
        assert!(c.to_vec_f32().iter().all(|&v| v == 4.0));
        let v = Tensor::ones([4]);
        assert_eq!(a.matmul(&v).shape(), &[3, 2]);
        assert_eq!(v.matmul(&b).shape(), &[5]);
        assert_eq!(v.matmul(&v).shape(), &[] as &[usize]);
    }
}
