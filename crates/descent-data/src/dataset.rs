//! The [`Dataset`] trait and the in-memory [`TensorDataset`].
//!
//! A dataset hands out samples by copying them into a slice the caller owns
//! ([`Dataset::copy_sample`]): the loader allocates one buffer per batch and every sample lands
//! in its row of it, so assembling a batch makes no tensor, no vector and no allocation per
//! sample, and rows can be filled in parallel. A sample is a fixed-shape block of `f32`
//! features ([`Dataset::sample_shape`]) and one `i64` class label.
//!
//! ```
//! use descent_core::{IntTensor, Tensor};
//! use descent_data::{Dataset, TensorDataset};
//! let features = Tensor::from_vec((0..6).map(|x| x as f32).collect::<Vec<_>>(), [3, 2]);
//! let data = TensorDataset::new(features, IntTensor::from(vec![1, 0, 1])).unwrap();
//! let mut row = [0.0f32; 2];
//! assert_eq!(data.copy_sample(2, &mut row), 1);
//! assert_eq!(row, [4.0, 5.0]);
//! assert_eq!((data.len(), data.sample_shape()), (3, &[2usize][..]));
//! ```

use descent_core::error::{Error, Result};
use descent_core::{DType, IntTensor, Tensor};
use std::sync::Arc;

/// A finite, indexable set of labelled samples of one shape.
///
/// Implementations must be cheap to read from several threads at once (the loader fills the rows
/// of a batch in parallel), and `copy_sample(i, ..)` must always write the same values for the
/// same `i`: the loader's results, and training that resumes from a checkpoint, rely on it.
pub trait Dataset: Send + Sync {
    /// The number of samples.
    fn len(&self) -> usize;

    /// Whether the dataset holds no sample.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one sample's features, as `[1, 28, 28]` for an MNIST image; a batch of `b`
    /// samples has shape `[b, ..sample_shape]`.
    fn sample_shape(&self) -> &[usize];

    /// The number of features of one sample: the product of [`Dataset::sample_shape`].
    fn sample_numel(&self) -> usize {
        self.sample_shape().iter().product()
    }

    /// Writes sample `index`'s features into `out` (row-major, `sample_numel()` values) and
    /// returns its label.
    ///
    /// # Panics
    /// If `index >= len()` or `out.len() != sample_numel()`: both are the caller's bug, not the
    /// data's (the loader never does either).
    fn copy_sample(&self, index: usize, out: &mut [f32]) -> i64;

    /// Sample `index` as a tensor of shape `sample_shape()` and its label; a convenience for
    /// inspecting data (batches go through [`Dataset::copy_sample`]).
    ///
    /// # Panics
    /// If `index >= len()`.
    fn get(&self, index: usize) -> (Tensor, i64) {
        let mut out = vec![0.0f32; self.sample_numel()];
        let label = self.copy_sample(index, &mut out);
        (Tensor::from_vec(out, self.sample_shape()), label)
    }
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn sample_shape(&self) -> &[usize] {
        (**self).sample_shape()
    }
    fn copy_sample(&self, index: usize, out: &mut [f32]) -> i64 {
        (**self).copy_sample(index, out)
    }
}

impl<D: Dataset + ?Sized> Dataset for &D {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn sample_shape(&self) -> &[usize] {
        (**self).sample_shape()
    }
    fn copy_sample(&self, index: usize, out: &mut [f32]) -> i64 {
        (**self).copy_sample(index, out)
    }
}

/// Samples held in memory: an `f32` features tensor `[N, ..]` and an `i64` labels tensor `[N]`.
///
/// **PyTorch equivalent**: `torch.utils.data.TensorDataset(features, labels)`.
/// Cloning is cheap (the tensors share their buffers); the buffers are contiguous, so a sample
/// is one `memcpy`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDataset {
    features: Tensor,
    labels: IntTensor,
    sample_shape: Vec<usize>,
    sample_numel: usize,
}

impl TensorDataset {
    /// The dataset of `features` (`[N, ..]`, at least 1-D) and `labels` (`[N]`); an `f64`
    /// features tensor is converted to `f32`, and non-contiguous tensors are copied once.
    ///
    /// # Errors
    /// If `features` is 0-dimensional or `labels` is not of shape `[N]`.
    pub fn new(features: Tensor, labels: IntTensor) -> Result<TensorDataset> {
        if features.rank() == 0 {
            return Err(Error::InvalidArgument {
                op: "TensorDataset::new",
                message: "features must have a leading sample dimension [N, ..], got a 0-d \
                          tensor"
                    .to_string(),
            });
        }
        let n = features.shape()[0];
        if labels.shape() != [n] {
            return Err(Error::ShapeMismatch {
                op: "TensorDataset::new",
                lhs: features.shape().into(),
                rhs: labels.shape().into(),
                detail: format!("do not fit: {n} samples need labels of shape [{n}]"),
            });
        }
        let features = if features.dtype() == DType::F32 {
            features.contiguous()
        } else {
            features.to_dtype(DType::F32).contiguous()
        };
        let sample_shape = features.shape()[1..].to_vec();
        let sample_numel = sample_shape.iter().product();
        Ok(TensorDataset {
            features,
            labels: labels.contiguous(),
            sample_shape,
            sample_numel,
        })
    }

    /// The features, `[N, ..sample_shape]`, `f32`, contiguous.
    pub fn features(&self) -> &Tensor {
        &self.features
    }

    /// The labels, `[N]`.
    pub fn labels(&self) -> &IntTensor {
        &self.labels
    }

    /// The features as one row-major slice (`len() * sample_numel()` values).
    pub fn feature_slice(&self) -> &[f32] {
        self.features
            .as_slice::<f32>()
            .expect("TensorDataset::new made the features contiguous f32")
    }

    /// The labels as a slice.
    pub fn label_slice(&self) -> &[i64] {
        self.labels
            .as_slice()
            .expect("TensorDataset::new made the labels contiguous")
    }

    /// How many samples carry each label `0..=max label` (negative labels are not counted).
    ///
    /// ```
    /// let d = descent_data::digits();
    /// assert_eq!(d.label_counts()[0], 178);
    /// ```
    pub fn label_counts(&self) -> Vec<usize> {
        let mut counts = Vec::new();
        for &l in self.label_slice() {
            if let Ok(l) = usize::try_from(l) {
                if l >= counts.len() {
                    counts.resize(l + 1, 0);
                }
                counts[l] += 1;
            }
        }
        counts
    }

    /// A new dataset of the samples at `indices`, in that order (repeats allowed).
    ///
    /// # Errors
    /// If an index is not below `len()`.
    pub fn subset(&self, indices: &[usize]) -> Result<TensorDataset> {
        let n = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::IndexOutOfRange {
                op: "TensorDataset::subset",
                index: i64::try_from(bad).unwrap_or(i64::MAX),
                size: n,
                axis: 0,
            });
        }
        let (src, m) = (self.feature_slice(), self.sample_numel);
        let mut features = Vec::with_capacity(indices.len() * m);
        for &i in indices {
            features.extend_from_slice(&src[i * m..(i + 1) * m]);
        }
        let labels: Vec<i64> = indices.iter().map(|&i| self.label_slice()[i]).collect();
        let mut shape = vec![indices.len()];
        shape.extend_from_slice(&self.sample_shape);
        TensorDataset::new(Tensor::from_vec(features, shape), IntTensor::from(labels))
    }

    /// The same samples with features replaced by `features` (same shape): what a transform of
    /// the whole set, such as [`Normalizer::apply`](crate::Normalizer::apply), returns.
    pub(crate) fn with_features(&self, features: Vec<f32>) -> TensorDataset {
        TensorDataset {
            features: Tensor::from_vec(features, self.features.shape()),
            ..self.clone()
        }
    }
}

impl Dataset for TensorDataset {
    fn len(&self) -> usize {
        self.features.shape()[0]
    }

    fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    fn sample_numel(&self) -> usize {
        self.sample_numel
    }

    fn copy_sample(&self, index: usize, out: &mut [f32]) -> i64 {
        let m = self.sample_numel;
        out.copy_from_slice(&self.feature_slice()[index * m..(index + 1) * m]);
        self.label_slice()[index]
    }
}
