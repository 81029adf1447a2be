//! Views: reshape, permute/transpose, narrow/slice, broadcast, squeeze/unsqueeze, flatten.
//!
//! A view shares the input's buffer and only changes the layout: no element is copied, except by
//! `reshape` of a non-contiguous input, which copies first (as `torch.reshape`).
//! **PyTorch equivalent**: `reshape`, `permute`, `transpose`, `narrow`, `expand`, `squeeze`,
//! `unsqueeze`, `flatten`. The backward rule of every view maps the
//! gradient back through the inverse layout change.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid, or_panic};
use crate::ops::{GradsIn, Op};
use crate::shape::{Layout, Shape, Strides, broadcast_strides, contiguous_strides, normalize_axis};
use crate::tensor::Tensor;
use crate::var::{Recorded, Var, or_panic_var};
use descent_kernels::scatter::{scatter_add, strided_offsets};

/// A shape argument: `[2, 3]`, `[64, -1]` (one `-1` is inferred), or a `&[usize]`.
pub trait ShapeArg {
    /// The dims, `-1` for one to infer.
    fn dims(&self) -> Vec<isize>;
}

macro_rules! shape_arg {
    ($($t:ty),*) => {$(
        impl<const N: usize> ShapeArg for [$t; N] {
            fn dims(&self) -> Vec<isize> { self.iter().map(|&d| d as isize).collect() }
        }
        impl ShapeArg for &[$t] {
            fn dims(&self) -> Vec<isize> { self.iter().map(|&d| d as isize).collect() }
        }
        impl ShapeArg for Vec<$t> {
            fn dims(&self) -> Vec<isize> { self.iter().map(|&d| d as isize).collect() }
        }
    )*};
}
shape_arg!(usize, isize, i32);

impl ShapeArg for Shape {
    fn dims(&self) -> Vec<isize> {
        self.iter().map(|&d| d as isize).collect()
    }
}

impl Tensor {
    /// The same elements with another shape; one dim may be `-1` to be inferred. A view when the
    /// input is contiguous, else a copy.
    ///
    /// # Errors
    /// If the element counts differ, or the dims are negative other than one `-1`.
    pub fn try_reshape(&self, shape: impl ShapeArg) -> Result<Tensor> {
        let dims = shape.dims();
        let shape = infer_shape("reshape", &dims, self.numel(), self.shape())?;
        let base = if self.is_contiguous() {
            self.clone()
        } else {
            self.contiguous()
        };
        let mut layout = Layout::contiguous(&shape);
        layout.offset = base.layout.offset;
        Ok(base.with_layout(layout))
    }

    /// The same elements with another shape; see [`Tensor::try_reshape`].
    ///
    /// # Panics
    /// If the element counts differ: `reshape: 6 elements do not fill shape [4, 2] (8 elements)`.
    #[track_caller]
    pub fn reshape(&self, shape: impl ShapeArg) -> Tensor {
        or_panic(self.try_reshape(shape))
    }

    /// Reorders the dimensions: output dim `i` is input dim `axes[i]` (a view).
    ///
    /// # Errors
    /// If `axes` is not a permutation of `0..rank` (negative axes count from the end).
    pub fn try_permute(&self, axes: &[isize]) -> Result<Tensor> {
        let rank = self.rank();
        if axes.len() != rank {
            return Err(invalid(
                "permute",
                format!(
                    "{} axes given for shape {:?} of rank {rank}",
                    axes.len(),
                    self.shape()
                ),
            ));
        }
        // Refuses out-of-range and repeated axes; with `rank` axes that makes a permutation.
        crate::shape::normalize_axes("permute", axes, self.shape())?;
        let axes = axes
            .iter()
            .map(|&a| normalize_axis("permute", a, self.shape()))
            .collect::<Result<Vec<_>>>()?;
        let l = &self.layout;
        Ok(self.with_layout(Layout {
            shape: axes.iter().map(|&a| l.shape[a]).collect(),
            strides: axes.iter().map(|&a| l.strides[a]).collect(),
            offset: l.offset,
        }))
    }

    /// Reorders the dimensions; see [`Tensor::try_permute`].
    ///
    /// # Panics
    /// If `axes` is not a permutation of the dimensions.
    #[track_caller]
    pub fn permute(&self, axes: &[isize]) -> Tensor {
        or_panic(self.try_permute(axes))
    }

    /// Swaps two dimensions (a view).
    ///
    /// # Errors
    /// If an axis is out of range.
    pub fn try_transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let a = normalize_axis("transpose", a, self.shape())?;
        let b = normalize_axis("transpose", b, self.shape())?;
        let mut layout = self.layout.clone();
        layout.shape.swap(a, b);
        layout.strides.swap(a, b);
        Ok(self.with_layout(layout))
    }

    /// Swaps two dimensions (a view).
    ///
    /// # Panics
    /// If an axis is out of range.
    #[track_caller]
    pub fn transpose(&self, a: isize, b: isize) -> Tensor {
        or_panic(self.try_transpose(a, b))
    }

    /// Swaps the last two dimensions (torch's `.mT`); a tensor of rank below 2 is returned as is.
    pub fn t(&self) -> Tensor {
        if self.rank() < 2 {
            self.clone()
        } else {
            self.transpose(-2, -1)
        }
    }

    /// Elements `start..start + len` along `axis` (a view).
    ///
    /// # Errors
    /// If the axis is out of range or the range does not fit in the dimension.
    pub fn try_narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        self.try_slice_axis(axis, start, start.saturating_add(len), 1)
            .map_err(|e| rename(e, "narrow"))
    }

    /// Elements `start..start + len` along `axis` (a view).
    ///
    /// # Panics
    /// If the range does not fit in the dimension.
    #[track_caller]
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Tensor {
        or_panic(self.try_narrow(axis, start, len))
    }

    /// Elements `start, start + step, …` below `end` along `axis` (a view, as `x[start:end:step]`).
    ///
    /// # Errors
    /// If the axis is out of range, `step` is zero, or `start > end` or `end` exceeds the dimension.
    pub fn try_slice_axis(
        &self,
        axis: isize,
        start: usize,
        end: usize,
        step: usize,
    ) -> Result<Tensor> {
        let d = normalize_axis("slice", axis, self.shape())?;
        let size = self.shape()[d];
        if step == 0 || start > end || end > size {
            return Err(invalid(
                "slice",
                format!(
                    "range {start}..{end} step {step} does not fit axis {d} of size {size} in shape {:?}",
                    self.shape()
                ),
            ));
        }
        let mut layout = self.layout.clone();
        let len = (end - start).div_ceil(step);
        if len > 0 {
            layout.offset += start * layout.strides[d];
        }
        layout.shape[d] = len;
        layout.strides[d] *= step;
        Ok(self.with_layout(layout))
    }

    /// Elements `start, start + step, …` below `end` along `axis` (a view).
    ///
    /// # Panics
    /// If the range does not fit or `step` is zero.
    #[track_caller]
    pub fn slice_axis(&self, axis: isize, start: usize, end: usize, step: usize) -> Tensor {
        or_panic(self.try_slice_axis(axis, start, end, step))
    }

    /// The tensor repeated along new leading dims and size-1 dims to `shape` (a view with stride 0,
    /// as `torch.expand`).
    ///
    /// # Errors
    /// If the shape does not broadcast to `shape`.
    pub fn try_broadcast_to(&self, shape: impl AsRef<[usize]>) -> Result<Tensor> {
        let target = shape.as_ref();
        let ok = target.len() >= self.rank()
            && self
                .shape()
                .iter()
                .rev()
                .zip(target.iter().rev())
                .all(|(&s, &t)| s == t || s == 1);
        if !ok {
            let detail = crate::shape::broadcast_shapes("broadcast_to", self.shape(), target)
                .err()
                .map_or_else(
                    || "cannot be expanded: only size-1 dims expand".to_string(),
                    |e| match e {
                        Error::ShapeMismatch { detail, .. } => detail,
                        other => other.to_string(),
                    },
                );
            return Err(Error::ShapeMismatch {
                op: "broadcast_to",
                lhs: self.shape().into(),
                rhs: target.into(),
                detail,
            });
        }
        let strides = broadcast_strides(self.shape(), self.strides(), target);
        Ok(self.with_layout(Layout {
            shape: Shape::from_slice(target),
            strides,
            offset: self.layout.offset,
        }))
    }

    /// The tensor expanded to `shape` (a view with stride 0).
    ///
    /// # Panics
    /// If the shape does not broadcast to `shape`.
    #[track_caller]
    pub fn broadcast_to(&self, shape: impl AsRef<[usize]>) -> Tensor {
        or_panic(self.try_broadcast_to(shape))
    }

    /// Removes dimension `axis`, which must have size 1 (a view).
    ///
    /// # Errors
    /// If the axis is out of range or its size is not 1.
    pub fn try_squeeze(&self, axis: isize) -> Result<Tensor> {
        let d = normalize_axis("squeeze", axis, self.shape())?;
        if self.shape()[d] != 1 {
            return Err(invalid(
                "squeeze",
                format!(
                    "axis {d} of shape {:?} has size {}, not 1",
                    self.shape(),
                    self.shape()[d]
                ),
            ));
        }
        let mut layout = self.layout.clone();
        layout.shape.remove(d);
        layout.strides.remove(d);
        Ok(self.with_layout(layout))
    }

    /// Removes dimension `axis` of size 1 (a view).
    ///
    /// # Panics
    /// If the axis is out of range or its size is not 1.
    #[track_caller]
    pub fn squeeze(&self, axis: isize) -> Tensor {
        or_panic(self.try_squeeze(axis))
    }

    /// Inserts a dimension of size 1 at `axis` (in `-(rank+1)..=rank`; a view).
    ///
    /// # Errors
    /// If the axis is out of range.
    pub fn try_unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let rank = self.rank() as isize;
        let d = if axis < 0 { axis + rank + 1 } else { axis };
        if d < 0 || d > rank {
            return Err(Error::InvalidAxis {
                op: "unsqueeze",
                axis,
                shape: self.shape().into(),
            });
        }
        let d = d as usize;
        let mut layout = self.layout.clone();
        let stride = layout.strides.get(d).map_or(1, |&s| s * layout.shape[d]);
        layout.shape.insert(d, 1);
        layout.strides.insert(d, stride);
        Ok(self.with_layout(layout))
    }

    /// Inserts a dimension of size 1 at `axis` (a view).
    ///
    /// # Panics
    /// If the axis is out of range.
    #[track_caller]
    pub fn unsqueeze(&self, axis: isize) -> Tensor {
        or_panic(self.try_unsqueeze(axis))
    }

    /// Merges dims `start..=end` into one (a view when contiguous).
    ///
    /// # Errors
    /// If an axis is out of range or `start > end`.
    pub fn try_flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.try_reshape([1usize]);
        }
        let s = normalize_axis("flatten", start, self.shape())?;
        let e = normalize_axis("flatten", end, self.shape())?;
        if s > e {
            return Err(invalid(
                "flatten",
                format!("start axis {s} is after end axis {e}"),
            ));
        }
        let mut dims: Vec<usize> = self.shape()[..s].to_vec();
        dims.push(self.shape()[s..=e].iter().product());
        dims.extend_from_slice(&self.shape()[e + 1..]);
        self.try_reshape(dims)
    }

    /// Merges dims `start..=end` into one.
    ///
    /// # Panics
    /// If an axis is out of range or `start > end`.
    #[track_caller]
    pub fn flatten(&self, start: isize, end: isize) -> Tensor {
        or_panic(self.try_flatten(start, end))
    }

    pub(crate) fn strides_for(&self, target: &[usize]) -> Strides {
        broadcast_strides(self.shape(), self.strides(), target)
    }
}

fn infer_shape(op: &'static str, dims: &[isize], numel: usize, from: &[usize]) -> Result<Shape> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in dims.iter().enumerate() {
        if d == -1 && infer.is_none() {
            infer = Some(i);
        } else if d < 0 {
            return Err(invalid(
                op,
                format!("invalid dims {dims:?} for shape {from:?}"),
            ));
        } else {
            known *= d as usize;
        }
    }
    let mut shape: Shape = dims.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(invalid(
                op,
                format!("cannot infer -1 in {dims:?} for {numel} elements of shape {from:?}"),
            ));
        }
        shape[i] = numel / known;
    }
    if shape.iter().product::<usize>() != numel {
        return Err(Error::ElementCount {
            op,
            got: numel,
            shape: shape.as_slice().into(),
        });
    }
    Ok(shape)
}

fn rename(e: Error, op: &'static str) -> Error {
    match e {
        Error::InvalidArgument { message, .. } => Error::InvalidArgument { op, message },
        Error::InvalidAxis { axis, shape, .. } => Error::InvalidAxis { op, axis, shape },
        other => other,
    }
}

/// The backward rule of the views: the gradient goes back through the inverse layout change.
pub(crate) enum ViewNode {
    /// reshape, squeeze, unsqueeze, flatten: reshape the gradient back.
    Reshape { in_shape: Shape },
    /// permute, transpose: permute the gradient by the inverse permutation.
    Permute { inverse: Vec<isize> },
    /// narrow, slice: the gradient lands in a zero tensor at the sliced positions.
    Slice {
        axis: usize,
        start: usize,
        step: usize,
        in_shape: Shape,
    },
    /// broadcast_to: the gradient is summed over the expanded dims.
    Expand { in_shape: Shape },
}

impl ViewNode {
    pub(crate) fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        if !grads.needs(0) {
            return Ok(());
        }
        let dx = match self {
            ViewNode::Reshape { in_shape } => g.try_reshape(&in_shape[..])?,
            ViewNode::Permute { inverse } => g.try_permute(inverse)?,
            ViewNode::Expand { in_shape } => g.try_sum_to(in_shape)?,
            ViewNode::Slice {
                axis,
                start,
                step,
                in_shape,
            } => {
                let mut strides = contiguous_strides(in_shape);
                let offset = if g.shape()[*axis] > 0 {
                    start * strides[*axis]
                } else {
                    0
                };
                strides[*axis] *= step;
                let offsets = strided_offsets(g.shape(), &strides, offset);
                let n: usize = in_shape.iter().product();
                with_dtype!(g.dtype(), T => {
                    let mut dx = crate::dtype::zeros::<T>(n);
                    scatter_add(&mut dx, &offsets, &g.elements::<T>());
                    Tensor::from_parts(dx, in_shape)
                })
            }
        };
        grads.set(0, dx);
        Ok(())
    }
}

impl Var {
    #[track_caller]
    fn view_var(
        &self,
        name: &'static str,
        forward: impl FnOnce(&Tensor) -> Result<(Tensor, ViewNode)>,
    ) -> Result<Var> {
        Var::record(name, &[self], || {
            let (value, node) = forward(self.value())?;
            Ok(Recorded {
                value,
                op: Op::View(node),
            })
        })
    }

    #[track_caller]
    fn reshaping(
        &self,
        name: &'static str,
        forward: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<Var> {
        self.view_var(name, |x| {
            Ok((forward(x)?, ViewNode::Reshape { in_shape: x.dims() }))
        })
    }

    /// The same elements with another shape (one dim may be `-1`), as [`Tensor::reshape`].
    ///
    /// # Errors
    /// If the element counts differ.
    #[track_caller]
    pub fn try_reshape(&self, shape: impl ShapeArg) -> Result<Var> {
        self.reshaping("reshape", |x| x.try_reshape(shape))
    }

    /// The same elements with another shape; see [`Var::try_reshape`].
    ///
    /// # Panics
    /// If the element counts differ.
    #[track_caller]
    pub fn reshape(&self, shape: impl ShapeArg) -> Var {
        or_panic_var(self.try_reshape(shape))
    }

    /// Dims reordered, as [`Tensor::permute`].
    ///
    /// # Errors
    /// If `axes` is not a permutation of the dims.
    #[track_caller]
    pub fn try_permute(&self, axes: &[isize]) -> Result<Var> {
        self.view_var("permute", |x| {
            let y = x.try_permute(axes)?;
            let mut inverse = vec![0isize; axes.len()];
            for (i, &a) in axes.iter().enumerate() {
                inverse[normalize_axis("permute", a, x.shape())?] = i as isize;
            }
            Ok((y, ViewNode::Permute { inverse }))
        })
    }

    /// Dims reordered; see [`Var::try_permute`].
    ///
    /// # Panics
    /// If `axes` is not a permutation of the dims.
    #[track_caller]
    pub fn permute(&self, axes: &[isize]) -> Var {
        or_panic_var(self.try_permute(axes))
    }

    /// Two dims swapped (a view).
    ///
    /// # Panics
    /// If an axis is out of range.
    #[track_caller]
    pub fn transpose(&self, a: isize, b: isize) -> Var {
        let r = self.view_var("transpose", |x| {
            let y = x.try_transpose(a, b)?;
            let mut inverse: Vec<isize> = (0..x.rank() as isize).collect();
            let (i, j) = (
                normalize_axis("transpose", a, x.shape())?,
                normalize_axis("transpose", b, x.shape())?,
            );
            inverse.swap(i, j);
            Ok((y, ViewNode::Permute { inverse }))
        });
        or_panic_var(r)
    }

    /// The last two dims swapped (unchanged below rank 2).
    #[track_caller]
    pub fn t(&self) -> Var {
        if self.value().rank() < 2 {
            self.clone()
        } else {
            self.transpose(-2, -1)
        }
    }

    /// Elements `start..start + len` along `axis`, as [`Tensor::narrow`].
    ///
    /// # Errors
    /// If the range does not fit.
    #[track_caller]
    pub fn try_narrow(&self, axis: isize, start: usize, len: usize) -> Result<Var> {
        self.try_slice_axis(axis, start, start.saturating_add(len), 1)
            .map_err(|e| rename(e, "narrow"))
    }

    /// Elements `start..start + len` along `axis`; see [`Var::try_narrow`].
    ///
    /// # Panics
    /// If the range does not fit.
    #[track_caller]
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Var {
        or_panic_var(self.try_narrow(axis, start, len))
    }

    /// Elements `start, start + step, …` below `end` along `axis`, as [`Tensor::slice_axis`].
    ///
    /// # Errors
    /// If the range does not fit or `step` is 0.
    #[track_caller]
    pub fn try_slice_axis(
        &self,
        axis: isize,
        start: usize,
        end: usize,
        step: usize,
    ) -> Result<Var> {
        self.view_var("slice", |x| {
            let y = x.try_slice_axis(axis, start, end, step)?;
            let axis = normalize_axis("slice", axis, x.shape())?;
            Ok((
                y,
                ViewNode::Slice {
                    axis,
                    start,
                    step,
                    in_shape: x.dims(),
                },
            ))
        })
    }

    /// Elements `start, start + step, …` below `end` along `axis`; see [`Var::try_slice_axis`].
    ///
    /// # Panics
    /// If the range does not fit or `step` is 0.
    #[track_caller]
    pub fn slice_axis(&self, axis: isize, start: usize, end: usize, step: usize) -> Var {
        or_panic_var(self.try_slice_axis(axis, start, end, step))
    }

    /// Expanded to `shape` with stride 0, as [`Tensor::broadcast_to`]; the gradient is summed
    /// over the expanded dims.
    ///
    /// # Errors
    /// If the shape does not broadcast to `shape`.
    #[track_caller]
    pub fn try_broadcast_to(&self, shape: impl AsRef<[usize]>) -> Result<Var> {
        self.view_var("broadcast_to", |x| {
            Ok((
                x.try_broadcast_to(shape)?,
                ViewNode::Expand { in_shape: x.dims() },
            ))
        })
    }

    /// Expanded to `shape`; see [`Var::try_broadcast_to`].
    ///
    /// # Panics
    /// If the shape does not broadcast to `shape`.
    #[track_caller]
    pub fn broadcast_to(&self, shape: impl AsRef<[usize]>) -> Var {
        or_panic_var(self.try_broadcast_to(shape))
    }

    /// Dimension `axis`, of size 1, removed.
    ///
    /// # Panics
    /// If the axis is out of range or its size is not 1.
    #[track_caller]
    pub fn squeeze(&self, axis: isize) -> Var {
        or_panic_var(self.reshaping("squeeze", |x| x.try_squeeze(axis)))
    }

    /// A size-1 dimension inserted at `axis`.
    ///
    /// # Panics
    /// If the axis is out of range.
    #[track_caller]
    pub fn unsqueeze(&self, axis: isize) -> Var {
        or_panic_var(self.reshaping("unsqueeze", |x| x.try_unsqueeze(axis)))
    }

    /// Dims `start..=end` merged into one.
    ///
    /// # Panics
    /// If an axis is out of range or `start > end`.
    #[track_caller]
    pub fn flatten(&self, start: isize, end: isize) -> Var {
        or_panic_var(self.reshaping("flatten", |x| x.try_flatten(start, end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t23() -> Tensor {
        Tensor::from_vec((0..6).map(|v| v as f32).collect(), [2, 3])
    }

    #[test]
    fn reshape_infers_and_refuses() {
        assert_eq!(t23().reshape([3, -1]).shape(), &[3, 2]);
        assert_eq!(
            t23().try_reshape([4, 2]).unwrap_err().to_string(),
            "reshape: 6 elements do not fill shape [4, 2] (8 elements)"
        );
    }

    #[test]
    fn transpose_is_a_view() {
        let x = t23();
        let t = x.t();
        assert!(t.shares_storage(&x));
        assert_eq!(t.to_vec_f32(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(
            t.reshape([6]).to_vec_f32(),
            vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
        );
    }

    #[test]
    fn slice_with_step() {
        let x = Tensor::arange(0.0, 10.0, 1.0);
        assert_eq!(x.slice_axis(0, 1, 8, 3).to_vec_f32(), vec![1.0, 4.0, 7.0]);
        assert_eq!(x.narrow(0, 8, 2).to_vec_f32(), vec![8.0, 9.0]);
        assert!(x.try_narrow(0, 8, 3).is_err());
    }

    #[test]
    fn broadcast_and_squeeze() {
        let x = Tensor::from_vec(vec![1.0f32, 2.0], [2, 1]);
        let b = x.broadcast_to([3, 2, 2]);
        assert_eq!(
            b.to_vec_f32(),
            vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]
        );
        assert_eq!(x.squeeze(1).shape(), &[2]);
        assert_eq!(x.unsqueeze(0).shape(), &[1, 2, 1]);
        assert_eq!(x.unsqueeze(-1).shape(), &[2, 1, 1]);
        assert!(x.try_broadcast_to([3]).is_err());
    }
}
