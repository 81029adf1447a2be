//! [`Constant`]: the same learning rate at every step, `lr_at(k) = lr`.

use super::Schedule;
use crate::hyper::{Range, check};
use descent_core::Result;

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
