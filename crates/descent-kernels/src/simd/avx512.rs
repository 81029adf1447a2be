//! AVX-512 variants, selected at run time: the microkernel of the own `f32` GEMM (`sgemm`).

use crate::sgemm::{MR, NR};
use std::arch::x86_64::*;

/// Whether this CPU has AVX-512F (cached by the standard library's detection).
pub(crate) fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// The `MR x NR` = 12 x 32 tile of `sgemm`: 24 accumulators (two 16-lane registers per row); per
/// `k`, two loads of the `B` panel, twelve broadcasts from the `A` panel and 24 fused
/// multiply-adds, in `k` order from zero. Then the tile is stored to `C` (`store`) or added to it.
///
/// # Safety
/// The CPU must have AVX-512F; `a` holds `kc * MR` and `b` `kc * NR` values (checked); for each
/// `r < MR` the `NR` values from `c.add(r * rsc)` are valid for writes (and reads unless
/// `store`) and nobody else's during the call.
#[target_feature(enable = "avx512f")]
unsafe fn sgemm_kernel_target(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    rsc: usize,
    store: bool,
) {
    let (a, b) = (&a[..kc * MR], &b[..kc * NR]);
    for r in 0..MR {
        // SAFETY: a prefetch is only a hint; `c.add(r * rsc)` is inside C (the contract).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(c.add(r * rsc).cast::<i8>()) };
        // SAFETY: as above, `c.add(r * rsc + 16)` is the row's second half.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(c.add(r * rsc + 16).cast::<i8>()) };
    }
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    for (ap, bp) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        // SAFETY: `bp` holds NR = 32 floats: the loads read `bp[0..16]` and `bp[16..32]`.
        let (b0, b1) = unsafe {
            (
                _mm512_loadu_ps(bp.as_ptr()),
                _mm512_loadu_ps(bp.as_ptr().add(16)),
            )
        };
        for (row, &av) in acc.iter_mut().zip(ap) {
            let av = _mm512_set1_ps(av);
            row[0] = _mm512_fmadd_ps(av, b0, row[0]);
            row[1] = _mm512_fmadd_ps(av, b1, row[1]);
        }
    }
    for (r, row) in acc.iter().enumerate() {
        // SAFETY: row `r` of the tile, `NR` values from `c.add(r * rsc)`, is valid for writes,
        // and for reads when `!store` (the contract).
        unsafe {
            let cr = c.add(r * rsc);
            if store {
                _mm512_storeu_ps(cr, row[0]);
                _mm512_storeu_ps(cr.add(16), row[1]);
            } else {
                _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_loadu_ps(cr), row[0]));
                _mm512_storeu_ps(
                    cr.add(16),
                    _mm512_add_ps(_mm512_loadu_ps(cr.add(16)), row[1]),
                );
            }
        }
    }
}

/// The AVX-512 microkernel of `sgemm` (see `sgemm_kernel_target`).
///
/// # Safety
/// As `sgemm_kernel_target`, less the CPU check, which this wrapper makes.
pub(crate) unsafe fn sgemm_kernel_avx512(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    rsc: usize,
    store: bool,
) {
    assert!(
        has_avx512(),
        "the AVX-512 path was asked for on a CPU without it"
    );
    // SAFETY: the CPU has AVX-512F (checked above); the rest is the caller's contract.
    unsafe { sgemm_kernel_target(kc, a, b, c, rsc, store) }
}
