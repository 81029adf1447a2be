//! Pooling layers over NCHW inputs: [`MaxPool2d`], [`AvgPool2d`] and [`AdaptiveAvgPool2d`], as
//! their `torch.nn` namesakes (`ceil_mode = false`). None has parameters.

use crate::activation::no_params;
use crate::module::{Ctx, Module, Visit};
use descent_core::{Error, Param, Pool2dParams, Result, Var};

/// The error of a pooling layer given anything but an `(n, c, h, w)` input.
fn need_4d(layer: &'static str, x: &Var) -> Result<()> {
    if x.shape().len() == 4 {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        op: layer,
        message: format!("needs a 4-D input (n, c, h, w), got shape {:?}", x.shape()),
    })
}

/// Max pooling over `kernel_size` windows, as `nn.MaxPool2d(kernel_size, stride=None,
/// padding=0, dilation=1)`: the stride defaults to the window size. The gradient goes to each
/// window's maximum (the first on ties).
///
/// ```
/// use descent_core::{Tape, Tensor};
/// use descent_nn::{Ctx, MaxPool2d, Module};
/// let pool = MaxPool2d::new(2);
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::arange(0.0, 16.0, 1.0).reshape([1, 1, 4, 4]));
/// let y = pool.forward(&x, &Ctx::eval())?;
/// assert_eq!(y.value().to_vec_f32(), vec![5.0, 7.0, 13.0, 15.0]);
/// // Overlapping windows: 3x3, stride 2, padding 1.
/// assert_eq!(MaxPool2d::new(3).stride(2).padding(1).forward(&x, &Ctx::eval())?.shape(), [1, 1, 2, 2]);
/// # Ok::<(), descent_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window, stride, padding and dilation (`count_include_pad` is unused); set it directly for
    /// rectangular windows.
    pub params: Pool2dParams,
}

impl MaxPool2d {
    /// A `kernel_size x kernel_size` window with stride `kernel_size`, no padding.
    pub fn new(kernel_size: usize) -> MaxPool2d {
        MaxPool2d {
            params: Pool2dParams::new(kernel_size),
        }
    }

    /// The same stride along both axes.
    pub fn stride(mut self, stride: usize) -> Self {
        self.params = self.params.stride(stride);
        self
    }

    /// The same padding along both axes (implicit `-inf`, at most half the window).
    pub fn padding(mut self, padding: usize) -> Self {
        self.params = self.params.padding(padding);
        self
    }

    /// The same dilation along both axes.
    pub fn dilation(mut self, dilation: usize) -> Self {
        self.params = self.params.dilation(dilation);
        self
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        need_4d("MaxPool2d", x)?;
        let y = x.try_max_pool2d(self.params)?;
        ctx.record_layer("MaxPool2d", &y, self);
        Ok(y)
    }
}

/// Average pooling over `kernel_size` windows, as `nn.AvgPool2d(kernel_size, stride=None,
/// padding=0, count_include_pad=True)`: the stride defaults to the window size, and padded
/// positions count in the divisor unless `count_include_pad(false)`.
///
/// ```
/// use descent_core::{Tape, Tensor};
/// use descent_nn::{AvgPool2d, Ctx, Module};
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::arange(0.0, 16.0, 1.0).reshape([1, 1, 4, 4]));
/// let y = AvgPool2d::new(2).forward(&x, &Ctx::eval())?;
/// assert_eq!(y.value().to_vec_f32(), vec![2.5, 4.5, 10.5, 12.5]);
/// # Ok::<(), descent_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    /// Window, stride, padding and `count_include_pad` (dilation must stay 1, as PyTorch has
    /// none); set it directly for rectangular windows.
    pub params: Pool2dParams,
}

impl AvgPool2d {
    /// A `kernel_size x kernel_size` window with stride `kernel_size`, no padding, padding
    /// counted in the divisor.
    pub fn new(kernel_size: usize) -> AvgPool2d {
        AvgPool2d {
            params: Pool2dParams::new(kernel_size),
        }
    }

    /// The same stride along both axes.
    pub fn stride(mut self, stride: usize) -> Self {
        self.params = self.params.stride(stride);
        self
    }

    /// The same zero padding along both axes (at most half the window).
    pub fn padding(mut self, padding: usize) -> Self {
        self.params = self.params.padding(padding);
        self
    }

    /// Whether padded positions count in the divisor (PyTorch's default: yes).
    pub fn count_include_pad(mut self, yes: bool) -> Self {
        self.params = self.params.count_include_pad(yes);
        self
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        need_4d("AvgPool2d", x)?;
        let y = x.try_avg_pool2d(self.params)?;
        ctx.record_layer("AvgPool2d", &y, self);
        Ok(y)
    }
}

/// Average pooling to a fixed output size whatever the input's, as
/// `nn.AdaptiveAvgPool2d(output_size)`: output `(i, j)` averages input rows
/// `[floor(i h / oh), ceil((i + 1) h / oh))` and the columns likewise (see
/// [`Var::adaptive_avg_pool2d`](descent_core::Var::adaptive_avg_pool2d)). `[1, 1]` is global
/// average pooling, the usual head of a CNN.
///
/// ```
/// use descent_core::{Tape, Tensor};
/// use descent_nn::{AdaptiveAvgPool2d, Ctx, Module};
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::arange(0.0, 8.0, 1.0).reshape([1, 2, 2, 2]));
/// let y = AdaptiveAvgPool2d::new([1, 1]).forward(&x, &Ctx::eval())?;
/// assert_eq!(y.value().to_vec_f32(), vec![1.5, 5.5]);
/// # Ok::<(), descent_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    /// `[oh, ow]`, both positive.
    pub output_size: [usize; 2],
}

impl AdaptiveAvgPool2d {
    /// Pooling to `output_size = [oh, ow]`.
    pub fn new(output_size: [usize; 2]) -> AdaptiveAvgPool2d {
        AdaptiveAvgPool2d { output_size }
    }
}

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        need_4d("AdaptiveAvgPool2d", x)?;
        let y = x.try_adaptive_avg_pool2d(self.output_size)?;
        ctx.record_layer("AdaptiveAvgPool2d", &y, self);
        Ok(y)
    }
}

no_params!(MaxPool2d);
no_params!(AvgPool2d);
no_params!(AdaptiveAvgPool2d);

crate::impl_params!(MaxPool2d, AvgPool2d, AdaptiveAvgPool2d);
