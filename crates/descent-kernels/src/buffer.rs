//! [`Buffer`]: a zero-filled element buffer that a kernel writes and a tensor then shares, in one
//! allocation.
//!
//! A `Vec<T>` shared through an `Arc` costs two allocations (the `Arc`'s box and the `Vec`'s
//! elements) and two frees per tensor; small tensors pay that on every op (workload W4). A
//! [`Buffer`] is an `Arc<[T]>` from the start: the reference counts and the elements sit in one
//! block, and [`Buffer::into_shared`] hands it over without a copy.
//!
//! ```
//! use descent_kernels::buffer::Buffer;
//! let mut b = Buffer::<f32>::zeroed(3);
//! b.copy_from_slice(&[1.0, 2.0, 3.0]); // a kernel writes through `&mut [T]`
//! let shared = b.into_shared();
//! assert_eq!(&shared[..], &[1.0, 2.0, 3.0]);
//! ```

use crate::float::Float;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// Bytes up to which a buffer is allocated with `malloc` and filled (glibc serves small `malloc`s
/// from a per-thread cache that `calloc` bypasses); larger ones come zeroed from `calloc` (fresh
/// pages from the OS, no fill).
const SMALL_BYTES: usize = 64 * 1024;

/// A uniquely owned, zero-filled `Arc<[T]>`, writable as a slice until it is shared.
#[derive(Debug)]
pub struct Buffer<T>(Arc<[T]>);

impl<T: Float> Buffer<T> {
    /// `n` zeros.
    pub fn zeroed(n: usize) -> Buffer<T> {
        if n * T::BYTES > SMALL_BYTES {
            let zeroed = Arc::<[T]>::new_zeroed_slice(n);
            // SAFETY: `T` is `f32` or `f64` (`Float` is sealed), and the all-zero bit pattern is
            // a valid value of both (+0.0), so every element is initialized.
            return Buffer(unsafe { zeroed.assume_init() });
        }
        let mut uninit = Arc::<[T]>::new_uninit_slice(n);
        let slots = Arc::get_mut(&mut uninit).expect("a new Arc is unique");
        slots.fill(MaybeUninit::new(T::ZERO));
        // SAFETY: every element was written just above.
        Buffer(unsafe { uninit.assume_init() })
    }

    /// The buffer, shared: what a tensor's storage holds.
    pub fn into_shared(self) -> Arc<[T]> {
        self.0
    }
}

impl<T> Deref for Buffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> DerefMut for Buffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        Arc::get_mut(&mut self.0).expect("a Buffer is never shared before into_shared")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_is_zero_below_and_above_the_calloc_cutoff() {
        for n in [0, 1, 7, SMALL_BYTES / 4, SMALL_BYTES / 4 + 1, 1 << 20] {
            let b = Buffer::<f32>::zeroed(n);
            assert_eq!(b.len(), n);
            assert!(b.iter().all(|&x| x.to_bits() == 0), "n={n}");
            let d = Buffer::<f64>::zeroed(n);
            assert!(d.iter().all(|&x| x.to_bits() == 0), "n={n}");
        }
    }

    #[test]
    fn writes_survive_sharing() {
        let mut b = Buffer::<f64>::zeroed(3);
        b[1] = 2.5;
        let shared = b.into_shared();
        assert_eq!(&shared[..], &[0.0, 2.5, 0.0]);
        assert_eq!(Arc::strong_count(&shared), 1);
    }
}
