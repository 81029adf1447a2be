//! `softmax` and `log_softmax` along any axis against the `f64` reference, on contiguous and
//! non-contiguous inputs, f32 and f64; shift invariance (stability for large inputs).

mod common;

use common::*;
use proptest::prelude::*;

fn case() -> impl Strategy<Value = (Input, usize, isize)> {
    input(1, 4, -2.0, 2.0).prop_flat_map(|inp| {
        let r = inp.arr.rank();
        (Just(inp), axis(r)).prop_map(|(inp, (a, p))| (inp, a, p))
    })
}

proptest! {
    #[test]
    fn prop_softmax_matches_reference((inp, a, passed) in case()) {
        for dt in DTYPES {
            let got = inp.tensor(dt).softmax(passed);
            let (rtol, atol) = tol(dt);
            assert_close("softmax", &got, &softmax_ref(&inp.arr, a, false), dt, rtol, atol);
        }
    }

    #[test]
    fn prop_log_softmax_matches_reference((inp, a, passed) in case()) {
        for dt in DTYPES {
            let got = inp.tensor(dt).log_softmax(passed);
            let (rtol, atol) = tol(dt);
            assert_close("log_softmax", &got, &softmax_ref(&inp.arr, a, true), dt, rtol, atol);
        }
    }

    /// Adding a large constant changes nothing (the max is subtracted first).
    #[test]
    fn prop_softmax_is_shift_invariant((inp, a, passed) in case(), shift in prop_oneof![Just(-1000.0), Just(500.0), Just(80.0)]) {
        for dt in DTYPES {
            let shifted = inp.arr.map(|x| x + shift);
            let t = build(&shifted, &inp.views, dt);
            let (rtol, atol) = tol(dt);
            // The shifted values are rounded in f32; compare with the reference on those.
            let stored = Arr::new(&shifted.shape, t.to_vec_f64());
            assert_close("softmax (shifted)", &t.softmax(passed), &softmax_ref(&stored, a, false), dt, rtol, atol);
            assert_close("log_softmax (shifted)", &t.log_softmax(passed), &softmax_ref(&stored, a, true), dt, rtol, atol);
        }
    }
}

#[test]
fn softmax_handles_masked_entries() {
    for dt in DTYPES {
        let x = descent_core::Tensor::from_vec(vec![f64::NEG_INFINITY, 0.0, 0.0], [3]).to_dtype(dt);
        assert_eq!(x.softmax(0).to_vec_f64(), vec![0.0, 0.5, 0.5], "{dt:?}");
        let l = x.log_softmax(0).to_vec_f64();
        assert_eq!(l[0], f64::NEG_INFINITY, "{dt:?}");
        assert!((l[1] - 0.5f64.ln()).abs() < 1e-6, "{dt:?}");
    }
}
