//! The backward pass: one reverse walk over the tape.
//!
//! The walk is a loop, not a recursion (a 100,000-op chain cannot overflow the stack). It starts at
//! the output's node and visits only nodes that received a gradient; each node's backward rule
//! (in its `ops/` file) turns the node's gradient into gradients for the inputs that require one,
//! which are added to what those inputs already received (a value used twice gets both). A node's
//! saved tensors and its gradient are freed as soon as its rule has run. Leaves hand their
//! gradients to [`Gradients`].

use crate::error::{Error, Result, invalid, or_panic};
use crate::gradients::Gradients;
use crate::ops::GradsIn;
use crate::tape::{Kind, NONE, Node, NodeInputs, Phase, anomaly_at, recycle_nodes};
use crate::tensor::Tensor;
use crate::var::Var;
use std::cell::Cell;
use std::time::Instant;

impl Var {
    /// Backpropagates from this scalar (one-element) value and returns the gradient of every
    /// parameter and variable it depends on. Consumes the tape: its nodes are freed.
    ///
    /// # Panics
    /// As [`Var::try_backward`] errs.
    #[track_caller]
    pub fn backward(&self) -> Gradients {
        or_panic(self.try_backward())
    }

    /// Backpropagates from this scalar value; see [`Var::backward`].
    ///
    /// # Errors
    /// If the value has more than one element (use [`Var::backward_with`]), nothing it depends on
    /// requires a gradient, the tape was consumed or dropped, or anomaly mode found a NaN or
    /// infinity.
    pub fn try_backward(&self) -> Result<Gradients> {
        if self.value().numel() != 1 {
            return Err(invalid(
                "backward",
                format!(
                    "the output has shape {:?}, not one element; pass the gradient of the \
                     output explicitly with backward_with(seed)",
                    self.shape()
                ),
            ));
        }
        let seed = Tensor::ones_like(self.value());
        self.backward_with(&seed)
    }

    /// Backpropagates from a value of any shape, given `seed`, the gradient of the final scalar
    /// with respect to this value (as `y.backward(gradient=seed)` in PyTorch).
    ///
    /// ```
    /// use descent_core::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::from_vec(vec![1.0f64, 2.0], [2]));
    /// let y = x.square(); // dy/dx = 2x
    /// let g = y.backward_with(&Tensor::from_vec(vec![1.0f64, 10.0], [2])).unwrap();
    /// assert_eq!(g.wrt(&x).unwrap().to_vec_f64(), vec![2.0, 40.0]);
    /// ```
    ///
    /// # Errors
    /// If `seed`'s shape or element type differs from the value's, or as [`Var::try_backward`].
    pub fn backward_with(&self, seed: &Tensor) -> Result<Gradients> {
        if seed.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op: "backward",
                lhs: self.shape().into(),
                rhs: seed.shape().into(),
                detail: "differ: the seed must have the output's shape".to_string(),
            });
        }
        if seed.dtype() != self.value().dtype() {
            return Err(Error::DTypeMismatch {
                op: "backward",
                lhs: self.value().dtype(),
                rhs: seed.dtype(),
            });
        }
        let tape = self
            .tape
            .upgrade()
            .ok_or(Error::TapeDropped { op: "backward" })?;
        tape.borrow().check_usable("backward", self.tape_id)?;
        let root = match self.node {
            Some(n) if self.requires_grad() => n as usize,
            _ => {
                return Err(invalid(
                    "backward",
                    "the output does not depend on any parameter or variable that requires a \
                     gradient (register parameters with tape.param, variables with tape.var)",
                ));
            }
        };
        // Take the nodes out, so the tape is consumed (and freed) whatever happens below.
        let (mut nodes, anomaly_mode, profiling, tape_id) = {
            let mut t = tape.borrow_mut();
            t.consumed = true;
            t.saved_bytes = 0;
            (
                std::mem::take(&mut t.nodes),
                t.anomaly_mode,
                t.profile.is_some(),
                t.id,
            )
        };
        nodes.truncate(root + 1);
        let mut grads = take_grads();
        grads.resize_with(root + 1, || None);
        grads[root] = Some(seed.contiguous());
        let mut out = Gradients::new(tape_id);
        if self.value().numel() == 1 && seed.try_item()? == 1.0 {
            out.set_loss(self.value().try_item()?);
        }
        let mut times: Vec<(&'static str, std::time::Duration)> = Vec::new();
        let mut first_error = None;
        for i in (0..=root).rev() {
            let Some(g) = grads[i].take() else {
                continue;
            };
            // Matched in place: moving the kind out would copy the largest op node (a memcpy
            // per node, 11 % of W4's time).
            match &nodes[i].kind {
                &Kind::Param(id) => out.add_param(id, g),
                Kind::Leaf => out.add_leaf(i as u32, g),
                Kind::Constant | Kind::Done => {}
                Kind::Op(op) => {
                    let inputs = NodeInputs::from_slice(&nodes[i].inputs);
                    let need = inputs.iter().map(|&j| requires(&nodes, j)).collect();
                    let mut gi = GradsIn::new(need);
                    let start = profiling.then(Instant::now);
                    if let Err(e) = op.backward(&g, &mut gi) {
                        first_error = Some(e);
                        break;
                    }
                    if let Some(start) = start {
                        times.push((nodes[i].name, start.elapsed()));
                    }
                    // The saved tensors go now, not at the end of the walk.
                    nodes[i].kind = Kind::Done;
                    for slot in 0..gi.len() {
                        let (Some(gin), j) = (gi.take(slot), inputs[slot]) else {
                            continue;
                        };
                        if !requires(&nodes, j) {
                            continue;
                        }
                        debug_assert_eq!(
                            gin.shape(),
                            nodes[j as usize].shape.as_slice(),
                            "backward rule of {} gave a gradient of the wrong shape",
                            nodes[i].name
                        );
                        if anomaly_mode {
                            let mut t = tape.borrow_mut();
                            if t.anomaly.is_none() {
                                t.anomaly = anomaly_at(&nodes, Phase::Backward, i, &gin);
                            }
                        }
                        let slot = &mut grads[j as usize];
                        *slot = Some(match slot.take() {
                            None => gin,
                            Some(prev) => prev.try_add(&gin)?,
                        });
                    }
                }
            }
        }
        recycle_grads(grads);
        recycle_nodes(nodes);
        let mut t = tape.borrow_mut();
        for (name, time) in times {
            t.profile_add(name, Phase::Backward, time);
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if let Some(a) = t.anomaly.clone() {
            return Err(Error::Anomaly(Box::new(a)));
        }
        Ok(out)
    }
}

thread_local! {
    /// The empty pending-gradient storage of this thread's last backward pass, with its capacity.
    static SPARE_GRADS: Cell<Vec<Option<Tensor>>> = const { Cell::new(Vec::new()) };
}

/// Empty storage for the pending gradients of a walk: this thread's spare one.
fn take_grads() -> Vec<Option<Tensor>> {
    SPARE_GRADS.try_with(Cell::take).unwrap_or_default()
}

/// Empties `grads` and keeps the storage for this thread's next walk (as the tape's nodes,
/// [`recycle_nodes`]; at most 2^16 slots).
fn recycle_grads(mut grads: Vec<Option<Tensor>>) {
    grads.clear();
    if grads.capacity() <= 1 << 16 {
        let _ = SPARE_GRADS.try_with(|spare| spare.set(grads));
    }
}

fn requires(nodes: &[Node], j: u32) -> bool {
    j != NONE && nodes[j as usize].requires_grad
}
