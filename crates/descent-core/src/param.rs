//! Parameters: the tensors a model owns and an optimizer updates, and the trait that lists them.
//!
//! A [`Param`] lives in the model, outside any tape; each step registers it on a fresh tape with
//! [`Tape::param`](crate::Tape::param), and [`Gradients`](crate::Gradients) reports its gradient
//! under its [`ParamId`]. [`Params`] is the small trait optimizers take, so they never depend on
//! the module system.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicU64, Ordering};

/// The identity of a [`Param`], unique in the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(u64);

static NEXT_PARAM: AtomicU64 = AtomicU64::new(1);

impl ParamId {
    fn fresh() -> ParamId {
        ParamId(NEXT_PARAM.fetch_add(1, Ordering::Relaxed))
    }
}

/// A trainable tensor with an identity and a name.
///
/// Cloning gives a new parameter (a new [`ParamId`]) with the same value, as a deep copy of a
/// model in PyTorch: the clone trains independently.
///
/// ```
/// use descent_core::{Param, Tensor};
/// let mut w = Param::named("fc.weight", Tensor::zeros([2, 3]));
/// assert_eq!(w.name(), "fc.weight");
/// w.value_mut().slice_mut::<f32>().unwrap()[0] = 1.0; // what an optimizer does
/// assert_eq!(w.value().to_vec_f32()[0], 1.0);
/// ```
#[derive(Debug)]
pub struct Param {
    id: ParamId,
    name: String,
    value: Tensor,
    requires_grad: bool,
}

impl Clone for Param {
    fn clone(&self) -> Self {
        Param {
            id: ParamId::fresh(),
            name: self.name.clone(),
            value: self.value.clone(),
            requires_grad: self.requires_grad,
        }
    }
}

impl Param {
    /// A parameter holding `value` (made contiguous), with an empty name.
    pub fn new(value: Tensor) -> Param {
        Param::named("", value)
    }

    /// A parameter with a name, as `"fc1.weight"` (used in error messages and weight files).
    pub fn named(name: impl Into<String>, value: Tensor) -> Param {
        Param {
            id: ParamId::fresh(),
            name: name.into(),
            value: value.contiguous(),
            requires_grad: true,
        }
    }

    /// Whether the parameter is trained (`true` unless frozen), as PyTorch's `requires_grad`.
    pub fn requires_grad(&self) -> bool {
        self.requires_grad
    }

    /// Freezes (`false`) or unfreezes (`true`) the parameter, as PyTorch's
    /// `requires_grad_(flag)`: a frozen parameter enters the tape as a constant, gets no gradient,
    /// and optimizers leave it unchanged (fine-tuning only a head, say).
    ///
    /// ```
    /// use descent_core::{Param, Tape, Tensor};
    /// let mut w = Param::named("w", Tensor::ones([2]));
    /// w.set_requires_grad(false);
    /// let tape = Tape::new();
    /// let loss = (&tape.param(&w) * &tape.var(Tensor::ones([2]))).sum_all();
    /// assert!(loss.backward().get(&w).is_none());
    /// ```
    pub fn set_requires_grad(&mut self, requires_grad: bool) {
        self.requires_grad = requires_grad;
    }

    /// The identity gradients are keyed by.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current value.
    pub fn value(&self) -> &Tensor {
        &self.value
    }

    /// The value, for an in-place update (copy on write keeps tensors that share it intact).
    pub fn value_mut(&mut self) -> &mut Tensor {
        &mut self.value
    }

    /// Replaces the value with one of the same shape and element type.
    ///
    /// # Errors
    /// If the shape or element type differs.
    pub fn set_value(&mut self, value: Tensor) -> Result<()> {
        if value.shape() != self.value.shape() {
            return Err(Error::ShapeMismatch {
                op: "set_value",
                lhs: self.value.shape().into(),
                rhs: value.shape().into(),
                detail: format!("differ for parameter `{}`", self.name),
            });
        }
        if value.dtype() != self.value.dtype() {
            return Err(Error::DTypeMismatch {
                op: "set_value",
                lhs: self.value.dtype(),
                rhs: value.dtype(),
            });
        }
        self.value = value.contiguous();
        Ok(())
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.value.numel()
    }
}

/// Anything that can list its parameters: a model, a layer, a `Vec` of parameters.
///
/// Optimizers take `&mut impl Params`, so a model needs only this to be trained.
///
/// ```
/// use descent_core::{Param, Params, Tensor};
/// struct Linear { w: Param, b: Param }
/// impl Params for Linear {
///     fn visit(&self, f: &mut dyn FnMut(&Param)) { f(&self.w); f(&self.b); }
///     fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) { f(&mut self.w); f(&mut self.b); }
/// }
/// let l = Linear { w: Param::new(Tensor::zeros([3, 2])), b: Param::new(Tensor::zeros([3])) };
/// assert_eq!(l.num_params(), 9);
/// ```
pub trait Params {
    /// Calls `f` on every parameter, in a fixed order.
    fn visit(&self, f: &mut dyn FnMut(&Param));
    /// Calls `f` on every parameter, mutably, in the same order as [`Params::visit`].
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param));

    /// Calls `f` with the path and the parameter of each parameter, in visiting order: what
    /// checkpoints key tensors and optimizer state by. By default the path is the position
    /// (`"0"`, `"1"`, ...); models of descent-nn give their PyTorch `state_dict` paths
    /// (`"fc2.weight"`).
    fn visit_named(&self, f: &mut dyn FnMut(&str, &Param)) {
        let mut i = 0usize;
        self.visit(&mut |p| {
            f(&i.to_string(), p);
            i += 1;
        });
    }

    /// The number of scalar parameters.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit(&mut |p| n += p.numel());
        n
    }

    /// The ids of the parameters, in visiting order.
    fn param_ids(&self) -> Vec<ParamId> {
        let mut ids = Vec::new();
        self.visit(&mut |p| ids.push(p.id()));
        ids
    }
}

impl Params for Param {
    fn visit(&self, f: &mut dyn FnMut(&Param)) {
        f(self)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(self)
    }
}

impl<P: Params> Params for [P] {
    fn visit(&self, f: &mut dyn FnMut(&Param)) {
        self.iter().for_each(|p| p.visit(f))
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.iter_mut().for_each(|p| p.visit_mut(f))
    }
}

impl<P: Params> Params for Vec<P> {
    fn visit(&self, f: &mut dyn FnMut(&Param)) {
        self.as_slice().visit(f)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.as_mut_slice().visit_mut(f)
    }
}

impl<P: Params, const N: usize> Params for [P; N] {
    fn visit(&self, f: &mut dyn FnMut(&Param)) {
        self.as_slice().visit(f)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.as_mut_slice().visit_mut(f)
    }
}

impl<P: Params> Params for Option<P> {
    fn visit(&self, f: &mut dyn FnMut(&Param)) {
        if let Some(p) = self {
            p.visit(f)
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        if let Some(p) = self {
            p.visit_mut(f)
        }
    }
}

macro_rules! tuple_params {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Params),+> Params for ($($name,)+) {
            fn visit(&self, f: &mut dyn FnMut(&Param)) {
                $(self.$idx.visit(f);)+
            }
            fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
                $(self.$idx.visit_mut(f);)+
            }
        }
    };
}
tuple_params!(A 0, B 1);
tuple_params!(A 0, B 1, C 2);
tuple_params!(A 0, B 1, C 2, D 3);
