//! Helpers shared by the integration tests: seeded data, tolerances, thread pools, ISA lists,
//! and how each unary op is tested ([`unary_case`]).
#![allow(dead_code)] // Each test binary uses a different subset.

use descent_kernels::{Float, Isa, UnaryOp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Row lengths every row kernel is tried on: empty, one, SIMD widths (8 f32 / 4 f64 lanes,
/// and the 8-lane reduction) plus and minus one, and odd sizes.
pub const LENS: [usize; 14] = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 257, 1000];

/// A deterministic generator, so failures reproduce.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Every instruction-set path this machine can run; never empty, the portable one first.
pub fn isas() -> Vec<Isa> {
    let v = Isa::supported();
    assert_eq!(
        v.first(),
        Some(&Isa::Fallback),
        "the portable path is always listed first"
    );
    v
}

/// Machine epsilon of `T`, as `f64`.
pub fn eps<T: Float>() -> f64 {
    if T::BYTES == 4 {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    }
}

/// `"f32"` or `"f64"`.
pub fn name<T: Float>() -> &'static str {
    if T::BYTES == 4 { "f32" } else { "f64" }
}

/// `n` values uniform in `[lo, hi)`, rounded to `T`.
pub fn uniform<T: Float>(rng: &mut StdRng, n: usize, lo: f64, hi: f64) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f64(rng.random_range(lo..hi)))
        .collect()
}

/// `n` small integers in `[-3, 3]`: many ties.
pub fn discrete<T: Float>(rng: &mut StdRng, n: usize) -> Vec<T> {
    (0..n)
        .map(|_| T::from_f64(rng.random_range(-3i32..=3) as f64))
        .collect()
}

/// Both NaN, equal infinities, or `|got - want| <= rel * |want| + abs`.
pub fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    if got.is_nan() || want.is_nan() {
        return got.is_nan() && want.is_nan();
    }
    if got.is_infinite() || want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= rel * want.abs() + abs
}

/// Asserts `close` element by element, naming the first mismatch.
#[track_caller]
pub fn assert_all_close<T: Float>(got: &[T], want: &[f64], rel: f64, abs: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            close(g.to_f64(), w, rel, abs),
            "{what}: element {i}: got {g}, want {w} (rel {rel}, abs {abs})"
        );
    }
}

/// `max |got - want| / max |want|` (0 when both are all zeros).
pub fn rel_err<T: Float>(got: &[T], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "rel_err: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((g.to_f64() - w).abs()));
    if diff == 0.0 { 0.0 } else { diff / scale }
}

/// The bit patterns of a slice (through an exact widening to `f64`), for bit-for-bit checks.
pub fn bits<T: Float>(x: &[T]) -> Vec<u64> {
    x.iter().map(|v| v.to_f64().to_bits()).collect()
}

/// Runs `f` inside a fresh rayon pool of `threads` threads.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(f)
}

/// Runs `f` with 1, 2 and 3 threads and asserts the three results have identical bits.
#[track_caller]
pub fn assert_thread_count_invariant<T: Float>(what: &str, f: impl Fn() -> Vec<T> + Sync) {
    let serial = with_threads(1, &f);
    for threads in [2, 3] {
        let par = with_threads(threads, &f);
        assert_eq!(
            bits(&serial),
            bits(&par),
            "{what}: {threads} threads differ from 1 thread"
        );
    }
}

/// Where an op's inputs are drawn from.
#[derive(Clone, Copy, Debug)]
pub enum Domain {
    /// `[-10, 10)` with exact specials (`0`, `-0`, `±1`, `±0.5`) sprinkled in.
    Any,
    /// `[0.01, 10)`: `log`, `sqrt`, `powf` with a fractional exponent.
    Positive,
    /// `±[0.1, 10)`: divisors.
    NonZero,
    /// `[-20, 20)`: arguments of `exp` and `sigmoid`.
    Wide,
    /// `[-3, 3)`: exponents.
    Exponent,
    /// Integers in `[-3, 3]`: comparisons and `maximum` with many ties.
    Ties,
}

/// One input drawn from `d`.
pub fn sample(rng: &mut StdRng, d: Domain) -> f64 {
    match d {
        Domain::Any => {
            if rng.random_range(0..8) == 0 {
                [0.0, -0.0, 1.0, -1.0, 0.5, -0.5][rng.random_range(0..6)]
            } else {
                rng.random_range(-10.0..10.0)
            }
        }
        Domain::Positive => rng.random_range(0.01..10.0),
        Domain::NonZero => {
            let m = rng.random_range(0.1..10.0);
            if rng.random() { m } else { -m }
        }
        Domain::Wide => rng.random_range(-20.0..20.0),
        Domain::Exponent => rng.random_range(-3.0..3.0),
        Domain::Ties => rng.random_range(-3i32..=3) as f64,
    }
}

/// `n` inputs drawn from `d`, rounded to `T`.
pub fn fill<T: Float>(rng: &mut StdRng, n: usize, d: Domain) -> Vec<T> {
    (0..n).map(|_| T::from_f64(sample(rng, d))).collect()
}

/// How close a result must be to the reference.
#[derive(Clone, Copy, Debug)]
pub enum Tol {
    /// Equal to the reference rounded to the element type.
    Exact,
    /// Within `1e-5` relative (`f32`) / `1e-13` (`f64`), plus a tiny absolute slack.
    Approx,
    /// As `Approx`, but `5e-14` absolute in `f64`: `erf`'s series loses a few digits to
    /// cancellation near `|x| = 2.5` (absolute error up to about 6e-15), which `gelu`'s
    /// `x / 2 * (1 + erf)` scales by `|x|` and the reference sees at a 1-ulp different argument.
    Gelu,
}

/// Whether `got` is within `tol` of the `f64` reference `want`.
pub fn within<T: Float>(got: T, want: f64, tol: Tol) -> bool {
    match tol {
        Tol::Exact => {
            let w = T::from_f64(want);
            got == w || (got.is_nan() && w.is_nan())
        }
        Tol::Approx | Tol::Gelu => {
            let (rel, abs) = match (T::BYTES, tol) {
                (4, _) => (1e-5, 1e-6),
                (_, Tol::Gelu) => (1e-13, 5e-14),
                _ => (1e-13, 1e-15),
            };
            close(got.to_f64(), want, rel, abs)
        }
    }
}

/// How the kernel tests exercise a unary op.
pub struct UnaryCase {
    /// Where the forward test draws inputs.
    pub domain: Domain,
    /// How close the forward must be to `unary_reference`.
    pub tol: Tol,
    /// Intervals where the op is smooth (no kink, tie or pole within them): the derivative
    /// tests draw inputs there and compare with finite differences.
    pub smooth: Vec<(f64, f64)>,
}

/// `Exact` if the parameter is an `f32`, so `f32` arithmetic on it rounds once, as the reference.
fn exact_if_f32(p: f64) -> Tol {
    if p as f32 as f64 == p {
        Tol::Exact
    } else {
        Tol::Approx
    }
}

/// Each unary op's test line. The `match` is exhaustive: an op added to the table in
/// `unary_ops.rs` does not compile here until it has its line, and then every kernel test that
/// iterates `UnaryOp::samples()` tests it.
pub fn unary_case(op: UnaryOp) -> UnaryCase {
    use Domain::*;
    use Tol::{Approx, Exact};
    use UnaryOp::*;
    let case = |domain, tol, smooth: &[(f64, f64)]| UnaryCase {
        domain,
        tol,
        smooth: smooth.to_vec(),
    };
    match op {
        Neg => case(Any, Exact, &[(-3.0, 3.0)]),
        Abs => case(Any, Exact, &[(-3.0, -0.1), (0.1, 3.0)]),
        Exp => case(Wide, Approx, &[(-3.0, 3.0)]),
        Log => case(Positive, Approx, &[(0.2, 3.0)]),
        Sqrt => case(Positive, Exact, &[(0.2, 3.0)]),
        Square => case(Any, Exact, &[(-3.0, 3.0)]),
        Recip => case(NonZero, Exact, &[(-3.0, -0.2), (0.2, 3.0)]),
        Tanh => case(Any, Approx, &[(-3.0, 3.0)]),
        Sigmoid => case(Wide, Approx, &[(-6.0, 6.0)]),
        Relu => case(Any, Exact, &[(-3.0, -0.1), (0.1, 3.0)]),
        LeakyRelu(a) => case(Any, exact_if_f32(a), &[(-3.0, -0.1), (0.1, 3.0)]),
        Gelu => case(Any, Tol::Gelu, &[(-4.0, 4.0)]),
        // erf is computed in f64 for both types, then rounded: exact.
        Erf => case(Any, Exact, &[(-3.0, 3.0)]),
        // Whole exponents are defined on negative bases too.
        Powf(p) => case(
            if p.fract() == 0.0 { Any } else { Positive },
            Approx,
            &[(0.2, 3.0)],
        ),
        Clamp(lo, hi) => case(
            Any,
            Exact,
            &[
                (lo - 3.0, lo - 0.1),
                (lo + 0.1, hi - 0.1),
                (hi + 0.1, hi + 3.0),
            ],
        ),
        AddScalar(c) | MulScalar(c) | RsubScalar(c) => case(Any, exact_if_f32(c), &[(-3.0, 3.0)]),
        RdivScalar(c) => case(NonZero, exact_if_f32(c), &[(-3.0, -0.2), (0.2, 3.0)]),
        RpowScalar(_) => case(Any, Approx, &[(-2.0, 2.0)]),
        MaximumScalar(c) | MinimumScalar(c) => {
            case(Any, Exact, &[(c - 3.0, c - 0.1), (c + 0.1, c + 3.0)])
        }
    }
}
