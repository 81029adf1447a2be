//! Reductions over random axis sets (shuffled, some negative) with `keepdim` true and false,
//! their `*_all` forms, and `argmax`/`argmin` (first index on ties) against `f64` references, on
//! contiguous and non-contiguous inputs, f32 and f64.

mod common;

use common::*;
use descent_core::{DType, Tensor};
use proptest::prelude::*;

/// An input of rank `0..=4` with a set of its axes.
fn case() -> impl Strategy<Value = (Input, Vec<usize>, Vec<isize>, bool)> {
    input(0, 4, -2.0, 2.0).prop_flat_map(|inp| {
        let r = inp.arr.rank();
        (Just(inp), axis_set(r), any::<bool>())
            .prop_map(|(inp, (axes, passed), keep)| (inp, axes, passed, keep))
    })
}

/// Relative tolerance of a sum-like result, against the reference on `|x|`.
fn sum_rtol(dt: DType) -> f64 {
    match dt {
        DType::F32 => 2e-5,
        DType::F64 => 1e-12,
    }
}

fn any_empty(x: &Arr, axes: &[usize]) -> bool {
    axes.iter().any(|&a| x.shape[a] == 0)
}

proptest! {
    #[test]
    fn prop_sum_matches_reference((inp, axes, passed, keep) in case()) {
        for dt in DTYPES {
            let got = inp.tensor(dt).sum(&passed, keep);
            let want = reduce_ref(&inp.arr, &axes, keep, sum_f);
            let scale = reduce_ref(&inp.arr.map(f64::abs), &axes, keep, sum_f);
            let (_, atol) = tol(dt);
            assert_close_scaled("sum", &got, &want, &scale, dt, sum_rtol(dt), atol);
        }
    }

    #[test]
    fn prop_mean_matches_reference((inp, axes, passed, keep) in case()) {
        for dt in DTYPES {
            let got = inp.tensor(dt).mean(&passed, keep);
            let want = reduce_ref(&inp.arr, &axes, keep, mean_f);
            let scale = reduce_ref(&inp.arr.map(f64::abs), &axes, keep, mean_f);
            let (_, atol) = tol(dt);
            assert_close_scaled("mean", &got, &want, &scale, dt, sum_rtol(dt), atol);
        }
    }

    #[test]
    fn prop_max_matches_reference((inp, axes, passed, keep) in case()) {
        for dt in DTYPES {
            let got = inp.tensor(dt).try_max(&passed, keep);
            if any_empty(&inp.arr, &axes) {
                prop_assert!(got.is_err(), "max over an empty axis must fail");
            } else {
                assert_exact("max", &got.unwrap(), &reduce_ref(&inp.arr, &axes, keep, max_f), dt);
            }
        }
    }

    #[test]
    fn prop_min_matches_reference((inp, axes, passed, keep) in case()) {
        for dt in DTYPES {
            let got = inp.tensor(dt).try_min(&passed, keep);
            if any_empty(&inp.arr, &axes) {
                prop_assert!(got.is_err(), "min over an empty axis must fail");
            } else {
                assert_exact("min", &got.unwrap(), &reduce_ref(&inp.arr, &axes, keep, min_f), dt);
            }
        }
    }

    #[test]
    fn prop_logsumexp_matches_reference((inp, axes, passed, keep) in case()) {
        for dt in DTYPES {
            let got = inp.tensor(dt).logsumexp(&passed, keep);
            let want = reduce_ref(&inp.arr, &axes, keep, logsumexp_f);
            let (rtol, atol) = tol(dt);
            assert_close("logsumexp", &got, &want, dt, rtol, atol);
        }
    }

    #[test]
    fn prop_var_matches_reference((inp, axes, passed, keep) in case(), correction in 0usize..=1) {
        for dt in DTYPES {
            let got = inp.tensor(dt).var(&passed, correction, keep);
            let want = reduce_ref(&inp.arr, &axes, keep, |v| var_f(v, correction));
            // Scale: the mean of squares over the group, which bounds the rounding of each term.
            let scale = reduce_ref(&inp.arr, &axes, keep, |v| {
                v.iter().map(|x| x * x).sum::<f64>() / (v.len().saturating_sub(correction).max(1)) as f64
            });
            let (_, atol) = tol(dt);
            assert_close_scaled("var", &got, &want, &scale, dt, sum_rtol(dt), atol);
        }
    }

    /// The `*_all` forms reduce everything to a 0-D tensor.
    #[test]
    fn prop_reduce_all_matches_reference(inp in input(0, 4, -2.0, 2.0)) {
        let all: Vec<usize> = (0..inp.arr.rank()).collect();
        let abs = inp.arr.map(f64::abs);
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let (_, atol) = tol(dt);
            let red = |f: fn(&[f64]) -> f64, x: &Arr| reduce_ref(x, &all, false, f);
            assert_close_scaled("sum_all", &t.sum_all(), &red(sum_f, &inp.arr), &red(sum_f, &abs), dt, sum_rtol(dt), atol);
            assert_close_scaled("mean_all", &t.mean_all(), &red(mean_f, &inp.arr), &red(mean_f, &abs), dt, sum_rtol(dt), atol);
            let (rtol, atol) = tol(dt);
            assert_close("logsumexp_all", &t.logsumexp_all(), &red(logsumexp_f, &inp.arr), dt, rtol, atol);
            if inp.arr.numel() > 0 {
                assert_exact("max_all", &t.max_all(), &red(max_f, &inp.arr), dt);
                assert_exact("min_all", &t.min_all(), &red(min_f, &inp.arr), dt);
            } else {
                let t2 = t.clone();
                prop_assert!(std::panic::catch_unwind(move || t2.max_all()).is_err());
            }
            prop_assert!(t.sum_all().shape().is_empty());
        }
    }

    /// `argmax`/`argmin`: the first index of the extreme value along the axis (ties are frequent:
    /// values are often from a small set, and expanded views repeat elements).
    #[test]
    fn prop_argmax_argmin_match_reference(
        (inp, (a, passed), keep) in input(1, 4, -2.0, 2.0).prop_flat_map(|inp| {
            let r = inp.arr.rank();
            (Just(inp), axis(r), any::<bool>())
        })
    ) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            for (name, largest, got) in [
                ("argmax", true, t.try_argmax(passed, keep)),
                ("argmin", false, t.try_argmin(passed, keep)),
            ] {
                if inp.arr.shape[a] == 0 {
                    prop_assert!(got.is_err(), "{} over an empty axis must fail", name);
                } else {
                    assert_exact(name, &got.unwrap().to_dtype(dt), &arg_ref(&inp.arr, a, keep, largest), dt);
                }
            }
        }
    }

    /// The argmax indexes the max: `gather(argmax) == max` along the axis.
    #[test]
    fn prop_argmax_gathers_the_max(
        (inp, (a, passed)) in shape_nonzero(1, 4)
            .prop_flat_map(|s| input_of(s, -2.0, 2.0))
            .prop_flat_map(|inp| { let r = inp.arr.rank(); (Just(inp), axis(r)) })
    ) {
        let t = inp.tensor(DType::F64);
        let idx = t.argmax(passed, true);
        let g = t.gather(passed, &idx);
        prop_assert_eq!(g.to_vec_f64(), t.max(&[passed], true).to_vec_f64());
        let _ = a;
    }
}

#[test]
fn empty_reductions_follow_torch() {
    for dt in DTYPES {
        let x = Tensor::full_with([0, 3], 1.0, dt);
        assert_eq!(x.sum(&[0], false).to_vec_f64(), vec![0.0; 3]);
        assert!(x.mean(&[0], false).to_vec_f64().iter().all(|v| v.is_nan()));
        assert!(
            x.logsumexp(&[0], false)
                .to_vec_f64()
                .iter()
                .all(|&v| v == f64::NEG_INFINITY)
        );
        // Reducing the other axis of an empty tensor gives an empty result.
        assert_eq!(x.max(&[1], true).shape(), &[0, 1]);
    }
}

proptest! {
    /// Longer rows (past the kernels' SIMD lanes and 4096-element chunks) in strided layouts.
    #[test]
    fn prop_reductions_on_long_rows_match_reference(
        (inp, (axes, passed), keep) in (1usize..=90, 1usize..=90)
            .prop_flat_map(|(a, b)| input_of(vec![a, b], -2.0, 2.0))
            .prop_flat_map(|inp| (Just(inp), axis_set(2), any::<bool>()))
    ) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let (_, atol) = tol(dt);
            let abs = inp.arr.map(f64::abs);
            assert_close_scaled(
                "sum (long)",
                &t.sum(&passed, keep),
                &reduce_ref(&inp.arr, &axes, keep, sum_f),
                &reduce_ref(&abs, &axes, keep, sum_f),
                dt,
                sum_rtol(dt),
                atol,
            );
            assert_exact("max (long)", &t.max(&passed, keep), &reduce_ref(&inp.arr, &axes, keep, max_f), dt);
            let (rtol, atol) = tol(dt);
            assert_close("logsumexp (long)", &t.logsumexp(&passed, keep), &reduce_ref(&inp.arr, &axes, keep, logsumexp_f), dt, rtol, atol);
            if let Some(&a) = axes.first() {
                assert_exact("argmin (long)", &t.argmin(a as isize, keep).to_dtype(dt), &arg_ref(&inp.arr, a, keep, false), dt);
            }
        }
    }
}

#[test]
fn nan_propagates_through_reductions() {
    for dt in DTYPES {
        // Long enough for the SIMD body and a tail, NaN in the body or in the tail.
        for at in [1usize, 17] {
            let mut v = vec![1.0; 19];
            v[5] = 3.0;
            v[at] = f64::NAN;
            let x = Tensor::from_vec(v, [19]).to_dtype(dt);
            for (name, y) in [
                ("sum", x.sum_all()),
                ("mean", x.mean_all()),
                ("max", x.max_all()),
                ("min", x.min_all()),
                ("logsumexp", x.logsumexp_all()),
                ("var", x.var(&[0], 1, false)),
            ] {
                assert!(
                    y.item().is_nan(),
                    "{name} ({dt:?}) with NaN at {at}: {}",
                    y.item()
                );
            }
            // The first NaN wins argmax / argmin (as torch).
            assert_eq!(x.argmax(0, false).item(), at as i64, "argmax ({dt:?})");
            assert_eq!(x.argmin(0, false).item(), at as i64, "argmin ({dt:?})");
            // Column reductions (the reduced axis is not the last).
            let xc = x.reshape([19, 1]).broadcast_to([19, 3]);
            assert!(
                xc.max(&[0], false).to_vec_f64().iter().all(|v| v.is_nan()),
                "max over columns ({dt:?})"
            );
            assert!(
                xc.min(&[0], false).to_vec_f64().iter().all(|v| v.is_nan()),
                "min over columns ({dt:?})"
            );
            assert_eq!(
                xc.argmax(0, false).to_vec(),
                vec![at as i64; 3],
                "argmax over columns ({dt:?})"
            );
        }
    }
}
