//! Results do not depend on the thread count: ops large enough to run in parallel (>= 2^15
//! elements) give bit-identical results on 1, 2 and 3 rayon threads.

mod common;

use common::*;
use descent_core::{Conv2dParams, DType, Pool2dParams, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn on_threads<R: Send>(n: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
        .install(f)
}

/// The bit patterns of every element.
fn bits(t: &Tensor) -> Vec<u64> {
    match t.dtype() {
        DType::F32 => t.to_vec_f32().iter().map(|v| v.to_bits() as u64).collect(),
        DType::F64 => t.to_vec_f64().iter().map(|v| v.to_bits()).collect(),
    }
}

/// Runs `op` on 1, 2 and 3 threads and checks the results are bit-identical.
#[track_caller]
fn same_on_any_thread_count(what: &str, op: impl Fn() -> Vec<Tensor> + Sync) {
    let one: Vec<Vec<u64>> = on_threads(1, || op().iter().map(bits).collect());
    for n in [2, 3] {
        let many: Vec<Vec<u64>> = on_threads(n, || op().iter().map(bits).collect());
        assert_eq!(one.len(), many.len());
        for (k, (a, b)) in one.iter().zip(&many).enumerate() {
            assert!(
                a == b,
                "{what} (output {k}) differs between 1 and {n} threads"
            );
        }
    }
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, &mut StdRng::seed_from_u64(seed))
}

#[test]
fn reductions_are_deterministic_across_thread_counts() {
    for dt in DTYPES {
        let x = randn(&[300, 300], 1).to_dtype(dt);
        same_on_any_thread_count("reductions", || {
            vec![
                x.sum(&[1], false),
                x.sum(&[0], false),
                x.sum_all(),
                x.mean(&[1], true),
                x.mean_all(),
                x.max(&[1], false),
                x.min_all(),
                x.logsumexp(&[1], false),
                x.var(&[0, 1], 1, false),
                x.var(&[1], 0, false),
                x.argmax(1, false).to_dtype(dt),
                x.t().sum(&[1], false),
            ]
        });
        // And the parallel result is right: the sum over axis 1 matches an f64 reference.
        let v = x.to_vec_f64();
        let got = x.sum(&[1], false).to_vec_f64();
        for (i, g) in got.iter().enumerate() {
            let row = &v[i * 300..(i + 1) * 300];
            let want: f64 = row.iter().sum();
            let scale: f64 = row.iter().map(|x| x.abs()).sum();
            assert!(
                (g - want).abs() <= 1e-5 * scale + 1e-6,
                "row {i}: {g} vs {want}"
            );
        }
    }
}

#[test]
fn softmax_is_deterministic_across_thread_counts() {
    for dt in DTYPES {
        let x = randn(&[300, 300], 2).to_dtype(dt);
        same_on_any_thread_count("softmax", || {
            vec![
                x.softmax(1),
                x.softmax(0),
                x.log_softmax(-1),
                x.t().softmax(1),
            ]
        });
    }
}

#[test]
fn elementwise_is_deterministic_across_thread_counts() {
    for dt in DTYPES {
        let x = randn(&[300, 300], 3).to_dtype(dt);
        let y = randn(&[300, 1], 4).to_dtype(dt);
        same_on_any_thread_count("elementwise", || {
            vec![
                x.exp(),
                x.tanh(),
                x.gelu(),
                &x + &y,
                x.t().mul(&y),
                x.maximum(&y),
                x.gt(&y),
            ]
        });
    }
}

#[test]
fn matmul_is_deterministic_across_thread_counts() {
    for dt in DTYPES {
        let a = randn(&[128, 128], 5).to_dtype(dt);
        let b = randn(&[128, 128], 6).to_dtype(dt);
        let batched = randn(&[4, 64, 128], 7).to_dtype(dt);
        same_on_any_thread_count("matmul", || {
            vec![
                a.matmul(&b),
                a.t().matmul(&b),
                a.matmul(&b.t()),
                batched.matmul(&b),
            ]
        });
    }
}

#[test]
fn conv_pool_is_deterministic_across_thread_counts() {
    for dt in DTYPES {
        let x = randn(&[4, 3, 64, 64], 8).to_dtype(dt);
        let w = randn(&[8, 3, 3, 3], 9).to_dtype(dt);
        same_on_any_thread_count("conv/pool", || {
            let (m, i) = x.max_pool2d_with_indices(Pool2dParams::new(2));
            vec![
                x.conv2d(&w, None, Conv2dParams::default().padding(1)),
                x.conv2d(&w, None, Conv2dParams::default().stride(2).dilation(2)),
                m,
                i.to_dtype(dt),
                x.avg_pool2d(Pool2dParams::new(3).stride(2).padding(1)),
            ]
        });
    }
}
