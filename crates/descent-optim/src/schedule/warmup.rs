//! [`Warmup`]: a linear ramp into another schedule. With `w` warm-up steps, start factor `f` and
//! `base = inner.lr_at(0)`: `lr_at(k) = base·(f + (1 − f)·k/w)` for `k < w`, then
//! `inner.lr_at(k − w)`.

use super::Schedule;
use crate::hyper::{Range, check, check_count};
use descent_core::{Error, Result};

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
