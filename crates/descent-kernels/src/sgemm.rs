//! descent's own packed `f32` GEMM for CPUs with AVX-512: `C <- A B` or `C <- A B + C`.
//!
//! `matrixmultiply` stays the reference path (and the path for `f64`, for CPUs without AVX-512,
//! under `DESCENT_FORCE_ISA=fallback` and with `DESCENT_SGEMM=matrixmultiply`). This one exists
//! because it is faster here: on the 2-core AVX-512 machine, n = 1024 runs at ~140 GFLOP/s on one
//! core against matrixmultiply's ~120 (docs/PERFORMANCE.md, "An own AVX-512 GEMM").
//!
//! The BLIS loop nest. `B` is cut into blocks of [`KC`] rows by [`NC`] columns, packed into panels
//! of [`NR`] columns; `A` into blocks of [`MC`] rows by `KC` columns, packed into panels of [`MR`]
//! rows. For each `A` panel (kept in L1), the `MR x NR` microkernel
//! (`simd::sgemm_kernel_avx512`, 24 accumulator registers) runs along every `B` panel of the
//! block (streamed from L2) and adds its tile straight into `C`. A row-major `A` is not packed
//! when `B` has few columns: the kernel broadcasts from its `MR` rows in place (the same L1
//! footprint as a panel; packing cost as much as the products with one `B` panel). `A B^T` with
//! few rows of `A` (linear's forward, `x W^T`) is computed as `C^T = B^T A^T` (`sgemm_raw`), so
//! that the large `W` is the operand read in place.
//!
//! Summation order: element `C[i, j]` is `((C0 + T0) + T1) + ...`, where `Tq` is the sum over
//! the `q`-th block of `KC` values of `k`, accumulated from zero in `k` order with one rounding
//! per fused multiply-add (`C0` is absent when the product does not accumulate). It depends on
//! `k` alone, not on `m`, `n`, the element's position or how `matmul` splits `C` over threads, so
//! a split product gives the same bits.
//!
//! Packing reads any non-negative strides; a row-major or column-major operand is read along its
//! contiguous axis. The packing buffers are kept per thread, so a product allocates nothing after
//! its thread's first one.

use std::cell::RefCell;

/// Rows of the microkernel's tile (broadcast from the `A` panel).
pub(crate) const MR: usize = 12;
/// Columns of the microkernel's tile (two AVX-512 registers of the `B` panel).
pub(crate) const NR: usize = 32;
/// Values of `k` per block: an `A` panel (12 KB) stays in L1 while the `B` panels stream by.
const KC: usize = 256;
/// The widest `B` (columns) for which a row-major `A` is read in place rather than packed.
/// Measured on one core (256 x 784 x n): in place 1.5x faster at n = 32, 1.1-1.3x at 64-128,
/// even at 256; packed 2-4 % faster at n = 512-1024 (5 % on W3's n = 1024 over two threads).
const UNPACKED_A_MAX_N: usize = 8 * NR;
/// Rows of `A` per packed block (a multiple of `MR`; 192 KB, in L2).
const MC: usize = 192;
/// Columns of `B` per packed block (a multiple of `NR`; 1 MB, in L2).
const NC: usize = 1024;

/// One cache line of packed values: the packing buffers are 64-byte aligned, so the kernel's
/// 16-lane loads of a `B` panel never straddle two lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A 64-byte aligned, growable buffer of `f32`.
#[derive(Default)]
struct Packed(Vec<Line>);

impl Packed {
    /// The first `len` values, grown (zeroed) when the buffer is shorter.
    fn get(&mut self, len: usize) -> &mut [f32] {
        let lines = len.div_ceil(16);
        if self.0.len() < lines {
            self.0.resize(lines, Line([0.0; 16]));
        }
        // SAFETY: `Line` is `repr(C)` around `[f32; 16]` (size 64, no padding), so `lines`
        // lines are `16 * lines >= len` initialized, contiguous `f32`s, borrowed mutably through
        // `self` for the returned lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<f32>(), len) }
    }
}

thread_local! {
    /// This thread's packing buffer for blocks of `A`.
    static PACK_A: RefCell<Packed> = RefCell::new(Packed::default());
    /// This thread's packing buffer for blocks of `B`.
    static PACK_B: RefCell<Packed> = RefCell::new(Packed::default());
    /// This thread's buffer for `C^T` in a product computed transposed (`sgemm_raw`).
    static C_T: RefCell<Packed> = RefCell::new(Packed::default());
}

/// A strided operand: element `[i, p]` at `data[i * rs + p * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

/// Whether `f32` products may take this path: AVX-512F present, the AVX2 path in force
/// (`DESCENT_FORCE_ISA=fallback` turns it off) and `DESCENT_SGEMM` not set to `matrixmultiply`.
pub(crate) fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        crate::isa() == crate::Isa::Avx2Fma
            && crate::simd::has_avx512()
            && std::env::var("DESCENT_SGEMM").map_or(true, |v| v != "matrixmultiply")
    })
}

/// Whether `DESCENT_SGEMM=own` asks for this path on every shape it serves, not only where it
/// measured faster (to measure the shapes).
fn forced() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("DESCENT_SGEMM").is_ok_and(|v| v == "own"))
}

/// `C <- alpha A B` (`accumulate = false`; `C` is not read) or `C <- alpha A B + C`, with `A`
/// `m x k`, `B` `k x n`, and element `C[i, j]` at `c.add(i * rsc + j)`. As in matrixmultiply,
/// `alpha` scales each `K` block's product (`KC` values of `k`) as it is stored or added: with
/// `k <= KC`, `C` is the one accumulated product times `alpha`, rounded once.
///
/// # Safety
/// The CPU must have AVX-512F. For every `i < m`, the `n` elements from `c.add(i * rsc)` must be
/// valid for writes (and for reads when `accumulate`), and no other reference or thread may
/// access them during the call; they must not overlap `A` or `B`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: Strided<'_>,
    b: Strided<'_>,
    accumulate: bool,
    alpha: f32,
    c: *mut f32,
    rsc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: row `i`'s `n` elements are valid for writes and ours (the contract).
                unsafe { std::slice::from_raw_parts_mut(c.add(i * rsc), n) }.fill(0.0);
            }
        }
        return;
    }
    // Read once, so that every block of this product flushes or none does.
    let flush = crate::denormal::flush_denormal();
    with_buffer(&PACK_B, KC * NC, |bp| {
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                let bp = &mut bp[..nc.div_ceil(NR) * kc * NR];
                pack_b(bp, b, pc, jc, kc, nc);
                if flush {
                    crate::denormal::flush(bp);
                }
                // SAFETY: C's rows `0..m` are ours (the contract); `n` is C's width.
                unsafe {
                    rows_times_block(0..m, a, pc, kc, jc, bp, accumulate, alpha, flush, c, rsc, n)
                };
            }
        }
    });
}

/// Runs `f` on the first `len` values of this thread's buffer `which`, or of a fresh one when
/// the thread's is taken (a nested call on the same thread: none today).
fn with_buffer<R>(
    which: &'static std::thread::LocalKey<RefCell<Packed>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    which.with(|buf| match buf.try_borrow_mut() {
        Ok(mut buf) => f(buf.get(len)),
        Err(_) => f(Packed::default().get(len)),
    })
}

/// `C[rows, jc..jc + nc] (+)= A[rows, pc..pc + kc] B[pc..pc + kc, jc..jc + nc]` with `B`'s block
/// already packed in `bp` (`nc = NR * panels`, the last panel possibly padded): `A` packed block
/// by block into this thread's buffer, then each `A` panel against every `B` panel. The tiles
/// are stored when this is the first `k` block of a product that does not accumulate, added
/// otherwise. With `flush`, subnormal values of the packed `A` read as zero (see
/// [`crate::denormal`]; the caller flushed `bp`).
///
/// # Safety
/// The CPU must have AVX-512F; the rows `rows` of C (`n` elements each from `c.add(i * rsc)`) are
/// valid for reads and writes and nobody else's during the call, and do not overlap A or B.
#[allow(clippy::too_many_arguments)]
unsafe fn rows_times_block(
    rows: std::ops::Range<usize>,
    a: Strided<'_>,
    pc: usize,
    kc: usize,
    jc: usize,
    bp: &[f32],
    accumulate: bool,
    alpha: f32,
    flush: bool,
    c: *mut f32,
    rsc: usize,
    n: usize,
) {
    let store = pc == 0 && !accumulate;
    let mut tile = [Line([0.0; 16]); MR * NR / 16];
    // The `MR x NR` tiles of one `A` panel (rows `i0..i0 + tile_rows`) against every `B` panel.
    let mut along_b = |i0: usize, tile_rows: usize, a_panel: &[f32], a_rows: Option<usize>| {
        for (qb, b_panel) in bp.chunks_exact(kc * NR).enumerate() {
            let j0 = jc + qb * NR;
            let cols = NR.min(n - j0);
            // SAFETY: rows `i0..i0 + tile_rows` are in `rows` and columns `j0..j0 + cols` <= n:
            // C's, valid and ours (the contract).
            let ct = unsafe { c.add(i0 * rsc + j0) };
            if cols == NR {
                // SAFETY: as above, the first `tile_rows` rows of the MR x NR tile at `ct` (row
                // stride `rsc`) are C's, readable when `!store` (then `accumulate` or a later
                // block, which reads what the first block wrote); the CPU has AVX-512F (the
                // contract).
                unsafe {
                    crate::simd::sgemm_kernel_avx512(
                        tile_rows, kc, a_panel, a_rows, b_panel, ct, rsc, store, alpha,
                    )
                };
                continue;
            }
            let t = tile.as_mut_ptr().cast::<f32>();
            // SAFETY: `tile` is MR x NR contiguous `f32`s (`Line` is `repr(C)` around 16 of
            // them), exclusively ours.
            unsafe {
                crate::simd::sgemm_kernel_avx512(
                    tile_rows, kc, a_panel, a_rows, b_panel, t, NR, true, alpha,
                )
            };
            for r in 0..tile_rows {
                // SAFETY: row `i0 + r` is in `rows`, columns `j0..j0 + cols` <= n: C's, valid
                // and ours (the contract); `tile`'s row `r` holds NR >= cols values and does not
                // overlap C.
                let (dst, src) = unsafe {
                    (
                        std::slice::from_raw_parts_mut(ct.add(r * rsc), cols),
                        std::slice::from_raw_parts(t.add(r * NR), cols),
                    )
                };
                if store {
                    dst.copy_from_slice(src);
                } else {
                    dst.iter_mut().zip(src).for_each(|(c, &t)| *c += t);
                }
            }
        }
    };
    if a.cs == 1 && !flush && n <= UNPACKED_A_MAX_N {
        // A row-major `A` with few `B` panels to meet is read in place (`MR` rows of `kc`
        // values each, an L1-sized block like a packed panel): no packing, which costs as much
        // as the products when `B` has one panel (linear's forward as `W x^T`). The same
        // multiply-adds in the same order.
        for i0 in rows.clone().step_by(MR) {
            let tile_rows = MR.min(rows.end - i0);
            let at = i0 * a.rs + pc;
            along_b(
                i0,
                tile_rows,
                &a.data[at..at + (tile_rows - 1) * a.rs + kc],
                Some(a.rs),
            );
        }
        return;
    }
    with_buffer(&PACK_A, MC * KC, |ap| {
        for ic in rows.clone().step_by(MC) {
            let mc = MC.min(rows.end - ic);
            let ap = &mut ap[..mc.div_ceil(MR) * kc * MR];
            pack_a(ap, a, ic, pc, kc, mc);
            if flush {
                crate::denormal::flush(ap);
            }
            for (qa, a_panel) in ap.chunks_exact(kc * MR).enumerate() {
                let i0 = ic + qa * MR;
                along_b(i0, MR.min(rows.end - i0), a_panel, None);
            }
        }
    });
}

/// Packs rows `i0..i0 + mc` of `A` over `k` in `p0..p0 + kc` into `block`: panels of `MR` rows,
/// each `kc x MR` (`panel[p * MR + i]`), the rows past `mc` zero.
fn pack_a(block: &mut [f32], a: Strided<'_>, i0: usize, p0: usize, kc: usize, mc: usize) {
    for (q, panel) in block.chunks_exact_mut(kc * MR).enumerate() {
        let r0 = i0 + q * MR;
        let rows = MR.min(mc - q * MR);
        if rows < MR {
            panel.fill(0.0);
        }
        if a.rs == 1 && rows == MR {
            // Column-major: MR contiguous values per k.
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                let at = r0 + (p0 + p) * a.cs;
                dst.copy_from_slice(&a.data[at..at + MR]);
            }
        } else if a.cs == 1 {
            // Row-major: the panel is the transpose of MR row pieces.
            let rows_data: [&[f32]; MR] = std::array::from_fn(|i| {
                if i < rows {
                    let at = (r0 + i) * a.rs + p0;
                    &a.data[at..at + kc]
                } else {
                    &[]
                }
            });
            interleave(panel, &rows_data[..rows], kc);
        } else {
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                for (i, d) in dst[..rows].iter_mut().enumerate() {
                    *d = a.data[(r0 + i) * a.rs + (p0 + p) * a.cs];
                }
            }
        }
    }
}

/// Packs columns `j0..j0 + nc` of `B` over `k` in `p0..p0 + kc` into `block`: panels of `NR`
/// columns, each `kc x NR` (`panel[p * NR + j]`), the columns past `nc` zero.
fn pack_b(block: &mut [f32], b: Strided<'_>, p0: usize, j0: usize, kc: usize, nc: usize) {
    let panel_len = kc * NR;
    if !nc.is_multiple_of(NR) {
        let last = block.len() - panel_len;
        block[last..].fill(0.0);
    }
    if b.cs == 1 {
        // Row-major: each row of the block once, in order, its pieces to the panels.
        for p in 0..kc {
            let at = (p0 + p) * b.rs + j0;
            let row = &b.data[at..at + nc];
            let mut pieces = row.chunks_exact(NR);
            for (q, piece) in (&mut pieces).enumerate() {
                // A fixed-size copy: two register moves, where a slice copy is a `memcpy` call.
                let dst: &mut [f32; NR] = (&mut block[q * panel_len + p * NR..][..NR])
                    .try_into()
                    .expect("NR values");
                *dst = piece.try_into().expect("NR values");
            }
            let rest = pieces.remainder();
            if !rest.is_empty() {
                let dst = (nc / NR) * panel_len + p * NR;
                block[dst..dst + rest.len()].copy_from_slice(rest);
            }
        }
    } else if b.rs == 1 {
        // Column-major: each panel is the transpose of its NR column pieces.
        for (q, panel) in block.chunks_exact_mut(panel_len).enumerate() {
            let cols = NR.min(nc - q * NR);
            let cols_data: [&[f32]; NR] = std::array::from_fn(|j| {
                if j < cols {
                    let at = p0 + (j0 + q * NR + j) * b.cs;
                    &b.data[at..at + kc]
                } else {
                    &[]
                }
            });
            interleave(panel, &cols_data[..cols], kc);
        }
    } else {
        for j in 0..nc {
            let panel = &mut block[(j / NR) * panel_len..(j / NR + 1) * panel_len];
            for p in 0..kc {
                panel[p * NR + j % NR] = b.data[(p0 + p) * b.rs + (j0 + j) * b.cs];
            }
        }
    }
}

/// `panel[p * W + i] = pieces[i][p]` for `p < kc` and `i < pieces.len() <= W`, where `W` is
/// `panel.len() / kc`: the pieces side by side, one `k` at a time. Blocks of 8 pieces x 8 values
/// of `k` are transposed in AVX registers (`simd::interleave_avx512`; this module runs only on
/// CPUs with AVX-512), the last `kc % 8` values one at a time. Values of rows `pieces.len()..W`
/// may be written as zero.
fn interleave(panel: &mut [f32], pieces: &[&[f32]], kc: usize) {
    let w = panel.len() / kc;
    debug_assert!(pieces.len() <= w && w <= NR);
    let kc8 = kc - kc % 8;
    crate::simd::interleave_avx512(panel, pieces, w, kc8);
    for (p, dst) in panel.chunks_exact_mut(w).enumerate().skip(kc8) {
        for (d, piece) in dst[..pieces.len()].iter_mut().zip(pieces) {
            *d = piece[p];
        }
    }
}

/// The f32 `Float::gemm_raw`: this module's `sgemm` when [`enabled`], the call is one it serves
/// (`beta` 0 or 1, unit column stride of `C`, non-negative strides) and the shape
/// one where it measured faster; `matrixmultiply::sgemm` otherwise.
///
/// # Safety
/// The contract of `Float::gemm_raw` (matrixmultiply's).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm_raw(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    // Measured shape by shape (docs/PERFORMANCE.md, "An own AVX-512 GEMM"): with fewer than NR
    // columns most of each B panel is padding, and with few rows of A the packing of a
    // column-major B (a transposition) is not paid back: matrixmultiply is faster on both.
    // `A B^T` with both operands row-major along k (linear's forward, `x W^T`) and few rows of
    // `A`: computed as `C^T = B^T A^T`, where the large `B^T` (`W`) is read in place and only
    // the small `A^T` is packed; then `C^T` is transposed into `C`. The same multiply-adds in the
    // same order (a product commutes): the same bits.
    let transposed = enabled()
        && transposed_is_faster(m, k, n)
        && csa == 1
        && rsb == 1
        && csb > 1
        && csc == 1
        && (beta == 0.0 || beta == 1.0)
        && rsa >= 0
        && rsc > 0;
    if transposed {
        // SAFETY: the caller's contract (`Float::gemm_raw`); `transposed` checked the layout.
        unsafe { sgemm_transposed(m, k, n, alpha, a, rsa, b, csb, beta == 1.0, c, rsc as usize) };
        return;
    }
    let ours = enabled()
        && (forced() || (n >= NR && (m >= 96 || csb == 1)))
        && (beta == 0.0 || beta == 1.0)
        && csc == 1
        && m > 0
        && n > 0
        && k > 0
        && [rsa, csa, rsb, csb, rsc].iter().all(|&s| s >= 0);
    if !ours {
        // SAFETY: the caller upholds matrixmultiply's contract (`Float::gemm_raw`).
        unsafe {
            matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
        };
        return;
    }
    let span = |rows: usize, cols: usize, rs: isize, cs: isize| {
        (rows - 1) * rs as usize + (cols - 1) * cs as usize + 1
    };
    // SAFETY: `Float::gemm_raw` requires `a` and `b` to point into slices that hold every
    // element up to the last one addressed, `[rows - 1, cols - 1]` for non-negative strides:
    // exactly `span` elements, initialized and not written during the call (`c` does not alias
    // them). `C`'s rows are valid and exclusive for the call, the contract of `sgemm`, and
    // `enabled` checked the CPU has AVX-512F.
    unsafe {
        let a = Strided {
            data: std::slice::from_raw_parts(a, span(m, k, rsa, csa)),
            rs: rsa as usize,
            cs: csa as usize,
        };
        let b = Strided {
            data: std::slice::from_raw_parts(b, span(k, n, rsb, csb)),
            rs: rsb as usize,
            cs: csb as usize,
        };
        sgemm(m, k, n, a, b, beta == 1.0, alpha, c, rsc as usize);
    }
}

/// Whether `A B^T` (`m x k` by `k x n`, both row-major along `k`) is computed as `C^T = B^T A^T`:
/// with at least a tile's worth of rows in `A` (`NR`, the columns of `C^T`), and where packing
/// `A^T` and transposing `C` (`m k + 2 m n` values moved) costs less than packing `B` (`k n`).
fn transposed_is_faster(m: usize, k: usize, n: usize) -> bool {
    m >= NR && m * k + 2 * m * n < k * n
}

/// `C <- alpha A B (+ C)` for a row-major `A` (`m x k`, row stride `rsa`) and a column-major
/// `B` (`k x n`, column stride `csb`), computed as `C^T = B^T A^T` into this thread's `C_T`
/// buffer (which first receives `C^T` when accumulating), then transposed into `C`.
///
/// # Safety
/// As [`sgemm_raw`] for these strides, with `enabled()` true.
#[allow(clippy::too_many_arguments)]
unsafe fn sgemm_transposed(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    b: *const f32,
    csb: isize,
    accumulate: bool,
    c: *mut f32,
    rsc: usize,
) {
    let (rsa, csb) = (rsa as usize, csb as usize);
    // SAFETY: `Float::gemm_raw` requires every element addressed to be in bounds: A's last is
    // `[m - 1, k - 1]`, B's `[k - 1, n - 1]` (unit strides along k), initialized and not
    // written during the call; C's rows are `n` values each, ours for the call.
    unsafe {
        let a = std::slice::from_raw_parts(a, (m - 1) * rsa + k);
        let b = std::slice::from_raw_parts(b, (n - 1) * csb + k);
        with_buffer(&C_T, n * m, |ct| {
            if accumulate {
                let c_rows = |i: usize| std::slice::from_raw_parts(c.add(i * rsc), n);
                transpose(m, n, c_rows, |j, i0, v| {
                    ct[j * m + i0..j * m + i0 + v.len()].copy_from_slice(v)
                });
            }
            // `B^T` (`n x k`) row-major with row stride `csb`; `A^T` (`k x m`) column-major.
            let bt = Strided {
                data: b,
                rs: csb,
                cs: 1,
            };
            let at = Strided {
                data: a,
                rs: 1,
                cs: rsa,
            };
            sgemm(n, k, m, bt, at, accumulate, alpha, ct.as_mut_ptr(), m);
            let ct: &[f32] = ct;
            let ct_rows = |j: usize| &ct[j * m..j * m + m];
            transpose(n, m, ct_rows, |i, j0, v| {
                std::slice::from_raw_parts_mut(c.add(i * rsc + j0), v.len()).copy_from_slice(v)
            });
        });
    }
}

/// The transpose of a `rows x cols` matrix given by its rows (`row(r)`, `cols` values each):
/// `put(c, r0, v)` receives `v[i] = row(r0 + i)[c]` for up to `NR` consecutive rows at a time.
/// Blocks of `NR` rows by 64 columns are transposed in registers (`interleave`).
fn transpose<'a>(
    rows: usize,
    cols: usize,
    row: impl Fn(usize) -> &'a [f32],
    mut put: impl FnMut(usize, usize, &[f32]),
) {
    const KB: usize = 64;
    let mut panel = [0.0f32; KB * NR];
    for r0 in (0..rows).step_by(NR) {
        let w = NR.min(rows - r0);
        for c0 in (0..cols).step_by(KB) {
            let kc = KB.min(cols - c0);
            let pieces: [&[f32]; NR] = std::array::from_fn(|i| {
                if i < w {
                    &row(r0 + i)[c0..c0 + kc]
                } else {
                    &[]
                }
            });
            interleave(&mut panel[..kc * NR], &pieces[..w], kc);
            for (p, line) in panel[..kc * NR].chunks_exact(NR).enumerate() {
                put(c0 + p, r0, &line[..w]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) with a sprinkle of exact zeros and small magnitudes.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                if s.is_multiple_of(17) { 0.0 } else { v }
            })
            .collect()
    }

    /// The contract's summation order, element by element in scalar code: per block of `KC`
    /// values of `k`, a chain of fused multiply-adds from zero, then added to `C` (or stored, for
    /// the first block of a product that does not accumulate).
    #[allow(clippy::too_many_arguments)]
    fn blocked_reference(
        m: usize,
        k: usize,
        n: usize,
        a: Strided<'_>,
        b: Strided<'_>,
        accumulate: bool,
        alpha: f32,
        c: &mut [f32],
        rsc: usize,
    ) {
        for i in 0..m {
            for j in 0..n {
                let mut acc = c[i * rsc + j];
                for (q, p0) in (0..k).step_by(KC).enumerate() {
                    let mut t = 0.0f32;
                    for p in p0..(p0 + KC).min(k) {
                        t = a.data[i * a.rs + p * a.cs].mul_add(b.data[p * b.rs + j * b.cs], t);
                    }
                    acc = if q == 0 && !accumulate {
                        alpha * t
                    } else {
                        alpha.mul_add(t, acc)
                    };
                }
                c[i * rsc + j] = acc;
            }
        }
    }

    /// `(rs, cs)` of an `rows x cols` operand: row-major, column-major, or with gaps in both.
    fn strides(layout: usize, rows: usize, cols: usize) -> (usize, usize) {
        match layout {
            0 => (cols, 1),
            1 => (1, rows),
            _ => (2 * cols + 1, 2),
        }
    }

    fn case(m: usize, k: usize, n: usize, la: usize, lb: usize, accumulate: bool) {
        let (ars, acs) = strides(la, m, k);
        let (brs, bcs) = strides(lb, k, n);
        let a_data = values((m - 1) * ars + (k - 1) * acs + 1, 1);
        let b_data = values((k - 1) * brs + (n - 1) * bcs + 1, 2);
        let a = Strided {
            data: &a_data,
            rs: ars,
            cs: acs,
        };
        let b = Strided {
            data: &b_data,
            rs: brs,
            cs: bcs,
        };
        // C with a row stride wider than n, its gap a sentinel nobody may touch.
        let rsc = n + 3;
        let start = values(m * rsc, 3);
        let mut want = start.clone();
        blocked_reference(m, k, n, a, b, accumulate, 1.0, &mut want, rsc);
        let mut got = start.clone();
        // SAFETY: the CPU has AVX-512F (the caller checked); `got` holds m rows of `rsc >= n`
        // values, exclusively ours, not overlapping A or B.
        unsafe { sgemm(m, k, n, a, b, accumulate, 1.0, got.as_mut_ptr(), rsc) };
        for (at, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{m}x{k}x{n} layouts {la}/{lb} accumulate {accumulate}: C[{}, {}] = {g}, want {w}",
                at / rsc,
                at % rsc
            );
        }
    }

    #[test]
    fn interleave_transposes_every_piece_count_and_tail() {
        if !crate::simd::has_avx512() {
            eprintln!("skipped: this CPU has no AVX-512F, the path is never taken here");
            return;
        }
        for w in [MR, NR] {
            for pieces_len in 1..=w {
                for kc in [1, 7, 8, 9, 16, 23] {
                    let data: Vec<Vec<f32>> = (0..pieces_len)
                        .map(|i| (0..kc).map(|p| (i * 100 + p) as f32).collect())
                        .collect();
                    let pieces: Vec<&[f32]> = data.iter().map(|d| &d[..]).collect();
                    let mut panel = vec![0.0f32; w * kc];
                    interleave(&mut panel, &pieces, kc);
                    for (at, &v) in panel.iter().enumerate() {
                        let (p, i) = (at / w, at % w);
                        let want = if i < pieces_len {
                            (i * 100 + p) as f32
                        } else {
                            0.0
                        };
                        assert_eq!(v, want, "w {w}, {pieces_len} pieces, kc {kc}: [{p}, {i}]");
                    }
                }
            }
        }
    }

    #[test]
    fn every_shape_edge_and_layout_gives_the_contract_order_bit_for_bit() {
        if !crate::simd::has_avx512() {
            eprintln!("skipped: this CPU has no AVX-512F, the path is never taken here");
            return;
        }
        // Around MR = 12, NR = 32, KC = 256, MC = 192 and NC = 1024: one tile, partial tiles in
        // each direction (a last A panel of 1-4 rows and of 5-8 rows takes a shorter kernel),
        // several k blocks, several A and B blocks.
        let shapes = [
            (1, 1, 1),
            (12, 1, 32),
            (13, 7, 33),
            (20, 9, 64),
            (30, 40, 96),
            (64, 32, 160),
            (11, 255, 31),
            (24, 256, 64),
            (25, 257, 65),
            (193, 300, 40),
            (40, 513, 1057),
        ];
        for (s, &(m, k, n)) in shapes.iter().enumerate() {
            for la in 0..3 {
                for lb in 0..3 {
                    case(m, k, n, la, lb, (s + la + lb) % 2 == 1);
                }
            }
        }
    }

    /// `A B^T` with few rows of `A` goes through `sgemm_raw`'s transposed path (`C^T = B^T A^T`,
    /// `B^T` read in place): the contract's order bit for bit, with and without accumulation and
    /// with an `alpha`, for shapes around the tile and block sizes.
    #[test]
    fn a_product_computed_transposed_gives_the_contract_order() {
        if !enabled() {
            eprintln!("skipped: descent's sgemm is off here (no AVX-512F, or switched off)");
            return;
        }
        for (s, &(m, k, n)) in [
            (32, 200, 256),
            (45, 257, 97),
            (33, 784, 256),
            (40, 513, 1057),
        ]
        .iter()
        .enumerate()
        {
            assert!(transposed_is_faster(m, k, n));
            let (rsa, csb, rsc) = (k + 2, k + 1, n + 3);
            let a_data = values((m - 1) * rsa + k, 4);
            let b_data = values((n - 1) * csb + k, 5);
            let a = Strided {
                data: &a_data,
                rs: rsa,
                cs: 1,
            };
            let b = Strided {
                data: &b_data,
                rs: 1,
                cs: csb,
            };
            let start = values(m * rsc, 6);
            for (accumulate, alpha) in [(false, 1.0), (true, 1.0), (s % 2 == 0, 0.25)] {
                let mut want = start.clone();
                blocked_reference(m, k, n, a, b, accumulate, alpha, &mut want, rsc);
                let mut got = start.clone();
                // SAFETY: A and B hold every element their strides address; `got` holds m rows
                // of `rsc >= n` values, ours, not overlapping A or B; AVX-512F present.
                unsafe {
                    sgemm_raw(
                        m,
                        k,
                        n,
                        alpha,
                        a_data.as_ptr(),
                        rsa as isize,
                        1,
                        b_data.as_ptr(),
                        1,
                        csb as isize,
                        if accumulate { 1.0 } else { 0.0 },
                        got.as_mut_ptr(),
                        rsc as isize,
                        1,
                    )
                };
                let bits = |c: &[f32]| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{m}x{k}x{n} accumulate {accumulate} alpha {alpha}"
                );
            }
        }
    }

    #[test]
    fn k_zero_stores_zeros_or_leaves_c() {
        if !crate::simd::has_avx512() {
            eprintln!("skipped: this CPU has no AVX-512F, the path is never taken here");
            return;
        }
        let empty = Strided {
            data: &[],
            rs: 0,
            cs: 0,
        };
        for accumulate in [false, true] {
            let mut c = vec![7.0f32; 6];
            // SAFETY: AVX-512F present; `c` is 2 rows of 3, ours.
            unsafe { sgemm(2, 0, 3, empty, empty, accumulate, 1.0, c.as_mut_ptr(), 3) };
            assert_eq!(
                c,
                if accumulate {
                    vec![7.0; 6]
                } else {
                    vec![0.0; 6]
                }
            );
        }
    }
}
