//! The [`Optimizer`] trait, parameter groups, what a step reports and the state an optimizer
//! exports.

use crate::hyper::{Range, check};
use descent_core::{Gradients, Param, ParamId, Params, Result, Tensor};
use std::fmt;

/// Turns the gradients of one backward pass into an update of the parameters.
///
/// There is no `zero_grad`: every backward pass returns fresh [`Gradients`]. A parameter without a
/// gradient in `grads` is left alone (as PyTorch skips a parameter whose `.grad` is `None`), and
/// its state does not advance; but if *none* of the parameters has one, the gradients were
/// computed for something else (another model, or a clone, whose parameters have other ids) and
/// the step is refused with [`Error::NoGradients`](crate::Error::NoGradients).
///
/// One backward pass gives one step: an optimizer refuses the gradients of the pass it applied
/// last ([`Gradients::pass`]) with [`Error::GradientsReused`](crate::Error::GradientsReused).
/// Two optimizers over different parameters (a GAN's generator and discriminator) may each apply
/// the same pass. Gradients built by hand ([`Gradients::default`]) carry no pass and are not
/// checked.
///
/// Every optimizer checks the loss ([`Gradients::loss`]) and every gradient before it touches a
/// parameter: a NaN or infinity stops the step with [`Error::NonFinite`](crate::Error::NonFinite),
/// naming the parameter, and nothing changes. Its message names the likely cause: at the
/// optimizer's first step the data or the initialisation (no update has acted yet); a non-finite
/// gradient under a finite loss, an op differentiated at the edge of its domain (as `sqrt` at 0);
/// otherwise divergence, and a lower learning rate.
///
/// ```
/// use descent_core::{Param, Tape, Tensor};
/// use descent_optim::{Optimizer, Sgd};
/// let mut w = Param::named("w", Tensor::from_vec(vec![2.0f32], [1]));
/// let mut opt = Sgd::new(0.25).unwrap();
/// for _ in 0..3 {
///     let tape = Tape::new();
///     let loss = tape.param(&w).square().sum_all(); // d/dw = 2w
///     let grads = loss.backward();
///     opt.step(&mut w, &grads).unwrap(); // w ← w − 0.25·2w = w/2
/// }
/// assert_eq!(w.value().to_vec_f32(), vec![0.25]);
/// ```
pub trait Optimizer {
    /// The optimizer's name, as `"Adam"`.
    fn name(&self) -> &'static str;

    /// Updates every parameter of `params` that has a gradient in `grads`.
    ///
    /// # Errors
    /// [`Error::NonFinite`](crate::Error::NonFinite) if the loss or a gradient is NaN or
    /// infinite, [`Error::GradientMismatch`](crate::Error::GradientMismatch) if a gradient's shape
    /// or element type is not its parameter's, [`Error::NoGradients`](crate::Error::NoGradients)
    /// if no parameter has a gradient, [`Error::GradientsReused`](crate::Error::GradientsReused)
    /// if this optimizer's last step applied the same backward pass. In every case no parameter
    /// and no state changed, and the step does not count.
    fn step(&mut self, params: &mut dyn Params, grads: &Gradients) -> Result<StepReport>;

    /// The learning rate of the next step (of the default group; see [`ParamGroup`]).
    fn lr(&self) -> f64;

    /// Sets the learning rate, as a schedule does each step. Groups with their own learning rate
    /// are scaled by the same factor. Unlike at construction, 0 is allowed (where a cosine
    /// schedule ends).
    ///
    /// # Errors
    /// If `lr` is negative, NaN or infinite; the learning rate is unchanged then.
    fn set_lr(&mut self, lr: f64) -> Result<()>;

    /// The momentum of the next step, if the optimizer has one a schedule may set: SGD's and
    /// RMSprop's `momentum` (when built with one above 0), Adam's and AdamW's `β1`; `None` for
    /// the others (Adagrad, SGD without momentum).
    fn momentum(&self) -> Option<f64>;

    /// Sets the momentum (SGD's and RMSprop's `momentum`, Adam's and AdamW's `β1`), as
    /// [`OneCycle`](crate::schedule::OneCycle)'s momentum cycle does each step (PyTorch's
    /// `cycle_momentum`). Like the learning rate, it is not part of the exported state: a
    /// schedule gives it again after a resume.
    ///
    /// # Errors
    /// If the optimizer has none ([`Optimizer::momentum`] is `None`), or the value is out of
    /// range: `β1` in [0, 1), a momentum in (0, 1) (its buffer stays). Nothing changes then.
    ///
    /// ```
    /// use descent_optim::{Adam, AdamConfig, Adagrad, AdagradConfig, Optimizer};
    /// let mut adam = Adam::new(AdamConfig::default()).unwrap();
    /// adam.set_momentum(0.85).unwrap();
    /// assert_eq!(adam.config().betas, (0.85, 0.999));
    /// let mut adagrad = Adagrad::new(AdagradConfig::default()).unwrap();
    /// assert!(adagrad.set_momentum(0.9).is_err());
    /// ```
    fn set_momentum(&mut self, momentum: f64) -> Result<()>;

    /// The number of steps taken.
    fn steps(&self) -> u64;

    /// The state (step counts, moments, the learning rate), to save beside the weights.
    /// Parameters are identified by their position in `params`' visiting order.
    fn state(&self, params: &dyn Params) -> OptimizerState;

    /// Restores a state exported by [`Optimizer::state`] from an optimizer of the same kind, for
    /// the same parameters (in the same order), so training resumes exactly where it stopped.
    ///
    /// # Errors
    /// If the state is another optimizer's, or its parameters' count, names, shapes or element
    /// types differ from `params`'; nothing changes then.
    fn load_state(&mut self, params: &dyn Params, state: &OptimizerState) -> Result<()>;
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// The step number (1 for the first step).
    pub step: u64,
    /// The learning rate the step used (of the default group).
    pub lr: f64,
    /// Parameters updated.
    pub updated: usize,
    /// Parameters left alone because `grads` had no gradient for them.
    pub without_grad: usize,
}

/// Which parameters a [`ParamGroup`] holds.
enum Select {
    Ids(Vec<ParamId>),
    Matching(Box<dyn Fn(&Param) -> bool + Send + Sync>),
}

/// A set of parameters with their own learning rate or weight decay (PyTorch's param groups), as
/// "no weight decay on biases".
///
/// A parameter belongs to the first group that selects it, else to the default group (the
/// optimizer's configuration). A group's own learning rate follows the optimizer's schedule: when
/// [`Optimizer::set_lr`] scales the default learning rate by a factor, the group's is scaled by
/// the same factor.
///
/// ```
/// use descent_core::{Param, Tensor};
/// use descent_optim::{AdamW, AdamWConfig, ParamGroup};
/// let opt = AdamW::new(AdamWConfig::default())
///     .unwrap()
///     .with_group(ParamGroup::matching(|p: &Param| p.name().ends_with("bias")).weight_decay(0.0))
///     .unwrap();
/// # let _ = opt;
/// ```
pub struct ParamGroup {
    select: Select,
    pub(crate) lr: Option<f64>,
    pub(crate) weight_decay: Option<f64>,
}

impl fmt::Debug for ParamGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let select = match &self.select {
            Select::Ids(ids) => format!("{} parameters", ids.len()),
            Select::Matching(_) => "a predicate".to_string(),
        };
        f.debug_struct("ParamGroup")
            .field("select", &select)
            .field("lr", &self.lr)
            .field("weight_decay", &self.weight_decay)
            .finish()
    }
}

impl ParamGroup {
    /// A group of the parameters with these ids.
    pub fn params(ids: impl IntoIterator<Item = ParamId>) -> ParamGroup {
        ParamGroup {
            select: Select::Ids(ids.into_iter().collect()),
            lr: None,
            weight_decay: None,
        }
    }

    /// A group of the parameters `pred` accepts, as `|p| p.name().ends_with("bias")`.
    pub fn matching(pred: impl Fn(&Param) -> bool + Send + Sync + 'static) -> ParamGroup {
        ParamGroup {
            select: Select::Matching(Box::new(pred)),
            lr: None,
            weight_decay: None,
        }
    }

    /// The group's learning rate (checked when the group is added to an optimizer).
    pub fn lr(mut self, lr: f64) -> ParamGroup {
        self.lr = Some(lr);
        self
    }

    /// The group's weight decay (checked when the group is added to an optimizer).
    pub fn weight_decay(mut self, weight_decay: f64) -> ParamGroup {
        self.weight_decay = Some(weight_decay);
        self
    }

    pub(crate) fn selects(&self, p: &Param) -> bool {
        match &self.select {
            Select::Ids(ids) => ids.contains(&p.id()),
            Select::Matching(f) => f(p),
        }
    }

    pub(crate) fn validate(&self, owner: &'static str) -> Result<()> {
        if let Some(lr) = self.lr {
            check(owner, "lr", lr, Range::Positive)?;
        }
        if let Some(wd) = self.weight_decay {
            check(owner, "weight_decay", wd, Range::NonNegative)?;
        }
        Ok(())
    }
}

/// The state of one parameter in an [`OptimizerState`].
#[derive(Clone, Debug)]
pub struct ParamState {
    /// The parameter's position in the visiting order of the model's [`Params`].
    pub index: usize,
    /// The parameter's name (checked on load when both names are non-empty).
    pub name: String,
    /// The steps this parameter has been updated.
    pub step: u64,
    /// The state tensors by name (as `"exp_avg"`), each of the parameter's shape.
    pub buffers: Vec<(String, Tensor)>,
}

/// Everything an optimizer needs to resume exactly: exported by [`Optimizer::state`], restored by
/// [`Optimizer::load_state`], saved to a file with the weights by
/// [`checkpoint::save`](crate::checkpoint::save).
#[derive(Clone, Debug)]
pub struct OptimizerState {
    /// The optimizer's name, as `"Adam"`.
    pub optimizer: String,
    /// Steps taken.
    pub steps: u64,
    /// The learning rate of the next step.
    pub lr: f64,
    /// The state of every parameter that has one, by position.
    pub params: Vec<ParamState>,
}
