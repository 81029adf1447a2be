//! AVX2+FMA variants, selected at run time.

use crate::elementwise::ZipOp;
use crate::float::Float;
use crate::reduce::{ReduceOp, reduce_row_body};
use crate::unary_ops::{UnaryOp, unary_row_body};
use crate::winograd::Tiles;

#[target_feature(enable = "avx2,fma")]
fn unary_row_target<T: Float>(op: UnaryOp, x: &[T], sx: usize, out: &mut [T]) {
    unary_row_body(op, x, sx, out)
}

#[target_feature(enable = "avx2,fma")]
fn unary_grad_row_target<T: Float>(op: UnaryOp, x: &[T], y: &[T], g: &[T], out: &mut [T]) {
    crate::unary_ops::unary_grad_row(op, x, y, g, out)
}

/// The AVX2 variant of the unary ops' backward row (`out = g * op'`).
pub(crate) fn unary_grad_row_avx2<T: Float>(op: UnaryOp, x: &[T], y: &[T], g: &[T], out: &mut [T]) {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { unary_grad_row_target(op, x, y, g, out) }
}

#[target_feature(enable = "avx2,fma")]
fn binary_row_target<T: Float, O: ZipOp>(
    op: O,
    a: &[T],
    sa: usize,
    b: &[T],
    sb: usize,
    out: &mut [T],
) {
    op.row_body(a, sa, b, sb, out)
}

#[target_feature(enable = "avx2,fma")]
fn reduce_row_target<T: Float>(op: ReduceOp, x: &[T]) -> T {
    reduce_row_body(op, x)
}

#[target_feature(enable = "avx2,fma")]
fn max_pool_2x2_row_target<T: Float>(
    r0: &[T],
    r1: &[T],
    w: u32,
    at0: u32,
    out: &mut [T],
    am: &mut [u32],
) {
    crate::pool::max_pool_2x2_row_body(r0, r1, w, at0, out, am)
}

/// The AVX2 variant of one row of the 2x2 stride-2 max pool.
pub(crate) fn max_pool_2x2_row_avx2<T: Float>(
    r0: &[T],
    r1: &[T],
    w: u32,
    at0: u32,
    out: &mut [T],
    am: &mut [u32],
) {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { max_pool_2x2_row_target(r0, r1, w, at0, out, am) }
}

#[target_feature(enable = "avx2,fma")]
fn adam_target<T: Float, const DECAY: bool, const DECOUPLED: bool>(
    c: &crate::optim::AdamConsts<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    crate::optim::adam_loop::<T, DECAY, DECOUPLED>(c, p, g, m, v)
}

/// The AVX2 variant of the Adam update: on `f32` with flushing off (`c.tiny` zero) the
/// intrinsics of [`adam_f32_target`], otherwise the generic loop compiled for AVX2 (8 lanes of
/// `sqrt` and `/` instead of 4).
pub(crate) fn adam_avx2<T: Float, const DECAY: bool, const DECOUPLED: bool>(
    c: &crate::optim::AdamConsts<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    use std::any::TypeId;
    assert_avx2();
    if TypeId::of::<T>() != TypeId::of::<f32>() || c.tiny != T::ZERO {
        // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
        return unsafe { adam_target::<T, DECAY, DECOUPLED>(c, p, g, m, v) };
    }
    // SAFETY: `T` is `f32` (checked above), so every reference below is a reinterpretation of
    // itself at the same type: same address, length, lifetime and exclusivity.
    let (c, p, g, m, v) = unsafe {
        (
            &*(c as *const crate::optim::AdamConsts<T>).cast::<crate::optim::AdamConsts<f32>>(),
            std::slice::from_raw_parts_mut(p.as_mut_ptr().cast::<f32>(), p.len()),
            std::slice::from_raw_parts(g.as_ptr().cast::<f32>(), g.len()),
            std::slice::from_raw_parts_mut(m.as_mut_ptr().cast::<f32>(), m.len()),
            std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<f32>(), v.len()),
        )
    };
    // SAFETY: the CPU has AVX2 and FMA (checked above).
    unsafe { adam_f32_target::<DECAY, DECOUPLED>(c, p, g, m, v) }
}

/// Adam's update on `f32` in AVX2 registers, 8 values at a time, with flushing off: each
/// vector first checks its gradients and first moments for a value below
/// [`FADED`](crate::optim) (one integer minimum over the bits, as `any_nonzero_below`); a vector
/// with one takes `adam_lanes_faded` (the same bits without subnormal operands), the others
/// the update as written, operation for operation (no fused multiply-adds: the same bits as
/// `adam_lanes` and PyTorch's loop).
///
/// Why intrinsics: the generic loop checks blocks of 64 values ahead of their update, and the
/// compiler's code for the pair ran at 0.83 ns a value on the Zen 4 machine (0.65 without the
/// flush selects) against the 0.40 that the square root and two divisions a value cost
/// (docs/PERFORMANCE.md, "Adam in AVX2 registers").
#[target_feature(enable = "avx2,fma")]
fn adam_f32_target<const DECAY: bool, const DECOUPLED: bool>(
    c: &crate::optim::AdamConsts<f32>,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    use std::arch::x86_64::*;
    let n = p.len();
    assert!(
        g.len() == n && m.len() == n && v.len() == n,
        "adam: lengths"
    );
    let keep = _mm256_set1_ps(c.keep);
    let wd = _mm256_set1_ps(c.wd);
    let one_m_b1 = _mm256_set1_ps(c.one_m_b1);
    let b2 = _mm256_set1_ps(c.b2);
    let one_m_b2 = _mm256_set1_ps(c.one_m_b2);
    let neg_step = _mm256_set1_ps(c.neg_step);
    let bias2_sqrt = _mm256_set1_ps(c.bias2_sqrt);
    let eps = _mm256_set1_ps(c.eps);
    // A lane is faded when its magnitude's bits less one (zero wraps to the top) are at most
    // `FADED`'s bits less two, compared unsigned through a minimum (AVX2 has no unsigned compare).
    let abs = _mm256_set1_epi32(i32::MAX);
    let one = _mm256_set1_epi32(1);
    let limit = _mm256_set1_epi32((crate::optim::FADED_F32.to_bits() - 2) as i32);
    let key = |x: __m256| _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(x), abs), one);
    let whole = n - n % 8;
    let mut i = 0;
    loop {
        // The plain update up to the first vector with a faded lane (no call inside, so the
        // constants stay in registers), then that vector on the faded path.
        while i < whole {
            // SAFETY: `i + 8 <= whole <= n`, the length of all four slices (asserted above), so
            // every load and store of 8 lanes at `i` is in bounds; unaligned accesses are
            // allowed.
            unsafe {
                let gv = _mm256_loadu_ps(g.as_ptr().add(i));
                let mv = _mm256_loadu_ps(m.as_ptr().add(i));
                let least = _mm256_min_epu32(key(gv), key(mv));
                let faded = _mm256_cmpeq_epi32(_mm256_min_epu32(least, limit), least);
                if _mm256_movemask_epi8(faded) != 0 {
                    break;
                }
                let mut pv = _mm256_loadu_ps(p.as_ptr().add(i));
                let vv = _mm256_loadu_ps(v.as_ptr().add(i));
                if DECOUPLED {
                    pv = _mm256_mul_ps(pv, keep);
                }
                let gv = if DECAY {
                    _mm256_add_ps(gv, _mm256_mul_ps(wd, pv))
                } else {
                    gv
                };
                let mv = _mm256_add_ps(mv, _mm256_mul_ps(one_m_b1, _mm256_sub_ps(gv, mv)));
                let vv = _mm256_add_ps(
                    _mm256_mul_ps(vv, b2),
                    _mm256_mul_ps(_mm256_mul_ps(one_m_b2, gv), gv),
                );
                let denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vv), bias2_sqrt), eps);
                let pv = _mm256_add_ps(pv, _mm256_div_ps(_mm256_mul_ps(neg_step, mv), denom));
                _mm256_storeu_ps(m.as_mut_ptr().add(i), mv);
                _mm256_storeu_ps(v.as_mut_ptr().add(i), vv);
                _mm256_storeu_ps(p.as_mut_ptr().add(i), pv);
            }
            i += 8;
        }
        if i >= whole {
            break;
        }
        let r = i..i + 8;
        crate::optim::adam_lanes_faded::<f32, DECAY, DECOUPLED>(
            c,
            &mut p[r.clone()],
            &g[r.clone()],
            &mut m[r.clone()],
            &mut v[r],
        );
        i += 8;
    }
    crate::optim::adam_lanes_faded::<f32, DECAY, DECOUPLED>(
        c,
        &mut p[whole..],
        &g[whole..],
        &mut m[whole..],
        &mut v[whole..],
    );
}

#[target_feature(enable = "avx2,fma")]
fn first_non_finite_target<T: Float>(x: &[T]) -> Option<(usize, &'static str)> {
    crate::optim::first_non_finite_body(x)
}

/// The AVX2 variant of the optimizers' finiteness scan.
pub(crate) fn first_non_finite_avx2<T: Float>(x: &[T]) -> Option<(usize, &'static str)> {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { first_non_finite_target(x) }
}

fn assert_avx2() {
    assert!(
        crate::Isa::Avx2Fma.is_supported(),
        "the AVX2+FMA path was asked for on a CPU without AVX2 and FMA"
    );
}

/// The AVX2 variant of [`crate::elementwise::unary_row`].
pub(crate) fn unary_row_avx2<T: Float>(op: UnaryOp, x: &[T], sx: usize, out: &mut [T]) {
    assert_avx2();
    // SAFETY: the only precondition of a `#[target_feature]` function is that the CPU has the
    // features, which `assert_avx2` just checked; the body itself is safe code.
    unsafe { unary_row_target(op, x, sx, out) }
}

/// The AVX2 variant of [`crate::elementwise::binary_row`], for binary ops and comparisons alike.
pub(crate) fn binary_row_avx2<T: Float, O: ZipOp>(
    op: O,
    a: &[T],
    sa: usize,
    b: &[T],
    sb: usize,
    out: &mut [T],
) {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { binary_row_target(op, a, sa, b, sb, out) }
}

/// The AVX2 variant of the contiguous row reduction.
pub(crate) fn reduce_row_avx2<T: Float>(op: ReduceOp, x: &[T]) -> T {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { reduce_row_target(op, x) }
}

#[target_feature(enable = "avx2,fma")]
fn winograd_input_target<T: Float>(t: &Tiles, planes: usize, input: &[T], v: &mut [T]) {
    crate::winograd::transform_input_body(t, planes, input, v)
}

/// The AVX2 variant of the Winograd input transform.
pub(crate) fn winograd_input_avx2<T: Float>(t: &Tiles, planes: usize, input: &[T], v: &mut [T]) {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { winograd_input_target(t, planes, input, v) }
}

#[target_feature(enable = "avx2,fma")]
fn winograd_output_target<T: Float>(
    t: &Tiles,
    planes: usize,
    m: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
) {
    crate::winograd::transform_output_body(t, planes, m, bias, out)
}

/// The AVX2 variant of the Winograd output transform.
pub(crate) fn winograd_output_avx2<T: Float>(
    t: &Tiles,
    planes: usize,
    m: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
) {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { winograd_output_target(t, planes, m, bias, out) }
}

#[target_feature(enable = "avx2,fma")]
fn winograd_output_relu_pool_target<T: Float>(
    t: &Tiles,
    planes: usize,
    m: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
    argmax: &mut [u8],
) {
    crate::winograd::transform_output_relu_pool_body(t, planes, m, bias, out, argmax)
}

/// The AVX2 variant of the Winograd output transform with ReLU and 2x2 max pooling.
pub(crate) fn winograd_output_relu_pool_avx2<T: Float>(
    t: &Tiles,
    planes: usize,
    m: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
    argmax: &mut [u8],
) {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { winograd_output_relu_pool_target(t, planes, m, bias, out, argmax) }
}

#[target_feature(enable = "avx2,fma")]
fn any_subnormal_target<T: Float>(x: &[T]) -> bool {
    T::any_subnormal(x)
}

/// The AVX2 variant of the subnormal scan.
pub(crate) fn any_subnormal_avx2<T: Float>(x: &[T]) -> bool {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { any_subnormal_target(x) }
}

#[target_feature(enable = "avx2,fma")]
fn mul_pow2_down_target<T: Float>(x: &mut [T], s: u32) -> bool {
    crate::matmul::mul_pow2_down_body(x, s)
}

/// The AVX2 variant of the exact scaling by `2^-s` on the bits.
pub(crate) fn mul_pow2_down_avx2<T: Float>(x: &mut [T], s: u32) -> bool {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { mul_pow2_down_target(x, s) }
}

#[target_feature(enable = "avx2,fma")]
fn mul_pow2_up_target<T: Float>(x: &mut [T], s: u32) {
    crate::matmul::mul_pow2_up_body(x, s)
}

/// The AVX2 variant of the exact scaling by `2^s` on the bits.
pub(crate) fn mul_pow2_up_avx2<T: Float>(x: &mut [T], s: u32) {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { mul_pow2_up_target(x, s) }
}

#[target_feature(enable = "avx2,fma")]
fn winograd_input_grad_target<T: Float>(t: &Tiles, planes: usize, dv: &[T], dx: &mut [T]) {
    crate::winograd::transform_input_grad_body(t, planes, dv, dx)
}

/// The AVX2 variant of the adjoint of the Winograd input transform.
pub(crate) fn winograd_input_grad_avx2<T: Float>(t: &Tiles, planes: usize, dv: &[T], dx: &mut [T]) {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { winograd_input_grad_target(t, planes, dv, dx) }
}

#[target_feature(enable = "avx2,fma")]
fn winograd_output_grad_target<T: Float>(t: &Tiles, planes: usize, dy: &[T], yh: &mut [T]) {
    crate::winograd::transform_output_grad_body(t, planes, dy, yh)
}

/// The AVX2 variant of the Winograd output-gradient transform.
pub(crate) fn winograd_output_grad_avx2<T: Float>(
    t: &Tiles,
    planes: usize,
    dy: &[T],
    yh: &mut [T],
) {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { winograd_output_grad_target(t, planes, dy, yh) }
}
