//! The element trait: exactly `f32` (what users train in) and `f64` (what gradient checks need).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element type of a kernel.
///
/// Sealed: implemented for exactly `f32` and `f64`, so every kernel is compiled twice and no more.
pub trait Float:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Default
    + Debug
    + Display
    + PartialOrd
    + PartialEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Negative infinity, the identity of `max`.
    const NEG_INFINITY: Self;
    /// Positive infinity, the identity of `min`.
    const INFINITY: Self;
    /// The smallest positive normal number: nonzero magnitudes below it are subnormal.
    const MIN_POSITIVE: Self;
    /// Size in bytes.
    const BYTES: usize;
    /// Converts from `f64`, rounding to nearest.
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// Converts from `usize`, rounding to nearest.
    fn from_usize(v: usize) -> Self;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// `self^p` for a real exponent.
    fn powf(self, p: Self) -> Self;
    /// Whether the value is NaN.
    fn is_nan(self) -> bool;
    /// Whether the value is neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// The largest finite value.
    const MAX: Self;
    /// Whether any value of `xs` is subnormal (nonzero, below [`Float::MIN_POSITIVE`] in
    /// magnitude). Integer compares on the bits, so the scan itself does no subnormal arithmetic
    /// and vectorizes.
    fn any_subnormal(xs: &[Self]) -> bool;
    /// Whether a value of `a` or `b` (as long as `a`) is nonzero and below `low` (a positive
    /// normal number) in magnitude: as [`Float::any_subnormal`], one integer minimum over the
    /// bits of both.
    fn any_nonzero_below(a: &[Self], b: &[Self], low: Self) -> bool;
    /// Whether every value of `xs` is finite: an integer maximum over the bits, which
    /// vectorizes and does no arithmetic on subnormal values.
    fn all_finite(xs: &[Self]) -> bool;
    /// `self * 2^s` (`MANTISSA_DIGITS <= s < 128`) in integer arithmetic on the bits: exact,
    /// with no subnormal arithmetic (which costs a microcode assist) for a subnormal `self`, and
    /// an infinity where the multiplication overflows. Infinities, NaN and zeros come back
    /// unchanged.
    fn mul_pow2_up(self, s: u32) -> Self;
    /// `self * 2^-s` (`MANTISSA_DIGITS < s < 128`) rounded to nearest (ties to even) as the
    /// multiplication would be: the same bits, without the microcode assist a subnormal result
    /// costs the multiplication (a normal result is the exponent field lowered by `s`; a
    /// subnormal one an integer rounding of a normal product). Infinities, NaN and zeros come
    /// back unchanged; a subnormal `self` comes back as a zero of its sign, with no assist either.
    fn mul_pow2_down(self, s: u32) -> Self;
    /// `C <- alpha A B + beta C` through `matrixmultiply` (`sgemm` or `dgemm`), or for `f32` on
    /// CPUs with AVX-512 through descent's own `sgemm`.
    ///
    /// # Safety
    /// As `matrixmultiply::sgemm`: every element addressed through the pointers and strides for
    /// the given sizes must be in bounds, and `c` must not alias `a` or `b`.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
    /// The larger of two values; NaN if either is NaN.
    #[inline(always)]
    fn max_nan(self, other: Self) -> Self {
        if self.is_nan() || other.is_nan() {
            self + other
        } else if other > self {
            other
        } else {
            self
        }
    }
    /// The smaller of two values; NaN if either is NaN.
    #[inline(always)]
    fn min_nan(self, other: Self) -> Self {
        if self.is_nan() || other.is_nan() {
            self + other
        } else if other < self {
            other
        } else {
            self
        }
    }
}

macro_rules! impl_float {
    ($t:ty, $bits:ty, $gemm:path, $tanh:path) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const INFINITY: Self = <$t>::INFINITY;
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;
            const BYTES: usize = std::mem::size_of::<$t>();
            const MAX: Self = <$t>::MAX;
            #[inline(always)]
            fn mul_pow2_up(self, s: u32) -> Self {
                const MB: u32 = <$t>::MANTISSA_DIGITS - 1;
                const EXP_MAX: $bits = (1 << (<$bits>::BITS - 1 - MB)) - 1;
                const BIAS: i32 = <$t>::MAX_EXP - 1;
                let b = self.to_bits();
                let e = (b >> MB) & EXP_MAX;
                // A subnormal or zero: its mantissa, an integer below 2^MB (made a float
                // exactly as (2^MB + m) - 2^MB, from the bits), times 2^(1 - BIAS - MB + s), a
                // normal power of two for MANTISSA_DIGITS <= s < 128.
                let magic = <$t>::from_bits(((MB as i32 + BIAS) as $bits) << MB);
                let m = <$t>::from_bits(magic.to_bits() | (b & ((1 << MB) - 1))) - magic;
                let p =
                    <$t>::from_bits((((1 - BIAS - MB as i32 + s as i32) + BIAS) as $bits) << MB);
                let low = (m * p).copysign(self);
                let normal = <$t>::from_bits(b.wrapping_add((s as $bits) << MB));
                if e == 0 {
                    low
                } else if e == EXP_MAX {
                    self
                } else if e + s as $bits >= EXP_MAX {
                    <$t>::INFINITY.copysign(self)
                } else {
                    normal
                }
            }
            #[inline(always)]
            fn mul_pow2_down(self, s: u32) -> Self {
                const MB: u32 = <$t>::MANTISSA_DIGITS - 1;
                const EXP_MAX: $bits = (1 << (<$bits>::BITS - 1 - MB)) - 1;
                // The smallest subnormal is 2^-TINY.
                const TINY: i32 = <$t>::MAX_EXP - 3 + <$t>::MANTISSA_DIGITS as i32;
                let b = self.to_bits();
                let e = (b >> MB) & EXP_MAX;
                // A normal result: the exponent field lowered by s.
                let normal = <$t>::from_bits(b.wrapping_sub((s as $bits) << MB));
                // A subnormal result is q 2^-TINY with q = |self| 2^(TINY - s) rounded half to
                // even: a multiplication by a normal power of two (exact: self is normal or zero
                // on this branch), below 2^MB as e <= s; adding 2^MB rounds it to an integer (the
                // sum's unit in the last place is 1), which then sits in the sum's low bits.
                let sign = b & !(<$bits>::MAX >> 1);
                let p = <$t>::from_bits(((TINY - s as i32 + <$t>::MAX_EXP - 1) as $bits) << MB);
                let magic = <$t>::from_bits(((MB as i32 + <$t>::MAX_EXP - 1) as $bits) << MB);
                // A subnormal self (e = 0) gives a zero of its sign. Its bits with the lowest
                // exponent bit set, a normal number below 2^(MB + 1 - TINY), stand in for it, so
                // the multiplication sees no subnormal operand (which costs an assist): their q
                // is 0, the product being below 2^(MB + 1 - s) <= 1/2 as s > MB + 1.
                let abs = b & (<$bits>::MAX >> 1);
                let mag = <$t>::from_bits(if e == 0 { abs | (1 << MB) } else { abs });
                let q = (mag * p + magic).to_bits().wrapping_sub(magic.to_bits());
                let low = <$t>::from_bits(sign | q);
                if e == EXP_MAX {
                    self
                } else if e > s as $bits {
                    normal
                } else {
                    low
                }
            }
            #[inline(always)]
            fn all_finite(xs: &[Self]) -> bool {
                const ABS: $bits = <$bits>::MAX >> 1;
                let high = xs
                    .iter()
                    .fold(0, |high: $bits, v| high.max(v.to_bits() & ABS));
                high < <$t>::INFINITY.to_bits()
            }
            #[inline(always)]
            fn any_nonzero_below(a: &[Self], b: &[Self], low: Self) -> bool {
                // The magnitude's bits less one: zero wraps to the top.
                const ABS: $bits = <$bits>::MAX >> 1;
                let key = |v: Self| (v.to_bits() & ABS).wrapping_sub(1);
                let least = a.iter().zip(b).fold(<$bits>::MAX, |least, (&x, &y)| {
                    least.min(key(x)).min(key(y))
                });
                least < low.to_bits() - 1
            }
            #[inline(always)]
            fn any_subnormal(xs: &[Self]) -> bool {
                // Subnormal bit patterns of |x| are 1..=MANTISSA; `b - 1` wraps zero to the top.
                // A minimum, not an `any`: it vectorizes (AVX2's `vpminud`).
                const ABS: $bits = <$bits>::MAX >> 1;
                const MANTISSA: $bits = (1 << (<$t>::MANTISSA_DIGITS - 1)) - 1;
                let low = xs.iter().fold(<$bits>::MAX, |low, v| {
                    low.min((v.to_bits() & ABS).wrapping_sub(1))
                });
                low < MANTISSA
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_usize(v: usize) -> Self {
                v as $t
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn powf(self, p: Self) -> Self {
                <$t>::powf(self, p)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            // SAFETY: the contract is the trait method's (`# Safety` on `Float::gemm_raw`);
            // the body only forwards to matrixmultiply (or descent's own sgemm, which has the
            // same contract) under that same contract.
            #[inline]
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: the caller upholds matrixmultiply's contract (see the trait method).
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
impl_float!(f32, u32, crate::sgemm::sgemm_raw, tanh_f32);
#[cfg(not(target_arch = "x86_64"))]
impl_float!(f32, u32, matrixmultiply::sgemm, tanh_f32);
impl_float!(f64, u64, matrixmultiply::dgemm, f64::tanh);

/// `e^x` for `f32` in straight-line arithmetic (no libm call), so loops over it vectorize:
/// Cephes `expf`. `x = n ln 2 + r` with `|r| <= ln 2 / 2` (ln 2 split in two parts for an exact
/// reduction), a degree-6 polynomial for `e^r`, and `2^n` built in the exponent bits. Accurate to
/// about 2 ulp on `[-87, 88]`; callers keep `x` in that range.
#[inline(always)]
fn exp_f32_poly(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer in f32 arithmetic.
    const ROUND: f32 = 12_582_912.0;
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_65)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `tanh` for `f32` without libm, branch-free so loops over it vectorize (Cephes `tanhf`):
/// `x + x^3 P(x^2)` for `|x| < 0.625`, `1 - 2 / (e^(2|x|) + 1)` above, with the sign restored;
/// `|x| > 9` gives exactly `+-1`, NaN stays NaN. Within a few ulp of the correctly rounded value
/// (tested against the f64 reference in `tests/elementwise.rs`).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients as published
fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 0.133_314_42) * z
            - 0.333_332_82)
            * z
            * a
            + a;
    let e = exp_f32_poly(2.0 * a.min(9.0));
    // From |x| = 9 on, tanh rounds to 1 in f32.
    let large = if a >= 9.0 { 1.0 } else { 1.0 - 2.0 / (e + 1.0) };
    let y = if a < 0.625 { small } else { large };
    // tanh is odd: the sign of x, including -0.
    if x.is_nan() { x } else { y.copysign(x) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between an `f32` and the correctly rounded value.
    fn ulps(got: f32, want: f64) -> u32 {
        let w = want as f32;
        (got.to_bits() as i64 - w.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn tanh_f32_is_within_a_few_ulp_everywhere() {
        // Every 64th f32 in [-20, 20] (both signs), plus the branch boundary and the tails.
        let mut worst = (0, 0.0f32);
        let mut bits = 0u32;
        while bits < 0x41a0_0000 {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                let u = ulps(tanh_f32(x), (x as f64).tanh());
                if u > worst.0 {
                    worst = (u, x);
                }
            }
            bits += 64;
        }
        assert!(worst.0 <= 2, "tanh_f32: {} ulp at {}", worst.0, worst.1);
        for x in [
            0.625f32,
            0.624_999_9,
            9.0,
            100.0,
            f32::INFINITY,
            f32::MIN_POSITIVE,
        ] {
            assert!(ulps(tanh_f32(x), (x as f64).tanh()) <= 4, "at {x}");
            assert_eq!(tanh_f32(-x), -tanh_f32(x));
        }
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
    }
}
