//! Weight files of a model: its parameters and buffers by name (`"0.weight"`,
//! `"1.running_mean"`), in safetensors: PyTorch's `state_dict`.
//!
//! Written through [`descent_core::io`] (atomic: a temporary file renamed over the target), so a
//! file descent writes loads into PyTorch with `safetensors.torch.load_file` and
//! `model.load_state_dict`, and back. A load is strict: a missing or extra tensor, or one of the
//! wrong shape or element type, is an error naming the tensor path and what was expected, and
//! nothing is loaded into the model unless every tensor fits.

use crate::module::Module;
use descent_core::io::{self, AnyTensor, WeightFile};
use descent_core::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// The parameters and buffers of `model` by path, in visiting order (parameters first): PyTorch's
/// `model.state_dict()`, what [`save`] writes. A training checkpoint adds its own entries to
/// these.
pub fn state_dict<M: Module + ?Sized>(model: &M) -> Vec<(String, AnyTensor)> {
    let mut out = Vec::new();
    model.visit_params("", &mut |name, p| {
        out.push((name.to_string(), AnyTensor::Float(p.value().clone())))
    });
    model.visit_buffers("", &mut |name, b| out.push((name.to_string(), b.get())));
    out
}

/// The bytes of the weight file of `model` (what [`save`] writes).
///
/// # Errors
/// If two parameters share a path.
pub fn save_bytes<M: Module + ?Sized>(model: &M) -> Result<Vec<u8>> {
    io::to_bytes(&state_dict(model), &HashMap::new()).map_err(|message| Error::InvalidArgument {
        op: "save",
        message,
    })
}

/// Saves the parameters and buffers of `model` to `path` by name, atomically.
///
/// # Errors
/// [`Error::File`] naming the file if it cannot be written; the previous file is then intact.
pub fn save<M: Module + ?Sized>(path: impl AsRef<Path>, model: &M) -> Result<()> {
    io::save(path, &state_dict(model), &HashMap::new())
}

/// Loads weights saved by [`save`] (or by PyTorch's `safetensors.torch.save_file(state_dict)`)
/// into `model`.
///
/// # Errors
/// [`Error::File`] naming the file and, for a tensor, its path and what was expected; the model
/// is unchanged.
pub fn load<M: Module + ?Sized>(path: impl AsRef<Path>, model: &mut M) -> Result<()> {
    let path = path.as_ref();
    let file = io::load(path)?;
    load_file(&file, model).map_err(|detail| io::file_error(path, detail))
}

/// Loads weights from the bytes of a weight file into `model`; see [`load`].
///
/// # Errors
/// [`Error::InvalidArgument`] naming the tensor and what is wrong; the model is unchanged.
pub fn load_bytes<M: Module + ?Sized>(bytes: &[u8], model: &mut M) -> Result<()> {
    let file = io::from_bytes(bytes).map_err(|message| Error::InvalidArgument {
        op: "load",
        message,
    })?;
    load_file(&file, model).map_err(|message| Error::InvalidArgument {
        op: "load",
        message,
    })
}

/// Loads the parameters and buffers of `model` from a weight file already read (a training
/// checkpoint, say): strict as [`load`], except that entries whose names start with one of
/// `ignore_prefixes` (the checkpoint's own, as `optimizer.`) are not counted as extra.
///
/// # Errors
/// A message naming the tensor and what is wrong; the model is then unchanged.
pub fn load_state_dict<M: Module + ?Sized>(
    file: &WeightFile,
    model: &mut M,
    ignore_prefixes: &[&str],
) -> std::result::Result<(), String> {
    load_file_ignoring(file, model, ignore_prefixes)
}

/// Checks every tensor of `file` against `model`, then sets them all.
fn load_file<M: Module + ?Sized>(
    file: &WeightFile,
    model: &mut M,
) -> std::result::Result<(), String> {
    load_file_ignoring(file, model, &[])
}

fn load_file_ignoring<M: Module + ?Sized>(
    file: &WeightFile,
    model: &mut M,
    ignore_prefixes: &[&str],
) -> std::result::Result<(), String> {
    // What the model holds: (path, expected dtype name, shape).
    let mut wanted: Vec<(String, &'static str, Vec<usize>)> = Vec::new();
    model.visit_params("", &mut |name, p| {
        let dtype = AnyTensor::from(p.value()).dtype_name();
        wanted.push((name.to_string(), dtype, p.shape().to_vec()))
    });
    let n_params = wanted.len();
    model.visit_buffers("", &mut |name, b| {
        wanted.push((name.to_string(), b.dtype_name(), b.shape()))
    });
    let mut values: HashMap<String, AnyTensor> = HashMap::new();
    for (i, (name, dtype, shape)) in wanted.iter().enumerate() {
        let kind = if i < n_params { "tensor" } else { "buffer" };
        let Some(t) = file.get(name) else {
            return Err(format!(
                "{kind} `{name}` is missing (expected {dtype} {shape:?})"
            ));
        };
        if t.shape() != shape.as_slice() || t.dtype_name() != *dtype {
            return Err(format!(
                "{kind} `{name}` is {} {:?}, expected {dtype} {shape:?}",
                t.dtype_name(),
                t.shape()
            ));
        }
        if values.insert(name.clone(), t.clone()).is_some() {
            return Err(format!("the model has two tensors named `{name}`"));
        }
    }
    let extra: Vec<&str> = file
        .tensors
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !values.contains_key(*n))
        .filter(|n| !ignore_prefixes.iter().any(|p| n.starts_with(p)))
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "tensors {extra:?} are in the file but not in the model"
        ));
    }
    model.visit_params_mut("", &mut |name, p| {
        let Some(AnyTensor::Float(v)) = values.remove(name) else {
            unreachable!("checked above: `{name}` is a float tensor")
        };
        p.set_value(v).expect("shape and dtype checked above");
    });
    model.visit_buffers("", &mut |name, b| {
        let v = values.remove(name).expect("checked above");
        b.set(v).expect("shape and dtype checked above");
    });
    Ok(())
}
