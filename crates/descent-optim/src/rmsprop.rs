//! RMSprop, with momentum and centered variants. PyTorch equivalent: `torch.optim.RMSprop`.
//!
//! With gradient `g` of parameter `p`, learning rate `η`, smoothing `α`, `ε`, weight decay `λ` and
//! momentum `μ`, one step is
//!
//! ```text
//! g ← g + λ·p
//! s ← α·s + (1 − α)·g²
//! ḡ ← α·ḡ + (1 − α)·g,   a = √(s − ḡ²) + ε      (centered)
//! a = √s + ε                                     (otherwise)
//! b ← μ·b + g/a,   p ← p − η·b                   (μ > 0)
//! p ← p − η·g/a                                  (otherwise)
//! ```

use crate::engine::{Buffers, Ctx, Engine, Rule, optimizer_impl, set_buffered_momentum};
use crate::hyper::{Range, check};
use descent_core::{Element, Result};
use descent_kernels::optim::{RmspropStep, rmsprop};

/// The settings of [`RmsProp`]; the defaults are PyTorch's (`lr` 1e-2, `alpha` 0.99, `eps` 1e-8).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate `η` (> 0).
    pub lr: f64,
    /// Smoothing constant `α` of the mean square (in [0, 1)).
    pub alpha: f64,
    /// `ε`, added to the denominator (>= 0).
    pub eps: f64,
    /// L2 penalty `λ` (>= 0).
    pub weight_decay: f64,
    /// Momentum `μ` (in [0, 1)).
    pub momentum: f64,
    /// Normalize by the estimated variance instead of the mean square.
    pub centered: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

impl Rule for RmsPropConfig {
    fn buffer_names(&self) -> &'static [&'static str] {
        match (self.centered, self.momentum > 0.0) {
            (false, false) => &["square_avg"],
            (true, false) => &["square_avg", "grad_avg"],
            (false, true) => &["square_avg", "momentum_buffer"],
            (true, true) => &["square_avg", "grad_avg", "momentum_buffer"],
        }
    }

    fn update<T: Element>(&self, ctx: &Ctx, p: &mut [T], g: &[T], bufs: Buffers<'_, T>) {
        let h = RmspropStep {
            lr: ctx.lr,
            alpha: self.alpha,
            eps: self.eps,
            weight_decay: ctx.weight_decay,
            momentum: self.momentum,
        };
        let Buffers {
            first: Some(s),
            second,
            third,
        } = bufs
        else {
            unreachable!("RMSprop keeps its mean square")
        };
        let (g_avg, buf) = if self.centered {
            (second, third)
        } else {
            (None, second)
        };
        rmsprop(&h, p, g, s, g_avg, buf);
    }

    fn momentum(&self) -> Option<f64> {
        (self.momentum > 0.0).then_some(self.momentum)
    }

    fn set_momentum(&mut self, owner: &'static str, momentum: f64) -> Result<()> {
        set_buffered_momentum(owner, &mut self.momentum, momentum)
    }
}

/// RMSprop; see the [module documentation](self) for the update rule.
///
/// ```
/// use descent_core::{Param, Tape, Tensor};
/// use descent_optim::{Optimizer, RmsProp, RmsPropConfig};
/// let mut w = Param::new(Tensor::from_vec(vec![1.0f64], [1]));
/// let mut opt = RmsProp::new(RmsPropConfig { lr: 0.01, ..RmsPropConfig::default() }).unwrap();
/// let tape = Tape::new();
/// let loss = tape.param(&w).square().sum_all(); // g = 2
/// opt.step(&mut w, &loss.backward()).unwrap();
/// // s = 0.01·4, so the step is 0.01·2/(0.2 + 1e-8): about 0.1.
/// assert!((w.value().item() - 0.9).abs() < 1e-6);
/// ```
#[derive(Debug)]
pub struct RmsProp {
    config: RmsPropConfig,
    engine: Engine,
}

impl RmsProp {
    /// RMSprop with these settings.
    ///
    /// # Errors
    /// If a value is out of its range; the message names it and the range.
    pub fn new(config: RmsPropConfig) -> Result<RmsProp> {
        const OWNER: &str = "RmsProp";
        check(OWNER, "alpha", config.alpha, Range::FromZeroBelowOne)?;
        check(OWNER, "eps", config.eps, Range::NonNegative)?;
        check(OWNER, "momentum", config.momentum, Range::FromZeroBelowOne)?;
        Ok(RmsProp {
            engine: Engine::new(OWNER, config.lr, config.weight_decay)?,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &RmsPropConfig {
        &self.config
    }
}

optimizer_impl!(RmsProp, "RmsProp", config);
