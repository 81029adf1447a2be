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
//! | [`OneCycle`] | up to `max_lr`, then down far below the start | `OneCycleLR` (`three_phase=False`) |
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

use crate::hyper::{Range, check, check_count};
use descent_core::{Error, Result};
use std::f64::consts::PI;
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
}

impl Schedule for Box<dyn Schedule> {
    fn lr_at(&self, step: u64) -> f64 {
        (**self).lr_at(step)
    }

    fn len(&self) -> Option<u64> {
        (**self).len()
    }
}

/// The same learning rate at every step.
///
/// ```
/// use descent_optim::schedule::{Constant, Schedule};
/// let schedule = Constant::new(0.01)?;
/// assert_eq!(schedule.lr_at(1_000_000), 0.01);
/// # Ok::<(), descent_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    lr: f64,
}

impl Constant {
    /// A constant learning rate.
    ///
    /// # Errors
    /// If `lr` is not `> 0` and finite.
    pub fn new(lr: f64) -> Result<Constant> {
        Ok(Constant {
            lr: check("Constant", "lr", lr, Range::Positive)?,
        })
    }
}

impl Schedule for Constant {
    fn lr_at(&self, _step: u64) -> f64 {
        self.lr
    }
}

/// Decays the learning rate by `gamma` every `step_size` steps:
/// `lr_at(k) = lr · gamma^⌊k / step_size⌋`. PyTorch: `StepLR`.
///
/// `gamma` must lie in `(0, 1]`: PyTorch accepts a `gamma` above 1, which grows the rate without
/// bound and is never a decay (use [`Warmup`] for a rising rate).
///
/// ```
/// use descent_optim::schedule::{Schedule, StepLr};
/// let schedule = StepLr::new(0.1, 30, 0.1)?;
/// assert_eq!(schedule.lr_at(29), 0.1);
/// assert!((schedule.lr_at(30) - 0.01).abs() < 1e-15);
/// assert!((schedule.lr_at(60) - 0.001).abs() < 1e-15);
/// # Ok::<(), descent_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StepLr {
    lr: f64,
    step_size: u64,
    gamma: f64,
}

impl StepLr {
    /// A step decay from `lr`, by `gamma` every `step_size` steps.
    ///
    /// # Errors
    /// If `lr` is not `> 0` and finite, `step_size` is 0, or `gamma` is not in `(0, 1]`.
    pub fn new(lr: f64, step_size: u64, gamma: f64) -> Result<StepLr> {
        Ok(StepLr {
            lr: check("StepLr", "lr", lr, Range::Positive)?,
            step_size: check_count("StepLr", "step_size", step_size)?,
            gamma: check("StepLr", "gamma", gamma, Range::AboveZeroToOne)?,
        })
    }
}

impl Schedule for StepLr {
    fn lr_at(&self, step: u64) -> f64 {
        self.lr * self.gamma.powf((step / self.step_size) as f64)
    }
}

/// Decays the learning rate by `gamma` at each milestone:
/// `lr_at(k) = lr · gamma^(number of milestones ≤ k)`. PyTorch: `MultiStepLR`.
///
/// The milestones must be strictly increasing and at least 1. PyTorch counts a repeated
/// milestone twice; here the list must not repeat. PyTorch's `step()` also skips a milestone 0
/// (the rate of step 0 is the optimizer's own), so 0 is refused rather than silently ignored.
/// `gamma` must lie in `(0, 1]`, as for [`StepLr`].
///
/// ```
/// use descent_optim::schedule::{MultiStepLr, Schedule};
/// let schedule = MultiStepLr::new(0.1, &[10, 15], 0.5)?;
/// assert_eq!(schedule.lr_at(9), 0.1);
/// assert_eq!(schedule.lr_at(10), 0.05);
/// assert_eq!(schedule.lr_at(15), 0.025);
/// # Ok::<(), descent_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepLr {
    lr: f64,
    milestones: Vec<u64>,
    gamma: f64,
}

impl MultiStepLr {
    /// A decay from `lr` by `gamma` at each of `milestones`.
    ///
    /// # Errors
    /// If `lr` is not `> 0` and finite, `gamma` is not in `(0, 1]`, a milestone is 0, or the
    /// milestones are not strictly increasing.
    pub fn new(lr: f64, milestones: &[u64], gamma: f64) -> Result<MultiStepLr> {
        let lr = check("MultiStepLr", "lr", lr, Range::Positive)?;
        let gamma = check("MultiStepLr", "gamma", gamma, Range::AboveZeroToOne)?;
        if let Some(&first) = milestones.first() {
            check_count("MultiStepLr", "milestones[0]", first)?;
        }
        if let Some(i) = milestones.windows(2).position(|w| w[0] >= w[1]) {
            return Err(Error::InvalidConfig {
                owner: "MultiStepLr",
                detail: format!(
                    "the milestones must be strictly increasing, but milestones[{}] = {} is \
                     followed by milestones[{}] = {}",
                    i,
                    milestones[i],
                    i + 1,
                    milestones[i + 1]
                ),
            });
        }
        Ok(MultiStepLr {
            lr,
            milestones: milestones.to_vec(),
            gamma,
        })
    }
}

impl Schedule for MultiStepLr {
    fn lr_at(&self, step: u64) -> f64 {
        let passed = self.milestones.partition_point(|&m| m <= step);
        self.lr * self.gamma.powf(passed as f64)
    }
}

/// Decays the learning rate by `gamma` every step: `lr_at(k) = lr · gamma^k`.
/// PyTorch: `ExponentialLR`.
///
/// `gamma` must lie in `(0, 1]`: PyTorch accepts a `gamma` above 1, which overflows to infinity.
///
/// ```
/// use descent_optim::schedule::{ExponentialLr, Schedule};
/// let schedule = ExponentialLr::new(0.1, 0.5)?;
/// assert_eq!(schedule.lr_at(0), 0.1);
/// assert!((schedule.lr_at(3) - 0.0125).abs() < 1e-15);
/// # Ok::<(), descent_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialLr {
    lr: f64,
    gamma: f64,
}

impl ExponentialLr {
    /// An exponential decay from `lr` by `gamma` per step.
    ///
    /// # Errors
    /// If `lr` is not `> 0` and finite or `gamma` is not in `(0, 1]`.
    pub fn new(lr: f64, gamma: f64) -> Result<ExponentialLr> {
        Ok(ExponentialLr {
            lr: check("ExponentialLr", "lr", lr, Range::Positive)?,
            gamma: check("ExponentialLr", "gamma", gamma, Range::AboveZeroToOne)?,
        })
    }
}

impl Schedule for ExponentialLr {
    fn lr_at(&self, step: u64) -> f64 {
        self.lr * self.gamma.powf(step as f64)
    }
}

/// Cosine annealing from `lr_max` down to `lr_min` over `period` steps, optionally with warm
/// restarts.
///
/// Without restarts (PyTorch `CosineAnnealingLR(T_max = period, eta_min = lr_min)`, closed form):
/// `lr_at(k) = lr_min + (lr_max − lr_min)·(1 + cos(π·k/period))/2` for `k ≤ period`, and
/// `lr_min` for `k > period`. Holding at `lr_min` past the period is a choice: PyTorch's
/// closed form continues the cosine back up, and its recursive form (what `step()` computes)
/// oscillates between `eta_min` and the base rate with period `2·T_max`. [`Schedule::len`] is
/// `period`.
///
/// With [`with_restarts(t_mult)`](CosineAnnealing::with_restarts) (PyTorch
/// `CosineAnnealingWarmRestarts(T_0 = period, T_mult = t_mult)`): the same cosine over cycles of
/// `period`, `period·t_mult`, `period·t_mult²`, … steps, with `k` replaced by the steps since the
/// last restart. Each cycle starts at `lr_max` and never quite reaches `lr_min`. The schedule is
/// unbounded.
///
/// With `lr_min = 0` (PyTorch's default) the rate at step `period` and after is 0, which an
/// optimizer may refuse: stop after `period` steps, or pick `lr_min > 0`.
///
/// ```
/// use descent_optim::schedule::{CosineAnnealing, Schedule};
/// let cosine = CosineAnnealing::new(0.1, 0.0, 10)?;
/// assert_eq!(cosine.lr_at(0), 0.1);
/// assert!((cosine.lr_at(5) - 0.05).abs() < 1e-15); // halfway: cos(π/2) = 0
/// assert_eq!(cosine.lr_at(10), 0.0);
/// assert_eq!(cosine.lr_at(11), 0.0); // held at lr_min
///
/// let restarts = CosineAnnealing::new(0.1, 0.0, 10)?.with_restarts(2)?;
/// assert_eq!(restarts.lr_at(10), 0.1); // the second cycle, of 20 steps, starts
/// assert!((restarts.lr_at(20) - 0.05).abs() < 1e-15); // halfway through it
/// assert_eq!(restarts.lr_at(30), 0.1); // the third cycle, of 40 steps, starts
/// # Ok::<(), descent_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealing {
    lr_max: f64,
    lr_min: f64,
    period: u64,
    t_mult: Option<u64>,
}

impl CosineAnnealing {
    /// A cosine from `lr_max` at step 0 to `lr_min` at step `period`.
    ///
    /// # Errors
    /// If `lr_max` is not `> 0` and finite, `lr_min` is not `>= 0` and finite, `lr_min` is not
    /// below `lr_max`, or `period` is 0.
    pub fn new(lr_max: f64, lr_min: f64, period: u64) -> Result<CosineAnnealing> {
        let lr_max = check("CosineAnnealing", "lr_max", lr_max, Range::Positive)?;
        let lr_min = check("CosineAnnealing", "lr_min", lr_min, Range::NonNegative)?;
        if lr_min >= lr_max {
            return Err(Error::InvalidConfig {
                owner: "CosineAnnealing",
                detail: format!("lr_min = {lr_min} must be below lr_max = {lr_max}"),
            });
        }
        Ok(CosineAnnealing {
            lr_max,
            lr_min,
            period: check_count("CosineAnnealing", "period", period)?,
            t_mult: None,
        })
    }

    /// Restarts the cosine at `lr_max` after each cycle, the first of `period` steps and each
    /// next one `t_mult` times longer (PyTorch `CosineAnnealingWarmRestarts`).
    ///
    /// # Errors
    /// If `t_mult` is 0.
    pub fn with_restarts(mut self, t_mult: u64) -> Result<CosineAnnealing> {
        self.t_mult = Some(check_count("CosineAnnealing", "t_mult", t_mult)?);
        Ok(self)
    }

    /// The rate `t_cur` steps into a cycle of `t_i` steps. The operations are PyTorch's, in its
    /// order: `eta_min + (base_lr − eta_min)·(1 + cos(π·T_cur/T_i))/2`.
    fn cosine(&self, t_cur: f64, t_i: f64) -> f64 {
        self.lr_min + (self.lr_max - self.lr_min) * (1.0 + (PI * t_cur / t_i).cos()) / 2.0
    }
}

/// The position of `step` in a warm-restart schedule: `(steps since the last restart, length
/// of the current cycle)`, the cycles being `period`, `period·t_mult`, `period·t_mult²`, ….
fn restart_position(step: u64, period: u64, t_mult: u64) -> (u64, f64) {
    if t_mult == 1 {
        return (step % period, period as f64);
    }
    // Cycles at least double, so this runs at most 64 times; u128 holds every cycle length
    // reached, since a cycle starts at or before `step` < 2^64 and at most multiplies by 2^64.
    let step = u128::from(step);
    let (mut start, mut len) = (0u128, u128::from(period));
    while step >= start.saturating_add(len) {
        start += len;
        len = len.saturating_mul(u128::from(t_mult));
    }
    ((step - start) as u64, len as f64)
}

impl Schedule for CosineAnnealing {
    fn lr_at(&self, step: u64) -> f64 {
        match self.t_mult {
            None if step >= self.period => self.lr_min,
            None => self.cosine(step as f64, self.period as f64),
            Some(t_mult) => {
                let (t_cur, t_i) = restart_position(step, self.period, t_mult);
                self.cosine(t_cur as f64, t_i)
            }
        }
    }

    fn len(&self) -> Option<u64> {
        match self.t_mult {
            None => Some(self.period),
            Some(_) => None,
        }
    }
}

/// A linear warm-up into another schedule.
///
/// With `w = warmup_steps`, `f = start_factor` and `base = inner.lr_at(0)`:
/// `lr_at(k) = base·(f + (1 − f)·k/w)` for `k < w`, then `inner.lr_at(k − w)`. The ramp climbs
/// from `f·base` at step 0 towards `base`, which the inner schedule reaches at step `w`.
/// PyTorch: `SequentialLR([LinearLR(start_factor = f, end_factor = 1, total_iters = w), inner],
/// milestones = [w])`. [`Schedule::len`] is `w` plus the inner schedule's length.
///
/// ```
/// use descent_optim::schedule::{Schedule, StepLr, Warmup};
/// let schedule = Warmup::new(4, 0.25, StepLr::new(0.1, 10, 0.5)?)?;
/// let ramp: Vec<f64> = (0..5).map(|k| schedule.lr_at(k)).collect();
/// let expected = [0.025, 0.04375, 0.0625, 0.08125, 0.1]; // 0.1·(0.25 + 0.75·k/4), then StepLr
/// assert!(ramp.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-15));
/// assert_eq!(schedule.lr_at(14), 0.05); // StepLr's step 10
/// # Ok::<(), descent_optim::Error>(())
/// ```
#[derive(Debug)]
pub struct Warmup {
    warmup_steps: u64,
    start_factor: f64,
    inner: Box<dyn Schedule>,
}

impl Warmup {
    /// `warmup_steps` steps of linear warm-up from `start_factor·inner.lr_at(0)`, then `inner`.
    ///
    /// # Errors
    /// If `warmup_steps` is 0, `start_factor` is not in `(0, 1]`, or `inner` has a length and
    /// the warm-up is not shorter than it (most likely the two lengths were swapped).
    pub fn new(
        warmup_steps: u64,
        start_factor: f64,
        inner: impl Schedule + 'static,
    ) -> Result<Warmup> {
        let warmup_steps = check_count("Warmup", "warmup_steps", warmup_steps)?;
        let start_factor = check(
            "Warmup",
            "start_factor",
            start_factor,
            Range::AboveZeroToOne,
        )?;
        if let Some(len) = inner.len()
            && warmup_steps >= len
        {
            return Err(Error::InvalidConfig {
                owner: "Warmup",
                detail: format!(
                    "the warm-up of {warmup_steps} steps must be shorter than the schedule it \
                     leads into, of {len} steps"
                ),
            });
        }
        Ok(Warmup {
            warmup_steps,
            start_factor,
            inner: Box::new(inner),
        })
    }
}

impl Schedule for Warmup {
    fn lr_at(&self, step: u64) -> f64 {
        if step >= self.warmup_steps {
            return self.inner.lr_at(step - self.warmup_steps);
        }
        // PyTorch's LinearLR closed form, in its order of operations.
        let ramp = (1.0 - self.start_factor) * step as f64 / self.warmup_steps as f64;
        self.inner.lr_at(0) * (self.start_factor + ramp)
    }

    fn len(&self) -> Option<u64> {
        self.inner
            .len()
            .map(|len| len.saturating_add(self.warmup_steps))
    }
}

/// How [`OneCycle`] moves between two rates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Anneal {
    /// Half a cosine: `end + (start − end)/2·(1 + cos(π·pct))` (PyTorch `anneal_strategy="cos"`).
    #[default]
    Cos,
    /// A straight line: `start + (end − start)·pct` (PyTorch `anneal_strategy="linear"`).
    Linear,
}

/// The 1cycle policy: up from `max_lr/div_factor` to `max_lr`, then down to
/// `max_lr/(div_factor·final_div_factor)`. PyTorch: `OneCycleLR(three_phase=False)` with
/// `cycle_momentum` aside (this schedule sets only the learning rate).
///
/// With `T = total_steps`, `initial = max_lr/div_factor`, `min = initial/final_div_factor`, and
/// `e = pct_start·T − 1` (a real number): phase 1 runs from step 0 (`initial`) to step `e`
/// (`max_lr`), phase 2 from step `e` (`max_lr`) to step `T − 1` (`min`). Within a phase from
/// step `s` to step `t`, `pct = (k − s)/(t − s)` and the rate is [`Anneal`]'s interpolation.
/// When `e < 0` phase 1 is skipped, as in PyTorch. [`Schedule::len`] is `T`; from step `T` on
/// the rate stays at `min`, where PyTorch extrapolates phase 2 at step `T` and raises after it.
///
/// ```
/// use descent_optim::schedule::{Anneal, OneCycle, Schedule};
/// let schedule = OneCycle::new(1.0, 11)?.pct_start(0.2)?.anneal(Anneal::Linear);
/// // initial = 1/25 = 0.04, e = 0.2·11 − 1 = 1.2, min = 0.04/1e4.
/// assert!((schedule.lr_at(0) - 0.04).abs() < 1e-15);
/// assert!((schedule.lr_at(1) - (0.04 + 0.96 / 1.2)).abs() < 1e-15);
/// assert!((schedule.lr_at(10) - 4e-6).abs() < 1e-15); // `(min − 1)·1 + 1` rounds near 1.
/// assert_eq!(schedule.len(), Some(11));
/// # Ok::<(), descent_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycle {
    max_lr: f64,
    total_steps: u64,
    pct_start: f64,
    div_factor: f64,
    final_div_factor: f64,
    anneal: Anneal,
}

impl OneCycle {
    /// A one-cycle schedule peaking at `max_lr`, over `total_steps` steps, with PyTorch's
    /// defaults: `pct_start = 0.3`, `div_factor = 25`, `final_div_factor = 1e4`, cosine anneal.
    ///
    /// # Errors
    /// If `max_lr` is not `> 0` and finite or `total_steps` is 0.
    pub fn new(max_lr: f64, total_steps: u64) -> Result<OneCycle> {
        OneCycle {
            max_lr: check("OneCycle", "max_lr", max_lr, Range::Positive)?,
            total_steps: check_count("OneCycle", "total_steps", total_steps)?,
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
            anneal: Anneal::Cos,
        }
        .check_phases()
    }

    /// Sets the fraction of the steps spent rising (default 0.3).
    ///
    /// # Errors
    /// If `pct_start` is not in `(0, 1)`, or if it makes a phase zero steps long: phase 1 is
    /// when `pct_start·total_steps = 1` (PyTorch divides by zero there).
    pub fn pct_start(mut self, pct_start: f64) -> Result<OneCycle> {
        self.pct_start = check("OneCycle", "pct_start", pct_start, Range::AboveZeroBelowOne)?;
        self.check_phases()
    }

    /// Sets the ratio `max_lr / initial rate` (default 25).
    ///
    /// # Errors
    /// If `div_factor` is not `> 1` and finite.
    pub fn div_factor(mut self, div_factor: f64) -> Result<OneCycle> {
        self.div_factor = check("OneCycle", "div_factor", div_factor, Range::AboveOne)?;
        Ok(self)
    }

    /// Sets the ratio `initial rate / final rate` (default 1e4).
    ///
    /// # Errors
    /// If `final_div_factor` is not `> 1` and finite.
    pub fn final_div_factor(mut self, final_div_factor: f64) -> Result<OneCycle> {
        self.final_div_factor = check(
            "OneCycle",
            "final_div_factor",
            final_div_factor,
            Range::AboveOne,
        )?;
        Ok(self)
    }

    /// Sets how the rate moves within a phase (default [`Anneal::Cos`]).
    pub fn anneal(mut self, anneal: Anneal) -> OneCycle {
        self.anneal = anneal;
        self
    }

    /// The step (a real number) where phase 1 ends, as PyTorch computes it.
    fn phase_1_end(&self) -> f64 {
        self.pct_start * self.total_steps as f64 - 1.0
    }

    /// Refuses a phase of zero length, where PyTorch divides 0 by 0.
    fn check_phases(self) -> Result<OneCycle> {
        let (end_1, end_2) = (self.phase_1_end(), (self.total_steps - 1) as f64);
        if end_1 == 0.0 || end_1 >= end_2 {
            let which = if end_1 == 0.0 { "rising" } else { "falling" };
            return Err(Error::InvalidConfig {
                owner: "OneCycle",
                detail: format!(
                    "pct_start = {} with total_steps = {} leaves the {which} phase zero steps \
                     long (the rise ends at step pct_start·total_steps − 1 = {end_1}); choose \
                     another pct_start",
                    self.pct_start, self.total_steps
                ),
            });
        }
        Ok(self)
    }
}

impl Schedule for OneCycle {
    fn lr_at(&self, step: u64) -> f64 {
        let initial = self.max_lr / self.div_factor;
        let min = initial / self.final_div_factor;
        if step >= self.total_steps {
            return min;
        }
        let (k, end_1) = (step as f64, self.phase_1_end());
        let (from, to, start, end) = if k <= end_1 {
            (0.0, end_1, initial, self.max_lr)
        } else {
            (end_1, (self.total_steps - 1) as f64, self.max_lr, min)
        };
        let pct = (k - from) / (to - from);
        // PyTorch's `_annealing_cos` and `_annealing_linear`, in their order of operations.
        match self.anneal {
            Anneal::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            Anneal::Linear => (end - start) * pct + start,
        }
    }

    fn len(&self) -> Option<u64> {
        Some(self.total_steps)
    }
}

/// Whether [`ReduceOnPlateau`]'s metric improves by going down or up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Lower is better (a loss).
    #[default]
    Min,
    /// Higher is better (an accuracy).
    Max,
}

/// How [`ReduceOnPlateau`] measures a significant improvement over the best metric `best`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThresholdMode {
    /// Relative: better than `best·(1 − threshold)` ([`Mode::Min`]) or `best·(1 + threshold)`
    /// ([`Mode::Max`]).
    #[default]
    Rel,
    /// Absolute: better than `best − threshold` ([`Mode::Min`]) or `best + threshold`
    /// ([`Mode::Max`]).
    Abs,
}

/// Divides the learning rate by `1/factor` when a metric stops improving. PyTorch:
/// `ReduceLROnPlateau`, to the comparison.
///
/// Unlike a [`Schedule`] it has state: call [`observe`](ReduceOnPlateau::observe) once per
/// epoch with the validation metric; it returns the learning rate to use next. Each call:
/// 1. if the metric beats the best so far by the threshold (see [`ThresholdMode`]), it becomes
///    the best and the count of bad epochs restarts at 0; otherwise the count grows by 1;
/// 2. during a cooldown, the cooldown counter drops by 1 and the count of bad epochs is reset to 0;
/// 3. once the count exceeds `patience`, the rate becomes `max(lr·factor, min_lr)` (unless
///    that lowers it by `eps` or less), the cooldown starts, and the count restarts at 0.
///
/// A NaN metric is a bad epoch, as in PyTorch, where `NaN < best` is false. As in PyTorch, the
/// relative threshold scales `best` itself, so it works the wrong way round for negative
/// metrics in [`Mode::Min`]: use [`ThresholdMode::Abs`] for those.
///
/// ```
/// use descent_optim::schedule::ReduceOnPlateau;
/// let mut plateau = ReduceOnPlateau::new(0.1)?.patience(1).factor(0.5)?;
/// assert_eq!(plateau.observe(1.0), 0.1); // the first metric is the best so far
/// assert_eq!(plateau.observe(1.0), 0.1); // one bad epoch: within patience
/// assert_eq!(plateau.observe(1.0), 0.05); // two bad epochs: halved
/// assert_eq!(plateau.observe(0.5), 0.05); // an improvement
/// # Ok::<(), descent_optim::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceOnPlateau {
    lr: f64,
    mode: Mode,
    factor: f64,
    patience: u64,
    threshold: f64,
    threshold_mode: ThresholdMode,
    cooldown: u64,
    min_lr: f64,
    eps: f64,
    best: f64,
    num_bad_epochs: u64,
    cooldown_counter: u64,
}

impl ReduceOnPlateau {
    /// Starts at `lr`, with PyTorch's defaults: [`Mode::Min`], `factor = 0.1`, `patience = 10`,
    /// `threshold = 1e-4` ([`ThresholdMode::Rel`]), `cooldown = 0`, `min_lr = 0`, `eps = 1e-8`.
    ///
    /// # Errors
    /// If `lr` is not `> 0` and finite.
    pub fn new(lr: f64) -> Result<ReduceOnPlateau> {
        Ok(ReduceOnPlateau {
            lr: check("ReduceOnPlateau", "lr", lr, Range::Positive)?,
            mode: Mode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
            best: f64::INFINITY,
            num_bad_epochs: 0,
            cooldown_counter: 0,
        })
    }

    /// Sets whether the metric should go down or up (default [`Mode::Min`]). It forgets the
    /// best metric seen.
    pub fn mode(mut self, mode: Mode) -> ReduceOnPlateau {
        self.mode = mode;
        self.best = match mode {
            Mode::Min => f64::INFINITY,
            Mode::Max => f64::NEG_INFINITY,
        };
        self
    }

    /// Sets the factor the rate is multiplied by on a plateau (default 0.1).
    ///
    /// # Errors
    /// If `factor` is not in `(0, 1)`.
    pub fn factor(mut self, factor: f64) -> Result<ReduceOnPlateau> {
        self.factor = check(
            "ReduceOnPlateau",
            "factor",
            factor,
            Range::AboveZeroBelowOne,
        )?;
        Ok(self)
    }

    /// Sets how many bad epochs in a row are tolerated before the rate drops (default 10).
    pub fn patience(mut self, patience: u64) -> ReduceOnPlateau {
        self.patience = patience;
        self
    }

    /// Sets the improvement that counts (default 1e-4, relative).
    ///
    /// # Errors
    /// If `threshold` is not `>= 0` and finite, or is 1 or more while the threshold mode is
    /// [`ThresholdMode::Rel`] (set [`ThresholdMode::Abs`] first for a large absolute threshold).
    pub fn threshold(mut self, threshold: f64) -> Result<ReduceOnPlateau> {
        self.threshold = check(
            "ReduceOnPlateau",
            "threshold",
            threshold,
            Range::NonNegative,
        )?;
        self.check_threshold()
    }

    /// Sets how the threshold is applied (default [`ThresholdMode::Rel`]).
    ///
    /// # Errors
    /// If the mode is [`ThresholdMode::Rel`] and the threshold is 1 or more.
    pub fn threshold_mode(mut self, threshold_mode: ThresholdMode) -> Result<ReduceOnPlateau> {
        self.threshold_mode = threshold_mode;
        self.check_threshold()
    }

    /// Sets how many epochs after a drop pass before bad epochs count again (default 0).
    pub fn cooldown(mut self, cooldown: u64) -> ReduceOnPlateau {
        self.cooldown = cooldown;
        self
    }

    /// Sets the floor of the rate (default 0).
    ///
    /// # Errors
    /// If `min_lr` is not `>= 0` and finite, or is not below the current rate.
    pub fn min_lr(mut self, min_lr: f64) -> Result<ReduceOnPlateau> {
        self.min_lr = check("ReduceOnPlateau", "min_lr", min_lr, Range::NonNegative)?;
        if self.min_lr >= self.lr {
            return Err(Error::InvalidConfig {
                owner: "ReduceOnPlateau",
                detail: format!("min_lr = {min_lr} must be below lr = {}", self.lr),
            });
        }
        Ok(self)
    }

    /// Sets the smallest drop applied (default 1e-8): a drop of `eps` or less is skipped.
    ///
    /// # Errors
    /// If `eps` is not `>= 0` and finite.
    pub fn eps(mut self, eps: f64) -> Result<ReduceOnPlateau> {
        self.eps = check("ReduceOnPlateau", "eps", eps, Range::NonNegative)?;
        Ok(self)
    }

    /// A relative threshold of 1 or more makes the first comparison `metric < ∞·0 = NaN`.
    fn check_threshold(self) -> Result<ReduceOnPlateau> {
        if self.threshold_mode == ThresholdMode::Rel {
            check(
                "ReduceOnPlateau",
                "threshold",
                self.threshold,
                Range::RelativeThreshold,
            )?;
        }
        Ok(self)
    }

    /// Records the metric of one epoch and returns the learning rate to use next.
    pub fn observe(&mut self, metric: f64) -> f64 {
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs = self.num_bad_epochs.saturating_add(1);
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.patience {
            let reduced = (self.lr * self.factor).max(self.min_lr);
            if self.lr - reduced > self.eps {
                self.lr = reduced;
            }
            self.cooldown_counter = self.cooldown;
            self.num_bad_epochs = 0;
        }
        self.lr
    }

    /// Whether `metric` beats the best so far; false for NaN.
    fn is_better(&self, metric: f64) -> bool {
        match (self.mode, self.threshold_mode) {
            (Mode::Min, ThresholdMode::Rel) => metric < self.best * (1.0 - self.threshold),
            (Mode::Min, ThresholdMode::Abs) => metric < self.best - self.threshold,
            (Mode::Max, ThresholdMode::Rel) => metric > self.best * (self.threshold + 1.0),
            (Mode::Max, ThresholdMode::Abs) => metric > self.best + self.threshold,
        }
    }

    /// The learning rate to use next.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// The best metric seen, or infinity in the wrong direction before the first one.
    pub fn best(&self) -> f64 {
        self.best
    }

    /// What changes as metrics arrive, to save beside a checkpoint: the other schedules are pure
    /// functions of the step, this one has a memory.
    ///
    /// ```
    /// use descent_optim::schedule::ReduceOnPlateau;
    /// let mut a = ReduceOnPlateau::new(0.1)?.patience(0);
    /// a.observe(1.0);
    /// a.observe(2.0); // a bad epoch beyond patience: the rate drops
    /// let mut b = ReduceOnPlateau::new(0.1)?.patience(0);
    /// b.load_state(&a.state())?;
    /// assert_eq!((b.observe(3.0), b.best()), (a.observe(3.0), a.best()));
    /// # Ok::<(), descent_optim::Error>(())
    /// ```
    pub fn state(&self) -> PlateauState {
        PlateauState {
            lr: self.lr,
            best: self.best,
            num_bad_epochs: self.num_bad_epochs,
            cooldown_counter: self.cooldown_counter,
        }
    }

    /// Restores a [`ReduceOnPlateau::state`] into a schedule built with the same settings.
    ///
    /// # Errors
    /// If the state's `lr` is not `> 0` and finite, or below `min_lr`; nothing changes then.
    pub fn load_state(&mut self, state: &PlateauState) -> Result<()> {
        let lr = check("ReduceOnPlateau", "lr", state.lr, Range::Positive)?;
        if lr < self.min_lr {
            return Err(Error::InvalidConfig {
                owner: "ReduceOnPlateau",
                detail: format!("the saved lr = {lr} is below min_lr = {}", self.min_lr),
            });
        }
        self.lr = lr;
        self.best = state.best;
        self.num_bad_epochs = state.num_bad_epochs;
        self.cooldown_counter = state.cooldown_counter;
        Ok(())
    }
}

/// The memory of a [`ReduceOnPlateau`], from [`ReduceOnPlateau::state`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlateauState {
    /// The current learning rate.
    pub lr: f64,
    /// The best metric seen.
    pub best: f64,
    /// Bad epochs since the last improvement or reduction.
    pub num_bad_epochs: u64,
    /// Epochs of cooldown left.
    pub cooldown_counter: u64,
}
