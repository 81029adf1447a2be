//! The `Tensor` value: a shared buffer and a layout. No op math lives here.

use crate::dtype::{DType, Element, with_dtype};
use crate::error::{Error, Result, invalid};
use crate::int_tensor::IntTensor;
use crate::shape::Layout;
use crate::storage::Storage;
use descent_kernels::Float;
use descent_kernels::buffer::{Buffer, SharedBuffer};
use descent_kernels::strided::{self, Strided};
use std::fmt;

/// An n-dimensional array of `f32` or `f64`.
///
/// Cloning is cheap: clones and views (reshape, transpose, slice, broadcast) share the buffer.
/// Ops never mutate their inputs; [`Tensor::slice_mut`] copies a shared buffer before writing.
///
/// ```
/// use descent_core::Tensor;
/// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
/// let b = &a + &a.t();
/// assert_eq!(b.to_vec_f32(), vec![2.0, 5.0, 5.0, 8.0]);
/// ```
#[derive(Clone)]
pub struct Tensor {
    pub(crate) storage: Storage,
    pub(crate) layout: Layout,
}

impl Tensor {
    /// Wraps a contiguous buffer. The caller has checked `data.len() == prod(shape)`.
    /// A [`Buffer`] is taken over as is; a `Vec` is copied into one allocation.
    pub(crate) fn from_parts<T: Element>(data: impl IntoShared<T>, shape: &[usize]) -> Tensor {
        let data = data.into_shared();
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        Tensor {
            storage: T::wrap(data),
            layout: Layout::contiguous(shape),
        }
    }

    /// A view of the same buffer with another layout.
    pub(crate) fn with_layout(&self, layout: Layout) -> Tensor {
        Tensor {
            storage: self.storage.clone(),
            layout,
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self.storage {
            Storage::F32(_) => DType::F32,
            Storage::F64(_) => DType::F64,
        }
    }

    /// Whether two tensors view the same buffer.
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        self.storage.same_buffer(&other.storage)
    }

    /// The whole buffer of element type `T`. Panics on a type mismatch: internal callers dispatch
    /// on the dtype first.
    pub(crate) fn buffer<T: Element>(&self) -> &[T] {
        T::buffer(&self.storage).expect("dtype dispatch matched the storage")
    }

    /// The strided operand the kernels take.
    pub(crate) fn strided<T: Element>(&self) -> Strided<'_, T> {
        Strided::new(self.buffer::<T>(), &self.layout.strides, self.layout.offset)
    }

    /// The elements as a contiguous slice if the layout is contiguous.
    pub(crate) fn contiguous_slice<T: Element>(&self) -> Option<&[T]> {
        self.is_contiguous().then(|| {
            let o = self.layout.offset;
            &self.buffer::<T>()[o..o + self.numel()]
        })
    }

    /// The elements in row-major order, borrowed if contiguous, else gathered.
    pub(crate) fn elements<T: Element>(&self) -> std::borrow::Cow<'_, [T]> {
        match self.contiguous_slice::<T>() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => {
                let mut out = vec![T::ZERO; self.numel()];
                strided::copy(self.shape(), self.strided::<T>(), &mut out);
                std::borrow::Cow::Owned(out)
            }
        }
    }

    /// A tensor with the same elements in row-major contiguous layout: the same buffer when it
    /// already is, else a copy.
    pub fn contiguous(&self) -> Tensor {
        if self.is_contiguous() && self.layout.offset == 0 && self.storage.len() == self.numel() {
            return self.clone();
        }
        with_dtype!(self.dtype(), T => {
            let mut out = crate::dtype::for_overwrite::<T>(self.numel());
            match self.contiguous_slice::<T>() {
                Some(x) => out.copy_from_slice(x),
                None => strided::copy(self.shape(), self.strided::<T>(), &mut out),
            }
            Tensor::from_parts(out, self.shape())
        })
    }

    /// The elements in row-major order as `T`, converting if the tensor holds the other type.
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        with_dtype!(self.dtype(), S => {
            let e = self.elements::<S>();
            e.iter().map(|&v| T::from_f64(v.to_f64())).collect()
        })
    }

    /// The elements in row-major order as `f32`.
    pub fn to_vec_f32(&self) -> Vec<f32> {
        self.to_vec::<f32>()
    }

    /// The elements in row-major order as `f64`.
    pub fn to_vec_f64(&self) -> Vec<f64> {
        self.to_vec::<f64>()
    }

    /// The single element of a tensor with one element, as `f64`.
    ///
    /// # Errors
    /// If the tensor does not hold exactly one element.
    pub fn try_item(&self) -> Result<f64> {
        self.check_single_element()?;
        // The one element sits at the offset whatever the strides (every index is 0).
        Ok(with_dtype!(self.dtype(), T => self.buffer::<T>()[self.layout.offset].to_f64()))
    }

    /// The single element of a tensor with one element, as `f64`.
    ///
    /// # Panics
    /// If the tensor does not hold exactly one element.
    #[track_caller]
    pub fn item(&self) -> f64 {
        crate::error::or_panic(self.try_item())
    }

    /// The tensor converted to another element type (a copy, or `self` if it already is).
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.clone();
        }
        with_dtype!(dtype, T => Tensor::from_parts(self.to_vec::<T>(), self.shape()))
    }

    /// The elements as a row-major slice, without copying: `Some` if the tensor holds `T` and is
    /// contiguous, `None` otherwise (use [`Tensor::to_vec`] or [`Tensor::contiguous`] then).
    ///
    /// ```
    /// use descent_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
    /// assert_eq!(x.as_slice::<f32>(), Some(&[1.0f32, 2.0, 3.0, 4.0][..]));
    /// assert_eq!(x.as_slice::<f64>(), None); // another element type
    /// assert_eq!(x.t().as_slice::<f32>(), None); // a transposed view
    /// ```
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        if T::DTYPE != self.dtype() {
            return None;
        }
        self.contiguous_slice::<T>()
    }

    /// The elements as a mutable row-major slice, copying first if the buffer is shared with
    /// another tensor or the layout is not contiguous (copy on write).
    ///
    /// # Errors
    /// If `T` is not the tensor's element type.
    pub fn slice_mut<T: Element>(&mut self) -> Result<&mut [T]> {
        if T::DTYPE != self.dtype() {
            return Err(Error::DTypeMismatch {
                op: "slice_mut",
                lhs: self.dtype(),
                rhs: T::DTYPE,
            });
        }
        if !(self.is_contiguous() && self.layout.offset == 0 && self.storage.len() == self.numel())
        {
            *self = self.contiguous();
        }
        let buf = T::buffer_mut(&mut self.storage).expect("dtype checked");
        Ok(SharedBuffer::make_mut(buf))
    }

    /// Bytes of the elements this tensor views (not of the whole shared buffer).
    pub fn nbytes(&self) -> usize {
        self.numel() * self.dtype().size()
    }

    /// Whether every element is finite (no NaN, no infinity).
    pub fn all_finite(&self) -> bool {
        self.first_non_finite().is_none()
    }

    /// `Some("NaN")` or `Some("inf")` for the first non-finite element, `None` if all are finite.
    pub(crate) fn first_non_finite(&self) -> Option<&'static str> {
        with_dtype!(self.dtype(), T => {
            let e = self.elements::<T>();
            e.iter().find(|v| !v.is_finite()).map(|v| if v.is_nan() { "NaN" } else { "inf" })
        })
    }
}

/// The layout accessors of a tensor type with a `layout: Layout` field ([`Tensor`] and
/// [`IntTensor`](crate::IntTensor)), written once.
macro_rules! layout_accessors {
    ($($T:ident),*) => {$(
        impl $T {
            /// The dimensions.
            pub fn shape(&self) -> &[usize] {
                &self.layout.shape
            }

            /// The dimensions as an owned [`Shape`](crate::Shape).
            pub fn dims(&self) -> crate::Shape {
                crate::Shape::from_slice(&self.layout.shape)
            }

            /// The strides, in elements.
            pub fn strides(&self) -> &[usize] {
                &self.layout.strides
            }

            /// The layout (shape, strides and offset into the buffer).
            pub fn layout(&self) -> &Layout {
                &self.layout
            }

            /// The number of dimensions.
            pub fn rank(&self) -> usize {
                self.layout.shape.len()
            }

            /// The number of elements.
            pub fn numel(&self) -> usize {
                self.layout.numel()
            }

            /// Whether the elements are row-major with no gaps, so `contiguous()` costs nothing.
            pub fn is_contiguous(&self) -> bool {
                self.layout.is_contiguous()
            }

            /// An error unless the tensor holds exactly one element (what `item` reads).
            pub(crate) fn check_single_element(&self) -> Result<()> {
                if self.numel() != 1 {
                    return Err(invalid(
                        "item",
                        format!(
                            "tensor of shape {:?} has {} elements, not 1",
                            self.shape(),
                            self.numel()
                        ),
                    ));
                }
                Ok(())
            }

            /// The size of dimension `axis` (negative counts from the end).
            ///
            /// # Errors
            /// If the axis is out of range.
            pub fn try_dim(&self, axis: isize) -> Result<usize> {
                Ok(self.shape()[crate::shape::normalize_axis("dim", axis, self.shape())?])
            }
        }
    )*};
}
layout_accessors!(Tensor, IntTensor);

crate::panicking::panicking! { Tensor, IntTensor:
    /// The size of dimension `axis` (negative counts from the end).
    dim = try_dim(axis: isize) -> usize;
}

/// What [`Tensor::from_parts`] takes: an element buffer that becomes a tensor's `SharedBuffer`.
pub(crate) trait IntoShared<T> {
    fn into_shared(self) -> SharedBuffer<T>;
}

impl<T: Element> IntoShared<T> for Buffer<T> {
    fn into_shared(self) -> SharedBuffer<T> {
        Buffer::into_shared(self)
    }
}

impl<T: Element> IntoShared<T> for Vec<T> {
    /// A copy into a pooled buffer.
    ///
    /// # Panics
    /// If the copy cannot be allocated.
    #[track_caller]
    fn into_shared(self) -> SharedBuffer<T> {
        Buffer::try_from_slice(&self)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_shared()
    }
}

impl From<&Tensor> for Tensor {
    /// A cheap clone (the buffer is shared), so APIs taking `impl Into<Tensor>` accept `&Tensor`.
    fn from(t: &Tensor) -> Tensor {
        t.clone()
    }
}

impl PartialEq for Tensor {
    /// Same shape, same element type and the same elements (whatever the layouts); NaN differs
    /// from itself, as for floats.
    fn eq(&self, other: &Tensor) -> bool {
        self.shape() == other.shape()
            && self.dtype() == other.dtype()
            && self.to_vec_f64() == other.to_vec_f64()
    }
}

/// Writes `head(e0, e1, …)` with the first 16 elements and a count of the rest: the `Debug` form
/// of [`Tensor`] and [`IntTensor`].
pub(crate) fn fmt_elements<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    head: fmt::Arguments<'_>,
    v: &[T],
) -> fmt::Result {
    const SHOW: usize = 16;
    write!(f, "{head}(")?;
    for (i, x) in v.iter().take(SHOW).enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{x}")?;
    }
    if v.len() > SHOW {
        write!(f, ", … {} more", v.len() - SHOW)?;
    }
    write!(f, ")")
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = format_args!("Tensor[{:?}, {:?}]", self.shape(), self.dtype());
        fmt_elements(f, head, &self.to_vec_f64())
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
