//! Decays by a factor `γ = gamma` at set steps: [`StepLr`] (`lr_at(k) = lr·γ^⌊k/step_size⌋`),
//! [`MultiStepLr`] (`lr_at(k) = lr·γ^(number of milestones ≤ k)`) and [`ExponentialLr`]
//! (`lr_at(k) = lr·γ^k`).

use super::Schedule;
use crate::hyper::{Range, check, check_count};
use descent_core::{Error, Result};

/// Decays the learning rate by `gamma` every `step_size` steps:
/// `lr_at(k) = lr · gamma^⌊k / step_size⌋`. PyTorch: `StepLR`.
///
/// `gamma` must lie in `(0, 1]`: PyTorch accepts a `gamma` above 1, which grows the rate without
/// bound and is never a decay (use [`Warmup`](super::Warmup) for a rising rate).
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
