//! Parallel equals serial, bit for bit: every kernel that forks is run inside rayon pools of 1,
//! 2 and 3 threads on inputs above the parallel threshold, and the results must have identical
//! bits (chunk boundaries depend only on the sizes, never on the thread count).

mod common;

use common::{assert_thread_count_invariant, bits, rng};
use descent_kernels::elementwise::{self, BinaryOp, UnaryOp, binary_row};
use descent_kernels::matmul::{MatRef, gemm_batched};
use descent_kernels::parallel::{PAR_THRESHOLD, REDUCE_CHUNK};
use descent_kernels::reduce::{self, ReduceOp, Reduction, reduce_row};
use descent_kernels::strided::{self, Strided};
use descent_kernels::{Float, isa};

fn reduce_row_invariant<T: Float>() {
    let n = 3 * PAR_THRESHOLD + 17;
    assert!(n > PAR_THRESHOLD && !n.is_multiple_of(REDUCE_CHUNK));
    let mut rng = rng(81);
    let x: Vec<T> = common::uniform(&mut rng, n, -1.0, 1.0);
    for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
        assert_thread_count_invariant(&format!("reduce_row {op:?}"), || vec![reduce_row(op, &x)]);
    }
}

#[test]
fn reduce_row_parallel_equals_serial() {
    reduce_row_invariant::<f32>();
    reduce_row_invariant::<f64>();
}

fn elementwise_invariant<T: Float>() {
    let n = 2 * PAR_THRESHOLD + 12_345;
    let mut rng = rng(82);
    let a: Vec<T> = common::uniform(&mut rng, n, 0.1, 3.0);
    let b: Vec<T> = common::uniform(&mut rng, n, -2.0, 2.0);
    for op in [BinaryOp::Add, BinaryOp::Pow, BinaryOp::Maximum] {
        assert_thread_count_invariant(&format!("binary {op:?}"), || {
            let mut out = vec![T::ZERO; n];
            elementwise::binary(op, &a, &b, &mut out);
            out
        });
        // And the parallel result is the one-row result.
        let mut par = vec![T::ZERO; n];
        common::with_threads(3, || elementwise::binary(op, &a, &b, &mut par));
        let mut row = vec![T::ZERO; n];
        binary_row(isa(), op, &a, 1, &b, 1, &mut row);
        assert_eq!(bits(&par), bits(&row), "binary {op:?}: parallel vs one row");
    }
    for op in UnaryOp::samples() {
        assert_thread_count_invariant(&format!("unary {op:?}"), || {
            let mut out = vec![T::ZERO; n];
            elementwise::unary(op, &a, &mut out);
            out
        });
    }
}

#[test]
fn elementwise_parallel_equals_serial() {
    elementwise_invariant::<f32>();
    elementwise_invariant::<f64>();
}

fn strided_invariant<T: Float>() {
    // a: [64, 65, 40] transposed in its first two dimensions; b: [64, 1, 40] broadcast along
    // the middle one. 166400 elements, over the threshold.
    let shape = [64usize, 65, 40];
    let mut rng = rng(83);
    let a: Vec<T> = common::uniform(&mut rng, 64 * 65 * 40, -1.0, 1.0);
    let b: Vec<T> = common::uniform(&mut rng, 64 * 40, -1.0, 1.0);
    let (sa, sb) = ([40usize, 64 * 40, 1], [40usize, 0, 1]);
    let n: usize = shape.iter().product();
    assert!(n > PAR_THRESHOLD);
    for isa in common::isas() {
        for op in [BinaryOp::Mul, BinaryOp::Sub] {
            let run = || {
                let mut out = vec![T::ZERO; n];
                strided::binary(
                    isa,
                    op,
                    &shape,
                    Strided::new(&a, &sa, 0),
                    Strided::new(&b, &sb, 0),
                    &mut out,
                );
                out
            };
            assert_thread_count_invariant(&format!("strided {isa:?} {op:?}"), run);
            let out = run();
            for (flat, &o) in out.iter().enumerate() {
                let (i, j, k) = (flat / (65 * 40), (flat / 40) % 65, flat % 40);
                let (x, y) = (a[j * 64 * 40 + i * 40 + k], b[i * 40 + k]);
                let want = if op == BinaryOp::Mul { x * y } else { x - y };
                assert_eq!(o, want, "strided {isa:?} {op:?} at {flat}");
            }
        }
    }
    assert_thread_count_invariant("strided copy", || {
        let mut out = vec![T::ZERO; n];
        strided::copy(&shape, Strided::new(&a, &sa, 0), &mut out);
        out
    });
}

#[test]
fn strided_parallel_equals_serial() {
    strided_invariant::<f32>();
    strided_invariant::<f64>();
}

fn reduce_invariant<T: Float>() {
    let mut rng = rng(84);
    for &(outer, len, inner) in &[(5, 40_000, 1), (4, 6000, 7), (3, 1 << 16, 1)] {
        let x: Vec<T> = common::uniform(&mut rng, outer * len * inner, -2.0, 2.0);
        for op in [
            Reduction::Sum,
            Reduction::Mean,
            Reduction::Max,
            Reduction::Min,
            Reduction::LogSumExp,
            Reduction::Var { correction: 1 },
        ] {
            assert_thread_count_invariant(&format!("reduce {op:?} {outer}x{len}x{inner}"), || {
                let mut out = vec![T::ZERO; outer * inner];
                reduce::reduce(op, &x, outer, len, inner, &mut out);
                out
            });
        }
    }
}

#[test]
fn reduce_parallel_equals_serial() {
    reduce_invariant::<f32>();
    reduce_invariant::<f64>();
}

#[test]
fn gemm_batched_parallel_equals_serial() {
    let (m, k, n, batch) = (8, 9, 7, 64);
    let mut rng = rng(85);
    let a: Vec<f32> = common::uniform(&mut rng, batch * m * k, -1.0, 1.0);
    let b: Vec<f32> = common::uniform(&mut rng, batch * k * n, -1.0, 1.0);
    let ao: Vec<usize> = (0..batch).map(|i| i * m * k).collect();
    let bo: Vec<usize> = (0..batch).map(|i| i * k * n).collect();
    assert_thread_count_invariant("gemm_batched", || {
        let mut c = vec![f32::NAN; batch * m * n];
        let am = MatRef {
            data: &a,
            offset: 0,
            rs: k,
            cs: 1,
        };
        let bm = MatRef {
            data: &b,
            offset: 0,
            rs: 1,
            cs: k,
        };
        gemm_batched(m, k, n, am, &ao, bm, &bo, &mut c);
        c
    });
}
