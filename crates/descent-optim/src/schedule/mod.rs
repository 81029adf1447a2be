//! Learning-rate schedules: the learning rate as a function of the step.
//!
//! A [`Schedule`] maps a step `k` to a learning rate. Steps count from 0: `lr_at(0)` is the rate
//! of the first optimizer step, and `lr_at(k)` is the rate PyTorch's scheduler holds after `k`
//! calls of `scheduler.step()`. A schedule is a pure function of `k`, so a run that resumes at
//! step `k` gets exactly the rates it would have had.
//!
//! | schedule | rate at step `k` | PyTorch (`torch.optim.lr_scheduler`) |
//! |---|---|---|
//! | [`Constant`] | `lr` | no scheduler |
//! | [`StepLr`] | `lr·γ^⌊k/step_size⌋` | `StepLR` |
//! | [`MultiStepLr`] | `lr·γ^(number of milestones ≤ k)` | `MultiStepLR` |
//! | [`ExponentialLr`] | `lr·γ^k` | `ExponentialLR` |
//! | [`CosineAnnealing`] | half a cosine from `lr_max` down to `lr_min` | `CosineAnnealingLR` (closed form) |
//! | [`CosineAnnealing::with_restarts`] | the same, restarted every cycle | `CosineAnnealingWarmRestarts` |
//! | [`Warmup`] | a linear ramp, then an inner schedule | `LinearLR` then the inner one, in `SequentialLR` |
//! | [`OneCycle`] | up to `max_lr`, then down far below the start (momentum the other way) | `OneCycleLR` (`three_phase=False`) |
//! | [`ReduceOnPlateau`] | divided when a metric stops improving (stateful) | `ReduceLROnPlateau` |
//!
//! Schedules compose as values: [`Warmup`] takes any schedule, and `Box<dyn Schedule>` is itself
//! a schedule. Five steps of linear warm-up into a cosine decay over 100 steps:
//!
//! ```
//! use descent_optim::schedule::{CosineAnnealing, Schedule, Warmup};
//! let schedule = Warmup::new(5, 0.1, CosineAnnealing::new(0.1, 0.001, 100)?)?;
//! assert_eq!(schedule.len(), Some(105));
//! assert!((schedule.lr_at(0) - 0.01).abs() < 1e-15); // 0.1 · 0.1
//! assert!((schedule.lr_at(5) - 0.1).abs() < 1e-15); // the cosine's first step
//! assert!((schedule.lr_at(105) - 0.001).abs() < 1e-15); // the cosine's end
//! for step in 0..105 {
//!     let lr = schedule.lr_at(step);
//!     // Here: `optimizer.set_lr(lr)?`, then the optimizer step.
//!     # let _ = lr;
//! }
//! # Ok::<(), descent_optim::Error>(())
//! ```
//!
//! Every constructor and builder checks its values and refuses, with an error naming the value
//! and its allowed range, what PyTorch would accept but is never meant (a decay factor above 1,
//! a milestone list out of order) or would fail on later (a division by zero).

mod constant;
mod cosine;
mod one_cycle;
mod plateau;
mod step;
mod warmup;

pub use constant::Constant;
pub use cosine::CosineAnnealing;
pub use one_cycle::{Anneal, OneCycle};
pub use plateau::{Mode, PlateauState, ReduceOnPlateau, ThresholdMode};
pub use step::{ExponentialLr, MultiStepLr, StepLr};
pub use warmup::Warmup;

use std::fmt;

/// A learning rate as a function of the step.
// A schedule is never empty: `len` is its horizon, and an `is_empty` would mean nothing.
#[allow(clippy::len_without_is_empty)]
pub trait Schedule: fmt::Debug + Send + Sync {
    /// The learning rate at step `step` (0-based), a pure function of the step (so training
    /// resumes exactly).
    fn lr_at(&self, step: u64) -> f64;

    /// The number of steps the schedule is defined over, `None` if unbounded.
    fn len(&self) -> Option<u64> {
        None
    }

    /// The momentum at step `step`, for the schedules that cycle it ([`OneCycle`]); `None` (the
    /// default) leaves the optimizer's momentum alone. A training loop gives it to
    /// [`Optimizer::set_momentum`](crate::Optimizer::set_momentum) beside the rate:
    ///
    /// ```
    /// use descent_core::{Param, Tape, Tensor};
    /// use descent_optim::schedule::{OneCycle, Schedule};
    /// use descent_optim::{Optimizer, Sgd, SgdConfig};
    /// let mut w = Param::new(Tensor::from_vec(vec![1.0f64], [1]));
    /// let mut opt = Sgd::with_config(SgdConfig { momentum: 0.9, ..SgdConfig::default() })?;
    /// let schedule = OneCycle::new(0.1, 20)?;
    /// for step in 0..20 {
    ///     opt.set_lr(schedule.lr_at(step))?;
    ///     if let Some(m) = schedule.momentum_at(step) {
    ///         opt.set_momentum(m)?;
    ///     }
    ///     let tape = Tape::new();
    ///     let grads = tape.param(&w).square().sum_all().backward();
    ///     opt.step(&mut w, &grads)?;
    /// }
    /// assert_eq!(opt.momentum(), schedule.momentum_at(19));
    /// # Ok::<(), descent_optim::Error>(())
    /// ```
    fn momentum_at(&self, step: u64) -> Option<f64> {
        let _ = step;
        None
    }
}

impl Schedule for Box<dyn Schedule> {
    fn lr_at(&self, step: u64) -> f64 {
        (**self).lr_at(step)
    }

    fn momentum_at(&self, step: u64) -> Option<f64> {
        (**self).momentum_at(step)
    }

    fn len(&self) -> Option<u64> {
        (**self).len()
    }
}
