//! Reductions over any set of axes, with `keepdim`: `sum mean max min logsumexp var` and
//! `argmax argmin`.
//!
//! **PyTorch equivalent**: `x.sum(dim, keepdim)` and friends; `var` takes torch's `correction`.
//! An empty axis list reduces nothing (unlike torch, whose `dim=[]` means all axes); use the
//! `*_all` forms to reduce everything. Results do not depend on the thread count: the kernels sum
//! in fixed chunks (docs/numerics.md). Derivatives: `sum` broadcasts the gradient back; `mean`
//! divides it by the count; `max`/`min` send it to the extreme elements, split equally on ties;
//! `logsumexp` multiplies it by `softmax(x)`; `var` by `2 (x - mean) / (n - correction)`.
//! `argmax`/`argmin` are not differentiable.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid};
use crate::int_tensor::IntTensor;
use crate::ops::{BackwardRule, GradsIn, Op, opt};
use crate::panicking::panicking;
use crate::shape::{Shape, normalize_axes, normalize_axis};
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::reduce::{self, Reduction};
use smallvec::SmallVec;

/// How a reduction is laid out for the kernel: `[outer, len, inner]` over a contiguous buffer.
struct Plan {
    input: Tensor,
    outer: usize,
    len: usize,
    inner: usize,
    out_shape: Shape,
}

/// Brings the reduced axes together: either they already form one block of a contiguous tensor,
/// or the tensor is permuted so they come last and made contiguous.
fn plan(op: &'static str, x: &Tensor, axes: &[isize], keepdim: bool) -> Result<Plan> {
    let axes = normalize_axes(op, axes, x.shape())?;
    let shape = x.shape();
    let out_shape: Shape = (0..shape.len())
        .filter_map(|d| {
            if axes.contains(&d) {
                keepdim.then_some(1)
            } else {
                Some(shape[d])
            }
        })
        .collect();
    // Size-1 axes change nothing; leave them out of the block search.
    let red: SmallVec<[usize; 4]> = axes.iter().copied().filter(|&d| shape[d] != 1).collect();
    let len: usize = red.iter().map(|&d| shape[d]).product();
    let numel = x.numel();
    if red.is_empty() {
        return Ok(Plan {
            input: x.contiguous(),
            outer: numel,
            len: 1,
            inner: 1,
            out_shape,
        });
    }
    let (first, last) = (red[0], red[red.len() - 1]);
    let is_block = (first..=last).all(|d| red.contains(&d) || shape[d] == 1);
    if is_block {
        let outer = shape[..first].iter().product();
        let inner = shape[last + 1..].iter().product();
        return Ok(Plan {
            input: x.contiguous(),
            outer,
            len,
            inner,
            out_shape,
        });
    }
    let kept: SmallVec<[isize; 4]> = (0..shape.len())
        .filter(|d| !red.contains(d))
        .map(|d| d as isize)
        .collect();
    let perm: SmallVec<[isize; 4]> = kept
        .iter()
        .copied()
        .chain(red.iter().map(|&d| d as isize))
        .collect();
    Ok(Plan {
        input: x.permute(&perm).contiguous(),
        outer: numel.checked_div(len).unwrap_or(0),
        len,
        inner: 1,
        out_shape,
    })
}

impl Tensor {
    pub(crate) fn try_reduce(
        &self,
        op: Reduction,
        name: &'static str,
        axes: &[isize],
        keepdim: bool,
    ) -> Result<Tensor> {
        let p = plan(name, self, axes, keepdim)?;
        if p.len == 0 && matches!(op, Reduction::Max | Reduction::Min) {
            return Err(invalid(
                name,
                format!(
                    "cannot reduce over an empty axis of shape {:?}",
                    self.shape()
                ),
            ));
        }
        // With an empty reduced axis the outer count is not recoverable from the input; take it
        // from the output.
        let outer = if p.len == 0 {
            p.out_shape.iter().product::<usize>() / p.inner.max(1)
        } else {
            p.outer
        };
        Ok(with_dtype!(self.dtype(), T => {
            let x = p.input.contiguous_slice::<T>().expect("planned input is contiguous");
            let mut out = crate::dtype::for_overwrite::<T>(outer * p.inner);
            reduce::reduce(op, x, outer, p.len, p.inner, &mut out);
            Tensor::from_parts(out, &p.out_shape)
        }))
    }

    fn try_arg_reduce(
        &self,
        largest: bool,
        name: &'static str,
        axis: isize,
        keepdim: bool,
    ) -> Result<IntTensor> {
        let a = normalize_axis(name, axis, self.shape())?;
        if self.shape()[a] == 0 {
            return Err(invalid(
                name,
                format!(
                    "cannot reduce over the empty axis {a} of shape {:?}",
                    self.shape()
                ),
            ));
        }
        let p = plan(name, self, &[a as isize], keepdim)?;
        let (outer, len, inner) = if p.len <= 1 {
            (self.numel(), 1, 1)
        } else {
            (p.outer, p.len, p.inner)
        };
        Ok(with_dtype!(self.dtype(), T => {
            let x = p.input.contiguous_slice::<T>().expect("planned input is contiguous");
            let mut idx = vec![0usize; outer * inner];
            reduce::arg_reduce(largest, x, outer, len, inner, &mut idx);
            IntTensor::from_indices(&idx, &p.out_shape)
        }))
    }
}

/// Declares each reduction once, for `Tensor` and `Var`: `try_<op>` (the `Var` form records a
/// [`ReduceNode`]), `<op>` through [`panicking!`], and `<op>_all` over every axis.
macro_rules! reductions {
    ($($(#[$doc:meta])* $name:ident, $try_name:ident, $all:ident, $op:expr;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                /// If an axis is out of range or repeated (or, for `max`/`min`, has size 0).
                pub fn $try_name(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
                    self.try_reduce($op, stringify!($name), axes, keepdim)
                }
            )*
        }

        impl Var {
            $(
                $(#[$doc])*
                ///
                /// # Errors
                /// If an axis is out of range or repeated (or, for `max`/`min`, has size 0), or
                /// the tape was consumed or dropped.
                #[track_caller]
                pub fn $try_name(&self, axes: &[isize], keepdim: bool) -> Result<Var> {
                    self.try_reduce_var($op, stringify!($name), axes, keepdim)
                }
            )*
        }

        all_axes! { Tensor: $($(#[$doc])* $all = $try_name;)* }
        all_axes! { Var: $($(#[$doc])* $all = $try_name;)* }

        panicking! { Tensor, Var:
            $(
                $(#[$doc])*
                $name = $try_name(axes: &[isize], keepdim: bool) -> Self;
            )*
        }
    };
}

/// The `<op>_all` form of a reduction: over every axis, to a 0-dimensional result.
macro_rules! all_axes {
    ($T:ident: $($(#[$doc:meta])* $all:ident = $try_name:ident;)*) => {
        impl $T {
            $(
                $(#[$doc])*
                /// Over all axes, to a 0-dimensional result.
                #[track_caller]
                pub fn $all(&self) -> $T {
                    let axes: SmallVec<[isize; 4]> = (0..self.shape().len() as isize).collect();
                    $crate::error::or_panic(self.$try_name(&axes, false))
                }
            )*
        }
    };
}

reductions! {
    /// Sum over `axes`; the gradient is broadcast back.
    ///
    /// ```
    /// let x = descent_core::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
    /// assert_eq!(x.sum(&[0], false).to_vec_f32(), vec![4.0, 6.0]);
    /// assert_eq!(x.sum(&[-1], true).shape(), &[2, 1]);
    /// ```
    sum, try_sum, sum_all, Reduction::Sum;
    /// Mean over `axes` (NaN over an empty axis); the gradient is broadcast back and divided by
    /// the count.
    mean, try_mean, mean_all, Reduction::Mean;
    /// Largest value over `axes`, NaN if any is NaN; the gradient goes to the maxima, split
    /// equally on ties.
    max, try_max, max_all, Reduction::Max;
    /// Smallest value over `axes`, NaN if any is NaN; the gradient goes to the minima, split
    /// equally on ties.
    min, try_min, min_all, Reduction::Min;
    /// `log(sum(exp(x)))` over `axes`, computed stably (`m + log sum e^(x - m)`); the gradient is
    /// `g softmax(x)`.
    logsumexp, try_logsumexp, logsumexp_all, Reduction::LogSumExp;
}

impl Tensor {
    /// Variance over `axes` with Bessel's `correction` (`1`: unbiased, torch's default; `0`:
    /// population).
    ///
    /// # Errors
    /// If an axis is out of range or repeated.
    pub fn try_var(&self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        self.try_reduce(Reduction::Var { correction }, "var", axes, keepdim)
    }

    /// Index of the largest value along `axis` (the first on ties, the first NaN if any), as
    /// `torch.argmax`. Not differentiable.
    ///
    /// ```
    /// let x = descent_core::Tensor::from_vec(vec![1.0f32, 5.0, 5.0, 0.0], [2, 2]);
    /// assert_eq!(x.argmax(1, false).to_vec(), vec![1, 0]);
    /// ```
    ///
    /// # Errors
    /// If the axis is out of range or has size 0.
    pub fn try_argmax(&self, axis: isize, keepdim: bool) -> Result<IntTensor> {
        self.try_arg_reduce(true, "argmax", axis, keepdim)
    }

    /// Index of the smallest value along `axis` (the first on ties, the first NaN if any).
    ///
    /// # Errors
    /// If the axis is out of range or has size 0.
    pub fn try_argmin(&self, axis: isize, keepdim: bool) -> Result<IntTensor> {
        self.try_arg_reduce(false, "argmin", axis, keepdim)
    }
}

impl Var {
    /// The index of the largest value along `axis`, as [`Tensor::try_argmax`]: integers, not
    /// differentiable, so nothing is recorded.
    ///
    /// # Errors
    /// If the axis is out of range or has size 0.
    pub fn try_argmax(&self, axis: isize, keepdim: bool) -> Result<IntTensor> {
        self.value().try_argmax(axis, keepdim)
    }

    /// The index of the smallest value along `axis`, as [`Tensor::try_argmin`]; records nothing.
    ///
    /// # Errors
    /// If the axis is out of range or has size 0.
    pub fn try_argmin(&self, axis: isize, keepdim: bool) -> Result<IntTensor> {
        self.value().try_argmin(axis, keepdim)
    }
}

panicking! { Tensor, Var:
    /// Index of the largest value along `axis`; see `try_argmax`.
    argmax = try_argmax(axis: isize, keepdim: bool) -> IntTensor;
    /// Index of the smallest value along `axis`; see `try_argmin`.
    argmin = try_argmin(axis: isize, keepdim: bool) -> IntTensor;
}

impl Tensor {
    /// Sums over the dims along which `shape` was broadcast to this tensor's shape, giving a
    /// tensor of `shape` (as `torch.Tensor.sum_to_size`): the adjoint of [`Tensor::broadcast_to`],
    /// which every backward rule of a broadcasting op uses.
    ///
    /// ```
    /// let g = descent_core::Tensor::ones([4, 2, 3]);
    /// assert_eq!(g.sum_to(&[2, 1]).to_vec_f32(), vec![12.0, 12.0]);
    /// ```
    ///
    /// # Errors
    /// If `shape` does not broadcast to this tensor's shape.
    pub fn try_sum_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let mismatch = || Error::ShapeMismatch {
            op: "sum_to",
            lhs: self.shape().into(),
            rhs: shape.into(),
            detail: "do not match: the target must broadcast to the tensor's shape".to_string(),
        };
        let lead = self.rank().checked_sub(shape.len()).ok_or_else(mismatch)?;
        let mut axes: Vec<isize> = (0..lead as isize).collect();
        for (d, &t) in shape.iter().enumerate() {
            let s = self.shape()[lead + d];
            if t == s {
                continue;
            }
            if t != 1 {
                return Err(mismatch());
            }
            axes.push((lead + d) as isize);
        }
        self.try_sum(&axes, true)?.try_reshape(shape)
    }
}

/// The backward rule of the reductions. The gradient `g` is viewed with the reduced dims kept
/// (size 1) and broadcast back over them.
pub(crate) struct ReduceNode {
    pub(crate) kind: Reduction,
    pub(crate) axes: SmallVec<[usize; 4]>,
    /// The input, saved for `max`, `min`, `logsumexp` and `var`.
    pub(crate) x: Option<Tensor>,
    /// The output with the reduced dims kept, saved for `max`, `min` and `logsumexp`.
    pub(crate) y: Option<Tensor>,
    pub(crate) x_shape: Shape,
    pub(crate) keep_shape: Shape,
}

impl BackwardRule for ReduceNode {
    fn saved_bytes(&self) -> usize {
        opt(&self.x) + opt(&self.y)
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        if !grads.needs(0) {
            return Ok(());
        }
        let gk = g.try_reshape(&self.keep_shape[..])?;
        let count: usize = self.axes.iter().map(|&d| self.x_shape[d]).product();
        let saved = |t: &Option<Tensor>| t.clone().expect("saved by the forward");
        let dx = match self.kind {
            Reduction::Sum => gk.broadcast_to(&self.x_shape).contiguous(),
            Reduction::Mean => gk
                .mul_scalar(1.0 / count as f64)
                .broadcast_to(&self.x_shape)
                .contiguous(),
            Reduction::Max | Reduction::Min => {
                // Ties split the gradient equally among the extreme elements (docs/numerics.md).
                let (x, y) = (saved(&self.x), saved(&self.y));
                let mask = x.eq(&y);
                let axes: Vec<isize> = self.axes.iter().map(|&d| d as isize).collect();
                let ties = mask.sum(&axes, true);
                mask.mul(&gk.div(&ties))
            }
            Reduction::LogSumExp => {
                let (x, y) = (saved(&self.x), saved(&self.y));
                x.sub(&y).exp().mul(&gk)
            }
            Reduction::Var { correction } => {
                let x = saved(&self.x);
                let axes: Vec<isize> = self.axes.iter().map(|&d| d as isize).collect();
                let centered = x.sub(&x.mean(&axes, true));
                let denom = count as f64 - correction as f64;
                centered.mul(&gk).mul_scalar(2.0 / denom)
            }
        };
        grads.set(0, dx);
        Ok(())
    }
}

impl Var {
    #[track_caller]
    fn try_reduce_var(
        &self,
        kind: Reduction,
        name: &'static str,
        axes: &[isize],
        keepdim: bool,
    ) -> Result<Var> {
        Var::record(name, &[self], || {
            let x = self.value();
            let y = x.try_reduce(kind, name, axes, keepdim)?;
            let norm = normalize_axes(name, axes, x.shape())?;
            let keep_shape: Shape = (0..x.rank())
                .map(|d| if norm.contains(&d) { 1 } else { x.shape()[d] })
                .collect();
            let (save_x, save_y) = match kind {
                Reduction::Sum | Reduction::Mean => (false, false),
                Reduction::Var { .. } => (true, false),
                Reduction::Max | Reduction::Min | Reduction::LogSumExp => (true, true),
            };
            Ok(Recorded {
                op: Op::Reduce(Box::new(ReduceNode {
                    kind,
                    axes: norm,
                    x: save_x.then(|| x.clone()),
                    y: save_y.then(|| y.reshape(&keep_shape[..])),
                    x_shape: x.dims(),
                    keep_shape,
                })),
                value: y,
            })
        })
    }
}

impl Var {
    /// Variance over `axes` with Bessel's `correction`; the gradient is
    /// `g 2 (x - mean) / (n - correction)`.
    ///
    /// # Errors
    /// If an axis is out of range or repeated.
    #[track_caller]
    pub fn try_var(&self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Var> {
        self.try_reduce_var(Reduction::Var { correction }, "var", axes, keepdim)
    }
}

panicking! { Tensor:
    /// Variance over `axes`; see [`Tensor::try_var`].
    var = try_var(axes: &[isize], correction: usize, keepdim: bool) -> Self;
    /// Sums over broadcast dims down to `shape`; see [`Tensor::try_sum_to`].
    sum_to = try_sum_to(shape: &[usize]) -> Self;
}

panicking! { Var:
    /// Variance over `axes`; see [`Var::try_var`].
    var = try_var(axes: &[isize], correction: usize, keepdim: bool) -> Self;
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn reduce_forward_golden() {
        // x = [[1, 2, 3], [4, 5, 6]]
        let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
        assert_eq!(x.sum(&[1], false).to_vec_f64(), vec![6.0, 15.0]);
        assert_eq!(x.mean(&[0], false).to_vec_f64(), vec![2.5, 3.5, 4.5]);
        assert_eq!(x.max(&[0, 1], false).item(), 6.0);
        assert_eq!(x.min_all().item(), 1.0);
        // var([1, 2, 3], correction 1) = ((1-2)^2 + 0 + (3-2)^2) / 2 = 1.
        assert_eq!(x.var(&[1], 1, false).to_vec_f64(), vec![1.0, 1.0]);
        // logsumexp([1, 2, 3]) = 3 + ln(e^-2 + e^-1 + 1) = 3.40760596444438.
        assert!((x.logsumexp(&[1], false).to_vec_f64()[0] - 3.407_605_964_444_38).abs() < 1e-13);
        assert_eq!(x.argmax(0, false).to_vec(), vec![1, 1, 1]);
        assert_eq!(x.sum(&[], false).shape(), &[2, 3]);
    }

    #[test]
    fn reduce_non_adjacent_axes() {
        let x = Tensor::arange(0.0, 24.0, 1.0).reshape([2, 3, 4]);
        let s = x.sum(&[0, 2], true);
        assert_eq!(s.shape(), &[1, 3, 1]);
        // Axis 1 index j: sum over i, k of 12 i + 4 j + k = 2*(0+1+2+3) + 12*4 + 2*4*4 j.
        assert_eq!(s.to_vec_f32(), vec![60.0, 92.0, 124.0]);
    }

    #[test]
    fn bad_axis_is_an_error() {
        let x = Tensor::zeros([2, 3]);
        assert_eq!(
            x.try_sum(&[2], false).unwrap_err().to_string(),
            "sum: axis 2 is out of range or repeated for shape [2, 3] (rank 2)"
        );
        assert!(x.try_sum(&[1, -1], false).is_err());
        assert!(Tensor::zeros([0, 2]).try_max(&[0], false).is_err());
        assert_eq!(
            Tensor::zeros([0, 2]).sum(&[0], false).to_vec_f32(),
            vec![0.0, 0.0]
        );
    }
}
