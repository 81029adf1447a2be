//! Parameter-free layers: activations and `Flatten`, as their `torch.nn` namesakes.

use crate::module::{Ctx, Module};
use descent_core::{Param, Result, Var};

/// The visitors of a layer without parameters.
macro_rules! no_params {
    () => {
        fn visit_params<'a>(&'a self, _: &str, _: &mut dyn FnMut(&str, &'a Param)) {}

        fn visit_params_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param)) {}
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
            fn forward(&self, $x: &Var, _ctx: &Ctx) -> Result<Var> {
                $body
            }

            no_params!();
        }

        crate::impl_params!($T);
    )*};
}

stateless! {
    /// `max(x, 0)`, as `nn.ReLU`.
    ReLU => |x| Ok(x.relu());
    /// The exact (erf) GELU, as `nn.GELU()`.
    GELU => |x| Ok(x.gelu());
    /// The logistic sigmoid, as `nn.Sigmoid`.
    Sigmoid => |x| Ok(x.sigmoid());
    /// `tanh`, as `nn.Tanh`.
    Tanh => |x| Ok(x.tanh());
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
    fn forward(&self, x: &Var, _ctx: &Ctx) -> Result<Var> {
        Ok(x.leaky_relu(self.negative_slope))
    }

    no_params!();
}

crate::impl_params!(LeakyReLU);
