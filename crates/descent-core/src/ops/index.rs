//! `index_select`, `gather` and `one_hot`.
//!
//! **PyTorch equivalent**: `torch.index_select(x, dim, index)`, `torch.gather(x, dim, index)`,
//! `F.one_hot(labels, num_classes)`. Indices are tensors of whole numbers in the element type
//! (descent has no integer dtype); each is checked: a negative, fractional, NaN or out-of-range
//! index is an error naming it, never an out-of-bounds read. Derivatives: the gradient is
//! scatter-added back to the selected positions (`index_add` / `scatter_add`); `one_hot` is not
//! differentiable.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid, or_panic};
use crate::ops::{GradsIn, Op};
use crate::shape::{contiguous_strides, normalize_axis};
use crate::tensor::Tensor;
use crate::var::{Recorded, Var, or_panic_var};
use descent_kernels::Float;
use descent_kernels::scatter::scatter_add;

/// Reads an index tensor as `usize`s, each checked to be a whole number below `size`.
pub(crate) fn read_indices(
    op: &'static str,
    index: &Tensor,
    size: usize,
    axis: usize,
) -> Result<Vec<usize>> {
    index
        .to_vec_f64()
        .into_iter()
        .map(|v| {
            if v >= 0.0 && v.fract() == 0.0 && v < size as f64 {
                Ok(v as usize)
            } else {
                Err(Error::IndexOutOfRange {
                    op,
                    index: v,
                    size,
                    axis,
                })
            }
        })
        .collect()
}

impl Tensor {
    /// The slices at `index` (1-D) along `axis`, in that order.
    ///
    /// # Errors
    /// If the axis is out of range, `index` is not 1-D, or an index is out of range.
    pub fn try_index_select(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        let (a, idx) = self.index_select_args(axis, index)?;
        let outer: usize = self.shape()[..a].iter().product();
        let size = self.shape()[a];
        let inner: usize = self.shape()[a + 1..].iter().product();
        let mut shape = self.dims();
        shape[a] = idx.len();
        Ok(with_dtype!(self.dtype(), T => {
            let x = self.elements::<T>();
            let mut out = Vec::with_capacity(outer * idx.len() * inner);
            for o in 0..outer {
                for &i in &idx {
                    let s = (o * size + i) * inner;
                    out.extend_from_slice(&x[s..s + inner]);
                }
            }
            Tensor::from_parts(out, &shape)
        }))
    }

    /// The checked axis and indices of an `index_select`.
    fn index_select_args(&self, axis: isize, index: &Tensor) -> Result<(usize, Vec<usize>)> {
        let a = normalize_axis("index_select", axis, self.shape())?;
        if index.rank() != 1 {
            return Err(invalid(
                "index_select",
                format!("index must be 1-D, got shape {:?}", index.shape()),
            ));
        }
        Ok((a, read_indices("index_select", index, self.shape()[a], a)?))
    }

    /// The elements at `offsets` of the row-major order of `self`, as a tensor of `shape`.
    fn take(&self, offsets: &[usize], shape: &[usize]) -> Tensor {
        with_dtype!(self.dtype(), T => {
            let x = self.elements::<T>();
            Tensor::from_parts(offsets.iter().map(|&o| x[o]).collect::<Vec<T>>(), shape)
        })
    }

    /// The slices at `index` along `axis`.
    ///
    /// ```
    /// use descent_core::Tensor;
    /// let x = Tensor::arange(0.0, 6.0, 1.0).reshape([3, 2]);
    /// let rows = x.index_select(0, &Tensor::from_vec(vec![2.0f32, 0.0], [2]));
    /// assert_eq!(rows.to_vec_f32(), vec![4.0, 5.0, 0.0, 1.0]);
    /// ```
    ///
    /// # Panics
    /// As [`Tensor::try_index_select`] errs.
    #[track_caller]
    pub fn index_select(&self, axis: isize, index: &Tensor) -> Tensor {
        or_panic(self.try_index_select(axis, index))
    }

    /// `out[i][j] = x[index[i][j]][j]` for `axis = 0` (and likewise for any axis); `index` has the
    /// rank of `x` and no dim larger than `x`'s, except along `axis`.
    ///
    /// # Errors
    /// If the axis is out of range, the ranks differ, a dim of `index` is too large, or an index
    /// is out of range.
    pub fn try_gather(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        let offsets = self.gather_offsets(axis, index)?;
        Ok(self.take(&offsets, index.shape()))
    }

    /// The checked positions, in the row-major order of `self`, that `gather` reads.
    fn gather_offsets(&self, axis: isize, index: &Tensor) -> Result<Vec<usize>> {
        let a = normalize_axis("gather", axis, self.shape())?;
        if index.rank() != self.rank()
            || (0..self.rank()).any(|d| d != a && index.shape()[d] > self.shape()[d])
        {
            return Err(Error::ShapeMismatch {
                op: "gather",
                lhs: self.shape().into(),
                rhs: index.shape().into(),
                detail: format!(
                    "do not fit: index needs the same rank and no larger dims outside axis {a}"
                ),
            });
        }
        let idx = read_indices("gather", index, self.shape()[a], a)?;
        let out_shape = index.shape();
        let out_strides = contiguous_strides(out_shape);
        let xs = contiguous_strides(self.shape());
        Ok(idx
            .iter()
            .enumerate()
            .map(|(flat, &i)| {
                (0..out_shape.len())
                    .map(|d| {
                        let c = if d == a {
                            i
                        } else {
                            (flat / out_strides[d]) % out_shape[d]
                        };
                        c * xs[d]
                    })
                    .sum()
            })
            .collect())
    }

    /// Gathers values along `axis` at `index`; see [`Tensor::try_gather`].
    ///
    /// # Panics
    /// As [`Tensor::try_gather`] errs.
    #[track_caller]
    pub fn gather(&self, axis: isize, index: &Tensor) -> Tensor {
        or_panic(self.try_gather(axis, index))
    }

    /// One-hot encoding of whole-number class labels: shape `labels.shape + [num_classes]`, same
    /// element type as `labels`.
    ///
    /// # Errors
    /// If a label is not a whole number in `0..num_classes`.
    pub fn try_one_hot(&self, num_classes: usize) -> Result<Tensor> {
        let idx = read_indices("one_hot", self, num_classes, self.rank())?;
        let mut shape = self.dims();
        shape.push(num_classes);
        Ok(with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::zeros::<T>(idx.len() * num_classes);
            for (row, &i) in idx.iter().enumerate() {
                out[row * num_classes + i] = T::ONE;
            }
            Tensor::from_parts(out, &shape)
        }))
    }

    /// One-hot encoding of class labels.
    ///
    /// ```
    /// let y = descent_core::Tensor::from_vec(vec![2.0f32, 0.0], [2]).one_hot(3);
    /// assert_eq!(y.to_vec_f32(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    /// ```
    ///
    /// # Panics
    /// If a label is not a whole number in `0..num_classes`.
    #[track_caller]
    pub fn one_hot(&self, num_classes: usize) -> Tensor {
        or_panic(self.try_one_hot(num_classes))
    }
}

/// The backward rule of `index_select` and `gather`: each output element's gradient is added to
/// the input element it was read from (`offsets`, row-major in the input), so indices repeated
/// in the forward accumulate.
pub(crate) struct IndexNode {
    pub(crate) offsets: Vec<usize>,
    pub(crate) x_shape: crate::shape::Shape,
}

impl IndexNode {
    pub(crate) fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        if !grads.needs(0) {
            return Ok(());
        }
        let n: usize = self.x_shape.iter().product();
        let dx = with_dtype!(g.dtype(), T => {
            let mut dx = crate::dtype::zeros::<T>(n);
            scatter_add(&mut dx, &self.offsets, &g.elements::<T>());
            Tensor::from_parts(dx, &self.x_shape)
        });
        grads.set(0, dx);
        Ok(())
    }
}

impl Var {
    /// The slices at `index` (a 1-D tensor of whole numbers) along `axis`, as
    /// [`Tensor::index_select`]; the gradient is scatter-added back (an embedding lookup).
    ///
    /// # Errors
    /// As [`Tensor::try_index_select`].
    #[track_caller]
    pub fn try_index_select(&self, axis: isize, index: &Tensor) -> Result<Var> {
        Var::record("index_select", &[self], || {
            let x = self.value();
            let (a, idx) = x.index_select_args(axis, index)?;
            let outer: usize = x.shape()[..a].iter().product();
            let size = x.shape()[a];
            let inner: usize = x.shape()[a + 1..].iter().product();
            let mut offsets = Vec::with_capacity(outer * idx.len() * inner);
            for o in 0..outer {
                for &i in &idx {
                    let s = (o * size + i) * inner;
                    offsets.extend(s..s + inner);
                }
            }
            let mut shape = x.dims();
            shape[a] = idx.len();
            // The offsets serve twice: the forward reads them, the backward scatters to them.
            let value = x.take(&offsets, &shape);
            Ok(Recorded {
                op: Op::Index(IndexNode {
                    offsets,
                    x_shape: x.dims(),
                }),
                value,
            })
        })
    }

    /// The slices at `index` along `axis`; see [`Var::try_index_select`].
    ///
    /// # Panics
    /// As [`Var::try_index_select`] errs.
    #[track_caller]
    pub fn index_select(&self, axis: isize, index: &Tensor) -> Var {
        or_panic_var(self.try_index_select(axis, index))
    }

    /// Gathers values along `axis` at `index`, as [`Tensor::gather`]; the gradient is
    /// scatter-added back.
    ///
    /// # Errors
    /// As [`Tensor::try_gather`].
    #[track_caller]
    pub fn try_gather(&self, axis: isize, index: &Tensor) -> Result<Var> {
        Var::record("gather", &[self], || {
            let x = self.value();
            let offsets = x.gather_offsets(axis, index)?;
            let value = x.take(&offsets, index.shape());
            Ok(Recorded {
                op: Op::Index(IndexNode {
                    offsets,
                    x_shape: x.dims(),
                }),
                value,
            })
        })
    }

    /// Gathers values along `axis` at `index`; see [`Var::try_gather`].
    ///
    /// # Panics
    /// As [`Var::try_gather`] errs.
    #[track_caller]
    pub fn gather(&self, axis: isize, index: &Tensor) -> Var {
        or_panic_var(self.try_gather(axis, index))
    }

    /// One-hot encoding of whole-number labels, as a constant (not differentiable).
    ///
    /// # Panics
    /// If a label is not a whole number in `0..num_classes`.
    #[track_caller]
    pub fn one_hot(&self, num_classes: usize) -> Var {
        or_panic_var(Var::record_constant("one_hot", &[self], || {
            self.value().try_one_hot(num_classes)
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn gather_golden() {
        // x = [[1, 2], [3, 4]], index = [[0, 0], [1, 0]] along 1: [[1, 1], [4, 3]] (torch docs).
        let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
        let i = Tensor::from_vec(vec![0.0f32, 0.0, 1.0, 0.0], [2, 2]);
        assert_eq!(x.gather(1, &i).to_vec_f32(), vec![1.0, 1.0, 4.0, 3.0]);
    }

    #[test]
    fn bad_indices_are_errors() {
        let x = Tensor::zeros([3]);
        let e = x
            .try_index_select(0, &Tensor::from_vec(vec![3.0f32], [1]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "index_select: index 3 is out of range for axis 0 of size 3 (indices must be whole numbers in 0..3)"
        );
        assert!(
            x.try_index_select(0, &Tensor::from_vec(vec![0.5f32], [1]))
                .is_err()
        );
        assert!(
            x.try_index_select(0, &Tensor::from_vec(vec![-1.0f32], [1]))
                .is_err()
        );
        assert!(
            Tensor::from_vec(vec![f32::NAN], [1])
                .try_one_hot(3)
                .is_err()
        );
    }
}
