//! [`IntTensor`]: a tensor of `i64`, for indices and class labels.
//!
//! **PyTorch equivalent**: a `torch.long` tensor. Indices and class targets are integers, as in
//! PyTorch: [`Tensor::argmax`] returns an `IntTensor`, and [`Tensor::gather`],
//! [`Tensor::index_select`], [`Tensor::scatter_add`] and the losses take one. A float index would
//! silently pick the wrong row above 2^24 (`f32`); an `i64` is exact, and the type system keeps
//! float tensors out of every index argument.
//!
//! An `IntTensor` has the layout machinery of a [`Tensor`] (views share the buffer: reshape,
//! permute, transpose, narrow, slice, broadcast, squeeze, unsqueeze, flatten) but no arithmetic
//! beyond what labels need: comparison ([`IntTensor::eq`]), a sum, one-hot encoding and
//! conversion to a float [`Tensor`]. It can be a module buffer (PyTorch's BatchNorm keeps
//! `num_batches_tracked` as a 0-d `int64`) and is stored in weight files as `I64`.
//!
//! ```
//! use descent_core::{IntTensor, Tensor};
//! let labels = IntTensor::from(&[2usize, 0, 1][..]);
//! let logits = Tensor::from_vec(vec![0.1f32, 0.2, 0.7, 0.9, 0.05, 0.05, 0.2, 0.6, 0.2], [3, 3]);
//! let predicted = logits.argmax(1, false);
//! assert_eq!(predicted.to_vec(), vec![2, 0, 1]);
//! assert_eq!(predicted.eq(&labels).sum_all(), 3); // all three right
//! ```

use crate::dtype::{DType, with_dtype};
use crate::error::{Error, Result, invalid, or_panic};
use crate::shape::{Layout, Shape, broadcast_shapes, broadcast_strides};
use crate::tensor::Tensor;
use descent_kernels::Float;
use descent_kernels::scatter::strided_offsets;
use std::fmt;
use std::sync::Arc;

/// An n-dimensional array of `i64`: indices, class labels, counters.
///
/// Cloning is cheap: clones and views share the buffer; [`IntTensor::slice_mut`] copies a shared
/// buffer before writing.
#[derive(Clone)]
pub struct IntTensor {
    data: Arc<[i64]>,
    pub(crate) layout: Layout,
}

impl IntTensor {
    /// A tensor of `shape` holding `data` in row-major order.
    ///
    /// # Errors
    /// If `data.len()` is not the element count of `shape`.
    pub fn try_from_vec(data: Vec<i64>, shape: impl AsRef<[usize]>) -> Result<IntTensor> {
        let shape = shape.as_ref();
        let numel = crate::shape::checked_numel("from_vec", shape)?;
        if data.len() != numel {
            return Err(Error::ElementCount {
                op: "from_vec",
                got: data.len(),
                shape: shape.into(),
            });
        }
        Ok(IntTensor {
            data: Arc::from(data),
            layout: Layout::contiguous(shape),
        })
    }

    /// A tensor of `shape` holding `data` in row-major order.
    ///
    /// ```
    /// let t = descent_core::IntTensor::from_vec(vec![1, 2, 3, 4, 5, 6], [2, 3]);
    /// assert_eq!(t.t().to_vec(), vec![1, 4, 2, 5, 3, 6]);
    /// ```
    ///
    /// # Panics
    /// If `data.len()` is not the element count of `shape`.
    #[track_caller]
    pub fn from_vec(data: Vec<i64>, shape: impl AsRef<[usize]>) -> IntTensor {
        or_panic(IntTensor::try_from_vec(data, shape))
    }

    /// A tensor of `shape` holding the indices `data` (each must fit in an `i64`).
    ///
    /// # Errors
    /// If `data.len()` is not the element count of `shape`, or an index exceeds `i64::MAX`.
    pub fn try_from_indices(data: &[usize], shape: impl AsRef<[usize]>) -> Result<IntTensor> {
        let values = data
            .iter()
            .map(|&i| {
                i64::try_from(i).map_err(|_| {
                    invalid("from_indices", format!("index {i} does not fit in an i64"))
                })
            })
            .collect::<Result<Vec<i64>>>()?;
        IntTensor::try_from_vec(values, shape)
    }

    /// A tensor of `shape` holding the indices `data`.
    ///
    /// # Panics
    /// As [`IntTensor::try_from_indices`] errs.
    #[track_caller]
    pub fn from_indices(data: &[usize], shape: impl AsRef<[usize]>) -> IntTensor {
        or_panic(IntTensor::try_from_indices(data, shape))
    }

    /// A tensor of `shape` filled with `value`.
    ///
    /// # Errors
    /// If the element count overflows or the memory cannot be allocated (an error naming the
    /// shape and the bytes, never an abort).
    pub fn try_full(shape: impl AsRef<[usize]>, value: i64) -> Result<IntTensor> {
        let shape = shape.as_ref();
        let n = crate::shape::checked_numel("IntTensor::full", shape)?;
        let mut data = Vec::new();
        data.try_reserve_exact(n)
            .map_err(|_| Error::InvalidArgument {
                op: "IntTensor::full",
                message: format!(
                    "cannot allocate {} bytes for an integer tensor of shape {shape:?}",
                    n.saturating_mul(8)
                ),
            })?;
        data.resize(n, value);
        Ok(IntTensor {
            data: Arc::from(data),
            layout: Layout::contiguous(shape),
        })
    }

    /// A tensor of `shape` filled with `value`.
    ///
    /// # Panics
    /// As [`IntTensor::try_full`] errs, naming the shape and the bytes.
    #[track_caller]
    pub fn full(shape: impl AsRef<[usize]>, value: i64) -> IntTensor {
        or_panic(IntTensor::try_full(shape, value))
    }

    /// A tensor of zeros.
    pub fn zeros(shape: impl AsRef<[usize]>) -> IntTensor {
        IntTensor::full(shape, 0)
    }

    /// A 0-dimensional tensor holding `value` (as BatchNorm's `num_batches_tracked`).
    pub fn scalar(value: i64) -> IntTensor {
        IntTensor::full([], value)
    }

    /// `0, 1, …, n - 1` (1-D).
    pub fn arange(n: usize) -> IntTensor {
        IntTensor {
            data: (0..n as i64).collect(),
            layout: Layout::contiguous(&[n]),
        }
    }

    pub(crate) fn with_layout(&self, layout: Layout) -> IntTensor {
        IntTensor {
            data: self.data.clone(),
            layout,
        }
    }

    /// Bytes of the elements this tensor views.
    pub fn nbytes(&self) -> usize {
        self.numel() * std::mem::size_of::<i64>()
    }

    /// Whether two tensors view the same buffer.
    pub fn shares_storage(&self, other: &IntTensor) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }

    /// The elements in row-major order, borrowed if contiguous.
    fn elements(&self) -> std::borrow::Cow<'_, [i64]> {
        match self.as_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(
                strided_offsets(self.shape(), self.strides(), self.layout.offset)
                    .into_iter()
                    .map(|o| self.data[o])
                    .collect(),
            ),
        }
    }

    /// The same elements in a contiguous buffer of their own: `self` when it already is one.
    pub fn contiguous(&self) -> IntTensor {
        if self.is_contiguous() && self.layout.offset == 0 && self.data.len() == self.numel() {
            return self.clone();
        }
        IntTensor {
            data: Arc::from(self.elements().into_owned()),
            layout: Layout::contiguous(self.shape()),
        }
    }

    /// The elements in row-major order.
    pub fn to_vec(&self) -> Vec<i64> {
        self.elements().into_owned()
    }

    /// The elements as a row-major slice without copying, if the layout is contiguous.
    pub fn as_slice(&self) -> Option<&[i64]> {
        self.is_contiguous().then(|| {
            let o = self.layout.offset;
            &self.data[o..o + self.numel()]
        })
    }

    /// The elements as a mutable row-major slice, copying first if the buffer is shared or the
    /// layout is not contiguous (copy on write).
    ///
    /// ```
    /// let mut steps = descent_core::IntTensor::scalar(0);
    /// steps.slice_mut()[0] += 1;
    /// assert_eq!(steps.item(), 1);
    /// ```
    pub fn slice_mut(&mut self) -> &mut [i64] {
        if !(self.is_contiguous() && self.layout.offset == 0 && self.data.len() == self.numel()) {
            *self = IntTensor {
                data: Arc::from(self.elements().into_owned()),
                layout: Layout::contiguous(self.shape()),
            };
        }
        Arc::make_mut(&mut self.data)
    }

    /// The single element of a tensor with one element.
    ///
    /// # Errors
    /// If the tensor does not hold exactly one element.
    pub fn try_item(&self) -> Result<i64> {
        self.check_single_element()?;
        Ok(self.elements()[0])
    }

    /// The single element of a tensor with one element.
    ///
    /// # Panics
    /// If the tensor does not hold exactly one element.
    #[track_caller]
    pub fn item(&self) -> i64 {
        or_panic(self.try_item())
    }

    /// The values converted to a float tensor of element type `dtype` (as `labels.float()`).
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        with_dtype!(dtype, T => {
            let v: Vec<T> = self.elements().iter().map(|&i| T::from_f64(i as f64)).collect();
            Tensor::from_parts(v, self.shape())
        })
    }

    /// The sum of all elements (wrapping on overflow is impossible for counts of a tensor's
    /// elements; larger sums saturate).
    pub fn sum_all(&self) -> i64 {
        self.elements()
            .iter()
            .fold(0i64, |acc, &v| acc.saturating_add(v))
    }

    /// `1` where `self == other`, else `0`, with broadcasting (as `torch.eq`): the accuracy of
    /// predicted labels is `predicted.eq(&labels).sum_all()`.
    ///
    /// # Errors
    /// If the shapes do not broadcast.
    pub fn try_eq(&self, other: &IntTensor) -> Result<IntTensor> {
        let shape = broadcast_shapes("eq", self.shape(), other.shape())?;
        let read = |t: &IntTensor| {
            let strides = broadcast_strides(t.shape(), t.strides(), &shape);
            strided_offsets(&shape, &strides, t.layout.offset)
        };
        let (a, b) = (read(self), read(other));
        let out: Vec<i64> = a
            .iter()
            .zip(&b)
            .map(|(&i, &j)| i64::from(self.data[i] == other.data[j]))
            .collect();
        Ok(IntTensor {
            data: Arc::from(out),
            layout: Layout::contiguous(&shape),
        })
    }

    /// Elementwise equality with broadcasting; see [`IntTensor::try_eq`].
    ///
    /// # Panics
    /// If the shapes do not broadcast.
    #[track_caller]
    pub fn eq(&self, other: &IntTensor) -> IntTensor {
        or_panic(self.try_eq(other))
    }

    /// One-hot encoding of class labels in `0..num_classes`: shape `self.shape + [num_classes]`
    /// (as `F.one_hot`, also `int64`; convert with [`IntTensor::to_dtype`]).
    ///
    /// ```
    /// use descent_core::{DType, IntTensor};
    /// let y = IntTensor::from(&[2usize, 0][..]).one_hot(3);
    /// assert_eq!(y.to_vec(), vec![0, 0, 1, 1, 0, 0]);
    /// assert_eq!(y.to_dtype(DType::F32).shape(), &[2, 3]);
    /// ```
    ///
    /// # Errors
    /// If a label is outside `0..num_classes`.
    pub fn try_one_hot(&self, num_classes: usize) -> Result<IntTensor> {
        let idx = self.to_indices("one_hot", num_classes, self.rank())?;
        let mut shape = self.dims();
        shape.push(num_classes);
        let mut out = vec![0i64; idx.len() * num_classes];
        for (row, &i) in idx.iter().enumerate() {
            out[row * num_classes + i] = 1;
        }
        Ok(IntTensor {
            data: Arc::from(out),
            layout: Layout::contiguous(&shape),
        })
    }

    /// One-hot encoding of class labels; see [`IntTensor::try_one_hot`].
    ///
    /// # Panics
    /// If a label is outside `0..num_classes`.
    #[track_caller]
    pub fn one_hot(&self, num_classes: usize) -> IntTensor {
        or_panic(self.try_one_hot(num_classes))
    }

    /// The elements as positions into a dimension of `size` (axis `axis` of the indexed tensor),
    /// each checked to lie in `0..size`: an index is never read out of bounds.
    pub(crate) fn to_indices(
        &self,
        op: &'static str,
        size: usize,
        axis: usize,
    ) -> Result<Vec<usize>> {
        self.elements()
            .iter()
            .map(|&v| match usize::try_from(v) {
                Ok(i) if i < size => Ok(i),
                _ => Err(Error::IndexOutOfRange {
                    op,
                    index: v,
                    size,
                    axis,
                }),
            })
            .collect()
    }

    /// The elements as class targets for a loss over `classes` classes, into `targets` (cleared
    /// first; its storage is reused): each in `0..classes`, or equal to `ignore` and then
    /// [`IGNORE`](descent_kernels::cross_entropy::IGNORE).
    pub(crate) fn to_class_targets(
        &self,
        op: &'static str,
        classes: usize,
        axis: usize,
        ignore: Option<i64>,
        targets: &mut Vec<usize>,
    ) -> Result<()> {
        let elements = self.elements();
        targets.clear();
        targets.reserve(elements.len());
        for &v in elements.iter() {
            targets.push(match usize::try_from(v) {
                _ if Some(v) == ignore => descent_kernels::cross_entropy::IGNORE,
                Ok(i) if i < classes => i,
                _ => {
                    return Err(Error::IndexOutOfRange {
                        op,
                        index: v,
                        size: classes,
                        axis,
                    });
                }
            });
        }
        Ok(())
    }

    /// Checks that `self` holds one class label per sample of `input`: for `input` of shape
    /// `[N, C, d1, ...]` the labels have shape `[N, d1, ...]` (`[N]` for `[N, C]`, and `[]` for a
    /// single sample of shape `[C]`), as PyTorch's `cross_entropy` and `nll_loss`. Returns the
    /// number of classes `C`.
    ///
    /// # Errors
    /// If the labels' shape is not the expected one; the message names both shapes and the
    /// expected one.
    pub fn check_labels_for(&self, op: &'static str, input: &[usize]) -> Result<usize> {
        let (expected, classes): (Shape, usize) = match input.len() {
            0 => {
                return Err(invalid(
                    op,
                    "input is 0-d; expected [C] or [N, C, ...] class scores".to_string(),
                ));
            }
            1 => (Shape::new(), input[0]),
            _ => (
                std::iter::once(input[0])
                    .chain(input[2..].iter().copied())
                    .collect(),
                input[1],
            ),
        };
        if self.shape() != expected.as_slice() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: input.into(),
                rhs: self.shape().into(),
                detail: format!(
                    "do not fit: class labels for input {input:?} must have shape {:?} (one \
                     integer class per sample), got {:?}",
                    expected.as_slice(),
                    self.shape()
                ),
            });
        }
        Ok(classes)
    }
}

impl From<&[usize]> for IntTensor {
    /// A 1-D tensor of indices.
    ///
    /// # Panics
    /// If an index exceeds `i64::MAX` (not possible on 64-bit targets for real indices).
    fn from(indices: &[usize]) -> IntTensor {
        IntTensor::from_indices(indices, [indices.len()])
    }
}

impl From<Vec<i64>> for IntTensor {
    /// A 1-D tensor.
    fn from(values: Vec<i64>) -> IntTensor {
        let n = values.len();
        IntTensor::from_vec(values, [n])
    }
}

impl From<&IntTensor> for IntTensor {
    /// A cheap clone (the buffer is shared).
    fn from(t: &IntTensor) -> IntTensor {
        t.clone()
    }
}

impl PartialEq for IntTensor {
    /// Same shape and same elements (whatever the layouts).
    fn eq(&self, other: &IntTensor) -> bool {
        self.shape() == other.shape() && self.elements() == other.elements()
    }
}

impl fmt::Debug for IntTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = format_args!("IntTensor[{:?}, I64]", self.shape());
        crate::tensor::fmt_elements(f, head, &self.elements())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_share_the_buffer() {
        let t = IntTensor::from_vec((0..6).collect(), [2, 3]);
        let v = t.t();
        assert!(v.shares_storage(&t));
        assert_eq!(v.to_vec(), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(t.narrow(1, 1, 2).to_vec(), vec![1, 2, 4, 5]);
        assert_eq!(t.unsqueeze(0).shape(), &[1, 2, 3]);
        assert_eq!(t.reshape([-1]).shape(), &[6]);
        assert_eq!(v.contiguous().as_slice(), Some(&[0, 3, 1, 4, 2, 5][..]));
    }

    #[test]
    fn indices_are_checked() {
        let t = IntTensor::from_vec(vec![0, 3, -1], [3]);
        let e = t.to_indices("gather", 3, 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "gather: index 3 is out of range for axis 1 of size 3 (indices must be in 0..3)"
        );
        assert!(
            IntTensor::from_vec(vec![-1], [1])
                .to_indices("x", 3, 0)
                .is_err()
        );
        // 2^24 + 1 is exact in an i64 (an f32 index would read row 2^24).
        let big = IntTensor::from_vec(vec![16_777_217], [1]);
        assert_eq!(big.to_indices("x", 1 << 25, 0).unwrap(), vec![16_777_217]);
    }

    #[test]
    fn labels_of_the_wrong_shape_name_the_expected_one() {
        let labels = IntTensor::zeros([1, 32]);
        let e = labels
            .check_labels_for("cross_entropy", &[32, 10])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cross_entropy: [32, 10] and [1, 32] do not fit: class labels for input [32, 10] must \
             have shape [32] (one integer class per sample), got [1, 32]"
        );
        assert_eq!(
            IntTensor::zeros([32])
                .check_labels_for("x", &[32, 10])
                .unwrap(),
            10
        );
        assert_eq!(
            IntTensor::zeros([4, 5, 6])
                .check_labels_for("x", &[4, 3, 5, 6])
                .unwrap(),
            3
        );
        assert_eq!(IntTensor::scalar(1).check_labels_for("x", &[7]).unwrap(), 7);
    }

    #[test]
    fn copy_on_write() {
        let a = IntTensor::arange(3);
        let mut b = a.clone();
        b.slice_mut()[0] = 9;
        assert_eq!(a.to_vec(), vec![0, 1, 2]);
        assert_eq!(b.to_vec(), vec![9, 1, 2]);
    }
}
