//! The instruction-set variants of the kernels: the only place with `std::arch` and
//! `#[target_feature]`.
//!
//! Each variant is a thin `#[target_feature(enable = "avx2,fma")]` wrapper around the kernel's one
//! `#[inline(always)]` body, so one source is compiled once per instruction set and the compiler
//! vectorizes it with the wider registers (the matrixmultiply pattern).

#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(target_arch = "x86_64")]
pub(crate) use avx2::{binary_row_avx2, reduce_row_avx2, unary_row_avx2};

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
pub(crate) fn reduce_row_avx2<T: crate::Float>(_: crate::ReduceOp, _: &[T]) -> T {
    panic!("the AVX2 path does not exist on this architecture")
}
