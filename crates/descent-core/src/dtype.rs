//! Element types: `f32` for training, `f64` for exact gradient checks, through one code path.

use crate::storage::Storage;
pub use descent_kernels::Float;
use std::sync::Arc;

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
    fn buffer(storage: &Storage) -> Option<&Arc<Vec<Self>>>;
    #[doc(hidden)]
    fn buffer_mut(storage: &mut Storage) -> Option<&mut Arc<Vec<Self>>>;
    #[doc(hidden)]
    fn wrap(v: Vec<Self>) -> Storage;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn buffer(storage: &Storage) -> Option<&Arc<Vec<Self>>> {
        match storage {
            Storage::F32(v) => Some(v),
            Storage::F64(_) => None,
        }
    }
    fn buffer_mut(storage: &mut Storage) -> Option<&mut Arc<Vec<Self>>> {
        match storage {
            Storage::F32(v) => Some(v),
            Storage::F64(_) => None,
        }
    }
    fn wrap(v: Vec<Self>) -> Storage {
        Storage::F32(Arc::new(v))
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn buffer(storage: &Storage) -> Option<&Arc<Vec<Self>>> {
        match storage {
            Storage::F64(v) => Some(v),
            Storage::F32(_) => None,
        }
    }
    fn buffer_mut(storage: &mut Storage) -> Option<&mut Arc<Vec<Self>>> {
        match storage {
            Storage::F64(v) => Some(v),
            Storage::F32(_) => None,
        }
    }
    fn wrap(v: Vec<Self>) -> Storage {
        Storage::F64(Arc::new(v))
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

/// `n` zeros, allocated the fastest way for the size: small buffers through `malloc` (glibc's
/// `calloc` skips its per-thread cache, which made it 8 % of W4's instructions), large ones
/// through `calloc` (fresh zero pages from the OS, no memset).
pub(crate) fn zeros<T: Element>(n: usize) -> Vec<T> {
    const SMALL_BYTES: usize = 64 * 1024;
    if n * T::BYTES <= SMALL_BYTES {
        let mut v = Vec::with_capacity(n);
        v.resize(n, T::ZERO);
        v
    } else {
        vec![T::ZERO; n]
    }
}
