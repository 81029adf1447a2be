//! Criterion bench: what an eval forward of a descent-nn model costs over the same ops on
//! `Tensor` (the "inference costs no tape bookkeeping").
//!
//! The model is the MLP of workload W1 (784-256-256-10, ReLU) as a `Sequential`; its eval forward
//! runs under `Tape::no_grad` with `Ctx::eval()`. The reference applies the same three
//! matmul + bias + ReLU steps to `Tensor`s directly. Batch 128 (throughput) and batch 1 (where
//! any per-layer overhead would show).
//!
//! Run: `cargo bench --bench nn_eval`.

#[path = "common/workload_models.rs"]
mod workload_models;

use criterion::{Criterion, criterion_group, criterion_main};
use descent::prelude::*;
use std::hint::black_box;
use std::time::Duration;
use workload_models::w1_mlp;

/// The same forward on tensors: `relu(x W^T + b)` twice, then `x W^T + b`.
fn tensor_forward(x: &Tensor, layers: &[(Tensor, Tensor)]) -> Tensor {
    let mut y = x.clone();
    for (i, (w, b)) in layers.iter().enumerate() {
        y = y.matmul(&w.t()).add(b);
        if i + 1 < layers.len() {
            y = y.relu();
        }
    }
    y
}

fn nn_eval(c: &mut Criterion) {
    let model = w1_mlp();
    let named = model.named_params();
    let layers: Vec<(Tensor, Tensor)> = named
        .chunks(2)
        .map(|wb| (wb[0].1.value().clone(), wb[1].1.value().clone()))
        .collect();
    let mut g = c.benchmark_group("nn_eval_mlp");
    g.sample_size(50).measurement_time(Duration::from_secs(4));
    for batch in [128usize, 1] {
        let x = Tensor::linspace(0.0, 1.0, batch * 784).reshape([batch, 784]);
        let a = tensor_forward(&x, &layers);
        let tape = Tape::new();
        let b = tape.no_grad(|| model.forward(&tape.constant(&x), &Ctx::eval()).unwrap());
        assert_eq!(a, *b.value(), "the module and the tensor ops must agree");
        g.bench_function(format!("tensor_ops_batch{batch}"), |bch| {
            bch.iter(|| black_box(tensor_forward(&x, &layers)))
        });
        g.bench_function(format!("module_no_grad_batch{batch}"), |bch| {
            bch.iter(|| {
                let tape = Tape::new();
                black_box(tape.no_grad(|| model.forward(&tape.constant(&x), &Ctx::eval())))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, nn_eval);
criterion_main!(benches);
