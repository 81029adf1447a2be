//! Range checks of hyperparameters. Each allowed range is written once, as the words of its
//! message beside the test they describe; a value outside its range, or NaN, is refused with
//! [`Error::InvalidHyperparameter`], naming the owner, the value and the range.

use descent_core::{Error, Result};

/// A range a hyperparameter must lie in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Range {
    /// `> 0 and finite`: a learning rate when an optimizer or a schedule is built, a limit.
    Positive,
    /// `>= 0 and finite`: a weight decay, an `eps`, a learning rate set during training.
    NonNegative,
    /// `> 1 and finite`: a division factor.
    AboveOne,
    /// `>= 1`: a count, as of steps (see [`check_count`]).
    AtLeastOne,
    /// `in [0, 1)`: a momentum, the factor of a running average.
    FromZeroBelowOne,
    /// `in [0, 1]`: a dampening.
    FromZeroToOne,
    /// `in (0, 1]`: a decay factor, a start factor.
    AboveZeroToOne,
    /// `in (0, 1)`: a fraction of the steps, a reduction factor.
    AboveZeroBelowOne,
    /// `in [0, 1)`, said with the absolute alternative: `ReduceOnPlateau`'s threshold in
    /// relative mode.
    RelativeThreshold,
}

impl Range {
    /// The range in words, as the message gives it.
    fn words(self) -> &'static str {
        match self {
            Range::Positive => "> 0 and finite",
            Range::NonNegative => ">= 0 and finite",
            Range::AboveOne => "> 1 and finite",
            Range::AtLeastOne => ">= 1",
            Range::FromZeroBelowOne => "in [0, 1)",
            Range::FromZeroToOne => "in [0, 1]",
            Range::AboveZeroToOne => "in (0, 1]",
            Range::AboveZeroBelowOne => "in (0, 1)",
            Range::RelativeThreshold => {
                "in [0, 1) in relative mode (>= 0 and finite in absolute mode)"
            }
        }
    }

    /// Whether `v` lies in the range; false for NaN.
    fn contains(self, v: f64) -> bool {
        match self {
            Range::Positive => v > 0.0 && v.is_finite(),
            Range::NonNegative => v >= 0.0 && v.is_finite(),
            Range::AboveOne => v > 1.0 && v.is_finite(),
            Range::AtLeastOne => v >= 1.0,
            Range::FromZeroBelowOne | Range::RelativeThreshold => (0.0..1.0).contains(&v),
            Range::FromZeroToOne => (0.0..=1.0).contains(&v),
            Range::AboveZeroToOne => v > 0.0 && v <= 1.0,
            Range::AboveZeroBelowOne => v > 0.0 && v < 1.0,
        }
    }
}

/// Checks hyperparameter `name` of `owner` (as `"Adam"`): `Ok(value)` if it lies in `range`.
pub(crate) fn check(
    owner: &'static str,
    name: &'static str,
    value: f64,
    range: Range,
) -> Result<f64> {
    if !range.contains(value) {
        return Err(Error::InvalidHyperparameter {
            owner,
            name,
            value,
            allowed: range.words(),
        });
    }
    Ok(value)
}

/// Checks a count (of steps, of epochs in a window): at least 1.
pub(crate) fn check_count(owner: &'static str, name: &'static str, value: u64) -> Result<u64> {
    check(owner, name, value as f64, Range::AtLeastOne).map(|_| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_lies_in_no_range() {
        let all = [
            Range::Positive,
            Range::NonNegative,
            Range::AboveOne,
            Range::AtLeastOne,
            Range::FromZeroBelowOne,
            Range::FromZeroToOne,
            Range::AboveZeroToOne,
            Range::AboveZeroBelowOne,
            Range::RelativeThreshold,
        ];
        for range in all {
            assert!(!range.contains(f64::NAN), "{range:?}");
        }
    }

    #[test]
    fn the_message_names_owner_value_and_range() {
        let e = check("Adam", "betas.0", 1.0, Range::FromZeroBelowOne).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Adam: betas.0 = 1 is not allowed; it must be in [0, 1)"
        );
        assert_eq!(check_count("StepLr", "step_size", 3), Ok(3));
    }
}
