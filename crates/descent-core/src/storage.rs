//! Reference-counted element buffers, shared between views and copied on write.
//!
//! The buffers are `descent_kernels::buffer::SharedBuffer`s: one allocation each, recycled through
//! the kernels' bounded size-class pool when the last view drops.

use descent_kernels::buffer::SharedBuffer;

/// A tensor's buffer. Views share it; mutation copies it first if it is shared.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub enum Storage {
    /// `f32` elements.
    F32(SharedBuffer<f32>),
    /// `f64` elements.
    F64(SharedBuffer<f64>),
}

impl Storage {
    /// Elements in the buffer (not necessarily in the tensor viewing it).
    pub fn len(&self) -> usize {
        match self {
            Storage::F32(v) => v.len(),
            Storage::F64(v) => v.len(),
        }
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether two storages are the same buffer.
    pub fn same_buffer(&self, other: &Storage) -> bool {
        match (self, other) {
            (Storage::F32(a), Storage::F32(b)) => SharedBuffer::ptr_eq(a, b),
            (Storage::F64(a), Storage::F64(b)) => SharedBuffer::ptr_eq(a, b),
            _ => false,
        }
    }
}
