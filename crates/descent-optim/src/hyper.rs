//! Range checks of hyperparameters, refused with
//! [`Error::InvalidHyperparameter`](crate::Error::InvalidHyperparameter).

use descent_core::{Error, Result};

/// Checks a hyperparameter: `Ok(value)` if `ok(value)` holds and it is not NaN.
pub(crate) fn check(
    owner: &'static str,
    name: &'static str,
    value: f64,
    allowed: &'static str,
    ok: impl Fn(f64) -> bool,
) -> Result<f64> {
    if value.is_nan() || !ok(value) {
        return Err(Error::InvalidHyperparameter {
            owner,
            name,
            value,
            allowed,
        });
    }
    Ok(value)
}
