//! [`Sequential`]: modules applied in order, as `nn.Sequential`.

use crate::buffer::Buffer;
use crate::module::{Ctx, Module, Visit, with_index_path};
use descent_core::{Param, Result, Var};

/// Modules applied one after the other; child `i`'s parameters are named `"{i}.{name}"`
/// (`"0.weight"`), as in PyTorch.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty sequence (the identity).
    pub fn new() -> Sequential {
        Sequential { layers: Vec::new() }
    }

    /// The sequence with `layer` appended.
    pub fn push(mut self, layer: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
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
        for layer in &self.layers {
            y = layer.forward(&y, ctx)?;
        }
        Ok(y)
    }
}

impl Visit for Sequential {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        for (i, layer) in self.layers.iter().enumerate() {
            with_index_path(prefix, i, |p| layer.visit_params(p, f));
        }
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            with_index_path(prefix, i, |p| layer.visit_params_mut(p, f));
        }
    }

    fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
        for (i, layer) in self.layers.iter().enumerate() {
            with_index_path(prefix, i, |p| layer.visit_buffers(p, f));
        }
    }
}

crate::impl_params!(Sequential);
