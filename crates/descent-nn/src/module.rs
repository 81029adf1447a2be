//! [`Module`]: what every layer and model implements, and [`Ctx`], what a forward pass is given.

use crate::init::Seeds;
use descent_core::{Param, Result, Var};
use std::cell::Cell;

/// Training or evaluation: dropout is active only in `Train`. One source of truth, carried by the
/// [`Ctx`] of each forward pass (as `model.train()` / `model.eval()` in PyTorch, without a flag
/// stored in every layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training: dropout draws masks from the context's random stream.
    Train,
    /// Evaluation: dropout is the identity.
    Eval,
}

/// What a forward pass is given besides its input: the [`Mode`] and, in training, the position
/// (`epoch`, `step`) from which every random stream of the pass derives.
///
/// Random draws of a forward pass (dropout masks) come from streams derived from
/// `(seed, epoch, step, n)`, `n` counting the draws of this pass in call order, so a run resumed
/// at any step redraws exactly what an uninterrupted run would (see [`Seeds`]).
#[derive(Debug)]
pub struct Ctx {
    mode: Mode,
    seeds: Seeds,
    epoch: u64,
    step: u64,
    draws: Cell<u64>,
}

impl Ctx {
    /// A training pass at `(epoch, step)` of a run seeded with `seed`.
    pub fn train(seed: u64, epoch: u64, step: u64) -> Ctx {
        Ctx {
            mode: Mode::Train,
            seeds: Seeds::new(seed),
            epoch,
            step,
            draws: Cell::new(0),
        }
    }

    /// An evaluation pass: no randomness, dropout is the identity.
    pub fn eval() -> Ctx {
        Ctx {
            mode: Mode::Eval,
            seeds: Seeds::new(0),
            epoch: 0,
            step: 0,
            draws: Cell::new(0),
        }
    }

    /// The mode of this pass.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether this is a training pass.
    pub fn is_train(&self) -> bool {
        self.mode == Mode::Train
    }

    /// The next random stream of this pass: the `n`-th call gives the stream of
    /// `(seed, epoch, step, n)`.
    pub fn next_stream(&self) -> crate::Stream {
        let n = self.draws.get();
        self.draws.set(n + 1);
        self.seeds
            .stream(&format!("forward/{}/{}/{n}", self.epoch, self.step))
    }
}

/// A layer or a model: a forward pass on variables, and its parameters by name.
///
/// `forward` takes `&self`: a model is `Send + Sync`, and eval forwards of one shared `&model` can
/// run on several threads. Parameters are registered on the input's tape inside `forward`
/// (`x.tape().param(&self.weight)`); under [`Tape::no_grad`](descent_core::Tape::no_grad) nothing
/// is recorded and a forward costs what the same `Tensor` ops cost.
///
/// The visitors give each parameter its path below `prefix`, PyTorch's `state_dict` names:
/// a layer reports `weight` and `bias`, a container prefixes its children (`"0.weight"`).
/// Implement [`Params`](descent_core::Params) for a model with [`impl_params!`](crate::impl_params)
/// so optimizers accept it.
pub trait Module: Send + Sync {
    /// The output for input `x`.
    ///
    /// # Errors
    /// A shape the layer cannot take (the message names the layer and both shapes), or a tape
    /// that was consumed or dropped.
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var>;

    /// Calls `f` with the path and the parameter of each parameter, in a fixed order.
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param));

    /// Calls `f` with the path and the parameter of each parameter, mutably, in the same order.
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param));

    /// The parameters with their paths, in visiting order.
    fn named_params(&self) -> Vec<(String, &Param)> {
        let mut named = Vec::new();
        self.visit_params("", &mut |name, p| named.push((name.to_string(), p)));
        named
    }

    /// The number of trainable scalars.
    fn num_parameters(&self) -> usize {
        let mut n = 0;
        self.visit_params("", &mut |_, p| n += p.numel());
        n
    }
}

/// `prefix.name`, or `name` at the top.
pub fn module_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Implements [`Params`](descent_core::Params) (what optimizers take) for module types, in terms
/// of their [`Module`] visitors, so `opt.step(&mut model, &grads)` works.
///
/// ```
/// use descent_core::{Param, Result, Tensor, Var};
/// use descent_nn::{Ctx, Module};
/// struct Scale { w: Param }
/// impl Module for Scale {
///     fn forward(&self, x: &Var, _: &Ctx) -> Result<Var> { x.try_mul(&x.tape().try_param(&self.w)?) }
///     fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
///         f(&descent_nn::module_path(prefix, "w"), &self.w)
///     }
///     fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
///         f(&descent_nn::module_path(prefix, "w"), &mut self.w)
///     }
/// }
/// descent_nn::impl_params!(Scale);
/// let s = Scale { w: Param::named("w", Tensor::ones([1])) };
/// assert_eq!(descent_core::Params::num_params(&s), 1);
/// ```
#[macro_export]
macro_rules! impl_params {
    ($($T:ty),* $(,)?) => {$(
        impl $crate::__private::Params for $T {
            fn visit(&self, f: &mut dyn FnMut(&$crate::__private::Param)) {
                $crate::Module::visit_params(self, "", &mut |_, p| f(p))
            }
            fn visit_mut(&mut self, f: &mut dyn FnMut(&mut $crate::__private::Param)) {
                $crate::Module::visit_params_mut(self, "", &mut |_, p| f(p))
            }
        }
    )*};
}
