//! Adam and AdamW. PyTorch equivalents: `torch.optim.Adam`, `torch.optim.AdamW`.
//!
//! With gradient `g` of parameter `p` at step `t`, learning rate `η`, betas `β1, β2`, `ε` and
//! weight decay `λ`, one Adam step is
//!
//! ```text
//! g ← g + λ·p                      (Adam: L2 penalty in the gradient)
//! p ← p·(1 − η·λ)                  (AdamW: decoupled weight decay, instead)
//! m ← β1·m + (1 − β1)·g
//! v ← β2·v + (1 − β2)·g²
//! v̂ ← max(v̂, v)  (amsgrad)   or   v̂ ← v
//! p ← p − η/(1 − β1^t) · m / (√v̂ / √(1 − β2^t) + ε)
//! ```
//!
//! which is the textbook `p ← p − η·m̂/(√v̂' + ε)` with the bias-corrected moments
//! `m̂ = m/(1 − β1^t)`, `v̂' = v̂/(1 − β2^t)`, evaluated in PyTorch's order. The update is one fused
//! pass that reads `p, g, m, v` once and writes `p, m, v` once.

use crate::engine::{Buffers, Ctx, Engine, Rule, optimizer_impl};
use crate::hyper::{Range, check};
use descent_core::{Element, Result};
use descent_kernels::optim::{AdamStep, adam};

/// The settings of [`Adam`]; the defaults are PyTorch's `Adam` ones (`lr` 1e-3, betas
/// (0.9, 0.999), `eps` 1e-8, no weight decay, no amsgrad). [`AdamW`] takes an [`AdamWConfig`],
/// whose default weight decay is PyTorch's `AdamW` one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate `η` (> 0).
    pub lr: f64,
    /// `(β1, β2)`, the decay rates of the moment estimates (each in [0, 1)).
    pub betas: (f64, f64),
    /// `ε`, added to the denominator (>= 0).
    pub eps: f64,
    /// Weight decay `λ` (>= 0): an L2 penalty for [`Adam`], decoupled for [`AdamW`].
    pub weight_decay: f64,
    /// Use the running maximum of the second moment (AMSGrad).
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

/// The settings of [`AdamW`]: the fields of [`AdamConfig`], with PyTorch's `AdamW` defaults
/// (`lr` 1e-3, betas (0.9, 0.999), `eps` 1e-8, **`weight_decay` 1e-2**, no amsgrad). A type of
/// its own, so that `..Default::default()` gives AdamW's decay, not Adam's 0.
///
/// ```
/// use descent_optim::{AdamConfig, AdamWConfig};
/// assert_eq!(AdamWConfig::default().weight_decay, 0.01);
/// assert_eq!(AdamConfig::default().weight_decay, 0.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate `η` (> 0).
    pub lr: f64,
    /// `(β1, β2)`, the decay rates of the moment estimates (each in [0, 1)).
    pub betas: (f64, f64),
    /// `ε`, added to the denominator (>= 0).
    pub eps: f64,
    /// Decoupled weight decay `λ` (>= 0): `p ← p·(1 − η·λ)` each step. Default 1e-2.
    pub weight_decay: f64,
    /// Use the running maximum of the second moment (AMSGrad).
    pub amsgrad: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        let AdamConfig {
            lr,
            betas,
            eps,
            amsgrad,
            ..
        } = AdamConfig::default();
        AdamWConfig {
            lr,
            betas,
            eps,
            weight_decay: 1e-2,
            amsgrad,
        }
    }
}

impl From<AdamWConfig> for AdamConfig {
    fn from(c: AdamWConfig) -> AdamConfig {
        AdamConfig {
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
            amsgrad: c.amsgrad,
        }
    }
}

/// The rule of both optimizers: the settings, and whether weight decay is decoupled.
#[derive(Clone, Copy, Debug)]
struct AdamRule {
    config: AdamConfig,
    decoupled: bool,
}

impl AdamRule {
    fn new(owner: &'static str, config: AdamConfig, decoupled: bool) -> Result<AdamRule> {
        let beta = |name, v| check(owner, name, v, Range::FromZeroBelowOne);
        beta("betas.0", config.betas.0)?;
        beta("betas.1", config.betas.1)?;
        check(owner, "eps", config.eps, Range::NonNegative)?;
        Ok(AdamRule { config, decoupled })
    }
}

impl Rule for AdamRule {
    fn buffer_names(&self) -> &'static [&'static str] {
        if self.config.amsgrad {
            &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]
        } else {
            &["exp_avg", "exp_avg_sq"]
        }
    }

    fn update<T: Element>(&self, ctx: &Ctx, p: &mut [T], g: &[T], bufs: Buffers<'_, T>) {
        let (b1, b2) = self.config.betas;
        let t = i32::try_from(ctx.step).unwrap_or(i32::MAX);
        let h = AdamStep {
            step_size: ctx.lr / (1.0 - b1.powi(t)),
            bias2_sqrt: (1.0 - b2.powi(t)).sqrt(),
            beta1: b1,
            beta2: b2,
            eps: self.config.eps,
            weight_decay: if self.decoupled {
                0.0
            } else {
                ctx.weight_decay
            },
            decoupled_decay: if self.decoupled {
                ctx.lr * ctx.weight_decay
            } else {
                0.0
            },
        };
        let Buffers {
            first: Some(m),
            second: Some(v),
            third: v_max,
        } = bufs
        else {
            unreachable!("Adam keeps both moments")
        };
        adam(&h, p, g, m, v, v_max);
    }

    fn momentum(&self) -> Option<f64> {
        Some(self.config.betas.0)
    }

    fn set_momentum(&mut self, owner: &'static str, momentum: f64) -> Result<()> {
        self.config.betas.0 = check(owner, "betas.0", momentum, Range::FromZeroBelowOne)?;
        Ok(())
    }
}

/// Adam, with L2 weight decay and optional AMSGrad; see the [module documentation](self) for the
/// update rule.
///
/// ```
/// use descent_core::{Param, Tape, Tensor};
/// use descent_optim::{Adam, AdamConfig, Optimizer};
/// let mut w = Param::new(Tensor::from_vec(vec![1.0f32, -2.0], [2]));
/// let mut opt = Adam::new(AdamConfig { lr: 0.01, ..AdamConfig::default() }).unwrap();
/// let tape = Tape::new();
/// let loss = tape.param(&w).square().sum_all();
/// opt.step(&mut w, &loss.backward()).unwrap();
/// // Adam's first step moves every parameter by about lr against the sign of its gradient.
/// let w1 = w.value().to_vec_f32();
/// assert!((w1[0] - 0.99).abs() < 1e-6 && (w1[1] + 1.99).abs() < 1e-6);
/// ```
#[derive(Debug)]
pub struct Adam {
    rule: AdamRule,
    engine: Engine,
}

impl Adam {
    /// Adam with these settings.
    ///
    /// # Errors
    /// If a value is out of its range; the message names it and the range.
    pub fn new(config: AdamConfig) -> Result<Adam> {
        Ok(Adam {
            rule: AdamRule::new("Adam", config, false)?,
            engine: Engine::new("Adam", config.lr, config.weight_decay)?,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AdamConfig {
        &self.rule.config
    }
}

/// AdamW: Adam with decoupled weight decay (`p ← p·(1 − η·λ)` before the Adam update, instead of
/// `λ·p` in the gradient); see the [module documentation](self). Its settings are an
/// [`AdamWConfig`], whose weight decay defaults to PyTorch's 1e-2.
///
/// ```
/// use descent_core::{Param, Tensor};
/// use descent_optim::{AdamW, AdamWConfig};
/// let opt = AdamW::new(AdamWConfig { lr: 3e-4, ..AdamWConfig::default() }).unwrap();
/// assert_eq!(opt.config().weight_decay, 0.01);
/// ```
#[derive(Debug)]
pub struct AdamW {
    rule: AdamRule,
    engine: Engine,
}

impl AdamW {
    /// AdamW with these settings.
    ///
    /// # Errors
    /// If a value is out of its range; the message names it and the range.
    pub fn new(config: AdamWConfig) -> Result<AdamW> {
        Ok(AdamW {
            rule: AdamRule::new("AdamW", config.into(), true)?,
            engine: Engine::new("AdamW", config.lr, config.weight_decay)?,
        })
    }

    /// The settings (`betas.0` as last set by [`Optimizer::set_momentum`]).
    ///
    /// [`Optimizer::set_momentum`]: crate::Optimizer::set_momentum
    pub fn config(&self) -> AdamWConfig {
        let c = self.rule.config;
        AdamWConfig {
            lr: c.lr,
            betas: c.betas,
            eps: c.eps,
            weight_decay: c.weight_decay,
            amsgrad: c.amsgrad,
        }
    }
}

optimizer_impl!(Adam, "Adam", rule);
optimizer_impl!(AdamW, "AdamW", rule);
