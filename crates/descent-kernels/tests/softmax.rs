//! Softmax and log-softmax over the middle axis of `[outer, len, inner]` against a naive `f64`
//! softmax: rows sum to one, the log variant is the log of the plain one, large inputs stay
//! finite, and the documented special values.

mod common;

use common::{name, rng};
use descent_kernels::Float;
use descent_kernels::softmax::softmax;

fn naive(x: &[f64], outer: usize, len: usize, inner: usize, log: bool) -> Vec<f64> {
    let mut out = vec![0.0; x.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |r: usize| (o * len + r) * inner + i;
            let m = (0..len).fold(f64::NEG_INFINITY, |a, r| a.max(x[at(r)]));
            let s: f64 = (0..len).map(|r| (x[at(r)] - m).exp()).sum();
            for r in 0..len {
                out[at(r)] = if log {
                    x[at(r)] - m - s.ln()
                } else {
                    (x[at(r)] - m).exp() / s
                };
            }
        }
    }
    out
}

fn matches_reference<T: Float>() {
    let mut rng = rng(71);
    let (rel, abs) = if T::BYTES == 4 {
        (1e-5, 1e-6)
    } else {
        (1e-12, 1e-14)
    };
    for outer in [1, 2, 3] {
        for len in [1, 2, 7, 8, 9, 17, 257] {
            for inner in [1, 2, 5] {
                for scale in [1.0, 30.0] {
                    let n = outer * len * inner;
                    let x: Vec<T> = common::uniform(&mut rng, n, -scale, scale);
                    let xf: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
                    for log in [false, true] {
                        let mut out = vec![T::from_f64(-7777.25); n];
                        softmax(&x, outer, len, inner, &mut out, log);
                        let want = naive(&xf, outer, len, inner, log);
                        let what = format!(
                            "{} log={log} outer={outer} len={len} inner={inner} scale={scale}",
                            name::<T>()
                        );
                        // log-softmax values grow with the spread of x: relative to the spread.
                        let abs = if log { abs * (1.0 + 2.0 * scale) } else { abs };
                        common::assert_all_close(&out, &want, rel, abs, &what);
                    }
                    // Rows sum to one; the log variant is the log of the plain one.
                    let mut p = vec![T::ZERO; n];
                    let mut lp = vec![T::ZERO; n];
                    softmax(&x, outer, len, inner, &mut p, false);
                    softmax(&x, outer, len, inner, &mut lp, true);
                    for o in 0..outer {
                        for i in 0..inner {
                            let s: f64 = (0..len)
                                .map(|r| p[(o * len + r) * inner + i].to_f64())
                                .sum();
                            let tol = if T::BYTES == 4 { 1e-5 } else { 1e-13 };
                            assert!((s - 1.0).abs() < tol, "{} sum {s}", name::<T>());
                        }
                    }
                    for (a, b) in p.iter().zip(&lp) {
                        let (a, b) = (a.to_f64(), b.to_f64());
                        assert!(
                            (a.ln() - b).abs() <= rel * b.abs() + abs || a == 0.0,
                            "{} ln(softmax) {} vs log_softmax {b}",
                            name::<T>(),
                            a.ln()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn softmax_matches_reference_on_every_axis() {
    matches_reference::<f32>();
    matches_reference::<f64>();
}

/// Subtracting the max keeps huge inputs finite.
#[test]
fn softmax_large_inputs_stay_finite() {
    let x = [1000.0f32, 1000.0, -1000.0, 999.0];
    let mut out = [0.0f32; 4];
    softmax(&x, 1, 4, 1, &mut out, false);
    assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
    let e = (-1.0f64).exp();
    let want = [1.0 / (2.0 + e), 1.0 / (2.0 + e), 0.0, e / (2.0 + e)];
    for (o, w) in out.iter().zip(want) {
        assert!((*o as f64 - w).abs() < 1e-6, "{out:?}");
    }
    softmax(&x, 1, 4, 1, &mut out, true);
    assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
    assert!(
        (out[2] as f64 - (-2000.0 - (2.0 + e).ln())).abs() < 1e-3,
        "{out:?}"
    );
    // The same along a middle axis.
    let x = [1000.0f64, -1000.0, 1000.0, -1000.0];
    let mut out = [0.0f64; 4];
    softmax(&x, 1, 2, 2, &mut out, false);
    assert_eq!(out, [0.5, 0.5, 0.5, 0.5]);
}

/// Documented special values: an all `-inf` row gives NaN (as torch), `-inf` entries get
/// probability 0 (log `-inf`), a NaN poisons its row only, a length-1 axis gives 1 (log 0).
#[test]
fn softmax_special_values() {
    let mut out = [0.0f32; 3];
    softmax(&[f32::NEG_INFINITY; 3], 1, 3, 1, &mut out, false);
    assert!(out.iter().all(|v| v.is_nan()));
    softmax(&[0.0, f32::NEG_INFINITY, 0.0], 1, 3, 1, &mut out, false);
    assert_eq!(out, [0.5, 0.0, 0.5]);
    softmax(&[0.0, f32::NEG_INFINITY, 0.0], 1, 3, 1, &mut out, true);
    assert_eq!(out[1], f32::NEG_INFINITY);
    let mut out = [0.0f64; 4];
    softmax(&[1.0, f64::NAN, 1.0, 1.0], 2, 2, 1, &mut out, false);
    assert!(out[0].is_nan() && out[1].is_nan());
    assert_eq!(&out[2..], &[0.5, 0.5]);
    let mut out = [7.0f64; 3];
    softmax(&[-3.0, 0.0, 1e300], 3, 1, 1, &mut out, false);
    assert_eq!(out, [1.0; 3]);
    softmax(&[-3.0, 0.0, 1e300], 3, 1, 1, &mut out, true);
    assert_eq!(out, [0.0; 3]);
    let mut empty: [f32; 0] = [];
    softmax(&[], 0, 3, 2, &mut empty, false);
    softmax(&[], 2, 0, 2, &mut empty, true);
}

/// Large blocks split over threads give the same bits as one thread.
#[test]
fn softmax_parallel_equals_serial() {
    let (outer, len, inner) = (9, 1500, 3);
    let mut rng = rng(72);
    let x: Vec<f32> = common::uniform(&mut rng, outer * len * inner, -5.0, 5.0);
    for log in [false, true] {
        common::assert_thread_count_invariant("softmax", || {
            let mut out = vec![0.0f32; x.len()];
            softmax(&x, outer, len, inner, &mut out, log);
            out
        });
    }
}
