//! Unary elementwise ops, their scalar forms and the scalar operators against `f64` references,
//! on contiguous and non-contiguous (transposed, step-sliced, narrowed, expanded) inputs, in f32
//! and f64.

mod common;

use common::*;
use descent_core::Tensor;
use proptest::prelude::*;

/// One property per op: `$op` on the tensor `$t` (with a scalar `$c` drawn from `[$clo, $chi]`)
/// matches `$r` on each element `$x`, for inputs drawn from `[$lo, $hi]`.
macro_rules! unary_prop {
    ($name:ident, [$lo:expr, $hi:expr], [$clo:expr, $chi:expr], |$t:ident, $c:ident| $op:expr, |$x:ident| $r:expr) => {
        proptest! {
            #[test]
            fn $name(inp in input(0, 4, $lo, $hi), $c in value($clo, $chi)) {
                for dt in DTYPES {
                    let $t = inp.tensor(dt);
                    let got: Tensor = $op;
                    let want = inp.arr.map(|$x| $r);
                    check(stringify!($name), &got, &want, dt);
                    // The input is untouched.
                    assert_eq!($t.to_vec_f64(), inp.arr.data);
                }
            }
        }
    };
}

unary_prop!(
    prop_neg_matches_reference,
    [-2.0, 2.0],
    [0.0, 0.0],
    |t, _c| t.neg(),
    |x| -x
);
unary_prop!(
    prop_abs_matches_reference,
    [-2.0, 2.0],
    [0.0, 0.0],
    |t, _c| t.abs(),
    |x| x.abs()
);
unary_prop!(
    prop_exp_matches_reference,
    [-2.0, 2.0],
    [0.0, 0.0],
    |t, _c| t.exp(),
    |x| x.exp()
);
unary_prop!(
    prop_log_matches_reference,
    [0.1, 3.0],
    [0.0, 0.0],
    |t, _c| t.log(),
    |x| x.ln()
);
unary_prop!(
    prop_sqrt_matches_reference,
    [0.1, 3.0],
    [0.0, 0.0],
    |t, _c| t.sqrt(),
    |x| x.sqrt()
);
unary_prop!(
    prop_square_matches_reference,
    [-2.0, 2.0],
    [0.0, 0.0],
    |t, _c| t.square(),
    |x| x * x
);
unary_prop!(
    prop_recip_matches_reference,
    [0.1, 3.0],
    [0.0, 0.0],
    |t, _c| t.recip(),
    |x| 1.0 / x
);
unary_prop!(
    prop_tanh_matches_reference,
    [-2.0, 2.0],
    [0.0, 0.0],
    |t, _c| t.tanh(),
    |x| x.tanh()
);
unary_prop!(
    prop_sigmoid_matches_reference,
    [-2.0, 2.0],
    [0.0, 0.0],
    |t, _c| t.sigmoid(),
    |x| sigmoid_ref(x)
);
unary_prop!(
    prop_relu_matches_reference,
    [-2.0, 2.0],
    [0.0, 0.0],
    |t, _c| t.relu(),
    |x| if x > 0.0 { x } else { 0.0 }
);
unary_prop!(
    prop_leaky_relu_matches_reference,
    [-2.0, 2.0],
    [0.0, 1.0],
    |t, c| t.leaky_relu(c),
    |x| if x > 0.0 { x } else { c * x }
);
unary_prop!(
    prop_gelu_matches_reference,
    [-2.0, 2.0],
    [0.0, 0.0],
    |t, _c| t.gelu(),
    |x| gelu_ref(x)
);
unary_prop!(
    prop_erf_matches_reference,
    [-2.0, 2.0],
    [0.0, 0.0],
    |t, _c| t.erf(),
    |x| erf_ref(x)
);
unary_prop!(
    prop_powf_matches_reference,
    [0.1, 3.0],
    [-2.0, 3.0],
    |t, c| t.powf(c),
    |x| x.powf(c)
);
unary_prop!(
    prop_add_scalar_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |t, c| t.add_scalar(c),
    |x| x + c
);
unary_prop!(
    prop_sub_scalar_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |t, c| t.sub_scalar(c),
    |x| x - c
);
unary_prop!(
    prop_mul_scalar_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |t, c| t.mul_scalar(c),
    |x| x * c
);
unary_prop!(
    prop_div_scalar_matches_reference,
    [-2.0, 2.0],
    [0.25, 3.0],
    |t, c| t.div_scalar(c),
    |x| x / c
);
unary_prop!(
    prop_rsub_scalar_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |t, c| t.rsub_scalar(c),
    |x| c - x
);
unary_prop!(
    prop_rdiv_scalar_matches_reference,
    [0.1, 3.0],
    [-2.0, 2.0],
    |t, c| t.rdiv_scalar(c),
    |x| c / x
);
unary_prop!(
    prop_rpow_scalar_matches_reference,
    [-2.0, 2.0],
    [0.1, 3.0],
    |t, c| t.rpow_scalar(c),
    |x| c.powf(x)
);
unary_prop!(
    prop_maximum_scalar_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |t, c| t.maximum_scalar(c),
    |x| x.max(c)
);
unary_prop!(
    prop_minimum_scalar_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |t, c| t.minimum_scalar(c),
    |x| x.min(c)
);

// Operators with a scalar on either side, by reference and by value.
unary_prop!(
    prop_add_scalar_operator_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |t, c| &(&t + c) + &(c + t.clone()),
    |x| 2.0 * (x + c)
);
unary_prop!(
    prop_mul_scalar_operator_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |t, c| &(&t * c) - &(c * t.clone()),
    |x| {
        let _ = x;
        0.0
    }
);
unary_prop!(
    prop_div_scalar_operator_matches_reference,
    [0.1, 3.0],
    [0.5, 2.0],
    |t, c| &(&t / c) * &(c / t.clone()),
    |x| {
        let _ = x;
        1.0
    }
);
unary_prop!(
    prop_neg_operator_matches_reference,
    [-2.0, 2.0],
    [0.0, 0.0],
    |t, _c| &(-&t) + &(-t.clone()),
    |x| -2.0 * x
);

proptest! {
    /// `c - x` and `x - c` through the operators, element by element.
    #[test]
    fn prop_sub_scalar_operators_match_reference(inp in input(0, 4, -2.0, 2.0), c in value(-2.0, 2.0)) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            check("x - c", &(&t - c), &inp.arr.map(|x| x - c), dt);
            check("c - x", &(c - &t), &inp.arr.map(|x| c - x), dt);
            check("c - x (owned)", &(c - t.clone()), &inp.arr.map(|x| c - x), dt);
            check("x - c (owned)", &(t.clone() - c), &inp.arr.map(|x| x - c), dt);
            check("x / c", &(&t / (c.abs() + 0.5)), &inp.arr.map(|x| x / (c.abs() + 0.5)), dt);
        }
    }

    /// `clamp(lo, hi)` for `lo <= hi`.
    #[test]
    fn prop_clamp_matches_reference(inp in input(0, 4, -2.0, 2.0), lo in value(-2.0, 2.0), width in value(0.0, 2.0)) {
        let hi = lo + width;
        for dt in DTYPES {
            let got = inp.tensor(dt).clamp(lo, hi);
            check("clamp", &got, &inp.arr.map(|x| x.max(lo).min(hi)), dt);
        }
    }

    /// `powf` with a whole exponent is defined for negative bases too (as `torch.pow`).
    #[test]
    fn prop_powf_integer_exponent_matches_reference(inp in input(0, 3, -2.0, 2.0), p in -2i32..=3) {
        for dt in DTYPES {
            let got = inp.tensor(dt).powf(p as f64);
            let want = inp.arr.map(|x| x.powi(p));
            check("powf (whole exponent)", &got, &want, dt);
        }
    }
}

#[test]
fn erf_reference_matches_tabulated_values() {
    // Abramowitz & Stegun, table 7.1.
    for (x, want) in [
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
    ] {
        assert!((erf_ref(x) - want).abs() < 1e-15, "erf({x})");
        assert!((erf_ref(-x) + want).abs() < 1e-15, "erf(-{x})");
    }
}

#[test]
fn unary_ops_keep_nan() {
    for dt in DTYPES {
        let x = Tensor::from_vec(vec![f64::NAN, 1.0], [2]).to_dtype(dt);
        for (name, y) in [
            ("relu", x.relu()),
            ("clamp", x.clamp(-1.0, 0.5)),
            ("maximum_scalar", x.maximum_scalar(0.0)),
            ("minimum_scalar", x.minimum_scalar(0.0)),
            ("abs", x.abs()),
            ("tanh", x.tanh()),
            ("sigmoid", x.sigmoid()),
        ] {
            assert!(y.to_vec_f64()[0].is_nan(), "{name} ({dt:?}) drops NaN");
        }
    }
}

proptest! {
    /// Longer tensors (past the SIMD lanes, with ragged tails) in strided layouts.
    #[test]
    fn prop_unary_on_long_tensors_matches_reference(
        inp in (1usize..=70, 1usize..=70).prop_flat_map(|(a, b)| input_of(vec![a, b], -2.0, 2.0))
    ) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            check("exp (long)", &t.exp(), &inp.arr.map(f64::exp), dt);
            check("tanh (long)", &t.tanh(), &inp.arr.map(f64::tanh), dt);
            check("sigmoid (long)", &t.sigmoid(), &inp.arr.map(sigmoid_ref), dt);
            check("gelu (long)", &t.gelu(), &inp.arr.map(gelu_ref), dt);
            check("relu (long)", &t.relu(), &inp.arr.map(|x| x.max(0.0)), dt);
            check("mul_scalar (long)", &t.mul_scalar(-1.5), &inp.arr.map(|x| x * -1.5), dt);
            check("sqrt(abs) (long)", &t.abs().sqrt(), &inp.arr.map(|x| x.abs().sqrt()), dt);
        }
    }
}
