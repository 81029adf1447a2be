//! Reductions against naive `f64` loops: the row kernel on every instruction-set path
//! (`reduce_row_with`), the chunked row reduction (`reduce_row`), every [`Reduction`] over all
//! `[outer, len, inner]` combinations (empty axes included), and `arg_reduce`.
//!
//! Sums are held to the classical bound of recursive summation,
//! `|error| <= (len - 1) * eps * sum |x|`, which holds for any summation order.

mod common;

use common::{LENS, eps, isas, name, rng};
use descent_kernels::reduce::{self, ReduceOp, Reduction, arg_reduce, reduce_row, reduce_row_with};
use descent_kernels::{Float, Isa};
use rand::Rng;

fn naive(op: ReduceOp, x: &[f64]) -> f64 {
    match op {
        ReduceOp::Sum => x.iter().sum(),
        ReduceOp::Max => x.iter().fold(f64::NEG_INFINITY, |a, &b| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        }),
        ReduceOp::Min => x.iter().fold(f64::INFINITY, |a, &b| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.min(b)
            }
        }),
    }
}

/// Checks a row reduction result against the naive one: exact for max/min, the summation bound
/// for sums.
#[track_caller]
fn check_row<T: Float>(op: ReduceOp, got: T, x: &[T], what: &str) {
    let xf: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
    let want = naive(op, &xf);
    match op {
        ReduceOp::Sum => {
            let abs_sum: f64 = xf.iter().map(|v| v.abs()).sum();
            let bound = x.len().saturating_sub(1) as f64 * eps::<T>() * abs_sum;
            assert!(
                (got.to_f64() - want).abs() <= bound,
                "{what}: sum of {} = {got}, want {want} (bound {bound})",
                x.len()
            );
        }
        ReduceOp::Max | ReduceOp::Min => assert!(
            got.to_f64() == want || (got.is_nan() && want.is_nan()),
            "{what}: {op:?} of {} = {got}, want {want}",
            x.len()
        ),
    }
}

const OPS: [ReduceOp; 3] = [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min];

fn rows_match_reference<T: Float>(isa: Isa) {
    let mut rng = rng(31);
    for &n in LENS.iter().chain(&[4095, 4096, 4097, 9000]) {
        for (lo, hi) in [(-1.0, 1.0), (0.0, 1.0), (-1e4, -1e3)] {
            let x: Vec<T> = common::uniform(&mut rng, n, lo, hi);
            for op in OPS {
                let what = format!("{isa:?} {} {op:?} n={n} in [{lo}, {hi})", name::<T>());
                check_row(op, reduce_row_with(isa, op, &x), &x, &what);
            }
        }
        // Small integers: every partial sum is exact, so the sum must be too (a dropped or
        // doubled element cannot hide in the rounding slack).
        let x: Vec<T> = common::discrete(&mut rng, n);
        let want: f64 = x.iter().map(|v| v.to_f64()).sum();
        let got = reduce_row_with(isa, ReduceOp::Sum, &x);
        assert_eq!(
            got.to_f64(),
            want,
            "{isa:?} {} exact sum n={n}",
            name::<T>()
        );
    }
}

#[test]
fn reduce_row_fallback_matches_reference() {
    rows_match_reference::<f32>(Isa::Fallback);
    rows_match_reference::<f64>(Isa::Fallback);
}

#[test]
fn reduce_row_avx2_matches_reference() {
    if !Isa::Avx2Fma.is_supported() {
        eprintln!("note: this CPU has no AVX2+FMA; the avx2 path was not exercised");
        return;
    }
    rows_match_reference::<f32>(Isa::Avx2Fma);
    rows_match_reference::<f64>(Isa::Avx2Fma);
}

/// Every path sums in the same lane order: results agree bit for bit.
#[test]
fn reduce_row_isa_paths_agree_bit_for_bit() {
    let mut rng = rng(32);
    for &n in &LENS {
        let x: Vec<f32> = common::uniform(&mut rng, n, -1.0, 1.0);
        let y: Vec<f64> = common::uniform(&mut rng, n, -1.0, 1.0);
        for op in OPS {
            let (x0, y0) = (
                reduce_row_with(Isa::Fallback, op, &x),
                reduce_row_with(Isa::Fallback, op, &y),
            );
            for isa in isas() {
                assert_eq!(
                    reduce_row_with(isa, op, &x).to_bits(),
                    x0.to_bits(),
                    "{isa:?} {op:?}"
                );
                assert_eq!(
                    reduce_row_with(isa, op, &y).to_bits(),
                    y0.to_bits(),
                    "{isa:?} {op:?}"
                );
            }
        }
    }
}

/// Empty rows give the identities; NaN anywhere (a lane, the tail, another chunk) poisons
/// max, min and sum; infinities are ordinary values for max and min.
fn special_values<T: Float>(isa: Isa) {
    let ctx = |what: &str| format!("{isa:?} {} {what}", name::<T>());
    assert_eq!(
        reduce_row_with::<T>(isa, ReduceOp::Sum, &[]),
        T::ZERO,
        "{}",
        ctx("sum []")
    );
    assert_eq!(
        reduce_row_with::<T>(isa, ReduceOp::Max, &[]),
        T::NEG_INFINITY,
        "{}",
        ctx("max []")
    );
    assert_eq!(
        reduce_row_with::<T>(isa, ReduceOp::Min, &[]),
        T::INFINITY,
        "{}",
        ctx("min []")
    );
    let nan = T::from_f64(f64::NAN);
    for n in [1, 7, 8, 9, 17, 33, 1000] {
        for at in [0, n / 2, n - 1] {
            let mut x: Vec<T> = (0..n).map(|i| T::from_f64(i as f64)).collect();
            x[at] = nan;
            for op in OPS {
                let r = reduce_row_with(isa, op, &x);
                assert!(
                    r.is_nan(),
                    "{}",
                    ctx(&format!("{op:?} n={n} NaN at {at}: {r}"))
                );
            }
        }
        if n == 1 {
            continue;
        }
        let mut x: Vec<T> = (0..n).map(|i| T::from_f64(i as f64)).collect();
        x[n - 1] = T::INFINITY;
        x[0] = T::NEG_INFINITY;
        let (mx, mn) = (
            reduce_row_with(isa, ReduceOp::Max, &x),
            reduce_row_with(isa, ReduceOp::Min, &x),
        );
        assert_eq!(
            (mx, mn),
            (T::INFINITY, T::NEG_INFINITY),
            "{}",
            ctx(&format!("inf n={n}"))
        );
    }
    // NaN in the second chunk of a chunked reduction.
    let mut x: Vec<T> = vec![T::ONE; 3 * 4096 + 5];
    x[5000] = nan;
    for op in OPS {
        assert!(
            reduce_row(op, &x).is_nan(),
            "{}",
            ctx(&format!("chunked {op:?}"))
        );
    }
}

#[test]
fn reduce_row_special_values_on_every_isa() {
    for isa in isas() {
        special_values::<f32>(isa);
        special_values::<f64>(isa);
    }
}

/// The chunked, default-path reduction against the naive one, across chunk boundaries.
#[test]
fn reduce_row_chunked_matches_reference() {
    let mut rng = rng(33);
    for &n in &[0, 1, 4095, 4096, 4097, 8192, 8193, 3 * (1 << 15) + 17] {
        let x: Vec<f32> = common::uniform(&mut rng, n, -1.0, 1.0);
        let y: Vec<f64> = common::uniform(&mut rng, n, -1.0, 1.0);
        for op in OPS {
            check_row(
                op,
                reduce_row(op, &x),
                &x,
                &format!("chunked f32 {op:?} n={n}"),
            );
            check_row(
                op,
                reduce_row(op, &y),
                &y,
                &format!("chunked f64 {op:?} n={n}"),
            );
        }
    }
}

/// The naive `[outer, len, inner]` reduction in `f64`.
fn naive_reduce(op: Reduction, x: &[f64], outer: usize, len: usize, inner: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let col: Vec<f64> = (0..len).map(|r| x[(o * len + r) * inner + i]).collect();
            let n = len as f64;
            let sum: f64 = col.iter().sum();
            out.push(match op {
                Reduction::Sum => sum,
                Reduction::Mean => sum / n,
                Reduction::Max => naive(ReduceOp::Max, &col),
                Reduction::Min => naive(ReduceOp::Min, &col),
                Reduction::LogSumExp => {
                    let m = naive(ReduceOp::Max, &col);
                    if m.is_finite() {
                        m + col.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
                    } else {
                        m
                    }
                }
                Reduction::Var { correction } => {
                    let mean = sum / n;
                    col.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()
                        / len.saturating_sub(correction) as f64
                }
            });
        }
    }
    out
}

const REDUCTIONS: [Reduction; 8] = [
    Reduction::Sum,
    Reduction::Mean,
    Reduction::Max,
    Reduction::Min,
    Reduction::LogSumExp,
    Reduction::Var { correction: 0 },
    Reduction::Var { correction: 1 },
    Reduction::Var { correction: 2 },
];

fn reduce_matches_reference<T: Float>() {
    let mut rng = rng(34);
    for outer in [0, 1, 2, 3] {
        for len in [0, 1, 2, 7, 8, 9, 17, 100, 5000] {
            for inner in [1, 2, 5, 17] {
                if outer * len * inner > 200_000 {
                    continue;
                }
                let x: Vec<T> = common::uniform(&mut rng, outer * len * inner, -2.0, 2.0);
                let xf: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
                for op in REDUCTIONS {
                    let mut out = vec![T::from_f64(-7777.25); outer * inner];
                    reduce::reduce(op, &x, outer, len, inner, &mut out);
                    let want = naive_reduce(op, &xf, outer, len, inner);
                    // Every value is at most 2 in magnitude, so sums are bounded by 2 * len.
                    let e = eps::<T>() * (len as f64 + 2.0);
                    let (rel, abs) = match op {
                        Reduction::Sum => (0.0, 2.0 * len as f64 * e),
                        Reduction::Mean => (0.0, 2.0 * e),
                        Reduction::Max | Reduction::Min => (0.0, 0.0),
                        Reduction::LogSumExp => (4.0 * e, 4.0 * e),
                        Reduction::Var { .. } => (8.0 * e, 8.0 * e),
                    };
                    let what = format!(
                        "{} {op:?} outer={outer} len={len} inner={inner}",
                        name::<T>()
                    );
                    common::assert_all_close(&out, &want, rel, abs, &what);
                }
                // Small integers: sums are exact, means one correctly rounded division.
                let x: Vec<T> = common::discrete(&mut rng, outer * len * inner);
                let xf: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
                for op in [
                    Reduction::Sum,
                    Reduction::Mean,
                    Reduction::Max,
                    Reduction::Min,
                ] {
                    let mut out = vec![T::from_f64(-7777.25); outer * inner];
                    reduce::reduce(op, &x, outer, len, inner, &mut out);
                    let want: Vec<f64> = naive_reduce(op, &xf, outer, len, inner)
                        .into_iter()
                        .map(|w| T::from_f64(w).to_f64())
                        .collect();
                    let what = format!(
                        "{} exact {op:?} outer={outer} len={len} inner={inner}",
                        name::<T>()
                    );
                    common::assert_all_close(&out, &want, 0.0, 0.0, &what);
                }
            }
        }
    }
}

#[test]
fn reduce_matches_reference_for_every_shape() {
    reduce_matches_reference::<f32>();
    reduce_matches_reference::<f64>();
}

/// The documented values over an empty axis: sum 0, mean NaN, max -inf, min +inf,
/// logsumexp -inf, var NaN.
#[test]
fn reduce_over_empty_axis() {
    for inner in [1, 3] {
        let expect = [
            (Reduction::Sum, 0.0),
            (Reduction::Mean, f64::NAN),
            (Reduction::Max, f64::NEG_INFINITY),
            (Reduction::Min, f64::INFINITY),
            (Reduction::LogSumExp, f64::NEG_INFINITY),
            (Reduction::Var { correction: 1 }, f64::NAN),
        ];
        for (op, want) in expect {
            let mut out = vec![7.0f32; 2 * inner];
            reduce::reduce(op, &[], 2, 0, inner, &mut out);
            for &o in &out {
                assert!(
                    common::close(o as f64, want, 0.0, 0.0),
                    "{op:?} inner={inner}: {o}"
                );
            }
        }
    }
}

/// NaN and infinities through every reduction, on rows and on columns.
#[test]
fn reduce_special_values() {
    for inner in [1, 2] {
        let len = 9;
        // Column 0 (and the only row when inner = 1) has a NaN; with inner = 2, column 1 has +inf.
        let mut x = vec![1.0f64; len * inner];
        x[4 * inner] = f64::NAN;
        if inner == 2 {
            x[3 * 2 + 1] = f64::INFINITY;
        }
        for op in REDUCTIONS {
            let mut out = vec![0.0; inner];
            reduce::reduce(op, &x, 1, len, inner, &mut out);
            assert!(
                out[0].is_nan(),
                "{op:?} inner={inner}: NaN column gave {}",
                out[0]
            );
            if inner == 2 {
                let want_inf = matches!(
                    op,
                    Reduction::Sum | Reduction::Mean | Reduction::Max | Reduction::LogSumExp
                );
                if want_inf {
                    assert_eq!(out[1], f64::INFINITY, "{op:?}: +inf column");
                }
            }
        }
    }
    // logsumexp of all -inf is -inf, and of huge values is finite.
    let mut out = [0.0f32; 1];
    reduce::reduce(
        Reduction::LogSumExp,
        &[f32::NEG_INFINITY; 3],
        1,
        3,
        1,
        &mut out,
    );
    assert_eq!(out[0], f32::NEG_INFINITY);
    reduce::reduce(
        Reduction::LogSumExp,
        &[1000.0f32, 1000.0],
        1,
        2,
        1,
        &mut out,
    );
    assert!(
        (out[0] as f64 - (1000.0 + 2f64.ln())).abs() < 1e-3,
        "{}",
        out[0]
    );
    let mut out = [0.0f32; 2];
    reduce::reduce(
        Reduction::LogSumExp,
        &[f32::NEG_INFINITY; 4],
        1,
        2,
        2,
        &mut out,
    );
    assert_eq!(out, [f32::NEG_INFINITY; 2]);
}

fn naive_arg(largest: bool, x: &[f64], outer: usize, len: usize, inner: usize) -> Vec<usize> {
    let mut out = vec![];
    for o in 0..outer {
        for i in 0..inner {
            let col: Vec<f64> = (0..len).map(|r| x[(o * len + r) * inner + i]).collect();
            let idx = if let Some(p) = col.iter().position(|v| v.is_nan()) {
                p
            } else {
                let mut best = 0;
                for r in 1..len {
                    if (largest && col[r] > col[best]) || (!largest && col[r] < col[best]) {
                        best = r;
                    }
                }
                best
            };
            out.push(idx);
        }
    }
    out
}

#[test]
fn arg_reduce_matches_reference_first_on_ties_and_first_nan() {
    let mut rng = rng(35);
    for outer in [0, 1, 2, 3] {
        for len in [1, 2, 7, 9, 33] {
            for inner in [1, 2, 5] {
                for with_nan in [false, true] {
                    let n = outer * len * inner;
                    let mut x: Vec<f64> = common::discrete(&mut rng, n);
                    if with_nan {
                        for v in x.iter_mut() {
                            if rng.random_range(0..6) == 0 {
                                *v = f64::NAN;
                            }
                        }
                    }
                    let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                    for largest in [true, false] {
                        let want = naive_arg(largest, &x, outer, len, inner);
                        let mut got = vec![usize::MAX; outer * inner];
                        arg_reduce(largest, &x, outer, len, inner, &mut got);
                        assert_eq!(got, want, "f64 largest={largest} {outer}x{len}x{inner}");
                        let mut got = vec![usize::MAX; outer * inner];
                        arg_reduce(largest, &xs, outer, len, inner, &mut got);
                        assert_eq!(got, want, "f32 largest={largest} {outer}x{len}x{inner}");
                    }
                }
            }
        }
    }
}
