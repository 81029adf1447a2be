//! `special::erf` and `gelu` over a grid: odd symmetry, monotonicity, range, agreement with an
//! independent series, and GELU's identity `gelu(x) - gelu(-x) = x`.

use descent_kernels::special::{erf, gelu};

/// A grid over `[-7, 7]` in steps of `1e-3`, crossing the branch points 2.5 and 6.
fn grid() -> impl Iterator<Item = f64> {
    (-7000..=7000).map(|i| i as f64 * 1e-3)
}

#[test]
fn erf_is_odd_bounded_and_monotone() {
    let mut prev = f64::NEG_INFINITY;
    for x in grid() {
        let e = erf(x);
        assert_eq!(erf(-x).to_bits(), (-e).to_bits(), "erf(-{x}) != -erf({x})");
        assert!((-1.0..=1.0).contains(&e), "erf({x}) = {e}");
        assert!(e >= prev, "erf not monotone at {x}: {e} < {prev}");
        prev = e;
    }
    assert_eq!(erf(0.0).to_bits(), 0.0f64.to_bits());
    assert_eq!(
        erf(-0.0).to_bits(),
        (-0.0f64).to_bits(),
        "erf(-0) = -0, as libm and torch"
    );
    assert_eq!(erf(f64::INFINITY), 1.0);
    assert_eq!(erf(f64::NEG_INFINITY), -1.0);
    assert!(erf(f64::NAN).is_nan());
}

/// `erf x = 2/sqrt(pi) x e^(-x^2) sum_n (2x^2)^n / (1 * 3 * ... * (2n + 1))`: every term is
/// positive, so this series has no cancellation (unlike the Maclaurin series); an independent
/// reference good to a few ulps.
fn erf_positive_series(x: f64) -> f64 {
    let a = x.abs();
    let x2 = a * a;
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    let mut n = 0.0;
    while term > 1e-18 * sum {
        n += 1.0;
        term *= 2.0 * x2 / (2.0 * n + 1.0);
        sum += term;
    }
    let r = std::f64::consts::FRAC_2_SQRT_PI * a * (-x2).exp() * sum;
    if x < 0.0 { -r } else { r }
}

#[test]
fn erf_matches_an_independent_series() {
    // Absolute error about 6e-15 at worst, near |x| = 2.5 where the Maclaurin series cancels.
    for x in (-4000..=4000).map(|i| i as f64 * 1e-3) {
        let (got, want) = (erf(x), erf_positive_series(x));
        assert!(
            (got - want).abs() < 1e-14,
            "erf({x}) = {got}, series {want}"
        );
    }
}

#[test]
fn gelu_identities() {
    for x in grid() {
        let (p, m) = (gelu(x), gelu(-x));
        // Phi(x) + Phi(-x) = 1.
        assert!(
            (p - m - x).abs() <= 1e-14 * (1.0 + x.abs()),
            "gelu({x}) - gelu(-{x}) = {}",
            p - m
        );
        // 0 <= Phi <= 1, so gelu lies between min(x, 0) and max(x, 0).
        assert!(p >= x.min(0.0) && p <= x.max(0.0), "gelu({x}) = {p}");
    }
    assert_eq!(gelu(0.0), 0.0);
    assert!((gelu(1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
}
