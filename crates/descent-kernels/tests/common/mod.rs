//! Helpers shared by the integration tests: seeded data, tolerances, thread pools, ISA lists.
#![allow(dead_code)] // Each test binary uses a different subset.

use descent_kernels::{Float, Isa};
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
