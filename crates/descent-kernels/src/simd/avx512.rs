//! AVX-512 variants, selected at run time: the microkernel of the own `f32` GEMM (`sgemm`).

use crate::sgemm::{MR, NR};
use std::arch::x86_64::*;

/// Whether this CPU has AVX-512F (cached by the standard library's detection).
pub(crate) fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// The `MR x NR` = 12 x 32 tile of `sgemm`: 24 accumulators (two 16-lane registers per row); per
/// `k`, two loads of the `B` panel, twelve broadcasts from the `A` panel and 24 fused
/// multiply-adds, in `k` order from zero. Then the tile times `alpha` is stored to `C` (`store`)
/// or added to it (one fused multiply-add, `C + alpha tile` rounded once; with `alpha = 1` a plain
/// store or addition).
///
/// `ROWS` (4, 8 or 12) accumulator rows, of which the first `rows <= ROWS` are stored.
///
/// `A` is a packed panel (`a` holds `kc * MR` values, row `r` of `k = p` at `a[p * MR + r]`), or
/// with `a_rows = Some(rs)` the rows of `A` themselves (`A[r, p]` at `a[r * rs + p]` for
/// `r < rows`; the accumulator rows past `rows` repeat row `rows - 1` and are not stored).
///
/// # Safety
/// The CPU must have AVX-512F; `a` holds its values and `b` `kc * NR` (checked); for each
/// `r < rows` the `NR` values from `c.add(r * rsc)` are valid for writes (and reads unless
/// `store`) and nobody else's during the call.
#[allow(clippy::too_many_arguments)] // A tile's operands, its place in C and its epilogue.
#[target_feature(enable = "avx512f")]
unsafe fn sgemm_kernel_target<const ROWS: usize>(
    rows: usize,
    kc: usize,
    a: &[f32],
    a_rows: Option<usize>,
    b: &[f32],
    c: *mut f32,
    rsc: usize,
    store: bool,
    alpha: f32,
) {
    assert!(0 < rows && rows <= ROWS && ROWS <= MR);
    let b = &b[..kc * NR];
    for r in 0..rows {
        // SAFETY: a prefetch is only a hint; `c.add(r * rsc)` is inside C (the contract).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(c.add(r * rsc).cast::<i8>()) };
        // SAFETY: as above, `c.add(r * rsc + 16)` is the row's second half.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(c.add(r * rsc + 16).cast::<i8>()) };
    }
    let mut acc = [[_mm512_setzero_ps(); 2]; ROWS];
    // SAFETY: `bp` holds NR = 32 floats: the loads read `bp[0..16]` and `bp[16..32]`.
    let load_b = |bp: &[f32]| unsafe {
        (
            _mm512_loadu_ps(bp.as_ptr()),
            _mm512_loadu_ps(bp.as_ptr().add(16)),
        )
    };
    if let Some(rs) = a_rows {
        // Row `r` of `A` (`rows - 1` past the last), each `kc` values from its start.
        let starts: [usize; ROWS] = std::array::from_fn(|r| r.min(rows - 1) * rs);
        assert!(a.len() >= starts[ROWS - 1] + kc);
        for (p, bp) in b.chunks_exact(NR).enumerate() {
            let (b0, b1) = load_b(bp);
            for (row, &at) in acc.iter_mut().zip(&starts) {
                // SAFETY: `at + p < starts[ROWS - 1] + kc <= a.len()` (asserted above; the
                // starts grow with `r`).
                let av = _mm512_set1_ps(unsafe { *a.get_unchecked(at + p) });
                row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                row[1] = _mm512_fmadd_ps(av, b1, row[1]);
            }
        }
    } else {
        for (ap, bp) in a[..kc * MR].chunks_exact(MR).zip(b.chunks_exact(NR)) {
            let (b0, b1) = load_b(bp);
            for (row, &av) in acc.iter_mut().zip(&ap[..ROWS]) {
                let av = _mm512_set1_ps(av);
                row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                row[1] = _mm512_fmadd_ps(av, b1, row[1]);
            }
        }
    }
    let alphav = _mm512_set1_ps(alpha);
    for (r, row) in acc.iter().enumerate().take(rows) {
        // SAFETY: row `r < rows` of the tile, `NR` values from `c.add(r * rsc)`, is valid for
        // writes, and for reads when `!store` (the contract).
        unsafe {
            let cr = c.add(r * rsc);
            if store && alpha == 1.0 {
                _mm512_storeu_ps(cr, row[0]);
                _mm512_storeu_ps(cr.add(16), row[1]);
            } else if store {
                _mm512_storeu_ps(cr, _mm512_mul_ps(alphav, row[0]));
                _mm512_storeu_ps(cr.add(16), _mm512_mul_ps(alphav, row[1]));
            } else {
                // `1 row + C` rounds as `row + C` does.
                _mm512_storeu_ps(cr, _mm512_fmadd_ps(alphav, row[0], _mm512_loadu_ps(cr)));
                _mm512_storeu_ps(
                    cr.add(16),
                    _mm512_fmadd_ps(alphav, row[1], _mm512_loadu_ps(cr.add(16))),
                );
            }
        }
    }
}

/// The AVX-512 microkernel of `sgemm` (see `sgemm_kernel_target`) for the first `rows <= MR`
/// rows of the tile: the full 12-row kernel, or, for the last panel of a product whose rows are
/// not a multiple of 12, a 4- or 8-row one (the same multiply-adds per element, in the same
/// order; the panel's rows past `rows` are zero and not computed or stored).
///
/// # Safety
/// As `sgemm_kernel_target` for rows `r < rows`, less the CPU check, which this wrapper makes.
#[allow(clippy::too_many_arguments)] // A tile's operands, its place in C and its epilogue.
pub(crate) unsafe fn sgemm_kernel_avx512(
    rows: usize,
    kc: usize,
    a: &[f32],
    a_rows: Option<usize>,
    b: &[f32],
    c: *mut f32,
    rsc: usize,
    store: bool,
    alpha: f32,
) {
    assert!(
        has_avx512(),
        "the AVX-512 path was asked for on a CPU without it"
    );
    // SAFETY: the CPU has AVX-512F (checked above); the rest is the caller's contract, for the
    // first `rows` rows, which is all each variant touches of C.
    unsafe {
        match rows {
            0..=4 => sgemm_kernel_target::<4>(rows, kc, a, a_rows, b, c, rsc, store, alpha),
            5..=8 => sgemm_kernel_target::<8>(rows, kc, a, a_rows, b, c, rsc, store, alpha),
            _ => sgemm_kernel_target::<MR>(rows, kc, a, a_rows, b, c, rsc, store, alpha),
        }
    }
}

/// `panel[p * w + i] = pieces[i][p]` for `p < kc8` (a multiple of 8) and `i < pieces.len()`, and
/// zero for `pieces.len() <= i < w` rounded up to a multiple of 8 (rows the caller zeroes
/// anyway): blocks of 8 pieces x 8 values of `k` transposed in registers (8 loads, 24 shuffles,
/// 8 stores), where the portable loop moves one value at a time. `w` is `MR` or `NR`.
#[target_feature(enable = "avx512f")]
fn interleave_target(panel: &mut [f32], pieces: &[&[f32]], w: usize, kc8: usize) {
    assert!(w.is_multiple_of(4) && pieces.len() <= w && kc8.is_multiple_of(8));
    assert!(panel.len() >= kc8 * w && pieces.iter().all(|piece| piece.len() >= kc8));
    for p in (0..kc8).step_by(8) {
        for (g, group) in pieces.chunks(8).enumerate() {
            // Rows past the group's pieces stay zero.
            let mut r = [_mm256_setzero_ps(); 8];
            for (ri, piece) in r.iter_mut().zip(group) {
                // SAFETY: each piece holds at least `kc8 >= p + 8` values (asserted above).
                *ri = unsafe { _mm256_loadu_ps(piece.as_ptr().add(p)) };
            }
            let t = [
                _mm256_unpacklo_ps(r[0], r[1]),
                _mm256_unpackhi_ps(r[0], r[1]),
                _mm256_unpacklo_ps(r[2], r[3]),
                _mm256_unpackhi_ps(r[2], r[3]),
                _mm256_unpacklo_ps(r[4], r[5]),
                _mm256_unpackhi_ps(r[4], r[5]),
                _mm256_unpacklo_ps(r[6], r[7]),
                _mm256_unpackhi_ps(r[6], r[7]),
            ];
            let u = [
                _mm256_shuffle_ps::<0x44>(t[0], t[2]),
                _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
                _mm256_shuffle_ps::<0x44>(t[1], t[3]),
                _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
                _mm256_shuffle_ps::<0x44>(t[4], t[6]),
                _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
                _mm256_shuffle_ps::<0x44>(t[5], t[7]),
                _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
            ];
            // Column `c` of the 8 x 8 block: `u[c]` holds its rows 0-3 in the low half (for
            // c < 4; the high half for c >= 4), `u[c + 4]` rows 4-7.
            let cols = [
                _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
                _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
                _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
                _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
                _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
                _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
                _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
                _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
            ];
            let (at, width) = (8 * g, (w - 8 * g).min(8));
            for (c, col) in cols.iter().enumerate() {
                let dst = &mut panel[(p + c) * w + at..][..width];
                // SAFETY: `dst` holds `width` values: 8 for the 256-bit store, 4 for the 128-bit
                // one (`w - 8 g` is a positive multiple of 4, as `8 g < pieces.len() <= w`).
                unsafe {
                    if width == 8 {
                        _mm256_storeu_ps(dst.as_mut_ptr(), *col);
                    } else {
                        _mm_storeu_ps(dst.as_mut_ptr(), _mm256_castps256_ps128(*col));
                    }
                }
            }
        }
    }
}

/// The register-transpose variant of `sgemm`'s packing (see `interleave_target`).
pub(crate) fn interleave_avx512(panel: &mut [f32], pieces: &[&[f32]], w: usize, kc8: usize) {
    assert!(
        has_avx512(),
        "the AVX-512 path was asked for on a CPU without it"
    );
    // SAFETY: the CPU has AVX-512F (checked above); the body checks its own bounds.
    unsafe { interleave_target(panel, pieces, w, kc8) }
}
