//! Criterion bench of the fused `linear` op against the composition it replaces,
//! `x.matmul(&w.t()) + b`, on an MLP's first layer: `x [128, 784]`, `W [256, 784]`, `b [256]`,
//! `f32`.
//!
//! Cases: forward only (`Tensor`), and forward plus backward on a tape with `W` and `b` requiring
//! a gradient and `x` a constant (a first layer), or `x` requiring one too (a hidden layer).
//! The loss is `sum(y)`, the same for both paths.
//!
//! Also `cross_entropy` (one fused op) against the composition it replaced,
//! `-mean(gather(log_softmax(x, 1), 1, labels))`, forward plus backward, on `[128, 10]` (an MLP's
//! classifier) and `[128, 1000]`.
//!
//! Run: `cargo bench --bench linear`.

use criterion::{Criterion, criterion_group, criterion_main};
use descent::prelude::*;
use rand::SeedableRng;
use std::hint::black_box;
use std::time::Duration;

/// Forward and backward of one layer; returns `dW` so nothing is optimized away.
fn step(x: &Tensor, w: &Tensor, b: &Tensor, fused: bool, x_grad: bool) -> Tensor {
    let tape = Tape::new();
    let xv = if x_grad {
        tape.var(x)
    } else {
        tape.constant(x)
    };
    let (wv, bv) = (tape.var(w), tape.var(b));
    let y = if fused {
        xv.linear(&wv, Some(&bv))
    } else {
        xv.matmul(&wv.t()) + &bv
    };
    let grads = y.sum_all().backward();
    grads.wrt(&wv).expect("W requires a gradient").clone()
}

fn linear(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let x = Tensor::randn([128, 784], &mut rng);
    let w = Tensor::randn([256, 784], &mut rng);
    let b = Tensor::randn([256], &mut rng);
    let mut g = c.benchmark_group("linear_128x784_to_256");
    g.sample_size(40).measurement_time(Duration::from_secs(5));
    g.bench_function("forward_fused", |bch| {
        bch.iter(|| black_box(x.linear(&w, Some(&b))))
    });
    g.bench_function("forward_matmul_t_add", |bch| {
        bch.iter(|| black_box(x.matmul(&w.t()) + &b))
    });
    for (x_grad, what) in [(false, "x_const"), (true, "x_grad")] {
        g.bench_function(format!("fwd_bwd_fused_{what}"), |bch| {
            bch.iter(|| black_box(step(&x, &w, &b, true, x_grad)))
        });
        g.bench_function(format!("fwd_bwd_matmul_t_add_{what}"), |bch| {
            bch.iter(|| black_box(step(&x, &w, &b, false, x_grad)))
        });
    }
    g.finish();
}

/// Forward and backward of a cross-entropy; returns the logits' gradient.
fn ce_step(x: &Tensor, labels: &IntTensor, fused: bool) -> Tensor {
    let tape = Tape::new();
    let xv = tape.var(x);
    let loss = if fused {
        xv.cross_entropy(labels)
    } else {
        let index = labels.unsqueeze(1);
        xv.log_softmax(1).gather(1, &index).mean_all().neg()
    };
    let grads = loss.backward();
    grads.wrt(&xv).expect("x requires a gradient").clone()
}

fn cross_entropy(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(43);
    let mut g = c.benchmark_group("cross_entropy_fwd_bwd");
    g.sample_size(40).measurement_time(Duration::from_secs(4));
    for classes in [10usize, 1000] {
        let x = Tensor::randn([128, classes], &mut rng);
        let labels: Vec<usize> = (0..128).map(|i| (i * 7) % classes).collect();
        let labels = IntTensor::from(&labels[..]);
        g.bench_function(format!("fused_128x{classes}"), |bch| {
            bch.iter(|| black_box(ce_step(&x, &labels, true)))
        });
        g.bench_function(format!("log_softmax_gather_mean_128x{classes}"), |bch| {
            bch.iter(|| black_box(ce_step(&x, &labels, false)))
        });
    }
    g.finish();
}

criterion_group!(benches, linear, cross_entropy);
criterion_main!(benches);
