//! [`LossMonitor`]: says when training stalls or the loss climbs, the two faces of a badly chosen
//! learning rate.
//!
//! A learning rate that is too large makes the loss climb and then blow up (an optimizer step
//! then refuses the non-finite value, see [`Error::NonFinite`](crate::Error::NonFinite)); one that
//! is too small makes no visible progress, which is easy to mistake for a bug elsewhere or for
//! convergence. The monitor compares the mean loss of the last `window` steps with the mean of the
//! `window` steps before them and names what it sees.
//!
//! ```
//! use descent_optim::monitor::{LossMonitor, Progress};
//! let mut monitor = LossMonitor::new(10)?;
//! let mut last = Progress::Warmup;
//! for step in 0..40 {
//!     let loss = 1.0 - 1e-7 * step as f64; // a learning rate far too small
//!     last = monitor.observe(loss);
//! }
//! assert!(matches!(last, Progress::Stalled { .. }));
//! assert!(last.to_string().contains("learning rate may be too small"));
//! # Ok::<(), descent_optim::Error>(())
//! ```

use crate::hyper::{Range, check, check_count};
use descent_core::Result;
use std::collections::VecDeque;
use std::fmt;

/// What the loss did over the last two windows of steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// Fewer than two windows of losses seen so far.
    Warmup,
    /// The mean loss fell by at least the minimum relative improvement.
    Improving {
        /// `(previous − last) / |previous|` of the two window means.
        relative_change: f64,
    },
    /// The mean loss fell by less than the minimum relative improvement (or rose a little):
    /// converged, or a learning rate too small.
    Stalled {
        /// `(previous − last) / |previous|` of the two window means.
        relative_change: f64,
        /// The losses the comparison spans (two windows).
        steps: usize,
    },
    /// The mean loss rose by more than the allowed factor: a learning rate too large.
    Rising {
        /// The mean loss of the previous window.
        from: f64,
        /// The mean loss of the last window.
        to: f64,
    },
    /// A NaN or infinite loss.
    NonFinite,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Progress::Warmup => write!(f, "not enough steps yet to judge progress"),
            Progress::Improving { relative_change } => {
                write!(
                    f,
                    "improving: the mean loss fell by {:.3} %",
                    relative_change * 100.0
                )
            }
            Progress::Stalled {
                relative_change,
                steps,
            } => {
                let moved = if relative_change >= 0.0 {
                    "fell"
                } else {
                    "rose"
                };
                write!(
                    f,
                    "no progress: the mean loss {moved} by only {:.4} % over the last {steps} \
                     losses observed; if it is still far from what the model should reach, the \
                     learning rate may be too small",
                    relative_change.abs() * 100.0
                )
            }
            Progress::Rising { from, to } => write!(
                f,
                "the mean loss rose from {from:.4e} to {to:.4e}: the learning rate may be too \
                 large"
            ),
            Progress::NonFinite => write!(
                f,
                "the loss is not finite: training diverged; lower the learning rate"
            ),
        }
    }
}

/// Watches the loss step by step; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct LossMonitor {
    window: usize,
    min_improvement: f64,
    max_rise: f64,
    losses: VecDeque<f64>,
}

impl LossMonitor {
    /// A monitor comparing windows of `window` steps, stalled below a relative improvement of
    /// 1e-3 (0.1 %) per window, rising above a relative increase of 0.5 (50 %).
    ///
    /// # Errors
    /// If `window` is 0.
    pub fn new(window: usize) -> Result<LossMonitor> {
        check_count("LossMonitor", "window", window as u64)?;
        Ok(LossMonitor {
            window,
            min_improvement: 1e-3,
            max_rise: 0.5,
            losses: VecDeque::with_capacity(2 * window),
        })
    }

    /// The relative improvement per window below which progress is "stalled".
    ///
    /// # Errors
    /// If it is not in [0, 1).
    pub fn min_improvement(mut self, v: f64) -> Result<LossMonitor> {
        self.min_improvement = check("LossMonitor", "min_improvement", v, Range::FromZeroBelowOne)?;
        Ok(self)
    }

    /// The relative increase per window above which the loss is "rising".
    ///
    /// # Errors
    /// If it is not positive and finite.
    pub fn max_rise(mut self, v: f64) -> Result<LossMonitor> {
        self.max_rise = check("LossMonitor", "max_rise", v, Range::Positive)?;
        Ok(self)
    }

    /// The window length, in steps.
    pub fn window(&self) -> usize {
        self.window
    }

    /// The losses the monitor holds (at most two windows, oldest first): observing them again
    /// on a fresh monitor of the same settings restores its judgement (a resumed run does).
    pub fn recent(&self) -> Vec<f64> {
        self.losses.iter().copied().collect()
    }

    /// Records the loss of a step and judges the last two windows.
    pub fn observe(&mut self, loss: f64) -> Progress {
        if !loss.is_finite() {
            return Progress::NonFinite;
        }
        if self.losses.len() == 2 * self.window {
            self.losses.pop_front();
        }
        self.losses.push_back(loss);
        if self.losses.len() < 2 * self.window {
            return Progress::Warmup;
        }
        let mean =
            |it: std::collections::vec_deque::Iter<'_, f64>| it.sum::<f64>() / self.window as f64;
        let previous = mean(self.losses.range(..self.window));
        let last = mean(self.losses.range(self.window..));
        let scale = previous.abs().max(f64::MIN_POSITIVE);
        let relative_change = (previous - last) / scale;
        if -relative_change > self.max_rise {
            Progress::Rising {
                from: previous,
                to: last,
            }
        } else if relative_change < self.min_improvement {
            Progress::Stalled {
                relative_change,
                steps: 2 * self.window,
            }
        } else {
            Progress::Improving { relative_change }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(m: &mut LossMonitor, losses: impl IntoIterator<Item = f64>) -> Progress {
        losses
            .into_iter()
            .fold(Progress::Warmup, |_, l| m.observe(l))
    }

    #[test]
    fn judges_each_kind_of_curve() {
        let mut m = LossMonitor::new(5).unwrap();
        assert_eq!(
            feed(&mut m, (0..9).map(|k| 1.0 / (1.0 + k as f64))),
            Progress::Warmup
        );
        // Windows [1, 1/2, .., 1/5] and [1/6, .., 1/10]: the mean falls by about 74 %.
        assert!(
            matches!(m.observe(0.1), Progress::Improving { relative_change } if relative_change > 0.7)
        );

        let mut m = LossMonitor::new(5).unwrap();
        let p = feed(&mut m, (0..10).map(|k| 2.0 - 1e-6 * k as f64));
        let Progress::Stalled {
            relative_change,
            steps,
        } = p
        else {
            panic!("{p:?}")
        };
        assert!(relative_change > 0.0 && relative_change < 1e-5 && steps == 10);
        assert!(p.to_string().contains("too small"), "{p}");

        let mut m = LossMonitor::new(3).unwrap();
        let p = feed(&mut m, [1.0, 1.0, 1.0, 1.0, 2.0, 3.0]);
        assert_eq!(p, Progress::Rising { from: 1.0, to: 2.0 });
        assert!(p.to_string().contains("too large"), "{p}");

        assert_eq!(m.observe(f64::NAN), Progress::NonFinite);
    }

    #[test]
    fn the_windows_slide() {
        let mut m = LossMonitor::new(2).unwrap().min_improvement(0.1).unwrap();
        // Falling fast, then flat: the verdict follows the last four losses only.
        let p = feed(&mut m, [8.0, 4.0, 2.0, 1.0, 1.0, 1.0, 1.0]);
        assert!(matches!(p, Progress::Stalled { .. }), "{p:?}");
        assert!(matches!(m.observe(0.1), Progress::Improving { .. }));
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(
            LossMonitor::new(0)
                .unwrap_err()
                .to_string()
                .contains("window = 0")
        );
        let m = LossMonitor::new(1).unwrap();
        assert!(m.clone().min_improvement(1.0).is_err());
        assert!(m.max_rise(0.0).is_err());
    }
}
