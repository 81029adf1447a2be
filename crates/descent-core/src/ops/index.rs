//! `index_select`, `gather` and `scatter_add`, with integer indices ([`IntTensor`]).
//!
//! **PyTorch equivalent**: `torch.index_select(x, dim, index)`, `torch.gather(x, dim, index)`,
//! `x.scatter_add(dim, index, src)`. Every index is checked before any read: a negative or
//! out-of-range index is an error naming it, never an out-of-bounds access. Derivatives: the
//! gradient of `index_select`/`gather` is scatter-added back to the positions read (repeated
//! indices accumulate); `scatter_add` passes `g` to `self` and `g` gathered at the index to `src`.
//! The backward rules save only the element offsets, computed once in the forward.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid};
use crate::int_tensor::IntTensor;
use crate::ops::{BackwardRule, GradsIn, Op};
use crate::panicking::panicking;
use crate::shape::{Shape, contiguous_strides, normalize_axis};
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::scatter::scatter_add;

/// Row-major offsets into a contiguous tensor of shape `x_shape` of each element of an index
/// tensor of shape `index_shape`: along `axis` the coordinate is `along(flat, coordinate)`, along
/// the other dims it is the index element's own coordinate.
fn offsets_along(
    index_shape: &[usize],
    x_shape: &[usize],
    axis: usize,
    along: impl Fn(usize, usize) -> usize,
) -> Vec<usize> {
    let n: usize = index_shape.iter().product();
    let index_strides = contiguous_strides(index_shape);
    let x_strides = contiguous_strides(x_shape);
    (0..n)
        .map(|flat| {
            (0..index_shape.len())
                .map(|d| {
                    let c = (flat / index_strides[d]) % index_shape[d];
                    let c = if d == axis { along(flat, c) } else { c };
                    c * x_strides[d]
                })
                .sum()
        })
        .collect()
}

/// The checked offsets of an `index_select`: which input elements, in row-major order of the
/// input, make the output, and the output shape.
fn index_select_offsets(x: &Tensor, axis: isize, index: &IntTensor) -> Result<(Vec<usize>, Shape)> {
    let a = normalize_axis("index_select", axis, x.shape())?;
    if index.rank() != 1 {
        return Err(invalid(
            "index_select",
            format!("index must be 1-D, got shape {:?}", index.shape()),
        ));
    }
    let idx = index.to_indices("index_select", x.shape()[a], a)?;
    let mut shape = x.dims();
    shape[a] = idx.len();
    let offsets = offsets_along(&shape, x.shape(), a, |_, c| idx[c]);
    Ok((offsets, shape))
}

/// Checks that `index` fits `x` for `gather`/`scatter_add` along `axis`: the same rank, and no
/// dim of `index` larger than `x`'s outside `axis` (nor than `src`'s anywhere, for scatter_add).
fn check_index_fits(
    op: &'static str,
    x: &[usize],
    index: &IntTensor,
    src: Option<&[usize]>,
    axis: usize,
) -> Result<()> {
    let fits = index.rank() == x.len()
        && (0..x.len()).all(|d| d == axis || index.shape()[d] <= x[d])
        && src.is_none_or(|s| s.len() == x.len() && (0..x.len()).all(|d| index.shape()[d] <= s[d]));
    if fits {
        return Ok(());
    }
    let what = if src.is_some() {
        "do not fit: index needs the rank of both, no larger dims than src, and no larger dims \
         than self"
    } else {
        "do not fit: index needs the same rank and no larger dims"
    };
    Err(Error::ShapeMismatch {
        op,
        lhs: x.into(),
        rhs: index.shape().into(),
        detail: format!("{what} outside axis {axis}"),
    })
}

/// The checked offsets into `x` that `gather` reads, one per element of `index`.
fn gather_offsets(x: &Tensor, axis: isize, index: &IntTensor) -> Result<Vec<usize>> {
    let a = normalize_axis("gather", axis, x.shape())?;
    check_index_fits("gather", x.shape(), index, None, a)?;
    let idx = index.to_indices("gather", x.shape()[a], a)?;
    Ok(offsets_along(index.shape(), x.shape(), a, |flat, _| {
        idx[flat]
    }))
}

/// The checked offsets of a `scatter_add`: for each element of `index`, where it writes in
/// `self` and where it reads in `src` (both row-major in their own shapes).
struct ScatterOffsets {
    dst: Vec<usize>,
    src: Vec<usize>,
}

fn scatter_offsets(
    x: &Tensor,
    axis: isize,
    index: &IntTensor,
    src: &Tensor,
) -> Result<ScatterOffsets> {
    let a = normalize_axis("scatter_add", axis, x.shape())?;
    check_index_fits("scatter_add", x.shape(), index, Some(src.shape()), a)?;
    if x.dtype() != src.dtype() {
        return Err(Error::DTypeMismatch {
            op: "scatter_add",
            lhs: x.dtype(),
            rhs: src.dtype(),
        });
    }
    let idx = index.to_indices("scatter_add", x.shape()[a], a)?;
    Ok(ScatterOffsets {
        dst: offsets_along(index.shape(), x.shape(), a, |flat, _| idx[flat]),
        src: offsets_along(index.shape(), src.shape(), a, |_, c| c),
    })
}

impl Tensor {
    /// The elements at `offsets` of the row-major order of `self`, as a tensor of `shape`.
    fn take(&self, offsets: &[usize], shape: &[usize]) -> Tensor {
        with_dtype!(self.dtype(), T => {
            let x = self.elements::<T>();
            Tensor::from_parts(offsets.iter().map(|&o| x[o]).collect::<Vec<T>>(), shape)
        })
    }

    /// `self` plus `src`'s elements at `src_offsets` added at `dst_offsets` (a new tensor).
    fn scatter_added(&self, src: &Tensor, offsets: &ScatterOffsets) -> Tensor {
        with_dtype!(self.dtype(), T => {
            let mut out = self.elements::<T>().into_owned();
            let picked: Vec<T> = {
                let s = src.elements::<T>();
                offsets.src.iter().map(|&o| s[o]).collect()
            };
            scatter_add(&mut out, &offsets.dst, &picked);
            Tensor::from_parts(out, self.shape())
        })
    }

    /// The slices at `index` (1-D) along `axis`, in that order.
    ///
    /// ```
    /// use descent_core::{IntTensor, Tensor};
    /// let x = Tensor::arange(0.0, 6.0, 1.0).reshape([3, 2]);
    /// let rows = x.index_select(0, &IntTensor::from(&[2usize, 0][..]));
    /// assert_eq!(rows.to_vec_f32(), vec![4.0, 5.0, 0.0, 1.0]);
    /// ```
    ///
    /// # Errors
    /// If the axis is out of range, `index` is not 1-D, or an index is out of range.
    pub fn try_index_select(&self, axis: isize, index: &IntTensor) -> Result<Tensor> {
        let (offsets, shape) = index_select_offsets(self, axis, index)?;
        Ok(self.take(&offsets, &shape))
    }

    /// `out[i][j] = x[index[i][j]][j]` for `axis = 0` (and likewise for any axis); `index` has the
    /// rank of `x` and no dim larger than `x`'s, except along `axis`.
    ///
    /// ```
    /// use descent_core::{IntTensor, Tensor};
    /// // torch's docs: [[1, 2], [3, 4]] gathered along 1 at [[0, 0], [1, 0]].
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
    /// let index = IntTensor::from_vec(vec![0, 0, 1, 0], [2, 2]);
    /// assert_eq!(x.gather(1, &index).to_vec_f32(), vec![1.0, 1.0, 4.0, 3.0]);
    /// ```
    ///
    /// # Errors
    /// If the axis is out of range, the ranks differ, a dim of `index` is too large, or an index
    /// is out of range.
    pub fn try_gather(&self, axis: isize, index: &IntTensor) -> Result<Tensor> {
        let offsets = gather_offsets(self, axis, index)?;
        Ok(self.take(&offsets, index.shape()))
    }

    /// `self` with `src[i][j]` added at `[index[i][j]][j]` for `axis = 0` (and likewise for any
    /// axis): repeated indices accumulate, as `torch.Tensor.scatter_add`. `index` has the rank
    /// of both, no dim larger than `src`'s, and none larger than `self`'s outside `axis`.
    ///
    /// ```
    /// use descent_core::{IntTensor, Tensor};
    /// let counts = Tensor::zeros([3]).scatter_add(
    ///     0,
    ///     &IntTensor::from(&[0usize, 2, 0][..]),
    ///     &Tensor::ones([3]),
    /// );
    /// assert_eq!(counts.to_vec_f32(), vec![2.0, 0.0, 1.0]);
    /// ```
    ///
    /// # Errors
    /// If the axis is out of range, the shapes do not fit, the element types differ, or an index
    /// is out of range.
    pub fn try_scatter_add(&self, axis: isize, index: &IntTensor, src: &Tensor) -> Result<Tensor> {
        let offsets = scatter_offsets(self, axis, index, src)?;
        Ok(self.scatter_added(src, &offsets))
    }
}

/// The backward rule of `index_select` and `gather`: each output element's gradient is added to
/// the input element it was read from (`offsets`, row-major in the input), so indices repeated
/// in the forward accumulate.
pub(crate) struct IndexNode {
    pub(crate) offsets: Vec<usize>,
    pub(crate) x_shape: Shape,
}

impl BackwardRule for IndexNode {
    fn saved_bytes(&self) -> usize {
        self.offsets.len() * std::mem::size_of::<usize>()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
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

/// The backward rule of `scatter_add`: `self` gets `g` as is; `src` gets `g` read at the
/// positions each of its elements was added to (0 where the index did not reach).
pub(crate) struct ScatterNode {
    offsets: ScatterOffsets,
    src_shape: Shape,
}

impl BackwardRule for ScatterNode {
    fn saved_bytes(&self) -> usize {
        (self.offsets.dst.len() + self.offsets.src.len()) * std::mem::size_of::<usize>()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        if grads.needs(0) {
            grads.set(0, g.clone());
        }
        if grads.needs(1) {
            let n: usize = self.src_shape.iter().product();
            let dsrc = with_dtype!(g.dtype(), T => {
                let gs = g.elements::<T>();
                let picked: Vec<T> = self.offsets.dst.iter().map(|&o| gs[o]).collect();
                let mut dsrc = crate::dtype::zeros::<T>(n);
                scatter_add(&mut dsrc, &self.offsets.src, &picked);
                Tensor::from_parts(dsrc, &self.src_shape)
            });
            grads.set(1, dsrc);
        }
        Ok(())
    }
}

impl Var {
    /// The slices at `index` along `axis`, as [`Tensor::index_select`]; the gradient is
    /// scatter-added back (an embedding lookup).
    ///
    /// # Errors
    /// As [`Tensor::try_index_select`].
    #[track_caller]
    pub fn try_index_select(&self, axis: isize, index: &IntTensor) -> Result<Var> {
        Var::record("index_select", &[self], || {
            let x = self.value();
            // The offsets serve twice: the forward reads them, the backward scatters to them.
            let (offsets, shape) = index_select_offsets(x, axis, index)?;
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

    /// Gathers values along `axis` at `index`, as [`Tensor::gather`]; the gradient is
    /// scatter-added back.
    ///
    /// # Errors
    /// As [`Tensor::try_gather`].
    #[track_caller]
    pub fn try_gather(&self, axis: isize, index: &IntTensor) -> Result<Var> {
        Var::record("gather", &[self], || {
            let x = self.value();
            let offsets = gather_offsets(x, axis, index)?;
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

    /// `self` with `src` added at `index` along `axis`, as [`Tensor::scatter_add`];
    /// differentiable in both `self` and `src`.
    ///
    /// # Errors
    /// As [`Tensor::try_scatter_add`], or if the operands are on different tapes.
    #[track_caller]
    pub fn try_scatter_add(&self, axis: isize, index: &IntTensor, src: &Var) -> Result<Var> {
        Var::record("scatter_add", &[self, src], || {
            let (x, s) = (self.value(), src.value());
            let offsets = scatter_offsets(x, axis, index, s)?;
            let value = x.scatter_added(s, &offsets);
            Ok(Recorded {
                op: Op::Scatter(Box::new(ScatterNode {
                    offsets,
                    src_shape: s.dims(),
                })),
                value,
            })
        })
    }
}

panicking! { Tensor:
    /// The slices at `index` along `axis`; see [`Tensor::try_index_select`].
    index_select = try_index_select(axis: isize, index: &IntTensor) -> Tensor;
    /// Gathers values along `axis` at `index`; see [`Tensor::try_gather`].
    gather = try_gather(axis: isize, index: &IntTensor) -> Tensor;
    /// `src` added into `self` at `index` along `axis`; see [`Tensor::try_scatter_add`].
    scatter_add = try_scatter_add(axis: isize, index: &IntTensor, src: &Tensor) -> Tensor;
}

panicking! { Var:
    /// The slices at `index` along `axis`; see [`Var::try_index_select`].
    index_select = try_index_select(axis: isize, index: &IntTensor) -> Var;
    /// Gathers values along `axis` at `index`; see [`Var::try_gather`].
    gather = try_gather(axis: isize, index: &IntTensor) -> Var;
    /// `src` added into `self` at `index` along `axis`; see [`Var::try_scatter_add`].
    scatter_add = try_scatter_add(axis: isize, index: &IntTensor, src: &Var) -> Var;
}

#[cfg(test)]
mod tests {
    use crate::{IntTensor, Tensor};

    #[test]
    fn gather_golden() {
        // x = [[1, 2], [3, 4]], index = [[0, 0], [1, 0]] along 1: [[1, 1], [4, 3]] (torch docs).
        let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
        let i = IntTensor::from_vec(vec![0, 0, 1, 0], [2, 2]);
        assert_eq!(x.gather(1, &i).to_vec_f32(), vec![1.0, 1.0, 4.0, 3.0]);
    }

    #[test]
    fn scatter_add_golden() {
        // torch: zeros(2, 3).scatter_add(0, [[0, 1, 0]], ones(1, 3)) = [[1, 0, 1], [0, 1, 0]].
        let x = Tensor::zeros([2, 3]);
        let i = IntTensor::from_vec(vec![0, 1, 0], [1, 3]);
        let y = x.scatter_add(0, &i, &Tensor::ones([2, 3]));
        assert_eq!(y.to_vec_f32(), vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
        assert!(
            x.try_scatter_add(
                0,
                &IntTensor::from_vec(vec![0, 1, 0, 0], [1, 4]),
                &Tensor::ones([2, 3])
            )
            .is_err()
        );
    }

    #[test]
    fn bad_indices_are_errors() {
        let x = Tensor::zeros([3]);
        let e = x
            .try_index_select(0, &IntTensor::from_vec(vec![3], [1]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "index_select: index 3 is out of range for axis 0 of size 3 (indices must be in 0..3)"
        );
        assert!(
            x.try_index_select(0, &IntTensor::from_vec(vec![-1], [1]))
                .is_err()
        );
    }

    #[test]
    fn an_index_above_2_pow_24_reads_its_own_row() {
        let n = (1usize << 24) + 2;
        let x = Tensor::from_vec((0..n).map(|i| i as f64).collect::<Vec<f64>>(), [n]);
        let row = x.index_select(0, &IntTensor::from(&[(1usize << 24) + 1][..]));
        assert_eq!(row.to_vec_f64(), vec![16_777_217.0]);
    }
}
