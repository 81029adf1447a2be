//! Weight files of a model: its parameters by name (`"0.weight"`), in safetensors.
//!
//! Written through [`descent_core::io`] (atomic: a temporary file renamed over the target), so a
//! file descent writes loads into PyTorch with `safetensors.torch.load_file` and
//! `model.load_state_dict`, and back. A load is strict: a missing or extra tensor, or one of the
//! wrong shape or element type, is an error naming the tensor path and what was expected, and
//! nothing is loaded into the model unless every tensor fits.

use crate::module::Module;
use descent_core::io::{self, AnyTensor, WeightFile};
use descent_core::{Error, Result, Tensor};
use std::collections::HashMap;
use std::path::Path;

fn entries(model: &dyn Module) -> Vec<(String, AnyTensor)> {
    let mut out = Vec::new();
    model.visit_params("", &mut |name, p| {
        out.push((name.to_string(), AnyTensor::Float(p.value().clone())))
    });
    out
}

/// The bytes of the weight file of `model` (what [`save`] writes).
///
/// # Errors
/// If two parameters share a path.
pub fn save_bytes(model: &dyn Module) -> Result<Vec<u8>> {
    io::to_bytes(&entries(model), &HashMap::new()).map_err(|message| Error::InvalidArgument {
        op: "save",
        message,
    })
}

/// Saves the parameters of `model` to `path` by name, atomically.
///
/// # Errors
/// [`Error::File`] naming the file if it cannot be written; the previous file is then intact.
pub fn save(path: impl AsRef<Path>, model: &dyn Module) -> Result<()> {
    io::save(path, &entries(model), &HashMap::new())
}

/// Loads weights saved by [`save`] (or by PyTorch's `safetensors.torch.save_file(state_dict)`)
/// into `model`.
///
/// # Errors
/// [`Error::File`] naming the file and, for a tensor, its path and what was expected; the model
/// is unchanged.
pub fn load(path: impl AsRef<Path>, model: &mut dyn Module) -> Result<()> {
    let path = path.as_ref();
    let file = io::load(path)?;
    load_file(&file, model).map_err(|detail| io::file_error(path, detail))
}

/// Loads weights from the bytes of a weight file into `model`; see [`load`].
///
/// # Errors
/// [`Error::InvalidArgument`] naming the tensor and what is wrong; the model is unchanged.
pub fn load_bytes(bytes: &[u8], model: &mut dyn Module) -> Result<()> {
    let file = io::from_bytes(bytes).map_err(|message| Error::InvalidArgument {
        op: "load",
        message,
    })?;
    load_file(&file, model).map_err(|message| Error::InvalidArgument {
        op: "load",
        message,
    })
}

/// Checks every tensor of `file` against `model`, then sets them all.
fn load_file(file: &WeightFile, model: &mut dyn Module) -> std::result::Result<(), String> {
    let mut wanted = Vec::new();
    model.visit_params("", &mut |name, p| {
        wanted.push((name.to_string(), p.shape().to_vec(), p.value().dtype()))
    });
    let mut values: HashMap<String, Tensor> = HashMap::new();
    for (name, shape, dtype) in &wanted {
        let t = match file.get(name) {
            None => {
                return Err(format!(
                    "tensor `{name}` is missing (expected {dtype:?} {shape:?})"
                ));
            }
            Some(AnyTensor::Int(_)) => {
                return Err(format!(
                    "tensor `{name}` is I64, expected {dtype:?} {shape:?}"
                ));
            }
            Some(AnyTensor::Float(t)) => t,
        };
        if t.shape() != shape.as_slice() || t.dtype() != *dtype {
            return Err(format!(
                "tensor `{name}` is {:?} {:?}, expected {dtype:?} {shape:?}",
                t.dtype(),
                t.shape()
            ));
        }
        values.insert(name.clone(), t.clone());
    }
    let extra: Vec<&str> = file
        .tensors
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !values.contains_key(*n))
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "tensors {extra:?} are in the file but not in the model"
        ));
    }
    model.visit_params_mut("", &mut |name, p| {
        let v = values.remove(name).expect("checked above");
        p.set_value(v).expect("shape and dtype checked above");
    });
    Ok(())
}
