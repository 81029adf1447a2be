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

/// The AVX2 variant of the Adam update loop (8 lanes of `sqrt` and `/` instead of 4).
pub(crate) fn adam_avx2<T: Float, const DECAY: bool, const DECOUPLED: bool>(
    c: &crate::optim::AdamConsts<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    assert_avx2();
    // SAFETY: the CPU has AVX2 and FMA (checked above); the body is safe code.
    unsafe { adam_target::<T, DECAY, DECOUPLED>(c, p, g, m, v) }
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
