//! The instruction-set variants of the kernels: the only place with `std::arch` and
//! `#[target_feature]`.
//!
//! Each variant is a thin `#[target_feature(enable = "avx2,fma")]` wrapper around the kernel's one
//! `#[inline(always)]` body, so one source is compiled once per instruction set and the compiler
//! vectorizes it with the wider registers (the matrixmultiply pattern).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(target_arch = "x86_64")]
pub(crate) use avx2::{
    adam_avx2, any_subnormal_avx2, binary_row_avx2, first_non_finite_avx2, max_pool_2x2_row_avx2,
    mul_pow2_down_avx2, mul_pow2_up_avx2, reduce_row_avx2, unary_grad_row_avx2, unary_row_avx2,
    winograd_input_avx2, winograd_input_grad_avx2, winograd_output_avx2, winograd_output_grad_avx2,
    winograd_output_relu_pool_avx2,
};
#[cfg(target_arch = "x86_64")]
pub(crate) use avx512::{has_avx512, interleave_avx512, sgemm_kernel_avx512};

/// [`crate::Float::any_subnormal`] on the best instruction set this CPU has.
pub(crate) fn any_subnormal<T: crate::Float>(x: &[T]) -> bool {
    match crate::isa() {
        crate::Isa::Avx2Fma => any_subnormal_avx2(x),
        crate::Isa::Fallback => T::any_subnormal(x),
    }
}

/// `x <- x 2^-s` on the bits ([`crate::Float::mul_pow2_down`]) on the best instruction set this
/// CPU has (AVX2's per-lane shifts vectorize it).
/// Whether every value was finite.
pub(crate) fn mul_pow2_down<T: crate::Float>(x: &mut [T], s: u32) -> bool {
    match crate::isa() {
        crate::Isa::Avx2Fma => mul_pow2_down_avx2(x, s),
        crate::Isa::Fallback => crate::matmul::mul_pow2_down_body(x, s),
    }
}

/// `x <- x 2^s` on the bits ([`crate::Float::mul_pow2_up`]) on the best instruction set this
/// CPU has.
pub(crate) fn mul_pow2_up<T: crate::Float>(x: &mut [T], s: u32) {
    match crate::isa() {
        crate::Isa::Avx2Fma => mul_pow2_up_avx2(x, s),
        crate::Isa::Fallback => crate::matmul::mul_pow2_up_body(x, s),
    }
}

/// One row of the 2x2 stride-2 max pool on the best instruction set this CPU has.
pub(crate) fn max_pool_2x2_row<T: crate::Float>(
    r0: &[T],
    r1: &[T],
    w: u32,
    at0: u32,
    out: &mut [T],
    am: &mut [u32],
) {
    match crate::isa() {
        crate::Isa::Avx2Fma => max_pool_2x2_row_avx2(r0, r1, w, at0, out, am),
        crate::Isa::Fallback => crate::pool::max_pool_2x2_row_body(r0, r1, w, at0, out, am),
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn unary_row_avx2<T: crate::Float>(_: crate::UnaryOp, _: &[T], _: usize, _: &mut [T]) {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn binary_row_avx2<T: crate::Float, O: crate::ZipOp>(
    _: O,
    _: &[T],
    _: usize,
    _: &[T],
    _: usize,
    _: &mut [T],
) {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn max_pool_2x2_row_avx2<T: crate::Float>(
    _: &[T],
    _: &[T],
    _: u32,
    _: u32,
    _: &mut [T],
    _: &mut [u32],
) {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn unary_grad_row_avx2<T: crate::Float>(
    _: crate::UnaryOp,
    _: &[T],
    _: &[T],
    _: &[T],
    _: &mut [T],
) {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn adam_avx2<T: crate::Float, const DECAY: bool, const DECOUPLED: bool>(
    _: &crate::optim::AdamConsts<T>,
    _: &mut [T],
    _: &[T],
    _: &mut [T],
    _: &mut [T],
) {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn first_non_finite_avx2<T: crate::Float>(_: &[T]) -> Option<(usize, &'static str)> {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn reduce_row_avx2<T: crate::Float>(_: crate::ReduceOp, _: &[T]) -> T {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn winograd_input_avx2<T: crate::Float>(
    _: &crate::winograd::Tiles,
    _: usize,
    _: &[T],
    _: &mut [T],
) {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn winograd_output_avx2<T: crate::Float>(
    _: &crate::winograd::Tiles,
    _: usize,
    _: &[T],
    _: Option<&[T]>,
    _: &mut [T],
) {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn winograd_output_grad_avx2<T: crate::Float>(
    _: &crate::winograd::Tiles,
    _: usize,
    _: &[T],
    _: &mut [T],
) {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn winograd_output_relu_pool_avx2<T: crate::Float>(
    _: &crate::winograd::Tiles,
    _: usize,
    _: &[T],
    _: Option<&[T]>,
    _: &mut [T],
    _: &mut [u8],
) {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn mul_pow2_down_avx2<T: crate::Float>(_: &mut [T], _: u32) -> bool {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn mul_pow2_up_avx2<T: crate::Float>(_: &mut [T], _: u32) {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn any_subnormal_avx2<T: crate::Float>(_: &[T]) -> bool {
    panic!("the AVX2 path does not exist on this architecture")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn winograd_input_grad_avx2<T: crate::Float>(
    _: &crate::winograd::Tiles,
    _: usize,
    _: &[T],
    _: &mut [T],
) {
    panic!("the AVX2 path does not exist on this architecture")
}
