//! Gradient descent: plain (full batch), stochastic and mini-batch, with momentum, Nesterov
//! momentum and weight decay. PyTorch equivalent: `torch.optim.SGD`.
//!
//! With gradient `g` of parameter `p`, learning rate `η`, weight decay `λ`, momentum `μ` and
//! dampening `τ`, one step is
//!
//! ```text
//! d ← g + λ·p
//! b ← d                       (first step)
//! b ← μ·b + (1 − τ)·d         (later steps)
//! d ← d + μ·b  (Nesterov)  or  d ← b   (μ ≠ 0)
//! p ← p − η·d
//! ```
//!
//! Full-batch gradient descent, SGD on single examples and mini-batch SGD are the same update:
//! what differs is the batch the gradient was computed on, which the data loader decides.

use crate::engine::{Buffers, Ctx, Engine, Rule, optimizer_impl, set_buffered_momentum};
use crate::hyper::{Range, check};
use descent_core::{Element, Error, Result};
use descent_kernels::optim::{SgdStep, sgd};

/// The settings of [`Sgd`]; the defaults are PyTorch's (`lr` 1e-3, no momentum, no decay).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate `η` (> 0).
    pub lr: f64,
    /// Momentum factor `μ` (in [0, 1), 0 for none).
    pub momentum: f64,
    /// Dampening `τ` of the gradient in the momentum buffer (in [0, 1]).
    pub dampening: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`).
    pub nesterov: bool,
    /// L2 penalty `λ` added to the gradient (>= 0).
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

/// Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay; see
/// the [module documentation](self) for the update rule.
///
/// ```
/// use descent_core::{Param, Tape, Tensor};
/// use descent_optim::{Optimizer, Sgd, SgdConfig};
/// // Minimize (w − 3)²; its gradient is 2(w − 3).
/// let mut w = Param::new(Tensor::from_vec(vec![0.0f64], [1]));
/// let mut opt = Sgd::with_config(SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, ..SgdConfig::default() }).unwrap();
/// for _ in 0..200 {
///     let tape = Tape::new();
///     let loss = (tape.param(&w) - 3.0).square().sum_all();
///     opt.step(&mut w, &loss.backward()).unwrap();
/// }
/// assert!((w.value().item() - 3.0).abs() < 1e-6);
/// ```
#[derive(Debug)]
pub struct Sgd {
    config: SgdConfig,
    engine: Engine,
}

/// Plain gradient descent is [`Sgd`] fed the gradient of the whole data set:
/// `Gd::new(lr)` is `p ← p − η·g`.
pub type Gd = Sgd;

impl Sgd {
    /// Plain (stochastic) gradient descent with learning rate `lr`.
    ///
    /// # Errors
    /// If `lr` is not positive and finite.
    pub fn new(lr: f64) -> Result<Sgd> {
        Sgd::with_config(SgdConfig {
            lr,
            ..SgdConfig::default()
        })
    }

    /// SGD with every setting given.
    ///
    /// # Errors
    /// If a value is out of its range (named in the message), or Nesterov is asked for without
    /// momentum or with dampening.
    pub fn with_config(config: SgdConfig) -> Result<Sgd> {
        const OWNER: &str = "Sgd";
        check(OWNER, "momentum", config.momentum, Range::FromZeroBelowOne)?;
        check(OWNER, "dampening", config.dampening, Range::FromZeroToOne)?;
        if config.nesterov && (config.momentum == 0.0 || config.dampening != 0.0) {
            return Err(Error::InvalidConfig {
                owner: OWNER,
                detail: format!(
                    "Nesterov momentum needs momentum > 0 and dampening = 0 (got momentum = {}, \
                     dampening = {})",
                    config.momentum, config.dampening
                ),
            });
        }
        Ok(Sgd {
            engine: Engine::new(OWNER, config.lr, config.weight_decay)?,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }
}

impl Rule for SgdConfig {
    fn buffer_names(&self) -> &'static [&'static str] {
        if self.momentum != 0.0 {
            &["momentum_buffer"]
        } else {
            &[]
        }
    }

    fn update<T: Element>(&self, ctx: &Ctx, p: &mut [T], g: &[T], bufs: Buffers<'_, T>) {
        let h = SgdStep {
            lr: ctx.lr,
            weight_decay: ctx.weight_decay,
            momentum: self.momentum,
            dampening: self.dampening,
            nesterov: self.nesterov,
            first: ctx.step == 1,
        };
        sgd(&h, p, g, bufs.first);
    }

    fn momentum(&self) -> Option<f64> {
        (self.momentum != 0.0).then_some(self.momentum)
    }

    fn set_momentum(&mut self, owner: &'static str, momentum: f64) -> Result<()> {
        set_buffered_momentum(owner, &mut self.momentum, momentum)
    }
}

optimizer_impl!(Sgd, "Sgd", config);
