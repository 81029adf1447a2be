//! `set_flush_denormal`: off, subnormal operands count as IEEE 754 says; on, the f32 GEMM (where
//! descent's own kernel serves it) and Adam read them as zero, and nothing else changes.
//!
//! One test function: the switch is process-wide, so the checks must not run side by side.

use descent_kernels::matmul::{MatRef, gemm};
use descent_kernels::optim::{AdamStep, adam};
use descent_kernels::{Isa, flush_denormal, isa, set_flush_denormal};

/// Whether this process's f32 GEMM goes through descent's own kernel, the one that flushes.
fn own_sgemm() -> bool {
    #[cfg(target_arch = "x86_64")]
    let avx512 = std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let avx512 = false;
    avx512
        && isa() == Isa::Avx2Fma
        && std::env::var("DESCENT_SGEMM").as_deref() != Ok("matrixmultiply")
}

/// A deterministic value in [-1, 1) away from zero.
fn value(i: usize) -> f32 {
    let x = ((i as u64 * 2_654_435_761) % 1000) as f32 / 500.0 - 1.0;
    if x.abs() < 0.01 { 0.5 } else { x }
}

const TINY: f32 = f32::MIN_POSITIVE / 8.0;

/// `C = A B` for a shape the own kernel takes (`m >= 96`, `n >= 32`) with `A`'s row 0 and `B`'s
/// column 0 subnormal, everything else normal.
fn product() -> (Vec<f32>, [usize; 3]) {
    let (m, k, n) = (128, 70, 64);
    let a: Vec<f32> = (0..m * k)
        .map(|i| if i < k { TINY * value(i) } else { value(i) })
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| {
            let v = value(i + 7919);
            if i % n == 0 { TINY * v } else { v }
        })
        .collect();
    let mut c = vec![f32::NAN; m * n];
    let op = |data| MatRef {
        data,
        offset: 0,
        rs: 0,
        cs: 1,
    };
    gemm(
        m,
        k,
        n,
        MatRef { rs: k, ..op(&a) },
        MatRef { rs: n, ..op(&b) },
        &mut c,
    );
    (c, [m, k, n])
}

/// One Adam step from a fresh start: elements 0..2 have a subnormal gradient and zero moments,
/// 2..4 a zero gradient and subnormal moments, 4..8 are ordinary.
fn adam_state() -> [Vec<f64>; 4] {
    let mut p: Vec<f32> = (0..8).map(value).collect();
    let g: Vec<f32> = (0..8)
        .map(|i| match i {
            0..2 => TINY,
            2..4 => 0.0,
            _ => value(i + 3),
        })
        .collect();
    let mut m: Vec<f32> = (0..8).map(|i| value(i + 5) * 0.1).collect();
    let mut v: Vec<f32> = (0..8).map(|i| value(i + 9).abs() * 0.01).collect();
    for i in 0..4 {
        let start = if i < 2 { 0.0 } else { TINY };
        m[i] = start;
        v[i] = start;
    }
    let h = AdamStep {
        step_size: 1e-3,
        bias2_sqrt: 0.5,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        decoupled_decay: 0.0,
    };
    adam(&h, &mut p, &g, &mut m, &mut v, None);
    let f = |x: &[f32]| x.iter().map(|&x| x as f64).collect();
    [f(&p), f(&g), f(&m), f(&v)]
}

#[test]
fn flushing_is_off_by_default_and_changes_only_subnormal_operands() {
    assert!(!flush_denormal(), "off by default");
    let (ieee, [m, _, n]) = product();
    let ieee_adam = adam_state();

    // Off: the subnormal row and column give small nonzero products, as IEEE 754 says (where
    // they meet, the products underflow to zero).
    assert!(ieee[1..n].iter().all(|&x| x != 0.0 && x.abs() < 1e-36));
    assert!((1..m).all(|i| ieee[i * n] != 0.0 && ieee[i * n].abs() < 1e-36));
    // Adam: a subnormal gradient gives a subnormal first moment; subnormal moments decay
    // without reaching zero.
    assert!(ieee_adam[2][..4].iter().all(|&x| x != 0.0));
    assert!(ieee_adam[3][2..4].iter().all(|&x| x != 0.0));

    assert!(set_flush_denormal(true));
    assert!(flush_denormal());
    let (flushed, _) = product();
    let flushed_adam = adam_state();
    set_flush_denormal(false);

    if own_sgemm() {
        for i in 0..m {
            for j in 0..n {
                let (got, off) = (flushed[i * n + j], ieee[i * n + j]);
                if i == 0 || j == 0 {
                    assert_eq!(got, 0.0, "C[{i}, {j}] reads a subnormal operand as zero");
                } else {
                    assert_eq!(got.to_bits(), off.to_bits(), "C[{i}, {j}] has no subnormal");
                }
            }
        }
    } else {
        println!("no own f32 GEMM on this CPU: matrixmultiply serves it and does not flush");
        // The products with a subnormal operand stay nonzero. Off, the GEMM ran on the
        // subnormal operand scaled by 2^64 (matmul's rescaled path, which flushing turns off),
        // so only the other products are the same bits.
        for i in 0..m {
            for j in 0..n {
                let (got, off) = (flushed[i * n + j], ieee[i * n + j]);
                if i == 0 || j == 0 {
                    assert!(i + j == 0 || got != 0.0, "C[{i}, {j}] is not flushed");
                } else {
                    assert_eq!(got.to_bits(), off.to_bits(), "C[{i}, {j}] has no subnormal");
                }
            }
        }
    }
    // Adam: subnormal gradients and moments read as zero, so those moments store zero; the
    // ordinary elements keep their bits.
    assert_eq!(flushed_adam[2][..4], [0.0; 4], "m");
    assert_eq!(flushed_adam[3][..4], [0.0; 4], "v");
    for (what, (got, off)) in ["p", "g", "m", "v"]
        .iter()
        .zip(flushed_adam.iter().zip(&ieee_adam))
    {
        assert_eq!(got[4..], off[4..], "{what}: ordinary elements unchanged");
    }

    // And off again: the IEEE results, bit for bit.
    let (again, _) = product();
    assert_eq!(
        again.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        ieee.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(adam_state(), ieee_adam);
}
