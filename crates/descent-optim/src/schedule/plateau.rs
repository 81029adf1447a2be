//! [`ReduceOnPlateau`]: the one stateful schedule. Fed a metric once per epoch, it multiplies the
//! rate by `factor` (down to `min_lr`) once the metric has not beaten its best by the threshold
//! for more than `patience` epochs: `lr ← max(lr·factor, min_lr)`, then `cooldown` epochs pass
//! before bad epochs count again.

use crate::hyper::{Range, check};
use descent_core::{Error, Result};

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
/// Unlike a [`Schedule`](super::Schedule) it has state: call [`observe`](ReduceOnPlateau::observe) once per
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
