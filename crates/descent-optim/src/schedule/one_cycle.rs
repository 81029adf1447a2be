//! [`OneCycle`]: the 1cycle policy. The rate rises from `initial = max_lr/div_factor` to `max_lr`
//! until step `e = pct_start·T − 1`, then falls to `initial/final_div_factor` at step `T − 1`;
//! within a phase from step `s` to `t`, with `pct = (k − s)/(t − s)`, it follows [`Anneal`]: half
//! a cosine `end + (start − end)/2·(1 + cos(π·pct))`, or a line `start + (end − start)·pct`.

use super::Schedule;
use crate::hyper::{Range, check, check_count};
use descent_core::{Error, Result};
use std::f64::consts::PI;

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
/// `max_lr/(div_factor·final_div_factor)`. PyTorch: `OneCycleLR(three_phase=False)`.
///
/// The momentum cycles inversely (PyTorch's `cycle_momentum=True`): down from `max_momentum`
/// (0.95) to `base_momentum` (0.85) while the rate rises, back up while it falls, by the same
/// [`Anneal`] and `pct`. [`Schedule::momentum_at`] gives it; set it each step with
/// [`Optimizer::set_momentum`](crate::Optimizer::set_momentum) (SGD's momentum, Adam's `β1`),
/// or leave it (PyTorch's `cycle_momentum=False`) by not setting it.
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
/// // The momentum goes the other way: 0.95 at the start, 0.85 at the peak, 0.95 at the end.
/// assert_eq!(schedule.momentum_at(0), Some(0.95));
/// assert!((schedule.momentum_at(1).unwrap() - (0.95 - 0.1 / 1.2)).abs() < 1e-15);
/// assert!((schedule.momentum_at(10).unwrap() - 0.95).abs() < 1e-15);
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
    base_momentum: f64,
    max_momentum: f64,
}

impl OneCycle {
    /// A one-cycle schedule peaking at `max_lr`, over `total_steps` steps, with PyTorch's
    /// defaults: `pct_start = 0.3`, `div_factor = 25`, `final_div_factor = 1e4`, cosine anneal,
    /// momentum from 0.95 down to 0.85 and back.
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
            base_momentum: 0.85,
            max_momentum: 0.95,
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

    /// Sets the momentum range (default 0.85 and 0.95, PyTorch's `base_momentum` and
    /// `max_momentum`): the momentum is `max_momentum` at the start and the end, `base_momentum`
    /// at the peak of the rate.
    ///
    /// # Errors
    /// If a value is not in [0, 1), or `base_momentum > max_momentum`.
    pub fn momentum_range(mut self, base_momentum: f64, max_momentum: f64) -> Result<OneCycle> {
        let check_m = |name, v| check("OneCycle", name, v, Range::FromZeroBelowOne);
        self.base_momentum = check_m("base_momentum", base_momentum)?;
        self.max_momentum = check_m("max_momentum", max_momentum)?;
        if base_momentum > max_momentum {
            return Err(Error::InvalidConfig {
                owner: "OneCycle",
                detail: format!(
                    "base_momentum = {base_momentum} is above max_momentum = {max_momentum}; \
                     the momentum is lowest (base) where the rate peaks: swap them"
                ),
            });
        }
        Ok(self)
    }

    /// The phase of `step` (below `total_steps`) as `(pct, phase 1?)`, as PyTorch computes it.
    fn phase(&self, step: u64) -> (f64, bool) {
        let (k, end_1) = (step as f64, self.phase_1_end());
        let (from, to, rising) = if k <= end_1 {
            (0.0, end_1, true)
        } else {
            (end_1, (self.total_steps - 1) as f64, false)
        };
        ((k - from) / (to - from), rising)
    }

    /// [`Anneal`]'s interpolation from `start` to `end` at `pct`.
    fn interpolate(&self, start: f64, end: f64, pct: f64) -> f64 {
        // PyTorch's `_annealing_cos` and `_annealing_linear`, in their order of operations.
        match self.anneal {
            Anneal::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            Anneal::Linear => (end - start) * pct + start,
        }
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
        match self.phase(step) {
            (pct, true) => self.interpolate(initial, self.max_lr, pct),
            (pct, false) => self.interpolate(self.max_lr, min, pct),
        }
    }

    /// The momentum at `step`: from `max_momentum` down to `base_momentum` in phase 1, back up
    /// in phase 2, then `max_momentum`.
    fn momentum_at(&self, step: u64) -> Option<f64> {
        let (base, max) = (self.base_momentum, self.max_momentum);
        if step >= self.total_steps {
            return Some(max);
        }
        Some(match self.phase(step) {
            (pct, true) => self.interpolate(max, base, pct),
            (pct, false) => self.interpolate(base, max, pct),
        })
    }

    fn len(&self) -> Option<u64> {
        Some(self.total_steps)
    }
}
