//! Elementwise row kernels against their `f64` references, on every instruction-set path, for
//! every length of `common::LENS` and every stride 0..=3, in `f32` and `f64`.
//!
//! The unary ops are every instance of `UnaryOp::samples()`, each on the input domain and at the
//! tolerance of its line in `common::unary_case`.
//! "Exact" ops are a single IEEE operation (or a selection): the `f32` result must equal the `f64`
//! reference rounded to `f32` (double rounding is innocuous for `+ - * / sqrt` since
//! 53 >= 2 * 24 + 2), and the `f64` result must equal the reference.

mod common;

use common::{Domain, LENS, Tol, assert_all_close, bits, eps, fill, isas, name, rng, unary_case};
use descent_kernels::elementwise::{
    self, BinaryOp, CompareOp, UnaryOp, ZipOp, binary_reference, binary_row, compare_reference,
    unary_reference, unary_row,
};
use descent_kernels::{Float, Isa};
use rand::rngs::StdRng;

#[track_caller]
fn check<T: Float>(got: T, want: f64, tol: Tol, ctx: &dyn Fn() -> String) {
    assert!(
        common::within(got, want, tol),
        "{}: got {got}, want {want} ({tol:?})",
        ctx()
    );
}

/// `(op, domain of a, domain of b, tolerance)`.
const BINARY_CASES: &[(BinaryOp, Domain, Domain, Tol)] = &[
    (BinaryOp::Add, Domain::Any, Domain::Any, Tol::Exact),
    (BinaryOp::Sub, Domain::Any, Domain::Any, Tol::Exact),
    (BinaryOp::Mul, Domain::Any, Domain::Any, Tol::Exact),
    (BinaryOp::Div, Domain::Any, Domain::NonZero, Tol::Exact),
    (
        BinaryOp::Pow,
        Domain::Positive,
        Domain::Exponent,
        Tol::Approx,
    ),
    (BinaryOp::Maximum, Domain::Any, Domain::Any, Tol::Exact),
    (BinaryOp::Maximum, Domain::Ties, Domain::Ties, Tol::Exact),
    (BinaryOp::Minimum, Domain::Any, Domain::Any, Tol::Exact),
    (BinaryOp::Minimum, Domain::Ties, Domain::Ties, Tol::Exact),
];

/// Every comparison, on operands with many ties.
fn compare_cases() -> Vec<(CompareOp, Domain, Domain, Tol)> {
    CompareOp::ALL
        .iter()
        .map(|&op| (op, Domain::Ties, Domain::Ties, Tol::Exact))
        .collect()
}

/// Shortest input that covers `n` reads at stride `s` (empty for `n = 0`).
fn strided_len(n: usize, s: usize) -> usize {
    if n == 0 { 0 } else { (n - 1) * s + 1 }
}

/// A sentinel the kernels must overwrite (no reference result equals it).
fn sentinel<T: Float>() -> T {
    T::from_f64(-7777.25)
}

fn unary_rows_match_reference<T: Float>(isa: Isa) {
    let mut rng = rng(0x5eed_0001);
    for op in UnaryOp::samples() {
        let case = unary_case(op);
        for &n in &LENS {
            for sx in 0..=3 {
                let x: Vec<T> = fill(&mut rng, strided_len(n, sx), case.domain);
                let mut out = vec![sentinel::<T>(); n];
                unary_row(isa, op, &x, sx, &mut out);
                for (i, &o) in out.iter().enumerate() {
                    let v = x[i * sx];
                    let ctx =
                        || format!("{isa:?} {} {op:?} n={n} sx={sx} i={i} x={v}", name::<T>());
                    check(o, unary_reference(op, v.to_f64()), case.tol, &ctx);
                }
            }
        }
    }
}

/// Binary ops and comparisons alike: `reference` is `binary_reference` or `compare_reference`.
fn zip_rows_match_reference<T: Float, O: ZipOp>(
    isa: Isa,
    seed: u64,
    cases: &[(O, Domain, Domain, Tol)],
    reference: fn(O, f64, f64) -> f64,
) {
    let mut rng = rng(seed);
    for &(op, da, db, tol) in cases {
        for &n in &LENS {
            for sa in 0..=3 {
                for sb in 0..=3 {
                    let a: Vec<T> = fill(&mut rng, strided_len(n, sa), da);
                    let b: Vec<T> = fill(&mut rng, strided_len(n, sb), db);
                    let mut out = vec![sentinel::<T>(); n];
                    binary_row(isa, op, &a, sa, &b, sb, &mut out);
                    for (i, &o) in out.iter().enumerate() {
                        let (x, y) = (a[i * sa], b[i * sb]);
                        let ctx = || {
                            format!(
                                "{isa:?} {} {op:?} n={n} sa={sa} sb={sb} i={i} a={x} b={y}",
                                name::<T>()
                            )
                        };
                        check(o, reference(op, x.to_f64(), y.to_f64()), tol, &ctx);
                    }
                }
            }
        }
    }
}

fn binary_rows_match_reference<T: Float>(isa: Isa) {
    zip_rows_match_reference::<T, _>(isa, 0x5eed_0002, BINARY_CASES, binary_reference);
    zip_rows_match_reference::<T, _>(isa, 0x5eed_0005, &compare_cases(), compare_reference);
}

#[test]
fn unary_row_fallback_matches_reference() {
    unary_rows_match_reference::<f32>(Isa::Fallback);
    unary_rows_match_reference::<f64>(Isa::Fallback);
}

#[test]
fn unary_row_avx2_matches_reference() {
    if !Isa::Avx2Fma.is_supported() {
        eprintln!("note: this CPU has no AVX2+FMA; the avx2 path was not exercised");
        return;
    }
    unary_rows_match_reference::<f32>(Isa::Avx2Fma);
    unary_rows_match_reference::<f64>(Isa::Avx2Fma);
}

#[test]
fn binary_row_fallback_matches_reference() {
    binary_rows_match_reference::<f32>(Isa::Fallback);
    binary_rows_match_reference::<f64>(Isa::Fallback);
}

#[test]
fn binary_row_avx2_matches_reference() {
    if !Isa::Avx2Fma.is_supported() {
        eprintln!("note: this CPU has no AVX2+FMA; the avx2 path was not exercised");
        return;
    }
    binary_rows_match_reference::<f32>(Isa::Avx2Fma);
    binary_rows_match_reference::<f64>(Isa::Avx2Fma);
}

/// `run` (a row kernel writing `n` results) gives the same bits on every path as on the
/// portable one.
fn paths_agree<T: Float>(n: usize, what: &dyn Fn() -> String, run: impl Fn(Isa, &mut [T])) {
    let mut want = vec![T::ZERO; n];
    run(Isa::Fallback, &mut want);
    for isa in isas() {
        let mut got = vec![T::ZERO; n];
        run(isa, &mut got);
        assert_eq!(
            bits(&got),
            bits(&want),
            "{isa:?} {} {} n={n}",
            name::<T>(),
            what()
        );
    }
}

/// `op` on operands drawn from `da` and `db` gives the same bits on every path.
fn zip_paths_agree<T: Float, O: ZipOp>(rng: &mut StdRng, n: usize, op: O, da: Domain, db: Domain) {
    let (a, b): (Vec<T>, Vec<T>) = (fill(rng, n, da), fill(rng, n, db));
    paths_agree(n, &|| format!("{op:?}"), |isa, out| {
        binary_row(isa, op, &a, 1, &b, 1, out)
    });
}

/// Every path computes the same IEEE operations in the same order, so results agree bit for bit
/// with the portable path (no FMA contraction, same libm calls).
fn isa_paths_agree<T: Float>() {
    let mut rng = rng(0x5eed_0003);
    for &n in &[0, 1, 9, 17, 33, 1000] {
        for op in UnaryOp::samples() {
            let x: Vec<T> = fill(&mut rng, n, unary_case(op).domain);
            paths_agree(n, &|| format!("{op:?}"), |isa, out| {
                unary_row(isa, op, &x, 1, out)
            });
        }
        for &(op, da, db, _) in BINARY_CASES {
            zip_paths_agree::<T, _>(&mut rng, n, op, da, db);
        }
        for (op, da, db, _) in compare_cases() {
            zip_paths_agree::<T, _>(&mut rng, n, op, da, db);
        }
    }
}

#[test]
fn isa_paths_agree_bit_for_bit() {
    isa_paths_agree::<f32>();
    isa_paths_agree::<f64>();
}

fn nan_propagates<T: Float>(isa: Isa) {
    let n = 17;
    let nan = T::from_f64(f64::NAN);
    // NaNs at a vector lane start, the middle and the scalar tail.
    let nan_at = [0usize, 8, 16];
    let mut x: Vec<T> = (0..n).map(|i| T::from_f64(i as f64 - 8.5)).collect();
    for &i in &nan_at {
        x[i] = nan;
    }
    let ones = vec![T::ONE; n];
    let ctx = |what: &str| format!("{isa:?} {} {what}", name::<T>());
    // NaN exactly where the reference has NaN: a NaN input, and `log`, `sqrt`, `powf` of the
    // negative inputs.
    for op in UnaryOp::samples() {
        let mut out = vec![T::ZERO; n];
        unary_row(isa, op, &x, 1, &mut out);
        for (i, &o) in out.iter().enumerate() {
            assert_eq!(
                o.is_nan(),
                unary_reference(op, x[i].to_f64()).is_nan(),
                "{} at {i}",
                ctx(&format!("{op:?}"))
            );
        }
    }
    // The ops docs/numerics.md names propagate NaN, as PyTorch.
    for op in [
        UnaryOp::Relu,
        UnaryOp::Clamp(-1.0, 1.0),
        UnaryOp::MaximumScalar(0.0),
        UnaryOp::MinimumScalar(0.0),
    ] {
        assert!(unary_reference(op, f64::NAN).is_nan(), "{op:?}(NaN)");
    }
    for op in [BinaryOp::Maximum, BinaryOp::Minimum, BinaryOp::Add] {
        for (a, b) in [(&x, &ones), (&ones, &x)] {
            let mut out = vec![T::ZERO; n];
            binary_row(isa, op, a, 1, b, 1, &mut out);
            for (i, &o) in out.iter().enumerate() {
                assert_eq!(
                    o.is_nan(),
                    nan_at.contains(&i),
                    "{} at {i}",
                    ctx(&format!("{op:?}"))
                );
            }
        }
        // A broadcast NaN poisons the whole row.
        let mut out = vec![T::ZERO; n];
        binary_row(isa, op, &ones, 1, &[nan], 0, &mut out);
        assert!(out.iter().all(|v| v.is_nan()), "{}", ctx("broadcast NaN"));
    }
    // Comparisons with NaN: only `!=` holds.
    for op in CompareOp::ALL {
        let want = if op == CompareOp::Ne { 1.0 } else { 0.0 };
        let mut out = vec![T::ZERO; 1];
        binary_row(isa, op, &[nan], 1, &[T::ONE], 1, &mut out);
        assert_eq!(out[0].to_f64(), want, "{}", ctx(&format!("{op:?}(NaN, 1)")));
    }
}

#[test]
fn nan_propagation_matches_torch_on_every_isa() {
    for isa in isas() {
        nan_propagates::<f32>(isa);
        nan_propagates::<f64>(isa);
    }
}

fn infinities<T: Float>(isa: Isa) {
    let x = [T::INFINITY, T::NEG_INFINITY, T::ZERO];
    let cases: &[(UnaryOp, [f64; 3])] = &[
        (UnaryOp::Exp, [f64::INFINITY, 0.0, 1.0]),
        (UnaryOp::Sigmoid, [1.0, 0.0, 0.5]),
        (UnaryOp::Tanh, [1.0, -1.0, 0.0]),
        (UnaryOp::Relu, [f64::INFINITY, 0.0, 0.0]),
        (UnaryOp::Erf, [1.0, -1.0, 0.0]),
        (UnaryOp::Clamp(-1.0, 1.0), [1.0, -1.0, 0.0]),
    ];
    for &(op, want) in cases {
        let mut out = [T::ZERO; 3];
        unary_row(isa, op, &x, 1, &mut out);
        for i in 0..3 {
            assert_eq!(
                out[i].to_f64(),
                want[i],
                "{isa:?} {} {op:?}({})",
                name::<T>(),
                x[i]
            );
        }
    }
}

#[test]
fn infinities_on_every_isa() {
    for isa in isas() {
        infinities::<f32>(isa);
        infinities::<f64>(isa);
    }
}

/// Sigmoid must not overflow on either tail (the stable formula).
#[test]
fn sigmoid_is_stable_on_both_tails() {
    for isa in isas() {
        let x = [-1000.0f32, -100.0, -80.0, 80.0, 100.0, 1000.0];
        let mut out = [0.0f32; 6];
        unary_row(isa, UnaryOp::Sigmoid, &x, 1, &mut out);
        for (&v, &o) in x.iter().zip(&out) {
            let want = unary_reference(UnaryOp::Sigmoid, v as f64);
            assert!(
                o.is_finite() && (0.0..=1.0).contains(&o),
                "{isa:?} sigmoid({v}) = {o}"
            );
            assert!(
                common::close(o as f64, want, 1e-5, 1e-44),
                "{isa:?} sigmoid({v}) = {o}"
            );
        }
        let x = [-800.0f64, -700.0, 700.0, 800.0];
        let mut out = [0.0f64; 4];
        unary_row(isa, UnaryOp::Sigmoid, &x, 1, &mut out);
        for (&v, &o) in x.iter().zip(&out) {
            let want = unary_reference(UnaryOp::Sigmoid, v);
            assert!(
                o.is_finite() && (0.0..=1.0).contains(&o),
                "{isa:?} sigmoid({v}) = {o}"
            );
            assert!(
                common::close(o, want, 1e-13, 0.0),
                "{isa:?} sigmoid({v}) = {o}"
            );
        }
    }
}

/// The default-path contiguous entry points agree with the explicit-path rows.
fn default_entry_points<T: Float>() {
    let mut rng = rng(0x5eed_0004);
    for &n in &LENS {
        let a: Vec<T> = fill(&mut rng, n, Domain::Any);
        let b: Vec<T> = fill(&mut rng, n, Domain::NonZero);
        let mut got = vec![sentinel::<T>(); n];
        elementwise::binary(BinaryOp::Div, &a, &b, &mut got);
        let want: Vec<f64> = a
            .iter()
            .zip(&b)
            .map(|(x, y)| T::from_f64(x.to_f64() / y.to_f64()).to_f64())
            .collect();
        assert_all_close(&got, &want, 0.0, 0.0, "binary Div");
        elementwise::unary(UnaryOp::Tanh, &a, &mut got);
        let want: Vec<f64> = a.iter().map(|x| x.to_f64().tanh()).collect();
        let rel = if T::BYTES == 4 { 1e-5 } else { 1e-13 };
        assert_all_close(&got, &want, rel, eps::<T>(), "unary Tanh");
    }
}

#[test]
fn default_path_entry_points_match_reference() {
    default_entry_points::<f32>();
    default_entry_points::<f64>();
}
