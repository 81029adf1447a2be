//! Criterion benches of the kernel workloads of `docs/anchors.md`.
//!
//! Groups are named after the workload ids: `w2_conv_forward` (the CNN's two convolutions,
//! forward), `w3_gemm` (square matmul), `w5_elementwise` (add and relu on 2^24 floats), plus
//! `reduce_sum` and `parallel_threshold` (the measurement behind `descent_kernels::parallel`).
//! Figures and their ratios to the anchors are in docs/PERFORMANCE.md.
//!
//! Run all: `cargo bench --bench workloads`; one group: `cargo bench --bench workloads -- w3_gemm`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use descent::kernels::{BinaryOp, UnaryOp, elementwise};
use descent::prelude::*;
use rand::SeedableRng;
use std::hint::black_box;
use std::time::Duration;

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(42)
}

fn w3_gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("w3_gemm");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    for n in [256usize, 512, 1024] {
        let a = Tensor::randn([n, n], &mut rng());
        let b = Tensor::randn([n, n], &mut rng());
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_with_input(BenchmarkId::new("matmul_f32", n), &n, |bch, _| {
            bch.iter(|| black_box(a.matmul(&b)))
        });
    }
    // A transposed operand goes through strides, not a copy.
    let n = 512;
    let a = Tensor::randn([n, n], &mut rng());
    let b = Tensor::randn([n, n], &mut rng());
    g.throughput(Throughput::Elements((2 * n * n * n) as u64));
    g.bench_function("matmul_f32_transposed_rhs/512", |bch| {
        bch.iter(|| black_box(a.matmul(&b.t())))
    });
    g.finish();
}

fn w2_conv_forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("w2_conv_forward");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    // W2, batch 64: conv1 1->32 3x3 on 28x28, conv2 32->64 3x3 on 26x26.
    let cases = [
        ("conv1_1x28x28_to_32", [64, 1, 28, 28], [32, 1, 3, 3]),
        ("conv2_32x26x26_to_64", [64, 32, 26, 26], [64, 32, 3, 3]),
    ];
    for (name, xs, ws) in cases {
        let x = Tensor::randn(xs, &mut rng());
        let w = Tensor::randn(ws, &mut rng());
        let (oh, ow) = (xs[2] - 2, xs[3] - 2);
        let flops = 2 * xs[0] * ws[0] * oh * ow * ws[1] * ws[2] * ws[3];
        g.throughput(Throughput::Elements(flops as u64));
        g.bench_function(name, |bch| {
            bch.iter(|| black_box(x.conv2d(&w, None, Conv2dParams::default())))
        });
    }
    g.finish();
}

fn w5_elementwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("w5_elementwise");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    let n = 1 << 24;
    let x = Tensor::randn([n], &mut rng());
    let y = Tensor::randn([n], &mut rng());
    // Bytes read + written, as the anchors count them.
    g.throughput(Throughput::Bytes((12 * n) as u64));
    g.bench_function("add_tensor_new_output", |b| b.iter(|| black_box(&x + &y)));
    let xs = x.to_vec_f32();
    let ys = y.to_vec_f32();
    let mut out = vec![0.0f32; n];
    g.bench_function("add_kernel_preallocated", |b| {
        b.iter(|| elementwise::binary(BinaryOp::Add, &xs, &ys, black_box(&mut out)))
    });
    g.throughput(Throughput::Bytes((8 * n) as u64));
    g.bench_function("relu_tensor_new_output", |b| b.iter(|| black_box(x.relu())));
    g.bench_function("relu_kernel_preallocated", |b| {
        b.iter(|| elementwise::unary(UnaryOp::Relu, &xs, black_box(&mut out)))
    });
    g.finish();
}

fn reduce_sum(c: &mut Criterion) {
    let mut g = c.benchmark_group("reduce_sum");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let n = 1 << 24;
    let x = Tensor::randn([n], &mut rng());
    g.throughput(Throughput::Bytes((4 * n) as u64));
    g.bench_function("sum_all_2^24", |b| b.iter(|| black_box(x.sum_all())));
    let m = Tensor::randn([4096, 4096], &mut rng());
    g.bench_function("sum_rows_4096x4096", |b| {
        b.iter(|| black_box(m.sum(&[1], false)))
    });
    g.bench_function("sum_cols_4096x4096", |b| {
        b.iter(|| black_box(m.sum(&[0], false)))
    });
    g.finish();
}

/// Serial vs parallel `add` at sizes around the cut-off in `descent_kernels::parallel`.
fn parallel_threshold(c: &mut Criterion) {
    let mut g = c.benchmark_group("parallel_threshold");
    g.sample_size(30).measurement_time(Duration::from_secs(2));
    let serial = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let parallel = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    for log in [12u32, 13, 14, 15, 16, 17, 18] {
        let n = 1usize << log;
        let a = vec![1.0f32; n];
        let b = vec![2.0f32; n];
        let mut out = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        for (name, pool) in [("1_thread", &serial), ("2_threads", &parallel)] {
            g.bench_with_input(BenchmarkId::new(name, n), &n, |bch, _| {
                bch.iter(|| {
                    pool.install(|| {
                        // Force the split regardless of the built-in cut-off.
                        use rayon::prelude::*;
                        out.par_chunks_mut(descent::kernels::parallel::CHUNK.min(n / 2).max(1))
                            .zip(a.par_chunks(descent::kernels::parallel::CHUNK.min(n / 2).max(1)))
                            .zip(b.par_chunks(descent::kernels::parallel::CHUNK.min(n / 2).max(1)))
                            .for_each(|((o, a), b)| {
                                elementwise::binary_row(
                                    descent::kernels::isa(),
                                    BinaryOp::Add,
                                    a,
                                    1,
                                    b,
                                    1,
                                    o,
                                )
                            })
                    })
                })
            });
        }
    }
    g.finish();
}

criterion_group!(
    benches,
    w3_gemm,
    w2_conv_forward,
    w5_elementwise,
    reduce_sum,
    parallel_threshold
);
criterion_main!(benches);
