//! `linear`: the fully connected layer `y = x W^T + b` as one op, the bias added inside the GEMM.
//!
//! **PyTorch equivalent**: `torch.nn.functional.linear(x, weight, bias)`: `x` is `[..., in]`
//! (any number of leading dims, or just `[in]`), `weight` is `[out, in]` (PyTorch's layout, read
//! transposed through its strides: no copy), `bias` is `[out]` or absent; `y` is `[..., out]`.
//!
//! Forward: the leading dims of `x` are flattened into `m` rows (a view when their strides
//! allow, else one copy), every row of the output is set to the bias, and one GEMM accumulates
//! `x W^T` onto it (beta = 1): no broadcast add, no second pass over `y`
//! (`descent_kernels::matmul::gemm_bias`).
//!
//! Derivatives, over the flattened rows (`G` is the output gradient as `[m, out]`):
//! `dx = G W` (`[m, in]`), `dW = G^T x` (`[out, in]`), `db = sum_rows G` (column sums of `G`,
//! computed by the reduction kernel directly; no broadcast tensor is made). Only the gradients an
//! input needs are computed, and the node saves `x` only if `W` needs a gradient and `W` only if
//! `x` does.
//!
//! A hand-written backward because it is faster than the composite
//! `x.matmul(&w.t()) + b` (one GEMM pass instead of a GEMM and a broadcast add forward, and a
//! column sum instead of `sum_to` of a broadcast backward); `benches/linear.rs` measures both.

use crate::dtype::with_dtype;
use crate::error::{Error, Result};
use crate::ops::{BackwardRule, GradsIn, Op, Pooled, opt};
use crate::panicking::panicking;
use crate::shape::Shape;
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::matmul::{MatRef, gemm, gemm_bias};

/// Checks the operands of `linear` and returns `(m, in, out)`: the number of rows (the product of
/// `x`'s leading dims, 1 for a 1-D `x`), `in` and `out`.
fn check(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<(usize, usize, usize)> {
    for other in std::iter::once(weight).chain(bias) {
        if other.dtype() != x.dtype() {
            return Err(Error::DTypeMismatch {
                op: "linear",
                lhs: x.dtype(),
                rhs: other.dtype(),
            });
        }
    }
    let mismatch = |detail: String| Error::ShapeMismatch {
        op: "linear",
        lhs: x.shape().into(),
        rhs: weight.shape().into(),
        detail,
    };
    if weight.rank() != 2 {
        return Err(mismatch(format!(
            "do not fit: the weight must be 2-D [out_features, in_features], got rank {}",
            weight.rank()
        )));
    }
    let (out, k) = (weight.shape()[0], weight.shape()[1]);
    let Some(&last) = x.shape().last() else {
        return Err(mismatch(
            "do not fit: the input must have at least one dim [..., in_features], got a 0-d \
             tensor"
                .to_string(),
        ));
    };
    if last != k {
        return Err(mismatch(format!(
            "do not fit: the input's last dim ({last}) must equal the weight's in_features \
             ({k}), the weight's dim 1"
        )));
    }
    if let Some(b) = bias
        && b.shape() != [out]
    {
        return Err(mismatch(format!(
            "do not fit: the bias must have shape [{out}] (out_features), got {:?}",
            b.shape()
        )));
    }
    let m = x.shape()[..x.rank() - 1].iter().product();
    Ok((m, k, out))
}

/// `x` (`[..., k]`) as an `m x k` matrix: the tensor to read and its `(offset, rs, cs)`. A view
/// when the leading dims merge into one row stride (contiguous, sliced along the last dim,
/// transposed 2-D, broadcast rows...), else a contiguous copy.
fn as_matrix(x: &Tensor) -> (Tensor, usize, usize, usize) {
    let r = x.rank();
    let (shape, strides) = (x.shape(), x.strides());
    let cs = strides[r - 1];
    // Walk the leading dims from the innermost: each dim of size > 1 must step by the row stride
    // times the rows inside it.
    let mut rs: Option<usize> = None;
    let mut rows_inside = 1usize;
    let mut mergeable = true;
    for d in (0..r - 1).rev() {
        if shape[d] == 1 {
            continue;
        }
        match rs {
            None => rs = Some(strides[d]),
            Some(s) if strides[d] == s * rows_inside => {}
            Some(_) => {
                mergeable = false;
                break;
            }
        }
        rows_inside *= shape[d];
    }
    if mergeable {
        (x.clone(), x.layout.offset, rs.unwrap_or(0), cs)
    } else {
        let c = x.contiguous();
        let k = shape[r - 1];
        (c, 0, k, 1)
    }
}

impl Tensor {
    /// The fully connected layer `y = x W^T + b` (`self` is `x`, `[..., in]`; `weight` is
    /// `[out, in]`; `bias` is `[out]`), as `torch.nn.functional.linear`; `y` is `[..., out]`.
    /// The bias is added inside the GEMM pass; see the module docs.
    ///
    /// ```
    /// use descent_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0], [1, 2]);
    /// let w = Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 1.0, 0.0, -1.0], [3, 2]);
    /// let b = Tensor::from_vec(vec![0.5f32, 0.0, 1.0], [3]);
    /// assert_eq!(x.linear(&w, Some(&b)).to_vec_f32(), vec![1.5, 3.0, -1.0]);
    /// ```
    ///
    /// # Errors
    /// If `weight` is not 2-D, `self`'s last dim is not `weight`'s dim 1 (or `self` is 0-d),
    /// `bias` is not `[out]`, or the element types differ; shape errors name `linear` and the
    /// shapes of `self` and `weight`.
    pub fn try_linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        let (m, k, n) = check(self, weight, bias)?;
        let mut out_shape: Shape = self.shape()[..self.rank() - 1].into();
        out_shape.push(n);
        let (x, xo, rs, cs) = as_matrix(self);
        Ok(with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::try_for_overwrite::<T>("linear", &out_shape)?;
            let a = MatRef { data: x.buffer::<T>(), offset: xo, rs, cs };
            // W^T as a k x n matrix: W's strides swapped.
            let wt = MatRef {
                data: weight.buffer::<T>(),
                offset: weight.layout.offset,
                rs: weight.strides()[1],
                cs: weight.strides()[0],
            };
            let b = bias.map(|b| b.elements::<T>());
            gemm_bias(m, k, n, a, wt, b.as_deref(), &mut out);
            Tensor::from_parts(out, &out_shape)
        }))
    }
}

/// The backward rule of `linear`: `dx = G W`, `dW = G^T x`, `db = sum_rows G`, each only if
/// needed (see the module docs).
pub(crate) struct LinearNode {
    /// The input, saved if the weight needs a gradient.
    pub(crate) x: Option<Tensor>,
    /// The weight, saved if the input needs a gradient.
    pub(crate) weight: Option<Tensor>,
    /// The input's shape.
    pub(crate) x_shape: Shape,
    /// `(m, in, out)`.
    pub(crate) dims: (usize, usize, usize),
}

super::recycled!(LinearNode);

impl BackwardRule for LinearNode {
    fn saved_bytes(&self) -> usize {
        opt(&self.x) + opt(&self.weight)
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let (m, k, n) = self.dims;
        // G as an m x n row-major matrix.
        // (Already that for a 2-D input: then no reshape, whose dims would be a `Vec`.)
        let g2 = if g.shape() == [m, n] && g.is_contiguous() {
            g.clone()
        } else {
            g.try_reshape([m, n])?
        };
        let go = g2.layout.offset;
        if grads.needs(0)
            && let Some(w) = &self.weight
        {
            // dx = G W: [m, n] x [n, k].
            let dx = with_dtype!(g.dtype(), T => {
                let mut out = crate::dtype::for_overwrite::<T>(m * k);
                let gm = MatRef { data: g2.buffer::<T>(), offset: go, rs: n, cs: 1 };
                let wm = MatRef {
                    data: w.buffer::<T>(),
                    offset: w.layout.offset,
                    rs: w.strides()[0],
                    cs: w.strides()[1],
                };
                gemm(m, n, k, gm, wm, &mut out);
                Tensor::from_parts(out, &self.x_shape)
            });
            grads.set(0, dx);
        }
        if grads.needs(1)
            && let Some(x) = &self.x
        {
            // dW = G^T x: [n, m] x [m, k], G^T and x read through their strides.
            let (xm, xo, rs, cs) = as_matrix(x);
            let dw = with_dtype!(g.dtype(), T => {
                let mut out = crate::dtype::for_overwrite::<T>(n * k);
                let gt = MatRef { data: g2.buffer::<T>(), offset: go, rs: 1, cs: n };
                let xr = MatRef { data: xm.buffer::<T>(), offset: xo, rs, cs };
                gemm(n, m, k, gt, xr, &mut out);
                Tensor::from_parts(out, &[n, k])
            });
            grads.set(1, dw);
        }
        if grads.needs(2) {
            // db: the column sums of G, one reduction of [m, n] over its rows.
            grads.set(2, g2.try_sum(&[0], false)?);
        }
        Ok(())
    }
}

impl Var {
    /// The fully connected layer `y = x W^T + b`, as [`Tensor::try_linear`], recorded as one
    /// node; gradients `G W`, `G^T x` and the column sums of `G`.
    ///
    /// ```
    /// use descent_core::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.constant(Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]));
    /// let w = tape.var(Tensor::from_vec(vec![1.0f64, -1.0], [1, 2]));
    /// let b = tape.var(Tensor::from_vec(vec![0.5f64], [1]));
    /// let y = x.linear(&w, Some(&b)); // [[-0.5], [-0.5]]
    /// let g = y.sum_all().backward();
    /// assert_eq!(g.wrt(&w).unwrap().to_vec_f64(), vec![4.0, 6.0]); // column sums of x
    /// assert_eq!(g.wrt(&b).unwrap().to_vec_f64(), vec![2.0]);
    /// ```
    ///
    /// # Errors
    /// As [`Tensor::try_linear`], or if the operands are on different tapes.
    #[track_caller]
    pub fn try_linear(&self, weight: &Var, bias: Option<&Var>) -> Result<Var> {
        let three;
        let two;
        let inputs: &[&Var] = match bias {
            Some(b) => {
                three = [self, weight, b];
                &three
            }
            None => {
                two = [self, weight];
                &two
            }
        };
        Var::record("linear", inputs, || {
            let (x, w) = (self.value(), weight.value());
            let value = x.try_linear(w, bias.map(Var::value))?;
            let dims = check(x, w, bias.map(Var::value))?;
            Ok(Recorded {
                value,
                op: Op::Linear(Pooled::new(LinearNode {
                    x: weight.requires_grad().then(|| x.clone()),
                    weight: self.requires_grad().then(|| w.clone()),
                    x_shape: x.dims(),
                    dims,
                })),
            })
        })
    }
}

panicking! { Tensor, Var:
    /// The fully connected layer `x W^T + b`; see `try_linear`.
    linear = try_linear(weight: &Self, bias: Option<&Self>) -> Self;
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn linear_golden_with_and_without_bias() {
        // x = [[1, 2], [3, 4]], W = [[1, 0], [1, 1], [0, -1]]: x W^T = [[1, 3, -2], [3, 7, -4]].
        let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
        let w = Tensor::from_vec(vec![1.0f64, 0.0, 1.0, 1.0, 0.0, -1.0], [3, 2]);
        let b = Tensor::from_vec(vec![0.5f64, -1.0, 2.0], [3]);
        assert_eq!(
            x.linear(&w, None).to_vec_f64(),
            vec![1.0, 3.0, -2.0, 3.0, 7.0, -4.0]
        );
        assert_eq!(
            x.linear(&w, Some(&b)).to_vec_f64(),
            vec![1.5, 2.0, 0.0, 3.5, 6.0, -2.0]
        );
        // 1-D input: one row, the leading dim dropped.
        let y = x.narrow(0, 1, 1).squeeze(0).linear(&w, Some(&b));
        assert_eq!(y.shape(), &[3]);
        assert_eq!(y.to_vec_f64(), vec![3.5, 6.0, -2.0]);
    }

    #[test]
    fn linear_error_names_op_and_shapes() {
        let e = Tensor::zeros([32, 784])
            .try_linear(&Tensor::zeros([10, 128]), None)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "linear: [32, 784] and [10, 128] do not fit: the input's last dim (784) must equal \
             the weight's in_features (128), the weight's dim 1"
        );
    }
}
