//! `matmul::gemm` and `gemm_batched` against the `f64` triple loop (`gemm_reference`): identity
//! products (exact), odd shapes, empty dimensions, strided and transposed operands, broadcast
//! (stride 0) operands, and a `C` pre-filled with NaN to prove it is never read. `gemm_bias`
//! (the fused linear layer) against `gemm_reference` plus the bias, with and without a bias.
//!
//! Accuracy: `max |C - C_ref| / max |C_ref|` below `1e-5` (`f32`) / `1e-12` (`f64`).
//! Elements of an operand's buffer that are outside its view hold NaN: reading one would poison
//! the result.

mod common;

use common::{name, rel_err, rng};
use descent_kernels::Float;
use descent_kernels::matmul::{
    MatRef, gemm, gemm_batched, gemm_bias, gemm_bias_reference, gemm_reference,
};
use proptest::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;

fn tol<T: Float>() -> f64 {
    if T::BYTES == 4 { 1e-5 } else { 1e-12 }
}

/// How a `rows x cols` operand sits in its buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    /// Row-major, contiguous.
    RowMajor,
    /// Column-major: the transpose of a contiguous matrix.
    Transposed,
    /// Row-major, every other row of a taller matrix, with a column step of 1.
    EveryOtherRow,
    /// Column-major with a gap: a transposed view of every other row.
    TransposedEveryOther,
    /// Every other column of a wider row-major matrix, at an offset.
    EveryOtherColumn,
    /// One row repeated (row stride 0).
    BroadcastRows,
}

const LAYOUTS: [Layout; 6] = [
    Layout::RowMajor,
    Layout::Transposed,
    Layout::EveryOtherRow,
    Layout::TransposedEveryOther,
    Layout::EveryOtherColumn,
    Layout::BroadcastRows,
];

/// A buffer holding a random `rows x cols` matrix in layout `l`, NaN everywhere else, and the
/// view's `(offset, rs, cs)`.
fn operand<T: Float>(
    rng: &mut StdRng,
    rows: usize,
    cols: usize,
    l: Layout,
) -> (Vec<T>, usize, usize, usize) {
    let offset = if l == Layout::EveryOtherColumn { 3 } else { 0 };
    let (rs, cs) = match l {
        Layout::RowMajor => (cols, 1),
        Layout::Transposed => (1, rows),
        Layout::EveryOtherRow => (2 * cols, 1),
        Layout::TransposedEveryOther => (1, 2 * rows),
        Layout::EveryOtherColumn => (2 * cols + 1, 2),
        Layout::BroadcastRows => (0, 1),
    };
    let len = if rows == 0 || cols == 0 {
        offset
    } else {
        offset + (rows - 1) * rs + (cols - 1) * cs + 1 + 2
    };
    let mut data = vec![T::from_f64(f64::NAN); len];
    for i in 0..rows {
        for j in 0..cols {
            data[offset + i * rs + j * cs] = T::from_f64(rng.random_range(-1.0..1.0));
        }
    }
    (data, offset, rs, cs)
}

fn mat<T>(data: &[T], offset: usize, rs: usize, cs: usize) -> MatRef<'_, T> {
    MatRef {
        data,
        offset,
        rs,
        cs,
    }
}

/// One product in the given layouts, checked against the reference.
fn check_product<T: Float>(rng: &mut StdRng, m: usize, k: usize, n: usize, la: Layout, lb: Layout) {
    let (a, ao, ars, acs) = operand::<T>(rng, m, k, la);
    let (b, bo, brs, bcs) = operand::<T>(rng, k, n, lb);
    let (am, bm) = (mat(&a, ao, ars, acs), mat(&b, bo, brs, bcs));
    let mut c = vec![T::from_f64(f64::NAN); m * n];
    gemm(m, k, n, am, bm, &mut c);
    let want = gemm_reference(m, k, n, am, bm);
    let err = if la == Layout::BroadcastRows && lb == Layout::BroadcastRows {
        // Every entry is (sum_p a_p) * b_j: one sum, cancelling at random, sets max |C_ref|,
        // so measure against max (|A| |B|) instead, the scale rounding errors follow.
        let abs = |x: &[T]| {
            x.iter()
                .map(|v| T::from_f64(v.to_f64().abs()))
                .collect::<Vec<T>>()
        };
        let (a1, b1) = (abs(&a), abs(&b));
        let scale = gemm_reference(m, k, n, mat(&a1, ao, ars, acs), mat(&b1, bo, brs, bcs));
        let diff = c
            .iter()
            .zip(&want)
            .fold(0.0f64, |d, (g, w)| d.max((g.to_f64() - w).abs()));
        let s = scale.iter().fold(0.0f64, |d, v| d.max(*v));
        if diff == 0.0 { 0.0 } else { diff / s }
    } else {
        rel_err(&c, &want)
    };
    assert!(
        c.iter().all(|v| !v.is_nan()) && err < tol::<T>(),
        "{} {m}x{k}x{n} A {la:?} B {lb:?}: relative error {err}",
        name::<T>()
    );
}

/// `gemm_bias` in the given layouts over a `C` full of NaN (every row is overwritten by the bias
/// before the product is accumulated), with and without a bias, against the reference.
fn check_bias<T: Float>(rng: &mut StdRng, m: usize, k: usize, n: usize, la: Layout, lb: Layout) {
    let (a, ao, ars, acs) = operand::<T>(rng, m, k, la);
    let (b, bo, brs, bcs) = operand::<T>(rng, k, n, lb);
    let (am, bm) = (mat(&a, ao, ars, acs), mat(&b, bo, brs, bcs));
    let bias: Vec<T> = (0..n)
        .map(|_| T::from_f64(rng.random_range(-1.0..1.0)))
        .collect();
    for bias in [Some(&bias[..]), None] {
        let mut c = vec![T::from_f64(f64::NAN); m * n];
        gemm_bias(m, k, n, am, bm, bias, &mut c);
        let want = gemm_bias_reference(m, k, n, am, bm, bias);
        // Measured against the sum of absolute terms, which rounding errors follow.
        let abs = |x: &[T]| {
            x.iter()
                .map(|v| T::from_f64(v.to_f64().abs()))
                .collect::<Vec<T>>()
        };
        let (a1, b1) = (abs(&a), abs(&b));
        let scale = gemm_bias_reference(
            m,
            k,
            n,
            mat(&a1, ao, ars, acs),
            mat(&b1, bo, brs, bcs),
            bias.map(abs).as_deref(),
        );
        for ((g, w), s) in c.iter().zip(&want).zip(&scale) {
            let err = (g.to_f64() - w).abs();
            assert!(
                !g.is_nan() && err <= tol::<T>() * s.max(1e-30),
                "{} gemm_bias {m}x{k}x{n} A {la:?} B {lb:?} bias {}: got {g:?}, want {w}",
                name::<T>(),
                bias.is_some()
            );
        }
    }
}

fn identity<T: Float>(n: usize) -> Vec<T> {
    let mut e = vec![T::ZERO; n * n];
    for i in 0..n {
        e[i * n + i] = T::ONE;
    }
    e
}

fn identity_products<T: Float>() {
    let mut rng = rng(41);
    for n in [4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 65, 100, 127, 128] {
        let a: Vec<T> = common::uniform(&mut rng, n * n, -1.0, 1.0);
        let e = identity::<T>(n);
        for (x, y) in [(&a, &e), (&e, &a)] {
            let mut c = vec![T::from_f64(f64::NAN); n * n];
            gemm(n, n, n, mat(x, 0, n, 1), mat(y, 0, n, 1), &mut c);
            assert_eq!(
                common::bits(&c),
                common::bits(&a),
                "{} identity n={n}",
                name::<T>()
            );
        }
        // A^T I through strides: the transpose, exactly.
        let mut c = vec![T::from_f64(f64::NAN); n * n];
        gemm(n, n, n, mat(&a, 0, 1, n), mat(&e, 0, n, 1), &mut c);
        for i in 0..n {
            for j in 0..n {
                assert_eq!(
                    c[i * n + j],
                    a[j * n + i],
                    "{} transpose n={n}",
                    name::<T>()
                );
            }
        }
    }
}

#[test]
fn gemm_identity_is_exact() {
    identity_products::<f32>();
    identity_products::<f64>();
}

#[test]
fn gemm_odd_shapes_match_reference() {
    let mut rng = rng(42);
    for &(m, k, n) in &[
        (17, 257, 17),
        (17, 1, 257),
        (257, 17, 1),
        (1, 257, 17),
        (266, 265, 7),
        (266, 3, 265),
        (7, 266, 265),
        (33, 65, 31),
    ] {
        check_product::<f32>(&mut rng, m, k, n, Layout::RowMajor, Layout::RowMajor);
        check_product::<f64>(&mut rng, m, k, n, Layout::Transposed, Layout::EveryOtherRow);
    }
}

#[test]
fn gemm_every_layout_pair_matches_reference() {
    let mut rng = rng(43);
    for la in LAYOUTS {
        for lb in LAYOUTS {
            for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (9, 8, 17), (20, 33, 12)] {
                check_product::<f32>(&mut rng, m, k, n, la, lb);
                check_product::<f64>(&mut rng, m, k, n, la, lb);
            }
        }
    }
}

/// `k = 0`: the empty sum, zeros, over a `C` full of NaN; `m = 0` or `n = 0`: nothing to do,
/// even with empty operand buffers.
fn empty_dimensions<T: Float>() {
    for &(m, n) in &[(1, 1), (3, 4), (17, 9)] {
        let mut c = vec![T::from_f64(f64::NAN); m * n];
        gemm::<T>(m, 0, n, mat(&[], 0, 0, 1), mat(&[], 0, n, 1), &mut c);
        assert!(
            c.iter().all(|&v| v == T::ZERO),
            "{} k=0 {m}x{n}",
            name::<T>()
        );
    }
    for &(m, k, n) in &[(0, 3, 4), (3, 4, 0), (0, 0, 0), (0, 5, 0)] {
        let a = vec![T::ONE; m * k];
        let b = vec![T::ONE; k * n];
        let mut c: Vec<T> = vec![];
        gemm(m, k, n, mat(&a, 0, k, 1), mat(&b, 0, n, 1), &mut c);
    }
    // Batched, with k = 0 and with m = 0.
    let mut c = vec![T::from_f64(f64::NAN); 3 * 2 * 2];
    gemm_batched::<T>(
        2,
        0,
        2,
        mat(&[], 0, 0, 1),
        &[0; 3],
        mat(&[], 0, 2, 1),
        &[0; 3],
        &mut c,
    );
    assert!(
        c.iter().all(|&v| v == T::ZERO),
        "{} batched k=0",
        name::<T>()
    );
    let mut c: Vec<T> = vec![];
    gemm_batched::<T>(
        0,
        2,
        2,
        mat(&[], 0, 2, 1),
        &[0; 3],
        mat(&[], 0, 2, 1),
        &[0; 3],
        &mut c,
    );
}

#[test]
fn gemm_bias_every_layout_pair_and_edge_sizes() {
    let mut rng = rng(45);
    for la in LAYOUTS {
        for lb in LAYOUTS {
            for &(m, k, n) in &[(1, 1, 1), (7, 0, 5), (0, 3, 4), (3, 4, 0), (17, 33, 9)] {
                check_bias::<f32>(&mut rng, m, k, n, la, lb);
                check_bias::<f64>(&mut rng, m, k, n, la, lb);
            }
        }
    }
}

#[test]
fn gemm_empty_dimensions() {
    empty_dimensions::<f32>();
    empty_dimensions::<f64>();
}

/// Each batch entry equals a standalone `gemm` bit for bit, for small (split over the batch)
/// and large (threaded inside the GEMM) matrices, with a shared (broadcast) `B`.
fn batched_equals_loop<T: Float>(m: usize, k: usize, n: usize, batch: usize, transposed: bool) {
    let mut rng = rng(44);
    let a: Vec<T> = common::uniform(&mut rng, batch * m * k + 1, -1.0, 1.0);
    let b: Vec<T> = common::uniform(&mut rng, 2 * k * n, -1.0, 1.0);
    let a_offsets: Vec<usize> = (0..batch).map(|i| 1 + i * m * k).collect();
    // Entries alternate between two B matrices; several share one.
    let b_offsets: Vec<usize> = (0..batch).map(|i| (i % 2) * k * n).collect();
    let (ars, acs) = if transposed { (1, m) } else { (k, 1) };
    let am = mat(&a, 0, ars, acs);
    let bm = mat(&b, 0, n, 1);
    let mut got = vec![T::from_f64(f64::NAN); batch * m * n];
    gemm_batched(m, k, n, am, &a_offsets, bm, &b_offsets, &mut got);
    for i in 0..batch {
        let ai = mat(&a, a_offsets[i], ars, acs);
        let bi = mat(&b, b_offsets[i], n, 1);
        let mut want = vec![T::from_f64(f64::NAN); m * n];
        gemm(m, k, n, ai, bi, &mut want);
        let got_i = &got[i * m * n..(i + 1) * m * n];
        assert_eq!(
            common::bits(got_i),
            common::bits(&want),
            "{} batched {batch}x{m}x{k}x{n} entry {i}",
            name::<T>()
        );
        let err = rel_err(got_i, &gemm_reference(m, k, n, ai, bi));
        assert!(
            err < tol::<T>(),
            "{} batched entry {i}: error {err}",
            name::<T>()
        );
    }
}

#[test]
fn gemm_batched_equals_looping_gemm() {
    for transposed in [false, true] {
        batched_equals_loop::<f32>(5, 7, 3, 9, transposed);
        batched_equals_loop::<f64>(5, 7, 3, 9, transposed);
        batched_equals_loop::<f32>(1, 1, 1, 1, transposed);
        batched_equals_loop::<f32>(70, 65, 66, 3, transposed);
        batched_equals_loop::<f64>(70, 65, 66, 2, transposed);
    }
}

fn layout_strategy() -> impl Strategy<Value = Layout> {
    prop::sample::select(LAYOUTS.to_vec())
}

proptest! {
    /// Random sizes with random strided / transposed / broadcast operands.
    #[test]
    fn gemm_random_shapes_and_strides_match_reference(
        m in 0usize..40,
        k in 0usize..40,
        n in 0usize..40,
        la in layout_strategy(),
        lb in layout_strategy(),
        seed in any::<u64>(),
    ) {
        let mut rng = rng(seed);
        check_product::<f32>(&mut rng, m, k, n, la, lb);
        check_product::<f64>(&mut rng, m, k, n, la, lb);
        check_bias::<f32>(&mut rng, m, k, n, la, lb);
        check_bias::<f64>(&mut rng, m, k, n, la, lb);
    }
}

/// A GEMM large enough to be split into row blocks (tall `C`) or column blocks (wide `C`) gives
/// the same bits with 1 to 4 threads (1 to 4 blocks), plain and accumulating, with `A` row-major or transposed, `f32` and `f64`;
/// and it matches the reference.
#[test]
fn a_gemm_split_over_threads_gives_the_same_bits_as_one_block() {
    fn case<T: Float>(m: usize, k: usize, n: usize, transposed: bool) {
        assert!(m * k * n >= descent_kernels::matmul::gemm_par_macs());
        let mut r = rng(m as u64 * 31 + k as u64);
        let a: Vec<T> = (0..m * k)
            .map(|_| T::from_f64(r.random_range(-1.0..1.0)))
            .collect();
        let b: Vec<T> = (0..k * n)
            .map(|_| T::from_f64(r.random_range(-1.0..1.0)))
            .collect();
        let c0: Vec<T> = (0..m * n)
            .map(|_| T::from_f64(r.random_range(-1.0..1.0)))
            .collect();
        let am = if transposed {
            MatRef {
                data: &a,
                offset: 0,
                rs: 1,
                cs: m,
            }
        } else {
            MatRef {
                data: &a,
                offset: 0,
                rs: k,
                cs: 1,
            }
        };
        let bm = MatRef {
            data: &b,
            offset: 0,
            rs: n,
            cs: 1,
        };
        let run = |threads: usize, acc: bool| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut c = c0.clone();
            pool.install(|| {
                if acc {
                    descent_kernels::matmul::gemm_acc(m, k, n, am, bm, &mut c)
                } else {
                    gemm(m, k, n, am, bm, &mut c)
                }
            });
            c.iter().map(|v| v.to_f64().to_bits()).collect::<Vec<u64>>()
        };
        for acc in [false, true] {
            let one = run(1, acc);
            for threads in 2..=4 {
                assert_eq!(
                    run(threads, acc),
                    one,
                    "{m}x{k}x{n} transposed={transposed} acc={acc}, {threads} threads"
                );
            }
        }
        // Against the f64 reference on a sample of elements (every row and column is hit; the
        // whole reference is 2^26 multiply-adds per case, too slow under valgrind in CI).
        let mut c = vec![T::ZERO; m * n];
        gemm(m, k, n, am, bm, &mut c);
        let (mut got, mut want) = (vec![], vec![]);
        for at in (0..m * n).step_by(97) {
            let (i, j) = (at / n, at % n);
            let row = MatRef {
                offset: am.offset + i * am.rs,
                ..am
            };
            let col = MatRef {
                offset: bm.offset + j * bm.cs,
                ..bm
            };
            got.push(c[at]);
            want.push(gemm_reference(1, k, 1, row, col)[0]);
        }
        assert!(rel_err(&got, &want) < tol::<T>());
    }
    // Each shape has at least 2^20 multiply-adds with k = k0; k grows with the split threshold
    // in force, so the product is always split (CI's valgrind run lowers the threshold with
    // DESCENT_GEMM_PAR_MACS to keep these small).
    let scale = descent_kernels::matmul::gemm_par_macs().div_ceil(1 << 20);
    // Tall C: row blocks, also of uneven heights.
    case::<f32>(1024, 4 * scale, 256, false);
    case::<f32>(1100, 5 * scale, 210, true);
    case::<f64>(530, 4 * scale, 500, true);
    // Wide C: column blocks, also of uneven widths.
    case::<f32>(256, 4 * scale, 1024, false);
    case::<f32>(64, 17 * scale, 1000, true);
    case::<f64>(200, 6 * scale, 1030, true);
}
