//! [`Conv2d`]: a 2-D convolution layer over NCHW inputs, as `torch.nn.Conv2d`.

use crate::init::{Stream, kaiming_uniform, uniform};
use crate::module::{Ctx, Module};
use descent_core::{Conv2dParams, Error, Param, Result, Var};

/// The settings of a [`Conv2d`] besides its channels and kernel size, with PyTorch's defaults
/// and names: `stride = 1`, `padding = 0`, `dilation = 1`, `groups = 1`, `bias = true`.
///
/// The builders set both axes; set a field directly for different heights and widths.
///
/// ```
/// use descent_nn::Conv2dConfig;
/// let c = Conv2dConfig::default().stride(2).padding(1).groups(4).bias(false);
/// assert_eq!((c.stride, c.padding, c.dilation, c.groups, c.bias), ([2, 2], [1, 1], [1, 1], 4, false));
/// let tall = Conv2dConfig { padding: [2, 0], ..Conv2dConfig::default() };
/// assert_eq!(tall.padding, [2, 0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Step between windows, `[height, width]`.
    pub stride: [usize; 2],
    /// Zeros added on each side, `[height, width]`.
    pub padding: [usize; 2],
    /// Spacing between kernel taps, `[height, width]`.
    pub dilation: [usize; 2],
    /// Channel groups: `in_channels` and `out_channels` are split into `groups` blocks and output
    /// block `g` sees only input block `g` (`groups = in_channels = out_channels` is depthwise).
    pub groups: usize,
    /// Whether the layer adds a learned bias per output channel.
    pub bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            bias: true,
        }
    }
}

impl Conv2dConfig {
    /// The same stride along both axes.
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = [stride, stride];
        self
    }

    /// The same padding along both axes.
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = [padding, padding];
        self
    }

    /// The same dilation along both axes.
    pub fn dilation(mut self, dilation: usize) -> Self {
        self.dilation = [dilation, dilation];
        self
    }

    /// The number of channel groups.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Whether the layer has a bias.
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

/// A 2-D convolution layer: `y = conv2d(x, W) + b` over an `(n, in_channels, h, w)` input, with
/// `W` of shape `[out_channels, in_channels / groups, kh, kw]` and `b` of `[out_channels]`
/// (PyTorch's layout and `state_dict` names `weight`, `bias`). One
/// [`Var::conv2d`](descent_core::Var::conv2d) op, the bias added in its output pass.
///
/// Initialized as PyTorch's default: `W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))` (Kaiming-uniform
/// with `a = sqrt(5)`) and `b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, where
/// `fan_in = in_channels / groups * kh * kw`, from the given stream (weight first, then bias).
///
/// ```
/// use descent_core::{Tape, Tensor};
/// use descent_nn::{Conv2d, Conv2dConfig, Ctx, Module, Seeds};
///
/// let seeds = Seeds::new(0);
/// // 3 -> 16 channels, 3x3 kernel, "same" padding.
/// let conv = Conv2d::with_config(3, 16, [3, 3], Conv2dConfig::default().padding(1), &seeds.stream("conv"))?;
/// let tape = Tape::new();
/// let y = conv.forward(&tape.constant(Tensor::zeros([2, 3, 8, 8])), &Ctx::eval())?;
/// assert_eq!(y.shape(), [2, 16, 8, 8]);
/// assert_eq!(conv.named_params().iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["weight", "bias"]);
/// # Ok::<(), descent_core::Error>(())
/// ```
/// Parameters `weight` and `bias` (if any), visited by `#[derive(Module)]`.
#[derive(Debug, crate::Module)]
pub struct Conv2d {
    /// `[out_channels, in_channels / groups, kh, kw]`.
    pub weight: Param,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Param>,
    #[module(skip)]
    params: Conv2dParams,
}

impl Conv2d {
    /// A `kernel_size x kernel_size` convolution from `in_channels` to `out_channels` with the
    /// default [`Conv2dConfig`] (stride 1, no padding, a bias), initialized from `stream`.
    ///
    /// # Panics
    /// If `kernel_size` is 0; [`Conv2d::with_config`] reports it as an error instead.
    #[track_caller]
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel_size: usize,
        stream: &Stream,
    ) -> Conv2d {
        match Conv2d::with_config(
            in_channels,
            out_channels,
            [kernel_size, kernel_size],
            Conv2dConfig::default(),
            stream,
        ) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    /// A convolution with a `kernel_size = [kh, kw]` kernel and the given settings, initialized
    /// from `stream`.
    ///
    /// # Errors
    /// If a kernel size, stride, dilation or `groups` is zero, or `groups` does not divide both
    /// `in_channels` and `out_channels` (`InvalidArgument` naming `Conv2d`).
    pub fn with_config(
        in_channels: usize,
        out_channels: usize,
        kernel_size: [usize; 2],
        config: Conv2dConfig,
        stream: &Stream,
    ) -> Result<Conv2d> {
        let invalid = |message: String| Error::InvalidArgument {
            op: "Conv2d",
            message,
        };
        if kernel_size.contains(&0) || config.stride.contains(&0) || config.dilation.contains(&0) {
            return Err(invalid(format!(
                "kernel_size {kernel_size:?}, stride {:?} and dilation {:?} must be positive",
                config.stride, config.dilation
            )));
        }
        let groups = config.groups;
        if groups == 0
            || !in_channels.is_multiple_of(groups)
            || !out_channels.is_multiple_of(groups)
        {
            return Err(invalid(format!(
                "in_channels ({in_channels}) and out_channels ({out_channels}) must both be \
                 divisible by groups ({groups})"
            )));
        }
        let shape = [
            out_channels,
            in_channels / groups,
            kernel_size[0],
            kernel_size[1],
        ];
        let mut s = stream.clone();
        // fan_in = in_channels / groups * kh * kw: bound 1 / sqrt(fan_in) for both.
        let weight = kaiming_uniform(&shape, 5f64.sqrt(), &mut s);
        let fan_in = shape[1] * shape[2] * shape[3];
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let bias = config
            .bias
            .then(|| Param::named("bias", uniform(&[out_channels], -bound, bound, &mut s)));
        Ok(Conv2d {
            weight: Param::named("weight", weight),
            bias,
            params: Conv2dParams {
                stride: config.stride,
                padding: config.padding,
                dilation: config.dilation,
                groups,
            },
        })
    }

    /// `in_channels`: the weight's second dim times `groups`.
    pub fn in_channels(&self) -> usize {
        self.weight.shape()[1] * self.params.groups
    }

    /// `out_channels`.
    pub fn out_channels(&self) -> usize {
        self.weight.shape()[0]
    }

    /// `[kh, kw]`.
    pub fn kernel_size(&self) -> [usize; 2] {
        [self.weight.shape()[2], self.weight.shape()[3]]
    }

    /// The stride, padding, dilation and groups the layer passes to
    /// [`Var::conv2d`](descent_core::Var::conv2d).
    pub fn conv_params(&self) -> Conv2dParams {
        self.params
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        let (w, b) = self.operands(x)?;
        let y = x.try_conv2d(&w, b.as_ref(), self.params)?;
        ctx.record_layer("Conv2d", &y, self);
        Ok(y)
    }
}

impl Conv2d {
    /// The weight and bias on `x`'s tape, after checking `x` fits.
    fn operands(&self, x: &Var) -> Result<(Var, Option<Var>)> {
        let s = x.shape();
        if s.len() != 4 || s[1] != self.in_channels() {
            return Err(Error::ShapeMismatch {
                op: "Conv2d",
                lhs: s.into(),
                rhs: self.weight.shape().into(),
                detail: format!(
                    "do not fit: the input must be 4-D (n, c, h, w) with c = in_channels = {}",
                    self.in_channels()
                ),
            });
        }
        let tape = x.tape();
        let w = tape.try_param(&self.weight)?;
        let b = self.bias.as_ref().map(|b| tape.try_param(b)).transpose()?;
        Ok((w, b))
    }

    /// This layer, `ReLU` and `MaxPool2d::new(2)` as one op
    /// ([`Var::try_conv2d_relu_max_pool2d`]: one pass where the convolution takes the Winograd
    /// path, the three ops elsewhere; the same bits either way). [`crate::Sequential`] calls it
    /// for such a run of layers.
    ///
    /// # Errors
    /// As [`Module::forward`] of the three layers.
    pub(crate) fn forward_relu_max_pool2x2(&self, x: &Var) -> Result<Var> {
        let (w, b) = self.operands(x)?;
        x.try_conv2d_relu_max_pool2d(&w, b.as_ref(), self.params)
    }
}
