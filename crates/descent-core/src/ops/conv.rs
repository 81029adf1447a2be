//! `conv2d` on NCHW tensors by im2col + GEMM, parallel over the batch, with an optional bias and
//! channel groups.
//!
//! **PyTorch equivalent**: `torch.nn.functional.conv2d(input, weight, bias, stride, padding,
//! dilation, groups)`. One coarse op: the bias is added in the conv's own output pass (the output
//! rows start as the bias and the GEMM accumulates onto them), not by a broadcast `add`.
//! Derivatives, per group `g` (input channels `g*cig..`, output channels `g*cog..`):
//! `grad_input_g` is the col2im of `W_g^T grad_out_g`; `grad_weight_g` is `grad_out_g cols_g^T`
//! summed over the batch; `grad_bias[co]` is `grad_out[:, co]` summed over `n, h, w`. The input
//! gradient needs the saved weight, the weight gradient the saved input, the bias gradient
//! neither.
//!
//! `conv2d_relu_max_pool2d` is `max_pool2d(relu(conv2d(x, w, b)), 2)` as one op where the
//! convolution takes the Winograd path (`descent_kernels::winograd::fuses_relu_max_pool`): the
//! pool's 2x2 windows are the Winograd output tiles, so ReLU and the pool run in the
//! convolution's output transform and its `oh x ow` output is never written. The values and
//! gradients are those of the three ops bit for bit. The backward rule expands the pooled
//! gradient to the conv's output (each window's gradient at its argmax if the pooled value is
//! positive, zero elsewhere) and runs conv2d's rule; it saves what conv2d's rule saves, the
//! pooled output and one byte of argmax per window. Elsewhere the op records the three ops.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid};
use crate::ops::pool::Pool2dParams;
use crate::ops::{BackwardRule, GradsIn, Op};
use crate::panicking::panicking;
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::conv::{self, Conv2dGeometry};
use descent_kernels::{pool, winograd};

/// Stride, zero padding, dilation (each `[height, width]`) and channel groups of a
/// [`Tensor::conv2d`], with PyTorch's defaults (1, 0, 1, 1).
///
/// ```
/// use descent_core::Conv2dParams;
/// let p = Conv2dParams::default().stride(2).padding(1).groups(4);
/// assert_eq!((p.stride, p.padding, p.dilation, p.groups), ([2, 2], [1, 1], [1, 1], 4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Step between windows.
    pub stride: [usize; 2],
    /// Zeros added on each side.
    pub padding: [usize; 2],
    /// Spacing between kernel taps.
    pub dilation: [usize; 2],
    /// Channel groups: the input and output channels are split into `groups` equal blocks, and
    /// output block `g` sees only input block `g`; the weight is `[c_out, c_in / groups, kh, kw]`.
    /// `groups = c_in = c_out` is a depthwise convolution.
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
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

    /// The number of channel groups (see [`Conv2dParams::groups`](#structfield.groups)).
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }
}

/// Checks the operands of a conv2d and returns its geometry.
pub(crate) fn geometry(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv2dParams,
) -> Result<Conv2dGeometry> {
    let mismatch = |detail: String| Error::ShapeMismatch {
        op: "conv2d",
        lhs: x.shape().into(),
        rhs: w.shape().into(),
        detail,
    };
    if x.rank() != 4 || w.rank() != 4 {
        return Err(mismatch(
            "need a 4-D input (n, c_in, h, w) and a 4-D weight (c_out, c_in / groups, kh, kw)"
                .into(),
        ));
    }
    let xs = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let ws = [w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]];
    let groups = p.groups;
    if groups == 0 {
        return Err(invalid("conv2d", "groups must be positive, got 0"));
    }
    if !xs[1].is_multiple_of(groups) || !ws[0].is_multiple_of(groups) {
        return Err(mismatch(format!(
            "do not fit groups = {groups}: input channels ({}) and output channels ({}) must \
             both be divisible by groups",
            xs[1], ws[0]
        )));
    }
    if ws[1].checked_mul(groups) != Some(xs[1]) {
        return Err(mismatch(if groups == 1 {
            format!(
                "do not fit: input has {} channels, weight expects {}",
                xs[1], ws[1]
            )
        } else {
            format!(
                "do not fit: input has {} channels, weight expects {} per group x {groups} groups \
                 = {}",
                xs[1],
                ws[1],
                ws[1].saturating_mul(groups)
            )
        }));
    }
    if let Some(b) = bias
        && b.shape() != [ws[0]]
    {
        return Err(Error::ShapeMismatch {
            op: "conv2d",
            lhs: w.shape().into(),
            rhs: b.shape().into(),
            detail: format!(
                "do not fit: the bias must have shape [c_out] = [{}] for this weight",
                ws[0]
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
    Conv2dGeometry::grouped(xs, ws, to(p.stride), to(p.padding), to(p.dilation), groups).ok_or_else(
        || {
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
        },
    )
}

impl Tensor {
    /// 2-D convolution of an `(n, c_in, h, w)` input with a `(c_out, c_in / groups, kh, kw)`
    /// weight, plus an optional `[c_out]` bias added to every output pixel of its channel.
    ///
    /// ```
    /// use descent_core::{Conv2dParams, Tensor};
    /// // Depthwise: each of the 2 channels has its own 1x1 kernel (2 and 3) and bias (1 and -1).
    /// let x = Tensor::ones([1, 2, 2, 2]);
    /// let w = Tensor::from_vec(vec![2.0f32, 3.0], [2, 1, 1, 1]);
    /// let b = Tensor::from_vec(vec![1.0f32, -1.0], [2]);
    /// let y = x.try_conv2d(&w, Some(&b), Conv2dParams::default().groups(2))?;
    /// assert_eq!(y.to_vec_f32(), vec![3.0, 3.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0]);
    /// # Ok::<(), descent_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// If the input or weight is not 4-D, `groups` is zero or does not divide both channel
    /// counts, the weight's channels are not `c_in / groups`, the bias is not `[c_out]`, the
    /// element types differ, a stride or dilation is zero, or the kernel is larger than the padded
    /// input.
    pub fn try_conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        params: Conv2dParams,
    ) -> Result<Tensor> {
        for other in std::iter::once(weight).chain(bias) {
            if self.dtype() != other.dtype() {
                return Err(Error::DTypeMismatch {
                    op: "conv2d",
                    lhs: self.dtype(),
                    rhs: other.dtype(),
                });
            }
        }
        let g = geometry(self, weight, bias, &params)?;
        Ok(conv2d_forward(&g, self, weight, bias))
    }
}

impl Tensor {
    /// `max_pool2d(relu(conv2d(x, weight, bias, params)), 2)`: a convolution, ReLU and 2x2 max
    /// pooling with stride 2, the block of most CNNs, in one pass where the convolution takes
    /// the Winograd path (a 3x3 kernel, stride and dilation 1, one group, at least 8 channels on
    /// each side); elsewhere the three ops. The same values either way, bit for bit.
    ///
    /// ```
    /// use descent_core::{Conv2dParams, Pool2dParams, Tensor};
    /// use rand::SeedableRng;
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    /// let x = Tensor::randn([2, 8, 6, 6], &mut rng);
    /// let w = Tensor::randn([8, 8, 3, 3], &mut rng);
    /// let p = Conv2dParams::default().padding(1);
    /// let fused = x.conv2d_relu_max_pool2d(&w, None, p);
    /// let apart = x.conv2d(&w, None, p).relu().max_pool2d(Pool2dParams::new(2));
    /// assert_eq!(fused.shape(), &[2, 8, 3, 3]);
    /// assert_eq!(fused.to_vec_f32(), apart.to_vec_f32());
    /// ```
    ///
    /// # Errors
    /// As [`Tensor::try_conv2d`], and if the convolution's output is smaller than 2x2.
    pub fn try_conv2d_relu_max_pool2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        params: Conv2dParams,
    ) -> Result<Tensor> {
        match fused_geometry(self, weight, bias, &params) {
            Some(g) => Ok(conv2d_relu_max_pool_forward(&g, self, weight, bias).0),
            None => self
                .try_conv2d(weight, bias, params)?
                .relu()
                .try_max_pool2d(Pool2dParams::new(2)),
        }
    }
}

/// The geometry of a `conv2d_relu_max_pool2d` that runs as one pass, or `None` for the three
/// ops (which also report any error).
fn fused_geometry(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: &Conv2dParams,
) -> Option<Conv2dGeometry> {
    let same_dtype = std::iter::once(w).chain(b).all(|t| t.dtype() == x.dtype());
    let g = geometry(x, w, b, p).ok()?;
    (same_dtype && winograd::fuses_relu_max_pool(&g)).then_some(g)
}

/// The fused kernel on checked operands: the pooled output and each window's argmax.
fn conv2d_relu_max_pool_forward(
    g: &Conv2dGeometry,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
) -> (Tensor, Vec<u8>) {
    let (x, w, b) = (x.contiguous(), w.contiguous(), b.map(Tensor::contiguous));
    let shape = [g.n, g.c_out, g.oh / 2, g.ow / 2];
    let len = shape.iter().product();
    let mut argmax = vec![0u8; len];
    let out = with_dtype!(x.dtype(), T => {
        let mut out = crate::dtype::for_overwrite::<T>(len);
        winograd::conv2d_relu_max_pool(
            g,
            x.contiguous_slice::<T>().expect("contiguous"),
            w.contiguous_slice::<T>().expect("contiguous"),
            b.as_ref().map(|b| b.contiguous_slice::<T>().expect("contiguous")),
            &mut out,
            &mut argmax,
        );
        Tensor::from_parts(out, &shape)
    });
    (out, argmax)
}

/// Runs the kernel on checked operands.
fn conv2d_forward(g: &Conv2dGeometry, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
    let (x, w, b) = (x.contiguous(), w.contiguous(), b.map(Tensor::contiguous));
    with_dtype!(x.dtype(), T => {
        let mut out = crate::dtype::for_overwrite::<T>(g.n * g.c_out * g.p());
        conv::conv2d(
            g,
            x.contiguous_slice::<T>().expect("contiguous"),
            w.contiguous_slice::<T>().expect("contiguous"),
            b.as_ref().map(|b| b.contiguous_slice::<T>().expect("contiguous")),
            &mut out,
        );
        Tensor::from_parts(out, &[g.n, g.c_out, g.oh, g.ow])
    })
}

/// The backward rule of conv2d: the input and weight gradients by im2col/col2im and GEMM, the
/// bias gradient by summing `grad_out` per channel, all in the kernels
/// ([`conv::conv2d_backward_input`], [`conv::conv2d_backward_weight`],
/// [`conv::conv2d_backward_bias`]).
pub(crate) struct Conv2dNode {
    /// The contiguous input, kept only if the weight requires a gradient.
    pub(crate) x: Option<Tensor>,
    /// The contiguous weight, kept only if the input requires a gradient.
    pub(crate) w: Option<Tensor>,
    /// Whether input slot 2 (the bias) exists.
    pub(crate) has_bias: bool,
    pub(crate) geometry: Conv2dGeometry,
}

impl BackwardRule for Conv2dNode {
    fn saved_bytes(&self) -> usize {
        self.x.as_ref().map_or(0, Tensor::nbytes) + self.w.as_ref().map_or(0, Tensor::nbytes)
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let geo = &self.geometry;
        let g = g.contiguous();
        with_dtype!(g.dtype(), T => {
            let go = g.contiguous_slice::<T>().expect("contiguous");
            // Both at once where the kernels can share work between them (Winograd: each
            // sample's output-gradient transform); the same bits as apart.
            if let (true, Some(w), true, Some(x)) = (grads.needs(0), &self.w, grads.needs(1), &self.x) {
                // The kernels overwrite their outputs.
                let mut dx = crate::dtype::for_overwrite::<T>(geo.n * geo.c_in * geo.h * geo.w);
                let mut dw = crate::dtype::for_overwrite::<T>(geo.c_out * geo.k());
                conv::conv2d_backward_input_weight(
                    geo,
                    x.contiguous_slice::<T>().expect("saved contiguous"),
                    w.contiguous_slice::<T>().expect("saved contiguous"),
                    go,
                    &mut dx,
                    &mut dw,
                );
                grads.set(0, Tensor::from_parts(dx, &[geo.n, geo.c_in, geo.h, geo.w]));
                let shape = [geo.c_out, geo.c_in_per_group(), geo.kh, geo.kw];
                grads.set(1, Tensor::from_parts(dw, &shape));
            } else if let (true, Some(w)) = (grads.needs(0), &self.w) {
                // grad_in_g = col2im(W_g^T grad_out_g), per sample.
                // The kernels overwrite their outputs.
                let mut dx = crate::dtype::for_overwrite::<T>(geo.n * geo.c_in * geo.h * geo.w);
                let w = w.contiguous_slice::<T>().expect("saved contiguous");
                conv::conv2d_backward_input(geo, w, go, &mut dx);
                grads.set(0, Tensor::from_parts(dx, &[geo.n, geo.c_in, geo.h, geo.w]));
            } else if let (true, Some(x)) = (grads.needs(1), &self.x) {
                // grad_w_g = sum_n grad_out_{n,g} cols_{n,g}^T.
                let mut dw = crate::dtype::for_overwrite::<T>(geo.c_out * geo.k());
                let x = x.contiguous_slice::<T>().expect("saved contiguous");
                conv::conv2d_backward_weight(geo, x, go, &mut dw);
                let shape = [geo.c_out, geo.c_in_per_group(), geo.kh, geo.kw];
                grads.set(1, Tensor::from_parts(dw, &shape));
            }
            // grad_b[co] = sum_{n, y, x} grad_out[n, co, y, x].
            if self.has_bias && grads.needs(2) {
                let mut db = crate::dtype::for_overwrite::<T>(geo.c_out);
                conv::conv2d_backward_bias(geo, go, &mut db);
                grads.set(2, Tensor::from_parts(db, &[geo.c_out]));
            }
        });
        Ok(())
    }
}

impl Var {
    /// 2-D convolution with an optional bias, one op, as [`Tensor::try_conv2d`]; gradients for
    /// the input, the weight and the bias.
    ///
    /// # Errors
    /// As [`Tensor::try_conv2d`], or if the operands are on different tapes.
    #[track_caller]
    pub fn try_conv2d(
        &self,
        weight: &Var,
        bias: Option<&Var>,
        params: Conv2dParams,
    ) -> Result<Var> {
        let inputs: &[&Var] = match bias {
            Some(b) => &[self, weight, b],
            None => &[self, weight],
        };
        Var::record("conv2d", inputs, || {
            let (x, w) = (self.value(), weight.value());
            let b = bias.map(Var::value);
            let y = x.try_conv2d(w, b, params)?;
            Ok(Recorded {
                op: Op::Conv2d(Box::new(Conv2dNode {
                    geometry: geometry(x, w, b, &params)?,
                    x: weight.requires_grad().then(|| x.contiguous()),
                    w: self.requires_grad().then(|| w.contiguous()),
                    has_bias: bias.is_some(),
                })),
                value: y,
            })
        })
    }
}

/// The backward rule of `conv2d_relu_max_pool2d`: the pooled gradient expanded to the conv's
/// output through the pool's argmax and ReLU's mask
/// ([`pool::relu_max_pool2x2_backward`]), then conv2d's rule.
pub(crate) struct Conv2dReluPoolNode {
    pub(crate) conv: Conv2dNode,
    /// The op's output: where it is positive, ReLU passed the window's maximum.
    pub(crate) pooled: Tensor,
    /// Each window's winning pixel, `0..4` in `(row, column)` order.
    pub(crate) argmax: Vec<u8>,
}

impl BackwardRule for Conv2dReluPoolNode {
    fn saved_bytes(&self) -> usize {
        self.conv.saved_bytes() + self.pooled.nbytes() + self.argmax.len()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let geo = &self.conv.geometry;
        let g = g.contiguous();
        let grad_conv = with_dtype!(g.dtype(), T => {
            // Overwritten by the kernel.
            let mut dy = crate::dtype::for_overwrite::<T>(geo.n * geo.c_out * geo.p());
            pool::relu_max_pool2x2_backward(
                geo.n * geo.c_out,
                (geo.oh, geo.ow),
                self.pooled.contiguous_slice::<T>().expect("the op's contiguous output"),
                &self.argmax,
                g.contiguous_slice::<T>().expect("contiguous"),
                &mut dy,
            );
            Tensor::from_parts(dy, &[geo.n, geo.c_out, geo.oh, geo.ow])
        });
        self.conv.backward(&grad_conv, grads)
    }
}

impl Var {
    /// `max_pool2d(relu(conv2d(x, weight, bias, params)), 2)` as one op where the convolution
    /// takes the Winograd path, the three ops elsewhere, as [`Tensor::try_conv2d_relu_max_pool2d`];
    /// the values and the gradients for the input, the weight and the bias are those of the
    /// three ops bit for bit. `nn::Sequential` uses it for a `Conv2d, ReLU, MaxPool2d(2)` run.
    ///
    /// # Errors
    /// As [`Tensor::try_conv2d_relu_max_pool2d`], or if the operands are on different tapes.
    #[track_caller]
    pub fn try_conv2d_relu_max_pool2d(
        &self,
        weight: &Var,
        bias: Option<&Var>,
        params: Conv2dParams,
    ) -> Result<Var> {
        let b = bias.map(Var::value);
        let Some(geometry) = fused_geometry(self.value(), weight.value(), b, &params) else {
            return self
                .try_conv2d(weight, bias, params)?
                .relu()
                .try_max_pool2d(Pool2dParams::new(2));
        };
        let inputs: &[&Var] = match bias {
            Some(b) => &[self, weight, b],
            None => &[self, weight],
        };
        Var::record("conv2d_relu_max_pool2d", inputs, || {
            let (x, w) = (self.value(), weight.value());
            let (pooled, argmax) = conv2d_relu_max_pool_forward(&geometry, x, w, b);
            Ok(Recorded {
                op: Op::Conv2dReluPool(Box::new(Conv2dReluPoolNode {
                    conv: Conv2dNode {
                        geometry,
                        x: weight.requires_grad().then(|| x.contiguous()),
                        w: self.requires_grad().then(|| w.contiguous()),
                        has_bias: bias.is_some(),
                    },
                    pooled: pooled.clone(),
                    argmax,
                })),
                value: pooled,
            })
        })
    }
}

panicking! { Tensor, Var:
    /// 2-D convolution with an optional bias; see `try_conv2d`.
    ///
    /// ```
    /// use descent_core::{Conv2dParams, Tensor};
    /// let x = Tensor::ones([1, 1, 4, 4]);
    /// let w = Tensor::ones([2, 1, 3, 3]);
    /// let y = x.conv2d(&w, None, Conv2dParams::default().padding(1));
    /// assert_eq!(y.shape(), &[1, 2, 4, 4]);
    /// assert_eq!(y.to_vec_f32()[5], 9.0);
    /// ```
    conv2d = try_conv2d(weight: &Self, bias: Option<&Self>, params: Conv2dParams) -> Self;
    /// `max_pool2d(relu(conv2d(..)), 2)` in one pass where it can; see
    /// `try_conv2d_relu_max_pool2d`.
    conv2d_relu_max_pool2d = try_conv2d_relu_max_pool2d(
        weight: &Self,
        bias: Option<&Self>,
        params: Conv2dParams
    ) -> Self;
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
            x.conv2d(&w, None, Conv2dParams::default()).to_vec_f32(),
            vec![-4.0; 4]
        );
        // With bias 0.5: -3.5 everywhere.
        let b = Tensor::from_vec(vec![0.5f32], [1]);
        assert_eq!(
            x.conv2d(&w, Some(&b), Conv2dParams::default()).to_vec_f32(),
            vec![-3.5; 4]
        );
    }

    #[test]
    fn conv2d_grouped_golden() {
        // Channels 0..4 of a 1x1 input hold 1, 2, 3, 4; two groups of 2 channels, one output
        // channel each, weights [1, 10] and [100, 1000]: y = [1 + 20, 300 + 4000].
        let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [1, 4, 1, 1]);
        let w = Tensor::from_vec(vec![1.0f32, 10.0, 100.0, 1000.0], [2, 2, 1, 1]);
        let y = x.conv2d(&w, None, Conv2dParams::default().groups(2));
        assert_eq!(y.to_vec_f32(), vec![21.0, 4300.0]);
    }

    /// The fused op against conv2d, relu and max_pool2d recorded apart: values and the three
    /// gradients bit for bit, on shapes it fuses (odd sizes, padding 0 and 1, with and without a
    /// bias, f32 and f64) and on one it does not (4 channels: the three ops recorded).
    #[test]
    fn conv2d_relu_max_pool2d_matches_the_three_ops_bit_for_bit() {
        use crate::{DType, Tape};
        let cases = [
            ([3, 16, 11, 10], [16, 16, 3, 3], 0, true),
            ([2, 8, 8, 9], [9, 8, 3, 3], 1, false),
            ([2, 4, 8, 8], [5, 4, 3, 3], 1, true),
        ];
        for (dtype, (xs, ws, pad, bias)) in [DType::F32, DType::F64]
            .into_iter()
            .flat_map(|d| cases.iter().map(move |c| (d, *c)))
        {
            let params = Conv2dParams::default().padding(pad);
            let g = geometry(&Tensor::zeros(xs), &Tensor::zeros(ws), None, &params).unwrap();
            assert_eq!(winograd::fuses_relu_max_pool(&g), xs[1] >= 8, "{xs:?}");
            let run = |fused: bool| {
                use rand::SeedableRng;
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
                let tape = Tape::new();
                let x = tape.var(Tensor::randn(xs, &mut rng).to_dtype(dtype));
                let w = tape.var(Tensor::randn(ws, &mut rng).to_dtype(dtype));
                let b = bias.then(|| tape.var(Tensor::randn([ws[0]], &mut rng).to_dtype(dtype)));
                let y = if fused {
                    x.conv2d_relu_max_pool2d(&w, b.as_ref(), params)
                } else {
                    x.conv2d(&w, b.as_ref(), params)
                        .relu()
                        .max_pool2d(Pool2dParams::new(2))
                };
                // A weighting that is not all ones, so that each gradient element is distinct.
                let weights = Tensor::randn(y.shape(), &mut rng).to_dtype(dtype);
                let grads = (&y * &tape.constant(weights)).sum_all().backward();
                let mut out = vec![y.value().to_vec_f64()];
                for v in [Some(&x), Some(&w), b.as_ref()].into_iter().flatten() {
                    out.push(grads.wrt(v).unwrap().to_vec_f64());
                }
                out
            };
            let bits = |v: Vec<Vec<f64>>| {
                v.into_iter()
                    .map(|v| v.into_iter().map(f64::to_bits).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(run(true)), bits(run(false)), "{dtype:?} {xs:?} {ws:?}");
        }
    }

    #[test]
    fn conv2d_refuses_a_kernel_larger_than_the_input() {
        let e = Tensor::zeros([1, 1, 2, 2])
            .try_conv2d(&Tensor::zeros([1, 1, 3, 3]), None, Conv2dParams::default())
            .unwrap_err();
        assert!(e.to_string().starts_with("conv2d: kernel 3x3"), "{e}");
        let e = Tensor::zeros([1, 2, 4, 4])
            .try_conv2d(&Tensor::zeros([1, 3, 3, 3]), None, Conv2dParams::default())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("input has 2 channels, weight expects 3"),
            "{e}"
        );
    }
}
