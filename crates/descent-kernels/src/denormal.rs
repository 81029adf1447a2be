//! Flushing subnormal numbers to zero, opt-in, as `torch.set_flush_denormal(True)` does.
//!
//! A multiply or add whose operand or result is subnormal (nonzero with magnitude below
//! `f32::MIN_POSITIVE`) takes a slow path in x86 CPUs: on this repository's AVX-512 machine a
//! GEMM fed subnormal operands ran ~4x slower. Training reaches them when a model memorizes its
//! batch: the loss reaches 0, the wrong classes' probabilities fall below `f32::MIN_POSITIVE`,
//! and every gradient computed from them follows (W1b fell from ~42k to ~10k samples/s after
//! ~25k steps; PyTorch from ~18.5k to ~14k after ~12k steps).
//!
//! PyTorch's switch sets the CPU's FTZ/DAZ flags. Rust assumes the default floating-point
//! environment, so changing those flags is undefined behaviour here; descent flushes in software
//! instead, where its kernels already pass over the values: with the switch on, the f32 GEMM
//! reads subnormal operands as zero (its packing pass flushes them). Off, the default, every
//! kernel is IEEE 754 to the last bit.

use std::sync::atomic::{AtomicBool, Ordering};

static FLUSH: AtomicBool = AtomicBool::new(false);

/// Turns flushing of subnormal numbers on or off for every thread, like
/// `torch.set_flush_denormal`, and returns whether it is supported (always: the flush is done in
/// software). With it on, the f32 GEMM reads subnormal operands as zero; that avoids the CPU's
/// slow path once a model's gradients underflow, at the cost of IEEE 754 results for those
/// operands. Off by default.
///
/// ```
/// use descent_kernels::{flush_denormal, set_flush_denormal};
/// assert!(set_flush_denormal(true));
/// assert!(flush_denormal());
/// set_flush_denormal(false);
/// ```
pub fn set_flush_denormal(on: bool) -> bool {
    FLUSH.store(on, Ordering::Relaxed);
    true
}

/// Whether subnormal numbers are flushed (see [`set_flush_denormal`]).
pub fn flush_denormal() -> bool {
    FLUSH.load(Ordering::Relaxed)
}

/// Replaces every subnormal value in `xs` by a zero of the same sign; zeros, normal numbers,
/// infinities and NaN stay as they are.
pub(crate) fn flush(xs: &mut [f32]) {
    for x in xs {
        // A compare and a select per value: the loop vectorizes.
        *x = if x.abs() < f32::MIN_POSITIVE {
            0.0f32.copysign(*x)
        } else {
            *x
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_zeroes_subnormals_only() {
        let tiny = f32::MIN_POSITIVE / 4.0;
        let mut xs = [
            tiny,
            -tiny,
            f32::from_bits(1),
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            1.5,
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NAN,
        ];
        flush(&mut xs);
        assert_eq!(xs[0].to_bits(), 0.0f32.to_bits());
        assert_eq!(xs[1].to_bits(), (-0.0f32).to_bits());
        assert_eq!(xs[2], 0.0);
        assert_eq!(xs[3], f32::MIN_POSITIVE);
        assert_eq!(xs[4], -f32::MIN_POSITIVE);
        assert_eq!(xs[5], 1.5);
        assert_eq!(xs[7].to_bits(), (-0.0f32).to_bits());
        assert_eq!(xs[8], f32::INFINITY);
        assert!(xs[9].is_nan());
    }
}
