//! Eval forwards of the W1 MLP through descent-nn or through the same ops on `Tensor`, a fixed
//! number of times, for instruction counts (the figure behind "an eval forward costs what the
//! `Tensor` ops cost"; wall time on the shared 2-core machine is too noisy for a few percent):
//!
//! ```sh
//! cargo build --release --example nn_eval_count
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/nn_eval_count module 1 2000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/nn_eval_count tensor 1 2000
//! ```
//!
//! Arguments: `module` or `tensor`, the batch size (default 1), the number of forwards
//! (default 1000). Run with `RAYON_NUM_THREADS=1` for counts that do not depend on scheduling.

#[path = "common/workload_models.rs"]
mod workload_models;

use descent::prelude::*;
use std::hint::black_box;
use workload_models::w1_mlp;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map(String::as_str).unwrap_or("module");
    let batch: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let n: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let model = w1_mlp();
    let layers: Vec<(Tensor, Tensor)> = model
        .named_params()
        .chunks(2)
        .map(|wb| (wb[0].1.value().clone(), wb[1].1.value().clone()))
        .collect();
    let x = Tensor::linspace(0.0, 1.0, batch * 784).reshape([batch, 784]);
    let mut checksum = 0.0f64;
    for _ in 0..n {
        let y = match path {
            "tensor" => {
                let mut y = x.clone();
                for (i, (w, b)) in layers.iter().enumerate() {
                    y = y.matmul(&w.t()).add(b);
                    if i + 1 < layers.len() {
                        y = y.relu();
                    }
                }
                y
            }
            _ => {
                let tape = Tape::new();
                tape.no_grad(|| model.forward(&tape.constant(&x), &Ctx::eval()))
                    .expect("the forward fits")
                    .value()
                    .clone()
            }
        };
        checksum += black_box(y).sum_all().item() as f64;
    }
    println!("{path} batch {batch}: {n} forwards, checksum {checksum:.6}");
}
