//! The one error type of descent: what an op, a tape, an optimizer or a schedule can refuse.
//!
//! Every crate of the workspace returns this [`Error`] (`descent_optim::Error` is the same type),
//! so a user's `?` works across them. Its `Display` is the message a user sees, and so is its
//! `Debug`: `unwrap()`, `expect()` and a `main` returning `Result` print the message, not the
//! variant's fields.

use std::fmt;

/// A shape, as error messages print it: `[2, 3]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ShapeDisplay(pub Vec<usize>);

impl fmt::Debug for ShapeDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for ShapeDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<&[usize]> for ShapeDisplay {
    fn from(s: &[usize]) -> Self {
        ShapeDisplay(s.to_vec())
    }
}

/// Everything descent can refuse, each naming the op (or optimizer, or schedule) and the values
/// involved.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// Two shapes that the op cannot combine.
    ShapeMismatch {
        /// The op, as `add` or `matmul`.
        op: &'static str,
        /// The first operand's shape.
        lhs: ShapeDisplay,
        /// The second operand's shape.
        rhs: ShapeDisplay,
        /// What exactly differs, e.g. `inner dimensions differ (784 vs 128)`.
        detail: String,
    },
    /// Operands of different element types.
    DTypeMismatch {
        /// The op.
        op: &'static str,
        /// The first operand's type.
        lhs: crate::DType,
        /// The second operand's type.
        rhs: crate::DType,
    },
    /// An axis outside `-rank..rank`, or named twice.
    InvalidAxis {
        /// The op.
        op: &'static str,
        /// The axis as given.
        axis: isize,
        /// The shape it was applied to.
        shape: ShapeDisplay,
    },
    /// A buffer whose length does not match the element count of a shape.
    ElementCount {
        /// The op, as `from_vec` or `reshape`.
        op: &'static str,
        /// Elements given or held.
        got: usize,
        /// The requested shape.
        shape: ShapeDisplay,
    },
    /// A tensor that cannot be allocated: its element count or byte size overflows `usize`, or
    /// the allocator refused the memory.
    OutOfMemory {
        /// The op, as `zeros` or `matmul`.
        op: &'static str,
        /// The shape of the tensor it would have made.
        shape: ShapeDisplay,
        /// Its element type.
        dtype: crate::DType,
        /// The bytes asked for, or `None` if the count overflows.
        bytes: Option<usize>,
    },
    /// An index outside its dimension (negative, or not below the dimension's size).
    IndexOutOfRange {
        /// The op, as `index_select`.
        op: &'static str,
        /// The index value as found.
        index: i64,
        /// The size of the dimension indexed.
        size: usize,
        /// The axis indexed.
        axis: usize,
    },
    /// Any other argument outside what the op accepts.
    InvalidArgument {
        /// The op.
        op: &'static str,
        /// What is wrong, with the values.
        message: String,
    },
    /// An op or `backward` on a tape that an earlier `backward` already consumed.
    TapeConsumed {
        /// The op, or `backward`.
        op: &'static str,
    },
    /// An op or `backward` on a variable whose tape has been dropped.
    TapeDropped {
        /// The op, or `backward`.
        op: &'static str,
    },
    /// Variables of two different tapes combined in one op.
    MixedTapes {
        /// The op.
        op: &'static str,
    },
    /// A non-finite value found by anomaly mode; the report names the op, its tape position,
    /// its input shapes and the user's source line.
    Anomaly(Box<crate::anomaly::Anomaly>),
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
    /// The loss or a gradient was NaN or infinite: the optimizer step was not taken and no
    /// parameter changed.
    NonFinite {
        /// `"loss"`, or the name (or position) of the parameter whose gradient is not finite.
        what: String,
        /// `"NaN"` or `"inf"`.
        value: &'static str,
        /// The step that was refused (1 for the first step).
        step: u64,
        /// The learning rate of that step.
        lr: f64,
        /// The loss of that step ([`Gradients::loss`](crate::Gradients::loss)), if known: a
        /// finite loss with a non-finite gradient points at an op, not at divergence.
        loss: Option<f64>,
    },
    /// An optimizer step whose `Gradients` hold a gradient for none of its parameters: they were
    /// computed for another model, or a clone (a cloned `Param` has a new id). Nothing changed.
    NoGradients {
        /// The optimizer, as `"Adam"`.
        owner: &'static str,
        /// How many parameters the step was given.
        params: usize,
    },
    /// An optimizer given again the gradients of the backward pass it applied last. Nothing
    /// changed.
    GradientsReused {
        /// The optimizer, as `"Adam"`.
        owner: &'static str,
        /// The step that applied them.
        step: u64,
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
    /// A training loop stopped because the loss climbed or blew up: the learning rate is likely
    /// too large. The parameters are those of the last step taken.
    Diverged {
        /// The training step (0-based) at which the loop stopped.
        step: u64,
        /// The learning rate of that step.
        lr: f64,
        /// A smaller learning rate to try.
        suggested_lr: f64,
        /// What the loss did, and how to turn the check off.
        detail: String,
    },
}

/// `x` with at most 4 significant digits, as a person would write a learning rate.
fn short(x: f64) -> String {
    let rounded: f64 = format!("{x:.3e}").parse().unwrap_or(x);
    let s = format!("{rounded}");
    if s.len() <= 8 { s } else { format!("{x:.3e}") }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ShapeMismatch {
                op,
                lhs,
                rhs,
                detail,
            } => write!(f, "{op}: {lhs} and {rhs} {detail}"),
            Error::DTypeMismatch { op, lhs, rhs } => {
                write!(
                    f,
                    "{op}: element types differ ({lhs:?} vs {rhs:?}); convert one with to_dtype"
                )
            }
            Error::InvalidAxis { op, axis, shape } => write!(
                f,
                "{op}: axis {axis} is out of range or repeated for shape {shape} (rank {})",
                shape.0.len()
            ),
            Error::ElementCount { op, got, shape } => {
                match shape.0.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
                    Some(n) => write!(
                        f,
                        "{op}: {got} elements do not fill shape {shape} ({n} elements)"
                    ),
                    None => write!(
                        f,
                        "{op}: {got} elements do not fill shape {shape} (its element count \
                         overflows)"
                    ),
                }
            }
            Error::OutOfMemory {
                op,
                shape,
                dtype,
                bytes: Some(bytes),
            } => write!(
                f,
                "{op}: cannot allocate a {dtype:?} tensor of shape {shape}: {bytes} bytes, out of \
                 memory"
            ),
            Error::OutOfMemory {
                op,
                shape,
                dtype,
                bytes: None,
            } => write!(
                f,
                "{op}: a {dtype:?} tensor of shape {shape} has more bytes than the address space \
                 (its element count or byte size overflows)"
            ),
            Error::IndexOutOfRange {
                op,
                index,
                size,
                axis,
            } => write!(
                f,
                "{op}: index {index} is out of range for axis {axis} of size {size} (indices must be in 0..{size})"
            ),
            Error::InvalidArgument { op, message } => write!(f, "{op}: {message}"),
            Error::TapeConsumed { op } => write!(
                f,
                "{op}: the tape was already consumed by backward(); record each step on a fresh \
                 Tape::new() (or call tape.reset())"
            ),
            Error::TapeDropped { op } => write!(
                f,
                "{op}: the tape this variable was recorded on has been dropped; keep the Tape \
                 alive until backward()"
            ),
            Error::MixedTapes { op } => write!(
                f,
                "{op}: the operands were recorded on two different tapes; record one forward \
                 pass on one tape"
            ),
            Error::Anomaly(a) => write!(f, "{a}"),
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
                loss,
            } => {
                if what == "loss" {
                    write!(f, "the loss is {value} at step {step}")?;
                } else {
                    write!(f, "the gradient of {what} contains {value} at step {step}")?;
                }
                write!(f, "; the step was not taken. ")?;
                if what != "loss" && loss.is_some_and(f64::is_finite) {
                    write!(
                        f,
                        "The loss is finite, so the parameters have probably not diverged: more \
                         likely an op was differentiated where its derivative is infinite or \
                         undefined (sqrt or powf below 1 at 0, log at 0, division by 0); \
                         tape.set_anomaly_mode(true) names the op"
                    )
                } else if *step == 1 {
                    write!(
                        f,
                        "This is the optimizer's first step, so no update (and no learning rate) \
                         has acted yet: check the inputs and targets for NaN or inf, and the \
                         model's initialisation (or the loss: log of 0, division by 0)"
                    )
                } else {
                    write!(
                        f,
                        "Training diverged: try a lower learning rate than {lr}, or clip \
                         gradients"
                    )
                }
            }
            Error::NoGradients { owner, params } => {
                let none = match params {
                    1 => "the parameter has no gradient".to_string(),
                    2 => "neither of the 2 parameters has a gradient".to_string(),
                    n => format!("none of the {n} parameters has a gradient"),
                };
                write!(
                    f,
                    "{owner}: {none} in these Gradients, so the step was not taken. Were they \
                     computed for another model, or for a clone of it (a cloned Param has a new \
                     id)? Step with the parameters the loss was computed from, each registered \
                     with tape.param"
                )
            }
            Error::GradientsReused { owner, step } => write!(
                f,
                "{owner}: these Gradients were already applied at step {step}, so the step was \
                 not taken. A backward pass gives one step: run a new forward and backward pass \
                 before stepping again (two optimizers over different parameters may share one \
                 pass)"
            ),
            Error::GradientMismatch { param, detail } => {
                write!(f, "the gradient of {param} does not fit it: {detail}")
            }
            Error::State { detail } => write!(f, "optimizer state: {detail}"),
            Error::File { path, detail } => write!(f, "{}: {detail}", path.display()),
            Error::Diverged {
                step,
                lr,
                suggested_lr,
                detail,
            } => write!(
                f,
                "training stopped at step {step}: {detail}. The learning rate {} is likely too \
                 large; try {}",
                short(*lr),
                short(*suggested_lr)
            ),
        }
    }
}

/// The message, as [`Display`](fmt::Display) writes it (as `anyhow` does): what `unwrap()`,
/// `expect()` and a `main` returning `Result` print is the message, not the variant's fields.
/// Match on the variant to read the fields.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// `Result` with descent's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Unwraps the result of a `try_` op, panicking with the error's message at the user's line.
#[track_caller]
#[inline]
pub(crate) fn or_panic<T>(r: Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

pub(crate) fn invalid(op: &'static str, message: impl Into<String>) -> Error {
    Error::InvalidArgument {
        op,
        message: message.into(),
    }
}
