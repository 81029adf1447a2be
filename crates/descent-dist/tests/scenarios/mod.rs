//! The data-parallel scenarios, shared by the thread-group tests (`tests/data_parallel.rs`) and
//! the MPI check run under `mpirun` (`examples/mpi_check.rs`): each runs on every rank with that
//! rank's [`DataParallel`] and returns a line to print, or what went wrong.

#![allow(dead_code)]

use descent_core::io::AnyTensor;
use descent_core::{Error, IntTensor, Params, Var};
use descent_data::{DataLoader, TensorDataset, digits, split};
use descent_nn::{Dropout, Flatten, Linear, ReLU, Seeds, Sequential};
use descent_optim::{Optimizer, Sgd, SgdConfig};
use descent_train::{DataParallel, History, Learner, Progress};
use std::path::Path;

/// How far N processes may end from one process on the same global batches, after 2 epochs
/// of 15 steps (float summation order only; measured: a few 1e-7).
pub const TOLERANCE: f32 = 1e-5;

/// Global batch size: 1437 training samples in 15 batches (the last one 93 samples).
pub const BATCH: usize = 96;

pub fn data() -> (TensorDataset, TensorDataset) {
    split(&digits(), 0.2, 7).unwrap()
}

pub fn loader() -> DataLoader {
    DataLoader::new(data().0, BATCH).unwrap().shuffle(3)
}

/// A 64-`hidden`-10 MLP without dropout or BatchNorm: its training depends on the batches only.
pub fn mlp(hidden: usize) -> Sequential {
    let s = Seeds::new(1);
    Sequential::new()
        .push(Flatten)
        .push(Linear::new(64, hidden, true, &s.stream("1")))
        .push(ReLU)
        .push(Linear::new(hidden, 10, true, &s.stream("3")))
}

/// A small CNN with BatchNorm and dropout.
pub fn cnn() -> Sequential {
    let s = Seeds::new(2);
    Sequential::new()
        .push(descent_nn::Conv2d::new(1, 4, 3, &s.stream("0")))
        .push(descent_nn::BatchNorm2d::new(4))
        .push(ReLU)
        .push(descent_nn::MaxPool2d::new(2))
        .push(Dropout::new(0.25).unwrap())
        .push(Flatten)
        .push(Linear::new(4 * 3 * 3, 10, true, &s.stream("6")))
}

pub fn sgd() -> Sgd {
    Sgd::with_config(SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        ..SgdConfig::default()
    })
    .unwrap()
}

/// Two epochs of `model` with momentum SGD, quietly, data-parallel over `dp` if given.
pub fn train(
    model: &mut Sequential,
    dp: Option<&DataParallel>,
    checkpoint: Option<(&Path, u64)>,
    resume: Option<&Path>,
    max_steps: Option<u64>,
) -> descent_core::Result<History> {
    let mut opt = sgd();
    let mut l = Learner::new(model, &mut opt as &mut dyn Optimizer)
        .epochs(2)
        .seed(11)
        .validation(DataLoader::new(data().1, 100).unwrap())
        .progress(Progress::Quiet);
    if let Some(dp) = dp {
        l = l.distributed(dp);
    }
    if let Some((p, every)) = checkpoint {
        l = l.checkpoint(p, Some(every));
    }
    if let Some(p) = resume {
        l = l.resume(p);
    }
    if let Some(n) = max_steps {
        l = l.max_steps(n);
    }
    l.fit(&loader())
}

/// Every parameter as f32.
pub fn flat(m: &Sequential) -> Vec<f32> {
    let mut out = Vec::new();
    m.visit(&mut |p| out.extend(p.value().to_vec_f32()));
    out
}

/// Every parameter and buffer as bytes (what must be equal on every rank).
pub fn state_bytes(m: &Sequential) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, t) in descent_nn::state_dict(m) {
        out.extend(name.as_bytes());
        match t {
            AnyTensor::Float(t) => out.extend(t.to_vec_f64().iter().flat_map(|v| v.to_le_bytes())),
            AnyTensor::Int(t) => out.extend(t.to_vec().iter().flat_map(|v| v.to_le_bytes())),
        }
    }
    out
}

pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn e(err: Error) -> String {
    err.to_string()
}

/// Fails unless every rank holds the same `bytes`.
fn same_on_every_rank(dp: &DataParallel, bytes: &[u8], what: &str) -> Result<(), String> {
    let all = dp.collective().all_gather_bytes(bytes).map_err(e)?;
    match all.iter().position(|b| b != &all[0]) {
        Some(r) => Err(format!("{what} differs between rank 0 and rank {r}")),
        None => Ok(()),
    }
}

/// N processes on global batches of [`BATCH`] end within [`TOLERANCE`] of one process, with
/// the same bits on every rank, the same loss history up to rounding and the same validation
/// accuracy.
pub fn equality(dp: &DataParallel) -> Result<String, String> {
    let mut one = mlp(32);
    let h_one = train(&mut one, None, None, None, None).map_err(e)?;
    let mut many = mlp(32);
    let h_many = train(&mut many, Some(dp), None, None, None).map_err(e)?;
    same_on_every_rank(dp, &state_bytes(&many), "the trained model")?;
    let d = max_diff(&flat(&one), &flat(&many));
    if d.is_nan() || d > TOLERANCE {
        return Err(format!(
            "{} ranks end {d:e} from one process",
            dp.world_size()
        ));
    }
    for (a, b) in h_one.epochs.iter().zip(&h_many.epochs) {
        if (a.train_loss - b.train_loss).abs() > 1e-5 {
            return Err(format!(
                "epoch {} loss {} on one process, {} on {}",
                a.epoch,
                a.train_loss,
                b.train_loss,
                dp.world_size()
            ));
        }
    }
    Ok(format!(
        "{} ranks vs one process: max |param diff| {d:.1e}, final loss {:.6} vs {:.6}, val acc {:?} vs {:?}",
        dp.world_size(),
        h_many.epochs[1].train_loss,
        h_one.epochs[1].train_loss,
        h_many.epochs[1].val_accuracy,
        h_one.epochs[1].val_accuracy
    ))
}

/// Two runs on the same ranks give the same bits.
pub fn determinism(dp: &DataParallel) -> Result<String, String> {
    let mut a = mlp(32);
    train(&mut a, Some(dp), None, None, None).map_err(e)?;
    let mut b = mlp(32);
    train(&mut b, Some(dp), None, None, None).map_err(e)?;
    if state_bytes(&a) != state_bytes(&b) {
        return Err("two runs differ".to_string());
    }
    let hash = state_bytes(&a).iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    Ok(format!(
        "two runs on {} ranks: identical (state hash {hash:016x})",
        dp.world_size()
    ))
}

/// A model that differs on one rank stops every rank with an error naming that rank.
pub fn mismatch(dp: &DataParallel) -> Result<String, String> {
    let odd = dp.world_size() - 1;
    let mut m = mlp(if dp.rank() == odd && odd > 0 { 33 } else { 32 });
    match train(&mut m, Some(dp), None, None, None) {
        Ok(_) if odd == 0 => Ok("one rank: nothing to mismatch".to_string()),
        Ok(_) => Err("a mismatched model trained".to_string()),
        Err(err) => {
            let msg = err.to_string();
            if msg.contains(&format!("rank {odd}")) && msg.contains("1.weight") {
                Ok(format!("rank {}: {msg}", dp.rank()))
            } else {
                Err(format!("unclear error: {msg}"))
            }
        }
    }
}

/// A CNN with BatchNorm and dropout trains; afterwards every rank holds the same parameters
/// and buffers (rank 0's running statistics) and saw the same validation accuracy.
pub fn batchnorm(dp: &DataParallel) -> Result<String, String> {
    let mut m = cnn();
    let h = train(&mut m, Some(dp), None, None, None).map_err(e)?;
    same_on_every_rank(dp, &state_bytes(&m), "the model's parameters and buffers")?;
    let acc = h.epochs[1].val_accuracy.unwrap_or(f64::NAN);
    same_on_every_rank(dp, &acc.to_le_bytes(), "the validation accuracy")?;
    if acc.is_nan() || acc <= 0.5 {
        return Err(format!("validation accuracy {acc} after 2 epochs"));
    }
    Ok(format!(
        "CNN with BatchNorm and dropout on {} ranks: val acc {acc:.4}",
        dp.world_size()
    ))
}

/// Steps after which `resume_write` stops: mid-way through the second epoch.
pub const STOP: u64 = 15 + 5;

/// Trains with a checkpoint every 4 steps to `dir/ckpt` and stops at step [`STOP`].
pub fn resume_write(dp: &DataParallel, dir: &Path) -> Result<String, String> {
    let path = dir.join("ckpt");
    let mut m = mlp(32);
    train(&mut m, Some(dp), Some((&path, 4)), None, Some(STOP)).map_err(e)?;
    Ok(format!(
        "{} ranks wrote {} at step {STOP}",
        dp.world_size(),
        path.display()
    ))
}

/// Resumes `dir/ckpt` (written by any number of ranks) and ends within [`TOLERANCE`] of one
/// uninterrupted process.
pub fn resume_read(dp: &DataParallel, dir: &Path) -> Result<String, String> {
    let path = dir.join("ckpt");
    let mut fresh = mlp(16 + 16); // same architecture, its values come from the checkpoint
    train(&mut fresh, Some(dp), None, Some(&path), None).map_err(e)?;
    let mut straight = mlp(32);
    train(&mut straight, None, None, None, None).map_err(e)?;
    same_on_every_rank(dp, &state_bytes(&fresh), "the resumed model")?;
    let d = max_diff(&flat(&fresh), &flat(&straight));
    if d.is_nan() || d > TOLERANCE {
        return Err(format!(
            "resumed on {} ranks: {d:e} from one uninterrupted process",
            dp.world_size()
        ));
    }
    Ok(format!(
        "resumed on {} ranks: max |param diff| {d:.1e} from one uninterrupted process",
        dp.world_size()
    ))
}

/// The parameters and buffers after a 2-epoch run on `dp`'s ranks.
pub fn trained_state(dp: &DataParallel) -> Vec<u8> {
    let mut m = mlp(32);
    train(&mut m, Some(dp), None, None, None).unwrap();
    state_bytes(&m)
}

/// The last rank's loss fails at its 4th step; returns what this rank's fit returned.
pub fn rank_fails(dp: &DataParallel) -> descent_core::Result<History> {
    rank_fails_with(dp, &|| ())
}

/// A run in which every rank calls `at_fourth` at its 4th loss, and the last rank's loss then
/// fails.
pub fn rank_fails_with(dp: &DataParallel, at_fourth: &dyn Fn()) -> descent_core::Result<History> {
    let failing = dp.world_size() - 1;
    let calls = std::cell::Cell::new(0);
    let mut m = mlp(32);
    let mut opt = sgd();
    Learner::new(&mut m, &mut opt as &mut dyn Optimizer)
        .progress(Progress::Quiet)
        .distributed(dp)
        .loss(|out: &Var, y: &IntTensor| {
            calls.set(calls.get() + 1);
            if calls.get() == 4 {
                at_fourth();
            }
            if dp.rank() == failing && calls.get() == 4 {
                return Err(Error::InvalidArgument {
                    op: "test loss",
                    message: format!("rank {failing} fails on purpose"),
                });
            }
            out.try_cross_entropy(y)
        })
        .fit(&loader())
}
