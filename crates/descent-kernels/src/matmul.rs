//! Matrix multiply through `matrixmultiply`, strides in, no copies for transposed operands.
//!
//! Contract: `C <- A B` where `A` is `m x k`, `B` is `k x n` and `C` is `m x n` row-major
//! contiguous. `A[i, p] = a.data[a.offset + i * a.rs + p * a.cs]`, likewise `B`; any strides
//! (transposed views, stride 0 for broadcast) are passed through to the packing routines.
//! [`gemm`] never reads `C`: it may hold anything, NaN included; with `k = 0`, `C` is all zeros.
//! [`gemm_acc`] adds the product to `C` instead; [`gemm_bias`] starts each row of `C` from a
//! bias vector (a fused linear layer: `C <- A B + 1 bias^T` in one GEMM pass).

use crate::buffer::Buffer;
use crate::float::Float;

/// A strided matrix operand.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    /// The whole buffer.
    pub data: &'a [T],
    /// Index of element `[0, 0]`.
    pub offset: usize,
    /// Row stride (elements).
    pub rs: usize,
    /// Column stride (elements).
    pub cs: usize,
}

fn check<T>(what: &str, rows: usize, cols: usize, x: &MatRef<'_, T>) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = x.offset + (rows - 1) * x.rs + (cols - 1) * x.cs;
    assert!(
        last < x.data.len(),
        "gemm: {what} read at {last} past a buffer of {}",
        x.data.len()
    );
    assert!(
        x.rs <= isize::MAX as usize && x.cs <= isize::MAX as usize,
        "gemm: stride too large"
    );
}

/// `C <- A B` for an `m x k` `A` and a `k x n` `B` into row-major `c` (`m * n`).
///
/// # Panics
/// If `c.len() != m * n` or a strided read would fall outside its buffer.
pub fn gemm<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
) {
    gemm_beta(m, k, n, a, b, false, true, c);
}

/// `C <- A B + C`: as [`gemm`], but adding the product to what `c` holds (the backward pass
/// accumulates weight gradients over a batch this way, without a temporary).
///
/// # Panics
/// As [`gemm`].
pub fn gemm_acc<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
) {
    gemm_beta(m, k, n, a, b, true, true, c);
}

/// `C <- A B` (or `C <- A B + C` with `accumulate`), split over threads only if `may_split` (and
/// the product is large enough). Callers that already run in parallel (conv2d's per-sample
/// products) pass `false`: a split there would only pack the shared operand once more per block.
/// Same bits as [`gemm`] and [`gemm_acc`] either way.
///
/// # Panics
/// As [`gemm`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_with<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
    may_split: bool,
    c: &mut [T],
) {
    gemm_beta(m, k, n, a, b, accumulate, may_split, c);
}

/// `C <- A B + 1 bias^T`: every row of `c` is first set to `bias` (`n` elements), then the
/// product is accumulated onto it by the same GEMM call (beta = 1), so the bias costs one write
/// of `C` and no extra pass over it. `None` is [`gemm`]. With `k = 0`, every row is `bias`.
///
/// This is a fused linear layer `y = x W^T + b`: `A` is `x` (`m x k`), `B` the transposed view of
/// `W` (`k x n`, `rs`/`cs` swapped: no copy).
///
/// # Panics
/// As [`gemm`], or if `bias.len() != n`.
pub fn gemm_bias<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    bias: Option<&[T]>,
    c: &mut [T],
) {
    let Some(bias) = bias else {
        return gemm_beta(m, k, n, a, b, false, true, c);
    };
    assert_eq!(bias.len(), n, "gemm_bias: bias length");
    assert_eq!(c.len(), m * n, "gemm: output length");
    if n > 0 {
        c.chunks_exact_mut(n)
            .for_each(|row| row.copy_from_slice(bias));
    }
    gemm_beta(m, k, n, a, b, true, true, c);
}

/// The reference of [`gemm_bias`]: [`gemm_reference`] plus the bias on every row, in `f64`.
pub fn gemm_bias_reference<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    bias: Option<&[T]>,
) -> Vec<f64> {
    let mut c = gemm_reference(m, k, n, a, b);
    if let Some(bias) = bias {
        for (j, v) in c.iter_mut().enumerate() {
            *v += bias[j % n].to_f64();
        }
    }
    c
}

/// `C <- A B (+ C)`, split over threads when `may_split` and the product is large enough.
#[allow(clippy::too_many_arguments)]
fn gemm_beta<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
    may_split: bool,
    c: &mut [T],
) {
    assert_eq!(c.len(), m * n, "gemm: output length");
    check("A", m, k, &a);
    check("B", k, n, &b);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.iter_mut().for_each(|v| *v = T::ZERO);
        }
        return;
    }
    // Per-sample products inside a batched kernel (`may_split = false`: conv2d's) skip the scan,
    // which would repeat over a shared operand for every sample (W2: 1,024 scans of the same
    // transformed weight a step, 1.9 % of the step).
    if may_split && let Some(scale) = subnormal_scale(m, k, n, &a, &b) {
        gemm_rescaled(m, k, n, a, b, accumulate, may_split, c, scale);
        return;
    }
    gemm_split(m, k, n, a, b, accumulate, T::ONE, may_split, c);
}

/// The power of two by which [`gemm_rescaled`] scales an operand with subnormal values.
const SUBNORMAL_SCALE: u32 = 64;

/// Whether an `rows x cols` operand holds a subnormal value (its contiguous rows or columns
/// scanned with [`Float::any_subnormal`]).
fn operand_has_subnormal<T: Float>(rows: usize, cols: usize, x: &MatRef<'_, T>) -> bool {
    let (outer, inner, so, si) = if x.cs <= x.rs {
        (rows, cols, x.rs, x.cs)
    } else {
        (cols, rows, x.cs, x.rs)
    };
    (0..outer).any(|o| {
        let base = x.offset + o * so;
        if si == 1 {
            crate::simd::any_subnormal(&x.data[base..base + inner])
        } else {
            (0..inner).any(|i| T::any_subnormal(&x.data[base + i * si..][..1]))
        }
    })
}

/// The exponents `(sa, sb)` by which to scale `A` and `B` when the smaller of the two holds
/// subnormal values; `None` for the plain product.
///
/// An FMA with a subnormal input or result takes a microcode assist on x86 (~100 cycles): a
/// gradient that has faded below `MIN_POSITIVE` (W1b after ~10,000 steps on one batch) made
/// `linear`'s backward 13x slower. Scaling an operand by `2^64` is exact and lifts its subnormal
/// values into the normal range; the product is scaled back at the end
/// ([`gemm_rescaled`]).
fn subnormal_scale<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &MatRef<'_, T>,
    b: &MatRef<'_, T>,
) -> Option<(u32, u32)> {
    // Only the operand with fewer elements is scanned, so the scan costs at most 1/max(m, n)
    // of the product's multiply-adds in element reads (~1 % of W1's step): the operand that
    // carries faded values is the gradient, the smaller one in the backward products of
    // `linear` (`dX = dY W`, `dW = dY^T X`). 2^64 lifts every f32 subnormal (>= 2^-149) to
    // 2^-85 and every f64 one to 2^-1010.
    // With subnormal numbers flushed (`set_flush_denormal`) the GEMM reads them as zero: there
    // is nothing to lift.
    if crate::flush_denormal() {
        return None;
    }
    let (sa, sb) = if m * k <= k * n {
        if !operand_has_subnormal(m, k, a) {
            return None;
        }
        (SUBNORMAL_SCALE, 0)
    } else {
        if !operand_has_subnormal(k, n, b) {
            return None;
        }
        (0, SUBNORMAL_SCALE)
    };
    Some((sa, sb))
}

/// `C <- A B (+ C)` on `2^sa A` and `2^sb B` (contiguous scaled copies), with `C` scaled by
/// `2^(sa + sb)` first when accumulating and by `2^-(sa + sb)` at the end.
///
/// The scalings are exact unless the scaled product overflows, which shows as a non-finite value
/// in `C` (then the plain product is computed instead, from a copy of `C`), and an FMA computes
/// its product exactly, so every partial sum in the normal range is the plain product's times
/// `2^(sa + sb)`, rounded alike: the result has the plain product's bits unless a partial sum
/// was itself subnormal. Where one was, the plain product rounds it to a multiple of `2^-149`
/// (`f32`) at every step, and this one keeps 24 significant bits until the one rounding of the
/// final scaling: at least as accurate. The choice depends on the operands alone (not on the
/// thread count), so results stay deterministic.
#[allow(clippy::too_many_arguments)]
fn gemm_rescaled<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
    may_split: bool,
    c: &mut [T],
    (sa, sb): (u32, u32),
) {
    // The scalings work on the bits (`Float::mul_pow2_up` / `mul_pow2_down`): a multiplication
    // with a subnormal input or result would take the microcode assist this path avoids
    // (7.9 ns per value against 1.7 for the bit version, scalar).
    // The scaled copy keeps the operand's layout when it is dense (row- or column-major, as
    // the transposed views of `linear`'s backward are): one linear pass. Otherwise a row-major
    // copy element by element.
    let scaled = |rows: usize, cols: usize, x: MatRef<'_, T>, s: u32| {
        let dense = (x.cs == 1 && x.rs == cols) || (x.rs == 1 && x.cs == rows);
        let mut out = Buffer::<T>::for_overwrite(rows * cols); // Every value written.
        if dense {
            out.copy_from_slice(&x.data[x.offset..x.offset + rows * cols]);
            crate::simd::mul_pow2_up(&mut out, s);
            (out, x.rs, x.cs)
        } else {
            for (i, row) in out.chunks_mut(cols).enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = x.data[x.offset + i * x.rs + j * x.cs].mul_pow2_up(s);
                }
            }
            (out, cols, 1)
        }
    };
    let a_buf = (sa != 0).then(|| scaled(m, k, a, sa));
    let b_buf = (sb != 0).then(|| scaled(k, n, b, sb));
    fn view<T>((d, rs, cs): &(Buffer<T>, usize, usize)) -> MatRef<'_, T> {
        MatRef {
            data: d,
            offset: 0,
            rs: *rs,
            cs: *cs,
        }
    }
    let scaled_a = a_buf.as_ref().map_or(a, view);
    let scaled_b = b_buf.as_ref().map_or(b, view);
    let s = sa + sb;
    debug_assert!(s < 126, "2^-s must be a normal f32");
    if !accumulate && k <= ONE_K_BLOCK {
        // One K block: the GEMM scales its one accumulated product by 2^-s as it stores it
        // (alpha), rounded once as `mul_pow2_down` would round it, without a pass of its own
        // over C. The multiplication takes an assist where a result is subnormal (few values:
        // the products of faded gradients are mostly normal).
        let alpha = T::from_f64((-(s as f64)).exp2());
        gemm_split(m, k, n, scaled_a, scaled_b, false, alpha, may_split, c);
        if crate::optim::first_non_finite(c).is_some() {
            // An infinity or NaN: from one in the operands or an overflow of the scaled
            // product (an operand also holding values near `MAX / 2^64`).
            gemm_split(m, k, n, a, b, false, T::ONE, may_split, c);
        }
        return;
    }
    // Kept to start over if the scaled product overflows.
    let c0 = accumulate.then(|| {
        let mut copy = Buffer::<T>::for_overwrite(c.len()); // Every value written.
        copy.copy_from_slice(c);
        copy
    });
    if accumulate {
        crate::simd::mul_pow2_up(c, s);
    }
    gemm_split(
        m,
        k,
        n,
        scaled_a,
        scaled_b,
        accumulate,
        T::ONE,
        may_split,
        c,
    );
    // Scaled back in the same pass that looks for a non-finite value.
    if !crate::simd::mul_pow2_down(c, s) {
        // An infinity or NaN: from one in the operands or `C`, or an overflow of the scaling
        // (an operand also holding values near `MAX / 2^64`): the plain product decides.
        if let Some(c0) = c0 {
            c.copy_from_slice(&c0);
        }
        gemm_split(m, k, n, a, b, accumulate, T::ONE, may_split, c);
    }
}

/// The `k` up to which a GEMM is one K block in both descent's `sgemm` and matrixmultiply (its
/// default `KC` for `f32` and `f64`): the product is accumulated in registers over all of `k`
/// and `alpha` applied once to it.
const ONE_K_BLOCK: usize = 256;

/// `x <- x 2^-s` for every value ([`Float::mul_pow2_down`]), a loop the compiler vectorizes;
/// whether every value was finite.
#[inline(always)]
pub(crate) fn mul_pow2_down_body<T: Float>(x: &mut [T], s: u32) -> bool {
    let mut finite = true;
    for v in x {
        finite &= v.is_finite();
        *v = v.mul_pow2_down(s);
    }
    finite
}

/// `x <- x 2^s` for every value ([`Float::mul_pow2_up`]), a loop the compiler vectorizes.
#[inline(always)]
pub(crate) fn mul_pow2_up_body<T: Float>(x: &mut [T], s: u32) {
    for v in x {
        *v = v.mul_pow2_up(s);
    }
}

/// [`gemm_beta`] after its checks: the split over threads and the blocks' GEMM calls.
#[allow(clippy::too_many_arguments)]
fn gemm_split<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
    alpha: T,
    may_split: bool,
    c: &mut [T],
) {
    let how = if may_split {
        split(m, k, n)
    } else {
        Split::Whole
    };
    match how {
        Split::Whole => gemm_block(m, k, n, a, b, accumulate, alpha, c),
        Split::Rows(rows) => {
            let out = &SendPtr(c.as_mut_ptr());
            crate::parallel::for_each_part(m.div_ceil(rows), |i| {
                let a_block = MatRef {
                    offset: a.offset + i * rows * a.rs,
                    ..a
                };
                let h = rows.min(m - i * rows);
                // SAFETY: `c` is an exclusive borrow of `m * n` elements held across the region;
                // block `i` takes only its rows `i * rows..i * rows + h` (`h * n` elements
                // inside `c`), disjoint from the other blocks'.
                let cb = unsafe { std::slice::from_raw_parts_mut(out.0.add(i * rows * n), h * n) };
                gemm_block(h, k, n, a_block, b, accumulate, alpha, cb);
            });
        }
        Split::Cols(cols) => {
            let blocks = n.div_ceil(cols);
            let out = &SendPtr(c.as_mut_ptr());
            crate::parallel::for_each_part(blocks, |i| {
                let (j0, w) = (i * cols, cols.min(n - i * cols));
                let b_block = MatRef {
                    offset: b.offset + j0 * b.cs,
                    ..b
                };
                check("B", k, w, &b_block);
                // SAFETY: `c` is an exclusive borrow of `m * n` elements (checked above)
                // held across the region; block `i` writes only its columns
                // `j0..j0 + w` of each row (row stride n), so the blocks' writes are
                // disjoint and all inside `c`; `check` proved A's and this block's B reads
                // in bounds, and neither aliases the exclusive `c`.
                unsafe { gemm_strided(m, k, w, a, b_block, accumulate, alpha, out.0.add(j0), n) };
            });
        }
    }
}

/// A raw output pointer shared by the blocks of one split GEMM, which write disjoint rows or
/// columns of `C`.
struct SendPtr<T>(*mut T);
// SAFETY: the pointer is only written through by `gemm_beta`'s blocks, each to its own rows or
// columns of an exclusively borrowed `C`, inside a region that ends before the borrow does.
unsafe impl<T: Send> Send for SendPtr<T> {}
// SAFETY: as for `Send`: shared references only hand the pointer to disjoint writers.
unsafe impl<T: Send> Sync for SendPtr<T> {}

/// Multiply-adds from which a GEMM is split into blocks that rayon runs in parallel (about
/// 0.6 ms of work on one core).
///
/// Measured on the 2-core machine (docs/PERFORMANCE.md, "Thread cut-offs measured in training
/// steps"): W1's 25.7 M multiply-add products ran 1.2x faster split when timed alone, but the
/// halves slow each other down by 20-30 % and the split costs a hand-off to the other core
/// and back, so the W1 training step ran faster with them whole; W3 from n = 512 (134 M)
/// gains 1.6x from the split.
pub const GEMM_PAR_MACS: usize = 1 << 26;

/// Multiply-adds from which a GEMM is split when the caller is one of the pool's threads
/// ([`crate::parallel::init_threads`]): one block runs where the operands already are, the
/// other core steals the other, and the caller does not sleep. On the 2-core EPYC (Zen 4)
/// machine W1 ran 1.55x and W1b 1.2-1.4x faster this way than with the products whole on a
/// caller outside the pool (docs/PERFORMANCE.md, "The calling thread in the pool").
pub const GEMM_PAR_MACS_IN_POOL: usize = 1 << 20;

/// The split threshold in force: [`GEMM_PAR_MACS_IN_POOL`] on one of the pool's threads,
/// [`GEMM_PAR_MACS`] elsewhere, or the `DESCENT_GEMM_PAR_MACS` environment variable (read once;
/// it sets both) for a machine where another cut-off measures better, or for a test that needs
/// small products split (CI's valgrind run). The results are the same bits either way.
///
/// ```
/// assert!(descent_kernels::matmul::gemm_par_macs() > 0);
/// ```
pub fn gemm_par_macs() -> usize {
    static MACS: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let set = MACS.get_or_init(|| {
        std::env::var("DESCENT_GEMM_PAR_MACS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&v| v > 0)
    });
    set.unwrap_or_else(|| crate::parallel::cut_off(GEMM_PAR_MACS_IN_POOL, GEMM_PAR_MACS))
}

/// How a GEMM is cut over threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
    /// One call on the calling thread.
    Whole,
    /// Blocks of this many rows of `C` (each block packs all of `B`).
    Rows(usize),
    /// Blocks of this many columns of `C` (each block packs all of `A`).
    Cols(usize),
}

/// The split of an `m x k x n` GEMM: one block per thread along the longer side of `C` (so the
/// operand every block packs again is the smaller one), each a multiple of 16 rows or 64 columns
/// (the f32 and f64 microkernels' tile sizes divide both), and none below [`gemm_par_macs`].
///
/// Every element of `C` is computed by the same packing and microkernel whatever block it falls
/// in (matrixmultiply's K blocking does not depend on `m` or `n`), so the result is the same bits
/// for any split: the thread count changes the speed only (`tests/gemm.rs` checks it).
fn split(m: usize, k: usize, n: usize) -> Split {
    let threads = rayon::current_num_threads();
    if threads < 2 || m.saturating_mul(k).saturating_mul(n) < gemm_par_macs() {
        return Split::Whole;
    }
    if n >= m && n >= 128 {
        let blocks = threads.min(n / 64);
        Split::Cols(n.div_ceil(blocks).next_multiple_of(64))
    } else if m >= 32 {
        let blocks = threads.min(m / 16);
        Split::Rows(m.div_ceil(blocks).next_multiple_of(16))
    } else {
        Split::Whole
    }
}

/// One GEMM call into row-major `c` (`m * n`), on the calling thread.
#[allow(clippy::too_many_arguments)]
fn gemm_block<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
    alpha: T,
    c: &mut [T],
) {
    debug_assert_eq!(c.len(), m * n);
    check("A", m, k, &a);
    // SAFETY: `check` proved A's and B's reads in bounds (the callers checked B); `c` is an
    // exclusive borrow of exactly m * n elements written row-major (row stride n), so it cannot
    // alias A or B.
    unsafe { gemm_strided(m, k, n, a, b, accumulate, alpha, c.as_mut_ptr(), n) }
}

/// The one call of `Float::gemm_raw`: `C <- alpha A B (+ C)` into the `m x n` matrix at `c`
/// with row stride `rsc` and unit column stride (`alpha` applied per K block: see
/// [`ONE_K_BLOCK`]).
///
/// # Safety
/// Every index read through A's and B's strides is inside their slices (all strides are
/// non-negative, so the largest is at [rows-1, cols-1]: `check` proves it), and the strides fit
/// in `isize`; for each `i < m` the `n` elements from `c.add(i * rsc)` are valid for writes (and
/// for reads when `accumulate`: with beta = 0 the kernel does not read C), nobody else's during
/// the call, and do not overlap A or B.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
    alpha: T,
    c: *mut T,
    rsc: usize,
) {
    // SAFETY: the offset pointers are in bounds (the contract: the largest index read is, and
    // offsets are smaller); C's rows are valid and ours (the contract).
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr().add(a.offset),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr().add(b.offset),
            b.rs as isize,
            b.cs as isize,
            if accumulate { T::ONE } else { T::ZERO },
            c,
            rsc as isize,
            1,
        )
    }
}

/// The naive reference: triple loop accumulated in `f64`.
pub fn gemm_reference<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0;
            for p in 0..k {
                s += a.data[a.offset + i * a.rs + p * a.cs].to_f64()
                    * b.data[b.offset + p * b.rs + j * b.cs].to_f64();
            }
            c[i * n + j] = s;
        }
    }
    c
}

/// A batch of products `C_i <- A_i B_i` into row-major `c` (`offsets.len()` blocks of `m * n`).
///
/// `a_offsets[i]` / `b_offsets[i]` give each pair's element `[0, 0]`; the strides are shared.
/// Small matrices are split over threads by batch; large ones leave threading to the GEMM.
/// Either way each `C_i` is computed by one GEMM call, so results do not depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub fn gemm_batched<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<'_, T>,
    a_offsets: &[usize],
    b: MatRef<'_, T>,
    b_offsets: &[usize],
    c: &mut [T],
) {
    assert_eq!(a_offsets.len(), b_offsets.len(), "gemm_batched: offsets");
    assert_eq!(
        c.len(),
        a_offsets.len() * m * n,
        "gemm_batched: output length"
    );
    if m * n == 0 {
        return;
    }
    let one = |(i, c): (usize, &mut [T])| {
        let am = MatRef {
            offset: a_offsets[i],
            ..a
        };
        let bm = MatRef {
            offset: b_offsets[i],
            ..b
        };
        gemm(m, k, n, am, bm, c);
    };
    if a_offsets.len() > 1 && m * n * k < SMALL_GEMM && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        c.par_chunks_mut(m * n).enumerate().for_each(one);
    } else {
        c.chunks_mut(m * n).enumerate().for_each(one);
    }
}

/// Below this many multiply-adds per matrix, a batch is split over threads instead of each GEMM.
const SMALL_GEMM: usize = 64 * 64 * 64;
