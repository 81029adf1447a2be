//! [`Error`]: what can go wrong when building an optimizer or schedule, or taking a step.

use std::fmt;

/// The result of an optimizer call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An optimizer error. Every message names the value at fault and, for a hyperparameter, the
/// range it must lie in.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A hyperparameter outside its allowed range, refused when the optimizer or schedule is
    /// built (or when it is set).
    InvalidHyperparameter {
        /// Who refused it, as `"Adam"` or `"CosineAnnealing"`.
        owner: &'static str,
        /// The hyperparameter, as `"lr"` or `"betas.0"`.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range, in words, as `"> 0 and finite"`.
        allowed: &'static str,
    },
    /// Hyperparameters that contradict each other (as Nesterov without momentum).
    InvalidConfig {
        /// Who refused it.
        owner: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The loss or a gradient was NaN or infinite: the step was not taken and no parameter
    /// changed.
    NonFinite {
        /// `"loss"`, or the name (or position) of the parameter whose gradient is not finite.
        what: String,
        /// `"NaN"` or `"inf"`.
        value: &'static str,
        /// The step that was refused (1 for the first step).
        step: u64,
        /// The learning rate of that step.
        lr: f64,
    },
    /// A gradient whose shape or element type does not match its parameter's.
    GradientMismatch {
        /// The parameter's name (or position).
        param: String,
        /// What differs.
        detail: String,
    },
    /// Optimizer state that does not fit the optimizer or the parameters it is loaded into.
    State {
        /// What is wrong.
        detail: String,
    },
    /// A checkpoint file that cannot be written or read, or does not fit what it is loaded into;
    /// nothing was changed.
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// An error of the tensor core.
    Core(descent_core::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidHyperparameter {
                owner,
                name,
                value,
                allowed,
            } => write!(
                f,
                "{owner}: {name} = {value} is not allowed; it must be {allowed}"
            ),
            Error::InvalidConfig { owner, detail } => write!(f, "{owner}: {detail}"),
            Error::NonFinite {
                what,
                value,
                step,
                lr,
            } => {
                if what == "loss" {
                    write!(f, "the loss is {value} at step {step}")?;
                } else {
                    write!(f, "the gradient of {what} contains {value} at step {step}")?;
                }
                write!(
                    f,
                    "; the step was not taken. Training diverged: try a lower learning rate \
                     than {lr}, or clip gradients"
                )
            }
            Error::GradientMismatch { param, detail } => {
                write!(f, "the gradient of {param} does not fit it: {detail}")
            }
            Error::State { detail } => write!(f, "optimizer state: {detail}"),
            Error::File { path, detail } => write!(f, "{}: {detail}", path.display()),
            Error::Core(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Core(e) => Some(e),
            _ => None,
        }
    }
}

impl From<descent_core::Error> for Error {
    fn from(e: descent_core::Error) -> Error {
        Error::Core(e)
    }
}

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
