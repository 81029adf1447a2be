//! Checkpoints: a model's parameters and its optimizer's state in one safetensors file, so
//! training resumes exactly (N steps, save, load, M steps gives the same bits as N + M steps).
//!
//! The file is a standard safetensors file (readable by the `safetensors` Python package) keyed
//! by parameter path ([`Params::visit_named`]: PyTorch `state_dict` names such as `fc2.weight`
//! for descent-nn models, positions `0`, `1`, ... for a plain list): each parameter is the tensor
//! of its path, its optimizer buffers are `optimizer.<path>.<buffer>` (as
//! `optimizer.fc2.weight.exp_avg`), and the header's metadata holds the format
//! (`descent.checkpoint` = `2`), the optimizer's name, step counts and learning rate. A save
//! writes a temporary file beside the target and renames it over the target only once it is
//! complete and synced, so an interrupted save never leaves a half-written file in place of a
//! good one. A load checks everything before it changes anything.
//!
//! [`optimizer_entries`] and [`load_optimizer_entries`] give the optimizer's part alone, for a
//! training checkpoint that adds buffers, random streams and a loader position to the same file.
//!
//! ```
//! use descent_core::{Param, Tape, Tensor};
//! use descent_optim::{checkpoint, Adam, AdamConfig, Optimizer};
//! let mut w = vec![Param::named("w", Tensor::from_vec(vec![1.0f32, 2.0], [2]))];
//! let mut opt = Adam::new(AdamConfig::default()).unwrap();
//! let tape = Tape::new();
//! let loss = tape.param(&w[0]).square().sum_all();
//! opt.step(&mut w, &loss.backward()).unwrap();
//!
//! let path = std::env::temp_dir().join(format!("descent-doc-{}.safetensors", std::process::id()));
//! checkpoint::save(&path, &w, &opt).unwrap();
//! let mut w2 = vec![Param::named("w", Tensor::zeros([2]))];
//! let mut opt2 = Adam::new(AdamConfig::default()).unwrap();
//! checkpoint::load(&path, &mut w2, &mut opt2).unwrap();
//! assert_eq!(w2[0].value().to_vec_f32(), w[0].value().to_vec_f32());
//! assert_eq!(opt2.steps(), 1);
//! # std::fs::remove_file(&path).unwrap();
//! ```

use crate::optimizer::{Optimizer, OptimizerState, ParamState};
use descent_core::io::{self, AnyTensor, WeightFile, file_error};
use descent_core::{DType, Params, Result, Tensor};
use std::collections::HashMap;
use std::path::Path;

const FORMAT_KEY: &str = "descent.checkpoint";
const FORMAT: &str = "2";

/// The tensors and metadata entries of `optimizer`'s state over `params`, keyed by parameter
/// path: tensors `optimizer.<path>.<buffer>`, metadata `optimizer`, `optimizer.steps`,
/// `optimizer.lr`, `optimizer.<path>.step` and `optimizer.<path>.buffers`.
pub fn optimizer_entries(
    params: &dyn Params,
    optimizer: &dyn Optimizer,
) -> (Vec<(String, AnyTensor)>, HashMap<String, String>) {
    let state = optimizer.state(params);
    let mut names = Vec::new();
    params.visit_named(&mut |name, _| names.push(name.to_string()));
    let mut meta = HashMap::new();
    meta.insert("optimizer".to_string(), state.optimizer.clone());
    meta.insert("optimizer.steps".to_string(), state.steps.to_string());
    // `{:?}` prints the shortest decimal that parses back to the same f64.
    meta.insert("optimizer.lr".to_string(), format!("{:?}", state.lr));
    let mut tensors = Vec::new();
    for ps in &state.params {
        let path = &names[ps.index];
        meta.insert(format!("optimizer.{path}.step"), ps.step.to_string());
        meta.insert(
            format!("optimizer.{path}.buffers"),
            ps.buffers
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        for (name, t) in &ps.buffers {
            tensors.push((format!("optimizer.{path}.{name}"), t.into()));
        }
    }
    (tensors, meta)
}

/// Loads the optimizer state written by [`optimizer_entries`] from `file` into `optimizer`.
///
/// # Errors
/// A message naming the entry and what is wrong (missing, of another shape or dtype, another
/// optimizer's state); `optimizer` is then unchanged.
pub fn load_optimizer_entries(
    file: &WeightFile,
    params: &dyn Params,
    optimizer: &mut dyn Optimizer,
) -> std::result::Result<(), String> {
    let state = read_optimizer_state(file, params)?;
    optimizer
        .load_state(params, &state)
        .map_err(|e| e.to_string())
}

fn get<'a>(file: &'a WeightFile, key: &str) -> std::result::Result<&'a String, String> {
    file.metadata
        .get(key)
        .ok_or_else(|| format!("the header has no `{key}` entry"))
}

fn number(file: &WeightFile, key: &str) -> std::result::Result<u64, String> {
    get(file, key)?
        .parse()
        .map_err(|_| format!("`{key}` is not a number"))
}

fn tensor(
    file: &WeightFile,
    name: &str,
    dtype: DType,
    shape: &[usize],
) -> std::result::Result<Tensor, String> {
    let t = match file.get(name) {
        None => {
            return Err(format!(
                "tensor `{name}` is missing (expected {dtype:?} {shape:?})"
            ));
        }
        Some(AnyTensor::Float(t)) => t,
        Some(other) => {
            return Err(format!(
                "tensor `{name}` is {}, not f32 or f64",
                other.dtype_name()
            ));
        }
    };
    if t.dtype() != dtype || t.shape() != shape {
        return Err(format!(
            "tensor `{name}` is {:?} {:?}, expected {dtype:?} {shape:?}",
            t.dtype(),
            t.shape()
        ));
    }
    Ok(t.clone())
}

/// The parameters' paths, dtypes and shapes, in visiting order.
fn expected(params: &dyn Params) -> Vec<(String, DType, Vec<usize>)> {
    let mut out = Vec::new();
    params.visit_named(&mut |name, p| {
        out.push((name.to_string(), p.value().dtype(), p.shape().to_vec()))
    });
    out
}

fn read_optimizer_state(
    file: &WeightFile,
    params: &dyn Params,
) -> std::result::Result<OptimizerState, String> {
    let lr: f64 = get(file, "optimizer.lr")?
        .parse()
        .map_err(|_| "`optimizer.lr` is not a number".to_string())?;
    let mut states = Vec::new();
    for (i, (path, dtype, shape)) in expected(params).iter().enumerate() {
        let Some(buffers) = file.metadata.get(&format!("optimizer.{path}.buffers")) else {
            continue;
        };
        let buffers = buffers
            .split(',')
            .filter(|b| !b.is_empty())
            .map(|b| {
                Ok((
                    b.to_string(),
                    tensor(file, &format!("optimizer.{path}.{b}"), *dtype, shape)?,
                ))
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        states.push(ParamState {
            index: i,
            name: String::new(),
            step: number(file, &format!("optimizer.{path}.step"))?,
            buffers,
        });
    }
    // State for a parameter the model does not have: the file is of another model.
    let known: std::collections::HashSet<String> =
        expected(params).into_iter().map(|(p, _, _)| p).collect();
    for key in file.metadata.keys() {
        if let Some(path) = key
            .strip_prefix("optimizer.")
            .and_then(|k| k.strip_suffix(".buffers"))
            && !known.contains(path)
        {
            return Err(format!(
                "it holds optimizer state for `{path}`, which the model does not have"
            ));
        }
    }
    Ok(OptimizerState {
        optimizer: get(file, "optimizer")?.clone(),
        steps: number(file, "optimizer.steps")?,
        lr,
        params: states,
    })
}

/// Saves the parameters of `params` and the state of `optimizer` to `path`, atomically.
///
/// # Errors
/// [`Error::File`](descent_core::Error::File) naming the file if it cannot be written; the
/// previous file, if any, is intact.
pub fn save(path: impl AsRef<Path>, params: &dyn Params, optimizer: &dyn Optimizer) -> Result<()> {
    let (mut tensors, mut meta) = optimizer_entries(params, optimizer);
    meta.insert(FORMAT_KEY.to_string(), FORMAT.to_string());
    let mut count = 0;
    params.visit_named(&mut |name, p| {
        tensors.push((name.to_string(), p.value().into()));
        count += 1;
    });
    meta.insert("params".to_string(), count.to_string());
    io::save(path, &tensors, &meta)
}

/// Loads parameters and optimizer state saved by [`save`] into `params` and `optimizer`.
///
/// # Errors
/// [`Error::File`](descent_core::Error::File) naming the file and what is wrong: it cannot be
/// read, is not a descent checkpoint, lacks a parameter (named by its path) or holds one the
/// model does not have, has another shape or element type, or another optimizer's state.
/// Nothing changes then.
pub fn load(
    path: impl AsRef<Path>,
    params: &mut dyn Params,
    optimizer: &mut dyn Optimizer,
) -> Result<()> {
    let path = path.as_ref();
    let file = io::load(path)?;
    load_file(&file, params, optimizer).map_err(|detail| file_error(path, detail))
}

fn load_file(
    file: &WeightFile,
    params: &mut dyn Params,
    optimizer: &mut dyn Optimizer,
) -> std::result::Result<(), String> {
    if file.metadata.get(FORMAT_KEY).map(String::as_str) != Some(FORMAT) {
        return Err(format!(
            "not a descent checkpoint of this version (the header has no `{FORMAT_KEY}` = \
             `{FORMAT}` entry)"
        ));
    }
    // The parameters: check every one before changing any.
    let expected = expected(params);
    let count = number(file, "params")?;
    if count != expected.len() as u64 {
        return Err(format!(
            "it holds {count} parameters, the model has {}",
            expected.len()
        ));
    }
    let values = expected
        .iter()
        .map(|(name, dtype, shape)| tensor(file, name, *dtype, shape))
        .collect::<std::result::Result<Vec<_>, String>>()?;
    load_optimizer_entries(file, params, optimizer)?;
    let mut values = values.into_iter();
    params.visit_mut(&mut |p| {
        let v = values.next().expect("counted above");
        p.set_value(v).expect("shape and dtype checked above");
    });
    Ok(())
}
