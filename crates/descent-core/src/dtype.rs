//! Element types: `f32` for training, `f64` for exact gradient checks, through one code path.

use crate::storage::Storage;
pub use descent_kernels::Float;
use descent_kernels::buffer::Buffer;
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
    fn buffer(storage: &Storage) -> Option<&Arc<[Self]>>;
    #[doc(hidden)]
    fn buffer_mut(storage: &mut Storage) -> Option<&mut Arc<[Self]>>;
    #[doc(hidden)]
    fn wrap(v: Arc<[Self]>) -> Storage;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn buffer(storage: &Storage) -> Option<&Arc<[Self]>> {
        match storage {
            Storage::F32(v) => Some(v),
            Storage::F64(_) => None,
        }
    }
    fn buffer_mut(storage: &mut Storage) -> Option<&mut Arc<[Self]>> {
        match storage {
            Storage::F32(v) => Some(v),
            Storage::F64(_) => None,
        }
    }
    fn wrap(v: Arc<[Self]>) -> Storage {
        Storage::F32(v)
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn buffer(storage: &Storage) -> Option<&Arc<[Self]>> {
        match storage {
            Storage::F64(v) => Some(v),
            Storage::F32(_) => None,
        }
    }
    fn buffer_mut(storage: &mut Storage) -> Option<&mut Arc<[Self]>> {
        match storage {
            Storage::F64(v) => Some(v),
            Storage::F32(_) => None,
        }
    }
    fn wrap(v: Arc<[Self]>) -> Storage {
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

/// `n` zeros in a buffer a tensor can take over without a copy (see [`Buffer`]).
pub(crate) fn zeros<T: Element>(n: usize) -> Buffer<T> {
    Buffer::zeroed(n)
}
