//! Data-parallel scaling on one machine (docs/SCALING.md): W1's MLP (Adam, global batch 128)
//! and W2's CNN (global batch 64) trained over `mpirun -np N`, each process taking its share of
//! every global batch, as `Learner::distributed` does. Rank 0 prints samples/s (median of
//! `--repeats` timed blocks), the gradient reduction's time per step, its share of the step and
//! the bytes each rank sends per step.
//!
//! Build and run (needs the `mpi` feature, hence an MPI library):
//! `cargo build --release --features mpi --example dist_scaling` then
//! `RAYON_NUM_THREADS=1 mpirun -np 2 target/release/examples/dist_scaling [w1|w2|all]`.
//! Without a launcher it runs as one process. `dist_scaling compute` (one process) times a step
//! at the local batch sizes N processes would each take (W1: 128/N, W2: 64/N, N = 1..16): the
//! compute side of the cluster model in docs/SCALING.md.

#[path = "common/workload_models.rs"]
mod workload_models;

use descent::dist::DataParallel;
use descent::prelude::*;
use rand::{Rng, SeedableRng};
use std::time::Instant;

/// A fixed global batch: normal features, labels uniform in 0..10, the same on every rank.
fn global_batch(shape: &[usize], seed: u64) -> (Tensor, IntTensor) {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let x = Tensor::randn(shape, &mut r);
    let labels: Vec<usize> = (0..shape[0]).map(|_| r.random_range(0..10)).collect();
    (x, IntTensor::from(&labels[..]))
}

/// This rank's contiguous share of the global batch.
fn share(x: &Tensor, y: &IntTensor, dp: &DataParallel) -> (Tensor, IntTensor, f64) {
    let n = x.shape()[0];
    let (w, r) = (dp.world_size(), dp.rank());
    let (base, extra) = (n / w, n % w);
    let start = r * base + r.min(extra);
    let len = base + usize::from(r < extra);
    let xs = x.narrow(0, start, len).contiguous();
    let labels = y.to_vec();
    let ys = IntTensor::from_vec(labels[start..start + len].to_vec(), [len]);
    (xs, ys, len as f64 / n as f64)
}

fn run(
    name: &str,
    mut model: Sequential,
    shape: &[usize],
    steps: usize,
    repeats: usize,
    dp: &DataParallel,
) -> Result<()> {
    let (x, y) = global_batch(shape, 1);
    let (xs, ys, weight) = share(&x, &y, dp);
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-3,
        ..AdamConfig::default()
    })?;
    dp.broadcast_model(&mut model)?;
    let mut step = |step: u64| -> Result<()> {
        let tape = Tape::new();
        let out = model.forward(
            &tape.constant(&xs),
            &Ctx::train(0, 0, step).with_rank(dp.rank()),
        )?;
        let loss = out.try_cross_entropy(&ys)?;
        let mut grads = loss.backward();
        dp.average_gradients(&model, &mut grads, weight)?;
        opt.step(&mut model, &grads).map(|_| ())
    };
    for s in 0..3 {
        step(s)?;
    }
    let mut rates = Vec::new();
    let mut shares = Vec::new();
    let mut per_step_ms = Vec::new();
    let mut bytes = 0;
    for rep in 0..repeats {
        dp.sum(&[0.0])?; // start together
        dp.take_stats();
        let t = Instant::now();
        for s in 0..steps {
            step((3 + rep * steps + s) as u64)?;
        }
        dp.sum(&[0.0])?;
        let secs = t.elapsed().as_secs_f64();
        let stats = dp.take_stats();
        rates.push((shape[0] * steps) as f64 / secs);
        shares.push(stats.reduce_seconds / secs);
        per_step_ms.push(1e3 * stats.reduce_seconds / steps as f64);
        bytes = stats.bytes_sent;
    }
    // The reduction alone, the ranks released together: its cost without waiting for a slower
    // rank (what the time above also holds).
    let tape = Tape::new();
    let out = model.forward(&tape.constant(&xs), &Ctx::train(0, 0, 0))?;
    let grads = out.try_cross_entropy(&ys)?.backward();
    let mut alone = Vec::new();
    for _ in 0..20 {
        let mut g = grads.clone();
        dp.sum(&[0.0])?;
        let t = Instant::now();
        dp.average_gradients(&model, &mut g, weight)?;
        alone.push(1e3 * t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    if dp.is_root() {
        println!(
            "{name} np={} threads/process={}: {:.0} samples/s (median of {repeats}); gradient \
             reduction {:.3} ms/step = {:.1} % of the step (alone, ranks released together: \
             {:.3} ms); {:.2} MB sent per rank per step",
            dp.world_size(),
            rayon::current_num_threads(),
            median(&mut rates),
            median(&mut per_step_ms),
            100.0 * median(&mut shares),
            median(&mut alone),
            bytes as f64 / 1e6
        );
    }
    Ok(())
}

/// Median seconds of a training step of `model` at batch `shape[0]`, no communication.
fn step_seconds(mut model: Sequential, shape: &[usize], steps: usize) -> Result<f64> {
    let (x, y) = global_batch(shape, 1);
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-3,
        ..AdamConfig::default()
    })?;
    let mut times = Vec::new();
    for s in 0..steps + 3 {
        let t = Instant::now();
        let tape = Tape::new();
        let out = model.forward(&tape.constant(&x), &Ctx::train(0, 0, s as u64))?;
        let grads = out.try_cross_entropy(&y)?.backward();
        opt.step(&mut model, &grads)?;
        if s >= 3 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn compute() -> Result<()> {
    for n in [1usize, 2, 4, 8, 16] {
        let w1 = step_seconds(workload_models::w1_mlp(), &[128 / n, 784], 60)?;
        let w2 = step_seconds(workload_models::w2_cnn(), &[(64 / n).max(1), 1, 28, 28], 9)?;
        println!(
            "N={n:<2} W1 step at local batch {:>3}: {:.3} ms   W2 step at local batch {:>2}: {:.2} ms   ({} threads)",
            128 / n,
            1e3 * w1,
            (64 / n).max(1),
            1e3 * w2,
            rayon::current_num_threads()
        );
    }
    Ok(())
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".to_string());
    if which == "compute" {
        if let Err(e) = compute() {
            eprintln!("dist_scaling: {e}");
            std::process::exit(1);
        }
        return;
    }
    let dp = match descent::dist::from_env() {
        Ok(Some(dp)) => dp,
        Ok(None) => DataParallel::new(descent::dist::SingleProcess),
        Err(e) => {
            eprintln!("dist_scaling: {e}");
            std::process::exit(2);
        }
    };
    let result = (|| -> Result<()> {
        if which == "w1" || which == "all" {
            run(
                "W1 MLP batch 128",
                workload_models::w1_mlp(),
                &[128, 784],
                40,
                5,
                &dp,
            )?;
        }
        if which == "w2" || which == "all" {
            run(
                "W2 CNN batch 64",
                workload_models::w2_cnn(),
                &[64, 1, 28, 28],
                5,
                5,
                &dp,
            )?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("dist_scaling (rank {}): {e}", dp.rank());
        std::process::exit(1);
    }
}
