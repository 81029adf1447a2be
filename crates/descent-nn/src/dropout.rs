//! [`Dropout`]: zeroes each element with probability `p` in training, as `nn.Dropout`.

use crate::activation::no_params;
use crate::module::{Ctx, Module, Visit};
use descent_core::{Error, Param, Result, Tensor, Var};

/// In training, each element is zeroed with probability `p` and the others are scaled by
/// `1 / (1 - p)` (inverted dropout, as PyTorch); in evaluation, the identity. The mask comes from
/// the context's next random stream ([`Ctx::next_stream`]), so it is reproducible from
/// `(seed, epoch, step)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// Dropout with probability `p`.
    ///
    /// # Errors
    /// If `p` is not in `[0, 1)`.
    pub fn new(p: f64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::InvalidArgument {
                op: "Dropout",
                message: format!("p = {p} must be in [0, 1)"),
            });
        }
        Ok(Dropout { p })
    }

    /// The probability of zeroing an element.
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        if !ctx.is_train() || self.p == 0.0 {
            ctx.record_layer("Dropout", x, self);
            return Ok(x.clone());
        }
        let mut stream = ctx.next_stream();
        let keep = 1.0 / (1.0 - self.p);
        let n: usize = x.shape().iter().product();
        let mask: Vec<f64> = (0..n)
            .map(|_| {
                if stream.next_f64() < self.p {
                    0.0
                } else {
                    keep
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, x.shape()).to_dtype(x.value().dtype());
        x.try_mul(&x.tape().try_constant(mask)?)
    }
}

no_params!(Dropout);

crate::impl_params!(Dropout);
