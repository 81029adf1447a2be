//! [`Sequential`]: modules applied in order, as `nn.Sequential`.

use crate::buffer::Buffer;
use crate::module::{Ctx, Module, Visit, with_index_path};
use crate::{Conv2d, MaxPool2d, ReLU};
use descent_core::{Param, Pool2dParams, Result, Var};
use std::any::Any;

/// Modules applied one after the other; child `i`'s parameters are named `"{i}.{name}"`
/// (`"0.weight"`), as in PyTorch.
///
/// A run of [`Conv2d`], [`ReLU`] and [`MaxPool2d::new(2)`](MaxPool2d::new) is computed as one
/// op, [`Var::try_conv2d_relu_max_pool2d`] (one pass where the convolution takes the Winograd
/// path), with the values and gradients of the three layers bit for bit; the other layers run
/// one by one.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Layer>,
}

/// A layer, with the kinds a fusion looks for told apart.
enum Layer {
    Conv2d(Box<Conv2d>),
    Relu(ReLU),
    /// A 2x2 max pool with stride 2, no padding and no dilation.
    MaxPool2x2(MaxPool2d),
    Other(Box<dyn Module>),
}

/// `slot`'s value if it is a `T` (then `slot` is left empty).
fn take<T: 'static, M: 'static>(slot: &mut Option<M>) -> Option<T> {
    (slot as &mut dyn Any).downcast_mut::<Option<T>>()?.take()
}

impl Layer {
    fn new<M: Module + 'static>(layer: M) -> Layer {
        let mut slot = Some(layer);
        if let Some(conv) = take::<Conv2d, M>(&mut slot) {
            return Layer::Conv2d(Box::new(conv));
        }
        if let Some(relu) = take::<ReLU, M>(&mut slot) {
            return Layer::Relu(relu);
        }
        let pool_2x2 = (&slot as &dyn Any)
            .downcast_ref::<Option<MaxPool2d>>()
            .and_then(Option::as_ref)
            .is_some_and(|p| p.params == Pool2dParams::new(2));
        if pool_2x2 && let Some(pool) = take::<MaxPool2d, M>(&mut slot) {
            return Layer::MaxPool2x2(pool);
        }
        let Some(layer) = slot else {
            unreachable!("a layer is taken out of its slot only when returned above")
        };
        Layer::Other(Box::new(layer))
    }

    fn module(&self) -> &dyn Module {
        match self {
            Layer::Conv2d(m) => m.as_ref(),
            Layer::Relu(m) => m,
            Layer::MaxPool2x2(m) => m,
            Layer::Other(m) => m.as_ref(),
        }
    }

    fn module_mut(&mut self) -> &mut dyn Module {
        match self {
            Layer::Conv2d(m) => m.as_mut(),
            Layer::Relu(m) => m,
            Layer::MaxPool2x2(m) => m,
            Layer::Other(m) => m.as_mut(),
        }
    }
}

impl Sequential {
    /// An empty sequence (the identity).
    pub fn new() -> Sequential {
        Sequential { layers: Vec::new() }
    }

    /// The sequence with `layer` appended.
    pub fn push(mut self, layer: impl Module + 'static) -> Sequential {
        self.layers.push(Layer::new(layer));
        self
    }

    /// The number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there is no layer.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        let mut y = x.clone();
        let mut rest = &self.layers[..];
        while let Some(first) = rest.first() {
            if let [
                Layer::Conv2d(conv),
                Layer::Relu(_),
                Layer::MaxPool2x2(_),
                ..,
            ] = rest
                && !ctx.traces_layers()
            {
                y = conv.forward_relu_max_pool2x2(&y)?;
                rest = &rest[3..];
                continue;
            }
            y = first.module().forward(&y, ctx)?;
            rest = &rest[1..];
        }
        Ok(y)
    }
}

impl Visit for Sequential {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        for (i, layer) in self.layers.iter().enumerate() {
            with_index_path(prefix, i, |p| layer.module().visit_params(p, f));
        }
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            with_index_path(prefix, i, |p| layer.module_mut().visit_params_mut(p, f));
        }
    }

    fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
        for (i, layer) in self.layers.iter().enumerate() {
            with_index_path(prefix, i, |p| layer.module().visit_buffers(p, f));
        }
    }
}

crate::impl_params!(Sequential);
