//! Criterion bench of one optimizer step over 1M and 10M `f32` parameters: Adam (the issue's
//! figure) and SGD with momentum, through the `Optimizer` API (finiteness check included) and the
//! bare fused kernel.
//!
//! Adam reads `p, g, m, v` and writes `p, m, v`: 28 bytes per parameter, the throughput criterion
//! reports (the finiteness pre-pass reads `g` once more: 32 bytes moved in all). Compare the GB/s
//! with the machine's triad bandwidth (W6 of `docs/anchors.md`) and with
//! `benches/torch_adam.py` run beside it.
//!
//! Run: `cargo bench --bench optim`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use descent::kernels::optim::{AdamStep, adam};
use descent::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;
use std::time::Duration;

fn setup(n: usize) -> (Param, Gradients) {
    let mut rng = StdRng::seed_from_u64(0);
    let p = Param::named("p", Tensor::randn([n], &mut rng).to_dtype(DType::F32));
    let mut grads = Gradients::default();
    grads.insert(
        p.id(),
        Tensor::randn([n], &mut rng).to_dtype(DType::F32) * 1e-3,
    );
    (p, grads)
}

fn optimizer_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("optim_step");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for (label, n) in [("1M", 1usize << 20), ("10M", 10_000_000)] {
        g.throughput(Throughput::Bytes(28 * n as u64));
        let (mut p, grads) = setup(n);
        let mut opt = Adam::new(AdamConfig::default()).unwrap();
        opt.step(&mut p, &grads).unwrap(); // allocates the moments
        g.bench_function(format!("adam_{label}"), |b| {
            b.iter(|| black_box(opt.step(&mut p, &grads).unwrap()))
        });

        let gs = grads.get(&p).unwrap().to_vec_f32();
        let mut ps = p.value().to_vec_f32();
        let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
        let h = AdamStep {
            step_size: 1e-3,
            bias2_sqrt: 0.5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            ..AdamStep::default()
        };
        g.bench_function(format!("adam_kernel_{label}"), |b| {
            b.iter(|| adam(&h, black_box(&mut ps), &gs, &mut m, &mut v, None))
        });

        // SGD with momentum reads p, g, b and writes p, b: 20 bytes per parameter.
        g.throughput(Throughput::Bytes(20 * n as u64));
        let mut sgd = Sgd::with_config(SgdConfig {
            lr: 1e-3,
            momentum: 0.9,
            ..SgdConfig::default()
        })
        .unwrap();
        sgd.step(&mut p, &grads).unwrap();
        g.bench_function(format!("sgd_momentum_{label}"), |b| {
            b.iter(|| black_box(sgd.step(&mut p, &grads).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, optimizer_step);
criterion_main!(benches);
