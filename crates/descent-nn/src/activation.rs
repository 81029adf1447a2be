//! Parameter-free layers: activations and `Flatten`, as their `torch.nn` namesakes.

use crate::module::{Ctx, Module, Visit};
use descent_core::{Param, Result, Var};

/// The visitors of a layer without parameters.
macro_rules! no_params {
    ($T:ty) => {
        impl Visit for $T {
            fn visit_params<'a>(&'a self, _: &str, _: &mut dyn FnMut(&str, &'a Param)) {}

            fn visit_params_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param)) {}
        }
    };
}
pub(crate) use no_params;

/// A parameter-free layer from its forward.
macro_rules! stateless {
    ($($(#[$doc:meta])* $T:ident => |$x:ident| $body:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $T;

        impl Module for $T {
            fn forward(&self, $x: &Var, ctx: &Ctx) -> Result<Var> {
                let y = $body?;
                ctx.record_layer(stringify!($T), &y, self);
                Ok(y)
            }
        }

        no_params!($T);

        crate::impl_params!($T);
    )*};
}

stateless! {
    /// `max(x, 0)`, as `nn.ReLU`.
    ReLU => |x| Ok::<_, descent_core::Error>(x.relu());
    /// The exact (erf) GELU, as `nn.GELU()`.
    GELU => |x| Ok::<_, descent_core::Error>(x.gelu());
    /// The logistic sigmoid, as `nn.Sigmoid`.
    Sigmoid => |x| Ok::<_, descent_core::Error>(x.sigmoid());
    /// `tanh`, as `nn.Tanh`.
    Tanh => |x| Ok::<_, descent_core::Error>(x.tanh());
    /// Softmax along the last dim, as `nn.Softmax(dim=-1)`.
    Softmax => |x| x.try_softmax(-1);
    /// Every dim but the first merged into one (`[N, C, H, W] -> [N, C*H*W]`), as `nn.Flatten()`.
    Flatten => |x| if x.shape().len() <= 1 { Ok(x.clone()) } else { x.try_flatten(1, -1) };
}

/// `x` where `x > 0`, else `negative_slope * x`, as `nn.LeakyReLU` (default slope 0.01).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReLU {
    /// The slope for negative inputs.
    pub negative_slope: f64,
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU {
            negative_slope: 0.01,
        }
    }
}

impl Module for LeakyReLU {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        let y = x.leaky_relu(self.negative_slope);
        ctx.record_layer("LeakyReLU", &y, self);
        Ok(y)
    }
}

no_params!(LeakyReLU);

crate::impl_params!(LeakyReLU);
