//! `conv2d` on NCHW tensors by im2col + GEMM, parallel over the batch.
//!
//! **PyTorch equivalent**: `torch.nn.functional.conv2d(input, weight, stride, padding, dilation)`
//! without `groups` (bias is a broadcast `add`). One coarse op. Derivatives: `grad_input` is the
//! col2im of `W^T grad_out`; `grad_weight` is `grad_out cols^T` summed over the batch; both need
//! the saved input and weight.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid};
use crate::ops::{BackwardRule, GradsIn, Op};
use crate::panicking::panicking;
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::conv::{self, Conv2dGeometry};

/// Stride, zero padding and dilation of a [`Tensor::conv2d`], each `[height, width]`.
///
/// ```
/// use descent_core::Conv2dParams;
/// let p = Conv2dParams::default().stride(2).padding(1);
/// assert_eq!((p.stride, p.padding, p.dilation), ([2, 2], [1, 1], [1, 1]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Step between windows.
    pub stride: [usize; 2],
    /// Zeros added on each side.
    pub padding: [usize; 2],
    /// Spacing between kernel taps.
    pub dilation: [usize; 2],
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
        }
    }
}

impl Conv2dParams {
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
}

pub(crate) fn geometry(x: &Tensor, w: &Tensor, p: &Conv2dParams) -> Result<Conv2dGeometry> {
    if x.rank() != 4 || w.rank() != 4 {
        return Err(Error::ShapeMismatch {
            op: "conv2d",
            lhs: x.shape().into(),
            rhs: w.shape().into(),
            detail: "need a 4-D input (n, c, h, w) and a 4-D weight (c_out, c_in, kh, kw)".into(),
        });
    }
    let xs = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let ws = [w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]];
    if xs[1] != ws[1] {
        return Err(Error::ShapeMismatch {
            op: "conv2d",
            lhs: x.shape().into(),
            rhs: w.shape().into(),
            detail: format!(
                "do not fit: input has {} channels, weight expects {}",
                xs[1], ws[1]
            ),
        });
    }
    if p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(invalid(
            "conv2d",
            format!(
                "stride {:?} and dilation {:?} must be positive",
                p.stride, p.dilation
            ),
        ));
    }
    let to = |a: [usize; 2]| (a[0], a[1]);
    Conv2dGeometry::new(xs, ws, to(p.stride), to(p.padding), to(p.dilation)).ok_or_else(|| {
        let span = |k: usize, d: usize| d * (k.max(1) - 1) + 1;
        invalid(
            "conv2d",
            format!(
                "kernel {}x{} (dilation {:?}, so {}x{}) is larger than the padded input {}x{} \
                 (input {:?}, padding {:?})",
                ws[2],
                ws[3],
                p.dilation,
                span(ws[2], p.dilation[0]),
                span(ws[3], p.dilation[1]),
                xs[2] + 2 * p.padding[0],
                xs[3] + 2 * p.padding[1],
                x.shape(),
                p.padding
            ),
        )
    })
}

impl Tensor {
    /// 2-D convolution of an `(n, c_in, h, w)` input with a `(c_out, c_in, kh, kw)` weight.
    ///
    /// # Errors
    /// If either operand is not 4-D, the channels differ, the element types differ, a stride or
    /// dilation is zero, or the kernel is larger than the padded input.
    pub fn try_conv2d(&self, weight: &Tensor, params: Conv2dParams) -> Result<Tensor> {
        if self.dtype() != weight.dtype() {
            return Err(Error::DTypeMismatch {
                op: "conv2d",
                lhs: self.dtype(),
                rhs: weight.dtype(),
            });
        }
        let g = geometry(self, weight, &params)?;
        let (x, w) = (self.contiguous(), weight.contiguous());
        Ok(with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::zeros::<T>(g.n * g.c_out * g.p());
            conv::conv2d(
                &g,
                x.contiguous_slice::<T>().expect("contiguous"),
                w.contiguous_slice::<T>().expect("contiguous"),
                &mut out,
            );
            Tensor::from_parts(out, &[g.n, g.c_out, g.oh, g.ow])
        }))
    }
}

/// The backward rule of conv2d: both gradients by im2col/col2im and GEMM in the kernels
/// ([`conv::conv2d_backward_input`], [`conv::conv2d_backward_weight`]).
pub(crate) struct Conv2dNode {
    /// The input and weight, contiguous.
    pub(crate) x: Tensor,
    pub(crate) w: Tensor,
    pub(crate) geometry: Conv2dGeometry,
}

impl BackwardRule for Conv2dNode {
    fn saved_bytes(&self) -> usize {
        self.x.nbytes() + self.w.nbytes()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let geo = &self.geometry;
        let g = g.contiguous();
        with_dtype!(g.dtype(), T => {
            let go = g.contiguous_slice::<T>().expect("contiguous");
            if grads.needs(0) {
                let mut dx = crate::dtype::zeros::<T>(self.x.numel());
                let w = self.w.contiguous_slice::<T>().expect("saved contiguous");
                conv::conv2d_backward_input(geo, w, go, &mut dx);
                grads.set(0, Tensor::from_parts(dx, self.x.shape()));
            }
            if grads.needs(1) {
                let mut dw = crate::dtype::zeros::<T>(self.w.numel());
                let x = self.x.contiguous_slice::<T>().expect("saved contiguous");
                conv::conv2d_backward_weight(geo, x, go, &mut dw);
                grads.set(1, Tensor::from_parts(dw, self.w.shape()));
            }
        });
        Ok(())
    }
}

impl Var {
    /// 2-D convolution, one op, as [`Tensor::conv2d`]; gradients for both input and weight.
    ///
    /// # Errors
    /// As [`Tensor::try_conv2d`], or if the operands are on different tapes.
    #[track_caller]
    pub fn try_conv2d(&self, weight: &Var, params: Conv2dParams) -> Result<Var> {
        Var::record("conv2d", &[self, weight], || {
            let (x, w) = (self.value(), weight.value());
            let y = x.try_conv2d(w, params)?;
            Ok(Recorded {
                op: Op::Conv2d(Box::new(Conv2dNode {
                    geometry: geometry(x, w, &params)?,
                    x: x.contiguous(),
                    w: w.contiguous(),
                })),
                value: y,
            })
        })
    }
}

panicking! { Tensor, Var:
    /// 2-D convolution; see `try_conv2d`.
    ///
    /// ```
    /// use descent_core::{Conv2dParams, Tensor};
    /// let x = Tensor::ones([1, 1, 4, 4]);
    /// let w = Tensor::ones([2, 1, 3, 3]);
    /// let y = x.conv2d(&w, Conv2dParams::default().padding(1));
    /// assert_eq!(y.shape(), &[1, 2, 4, 4]);
    /// assert_eq!(y.to_vec_f32()[5], 9.0);
    /// ```
    conv2d = try_conv2d(weight: &Self, params: Conv2dParams) -> Self;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv2d_forward_golden() {
        // x = 0..9 as 3x3, w = [[1, 0], [0, -1]]: y[i, j] = x[i, j] - x[i+1, j+1] = -4 everywhere.
        let x = Tensor::arange(0.0, 9.0, 1.0).reshape([1, 1, 3, 3]);
        let w = Tensor::from_vec(vec![1.0f32, 0.0, 0.0, -1.0], [1, 1, 2, 2]);
        assert_eq!(
            x.conv2d(&w, Conv2dParams::default()).to_vec_f32(),
            vec![-4.0; 4]
        );
    }

    #[test]
    fn conv2d_refuses_a_kernel_larger_than_the_input() {
        let e = Tensor::zeros([1, 1, 2, 2])
            .try_conv2d(&Tensor::zeros([1, 1, 3, 3]), Conv2dParams::default())
            .unwrap_err();
        assert!(e.to_string().starts_with("conv2d: kernel 3x3"), "{e}");
        let e = Tensor::zeros([1, 2, 4, 4])
            .try_conv2d(&Tensor::zeros([1, 3, 3, 3]), Conv2dParams::default())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("input has 2 channels, weight expects 3"),
            "{e}"
        );
    }
}
