//! Binary ops with NumPy broadcasting, comparisons (0/1 masks) and `where_cond` (three-way
//! broadcast) against `f64` references, on contiguous and non-contiguous operands, f32 and f64.

mod common;

use common::*;
use descent_core::Tensor;
use proptest::prelude::*;

/// Two operands whose shapes broadcast, values of `a` in `[alo, ahi]` and of `b` in `[blo, bhi]`.
fn pair(alo: f64, ahi: f64, blo: f64, bhi: f64) -> impl Strategy<Value = (Input, Input)> {
    broadcast_shapes(2).prop_flat_map(move |s| {
        (
            input_of(s[0].clone(), alo, ahi),
            input_of(s[1].clone(), blo, bhi),
        )
    })
}

/// Rounds to multiples of 1/2, so comparisons see many ties.
fn quantize(mut inp: Input) -> Input {
    inp.arr = inp.arr.map(|x| (x * 2.0).round() / 2.0);
    inp
}

macro_rules! binary_prop {
    ($name:ident, [$alo:expr, $ahi:expr], [$blo:expr, $bhi:expr], |$a:ident, $b:ident| $op:expr, |$x:ident, $y:ident| $r:expr) => {
        proptest! {
            #[test]
            fn $name((ia, ib) in pair($alo, $ahi, $blo, $bhi)) {
                for dt in DTYPES {
                    let ($a, $b) = (ia.tensor(dt), ib.tensor(dt));
                    let got: Tensor = $op;
                    let want = zip_ref(&ia.arr, &ib.arr, |$x, $y| $r);
                    check(stringify!($name), &got, &want, dt);
                    // The operands are untouched.
                    assert_eq!($a.to_vec_f64(), ia.arr.data);
                    assert_eq!($b.to_vec_f64(), ib.arr.data);
                }
            }
        }
    };
}

binary_prop!(
    prop_add_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |a, b| a.add(&b),
    |x, y| x + y
);
binary_prop!(
    prop_sub_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |a, b| a.sub(&b),
    |x, y| x - y
);
binary_prop!(
    prop_mul_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |a, b| a.mul(&b),
    |x, y| x * y
);
binary_prop!(
    prop_div_matches_reference,
    [-2.0, 2.0],
    [0.1, 3.0],
    |a, b| a.div(&b),
    |x, y| x / y
);
binary_prop!(
    prop_pow_matches_reference,
    [0.1, 3.0],
    [-2.0, 2.0],
    |a, b| a.pow(&b),
    |x, y| x.powf(y)
);
binary_prop!(
    prop_maximum_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |a, b| a.maximum(&b),
    |x, y| x.max(y)
);
binary_prop!(
    prop_minimum_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |a, b| a.minimum(&b),
    |x, y| x.min(y)
);

// The operators, in all four reference/value combinations.
binary_prop!(
    prop_add_operator_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |a, b| &a + &b,
    |x, y| x + y
);
binary_prop!(
    prop_add_operator_owned_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |a, b| a.clone() + b.clone(),
    |x, y| x + y
);
binary_prop!(
    prop_sub_operator_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |a, b| a.clone() - &b,
    |x, y| x - y
);
binary_prop!(
    prop_mul_operator_matches_reference,
    [-2.0, 2.0],
    [-2.0, 2.0],
    |a, b| &a * b.clone(),
    |x, y| x * y
);
binary_prop!(
    prop_div_operator_matches_reference,
    [-2.0, 2.0],
    [0.1, 3.0],
    |a, b| &a / &b,
    |x, y| x / y
);

/// A comparison of the reference.
type Cmp = fn(f64, f64) -> bool;

fn mask(c: bool) -> f64 {
    if c { 1.0 } else { 0.0 }
}

proptest! {
    /// Every comparison gives exact 0/1 masks of the input's element type.
    #[test]
    fn prop_comparisons_match_reference((ia, ib) in pair(-2.0, 2.0, -2.0, 2.0)) {
        let (ia, ib) = (quantize(ia), quantize(ib));
        for dt in DTYPES {
            let (a, b) = (ia.tensor(dt), ib.tensor(dt));
            let cases: [(&str, Tensor, Cmp); 6] = [
                ("eq", a.eq(&b), |x, y| x == y),
                ("ne", a.ne(&b), |x, y| x != y),
                ("lt", a.lt(&b), |x, y| x < y),
                ("le", a.le(&b), |x, y| x <= y),
                ("gt", a.gt(&b), |x, y| x > y),
                ("ge", a.ge(&b), |x, y| x >= y),
            ];
            for (name, got, f) in cases {
                assert_exact(name, &got, &zip_ref(&ia.arr, &ib.arr, |x, y| mask(f(x, y))), dt);
            }
        }
    }

    /// The `*_scalar` comparisons.
    #[test]
    fn prop_scalar_comparisons_match_reference(ia in input(0, 4, -2.0, 2.0), c in -4i32..=4) {
        let ia = quantize(ia);
        let c = c as f64 / 2.0;
        for dt in DTYPES {
            let a = ia.tensor(dt);
            let cases: [(&str, Tensor, Cmp); 6] = [
                ("eq_scalar", a.eq_scalar(c), |x, y| x == y),
                ("ne_scalar", a.ne_scalar(c), |x, y| x != y),
                ("lt_scalar", a.lt_scalar(c), |x, y| x < y),
                ("le_scalar", a.le_scalar(c), |x, y| x <= y),
                ("gt_scalar", a.gt_scalar(c), |x, y| x > y),
                ("ge_scalar", a.ge_scalar(c), |x, y| x >= y),
            ];
            for (name, got, f) in cases {
                assert_exact(name, &got, &ia.arr.map(|x| mask(f(x, c))), dt);
            }
        }
    }

    /// `where_cond` with the condition, `on_true` and `on_false` all broadcasting.
    #[test]
    fn prop_where_cond_matches_reference(
        (ic, ia, ib) in broadcast_shapes(3).prop_flat_map(|s| (
            input_of(s[0].clone(), -1.0, 1.0),
            input_of(s[1].clone(), -2.0, 2.0),
            input_of(s[2].clone(), -2.0, 2.0),
        ))
    ) {
        // Many exact zeros in the condition.
        let ic = quantize(ic);
        for dt in DTYPES {
            let got = ic.tensor(dt).where_cond(&ia.tensor(dt), &ib.tensor(dt));
            assert_exact("where_cond", &got, &where_ref(&ic.arr, &ia.arr, &ib.arr), dt);
        }
    }

    /// Broadcasting is symmetric: `a + b == b + a` bit for bit, `a - b == -(b - a)`.
    #[test]
    fn prop_broadcast_is_symmetric((ia, ib) in pair(-2.0, 2.0, -2.0, 2.0)) {
        for dt in DTYPES {
            let (a, b) = (ia.tensor(dt), ib.tensor(dt));
            assert_eq!((&a + &b).to_vec_f64(), (&b + &a).to_vec_f64());
            assert_eq!((&a * &b).to_vec_f64(), (&b * &a).to_vec_f64());
            assert_eq!((&a - &b).to_vec_f64(), (-(&b - &a)).to_vec_f64());
            assert_eq!((&a + &b).shape(), (&b + &a).shape());
        }
    }
}

#[test]
fn maximum_and_minimum_propagate_nan() {
    for dt in DTYPES {
        let a = Tensor::from_vec(vec![f64::NAN, 1.0, 2.0], [3]).to_dtype(dt);
        let b = Tensor::from_vec(vec![0.0, f64::NAN, 1.0], [3]).to_dtype(dt);
        for (name, y) in [("maximum", a.maximum(&b)), ("minimum", a.minimum(&b))] {
            let v = y.to_vec_f64();
            assert!(v[0].is_nan() && v[1].is_nan(), "{name} ({dt:?}): {v:?}");
        }
        assert_eq!(a.maximum(&b).to_vec_f64()[2], 2.0);
        assert_eq!(a.minimum(&b).to_vec_f64()[2], 1.0);
    }
}

proptest! {
    /// Longer operands (past the SIMD lanes) with broadcasting and strided layouts.
    #[test]
    fn prop_binary_on_long_tensors_matches_reference(
        (ia, ib) in (1usize..=70, 1usize..=70)
            .prop_flat_map(|(a, b)| (sub_shape(vec![a, b]), sub_shape(vec![a, b])))
            .prop_flat_map(|(sa, sb)| (input_of(sa, -2.0, 2.0), input_of(sb, 0.1, 3.0)))
    ) {
        for dt in DTYPES {
            let (a, b) = (ia.tensor(dt), ib.tensor(dt));
            check("add (long)", &a.add(&b), &zip_ref(&ia.arr, &ib.arr, |x, y| x + y), dt);
            check("sub (long)", &b.sub(&a), &zip_ref(&ib.arr, &ia.arr, |x, y| x - y), dt);
            check("mul (long)", &a.mul(&b), &zip_ref(&ia.arr, &ib.arr, |x, y| x * y), dt);
            check("div (long)", &a.div(&b), &zip_ref(&ia.arr, &ib.arr, |x, y| x / y), dt);
            check("pow (long)", &b.pow(&a), &zip_ref(&ib.arr, &ia.arr, |x, y| x.powf(y)), dt);
            check("maximum (long)", &a.maximum(&b), &zip_ref(&ia.arr, &ib.arr, f64::max), dt);
            assert_exact("lt (long)", &a.lt(&b), &zip_ref(&ia.arr, &ib.arr, |x, y| mask(x < y)), dt);
        }
    }
}
