//! [`Linear`]: `y = x W^T + b`, as `torch.nn.Linear`.

use crate::init::{Stream, kaiming_uniform, uniform};
use crate::module::{Ctx, Module};
use descent_core::{Error, Param, Result, Var};

/// A fully connected layer: `y = x W^T + b` with `W` of shape `[out, in]` and `b` of `[out]`
/// (PyTorch's layout and `state_dict` names `weight`, `bias`). The input is `[..., in]`.
///
/// Initialized as PyTorch's default: `W ~ U(-1/sqrt(in), 1/sqrt(in))` (Kaiming-uniform with
/// `a = sqrt(5)`) and `b ~ U(-1/sqrt(in), 1/sqrt(in))`, from the given stream.
/// Parameters `weight` and `bias` (if any), visited by `#[derive(Module)]`.
#[derive(Debug, crate::Module)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Param,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Param>,
}

impl Linear {
    /// A layer from `in_features` to `out_features`, with a bias if `bias`, initialized from
    /// `stream` (weight first, then bias).
    pub fn new(in_features: usize, out_features: usize, bias: bool, stream: &Stream) -> Linear {
        let mut s = stream.clone();
        let weight = kaiming_uniform(&[out_features, in_features], 5f64.sqrt(), &mut s);
        let bound = 1.0 / (in_features.max(1) as f64).sqrt();
        let bias =
            bias.then(|| Param::named("bias", uniform(&[out_features], -bound, bound, &mut s)));
        Linear {
            weight: Param::named("weight", weight),
            bias,
        }
    }

    /// `in_features`.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// `out_features`.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl Module for Linear {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        let last = x.shape().last().copied();
        if last != Some(self.in_features()) {
            return Err(Error::ShapeMismatch {
                op: "Linear",
                lhs: x.shape().into(),
                rhs: self.weight.shape().into(),
                detail: format!(
                    "do not fit: the input's last dim must be in_features = {}",
                    self.in_features()
                ),
            });
        }
        let tape = x.tape();
        // One fused op: the bias is added inside the GEMM pass (`Var::linear`).
        let weight = tape.try_param(&self.weight)?;
        let bias = self.bias.as_ref().map(|b| tape.try_param(b)).transpose()?;
        let y = x.try_linear(&weight, bias.as_ref())?;
        ctx.record_layer("Linear", &y, self);
        Ok(y)
    }
}
