//! Checkpoints: a model's parameters and its optimizer's state in one safetensors file, so
//! training resumes exactly (N steps, save, load, M steps gives the same bits as N + M steps).
//!
//! The file is a standard safetensors file (readable by the `safetensors` Python package):
//! parameter `i` (in the model's visiting order) is the tensor `param.<i>`, its optimizer buffers
//! are `optim.<i>.<buffer>` (as `optim.0.exp_avg`), and the header's metadata holds the format
//! (`descent.checkpoint` = `1`), each parameter's name, the optimizer's name, step counts and
//! learning rate. A save writes a temporary file beside the target and renames it over the target
//! only once it is complete and synced, so an interrupted save never leaves a half-written file in
//! place of a good one. A load checks everything before it changes anything.
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
use descent_core::io::{self, AnyTensor, file_error};
use descent_core::{DType, Params, Result, Tensor};
use std::collections::HashMap;
use std::path::Path;

const FORMAT_KEY: &str = "descent.checkpoint";
const FORMAT: &str = "1";

/// Saves the parameters of `params` and the state of `optimizer` to `path`, atomically.
///
/// # Errors
/// [`Error::File`](descent_core::Error::File) naming the file if it cannot be written; the previous file, if any, is intact.
pub fn save(path: impl AsRef<Path>, params: &dyn Params, optimizer: &dyn Optimizer) -> Result<()> {
    let path = path.as_ref();
    let state = optimizer.state(params);
    let mut meta = HashMap::new();
    meta.insert(FORMAT_KEY.to_string(), FORMAT.to_string());
    meta.insert("optimizer".to_string(), state.optimizer.clone());
    meta.insert("optimizer.steps".to_string(), state.steps.to_string());
    // `{:?}` prints the shortest decimal that parses back to the same f64.
    meta.insert("optimizer.lr".to_string(), format!("{:?}", state.lr));
    let mut tensors: Vec<(String, AnyTensor)> = Vec::new();
    let mut index = 0;
    params.visit(&mut |p| {
        meta.insert(format!("param.{index}.name"), p.name().to_string());
        tensors.push((format!("param.{index}"), p.value().into()));
        index += 1;
    });
    meta.insert("params".to_string(), index.to_string());
    for ps in &state.params {
        meta.insert(format!("optim.{}.step", ps.index), ps.step.to_string());
        meta.insert(
            format!("optim.{}.buffers", ps.index),
            ps.buffers
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        for (name, t) in &ps.buffers {
            tensors.push((format!("optim.{}.{name}", ps.index), t.into()));
        }
    }
    io::save(path, &tensors, &meta)
}

/// Loads parameters and optimizer state saved by [`save`] into `params` and `optimizer`.
///
/// # Errors
/// [`Error::File`](descent_core::Error::File) naming the file and what is wrong: it cannot be read, is not a safetensors
/// file, is not a descent checkpoint, holds another number of parameters or other names, shapes
/// or element types, or another optimizer's state. Nothing changes then.
pub fn load(
    path: impl AsRef<Path>,
    params: &mut dyn Params,
    optimizer: &mut dyn Optimizer,
) -> Result<()> {
    let path = path.as_ref();
    let bad = |detail: String| file_error(path, detail);
    let file = io::load(path)?;
    let meta = &file.metadata;
    let get = |key: &str| {
        meta.get(key)
            .ok_or_else(|| bad(format!("the header has no `{key}` entry")))
    };
    if meta.get(FORMAT_KEY).map(String::as_str) != Some(FORMAT) {
        return Err(bad(format!(
            "not a descent checkpoint (the header has no `{FORMAT_KEY}` = `{FORMAT}` entry)"
        )));
    }
    let number = |key: &str| -> Result<u64> {
        get(key)?
            .parse()
            .map_err(|_| bad(format!("`{key}` is not a number")))
    };
    let tensor = |name: &str, dtype: DType, shape: &[usize]| -> Result<Tensor> {
        let t = match file.get(name) {
            None => return Err(bad(format!("tensor `{name}` is missing"))),
            Some(AnyTensor::Float(t)) => t,
            Some(other) => {
                return Err(bad(format!(
                    "tensor `{name}` is {}, not f32 or f64",
                    other.dtype_name()
                )));
            }
        };
        if t.dtype() != dtype || t.shape() != shape {
            return Err(bad(format!(
                "tensor `{name}` is {:?} {:?}, expected {dtype:?} {shape:?}",
                t.dtype(),
                t.shape()
            )));
        }
        Ok(t.clone())
    };

    // The parameters: check every one before changing any.
    let mut expected = Vec::new();
    params.visit(&mut |p| {
        expected.push((p.name().to_string(), p.value().dtype(), p.shape().to_vec()))
    });
    let count = number("params")?;
    if count != expected.len() as u64 {
        return Err(bad(format!(
            "it holds {count} parameters, the model has {}",
            expected.len()
        )));
    }
    let mut values = Vec::with_capacity(expected.len());
    for (i, (name, dtype, shape)) in expected.iter().enumerate() {
        let saved = get(&format!("param.{i}.name"))?;
        if !saved.is_empty() && !name.is_empty() && saved != name {
            return Err(bad(format!(
                "parameter #{i} is `{saved}` in the file but `{name}` in the model"
            )));
        }
        values.push(tensor(&format!("param.{i}"), *dtype, shape)?);
    }

    // The optimizer's state.
    let optimizer_name = get("optimizer")?.clone();
    let lr: f64 = get("optimizer.lr")?
        .parse()
        .map_err(|_| bad("`optimizer.lr` is not a number".to_string()))?;
    let mut states = Vec::new();
    for (i, (name, dtype, shape)) in expected.iter().enumerate() {
        let Some(buffers) = meta.get(&format!("optim.{i}.buffers")) else {
            continue;
        };
        let buffers = buffers
            .split(',')
            .filter(|b| !b.is_empty())
            .map(|b| {
                Ok((
                    b.to_string(),
                    tensor(&format!("optim.{i}.{b}"), *dtype, shape)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        states.push(ParamState {
            index: i,
            name: name.clone(),
            step: number(&format!("optim.{i}.step"))?,
            buffers,
        });
    }
    let state = OptimizerState {
        optimizer: optimizer_name,
        steps: number("optimizer.steps")?,
        lr,
        params: states,
    };
    optimizer
        .load_state(params, &state)
        .map_err(|e| bad(e.to_string()))?;

    let mut values = values.into_iter();
    params.visit_mut(&mut |p| {
        let v = values.next().expect("counted above");
        p.set_value(v).expect("shape and dtype checked above");
    });
    Ok(())
}
