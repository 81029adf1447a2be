//! Element types: `f32` for training, `f64` for exact gradient checks, through one code path.

use crate::error::{Error, Result};
use crate::storage::Storage;
pub use descent_kernels::Float;
use descent_kernels::buffer::{AllocError, Buffer, SharedBuffer};

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float: what models train in.
    F32,
    /// 64-bit float: what gradient checks need.
    F64,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }
}

/// A Rust type a tensor can hold: exactly `f32` and `f64` (sealed through [`Float`]).
pub trait Element: Float {
    /// The matching [`DType`].
    const DTYPE: DType;
    #[doc(hidden)]
    fn buffer(storage: &Storage) -> Option<&SharedBuffer<Self>>;
    #[doc(hidden)]
    fn buffer_mut(storage: &mut Storage) -> Option<&mut SharedBuffer<Self>>;
    #[doc(hidden)]
    fn wrap(v: SharedBuffer<Self>) -> Storage;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn buffer(storage: &Storage) -> Option<&SharedBuffer<Self>> {
        match storage {
            Storage::F32(v) => Some(v),
            Storage::F64(_) => None,
        }
    }
    fn buffer_mut(storage: &mut Storage) -> Option<&mut SharedBuffer<Self>> {
        match storage {
            Storage::F32(v) => Some(v),
            Storage::F64(_) => None,
        }
    }
    fn wrap(v: SharedBuffer<Self>) -> Storage {
        Storage::F32(v)
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn buffer(storage: &Storage) -> Option<&SharedBuffer<Self>> {
        match storage {
            Storage::F64(v) => Some(v),
            Storage::F32(_) => None,
        }
    }
    fn buffer_mut(storage: &mut Storage) -> Option<&mut SharedBuffer<Self>> {
        match storage {
            Storage::F64(v) => Some(v),
            Storage::F32(_) => None,
        }
    }
    fn wrap(v: SharedBuffer<Self>) -> Storage {
        Storage::F64(v)
    }
}

/// Runs `$body` with `$T` bound to the element type of `$dtype`: the one place where the two
/// element types fork.
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;

/// `n` zeros in a buffer a tensor can take over without a copy (see [`Buffer`]), for kernels that
/// accumulate into their output.
///
/// # Panics
/// If the memory cannot be allocated (the sizes of existing tensors got this far, so this is
/// an out-of-memory condition, reported with the byte count).
#[track_caller]
pub(crate) fn zeros<T: Element>(n: usize) -> Buffer<T> {
    Buffer::zeroed(n)
}

/// `n` elements of unspecified value, for kernels that write every element of their output: a
/// recycled block is not cleared first.
///
/// # Panics
/// As [`zeros`].
#[track_caller]
pub(crate) fn for_overwrite<T: Element>(n: usize) -> Buffer<T> {
    Buffer::for_overwrite(n)
}

/// The element count of a tensor of `shape` and `dtype`, checked: its count and its byte size must
/// fit in `usize` (and in `isize`, as Rust's allocations must).
///
/// # Errors
/// [`Error::OutOfMemory`] naming `op` and the shape, with no byte count.
pub(crate) fn checked_len(op: &'static str, shape: &[usize], dtype: DType) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|n| {
            n.checked_mul(dtype.size())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(|| Error::OutOfMemory {
            op,
            shape: shape.into(),
            dtype,
            bytes: None,
        })
}

/// The error of an allocation for a tensor of `shape` made by `op`.
pub(crate) fn alloc_error<T: Element>(op: &'static str, shape: &[usize], e: AllocError) -> Error {
    Error::OutOfMemory {
        op,
        shape: shape.into(),
        dtype: T::DTYPE,
        bytes: e.bytes,
    }
}

/// A zero-filled buffer for a tensor of `shape`, sizes checked.
///
/// # Errors
/// [`Error::OutOfMemory`] naming `op`, the shape and the bytes.
pub(crate) fn try_zeros<T: Element>(op: &'static str, shape: &[usize]) -> Result<Buffer<T>> {
    let n = checked_len(op, shape, T::DTYPE)?;
    Buffer::try_zeroed(n).map_err(|e| alloc_error::<T>(op, shape, e))
}

/// A buffer of unspecified values for a tensor of `shape` whose kernel writes every element,
/// sizes checked.
///
/// # Errors
/// [`Error::OutOfMemory`] naming `op`, the shape and the bytes.
pub(crate) fn try_for_overwrite<T: Element>(
    op: &'static str,
    shape: &[usize],
) -> Result<Buffer<T>> {
    let n = checked_len(op, shape, T::DTYPE)?;
    Buffer::try_for_overwrite(n).map_err(|e| alloc_error::<T>(op, shape, e))
}
