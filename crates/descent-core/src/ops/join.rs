//! `concat`, `stack` and `split`.
//!
//! **PyTorch equivalent**: `torch.cat`, `torch.stack`, `torch.split`. `split` returns views; the
//! others copy. Derivatives: the gradient of `concat`/`stack` is split back along the axis; that
//! of `split` is concatenated (zeros for unused parts).

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid, or_panic};
use crate::ops::{BackwardRule, GradsIn, Op};
use crate::panicking::panicking;
use crate::shape::Shape;
use crate::shape::normalize_axis;
use crate::tensor::Tensor;
use crate::var::{Recorded, Var, or_panic_var};
use std::borrow::Borrow;

impl Tensor {
    /// Joins tensors along an existing `axis`; all other dims must match.
    ///
    /// # Errors
    /// If the list is empty, the axis is out of range, or a shape or element type differs.
    pub fn try_concat<B: Borrow<Tensor>>(tensors: &[B], axis: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| invalid("concat", "needs at least one tensor"))?
            .borrow();
        let a = normalize_axis("concat", axis, first.shape())?;
        let mut total = 0;
        for t in tensors {
            let t = t.borrow();
            if t.dtype() != first.dtype() {
                return Err(Error::DTypeMismatch {
                    op: "concat",
                    lhs: first.dtype(),
                    rhs: t.dtype(),
                });
            }
            let same = t.rank() == first.rank()
                && (0..t.rank()).all(|d| d == a || t.shape()[d] == first.shape()[d]);
            if !same {
                return Err(Error::ShapeMismatch {
                    op: "concat",
                    lhs: first.shape().into(),
                    rhs: t.shape().into(),
                    detail: format!("differ outside the concatenated axis {a}"),
                });
            }
            total += t.shape()[a];
        }
        let outer: usize = first.shape()[..a].iter().product();
        let inner: usize = first.shape()[a + 1..].iter().product();
        let mut shape = first.dims();
        shape[a] = total;
        Ok(with_dtype!(first.dtype(), T => {
            let mut out = crate::dtype::for_overwrite::<T>(outer * total * inner);
            let row = total * inner;
            let mut at = 0;
            for t in tensors {
                let t = t.borrow();
                let part = t.shape()[a] * inner;
                let src = t.elements::<T>();
                if part > 0 {
                    for (o, s) in src.chunks(part).enumerate() {
                        out[o * row + at..o * row + at + part].copy_from_slice(s);
                    }
                }
                at += part;
            }
            Tensor::from_parts(out, &shape)
        }))
    }

    /// Joins tensors along an existing `axis`.
    ///
    /// ```
    /// use descent_core::Tensor;
    /// let a = Tensor::zeros([2, 1]);
    /// let b = Tensor::ones([2, 2]);
    /// assert_eq!(Tensor::concat(&[&a, &b], 1).to_vec_f32(), vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
    /// ```
    ///
    /// # Panics
    /// As [`Tensor::try_concat`] errs.
    #[track_caller]
    pub fn concat<B: Borrow<Tensor>>(tensors: &[B], axis: isize) -> Tensor {
        or_panic(Tensor::try_concat(tensors, axis))
    }

    /// Joins same-shaped tensors along a new `axis` (in `-(rank+1)..=rank`).
    ///
    /// # Errors
    /// If the list is empty, the axis is out of range, or a shape or element type differs.
    pub fn try_stack<B: Borrow<Tensor>>(tensors: &[B], axis: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| invalid("stack", "needs at least one tensor"))?
            .borrow();
        for t in tensors {
            if t.borrow().shape() != first.shape() {
                return Err(Error::ShapeMismatch {
                    op: "stack",
                    lhs: first.shape().into(),
                    rhs: t.borrow().shape().into(),
                    detail: "differ; stack needs equal shapes".into(),
                });
            }
        }
        let views = tensors
            .iter()
            .map(|t| t.borrow().try_unsqueeze(axis))
            .collect::<Result<Vec<_>>>()
            .map_err(|_| Error::InvalidAxis {
                op: "stack",
                axis,
                shape: first.shape().into(),
            })?;
        Tensor::try_concat(&views, axis)
    }

    /// Joins same-shaped tensors along a new `axis`.
    ///
    /// # Panics
    /// As [`Tensor::try_stack`] errs.
    #[track_caller]
    pub fn stack<B: Borrow<Tensor>>(tensors: &[B], axis: isize) -> Tensor {
        or_panic(Tensor::try_stack(tensors, axis))
    }

    /// Views of consecutive pieces of `split_size` along `axis` (the last may be smaller).
    ///
    /// # Errors
    /// If the axis is out of range or `split_size` is 0.
    pub fn try_split(&self, split_size: usize, axis: isize) -> Result<Vec<Tensor>> {
        let a = normalize_axis("split", axis, self.shape())?;
        if split_size == 0 {
            return Err(invalid("split", "split_size must be positive"));
        }
        let n = self.shape()[a];
        let sizes: Vec<usize> = (0..n)
            .step_by(split_size)
            .map(|s| split_size.min(n - s))
            .collect();
        self.try_split_sizes(&sizes, axis)
    }

    /// Views of consecutive pieces of the given sizes along `axis`; the sizes must add up to the
    /// dimension.
    ///
    /// # Errors
    /// If the axis is out of range or the sizes do not add up.
    pub fn try_split_sizes(&self, sizes: &[usize], axis: isize) -> Result<Vec<Tensor>> {
        let a = normalize_axis("split", axis, self.shape())?;
        let n = self.shape()[a];
        if sizes.iter().sum::<usize>() != n {
            return Err(invalid(
                "split",
                format!(
                    "sizes {sizes:?} do not add up to axis {a} of size {n} in shape {:?}",
                    self.shape()
                ),
            ));
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&s| {
                let v = self.try_narrow(a as isize, start, s);
                start += s;
                v
            })
            .collect()
    }
}

/// The backward rule of `concat` and `stack`: the gradient is cut back into the inputs' pieces
/// along the joined axis (and, for `stack`, the new axis dropped again).
pub(crate) struct ConcatNode {
    /// The joined axis of the output.
    pub(crate) axis: usize,
    /// Each input's extent along `axis` of the output.
    pub(crate) sizes: Vec<usize>,
    pub(crate) shapes: Vec<Shape>,
}

impl BackwardRule for ConcatNode {
    fn saved_bytes(&self) -> usize {
        0
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let mut start = 0;
        for (k, (&len, shape)) in self.sizes.iter().zip(&self.shapes).enumerate() {
            if grads.needs(k) {
                let piece = g.try_narrow(self.axis as isize, start, len)?;
                grads.set(k, piece.contiguous().try_reshape(&shape[..])?);
            }
            start += len;
        }
        Ok(())
    }
}

impl Var {
    /// Joins variables along an existing `axis`, as [`Tensor::concat`]; the gradient is split back.
    ///
    /// # Errors
    /// As [`Tensor::try_concat`], or if the variables are on different tapes.
    #[track_caller]
    pub fn try_concat<B: Borrow<Var>>(vars: &[B], axis: isize) -> Result<Var> {
        let inputs: Vec<&Var> = vars.iter().map(Borrow::borrow).collect();
        if inputs.is_empty() {
            return Err(invalid("concat", "needs at least one tensor"));
        }
        Var::record("concat", &inputs, || {
            let values: Vec<&Tensor> = inputs.iter().map(|v| v.value()).collect();
            let y = Tensor::try_concat(&values, axis)?;
            let a = normalize_axis("concat", axis, y.shape())?;
            Ok(Recorded {
                op: Op::Concat(ConcatNode {
                    axis: a,
                    sizes: values.iter().map(|t| t.shape()[a]).collect(),
                    shapes: values.iter().map(|t| t.dims()).collect(),
                }),
                value: y,
            })
        })
    }

    /// Joins variables along an existing `axis`; see [`Var::try_concat`].
    ///
    /// # Panics
    /// As [`Var::try_concat`] errs.
    #[track_caller]
    pub fn concat<B: Borrow<Var>>(vars: &[B], axis: isize) -> Var {
        or_panic_var(Var::try_concat(vars, axis))
    }

    /// Joins same-shaped variables along a new `axis`, as [`Tensor::stack`].
    ///
    /// # Errors
    /// As [`Tensor::try_stack`], or if the variables are on different tapes.
    #[track_caller]
    pub fn try_stack<B: Borrow<Var>>(vars: &[B], axis: isize) -> Result<Var> {
        let inputs: Vec<&Var> = vars.iter().map(Borrow::borrow).collect();
        if inputs.is_empty() {
            return Err(invalid("stack", "needs at least one tensor"));
        }
        Var::record("stack", &inputs, || {
            let values: Vec<&Tensor> = inputs.iter().map(|v| v.value()).collect();
            let y = Tensor::try_stack(&values, axis)?;
            let a = normalize_axis("stack", axis, y.shape())?;
            Ok(Recorded {
                op: Op::Concat(ConcatNode {
                    axis: a,
                    sizes: vec![1; values.len()],
                    shapes: values.iter().map(|t| t.dims()).collect(),
                }),
                value: y,
            })
        })
    }

    /// Joins same-shaped variables along a new `axis`; see [`Var::try_stack`].
    ///
    /// # Panics
    /// As [`Var::try_stack`] errs.
    #[track_caller]
    pub fn stack<B: Borrow<Var>>(vars: &[B], axis: isize) -> Var {
        or_panic_var(Var::try_stack(vars, axis))
    }

    /// Consecutive pieces of `split_size` along `axis` (the last may be smaller), each a recorded
    /// view; the gradients of the pieces meet again in the input's gradient.
    ///
    /// # Errors
    /// If the axis is out of range or `split_size` is 0.
    #[track_caller]
    pub fn try_split(&self, split_size: usize, axis: isize) -> Result<Vec<Var>> {
        let a = normalize_axis("split", axis, self.shape())?;
        if split_size == 0 {
            return Err(invalid("split", "split_size must be positive"));
        }
        let n = self.shape()[a];
        (0..n)
            .step_by(split_size)
            .map(|s| self.try_narrow(a as isize, s, split_size.min(n - s)))
            .collect()
    }

    /// Pieces of `split_size` along `axis`; see [`Var::try_split`].
    ///
    /// # Panics
    /// As [`Var::try_split`] errs.
    #[track_caller]
    pub fn split(&self, split_size: usize, axis: isize) -> Vec<Var> {
        match self.try_split(split_size, axis) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }
}

panicking! { Tensor:
    /// Views of consecutive pieces of `split_size` along `axis`.
    split = try_split(split_size: usize, axis: isize) -> Vec<Tensor>;
    /// Views of consecutive pieces of the given sizes along `axis`.
    split_sizes = try_split_sizes(sizes: &[usize], axis: isize) -> Vec<Tensor>;
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn join_golden() {
        let a = Tensor::from_vec(vec![1.0f32, 2.0], [2]);
        let b = Tensor::from_vec(vec![3.0f32, 4.0], [2]);
        assert_eq!(
            Tensor::stack(&[&a, &b], 0).to_vec_f32(),
            vec![1.0, 2.0, 3.0, 4.0]
        );
        assert_eq!(
            Tensor::stack(&[&a, &b], 1).to_vec_f32(),
            vec![1.0, 3.0, 2.0, 4.0]
        );
        let parts = Tensor::arange(0.0, 5.0, 1.0).split(2, 0);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2].to_vec_f32(), vec![4.0]);
        assert!(Tensor::try_concat(&[Tensor::zeros([2, 1]), Tensor::zeros([3, 2])], 1).is_err());
    }
}
