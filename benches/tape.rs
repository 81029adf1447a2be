//! Criterion bench of workload W4 of `docs/anchors.md`: the tape's overhead.
//!
//! `x` of shape `[64]` requires a gradient; `y = x`; 1000 times `y = tanh(y * 1.0001 + 0.001)`
//! (3 recorded ops each); `loss = sum(y)`; backward. The figure is the time of forward plus
//! backward divided by 3000 recorded ops. Before measuring, it prints what the tape holds at its
//! peak (nodes and saved bytes), the memory figure of docs/PERFORMANCE.md.
//!
//! Run: `cargo bench --bench tape`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use descent::prelude::*;
use std::hint::black_box;
use std::time::Duration;

const STEPS: usize = 1000;

/// One W4 iteration: returns the gradient of `x` so nothing is optimized away.
fn w4(x0: &Tensor, capacity: usize, report: bool) -> Tensor {
    let tape = Tape::with_capacity(capacity);
    let x = tape.var(x0);
    let mut y = x.clone();
    for _ in 0..STEPS {
        y = (&y * 1.0001 + 0.001).tanh();
    }
    let loss = y.sum_all();
    if report {
        eprintln!(
            "w4: {} nodes on the tape, {} bytes saved for backward at the peak \
             ({} bytes per tanh output kept)",
            tape.len(),
            tape.saved_bytes(),
            64 * 4
        );
    }
    let grads = loss.backward();
    grads.wrt(&x).expect("x requires a gradient").clone()
}

fn w4_tape(c: &mut Criterion) {
    let x0 = Tensor::linspace(-1.0, 1.0, 64);
    let _ = w4(&x0, 0, true);
    let mut g = c.benchmark_group("w4_tape");
    g.sample_size(50).measurement_time(Duration::from_secs(5));
    // Throughput in recorded ops: criterion's "elem/s" is then ops per second.
    g.throughput(Throughput::Elements((3 * STEPS) as u64));
    g.bench_function("chain_3000_ops_f32_64", |b| {
        b.iter(|| black_box(w4(&x0, 0, false)))
    });
    g.bench_function("chain_3000_ops_f32_64_preallocated_tape", |b| {
        b.iter(|| black_box(w4(&x0, 3 * STEPS + 2, false)))
    });
    g.finish();
}

criterion_group!(benches, w4_tape);
criterion_main!(benches);
