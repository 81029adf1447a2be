//! What every optimizer shares: the learning rate, parameter groups, per-parameter state, the
//! finiteness checks before a step, and state export and import. An optimizer adds only its
//! update rule ([`Rule`]).

use crate::hyper::{Range, check};
use crate::optimizer::{OptimizerState, ParamGroup, ParamState, StepReport};
use descent_core::{DType, Element, Error, Gradients, Param, ParamId, Params, Result, Tensor};
use descent_kernels::optim::first_non_finite;
use std::collections::HashMap;

/// What the update of one parameter needs besides the optimizer's own hyperparameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx {
    /// The learning rate of the parameter's group for this step.
    pub lr: f64,
    /// The weight decay of the parameter's group.
    pub weight_decay: f64,
    /// The parameter's step count, this step included (1 on its first update).
    pub step: u64,
}

/// An optimizer's update rule: the state buffers it keeps per parameter and the fused update.
pub(crate) trait Rule {
    /// The names of the state buffers, each of the parameter's shape, zero at the start.
    fn buffer_names(&self) -> &'static [&'static str];

    /// The value the buffers start at (Adagrad's initial accumulator; 0 for the others).
    fn buffer_init(&self) -> f64 {
        0.0
    }

    /// Updates `p` in place given its gradient `g` and its state buffers.
    fn update<T: Element>(&self, ctx: &Ctx, p: &mut [T], g: &[T], bufs: Buffers<'_, T>);

    /// The momentum a schedule may set: SGD's and RMSprop's `momentum` when they were built with
    /// one, Adam's `β1`; `None` for a rule without one.
    fn momentum(&self) -> Option<f64> {
        None
    }

    /// Sets the momentum of [`Rule::momentum`], checked; `owner` names the optimizer.
    fn set_momentum(&mut self, owner: &'static str, momentum: f64) -> Result<()> {
        let _ = momentum;
        Err(Error::InvalidConfig {
            owner,
            detail: "it has no momentum to set (Sgd and RmsProp built with momentum > 0 have \
                     one, Adam and AdamW have β1); do not cycle the momentum for it"
                .to_string(),
        })
    }
}

/// Sets the `momentum` of SGD or RMSprop, which keep a momentum buffer only if they were built
/// with a momentum above 0: the new one must be above 0 too, so the buffers stay the same.
pub(crate) fn set_buffered_momentum(
    owner: &'static str,
    momentum: &mut f64,
    new: f64,
) -> Result<()> {
    if *momentum == 0.0 {
        return Err(Error::InvalidConfig {
            owner,
            detail: "it was built without momentum, so it keeps no momentum buffer; build it \
                     with a momentum above 0 (as 0.9) to set it during training"
                .to_string(),
        });
    }
    *momentum = check(owner, "momentum", new, Range::AboveZeroBelowOne)?;
    Ok(())
}

/// The state buffers of one parameter for one update, each of the parameter's length, in
/// [`Rule::buffer_names`] order: `None` past the last name. No rule keeps more than three.
pub(crate) struct Buffers<'a, T> {
    /// The buffer of the first name: SGD's `momentum_buffer`, Adam's `exp_avg`, RMSprop's
    /// `square_avg`, Adagrad's `sum`.
    pub first: Option<&'a mut [T]>,
    /// The second: Adam's `exp_avg_sq`; RMSprop's `grad_avg` if centered, else its
    /// `momentum_buffer`.
    pub second: Option<&'a mut [T]>,
    /// The third: Adam's `max_exp_avg_sq` (AMSGrad); RMSprop's `momentum_buffer` when centered.
    pub third: Option<&'a mut [T]>,
}

/// The state of one parameter.
#[derive(Debug)]
struct Slot {
    group: Option<usize>,
    step: u64,
    bufs: Vec<Tensor>,
}

/// The machinery shared by all optimizers.
#[derive(Debug)]
pub(crate) struct Engine {
    owner: &'static str,
    base_lr: f64,
    lr: f64,
    weight_decay: f64,
    groups: Vec<ParamGroup>,
    steps: u64,
    slots: HashMap<ParamId, Slot>,
    /// The backward pass ([`Gradients::pass`]) of the last step, and that step.
    last_pass: Option<(u64, u64)>,
}

impl Engine {
    /// An engine for `owner` (the optimizer's name), with checked `lr` and `weight_decay`.
    pub fn new(owner: &'static str, lr: f64, weight_decay: f64) -> Result<Engine> {
        Ok(Engine {
            owner,
            base_lr: check(owner, "lr", lr, Range::Positive)?,
            lr,
            weight_decay: check(owner, "weight_decay", weight_decay, Range::NonNegative)?,
            groups: Vec::new(),
            steps: 0,
            slots: HashMap::new(),
            last_pass: None,
        })
    }

    pub fn add_group(&mut self, group: ParamGroup) -> Result<()> {
        group.validate(self.owner)?;
        if self.steps > 0 {
            return Err(Error::InvalidConfig {
                owner: self.owner,
                detail: "parameter groups must be added before the first step".to_string(),
            });
        }
        self.groups.push(group);
        Ok(())
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        // 0 is allowed here (a cosine schedule ends there), not when the optimizer is built.
        self.lr = check(self.owner, "lr", lr, Range::NonNegative)?;
        Ok(())
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    fn group_of(&self, p: &Param) -> Option<usize> {
        self.groups.iter().position(|g| g.selects(p))
    }

    /// The learning rate and weight decay of a group (`None`: the default group) for this step.
    fn hyper(&self, group: Option<usize>) -> (f64, f64) {
        let Some(g) = group.map(|i| &self.groups[i]) else {
            return (self.lr, self.weight_decay);
        };
        let lr = match g.lr {
            None => self.lr,
            Some(l) if self.lr == self.base_lr => l,
            Some(l) => l * (self.lr / self.base_lr),
        };
        (lr, g.weight_decay.unwrap_or(self.weight_decay))
    }

    /// One step: check the loss and every gradient, then update every parameter with one.
    pub fn step<R: Rule>(
        &mut self,
        rule: &R,
        params: &mut dyn Params,
        grads: &Gradients,
    ) -> Result<StepReport> {
        let step = self.steps + 1;
        if let Some(loss) = grads.loss().filter(|l| !l.is_finite()) {
            return Err(Error::NonFinite {
                what: "loss".to_string(),
                value: if loss.is_nan() { "NaN" } else { "inf" },
                step,
                lr: self.lr,
                loss: Some(loss),
            });
        }
        if let Some((pass, at)) = self.last_pass
            && grads.pass() == Some(pass)
        {
            return Err(Error::GradientsReused {
                owner: self.owner,
                step: at,
            });
        }
        self.check_grads(params, grads, step)?;
        let (mut updated, mut without_grad) = (0, 0);
        let names = rule.buffer_names();
        params.visit_mut(&mut |p| {
            // A frozen parameter is left as it is, whatever the gradients hold.
            let Some(g) = grads.get(p).filter(|_| p.requires_grad()) else {
                without_grad += 1;
                return;
            };
            if !self.slots.contains_key(&p.id()) {
                let slot = Slot {
                    group: self.group_of(p),
                    step: 0,
                    bufs: names
                        .iter()
                        .map(|_| {
                            Tensor::full_with(p.shape(), rule.buffer_init(), p.value().dtype())
                        })
                        .collect(),
                };
                self.slots.insert(p.id(), slot);
            }
            let group = self.slots[&p.id()].group;
            let (lr, weight_decay) = self.hyper(group);
            let slot = self.slots.get_mut(&p.id()).expect("inserted above");
            slot.step += 1;
            let ctx = Ctx {
                lr,
                weight_decay,
                step: slot.step,
            };
            match p.value().dtype() {
                DType::F32 => update::<f32, R>(rule, &ctx, p, g, &mut slot.bufs),
                DType::F64 => update::<f64, R>(rule, &ctx, p, g, &mut slot.bufs),
            }
            updated += 1;
        });
        self.steps = step;
        self.last_pass = grads.pass().map(|pass| (pass, step));
        Ok(StepReport {
            step,
            lr: self.lr,
            updated,
            without_grad,
        })
    }

    /// The first gradient that does not fit its parameter or is not finite, as an error; or
    /// [`Error::NoGradients`] if there are parameters and none has a gradient.
    fn check_grads(&self, params: &dyn Params, grads: &Gradients, step: u64) -> Result<()> {
        let mut found = None;
        let (mut index, mut trainable, mut with_grad) = (0, 0, 0);
        params.visit(&mut |p| {
            let i = index;
            index += 1;
            if !p.requires_grad() {
                return;
            }
            trainable += 1;
            let Some(g) = grads.get(p) else { return };
            with_grad += 1;
            if found.is_some() {
                return;
            }
            if g.shape() != p.shape() || g.dtype() != p.value().dtype() {
                found = Some(Error::GradientMismatch {
                    param: describe(p, i),
                    detail: format!(
                        "the parameter is {:?} {:?}, its gradient {:?} {:?}",
                        p.value().dtype(),
                        p.shape(),
                        g.dtype(),
                        g.shape()
                    ),
                });
                return;
            }
            let bad = match g.dtype() {
                DType::F32 => with_slice::<f32, _>(g, first_non_finite),
                DType::F64 => with_slice::<f64, _>(g, first_non_finite),
            };
            if let Some((at, value)) = bad {
                found = Some(Error::NonFinite {
                    what: format!("{} (element {at} of {:?})", describe(p, i), p.shape()),
                    value,
                    step,
                    lr: self.lr,
                    loss: grads.loss(),
                });
            }
        });
        if found.is_none() && trainable > 0 && with_grad == 0 {
            found = Some(Error::NoGradients {
                owner: self.owner,
                params: trainable,
            });
        }
        found.map_or(Ok(()), Err)
    }

    /// The state of every parameter of `params` that has one, by position.
    pub fn state<R: Rule>(&self, rule: &R, params: &dyn Params) -> OptimizerState {
        let mut out = Vec::new();
        let mut index = 0;
        params.visit(&mut |p| {
            if let Some(slot) = self.slots.get(&p.id()) {
                out.push(ParamState {
                    index,
                    name: p.name().to_string(),
                    step: slot.step,
                    buffers: rule
                        .buffer_names()
                        .iter()
                        .map(|n| n.to_string())
                        .zip(slot.bufs.iter().cloned())
                        .collect(),
                });
            }
            index += 1;
        });
        OptimizerState {
            optimizer: self.owner.to_string(),
            steps: self.steps,
            lr: self.lr,
            params: out,
        }
    }

    /// Replaces the state with `state`, after checking all of it against `params`.
    pub fn load_state<R: Rule>(
        &mut self,
        rule: &R,
        params: &dyn Params,
        state: &OptimizerState,
    ) -> Result<()> {
        let bad = |detail: String| Err(Error::State { detail });
        if state.optimizer != self.owner {
            return bad(format!(
                "the state is of {}, not of {}",
                state.optimizer, self.owner
            ));
        }
        let lr = check(self.owner, "lr", state.lr, Range::NonNegative)?;
        let mut list: Vec<Seen> = Vec::new();
        params.visit(&mut |p| {
            list.push(Seen {
                id: p.id(),
                name: p.name().to_string(),
                shape: p.shape().to_vec(),
                dtype: p.value().dtype(),
                group: self.group_of(p),
            });
        });
        let names = rule.buffer_names();
        let mut slots = HashMap::new();
        for ps in &state.params {
            let Some(Seen {
                id,
                name,
                shape,
                dtype,
                group,
            }) = list.get(ps.index)
            else {
                return bad(format!(
                    "it has parameter #{} but the model has {} parameters",
                    ps.index,
                    list.len()
                ));
            };
            if !ps.name.is_empty() && !name.is_empty() && ps.name != *name {
                return bad(format!(
                    "parameter #{} is `{}` in the state but `{name}` in the model",
                    ps.index, ps.name
                ));
            }
            let got: Vec<&str> = ps.buffers.iter().map(|(n, _)| n.as_str()).collect();
            if got != names {
                return bad(format!(
                    "parameter #{} has buffers {got:?}, this {} keeps {names:?} (was it built \
                     with the same options?)",
                    ps.index, self.owner
                ));
            }
            for (n, t) in &ps.buffers {
                if t.shape() != shape.as_slice() || t.dtype() != *dtype {
                    return bad(format!(
                        "buffer `{n}` of parameter #{} is {:?} {:?}, the parameter {dtype:?} \
                         {shape:?}",
                        ps.index,
                        t.dtype(),
                        t.shape()
                    ));
                }
            }
            let slot = Slot {
                group: *group,
                step: ps.step,
                bufs: ps.buffers.iter().map(|(_, t)| t.contiguous()).collect(),
            };
            if slots.insert(*id, slot).is_some() {
                return bad(format!("parameter #{} appears twice", ps.index));
            }
        }
        self.slots = slots;
        self.steps = state.steps;
        self.last_pass = None;
        self.lr = lr;
        Ok(())
    }
}

/// A parameter of the model, as `load_state` checks a state against it.
struct Seen {
    /// Its id in this process, under which its loaded state is kept.
    id: ParamId,
    /// Its name, checked against the state's when both are non-empty.
    name: String,
    /// Its shape, which each of its buffers must have.
    shape: Vec<usize>,
    /// Its element type, which each of its buffers must have.
    dtype: DType,
    /// Its parameter group (`None`: the default group).
    group: Option<usize>,
}

/// `"parameter `name`"`, or `"parameter #i"` when it has no name.
fn describe(p: &Param, index: usize) -> String {
    if p.name().is_empty() {
        format!("parameter #{index}")
    } else {
        format!("parameter `{}`", p.name())
    }
}

/// Calls `f` on the elements of `t` (of type `T`), copying only if `t` is not contiguous.
fn with_slice<T: Element, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> R {
    match t.as_slice::<T>() {
        Some(s) => f(s),
        None => f(t
            .contiguous()
            .as_slice::<T>()
            .expect("contiguous, dtype checked")),
    }
}

fn update<T: Element, R: Rule>(
    rule: &R,
    ctx: &Ctx,
    p: &mut Param,
    g: &Tensor,
    bufs: &mut [Tensor],
) {
    let p = p
        .value_mut()
        .slice_mut::<T>()
        .expect("the gradient's dtype was checked against the parameter's");
    let mut it = bufs.iter_mut().map(|b| {
        b.slice_mut::<T>()
            .expect("state buffers are made (or loaded) with the parameter's dtype")
    });
    let bufs = Buffers {
        first: it.next(),
        second: it.next(),
        third: it.next(),
    };
    with_slice::<T, _>(g, |g| rule.update(ctx, p, g, bufs));
}

/// Implements [`Optimizer`](crate::Optimizer) and `with_group` for an optimizer struct with an `engine: Engine`
/// field and a field holding its [`Rule`].
macro_rules! optimizer_impl {
    ($ty:ident, $name:literal, $rule:ident) => {
        impl $ty {
            /// Adds a parameter group with its own learning rate or weight decay.
            ///
            /// # Errors
            /// If the group's values are out of range, or a step was already taken.
            pub fn with_group(
                mut self,
                group: $crate::optimizer::ParamGroup,
            ) -> $crate::Result<$ty> {
                self.engine.add_group(group)?;
                Ok(self)
            }
        }

        impl $crate::optimizer::Optimizer for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn step(
                &mut self,
                params: &mut dyn descent_core::Params,
                grads: &descent_core::Gradients,
            ) -> $crate::Result<$crate::optimizer::StepReport> {
                self.engine.step(&self.$rule, params, grads)
            }
            fn lr(&self) -> f64 {
                self.engine.lr()
            }
            fn set_lr(&mut self, lr: f64) -> $crate::Result<()> {
                self.engine.set_lr(lr)
            }
            fn momentum(&self) -> Option<f64> {
                $crate::engine::Rule::momentum(&self.$rule)
            }
            fn set_momentum(&mut self, momentum: f64) -> $crate::Result<()> {
                $crate::engine::Rule::set_momentum(&mut self.$rule, $name, momentum)
            }
            fn steps(&self) -> u64 {
                self.engine.steps()
            }
            fn state(
                &self,
                params: &dyn descent_core::Params,
            ) -> $crate::optimizer::OptimizerState {
                self.engine.state(&self.$rule, params)
            }
            fn load_state(
                &mut self,
                params: &dyn descent_core::Params,
                state: &$crate::optimizer::OptimizerState,
            ) -> $crate::Result<()> {
                self.engine.load_state(&self.$rule, params, state)
            }
        }
    };
}
pub(crate) use optimizer_impl;
