//! The tape: a Wengert list of the ops of one forward pass, in execution order.
//!
//! A [`Tape`] owns its nodes; a [`Var`] is a light handle (a value, a node index and a weak
//! reference to the tape). Parameters live outside the tape, in the model: each training step
//! records onto a fresh tape, registers parameters as leaves with [`Tape::param`], and the loss's
//! [`Var::backward`] consumes the tape and returns [`Gradients`](crate::Gradients).
//!
//! Dropping the `Tape` frees every node, even while `Var`s of it are still alive (they hold only
//! a weak reference): a forgotten handle never keeps a graph alive.
//!
//! ```
//! use descent_core::{Param, Tape, Tensor};
//! let w = Param::new(Tensor::from_vec(vec![2.0f64, -1.0], [2]));
//! let tape = Tape::new();
//! let x = tape.constant(Tensor::from_vec(vec![3.0f64, 4.0], [2]));
//! let loss = (&tape.param(&w) * &x).sum_all(); // 2*3 - 1*4
//! assert_eq!(loss.value().item(), 2.0);
//! let grads = loss.backward();
//! assert_eq!(grads.get(&w).unwrap().to_vec_f64(), vec![3.0, 4.0]); // d loss / d w = x
//! ```

pub use crate::anomaly::{Anomaly, Phase};
use crate::error::{Error, Result};
use crate::ops::Op;
use crate::param::{Param, ParamId};
use crate::shape::Shape;
use crate::tensor::Tensor;
use crate::var::Var;
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a node is: a leaf (constant, parameter, variable) or a recorded op.
// Nodes live inline in the tape's `Vec`: boxing the op would cost an allocation per op.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Kind {
    /// A value that needs no gradient: an input, a detached value, or the result of an op none
    /// of whose inputs requires a gradient.
    Constant,
    /// A parameter leaf: its gradient is reported under its [`ParamId`].
    Param(ParamId),
    /// A leaf created by [`Tape::var`]: its gradient is reported under its node.
    Leaf,
    /// A differentiable op with what its backward rule saved.
    Op(Op),
    /// An op whose backward rule has run: its saved tensors are freed.
    Done,
}

/// One recorded value.
pub(crate) struct Node {
    pub(crate) kind: Kind,
    /// The nodes of the op's inputs, in argument order ([`NONE`] for an unrecorded input).
    pub(crate) inputs: NodeInputs,
    pub(crate) requires_grad: bool,
    /// The op name, as `tanh` or `matmul` (`constant`, `param` for leaves).
    pub(crate) name: &'static str,
    pub(crate) shape: Shape,
    /// The user's source line that recorded the node.
    pub(crate) location: &'static Location<'static>,
}

/// The input nodes of a recorded op: up to four inline (`linear` and `conv2d` take three), in the
/// same 24 bytes as two with smallvec's `union` feature, so no op of the built-in set allocates
/// for them.
pub(crate) type NodeInputs = SmallVec<[u32; 4]>;
const _: () = assert!(std::mem::size_of::<NodeInputs>() == 24);

/// Tapes of more nodes than this do not leave their storage to the next tape of the thread.
const SPARE_NODES_MAX: usize = 1 << 16;

thread_local! {
    /// The empty node storage of this thread's last finished tape, with its capacity: a loop that
    /// makes one tape per step records into the same memory every step.
    static SPARE_NODES: Cell<Vec<Node>> = const { Cell::new(Vec::new()) };
}

/// Node storage for a new tape with room for `min` nodes: this thread's spare one when it is
/// large enough.
pub(crate) fn take_nodes(min: usize) -> Vec<Node> {
    let spare = SPARE_NODES.try_with(Cell::take).unwrap_or_default();
    if spare.capacity() >= min.max(1) {
        spare
    } else {
        Vec::with_capacity(min)
    }
}

/// Empties `nodes` (freeing what they saved) and keeps the storage for this thread's next tape,
/// unless the spare one is larger or it is over [`SPARE_NODES_MAX`].
pub(crate) fn recycle_nodes(mut nodes: Vec<Node>) {
    nodes.clear();
    let capacity = nodes.capacity();
    if capacity == 0 || capacity > SPARE_NODES_MAX {
        return;
    }
    let _ = SPARE_NODES.try_with(|spare| {
        let old = spare.take();
        spare.set(if old.capacity() > capacity {
            old
        } else {
            nodes
        });
    });
}

/// The input id of an operand that is not on the tape (computed under `no_grad`, or detached).
pub(crate) const NONE: u32 = u32::MAX;

/// The state behind a [`Tape`].
pub(crate) struct TapeInner {
    pub(crate) id: u64,
    pub(crate) nodes: Vec<Node>,
    pub(crate) consumed: bool,
    pub(crate) no_grad: u32,
    pub(crate) saved_bytes: usize,
    pub(crate) anomaly_mode: bool,
    pub(crate) anomaly: Option<Anomaly>,
    pub(crate) profile: Option<Vec<OpProfile>>,
}

impl Drop for TapeInner {
    fn drop(&mut self) {
        recycle_nodes(std::mem::take(&mut self.nodes));
    }
}

static NEXT_TAPE: AtomicU64 = AtomicU64::new(1);

/// Records the ops of one forward pass; see the [module docs](self).
///
/// Not `Clone`: the `Tape` is the owner of the graph. Make one per training step (or
/// [`reset`](Tape::reset) one), and keep it alive until `backward`.
pub struct Tape {
    pub(crate) inner: Rc<RefCell<TapeInner>>,
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape::with_capacity(0)
    }

    /// An empty tape with room for `nodes` recorded values before it reallocates.
    pub fn with_capacity(nodes: usize) -> Tape {
        Tape {
            inner: Rc::new(RefCell::new(TapeInner {
                id: NEXT_TAPE.fetch_add(1, Ordering::Relaxed),
                nodes: take_nodes(nodes),
                consumed: false,
                no_grad: 0,
                saved_bytes: 0,
                anomaly_mode: false,
                anomaly: None,
                profile: None,
            })),
        }
    }

    fn leaf(&self, value: Tensor, kind: Kind, name: &'static str, loc: &'static Location) -> Var {
        push_leaf(&self.inner, value, kind, name, loc)
    }

    /// A weak handle to this tape (what [`Var::tape`] returns): it records leaves on the tape
    /// while it lives, without keeping it alive.
    pub fn handle(&self) -> TapeRef {
        TapeRef {
            inner: Rc::downgrade(&self.inner),
            id: self.inner.borrow().id,
        }
    }

    /// A value that needs no gradient (an input batch, labels, a mask).
    #[track_caller]
    pub fn constant(&self, value: impl Into<Tensor>) -> Var {
        self.leaf(value.into(), Kind::Constant, "constant", Location::caller())
    }

    /// Registers a parameter as a leaf: its gradient is reported under it in
    /// [`Gradients::get`](crate::Gradients::get). Registering one parameter twice (weight sharing)
    /// adds up both gradients.
    #[track_caller]
    pub fn param(&self, param: &Param) -> Var {
        self.leaf(
            param.value().clone(),
            param_kind(param),
            "param",
            Location::caller(),
        )
    }

    /// A leaf that requires a gradient without being a [`Param`]: its gradient is reported by
    /// [`Gradients::wrt`](crate::Gradients::wrt). What [`gradcheck`](crate::gradcheck()) uses.
    #[track_caller]
    pub fn var(&self, value: impl Into<Tensor>) -> Var {
        self.leaf(value.into(), Kind::Leaf, "var", Location::caller())
    }

    /// Runs `f` without recording: ops on variables inside it give constants (as
    /// `torch.no_grad()`), and nothing is added to the tape.
    ///
    /// ```
    /// use descent_core::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::ones([3]));
    /// let y = tape.no_grad(|| x.exp());
    /// assert!(!y.requires_grad());
    /// assert_eq!(tape.len(), 1); // just x
    /// ```
    pub fn no_grad<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Guard<'a>(&'a RefCell<TapeInner>);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                self.0.borrow_mut().no_grad -= 1;
            }
        }
        self.inner.borrow_mut().no_grad += 1;
        let _guard = Guard(&self.inner);
        f()
    }

    /// The number of recorded values (leaves and ops); 0 after `backward`.
    pub fn len(&self) -> usize {
        self.inner.borrow().nodes.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the tape: the tensors its nodes saved for their backward rules. A buffer
    /// saved by two nodes counts twice; values the user's `Var`s hold are not counted.
    pub fn saved_bytes(&self) -> usize {
        self.inner.borrow().saved_bytes
    }

    /// Whether a `backward` has consumed this tape.
    pub fn is_consumed(&self) -> bool {
        self.inner.borrow().consumed
    }

    /// Forgets everything recorded, keeping the allocation, so the tape can record the next step.
    /// Variables of the earlier recording can no longer be used on it.
    pub fn reset(&self) {
        let mut t = self.inner.borrow_mut();
        t.nodes.clear();
        t.saved_bytes = 0;
        t.consumed = false;
        t.anomaly = None;
        // New identity: old variables must not index into the new recording.
        t.id = NEXT_TAPE.fetch_add(1, Ordering::Relaxed);
    }

    /// Anomaly mode: after every recorded op and every backward rule, check the result for NaN
    /// and infinity, and remember the first op that produced one (forward or backward, with its
    /// tape position, input shapes and source line). `backward` then fails with
    /// [`Error::Anomaly`]. Costs a pass over every value; off by default.
    ///
    /// ```
    /// use descent_core::{Error, Tape, Tensor};
    /// let tape = Tape::new();
    /// tape.set_anomaly_mode(true);
    /// let x = tape.var(Tensor::from_vec(vec![-1.0f64, 4.0], [2]));
    /// let loss = x.sqrt().sum_all(); // sqrt(-1) is NaN
    /// let anomaly = tape.anomaly().unwrap();
    /// assert_eq!(anomaly.op, "sqrt");
    /// assert!(matches!(loss.try_backward(), Err(Error::Anomaly(_))));
    /// ```
    pub fn set_anomaly_mode(&self, on: bool) {
        self.inner.borrow_mut().anomaly_mode = on;
    }

    /// The first non-finite value found in anomaly mode, if any.
    pub fn anomaly(&self) -> Option<Anomaly> {
        self.inner.borrow().anomaly.clone()
    }

    /// Starts (or restarts) the per-op profile: calls and time of every op's forward and backward.
    /// Off by default, and then it costs one branch per op.
    pub fn enable_profile(&self) {
        self.inner.borrow_mut().profile = Some(Vec::new());
    }

    /// The profile gathered since [`enable_profile`](Tape::enable_profile), most expensive op
    /// first; empty when profiling is off.
    ///
    /// ```
    /// use descent_core::{Tape, Tensor};
    /// let tape = Tape::new();
    /// tape.enable_profile();
    /// let x = tape.var(Tensor::ones([64]));
    /// let _ = x.tanh().sum_all().backward();
    /// let p = tape.profile();
    /// let tanh = p.iter().find(|p| p.op == "tanh").unwrap();
    /// assert_eq!((tanh.forward_calls, tanh.backward_calls), (1, 1));
    /// ```
    pub fn profile(&self) -> Vec<OpProfile> {
        let mut p = self.inner.borrow().profile.clone().unwrap_or_default();
        p.sort_by(|a, b| {
            (b.forward_time + b.backward_time)
                .cmp(&(a.forward_time + a.backward_time))
                .then(a.op.cmp(b.op))
        });
        p
    }

    /// The recorded graph in Graphviz DOT: one box per value (op, shape, tape position), an edge
    /// per input, values that require a gradient filled. Render with `dot -Tsvg`.
    ///
    /// ```
    /// use descent_core::{Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(Tensor::ones([2, 3]));
    /// let _y = x.exp().sum_all();
    /// let dot = tape.to_dot();
    /// assert!(dot.starts_with("digraph tape {"));
    /// assert!(dot.contains("n1 [label=\"#1 exp\\n[2, 3]\""));
    /// assert!(dot.contains("n0 -> n1"));
    /// ```
    pub fn to_dot(&self) -> String {
        use std::fmt::Write;
        let t = self.inner.borrow();
        let mut s = String::from(
            "digraph tape {\n  rankdir=LR;\n  node [shape=box, fontname=monospace];\n",
        );
        for (i, n) in t.nodes.iter().enumerate() {
            let style = if n.requires_grad {
                ", style=filled, fillcolor=lightblue"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "  n{i} [label=\"#{i} {}\\n{:?}\"{style}];",
                n.name,
                n.shape.as_slice()
            );
            for &j in n.inputs.iter().filter(|&&j| j != NONE) {
                let _ = writeln!(s, "  n{j} -> n{i};");
            }
        }
        s.push_str("}\n");
        s
    }
}

/// The leaf kind of a parameter: a constant if it is frozen.
fn param_kind(param: &Param) -> Kind {
    if param.requires_grad() {
        Kind::Param(param.id())
    } else {
        Kind::Constant
    }
}

/// Appends a leaf node to the tape behind `inner`.
fn push_leaf(
    inner: &Rc<RefCell<TapeInner>>,
    value: Tensor,
    kind: Kind,
    name: &'static str,
    location: &'static Location<'static>,
) -> Var {
    let mut t = inner.borrow_mut();
    if t.no_grad > 0 {
        // Under `no_grad` a leaf is a plain value: nothing is recorded (an eval forward costs
        // what its `Tensor` ops cost) and no gradient flows from it.
        let id = t.id;
        drop(t);
        return Var::new(value, None, false, inner, id);
    }
    let requires_grad = !matches!(kind, Kind::Constant);
    let id = t.nodes.len() as u32;
    t.nodes.push(Node {
        kind,
        inputs: SmallVec::new(),
        requires_grad,
        name,
        shape: value.dims(),
        location,
    });
    Var::new(value, Some(id), requires_grad, inner, t.id)
}

/// A weak handle to a [`Tape`]: from a [`Var`] ([`Var::tape`]) or a tape ([`Tape::handle`]).
///
/// Modules use it to register their parameters on the tape their input was recorded on. It does
/// not keep the tape alive: the `Tape` stays the only owner of the graph, and once it is dropped,
/// consumed by `backward` or reset, every method returns an error.
///
/// ```
/// use descent_core::{Param, Tape, Tensor};
/// let w = Param::named("w", Tensor::from_vec(vec![2.0f64], [1]));
/// let tape = Tape::new();
/// let x = tape.constant(Tensor::from_vec(vec![3.0f64], [1]));
/// let y = &x * &x.tape().param(&w); // the parameter joins x's tape
/// assert_eq!(y.backward().get(&w).unwrap().to_vec_f64(), vec![3.0]);
/// ```
#[derive(Clone)]
pub struct TapeRef {
    inner: std::rc::Weak<RefCell<TapeInner>>,
    id: u64,
}

impl TapeRef {
    pub(crate) fn new(inner: std::rc::Weak<RefCell<TapeInner>>, id: u64) -> TapeRef {
        TapeRef { inner, id }
    }

    /// The tape, if it is alive and can still record (not consumed, not reset).
    fn usable(&self, op: &'static str) -> Result<Rc<RefCell<TapeInner>>> {
        let tape = self.inner.upgrade().ok_or(Error::TapeDropped { op })?;
        tape.borrow().check_usable(op, self.id)?;
        Ok(tape)
    }

    /// Whether the tape can still record: alive, not consumed, not reset.
    pub fn is_usable(&self) -> bool {
        self.usable("is_usable").is_ok()
    }

    /// Whether ops are being recorded: usable and not inside [`Tape::no_grad`] (an eval forward
    /// can skip work that only training needs).
    pub fn is_recording(&self) -> bool {
        self.usable("is_recording")
            .is_ok_and(|t| t.borrow().no_grad == 0)
    }

    /// Registers a parameter as a leaf, as [`Tape::param`].
    ///
    /// # Errors
    /// If the tape was dropped, consumed or reset.
    #[track_caller]
    pub fn try_param(&self, param: &Param) -> Result<Var> {
        let tape = self.usable("param")?;
        let value = param.value().clone();
        Ok(push_leaf(
            &tape,
            value,
            param_kind(param),
            "param",
            Location::caller(),
        ))
    }

    /// A value that needs no gradient, as [`Tape::constant`].
    ///
    /// # Errors
    /// If the tape was dropped, consumed or reset.
    #[track_caller]
    pub fn try_constant(&self, value: impl Into<Tensor>) -> Result<Var> {
        let tape = self.usable("constant")?;
        Ok(push_leaf(
            &tape,
            value.into(),
            Kind::Constant,
            "constant",
            Location::caller(),
        ))
    }

    /// A leaf that requires a gradient, as [`Tape::var`].
    ///
    /// # Errors
    /// If the tape was dropped, consumed or reset.
    #[track_caller]
    pub fn try_var(&self, value: impl Into<Tensor>) -> Result<Var> {
        let tape = self.usable("var")?;
        Ok(push_leaf(
            &tape,
            value.into(),
            Kind::Leaf,
            "var",
            Location::caller(),
        ))
    }
}

crate::panicking::panicking! { TapeRef:
    /// Registers a parameter as a leaf; see [`TapeRef::try_param`].
    param = try_param(param: &Param) -> Var;
    /// A value that needs no gradient; see [`TapeRef::try_constant`].
    constant = try_constant(value: impl Into<Tensor>) -> Var;
    /// A leaf that requires a gradient; see [`TapeRef::try_var`].
    var = try_var(value: impl Into<Tensor>) -> Var;
}

impl std::fmt::Debug for TapeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TapeRef(#{}, usable: {})", self.id, self.is_usable())
    }
}

impl TapeInner {
    /// Remembers the first anomaly of node `position` if `value` has a non-finite element.
    pub(crate) fn check_anomaly(&mut self, phase: Phase, position: usize, value: &Tensor) {
        if self.anomaly.is_none() {
            self.anomaly = anomaly_at(&self.nodes, phase, position, value);
        }
    }

    pub(crate) fn profile_add(&mut self, op: &'static str, phase: Phase, time: Duration) {
        let Some(p) = self.profile.as_mut() else {
            return;
        };
        let at = match p.iter().position(|e| e.op == op) {
            Some(i) => i,
            None => {
                p.push(OpProfile {
                    op,
                    ..OpProfile::default()
                });
                p.len() - 1
            }
        };
        let e = &mut p[at];
        match phase {
            Phase::Forward => {
                e.forward_calls += 1;
                e.forward_time += time;
            }
            Phase::Backward => {
                e.backward_calls += 1;
                e.backward_time += time;
            }
        }
    }

    /// The error for an op on a tape that can no longer record.
    pub(crate) fn check_usable(&self, op: &'static str, tape_id: u64) -> Result<()> {
        if self.consumed {
            Err(Error::TapeConsumed { op })
        } else if self.id != tape_id {
            // The tape was reset since this variable was recorded.
            Err(Error::TapeConsumed { op })
        } else {
            Ok(())
        }
    }
}

/// The anomaly report for node `position` of `nodes` if `value` has a non-finite element.
pub(crate) fn anomaly_at(
    nodes: &[Node],
    phase: Phase,
    position: usize,
    value: &Tensor,
) -> Option<Anomaly> {
    let what = value.first_non_finite()?;
    let node = &nodes[position];
    let input_shapes = node
        .inputs
        .iter()
        .filter(|&&j| j != NONE)
        .map(|&j| nodes[j as usize].shape.to_vec())
        .collect();
    Some(Anomaly {
        phase,
        op: node.name,
        position,
        input_shapes,
        location: node.location.to_string(),
        what,
    })
}

/// Calls and time of one op in a [`Tape::profile`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpProfile {
    /// The op name.
    pub op: &'static str,
    /// Forward calls recorded.
    pub forward_calls: u64,
    /// Total forward time.
    pub forward_time: Duration,
    /// Backward rules run.
    pub backward_calls: u64,
    /// Total backward time.
    pub backward_time: Duration,
}
