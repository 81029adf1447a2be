//! [`Buffer`]: state a module saves but does not train (BatchNorm's running statistics).

use descent_core::io::AnyTensor;
use descent_core::{Error, IntTensor, Result, Tensor};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A tensor a module keeps and saves with its weights but does not train, as PyTorch's
/// `register_buffer`: BatchNorm's `running_mean`, `running_var` (float) and
/// `num_batches_tracked` (integer).
///
/// A training forward updates it through `&self` (behind a lock), so a model stays `Send + Sync`
/// and eval forwards of one shared `&model` run on several threads. Its shape and kind (float or
/// integer, and the float's dtype) are fixed at construction; [`Buffer::set`] refuses another.
///
/// ```
/// use descent_core::Tensor;
/// use descent_nn::Buffer;
/// let running_mean = Buffer::float(Tensor::zeros([3]));
/// running_mean.set(Tensor::ones([3]).into()).unwrap();
/// assert_eq!(running_mean.tensor().to_vec::<f32>(), [1.0; 3]);
/// assert!(running_mean.set(Tensor::ones([4]).into()).is_err());
/// ```
#[derive(Debug)]
pub struct Buffer {
    value: RwLock<AnyTensor>,
}

impl Buffer {
    /// A float buffer.
    pub fn float(value: Tensor) -> Buffer {
        Buffer {
            value: RwLock::new(AnyTensor::Float(value)),
        }
    }

    /// An integer buffer (a counter such as `num_batches_tracked`).
    pub fn int(value: IntTensor) -> Buffer {
        Buffer {
            value: RwLock::new(AnyTensor::Int(value)),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, AnyTensor> {
        // A panic while holding the lock cannot leave a half-written tensor: `set` swaps whole
        // values, so a poisoned lock still holds a consistent one.
        self.value.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, AnyTensor> {
        self.value.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The current value (a cheap clone: tensors share storage).
    pub fn get(&self) -> AnyTensor {
        self.read().clone()
    }

    /// The current value of a float buffer.
    ///
    /// # Panics
    /// If the buffer holds integers (a layer knows its own buffers' kinds).
    pub fn tensor(&self) -> Tensor {
        match &*self.read() {
            AnyTensor::Float(t) => t.clone(),
            AnyTensor::Int(_) => panic!("Buffer::tensor on an integer buffer"),
        }
    }

    /// The current value of an integer buffer.
    ///
    /// # Panics
    /// If the buffer holds floats.
    pub fn int_tensor(&self) -> IntTensor {
        match &*self.read() {
            AnyTensor::Int(t) => t.clone(),
            AnyTensor::Float(_) => panic!("Buffer::int_tensor on a float buffer"),
        }
    }

    /// The dimensions.
    pub fn shape(&self) -> Vec<usize> {
        self.read().shape().to_vec()
    }

    /// `F32`, `F64` or `I64`.
    pub fn dtype_name(&self) -> &'static str {
        self.read().dtype_name()
    }

    /// Replaces the value.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] if `value` differs in shape, or in kind or dtype
    /// (`F32`/`F64`/`I64`); the buffer is then unchanged.
    pub fn set(&self, value: AnyTensor) -> Result<()> {
        let mut current = self.write();
        if current.shape() != value.shape() || current.dtype_name() != value.dtype_name() {
            return Err(Error::ShapeMismatch {
                op: "Buffer::set",
                lhs: current.shape().into(),
                rhs: value.shape().into(),
                detail: format!(
                    "do not fit: the buffer is {} and the new value {}",
                    current.dtype_name(),
                    value.dtype_name()
                ),
            });
        }
        *current = value;
        Ok(())
    }
}

impl Clone for Buffer {
    fn clone(&self) -> Buffer {
        Buffer {
            value: RwLock::new(self.get()),
        }
    }
}
