//! Adagrad. PyTorch equivalent: `torch.optim.Adagrad`.
//!
//! With gradient `g` of parameter `p` at step `t`, learning rate `η`, learning-rate decay `δ`,
//! `ε` and weight decay `λ`, one step is
//!
//! ```text
//! g ← g + λ·p
//! s ← s + g²                      (s starts at the initial accumulator value)
//! p ← p − η/(1 + (t − 1)·δ) · g / (√s + ε)
//! ```

use crate::engine::{Buffers, Ctx, Engine, Rule, optimizer_impl};
use crate::hyper::{Range, check};
use descent_core::{Element, Result};
use descent_kernels::optim::{AdagradStep, adagrad};

/// The settings of [`Adagrad`]; the defaults are PyTorch's (`lr` 1e-2, `eps` 1e-10).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradConfig {
    /// Learning rate `η` (> 0).
    pub lr: f64,
    /// Learning-rate decay `δ` (>= 0).
    pub lr_decay: f64,
    /// L2 penalty `λ` (>= 0).
    pub weight_decay: f64,
    /// The value the sum of squares starts at (>= 0).
    pub initial_accumulator_value: f64,
    /// `ε`, added to the denominator (>= 0).
    pub eps: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

impl Rule for AdagradConfig {
    fn buffer_names(&self) -> &'static [&'static str] {
        &["sum"]
    }

    fn buffer_init(&self) -> f64 {
        self.initial_accumulator_value
    }

    fn update<T: Element>(&self, ctx: &Ctx, p: &mut [T], g: &[T], bufs: Buffers<'_, T>) {
        let h = AdagradStep {
            clr: ctx.lr / (1.0 + (ctx.step - 1) as f64 * self.lr_decay),
            eps: self.eps,
            weight_decay: ctx.weight_decay,
        };
        let Some(s) = bufs.first else {
            unreachable!("Adagrad keeps its sum of squares")
        };
        adagrad(&h, p, g, s);
    }
}

/// Adagrad; see the [module documentation](self) for the update rule.
///
/// ```
/// use descent_core::{Param, Tape, Tensor};
/// use descent_optim::{Adagrad, AdagradConfig, Optimizer};
/// let mut w = Param::new(Tensor::from_vec(vec![1.0f64], [1]));
/// let mut opt = Adagrad::new(AdagradConfig { lr: 0.1, ..AdagradConfig::default() }).unwrap();
/// let tape = Tape::new();
/// let loss = tape.param(&w).square().sum_all(); // g = 2, s = 4
/// opt.step(&mut w, &loss.backward()).unwrap();
/// assert!((w.value().item() - 0.9).abs() < 1e-9); // 1 − 0.1·2/2
/// ```
#[derive(Debug)]
pub struct Adagrad {
    config: AdagradConfig,
    engine: Engine,
}

impl Adagrad {
    /// Adagrad with these settings.
    ///
    /// # Errors
    /// If a value is out of its range; the message names it and the range.
    pub fn new(config: AdagradConfig) -> Result<Adagrad> {
        const OWNER: &str = "Adagrad";
        let non_negative = |name, v| check(OWNER, name, v, Range::NonNegative);
        non_negative("lr_decay", config.lr_decay)?;
        non_negative(
            "initial_accumulator_value",
            config.initial_accumulator_value,
        )?;
        non_negative("eps", config.eps)?;
        Ok(Adagrad {
            engine: Engine::new(OWNER, config.lr, config.weight_decay)?,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &AdagradConfig {
        &self.config
    }
}

optimizer_impl!(Adagrad, "Adagrad", config);
