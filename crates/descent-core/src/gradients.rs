//! [`Gradients`]: what one backward pass returns, keyed by parameter.

use crate::param::{Param, ParamId};
use crate::tensor::Tensor;
use crate::var::Var;
use std::cell::Cell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

thread_local! {
    /// The emptied parameter map of this thread's last dropped `Gradients`, with its capacity:
    /// a training loop's backward passes fill the same table every step.
    static SPARE_PARAMS: Cell<Option<HashMap<ParamId, Tensor>>> = const { Cell::new(None) };
}

/// Maps with more entries than this are not kept for the next backward pass.
const SPARE_PARAMS_MAX: usize = 1 << 12;

impl Drop for Gradients {
    fn drop(&mut self) {
        let mut params = std::mem::take(&mut self.params);
        if params.capacity() == 0 || params.capacity() > SPARE_PARAMS_MAX {
            return;
        }
        params.clear();
        let _ = SPARE_PARAMS.try_with(|spare| spare.set(Some(params)));
    }
}

/// The gradients of one backward pass: one tensor per parameter (and per [`Tape::var`] leaf)
/// that the output depends on, with the parameter's shape.
///
/// Gradients are per step: a new backward pass returns a new map, so there is nothing to zero.
///
/// [`Tape::var`]: crate::Tape::var
#[derive(Clone, Debug, Default)]
pub struct Gradients {
    tape_id: u64,
    loss: Option<f64>,
    params: HashMap<ParamId, Tensor>,
    leaves: HashMap<u32, Tensor>,
}

impl Gradients {
    pub(crate) fn new(tape_id: u64) -> Gradients {
        Gradients {
            tape_id,
            loss: None,
            params: SPARE_PARAMS
                .try_with(Cell::take)
                .ok()
                .flatten()
                .unwrap_or_default(),
            leaves: HashMap::new(),
        }
    }

    pub(crate) fn set_loss(&mut self, loss: f64) {
        self.loss = Some(loss);
    }

    /// The value backpropagated from, when it was a scalar ([`Var::backward`]); `None` after
    /// [`Var::backward_with`] from a larger value. Optimizers check it is finite before a step.
    ///
    /// ```
    /// use descent_core::{Param, Tape, Tensor};
    /// let w = Param::new(Tensor::from_vec(vec![3.0f32], [1]));
    /// let tape = Tape::new();
    /// let loss = tape.param(&w).square().sum_all();
    /// assert_eq!(loss.backward().loss(), Some(9.0));
    /// ```
    pub fn loss(&self) -> Option<f64> {
        self.loss
    }

    /// An identity of the backward pass that produced these gradients, unique in the process
    /// (clones share it; clipping keeps it), or `None` for gradients built by hand with
    /// [`Gradients::default`]. An optimizer uses it to refuse applying one pass twice.
    ///
    /// ```
    /// use descent_core::{Gradients, Param, Tape, Tensor};
    /// let w = Param::new(Tensor::from_vec(vec![3.0f32], [1]));
    /// let (tape_1, tape_2) = (Tape::new(), Tape::new());
    /// let g1 = tape_1.param(&w).square().sum_all().backward();
    /// let g2 = tape_2.param(&w).square().sum_all().backward();
    /// assert!(g1.pass().is_some() && g1.pass() != g2.pass());
    /// assert_eq!(g1.clone().pass(), g1.pass());
    /// assert_eq!(Gradients::default().pass(), None);
    /// ```
    pub fn pass(&self) -> Option<u64> {
        (self.tape_id != 0).then_some(self.tape_id)
    }

    pub(crate) fn add_param(&mut self, id: ParamId, g: Tensor) {
        accumulate(self.params.entry(id), g);
    }

    pub(crate) fn add_leaf(&mut self, node: u32, g: Tensor) {
        accumulate(self.leaves.entry(node), g);
    }

    /// The gradient of `param`, or `None` if the output does not depend on it (it was not
    /// registered on the tape, or no path leads from it to the output).
    pub fn get(&self, param: &Param) -> Option<&Tensor> {
        self.params.get(&param.id())
    }

    /// The gradient of the parameter with this id.
    pub fn get_id(&self, id: ParamId) -> Option<&Tensor> {
        self.params.get(&id)
    }

    /// The gradient of the parameter with this id, mutably (to clip or scale it in place).
    pub fn get_id_mut(&mut self, id: ParamId) -> Option<&mut Tensor> {
        self.params.get_mut(&id)
    }

    /// Replaces (or sets) the gradient of a parameter, as a gradient-clipping step does.
    pub fn insert(&mut self, id: ParamId, grad: Tensor) {
        self.params.insert(id, grad);
    }

    /// The gradient of a leaf made with [`Tape::var`](crate::Tape::var), or `None` if the output does not depend on it or it belongs to another backward pass.
    pub fn wrt(&self, var: &Var) -> Option<&Tensor> {
        if var.tape_id != self.tape_id {
            return None;
        }
        self.leaves.get(&var.node?)
    }

    /// The parameters with a gradient, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Tensor)> {
        self.params.iter().map(|(&id, g)| (id, g))
    }

    /// The number of parameters with a gradient.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// Whether no parameter received a gradient.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
}

fn accumulate<K>(slot: Entry<'_, K, Tensor>, g: Tensor) {
    match slot {
        Entry::Vacant(e) => {
            e.insert(g);
        }
        Entry::Occupied(mut e) => {
            let sum = e.get().add(&g);
            e.insert(sum);
        }
    }
}
