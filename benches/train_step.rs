//! W1, W1b and W2 of `docs/anchors.md`: training steps through descent-nn and `Adam`, in samples/s.
//!
//! Each run is a fresh process, so the allocator starts cold, as a user's program does:
//!
//! ```sh
//! cargo build --release --example train_step
//! target/release/examples/train_step w1      # also w1b, w2
//! ```
//!
//! Protocol of `../shared/anchors/WORKLOADS.md`: synthetic normal inputs and random labels from a
//! fixed seed, 3 warm-up steps, then steps timed until at least `SECONDS` (second argument,
//! default 3) have passed, 5 repeats; it prints the median, the minimum and the maximum.
//! An optional third argument fixes the number of timed steps instead (for `perf stat`).

#[path = "common/workload_models.rs"]
mod workload_models;

use descent::optim::{Adam, AdamConfig, Optimizer};
use descent::prelude::*;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use workload_models::{w1_mlp, w2_cnn};

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_else(|| "w1".to_string());
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let fixed_steps: Option<usize> = args.next().and_then(|a| a.parse().ok());
    let (mut model, batch, sample): (Sequential, usize, Vec<usize>) = match workload.as_str() {
        "w1" => (w1_mlp(), 128, vec![784]),
        "w1b" => (w1_mlp(), 32, vec![784]),
        "w2" => (w2_cnn(), 64, vec![1, 28, 28]),
        other => {
            eprintln!("train_step: unknown workload {other:?} (w1, w1b or w2)");
            std::process::exit(2);
        }
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut shape = vec![batch];
    shape.extend_from_slice(&sample);
    let x = Tensor::randn(&shape, &mut rng);
    let labels: Vec<usize> = (0..batch).map(|_| rng.random_range(0..10)).collect();
    let labels = IntTensor::from(&labels[..]);
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-3,
        ..AdamConfig::default()
    })
    .expect("a valid config");
    let mut step = |model: &mut Sequential| {
        let tape = Tape::new();
        let out = model
            .forward(&tape.constant(&x), &Ctx::train(0, 0, 0))
            .expect("forward");
        let loss = out.cross_entropy(&labels);
        let grads = loss.backward();
        opt.step(model, &grads).expect("step");
    };
    for _ in 0..3 {
        step(&mut model);
    }
    if let Some(n) = fixed_steps {
        let t = Instant::now();
        for _ in 0..n {
            step(&mut model);
        }
        let rate = (n * batch) as f64 / t.elapsed().as_secs_f64();
        println!("{workload}: {n} steps, {rate:.0} samples/s");
        return;
    }
    let mut rates = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut steps = 0;
        while t.elapsed().as_secs_f64() < seconds {
            step(&mut model);
            steps += 1;
        }
        rates.push((steps * batch) as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{workload}: {:.0} samples/s (min {:.0}, max {:.0}; 5 runs of {seconds} s)",
        rates[2], rates[0], rates[4]
    );
}
