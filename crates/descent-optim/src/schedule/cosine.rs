//! [`CosineAnnealing`]: half a cosine from `lr_max` down to `lr_min` over `period` steps,
//! `lr_at(k) = lr_min + (lr_max − lr_min)·(1 + cos(π·k/period))/2`, optionally restarted at
//! `lr_max` after each cycle, the cycles growing by a factor `t_mult` (warm restarts).

use super::Schedule;
use crate::hyper::{Range, check, check_count};
use descent_core::{Error, Result};
use std::f64::consts::PI;

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
