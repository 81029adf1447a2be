//! `max_pool2d` (with the argmax the backward needs), `avg_pool2d` and `adaptive_avg_pool2d` on
//! NCHW tensors.
//!
//! **PyTorch equivalent**: `torch.nn.functional.max_pool2d(x, kernel, stride, padding, dilation,
//! return_indices=True)`, `avg_pool2d(x, kernel, stride, padding, count_include_pad=True)`
//! (`ceil_mode=False`) and `adaptive_avg_pool2d(x, output_size)`. Derivatives: max pooling routes
//! each output gradient to the saved argmax position (the first maximum on ties); average pooling
//! spreads it evenly over the window; adaptive average pooling spreads it evenly over its bin
//! (rows `[floor(i h / oh), ceil((i + 1) h / oh))`, likewise columns; bins may overlap). None
//! saves the input.

use crate::dtype::with_dtype;
use crate::error::{Result, invalid};
use crate::int_tensor::IntTensor;
use crate::ops::{BackwardRule, GradsIn, Op};
use crate::panicking::panicking;
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::pool::{self, AdaptivePool2dGeometry, Pool2dGeometry};

/// Window, stride, padding and dilation of a pooling, each `[height, width]`.
///
/// ```
/// use descent_core::Pool2dParams;
/// let p = Pool2dParams::new(2);
/// assert_eq!((p.kernel, p.stride, p.padding), ([2, 2], [2, 2], [0, 0]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dParams {
    /// Window size.
    pub kernel: [usize; 2],
    /// Step between windows (torch's default: the window size).
    pub stride: [usize; 2],
    /// Padding on each side, at most half the window.
    pub padding: [usize; 2],
    /// Spacing between window taps (max pooling only; average pooling needs 1).
    pub dilation: [usize; 2],
    /// Whether average pooling divides by the full window, padding included (torch's default).
    pub count_include_pad: bool,
}

impl Pool2dParams {
    /// A square `kernel x kernel` window with stride `kernel`, no padding.
    pub fn new(kernel: usize) -> Self {
        Pool2dParams {
            kernel: [kernel, kernel],
            stride: [kernel, kernel],
            padding: [0, 0],
            dilation: [1, 1],
            count_include_pad: true,
        }
    }

    /// The same stride along both axes.
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = [s, s];
        self
    }

    /// The same padding along both axes.
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = [p, p];
        self
    }

    /// The same dilation along both axes.
    pub fn dilation(mut self, d: usize) -> Self {
        self.dilation = [d, d];
        self
    }

    /// Whether average pooling counts padding in the divisor.
    pub fn count_include_pad(mut self, yes: bool) -> Self {
        self.count_include_pad = yes;
        self
    }
}

fn geometry(op: &'static str, x: &Tensor, p: &Pool2dParams) -> Result<Pool2dGeometry> {
    if x.rank() != 4 {
        return Err(invalid(
            op,
            format!("needs a 4-D input (n, c, h, w), got shape {:?}", x.shape()),
        ));
    }
    let s = x.shape();
    let to = |a: [usize; 2]| (a[0], a[1]);
    if p.kernel.contains(&0) || p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(invalid(
            op,
            format!(
                "kernel {:?}, stride {:?} and dilation {:?} must be positive",
                p.kernel, p.stride, p.dilation
            ),
        ));
    }
    let g = Pool2dGeometry::new(
        s[0] * s[1],
        (s[2], s[3]),
        to(p.kernel),
        to(p.stride),
        to(p.padding),
        to(p.dilation),
    )
    .ok_or_else(|| {
        invalid(
            op,
            format!(
                "window {:?} (dilation {:?}, padding {:?}) does not fit input {:?}, padding \
                 exceeds half the window, or the planes have 2^32 - 1 pixels or more",
                p.kernel, p.dilation, p.padding, s
            ),
        )
    })?;
    // With dilation a window can fall entirely in the padding (e.g. size 2, kernel 2, padding 1,
    // dilation 3 reads only -1 and 2): it would have no maximum and no argmax.
    let covers = |out: usize, len: usize, a: usize| {
        (0..out).all(|o| {
            (0..p.kernel[a]).any(|i| {
                let at = o * p.stride[a] + i * p.dilation[a];
                at >= p.padding[a] && at - p.padding[a] < len
            })
        })
    };
    if !covers(g.oh, s[2], 0) || !covers(g.ow, s[3], 1) {
        return Err(invalid(
            op,
            format!(
                "window {:?} (dilation {:?}, padding {:?}) has a position lying entirely in the \
                 padding of input {:?}",
                p.kernel, p.dilation, p.padding, s
            ),
        ));
    }
    Ok(g)
}

impl Tensor {
    /// Max pooling, also returning each maximum's position `y * w + x` within its input plane
    /// (as torch's `return_indices=True`), as an [`IntTensor`].
    ///
    /// # Errors
    /// If the input is not 4-D or the window does not fit.
    pub fn try_max_pool2d_with_indices(&self, params: Pool2dParams) -> Result<(Tensor, IntTensor)> {
        let (out, idx) = self.max_pool2d_argmax(params)?;
        let idx =
            IntTensor::try_from_vec(idx.iter().map(|&i| i64::from(i)).collect(), out.shape())?;
        Ok((out, idx))
    }

    /// Max pooling and the argmax as in-plane `u32` positions, for the backward rule.
    pub(crate) fn max_pool2d_argmax(&self, params: Pool2dParams) -> Result<(Tensor, Vec<u32>)> {
        let g = geometry("max_pool2d", self, &params)?;
        let x = self.contiguous();
        let shape = [self.shape()[0], self.shape()[1], g.oh, g.ow];
        Ok(with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::for_overwrite::<T>(g.planes * g.oh * g.ow);
            let mut idx = vec![0u32; out.len()];
            pool::max_pool2d(&g, x.contiguous_slice::<T>().expect("contiguous"), &mut out, &mut idx);
            (Tensor::from_parts(out, &shape), idx)
        }))
    }

    /// Max pooling over `(n, c, h, w)`.
    ///
    /// # Errors
    /// If the input is not 4-D or the window does not fit.
    pub fn try_max_pool2d(&self, params: Pool2dParams) -> Result<Tensor> {
        Ok(self.max_pool2d_argmax(params)?.0)
    }

    /// Average pooling over `(n, c, h, w)`.
    ///
    /// # Errors
    /// If the input is not 4-D, the window does not fit, or a dilation is not 1.
    pub fn try_avg_pool2d(&self, params: Pool2dParams) -> Result<Tensor> {
        if params.dilation != [1, 1] {
            return Err(invalid(
                "avg_pool2d",
                format!(
                    "dilation {:?} is not supported (torch has none either)",
                    params.dilation
                ),
            ));
        }
        let g = geometry("avg_pool2d", self, &params)?;
        let x = self.contiguous();
        let shape = [self.shape()[0], self.shape()[1], g.oh, g.ow];
        Ok(with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::for_overwrite::<T>(g.planes * g.oh * g.ow);
            pool::avg_pool2d(
                &g,
                x.contiguous_slice::<T>().expect("contiguous"),
                &mut out,
                params.count_include_pad,
            );
            Tensor::from_parts(out, &shape)
        }))
    }
}

/// Checks an adaptive pooling's input and output size.
fn adaptive_geometry(x: &Tensor, output_size: [usize; 2]) -> Result<AdaptivePool2dGeometry> {
    let op = "adaptive_avg_pool2d";
    if x.rank() != 4 {
        return Err(invalid(
            op,
            format!("needs a 4-D input (n, c, h, w), got shape {:?}", x.shape()),
        ));
    }
    let s = x.shape();
    AdaptivePool2dGeometry::new(
        s[0] * s[1],
        (s[2], s[3]),
        (output_size[0], output_size[1]),
    )
    .ok_or_else(|| {
        invalid(
            op,
            format!(
                "output size {output_size:?} and the input's plane {:?} (of {s:?}) must both be \
                 non-empty",
                [s[2], s[3]]
            ),
        )
    })
}

impl Tensor {
    /// Adaptive average pooling of `(n, c, h, w)` to `(n, c, oh, ow)` with
    /// `output_size = [oh, ow]`: output `(i, j)` averages input rows
    /// `[floor(i h / oh), ceil((i + 1) h / oh))` and the columns likewise, as PyTorch's
    /// `adaptive_avg_pool2d` (any sizes: when `oh` does not divide `h` neighbouring bins share a
    /// row; `[1, 1]` is global average pooling).
    ///
    /// ```
    /// use descent_core::Tensor;
    /// // Rows 0..5 into 3 bins: [0, 2), [1, 4), [3, 5), so means 0.5, 2, 3.5.
    /// let x = Tensor::arange(0.0, 5.0, 1.0).reshape([1, 1, 5, 1]);
    /// let y = x.try_adaptive_avg_pool2d([3, 1])?;
    /// assert_eq!(y.to_vec_f32(), vec![0.5, 2.0, 3.5]);
    /// # Ok::<(), descent_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// If the input is not 4-D, its planes are empty, or an output size is zero.
    pub fn try_adaptive_avg_pool2d(&self, output_size: [usize; 2]) -> Result<Tensor> {
        let g = adaptive_geometry(self, output_size)?;
        Ok(self.adaptive_avg_pool2d_with(&g))
    }

    fn adaptive_avg_pool2d_with(&self, g: &AdaptivePool2dGeometry) -> Tensor {
        let x = self.contiguous();
        let shape = [self.shape()[0], self.shape()[1], g.oh, g.ow];
        with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::for_overwrite::<T>(g.planes * g.oh * g.ow);
            pool::adaptive_avg_pool2d(g, x.contiguous_slice::<T>().expect("contiguous"), &mut out);
            Tensor::from_parts(out, &shape)
        })
    }
}

/// The backward rule of the poolings: max pooling sends each gradient to its window's argmax,
/// average pooling spreads it over the window, adaptive average pooling over the bin (kernels
/// [`pool::max_pool2d_backward`], [`pool::avg_pool2d_backward`],
/// [`pool::adaptive_avg_pool2d_backward`]).
pub(crate) struct Pool2dNode {
    pub(crate) kind: PoolKind,
    pub(crate) x_shape: crate::shape::Shape,
}

/// Which pooling, with what its backward reads.
pub(crate) enum PoolKind {
    /// Max pooling: the argmax of every window.
    Max {
        geometry: Pool2dGeometry,
        argmax: Vec<u32>,
    },
    /// Average pooling.
    Avg {
        geometry: Pool2dGeometry,
        count_include_pad: bool,
    },
    /// Adaptive average pooling.
    AdaptiveAvg { geometry: AdaptivePool2dGeometry },
}

impl BackwardRule for Pool2dNode {
    fn saved_bytes(&self) -> usize {
        match &self.kind {
            PoolKind::Max { argmax, .. } => argmax.len() * std::mem::size_of::<u32>(),
            PoolKind::Avg { .. } | PoolKind::AdaptiveAvg { .. } => 0,
        }
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        if !grads.needs(0) {
            return Ok(());
        }
        let g = g.contiguous();
        let dx = with_dtype!(g.dtype(), T => {
            let go = g.contiguous_slice::<T>().expect("contiguous");
            // Every kernel below overwrites `dx` (zeros first, then its sums).
            let mut dx = crate::dtype::for_overwrite::<T>(self.x_shape.iter().product());
            match &self.kind {
                // dx[argmax[o]] += g[o].
                PoolKind::Max { geometry, argmax } => {
                    pool::max_pool2d_backward(geometry, argmax, go, &mut dx);
                }
                // dx[window(o)] += g[o] / divisor(o).
                PoolKind::Avg { geometry, count_include_pad } => {
                    pool::avg_pool2d_backward(geometry, go, &mut dx, *count_include_pad);
                }
                // dx[bin(o)] += g[o] / |bin(o)|.
                PoolKind::AdaptiveAvg { geometry } => {
                    pool::adaptive_avg_pool2d_backward(geometry, go, &mut dx);
                }
            }
            Tensor::from_parts(dx, &self.x_shape)
        });
        grads.set(0, dx);
        Ok(())
    }
}

impl Var {
    /// Max pooling over `(n, c, h, w)`, one op; the gradient goes to each window's maximum (the
    /// first one on ties, as PyTorch).
    ///
    /// # Errors
    /// As [`Tensor::try_max_pool2d`].
    #[track_caller]
    pub fn try_max_pool2d(&self, params: Pool2dParams) -> Result<Var> {
        Var::record("max_pool2d", &[self], || {
            let x = self.value();
            let geometry = geometry("max_pool2d", x, &params)?;
            let (y, argmax) = x.max_pool2d_argmax(params)?;
            Ok(Recorded {
                op: Op::Pool2d(Box::new(Pool2dNode {
                    kind: PoolKind::Max { geometry, argmax },
                    x_shape: x.dims(),
                })),
                value: y,
            })
        })
    }

    /// Average pooling over `(n, c, h, w)`, one op; the gradient is spread evenly over each window.
    ///
    /// # Errors
    /// As [`Tensor::try_avg_pool2d`].
    #[track_caller]
    pub fn try_avg_pool2d(&self, params: Pool2dParams) -> Result<Var> {
        Var::record("avg_pool2d", &[self], || {
            let x = self.value();
            let y = x.try_avg_pool2d(params)?;
            Ok(Recorded {
                op: Op::Pool2d(Box::new(Pool2dNode {
                    kind: PoolKind::Avg {
                        geometry: geometry("avg_pool2d", x, &params)?,
                        count_include_pad: params.count_include_pad,
                    },
                    x_shape: x.dims(),
                })),
                value: y,
            })
        })
    }

    /// Adaptive average pooling to `output_size = [oh, ow]`, one op, as
    /// [`Tensor::try_adaptive_avg_pool2d`]; the gradient is spread evenly over each bin.
    ///
    /// # Errors
    /// As [`Tensor::try_adaptive_avg_pool2d`].
    #[track_caller]
    pub fn try_adaptive_avg_pool2d(&self, output_size: [usize; 2]) -> Result<Var> {
        Var::record("adaptive_avg_pool2d", &[self], || {
            let x = self.value();
            let geometry = adaptive_geometry(x, output_size)?;
            Ok(Recorded {
                value: x.adaptive_avg_pool2d_with(&geometry),
                op: Op::Pool2d(Box::new(Pool2dNode {
                    kind: PoolKind::AdaptiveAvg { geometry },
                    x_shape: x.dims(),
                })),
            })
        })
    }
}

panicking! { Tensor, Var:
    /// Max pooling over `(n, c, h, w)`.
    ///
    /// ```
    /// use descent_core::{Pool2dParams, Tensor};
    /// let x = Tensor::arange(0.0, 16.0, 1.0).reshape([1, 1, 4, 4]);
    /// assert_eq!(x.max_pool2d(Pool2dParams::new(2)).to_vec_f32(), vec![5.0, 7.0, 13.0, 15.0]);
    /// ```
    max_pool2d = try_max_pool2d(params: Pool2dParams) -> Self;
    /// Average pooling over `(n, c, h, w)`.
    avg_pool2d = try_avg_pool2d(params: Pool2dParams) -> Self;
    /// Adaptive average pooling of `(n, c, h, w)` to `(n, c, oh, ow)`; see
    /// `try_adaptive_avg_pool2d`.
    ///
    /// ```
    /// use descent_core::Tensor;
    /// // Global average pooling.
    /// let x = Tensor::arange(0.0, 8.0, 1.0).reshape([1, 2, 2, 2]);
    /// assert_eq!(x.adaptive_avg_pool2d([1, 1]).to_vec_f32(), vec![1.5, 5.5]);
    /// ```
    adaptive_avg_pool2d = try_adaptive_avg_pool2d(output_size: [usize; 2]) -> Self;
}

panicking! { Tensor:
    /// Max pooling returning the values and the argmax positions; see
    /// [`Tensor::try_max_pool2d_with_indices`].
    max_pool2d_with_indices = try_max_pool2d_with_indices(params: Pool2dParams) -> (Tensor, IntTensor);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_forward_golden() {
        // x = 0..16 as 4x4; 2x2 windows: max = [5, 7, 13, 15], mean = [2.5, 4.5, 10.5, 12.5].
        let x = Tensor::arange(0.0, 16.0, 1.0).reshape([1, 1, 4, 4]);
        let (m, i) = x.max_pool2d_with_indices(Pool2dParams::new(2));
        assert_eq!(m.to_vec_f32(), vec![5.0, 7.0, 13.0, 15.0]);
        assert_eq!(i.to_vec(), vec![5, 7, 13, 15]);
        assert_eq!(
            x.avg_pool2d(Pool2dParams::new(2)).to_vec_f32(),
            vec![2.5, 4.5, 10.5, 12.5]
        );
        // Padding 1, 3x3 window, stride 1 at the corner: (0 + 1 + 4 + 5) / 9 with the pad counted.
        let a = x.avg_pool2d(Pool2dParams::new(3).stride(1).padding(1));
        assert!((a.to_vec_f32()[0] - 10.0 / 9.0).abs() < 1e-6);
        let a = x.avg_pool2d(
            Pool2dParams::new(3)
                .stride(1)
                .padding(1)
                .count_include_pad(false),
        );
        assert_eq!(a.to_vec_f32()[0], 2.5);
    }

    #[test]
    fn adaptive_avg_pool2d_forward_golden() {
        // x = 0..16 as 4x4 into 3x3: rows and columns both bin as [0, 2), [1, 3), [2, 4), so
        // out[0, 0] = mean(0, 1, 4, 5) = 2.5 and each step right adds 1, each step down 4.
        let x = Tensor::arange(0.0, 16.0, 1.0).reshape([1, 1, 4, 4]);
        assert_eq!(
            x.adaptive_avg_pool2d([3, 3]).to_vec_f32(),
            vec![2.5, 3.5, 4.5, 6.5, 7.5, 8.5, 10.5, 11.5, 12.5]
        );
        // Output larger than the input: 2 columns into 3 bins [0, 1), [0, 2), [1, 2).
        let x = Tensor::from_vec(vec![1.0f32, 3.0], [1, 1, 1, 2]);
        assert_eq!(
            x.adaptive_avg_pool2d([1, 3]).to_vec_f32(),
            vec![1.0, 2.0, 3.0]
        );
        assert!(x.try_adaptive_avg_pool2d([0, 1]).is_err());
        assert!(
            Tensor::zeros([1, 1, 0, 2])
                .try_adaptive_avg_pool2d([1, 1])
                .is_err()
        );
    }

    #[test]
    fn pool_refuses_bad_windows() {
        let x = Tensor::zeros([1, 1, 2, 2]);
        assert!(x.try_max_pool2d(Pool2dParams::new(3)).is_err());
        assert!(x.try_max_pool2d(Pool2dParams::new(2).padding(2)).is_err());
        assert!(
            Tensor::zeros([2, 2])
                .try_max_pool2d(Pool2dParams::new(1))
                .is_err()
        );
    }
}
