//! Standardization: subtract a mean and divide by a standard deviation, per feature or per
//! channel, with statistics computed on a training set and applied to any set.
//!
//! **PyTorch equivalent**: `torchvision.transforms.Normalize(mean, std)` (per channel), or
//! scikit-learn's `StandardScaler` (per feature), with the population standard deviation
//! (divisor `N`).
//!
//! A constant feature (or channel) has standard deviation 0: it is centred (becomes exactly 0)
//! and not scaled, so no NaN or infinity ever appears. Constancy is decided exactly (the
//! smallest and largest values are equal), not by a threshold, so the rounding of the mean
//! cannot turn a constant feature into noise of size 1.
//!
//! ```
//! use descent_core::{IntTensor, Tensor};
//! use descent_data::{Normalizer, TensorDataset};
//! // Two features: the first varies, the second is constant.
//! let x = Tensor::from_vec(vec![1.0f32, 5.0, 3.0, 5.0], [2, 2]);
//! let train = TensorDataset::new(x, IntTensor::from(vec![0, 1])).unwrap();
//! let norm = Normalizer::per_feature(&train);
//! assert_eq!(norm.mean(), &[2.0, 5.0]);
//! assert_eq!(norm.std(), &[1.0, 0.0]);
//! let z = norm.apply(&train).unwrap();
//! assert_eq!(z.feature_slice(), &[-1.0, 0.0, 1.0, 0.0]);
//! ```

use crate::dataset::{Dataset, TensorDataset};
use descent_core::error::{Error, Result};
use rayon::prelude::*;

/// Means and standard deviations, per feature or per channel; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Normalizer {
    mean: Vec<f32>,
    std: Vec<f32>,
    /// Consecutive features sharing one statistic: 1 per feature, `H * W` per channel.
    inner: usize,
}

impl Normalizer {
    /// Statistics of each feature (each position of a sample) over the samples of `data`.
    pub fn per_feature(data: &TensorDataset) -> Normalizer {
        fit(data, 1)
    }

    /// Statistics of each channel (axis 0 of a sample `[C, ..]`, as `[1, 28, 28]`) over the
    /// samples of `data` and the positions of the channel.
    ///
    /// # Errors
    /// If samples are not at least 1-D or have no channel.
    pub fn per_channel(data: &TensorDataset) -> Result<Normalizer> {
        let shape = data.sample_shape();
        match shape.first() {
            Some(&c) if c > 0 && data.sample_numel() > 0 => {
                Ok(fit(data, shape[1..].iter().product()))
            }
            _ => Err(Error::InvalidArgument {
                op: "Normalizer::per_channel",
                message: format!("samples of shape {shape:?} have no channel axis or no features"),
            }),
        }
    }

    /// Given statistics, one per channel (as MNIST's customary mean 0.1307 and std 0.3081).
    /// A standard deviation of 0 means "centre only".
    ///
    /// # Errors
    /// If the lengths differ or are 0, or a value is not finite or a std is negative.
    pub fn from_channel_stats(mean: Vec<f32>, std: Vec<f32>) -> Result<Normalizer> {
        if mean.len() != std.len()
            || mean.is_empty()
            || mean.iter().chain(&std).any(|v| !v.is_finite())
            || std.iter().any(|&s| s < 0.0)
        {
            return Err(Error::InvalidArgument {
                op: "Normalizer::from_channel_stats",
                message: format!(
                    "mean {mean:?} and std {std:?} must be of one non-zero length, finite, with \
                     std >= 0"
                ),
            });
        }
        Ok(Normalizer {
            mean,
            std,
            inner: 0,
        })
    }

    /// The means.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The standard deviations (0 for a constant feature or channel).
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// Features per statistic for samples of `numel` features, or an error.
    fn inner_for(&self, numel: usize) -> Result<usize> {
        let k = self.mean.len();
        let inner = match self.inner {
            _ if k == 0 => usize::from(numel == 0),
            0 if numel.is_multiple_of(k) => numel / k,
            0 => 0,
            inner => inner,
        };
        if inner == 0 || inner * k != numel {
            return Err(Error::InvalidArgument {
                op: "Normalizer::apply",
                message: format!(
                    "samples of {numel} features do not fit statistics of {k} values \
                     ({} features each)",
                    self.inner
                ),
            });
        }
        Ok(inner)
    }

    /// Normalizes one sample in place.
    ///
    /// # Errors
    /// If the sample's length does not fit the statistics.
    pub fn normalize(&self, sample: &mut [f32]) -> Result<()> {
        let inner = self.inner_for(sample.len())?;
        self.normalize_with(sample, inner);
        Ok(())
    }

    fn normalize_with(&self, sample: &mut [f32], inner: usize) {
        for ((run, &m), &s) in sample
            .chunks_exact_mut(inner)
            .zip(&self.mean)
            .zip(&self.std)
        {
            let s = if s > 0.0 { s } else { 1.0 };
            for x in run {
                *x = (*x - m) / s;
            }
        }
    }

    /// `data` with every sample normalized.
    ///
    /// # Errors
    /// If `data`'s samples do not fit the statistics.
    pub fn apply(&self, data: &TensorDataset) -> Result<TensorDataset> {
        let numel = data.sample_numel();
        let inner = self.inner_for(numel)?;
        let mut out = data.feature_slice().to_vec();
        if numel > 0 {
            out.par_chunks_mut(numel)
                .with_min_len(256)
                .for_each(|s| self.normalize_with(s, inner));
        }
        Ok(data.with_features(out))
    }
}

/// Two-pass statistics in `f64` over runs of `inner` consecutive features.
fn fit(data: &TensorDataset, inner: usize) -> Normalizer {
    let numel = data.sample_numel();
    let k = numel.checked_div(inner).unwrap_or(0);
    let x = data.feature_slice();
    let n = (data.len() * inner) as f64;
    let mut sum = vec![0.0f64; k];
    let mut min = vec![f32::INFINITY; k];
    let mut max = vec![f32::NEG_INFINITY; k];
    if numel > 0 {
        for sample in x.chunks_exact(numel) {
            for (j, run) in sample.chunks_exact(inner).enumerate() {
                for &v in run {
                    sum[j] += f64::from(v);
                    min[j] = min[j].min(v);
                    max[j] = max[j].max(v);
                }
            }
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1.0)).collect();
    let mut sq = vec![0.0f64; k];
    if numel > 0 {
        for sample in x.chunks_exact(numel) {
            for (j, run) in sample.chunks_exact(inner).enumerate() {
                for &v in run {
                    let d = f64::from(v) - mean[j];
                    sq[j] += d * d;
                }
            }
        }
    }
    // Not `min < max`: no value (min > max, an empty set) or all values equal.
    let constant = |j: usize| min[j] >= max[j];
    Normalizer {
        mean: (0..k)
            .map(|j| {
                if constant(j) && min[j].is_finite() {
                    min[j]
                } else if constant(j) {
                    0.0
                } else {
                    mean[j] as f32
                }
            })
            .collect(),
        std: (0..k)
            .map(|j| {
                if constant(j) {
                    0.0
                } else {
                    (sq[j] / n).sqrt() as f32
                }
            })
            .collect(),
        inner,
    }
}
