//! [`Var`]: a value recorded on a [`Tape`](crate::Tape), and the one function that records ops.
//!
//! Every differentiable op has a `Var` method beside its `Tensor` method, in the same `ops/` file,
//! with its backward rule right below. They all go through `Var::record`: it checks the
//! operands share a live tape, runs the forward, and appends one node.

use crate::error::{Error, Result, or_panic};
use crate::ops::Op;
use crate::tape::{Kind, NONE, Node, NodeInputs, Phase, TapeInner};
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::panic::Location;
use std::rc::{Rc, Weak};
use std::time::Instant;

/// A tensor value recorded on a tape: the handle ops and `backward` work on.
///
/// Cloning is cheap (the value's buffer is shared). A `Var` holds only a weak reference to its
/// tape: once the [`Tape`](crate::Tape) is dropped, the value stays readable but no op can be
/// recorded on it.
#[derive(Clone)]
pub struct Var {
    value: Tensor,
    /// Position on the tape; `None` for a value computed under `no_grad` (not recorded).
    pub(crate) node: Option<u32>,
    requires_grad: bool,
    pub(crate) tape: Weak<RefCell<TapeInner>>,
    pub(crate) tape_id: u64,
}

/// The output of an op's forward: its value and what its backward rule needs.
pub(crate) struct Recorded {
    pub(crate) value: Tensor,
    pub(crate) op: Op,
}

impl Var {
    pub(crate) fn new(
        value: Tensor,
        node: Option<u32>,
        requires_grad: bool,
        tape: &Rc<RefCell<TapeInner>>,
        tape_id: u64,
    ) -> Var {
        Var {
            value,
            node,
            requires_grad,
            tape: Rc::downgrade(tape),
            tape_id,
        }
    }

    /// The value.
    pub fn value(&self) -> &Tensor {
        &self.value
    }

    /// The value, consuming the handle.
    pub fn into_value(self) -> Tensor {
        self.value
    }

    /// The dimensions of the value.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// Whether a gradient flows back through this value to a parameter or variable.
    pub fn requires_grad(&self) -> bool {
        self.requires_grad
    }

    /// A weak handle to the tape this value was recorded on, to register parameters or constants
    /// on it (what a module's `forward` does); see [`TapeRef`](crate::TapeRef).
    pub fn tape(&self) -> crate::TapeRef {
        crate::TapeRef::new(self.tape.clone(), self.tape_id)
    }

    /// The position of this value on its tape (`None` if computed under `no_grad`).
    pub fn position(&self) -> Option<usize> {
        self.node.map(|n| n as usize)
    }

    /// The same value cut from the graph: a constant through which no gradient flows
    /// (as `torch.Tensor.detach`). Records nothing.
    pub fn detach(&self) -> Var {
        Var {
            value: self.value.clone(),
            node: None,
            requires_grad: false,
            tape: self.tape.clone(),
            tape_id: self.tape_id,
        }
    }

    /// The tape of `inputs`, checked to be one live, unconsumed tape.
    fn tape_of(op: &'static str, inputs: &[&Var]) -> Result<Rc<RefCell<TapeInner>>> {
        let first = inputs[0];
        if inputs.iter().any(|v| v.tape_id != first.tape_id) {
            return Err(Error::MixedTapes { op });
        }
        let tape = first.tape.upgrade().ok_or(Error::TapeDropped { op })?;
        tape.borrow().check_usable(op, first.tape_id)?;
        Ok(tape)
    }

    /// Runs an op's forward on `inputs` and records it: the one entry point of every `Var` op.
    ///
    /// The node keeps the op's saved tensors only if an input requires a gradient; under
    /// `no_grad` nothing is recorded at all.
    #[track_caller]
    pub(crate) fn record(
        name: &'static str,
        inputs: &[&Var],
        forward: impl FnOnce() -> Result<Recorded>,
    ) -> Result<Var> {
        let location = Location::caller();
        let tape = Var::tape_of(name, inputs)?;
        let (recording, profiling) = {
            let t = tape.borrow();
            (t.no_grad == 0, t.profile.is_some())
        };
        let start = profiling.then(Instant::now);
        let Recorded { value, op } = forward()?;
        let tape_id = inputs[0].tape_id;
        if !recording {
            return Ok(Var::new(value, None, false, &tape, tape_id));
        }
        let requires_grad = inputs.iter().any(|v| v.requires_grad);
        let mut t = tape.borrow_mut();
        if let Some(start) = start {
            t.profile_add(name, Phase::Forward, start.elapsed());
        }
        let (kind, saved_bytes) = if requires_grad {
            let bytes = op.saved_bytes();
            (Kind::Op(op), bytes)
        } else {
            (Kind::Constant, 0)
        };
        let id = t.nodes.len();
        t.saved_bytes += saved_bytes;
        let inputs = input_nodes(inputs);
        t.nodes.push(Node {
            kind,
            inputs,
            requires_grad,
            name,
            shape: value.dims(),
            location,
        });
        if t.anomaly_mode {
            t.check_anomaly(Phase::Forward, id, &value);
        }
        drop(t);
        Ok(Var::new(
            value,
            Some(id as u32),
            requires_grad,
            &tape,
            tape_id,
        ))
    }

    /// Records a value computed from `inputs` through which no gradient flows (comparisons,
    /// argmax, one_hot): a constant node, so the graph export still shows where it came from.
    #[track_caller]
    pub(crate) fn record_constant(
        name: &'static str,
        inputs: &[&Var],
        forward: impl FnOnce() -> Result<Tensor>,
    ) -> Result<Var> {
        let location = Location::caller();
        let tape = Var::tape_of(name, inputs)?;
        let value = forward()?;
        let tape_id = inputs[0].tape_id;
        let mut t = tape.borrow_mut();
        if t.no_grad > 0 {
            drop(t);
            return Ok(Var::new(value, None, false, &tape, tape_id));
        }
        let id = t.nodes.len();
        t.nodes.push(Node {
            kind: Kind::Constant,
            inputs: input_nodes(inputs),
            requires_grad: false,
            name,
            shape: value.dims(),
            location,
        });
        drop(t);
        Ok(Var::new(value, Some(id as u32), false, &tape, tape_id))
    }
}

/// The tape positions of an op's inputs ([`NONE`] for an unrecorded one). Pushed one by one:
/// `collect` into a `SmallVec` goes through `Extend`'s reserve logic, ~120 instructions for one
/// element (W4: 4 % of all instructions).
fn input_nodes(inputs: &[&Var]) -> NodeInputs {
    let mut nodes = NodeInputs::new();
    for v in inputs {
        nodes.push(v.node.unwrap_or(NONE));
    }
    nodes
}

/// Unwraps the result of a `try_` op on variables, panicking at the user's line.
#[track_caller]
#[inline]
pub(crate) fn or_panic_var(r: Result<Var>) -> Var {
    or_panic(r)
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Var(#{}, requires_grad: {}, {:?})",
            self.node.map_or_else(|| "-".to_string(), |n| n.to_string()),
            self.requires_grad,
            self.value
        )
    }
}
