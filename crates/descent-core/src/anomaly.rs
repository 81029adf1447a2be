//! The report of anomaly mode ([`Tape::set_anomaly_mode`](crate::Tape::set_anomaly_mode)): where
//! the first NaN or infinity of a recording appeared.
//!
//! Its own module so that both the tape, which finds anomalies, and [`Error`](crate::Error),
//! which carries one, depend on it without depending on each other.

use std::fmt;

/// Where a value was produced: an op's forward result or a gradient its backward rule produced.
/// Anomaly reports and the per-op profile both tell the two apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// In an op's forward result.
    Forward,
    /// In the gradient an op's backward rule produced for one of its inputs.
    Backward,
}

/// The first non-finite value found in anomaly mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// Forward or backward.
    pub phase: Phase,
    /// The op, as `log`.
    pub op: &'static str,
    /// Its position on the tape.
    pub position: usize,
    /// The shapes of its inputs.
    pub input_shapes: Vec<Vec<usize>>,
    /// `file:line:column` of the user's call that recorded the op.
    pub location: String,
    /// `NaN` or `inf`.
    pub what: &'static str,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Forward => "forward result",
            Phase::Backward => "backward gradient",
        };
        write!(
            f,
            "anomaly: {} in the {phase} of `{}` (tape position {}, inputs {:?}) recorded at {}",
            self.what, self.op, self.position, self.input_shapes, self.location
        )
    }
}
