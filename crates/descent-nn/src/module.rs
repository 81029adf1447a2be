//! [`Module`]: what every layer and model implements, and [`Ctx`], what a forward pass is given.

use crate::buffer::Buffer;
use crate::init::Seeds;
use crate::summary::SummaryRow;
use descent_core::{Param, Result, Var};
use std::cell::{Cell, RefCell};

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
    trace: Option<RefCell<Vec<SummaryRow>>>,
    rank: usize,
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
            trace: None,
            rank: 0,
        }
    }

    /// The same pass as process `rank` of a data-parallel run: its random streams (dropout
    /// masks) derive from `(seed, epoch, step, rank)`, so the processes draw different masks for
    /// their different samples. Rank 0's streams are those of [`Ctx::train`], so one process is
    /// the single-process run.
    ///
    /// ```
    /// use descent_nn::Ctx;
    /// let (a, b) = (Ctx::train(7, 0, 3), Ctx::train(7, 0, 3).with_rank(1));
    /// assert_ne!(a.next_stream().next_u64(), b.next_stream().next_u64());
    /// let c = Ctx::train(7, 0, 3).with_rank(0);
    /// assert_eq!(Ctx::train(7, 0, 3).next_stream().next_u64(), c.next_stream().next_u64());
    /// ```
    pub fn with_rank(mut self, rank: usize) -> Ctx {
        self.rank = rank;
        self
    }

    /// An evaluation pass: no randomness, dropout is the identity.
    pub fn eval() -> Ctx {
        Ctx {
            mode: Mode::Eval,
            seeds: Seeds::new(0),
            epoch: 0,
            step: 0,
            draws: Cell::new(0),
            trace: None,
            rank: 0,
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

    /// An evaluation pass that records a row for each layer that calls [`Ctx::record_layer`]
    /// (what [`Module::summary`] runs).
    pub fn tracing() -> Ctx {
        Ctx {
            trace: Some(RefCell::new(Vec::new())),
            ..Ctx::eval()
        }
    }

    /// Whether layers are being recorded for a [`crate::Summary`] (then `Sequential` runs every
    /// layer on its own, so that each gets its row).
    pub(crate) fn traces_layers(&self) -> bool {
        self.trace.is_some()
    }

    /// Called by a layer at the end of its forward with its type name, output and parameter
    /// count, for [`Module::summary`]; does nothing unless the context is [`Ctx::tracing`]. The
    /// built-in layers call it; a custom layer of your own may.
    pub fn record_layer(&self, layer: &str, output: &Var, params: &dyn Visit) {
        if let Some(trace) = &self.trace {
            let (mut n, mut trainable) = (0, 0);
            params.visit_params("", &mut |_, p| {
                n += p.numel();
                if p.requires_grad() {
                    trainable += p.numel();
                }
            });
            trace.borrow_mut().push(SummaryRow {
                layer: layer.to_string(),
                output_shape: output.shape().to_vec(),
                params: n,
                trainable,
            });
        }
    }

    /// The rows recorded by a [`Ctx::tracing`] pass.
    pub(crate) fn take_trace(&self) -> Vec<SummaryRow> {
        self.trace.as_ref().map(|t| t.take()).unwrap_or_default()
    }

    /// The next random stream of this pass: the `n`-th call gives the stream of
    /// `(seed, epoch, step, n)`.
    pub fn next_stream(&self) -> crate::Stream {
        let n = self.draws.get();
        self.draws.set(n + 1);
        if self.rank == 0 {
            self.seeds
                .stream(&format!("forward/{}/{}/{n}", self.epoch, self.step))
        } else {
            self.seeds.stream(&format!(
                "forward/{}/{}/rank{}/{n}",
                self.epoch, self.step, self.rank
            ))
        }
    }
}

/// What a model holds, visited by path: its parameters (trained) and its buffers (saved, not
/// trained, e.g. BatchNorm's running statistics).
///
/// Paths are PyTorch's `state_dict` names: a layer reports `weight` and `bias`, a container
/// prefixes its children (`"0.weight"`, `"conv1.bias"`). Write it with
/// [`#[derive(Module)]`](derive@crate::Module) on a struct (field names become the paths;
/// `Vec`s, `Option`s, `Box`es and nested structs included), or by hand for a layer with its own
/// layout. A [`Param`] visits itself at `prefix`, a [`Buffer`] likewise, and plain settings
/// (`usize`, `f64`, `bool`, ...) visit nothing.
pub trait Visit {
    /// Calls `f` with the path and the parameter of each parameter, in a fixed order.
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param));

    /// Calls `f` with the path and the parameter of each parameter, mutably, in the same order.
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param));

    /// Calls `f` with the path and the buffer of each buffer, in a fixed order. None by default.
    fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
        let _ = (prefix, f);
    }
}

/// A layer or a model: a forward pass on variables, plus its parameters and buffers by name
/// ([`Visit`]).
///
/// `forward` takes `&self`: a model is `Send + Sync`, and eval forwards of one shared `&model` can
/// run on several threads (buffers that change in training, such as BatchNorm's running
/// statistics, are [`Buffer`]s, updated through a lock). Parameters are registered on the input's
/// tape inside `forward` (`x.tape().param(&self.weight)`); under
/// [`Tape::no_grad`](descent_core::Tape::no_grad) nothing is recorded and a forward costs what
/// the same `Tensor` ops cost.
///
/// A model struct gets [`Visit`] and [`Params`](descent_core::Params) (what optimizers take)
/// from `#[derive(Module)]` and implements `forward` itself:
///
/// ```
/// use descent_core::{Result, Tape, Tensor, Var};
/// use descent_nn::{Ctx, Linear, Module, ReLU, Seeds};
///
/// #[derive(Module)]
/// struct Mlp {
///     hidden: Vec<Linear>,
///     head: Linear,
///     #[module(skip)]
///     note: &'static str,
/// }
///
/// impl Module for Mlp {
///     fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
///         let mut x = x.clone();
///         for layer in &self.hidden {
///             x = ReLU.forward(&layer.forward(&x, ctx)?, ctx)?;
///         }
///         self.head.forward(&x, ctx)
///     }
/// }
///
/// let s = Seeds::new(0);
/// let m = Mlp {
///     hidden: vec![Linear::new(4, 8, true, &s.stream("h0")), Linear::new(8, 8, true, &s.stream("h1"))],
///     head: Linear::new(8, 2, true, &s.stream("head")),
///     note: "unvisited",
/// };
/// let names: Vec<String> = m.named_params().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["hidden.0.weight", "hidden.0.bias", "hidden.1.weight", "hidden.1.bias",
///                    "head.weight", "head.bias"]);
/// let tape = Tape::new();
/// assert_eq!(m.forward(&tape.constant(Tensor::zeros([3, 4])), &Ctx::eval()).unwrap().shape(), [3, 2]);
/// ```
pub trait Module: Visit + Send + Sync {
    /// The output for input `x`.
    ///
    /// # Errors
    /// A shape the layer cannot take (the message names the layer and both shapes), or a tape
    /// that was consumed or dropped.
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var>;

    /// The parameters with their paths, in visiting order.
    fn named_params(&self) -> Vec<(String, &Param)> {
        let mut named = Vec::new();
        self.visit_params("", &mut |name, p| named.push((name.to_string(), p)));
        named
    }

    /// The buffers with their paths, in visiting order.
    fn named_buffers(&self) -> Vec<(String, &Buffer)> {
        let mut named = Vec::new();
        self.visit_buffers("", &mut |name, b| named.push((name.to_string(), b)));
        named
    }

    /// The number of parameter scalars (trainable or frozen; see [`Summary`](crate::Summary)
    /// for the split).
    fn num_parameters(&self) -> usize {
        let mut n = 0;
        self.visit_params("", &mut |_, p| n += p.numel());
        n
    }

    /// A table of the layers an eval forward of a zero input of `input_shape` runs through: each
    /// built-in layer with its output shape and parameter count, then the totals (as
    /// `torchsummary`). Prints with `{}`.
    ///
    /// # Errors
    /// If the forward fails for that shape.
    fn summary(&self, input_shape: &[usize]) -> Result<crate::Summary>
    where
        Self: Sized,
    {
        crate::summary::summary(self, input_shape)
    }
}

impl<T: Module + ?Sized> Module for Box<T> {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        (**self).forward(x, ctx)
    }
}

impl<T: Visit + ?Sized> Visit for Box<T> {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        (**self).visit_params(prefix, f)
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        (**self).visit_params_mut(prefix, f)
    }
    fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
        (**self).visit_buffers(prefix, f)
    }
}

impl<T: Visit> Visit for Option<T> {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        if let Some(t) = self {
            t.visit_params(prefix, f)
        }
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        if let Some(t) = self {
            t.visit_params_mut(prefix, f)
        }
    }
    fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
        if let Some(t) = self {
            t.visit_buffers(prefix, f)
        }
    }
}

/// Element `i` is visited below `prefix.i`, as `nn.ModuleList`.
impl<T: Visit> Visit for Vec<T> {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        for (i, t) in self.iter().enumerate() {
            with_index_path(prefix, i, |p| t.visit_params(p, f))
        }
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        for (i, t) in self.iter_mut().enumerate() {
            with_index_path(prefix, i, |p| t.visit_params_mut(p, f))
        }
    }
    fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
        for (i, t) in self.iter().enumerate() {
            with_index_path(prefix, i, |p| t.visit_buffers(p, f))
        }
    }
}

/// Element `i` is visited below `prefix.i`.
impl<T: Visit, const N: usize> Visit for [T; N] {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        for (i, t) in self.iter().enumerate() {
            with_index_path(prefix, i, |p| t.visit_params(p, f))
        }
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        for (i, t) in self.iter_mut().enumerate() {
            with_index_path(prefix, i, |p| t.visit_params_mut(p, f))
        }
    }
    fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
        for (i, t) in self.iter().enumerate() {
            with_index_path(prefix, i, |p| t.visit_buffers(p, f))
        }
    }
}

/// Element `i` of a tuple is visited below `prefix.i`; a tuple of settings (`(usize, usize)`)
/// visits nothing.
macro_rules! visit_tuple {
    ($(($($T:ident $i:tt),+))*) => {$(
        impl<$($T: Visit),+> Visit for ($($T,)+) {
            fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
                $(with_module_path(prefix, stringify!($i), |p| self.$i.visit_params(p, f));)+
            }
            fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
                $(with_module_path(prefix, stringify!($i), |p| self.$i.visit_params_mut(p, f));)+
            }
            fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
                $(with_module_path(prefix, stringify!($i), |p| self.$i.visit_buffers(p, f));)+
            }
        }
    )*};
}
visit_tuple!((A 0) (A 0, B 1) (A 0, B 1, C 2) (A 0, B 1, C 2, D 3));

/// A parameter is visited at `prefix` itself: a field `weight: Param` is `"weight"`.
impl Visit for Param {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        f(prefix, self)
    }
    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        f(prefix, self)
    }
}

/// A buffer is visited at `prefix` itself.
impl Visit for Buffer {
    fn visit_params<'a>(&'a self, _: &str, _: &mut dyn FnMut(&str, &'a Param)) {}
    fn visit_params_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param)) {}
    fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
        f(prefix, self)
    }
}

/// Settings hold no parameters: a model struct's `usize`, `f64`, `bool`, `String` fields need no
/// `#[module(skip)]`.
macro_rules! visit_nothing {
    ($($T:ty),*) => {$(
        impl Visit for $T {
            fn visit_params<'a>(&'a self, _: &str, _: &mut dyn FnMut(&str, &'a Param)) {}
            fn visit_params_mut(&mut self, _: &str, _: &mut dyn FnMut(&str, &mut Param)) {}
        }
    )*};
}
visit_nothing!(
    bool,
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    isize,
    f32,
    f64,
    String,
    &'static str,
    std::marker::PhantomData<()>
);

/// `prefix.name`, or `name` at the top.
pub fn module_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Paths up to this many bytes are joined on the stack by [`with_module_path`].
const STACK_PATH_BYTES: usize = 128;

/// Calls `f` with [`module_path()`]`(prefix, name)`, joined in a stack buffer when it is at most
/// 128 bytes long, so visiting a model's parameters (each optimizer step does it twice) does not
/// allocate. What visitors written by hand can use instead of [`module_path()`].
///
/// ```
/// let n = descent_nn::with_module_path("fc1", "weight", |p| p.len());
/// assert_eq!(n, "fc1.weight".len());
/// assert_eq!(descent_nn::with_module_path("", "bias", str::to_string), "bias");
/// ```
pub fn with_module_path<R>(prefix: &str, name: &str, f: impl FnOnce(&str) -> R) -> R {
    if prefix.is_empty() {
        return f(name);
    }
    let len = prefix.len() + 1 + name.len();
    if len > STACK_PATH_BYTES {
        return f(&module_path(prefix, name));
    }
    let mut buf = [0u8; STACK_PATH_BYTES];
    buf[..prefix.len()].copy_from_slice(prefix.as_bytes());
    buf[prefix.len()] = b'.';
    buf[prefix.len() + 1..len].copy_from_slice(name.as_bytes());
    f(std::str::from_utf8(&buf[..len]).expect("two strs joined by an ASCII dot"))
}

/// Calls `f` with `prefix.i` (`i` at the top), as [`with_module_path`]: the path of element `i`
/// of a container.
///
/// ```
/// assert_eq!(descent_nn::with_index_path("layers", 12, str::to_string), "layers.12");
/// assert_eq!(descent_nn::with_index_path("", 0, str::to_string), "0");
/// ```
pub fn with_index_path<R>(prefix: &str, i: usize, f: impl FnOnce(&str) -> R) -> R {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits.
    let (mut n, mut at) = (i, digits.len());
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let name = std::str::from_utf8(&digits[at..]).expect("ASCII digits");
    with_module_path(prefix, name, f)
}

/// Implements [`Params`](descent_core::Params) (what optimizers take) for module types, in terms
/// of their [`Visit`] visitors, so `opt.step(&mut model, &grads)` works. `#[derive(Module)]` does
/// this itself; the macro is for a [`Visit`] written by hand.
///
/// ```
/// use descent_core::{Param, Result, Tensor, Var};
/// use descent_nn::{Ctx, Module, Visit};
/// struct Scale { w: Param }
/// impl Module for Scale {
///     fn forward(&self, x: &Var, _: &Ctx) -> Result<Var> { x.try_mul(&x.tape().try_param(&self.w)?) }
/// }
/// impl Visit for Scale {
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
                $crate::Visit::visit_params(self, "", &mut |_, p| f(p))
            }
            fn visit_named(&self, f: &mut dyn FnMut(&str, &$crate::__private::Param)) {
                $crate::Visit::visit_params(self, "", &mut |n, p| f(n, p))
            }
            fn visit_mut(&mut self, f: &mut dyn FnMut(&mut $crate::__private::Param)) {
                $crate::Visit::visit_params_mut(self, "", &mut |_, p| f(p))
            }
        }
    )*};
}
