//! Views: reshape, permute/transpose, narrow/slice, broadcast, squeeze/unsqueeze, flatten.
//!
//! A view shares the input's buffer and only changes the layout: no element is copied, except by
//! `reshape` of a non-contiguous input, which copies first (as `torch.reshape`).
//! **PyTorch equivalent**: `reshape`, `permute`, `transpose`, `narrow`, `expand`, `squeeze`,
//! `unsqueeze`, `flatten`. The backward rule of every view maps the
//! gradient back through the inverse layout change.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid};
use crate::int_tensor::IntTensor;
use crate::ops::{BackwardRule, GradsIn, Op};
use crate::panicking::panicking;
use crate::shape::{Layout, Shape, Strides, broadcast_strides, contiguous_strides, normalize_axis};
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
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

/// A tensor type the views apply to ([`Tensor`] and [`IntTensor`]): a view changes only the
/// layout, so each is written once, over this trait.
pub(crate) trait Viewable: Sized + Clone {
    /// The layout viewed.
    fn view_layout(&self) -> &Layout;
    /// The same buffer with another layout.
    fn relayout(&self, layout: Layout) -> Self;
    /// The elements copied into a contiguous buffer.
    fn to_contiguous(&self) -> Self;
}

impl Viewable for Tensor {
    fn view_layout(&self) -> &Layout {
        &self.layout
    }
    fn relayout(&self, layout: Layout) -> Self {
        self.with_layout(layout)
    }
    fn to_contiguous(&self) -> Self {
        self.contiguous()
    }
}

impl Viewable for IntTensor {
    fn view_layout(&self) -> &Layout {
        self.layout()
    }
    fn relayout(&self, layout: Layout) -> Self {
        self.with_layout(layout)
    }
    fn to_contiguous(&self) -> Self {
        self.contiguous()
    }
}

fn reshape<V: Viewable>(x: &V, shape: impl ShapeArg) -> Result<V> {
    let l = x.view_layout();
    let shape = infer_shape("reshape", &shape.dims(), l.numel(), &l.shape)?;
    let base = if l.is_contiguous() {
        x.clone()
    } else {
        x.to_contiguous()
    };
    let mut layout = Layout::contiguous(&shape);
    layout.offset = base.view_layout().offset;
    Ok(base.relayout(layout))
}

fn permute<V: Viewable>(x: &V, axes: &[isize]) -> Result<V> {
    let l = x.view_layout();
    let rank = l.shape.len();
    if axes.len() != rank {
        return Err(invalid(
            "permute",
            format!(
                "{} axes given for shape {:?} of rank {rank}",
                axes.len(),
                l.shape
            ),
        ));
    }
    // Refuses out-of-range and repeated axes; with `rank` axes that makes a permutation.
    crate::shape::normalize_axes("permute", axes, &l.shape)?;
    let axes = axes
        .iter()
        .map(|&a| normalize_axis("permute", a, &l.shape))
        .collect::<Result<Vec<_>>>()?;
    Ok(x.relayout(Layout {
        shape: axes.iter().map(|&a| l.shape[a]).collect(),
        strides: axes.iter().map(|&a| l.strides[a]).collect(),
        offset: l.offset,
    }))
}

fn transpose<V: Viewable>(x: &V, a: isize, b: isize) -> Result<V> {
    let mut layout = x.view_layout().clone();
    let a = normalize_axis("transpose", a, &layout.shape)?;
    let b = normalize_axis("transpose", b, &layout.shape)?;
    layout.shape.swap(a, b);
    layout.strides.swap(a, b);
    Ok(x.relayout(layout))
}

fn t<V: Viewable>(x: &V) -> V {
    if x.view_layout().shape.len() < 2 {
        x.clone()
    } else {
        transpose(x, -2, -1).expect("rank >= 2 has axes -2 and -1")
    }
}

fn slice_axis<V: Viewable>(x: &V, axis: isize, start: usize, end: usize, step: usize) -> Result<V> {
    let mut layout = x.view_layout().clone();
    let d = normalize_axis("slice", axis, &layout.shape)?;
    let size = layout.shape[d];
    if step == 0 || start > end || end > size {
        return Err(invalid(
            "slice",
            format!(
                "range {start}..{end} step {step} does not fit axis {d} of size {size} in shape {:?}",
                layout.shape
            ),
        ));
    }
    let len = (end - start).div_ceil(step);
    if len > 0 {
        layout.offset += start * layout.strides[d];
    }
    layout.shape[d] = len;
    layout.strides[d] *= step;
    Ok(x.relayout(layout))
}

fn narrow<V: Viewable>(x: &V, axis: isize, start: usize, len: usize) -> Result<V> {
    slice_axis(x, axis, start, start.saturating_add(len), 1).map_err(|e| rename(e, "narrow"))
}

fn broadcast_to<V: Viewable>(x: &V, shape: impl AsRef<[usize]>) -> Result<V> {
    let l = x.view_layout();
    let target = shape.as_ref();
    crate::shape::checked_numel("broadcast_to", target)?;
    let ok = target.len() >= l.shape.len()
        && l.shape
            .iter()
            .rev()
            .zip(target.iter().rev())
            .all(|(&s, &t)| s == t || s == 1);
    if !ok {
        let detail = crate::shape::broadcast_shapes("broadcast_to", &l.shape, target)
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
            lhs: l.shape.as_slice().into(),
            rhs: target.into(),
            detail,
        });
    }
    Ok(x.relayout(Layout {
        shape: Shape::from_slice(target),
        strides: broadcast_strides(&l.shape, &l.strides, target),
        offset: l.offset,
    }))
}

fn squeeze<V: Viewable>(x: &V, axis: isize) -> Result<V> {
    let mut layout = x.view_layout().clone();
    let d = normalize_axis("squeeze", axis, &layout.shape)?;
    if layout.shape[d] != 1 {
        return Err(invalid(
            "squeeze",
            format!(
                "axis {d} of shape {:?} has size {}, not 1",
                layout.shape, layout.shape[d]
            ),
        ));
    }
    layout.shape.remove(d);
    layout.strides.remove(d);
    Ok(x.relayout(layout))
}

fn unsqueeze<V: Viewable>(x: &V, axis: isize) -> Result<V> {
    let mut layout = x.view_layout().clone();
    let rank = layout.shape.len() as isize;
    let d = if axis < 0 { axis + rank + 1 } else { axis };
    if d < 0 || d > rank {
        return Err(Error::InvalidAxis {
            op: "unsqueeze",
            axis,
            shape: layout.shape.as_slice().into(),
        });
    }
    let d = d as usize;
    let stride = layout.strides.get(d).map_or(1, |&s| s * layout.shape[d]);
    layout.shape.insert(d, 1);
    layout.strides.insert(d, stride);
    Ok(x.relayout(layout))
}

fn flatten<V: Viewable>(x: &V, start: isize, end: isize) -> Result<V> {
    let shape = &x.view_layout().shape;
    if shape.is_empty() {
        return reshape(x, [1usize]);
    }
    let s = normalize_axis("flatten", start, shape)?;
    let e = normalize_axis("flatten", end, shape)?;
    if s > e {
        return Err(invalid(
            "flatten",
            format!("start axis {s} is after end axis {e}"),
        ));
    }
    let mut dims: Vec<usize> = shape[..s].to_vec();
    dims.push(shape[s..=e].iter().product());
    dims.extend_from_slice(&shape[e + 1..]);
    reshape(x, dims)
}

/// The views of a tensor type: each `try_` form calls the generic view above, and
/// [`panicking!`] declares the plain forms.
macro_rules! views {
    ($($ty:ident),+) => {$(
        impl $ty {
            /// The same elements with another shape; one dim may be `-1` to be inferred. A view
            /// when the input is contiguous, else a copy (as `torch.reshape`).
            ///
            /// # Errors
            /// If the element counts differ, or the dims are negative other than one `-1`.
            pub fn try_reshape(&self, shape: impl ShapeArg) -> Result<$ty> {
                reshape(self, shape)
            }

            /// Reorders the dimensions: output dim `i` is input dim `axes[i]` (a view).
            ///
            /// # Errors
            /// If `axes` is not a permutation of `0..rank` (negative axes count from the end).
            pub fn try_permute(&self, axes: &[isize]) -> Result<$ty> {
                permute(self, axes)
            }

            /// Swaps two dimensions (a view).
            ///
            /// # Errors
            /// If an axis is out of range.
            pub fn try_transpose(&self, a: isize, b: isize) -> Result<$ty> {
                transpose(self, a, b)
            }

            /// Swaps the last two dimensions (torch's `.mT`); below rank 2, the tensor as is.
            pub fn t(&self) -> $ty {
                t(self)
            }

            /// Elements `start..start + len` along `axis` (a view).
            ///
            /// # Errors
            /// If the axis is out of range or the range does not fit in the dimension.
            pub fn try_narrow(&self, axis: isize, start: usize, len: usize) -> Result<$ty> {
                narrow(self, axis, start, len)
            }

            /// Elements `start, start + step, …` below `end` along `axis` (a view, as
            /// `x[start:end:step]`).
            ///
            /// # Errors
            /// If the axis is out of range, `step` is zero, or `start > end` or `end` exceeds
            /// the dimension.
            pub fn try_slice_axis(
                &self,
                axis: isize,
                start: usize,
                end: usize,
                step: usize,
            ) -> Result<$ty> {
                slice_axis(self, axis, start, end, step)
            }

            /// Repeated along new leading dims and size-1 dims to `shape` (a view with stride 0,
            /// as `torch.expand`).
            ///
            /// # Errors
            /// If the shape does not broadcast to `shape`.
            pub fn try_broadcast_to(&self, shape: impl AsRef<[usize]>) -> Result<$ty> {
                broadcast_to(self, shape)
            }

            /// Removes dimension `axis`, which must have size 1 (a view).
            ///
            /// # Errors
            /// If the axis is out of range or its size is not 1.
            pub fn try_squeeze(&self, axis: isize) -> Result<$ty> {
                squeeze(self, axis)
            }

            /// Inserts a dimension of size 1 at `axis` (in `-(rank+1)..=rank`; a view).
            ///
            /// # Errors
            /// If the axis is out of range.
            pub fn try_unsqueeze(&self, axis: isize) -> Result<$ty> {
                unsqueeze(self, axis)
            }

            /// Merges dims `start..=end` into one (a view when contiguous).
            ///
            /// # Errors
            /// If an axis is out of range or `start > end`.
            pub fn try_flatten(&self, start: isize, end: isize) -> Result<$ty> {
                flatten(self, start, end)
            }
        }
    )+};
}

views!(Tensor, IntTensor);

panicking! { Tensor, IntTensor, Var:
    /// The same elements with another shape (one dim may be `-1`); see `try_reshape`.
    reshape = try_reshape(shape: impl ShapeArg) -> Self;
    /// The dimensions reordered; see `try_permute`.
    permute = try_permute(axes: &[isize]) -> Self;
    /// Two dimensions swapped (a view).
    transpose = try_transpose(a: isize, b: isize) -> Self;
    /// Elements `start..start + len` along `axis` (a view).
    narrow = try_narrow(axis: isize, start: usize, len: usize) -> Self;
    /// Elements `start, start + step, …` below `end` along `axis` (a view).
    slice_axis = try_slice_axis(axis: isize, start: usize, end: usize, step: usize) -> Self;
    /// Expanded to `shape` (a view with stride 0).
    broadcast_to = try_broadcast_to(shape: impl AsRef<[usize]>) -> Self;
    /// Dimension `axis`, of size 1, removed (a view).
    squeeze = try_squeeze(axis: isize) -> Self;
    /// A size-1 dimension inserted at `axis` (a view).
    unsqueeze = try_unsqueeze(axis: isize) -> Self;
    /// Dims `start..=end` merged into one.
    flatten = try_flatten(start: isize, end: isize) -> Self;
}

impl Tensor {
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
    if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(numel) {
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

impl BackwardRule for ViewNode {
    fn saved_bytes(&self) -> usize {
        0
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
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

    /// Two dims swapped (a view), as [`Tensor::transpose`].
    ///
    /// # Errors
    /// If an axis is out of range.
    #[track_caller]
    pub fn try_transpose(&self, a: isize, b: isize) -> Result<Var> {
        self.view_var("transpose", |x| {
            let y = x.try_transpose(a, b)?;
            let mut inverse: Vec<isize> = (0..x.rank() as isize).collect();
            let (i, j) = (
                normalize_axis("transpose", a, x.shape())?,
                normalize_axis("transpose", b, x.shape())?,
            );
            inverse.swap(i, j);
            Ok((y, ViewNode::Permute { inverse }))
        })
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

    /// Dimension `axis`, of size 1, removed, as [`Tensor::squeeze`].
    ///
    /// # Errors
    /// If the axis is out of range or its size is not 1.
    #[track_caller]
    pub fn try_squeeze(&self, axis: isize) -> Result<Var> {
        self.reshaping("squeeze", |x| x.try_squeeze(axis))
    }

    /// A size-1 dimension inserted at `axis`, as [`Tensor::unsqueeze`].
    ///
    /// # Errors
    /// If the axis is out of range.
    #[track_caller]
    pub fn try_unsqueeze(&self, axis: isize) -> Result<Var> {
        self.reshaping("unsqueeze", |x| x.try_unsqueeze(axis))
    }

    /// Dims `start..=end` merged into one, as [`Tensor::flatten`].
    ///
    /// # Errors
    /// If an axis is out of range or `start > end`.
    #[track_caller]
    pub fn try_flatten(&self, start: isize, end: isize) -> Result<Var> {
        self.reshaping("flatten", |x| x.try_flatten(start, end))
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
