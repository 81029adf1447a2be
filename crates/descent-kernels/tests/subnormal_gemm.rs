//! GEMMs whose smaller operand holds subnormal values run on that operand scaled by 2^64 and
//! scale the product back (`matmul`'s rescaled path, which avoids the FMAs' microcode assists):
//! the bit-level scalings against the multiplications they replace, and the products against the
//! `f64` reference, to one unit of the subnormal grid where the plain product rounds each partial
//! sum to that grid; thread-count invariance; the overflow guard.

mod common;

use common::rng;
use descent_kernels::Float;
use descent_kernels::matmul::{MatRef, gemm, gemm_acc, gemm_reference};
use rand::Rng;

/// Random bit patterns (every class: zeros, subnormals, normals, infinities, NaN) and the edges.
fn patterns_f32(n: usize) -> Vec<f32> {
    let mut r = rng(1);
    let mut v: Vec<f32> = (0..n).map(|_| f32::from_bits(r.random())).collect();
    // Subnormals and small normals, densely.
    v.extend((0..n / 4).map(|_| {
        f32::from_bits(r.random_range(0..0x0200_0000u32) | (r.random::<u32>() & 0x8000_0000))
    }));
    v.extend([
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::from_bits(0x007f_ffff),
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
    ]);
    v
}

fn patterns_f64(n: usize) -> Vec<f64> {
    let mut r = rng(2);
    let mut v: Vec<f64> = (0..n).map(|_| f64::from_bits(r.random())).collect();
    v.extend((0..n / 4).map(|_| {
        f64::from_bits(
            r.random_range(0..0x0040_0000_0000_0000u64) | (r.random::<u64>() & (1 << 63)),
        )
    }));
    v.extend([
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::INFINITY,
        f64::NAN,
        f64::MAX,
    ]);
    v
}

fn same<T: Float>(a: T, b: T) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_f64().to_bits() == b.to_f64().to_bits()
}

#[test]
fn scaling_on_the_bits_matches_the_multiplication() {
    for s in [24u32, 25, 40, 53, 54, 64, 100, 126, 127] {
        let (down32, down64) = (2f64.powi(-(s as i32)) as f32, 2f64.powi(-(s as i32)));
        if s >= f32::MANTISSA_DIGITS {
            for &x in &patterns_f32(200_000) {
                let what = format!("f32 {x:e} ({:#x}), s = {s}", x.to_bits());
                if s > f32::MANTISSA_DIGITS {
                    assert!(same(x.mul_pow2_down(s), x * down32), "{what}: down");
                }
                assert!(
                    same(x.mul_pow2_up(s), x * 2f32.powi(s as i32)),
                    "{what}: up"
                );
            }
        }
        if s >= f64::MANTISSA_DIGITS {
            for &x in &patterns_f64(200_000) {
                let what = format!("f64 {x:e} ({:#x}), s = {s}", x.to_bits());
                if s > f64::MANTISSA_DIGITS {
                    assert!(same(x.mul_pow2_down(s), x * down64), "{what}: down");
                }
                assert!(
                    same(x.mul_pow2_up(s), x * 2f64.powi(s as i32)),
                    "{what}: up"
                );
            }
        }
    }
}

/// A faded gradient: `m x k` values spread over 2^-149..2^-138 (all subnormal, and so small
/// that the sums of 512 products stay subnormal), and a normal `k x n` operand.
fn faded(m: usize, k: usize, n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut r = rng(seed);
    let a = (0..m * k)
        .map(|_| {
            let v = r.random_range(1.0..2.0f64) * 2f64.powi(r.random_range(-149..-139));
            (if r.random_bool(0.5) { -v } else { v }) as f32
        })
        .collect();
    let b = (0..k * n).map(|_| r.random_range(-1.0..1.0f32)).collect();
    (a, b)
}

fn row_major(data: &[f32], cols: usize) -> MatRef<'_, f32> {
    MatRef {
        data,
        offset: 0,
        rs: cols,
        cs: 1,
    }
}

/// Each element of `c` within one unit of the subnormal grid (2^-149: the final rounding and the
/// scaled chain's own) plus f32's relative rounding of the magnitudes summed, of the `f64`
/// reference.
fn assert_on_the_grid(c: &[f32], reference: &[f64], magnitude: &[f64], what: &str) {
    for (i, ((&got, &want), &mag)) in c.iter().zip(reference).zip(magnitude).enumerate() {
        let err = (got as f64 - want).abs();
        let bound = 2f64.powi(-149) + 4.0 * f32::EPSILON as f64 * mag;
        assert!(
            err <= bound,
            "{what}: element {i}: {got:e} against {want:e} (error {err:e}, bound {bound:e})"
        );
    }
}

/// `sum_k |a_ik| |b_kj|` in `f64`.
fn magnitudes(m: usize, k: usize, n: usize, a: &[f32], b: &[f32]) -> Vec<f64> {
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    let (aa, ba) = (abs(a), abs(b));
    gemm_reference(m, k, n, row_major(&aa, k), row_major(&ba, n))
}

/// The plain product rounds every partial sum below 2^-126 to a multiple of 2^-149, so with
/// k = 512 its results drift several units of that grid from the exact sums; the rescaled one
/// rounds once. Both operand sides (the smaller one is scaled), plain and accumulating.
#[test]
fn a_faded_operand_is_computed_to_one_rounding() {
    // A smaller than B: A is scanned and scaled.
    let (m, k, n) = (16, 512, 96);
    let (a, b) = faded(m, k, n, 3);
    let reference = gemm_reference(m, k, n, row_major(&a, k), row_major(&b, n));
    let mut c = vec![f32::NAN; m * n];
    gemm(m, k, n, row_major(&a, k), row_major(&b, n), &mut c);
    assert_on_the_grid(&c, &reference, &magnitudes(m, k, n, &a, &b), "A faded");
    // B smaller than A: the faded operand on the right (B^T A^T).
    let mut ct = vec![f32::NAN; n * m];
    let at = MatRef {
        data: &b,
        offset: 0,
        rs: 1,
        cs: n,
    };
    let bt = MatRef {
        data: &a,
        offset: 0,
        rs: 1,
        cs: k,
    };
    gemm(n, k, m, at, bt, &mut ct);
    let transposed: Vec<f64> = (0..n * m).map(|i| reference[(i % m) * n + i / m]).collect();
    let mags = magnitudes(m, k, n, &a, &b);
    let mags_t: Vec<f64> = (0..n * m).map(|i| mags[(i % m) * n + i / m]).collect();
    assert_on_the_grid(&ct, &transposed, &mags_t, "B faded");
    // A strided (not dense) faded operand: rows 3 values apart beyond their length.
    let padded: Vec<f32> = a
        .chunks(k)
        .flat_map(|r| r.iter().copied().chain([f32::NAN; 3]))
        .collect();
    let strided = MatRef {
        data: &padded,
        offset: 0,
        rs: k + 3,
        cs: 1,
    };
    let mut cs = vec![f32::NAN; m * n];
    gemm(m, k, n, strided, row_major(&b, n), &mut cs);
    assert_on_the_grid(&cs, &reference, &magnitudes(m, k, n, &a, &b), "A strided");
    // Accumulating onto a C of faded values and normal ones.
    let mut r = rng(4);
    let c0: Vec<f32> = (0..m * n)
        .map(|i| {
            if i % 2 == 0 {
                f32::from_bits(r.random_range(1..0x0080_0000))
            } else {
                r.random_range(-1e-37..1e-37)
            }
        })
        .collect();
    let mut c = c0.clone();
    gemm_acc(m, k, n, row_major(&a, k), row_major(&b, n), &mut c);
    let want: Vec<f64> = reference
        .iter()
        .zip(&c0)
        .map(|(r, &c)| r + c as f64)
        .collect();
    let mags: Vec<f64> = mags
        .iter()
        .zip(&c0)
        .map(|(mg, &c)| mg + c.abs() as f64)
        .collect();
    assert_on_the_grid(&c, &want, &mags, "accumulating");
}

/// With `k` in one K block (256) and no accumulation the GEMM itself scales its accumulated
/// product back (alpha = 2^-64, no pass over C): the bits are those of the product of the
/// operand scaled by 2^64 (exact, no subnormal values left), each multiplied by 2^-64 once.
/// Both operand sides, and the `k` on each side of the block size.
#[test]
fn within_one_k_block_the_product_is_scaled_back_once() {
    let down =
        |c: &[f32]| -> Vec<u32> { c.iter().map(|&v| (v * 2f32.powi(-64)).to_bits()).collect() };
    let bits = |c: &[f32]| -> Vec<u32> { c.iter().map(|v| v.to_bits()).collect() };
    for (m, k, n) in [(16, 256, 96), (40, 37, 200), (13, 1, 64)] {
        let (a, b) = faded(m, k, n, 7 + k as u64);
        let up: Vec<f32> = a.iter().map(|&v| v * 2f32.powi(64)).collect();
        assert!(up.iter().all(|v| v.is_normal()));
        let mut want = vec![0f32; m * n];
        gemm(m, k, n, row_major(&up, k), row_major(&b, n), &mut want);
        let mut c = vec![f32::NAN; m * n];
        gemm(m, k, n, row_major(&a, k), row_major(&b, n), &mut c);
        assert_eq!(bits(&c), down(&want), "A faded, {m}x{k}x{n}");
        // The faded operand on the right: C^T = B^T A^T.
        let (at, bt) = (
            MatRef {
                data: &b,
                offset: 0,
                rs: 1,
                cs: n,
            },
            MatRef {
                data: &a,
                offset: 0,
                rs: 1,
                cs: k,
            },
        );
        let up_t = MatRef { data: &up, ..bt };
        let mut want_t = vec![0f32; n * m];
        gemm(n, k, m, at, up_t, &mut want_t);
        let mut ct = vec![f32::NAN; n * m];
        gemm(n, k, m, at, bt, &mut ct);
        assert_eq!(bits(&ct), down(&want_t), "B faded, {n}x{k}x{m}");
    }
}

/// The rescaled path gives the same bits with 1 to 3 threads (the GEMM is split in blocks), with
/// `k` past one K block (a pass scales C back) and within one (the GEMM does).
#[test]
fn the_rescaled_path_is_thread_count_invariant() {
    for (m, k, n) in [(64, 1024, 1024), (256, 256, 1024)] {
        assert!(m * k * n >= descent_kernels::matmul::gemm_par_macs());
        let (a, b) = faded(m, k, n, 5);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut c = vec![0f32; m * n];
            pool.install(|| gemm(m, k, n, row_major(&a, k), row_major(&b, n), &mut c));
            c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let one = run(1);
        assert_eq!(run(2), one);
        assert_eq!(run(3), one);
    }
}

/// An operand with subnormal values and one large one, beside a large other operand: scaled by
/// 2^64 the product (~1e30 here) would overflow, so the plain product is kept: finite, and within
/// the usual relative tolerance.
#[test]
fn the_overflow_guard_keeps_the_plain_product() {
    let (m, k, n) = (8, 64, 64);
    let (mut a, mut b) = faded(m, k, n, 6);
    a[0] = 1e20;
    b.iter_mut().for_each(|v| *v *= 1e10);
    let mut c = vec![f32::NAN; m * n];
    gemm(m, k, n, row_major(&a, k), row_major(&b, n), &mut c);
    assert!(c.iter().all(|v| v.is_finite()));
    let reference = gemm_reference(m, k, n, row_major(&a, k), row_major(&b, n));
    let mags = magnitudes(m, k, n, &a, &b);
    for ((&got, &want), &mag) in c.iter().zip(&reference).zip(&mags) {
        assert!(
            (got as f64 - want).abs() <= 1e-5 * mag + 1e-30,
            "{got:e} against {want:e}"
        );
    }
    // Accumulating: the plain product starts again from the C it was given.
    let c0: Vec<f32> = (0..m * n).map(|i| i as f32 - 100.0).collect();
    let mut c = c0.clone();
    gemm_acc(m, k, n, row_major(&a, k), row_major(&b, n), &mut c);
    for (((&got, &want), &mag), &c0) in c.iter().zip(&reference).zip(&mags).zip(&c0) {
        let want = want + c0 as f64;
        let tol = 1e-5 * (mag + c0.abs() as f64) + 1e-30;
        assert!((got as f64 - want).abs() <= tol, "{got:e} against {want:e}");
    }
}
