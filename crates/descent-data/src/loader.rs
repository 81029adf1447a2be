//! [`DataLoader`]: batches of a [`Dataset`], shuffled per epoch from a seed, assembled in
//! parallel, resumable at any batch.
//!
//! **PyTorch equivalent**: `torch.utils.data.DataLoader(dataset, batch_size, shuffle,
//! drop_last)` with a seeded generator, plus `torchvision`'s random translation.
//!
//! Stochastic gradient descent (batch size 1), mini-batches and full-batch gradient descent
//! ([`DataLoader::full_batch`]) are the same loader with another batch size.
//!
//! **Order.** Epoch `e` visits the samples in the order [`DataLoader::order`] gives: `0..N`
//! unshuffled, else the permutation drawn by Fisher-Yates from the stream `"shuffle/<e>"` of
//! [`Seeds::new(seed)`](descent_core::rng::Seeds): the same seed and epoch give the same order on
//! every machine, and each epoch has its own. Batch `k` holds positions `k*B..(k+1)*B` of that
//! order; the last batch is smaller unless `drop_last`.
//!
//! **Determinism.** The rows of a batch are filled in parallel (rayon), each by
//! [`Dataset::copy_sample`] and then the optional [`RandomShift`], whose offsets depend only on
//! `(seed, epoch, sample index)`: a batch is bit-identical whatever the thread count, and equal
//! to the serial one ([`DataLoader::parallel`]`(false)`).
//!
//! **Resuming.** A batch is a pure function of `(loader settings, epoch, position)`, so a
//! training run that stopped after `k` batches of epoch `e` resumes with
//! `loader.epoch(e).skip_batches(k)` and sees exactly the batches it would have seen; skipping
//! builds no batch. [`Epoch::position`] is the number to save.
//!
//! ```
//! use descent_data::{DataLoader, Dataset};
//! let loader = DataLoader::new(descent_data::digits(), 500).unwrap().shuffle(42);
//! let mut epoch = loader.epoch(0);
//! let first = epoch.next().unwrap();
//! assert_eq!(first.features.shape(), &[500, 1, 8, 8]);
//! assert_eq!(first.labels.shape(), &[500]);
//! // 1797 = 3 * 500 + 297: three full batches and a smaller last one.
//! assert_eq!(epoch.position(), 1);
//! assert_eq!(epoch.map(|b| b.len()).collect::<Vec<_>>(), vec![500, 500, 297]);
//! // Resume after the first batch: the same remaining batches.
//! let resumed: Vec<_> = loader.epoch(0).skip_batches(1).map(|b| b.indices).collect();
//! let again: Vec<_> = loader.epoch(0).skip(1).map(|b| b.indices).collect();
//! assert_eq!(resumed, again);
//! ```

use crate::augment::RandomShift;
use crate::dataset::Dataset;
use descent_core::error::{Error, Result};
use descent_core::rng::Seeds;
use descent_core::{IntTensor, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

/// Features copied per parallel task, at least: below this a task costs more to schedule than
/// its copy (one MNIST image is 784 values, so tasks take 11 images or more).
const MIN_VALUES_PER_TASK: usize = 8 * 1024;

/// Batches of a dataset; see the [module docs](self) for the order, determinism and resuming.
///
/// The loader owns its dataset through an `Arc` (a [`TensorDataset`](crate::TensorDataset) is
/// cheap to clone; wrap a large custom dataset in an `Arc` to share it). Cloning a loader is
/// cheap.
#[derive(Clone)]
pub struct DataLoader {
    dataset: Arc<dyn Dataset>,
    batch_size: usize,
    shuffle: Option<u64>,
    drop_last: bool,
    shift: Option<RandomShift>,
    parallel: bool,
    /// `(rank, world_size)`: this loader yields rank's share of every batch.
    shard: Option<(usize, usize)>,
}

impl std::fmt::Debug for DataLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataLoader")
            .field("len", &self.dataset.len())
            .field("sample_shape", &self.dataset.sample_shape())
            .field("batch_size", &self.batch_size)
            .field("shuffle", &self.shuffle)
            .field("drop_last", &self.drop_last)
            .field("shift", &self.shift)
            .field("parallel", &self.parallel)
            .field("shard", &self.shard)
            .finish()
    }
}

impl DataLoader {
    /// A loader of `dataset` in batches of `batch_size`, in order, keeping the last smaller batch,
    /// without augmentation, filling batches in parallel.
    ///
    /// # Errors
    /// If `batch_size` is 0.
    pub fn new(dataset: impl Dataset + 'static, batch_size: usize) -> Result<DataLoader> {
        DataLoader::from_arc(Arc::new(dataset), batch_size)
    }

    /// [`DataLoader::new`] for a dataset already shared through an `Arc`.
    ///
    /// # Errors
    /// If `batch_size` is 0.
    pub fn from_arc(dataset: Arc<dyn Dataset>, batch_size: usize) -> Result<DataLoader> {
        if batch_size == 0 {
            return Err(Error::InvalidArgument {
                op: "DataLoader::new",
                message: "batch_size must be at least 1".to_string(),
            });
        }
        Ok(DataLoader {
            dataset,
            batch_size,
            shuffle: None,
            drop_last: false,
            shift: None,
            parallel: true,
            shard: None,
        })
    }

    /// A loader whose one batch per epoch is the whole dataset (full-batch gradient descent).
    pub fn full_batch(dataset: impl Dataset + 'static) -> DataLoader {
        let batch_size = dataset.len().max(1);
        DataLoader::new(dataset, batch_size).expect("batch size is at least 1")
    }

    /// Shuffles the samples at every epoch, with the order drawn from `seed` and the epoch.
    pub fn shuffle(mut self, seed: u64) -> DataLoader {
        self.shuffle = Some(seed);
        self
    }

    /// Whether to drop the last batch of an epoch when it is smaller than the batch size.
    pub fn drop_last(mut self, drop_last: bool) -> DataLoader {
        self.drop_last = drop_last;
        self
    }

    /// Whether to fill a batch's rows in parallel (the default) or on the calling thread; the
    /// batches are the same bit for bit.
    pub fn parallel(mut self, parallel: bool) -> DataLoader {
        self.parallel = parallel;
        self
    }

    /// Moves every image by a random offset of up to `max_shift` pixels along height and width,
    /// drawn from `seed`, the epoch and the sample's index (see [`RandomShift`]); pass `0` to
    /// turn it off.
    ///
    /// # Errors
    /// If the samples are not at least 2-D (`[.., height, width]`).
    pub fn random_shift(mut self, max_shift: usize, seed: u64) -> Result<DataLoader> {
        if self.dataset.sample_shape().len() < 2 {
            return Err(Error::InvalidArgument {
                op: "DataLoader::random_shift",
                message: format!(
                    "samples must be images [.., height, width], got sample shape {:?}",
                    self.dataset.sample_shape()
                ),
            });
        }
        self.shift = (max_shift > 0).then_some(RandomShift { max_shift, seed });
        Ok(self)
    }

    /// This loader as process `rank` of `world_size` sees it in data-parallel training: every
    /// batch is the `rank`-th of `world_size` contiguous, near-equal parts of the batch the
    /// unsharded loader gives (the first `len % world_size` parts one sample longer), so the
    /// processes' shares of a batch are disjoint and together make up the whole batch, and
    /// every process runs the same number of batches per epoch. The batch size stays the
    /// global one; the order, augmentation and positions are the unsharded loader's, so a
    /// checkpoint's position means the same batch whatever the number of processes.
    ///
    /// **PyTorch equivalent**: `DistributedSampler(dataset, num_replicas, rank, shuffle, seed)`
    /// with `set_epoch`, except that PyTorch deals out the samples of the whole epoch (its
    /// batch size is per process) where this deals out each global batch: the same global
    /// batches as one process gives, hence the same training up to float summation order.
    ///
    /// ```
    /// use descent_data::DataLoader;
    /// let loader = DataLoader::new(descent_data::digits(), 10).unwrap().shuffle(1);
    /// let whole = loader.epoch(0).next().unwrap().indices;
    /// let parts: Vec<Vec<usize>> = (0..3)
    ///     .map(|r| loader.clone().shard(r, 3).unwrap().epoch(0).next().unwrap().indices)
    ///     .collect();
    /// assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 3, 3]);
    /// assert_eq!(parts.concat(), whole);
    /// ```
    ///
    /// # Errors
    /// If `world_size` is 0 or `rank` is not below it.
    pub fn shard(mut self, rank: usize, world_size: usize) -> Result<DataLoader> {
        if rank >= world_size {
            return Err(Error::InvalidArgument {
                op: "DataLoader::shard",
                message: format!("rank {rank} is not below the world size {world_size}"),
            });
        }
        self.shard = (world_size > 1).then_some((rank, world_size));
        Ok(self)
    }

    /// `(rank, world_size)` of a [sharded](DataLoader::shard) loader.
    pub fn sharding(&self) -> Option<(usize, usize)> {
        self.shard
    }

    /// The number of samples of batch `position` of an epoch before sharding (0 past the end).
    pub fn batch_len(&self, position: usize) -> usize {
        if position >= self.num_batches() {
            return 0;
        }
        let start = position * self.batch_size;
        (start + self.batch_size).min(self.dataset.len()) - start
    }

    /// The dataset.
    pub fn dataset(&self) -> &dyn Dataset {
        &*self.dataset
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The number of batches in an epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The order in which epoch `epoch` visits the samples (before `drop_last` cuts the tail).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if let Some(seed) = self.shuffle {
            Seeds::new(seed)
                .stream(&format!("shuffle/{epoch}"))
                .shuffle(&mut order);
        }
        order
    }

    /// The batches of epoch `epoch` (counted from 0), as an iterator starting at batch 0.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        Epoch {
            order: self.order(epoch),
            batches: self.num_batches(),
            loader: self.clone(),
            epoch,
            position: 0,
        }
    }

    /// The batch of the samples `indices` as epoch `epoch` would give it (augmented for that
    /// epoch), numbered `position`.
    ///
    /// # Panics
    /// If an index is not below the dataset's length.
    pub fn assemble(&self, epoch: u64, position: usize, indices: &[usize]) -> Batch {
        let ds = &*self.dataset;
        let shape = ds.sample_shape();
        let m = ds.sample_numel();
        let b = indices.len();
        let mut batch_shape = Vec::with_capacity(shape.len() + 1);
        batch_shape.push(b);
        batch_shape.extend_from_slice(shape);
        // Filled in place: the tensor is new, hence unique, so `slice_mut` does not copy.
        let mut features = Tensor::zeros(&batch_shape);
        let mut labels = IntTensor::zeros([b]);
        let rows = features.slice_mut::<f32>().expect("zeros is f32");
        let labels_out = labels.slice_mut();
        let fill = |row: &mut [f32], label: &mut i64, index: usize| {
            *label = ds.copy_sample(index, row);
            if let Some(shift) = &self.shift {
                shift.apply(row, shape, epoch, index);
            }
        };
        if m == 0 {
            for (label, &i) in labels_out.iter_mut().zip(indices) {
                fill(&mut [], label, i);
            }
        } else if self.parallel && b * m >= 2 * MIN_VALUES_PER_TASK {
            rows.par_chunks_mut(m)
                .zip(labels_out.par_iter_mut())
                .zip(indices.par_iter())
                .with_min_len(MIN_VALUES_PER_TASK.div_ceil(m))
                .for_each(|((row, label), &i)| fill(row, label, i));
        } else {
            for ((row, label), &i) in rows.chunks_exact_mut(m).zip(labels_out).zip(indices) {
                fill(row, label, i);
            }
        }
        Batch {
            features,
            labels,
            indices: indices.to_vec(),
            epoch,
            position,
        }
    }
}

/// One batch: `features` `[B, ..sample_shape]` (`f32`), `labels` `[B]`, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The samples' features, one row per sample.
    pub features: Tensor,
    /// The samples' labels.
    pub labels: IntTensor,
    /// The samples' indices in the dataset, in row order.
    pub indices: Vec<usize>,
    /// The epoch this batch belongs to.
    pub epoch: u64,
    /// Its position in the epoch: 0 for the first batch.
    pub position: usize,
}

impl Batch {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the batch holds no sample (never the case for a loader's batches).
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// The batches of one epoch ([`DataLoader::epoch`]); it owns a clone of the loader, so it can
/// be kept beside it.
#[derive(Clone, Debug)]
pub struct Epoch {
    loader: DataLoader,
    epoch: u64,
    order: Vec<usize>,
    position: usize,
    batches: usize,
}

impl Epoch {
    /// Skips the next `k` batches without building them (resuming from a checkpoint taken at
    /// position `k`); skipping past the end leaves an exhausted iterator.
    pub fn skip_batches(mut self, k: usize) -> Epoch {
        self.position = self.position.saturating_add(k).min(self.batches);
        self
    }

    /// The position of the next batch: the number of batches already yielded or skipped. Save
    /// it with the epoch to resume later.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The epoch number.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The number of batches of the whole epoch.
    pub fn num_batches(&self) -> usize {
        self.batches
    }

    /// The epoch's order of sample indices ([`DataLoader::order`]).
    pub fn order(&self) -> &[usize] {
        &self.order
    }
}

impl Iterator for Epoch {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.position >= self.batches {
            return None;
        }
        let bs = self.loader.batch_size;
        let mut start = self.position * bs;
        let mut end = (start + bs).min(self.order.len());
        if let Some((rank, world)) = self.loader.shard {
            let part = shard_range(end - start, rank, world);
            (start, end) = (start + part.start, start + part.end);
        }
        let batch = self
            .loader
            .assemble(self.epoch, self.position, &self.order[start..end]);
        self.position += 1;
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.batches - self.position;
        (left, Some(left))
    }

    fn nth(&mut self, n: usize) -> Option<Batch> {
        self.position = self.position.saturating_add(n).min(self.batches);
        self.next()
    }
}

impl ExactSizeIterator for Epoch {}

/// Part `rank` of `len` items dealt into `world` contiguous parts, the first `len % world` one
/// longer.
fn shard_range(len: usize, rank: usize, world: usize) -> std::ops::Range<usize> {
    let (base, extra) = (len / world, len % world);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

#[cfg(test)]
mod tests {
    use super::shard_range;

    #[test]
    fn shards_partition_every_length() {
        for world in 1..6 {
            for len in 0..20 {
                let parts: Vec<_> = (0..world).map(|r| shard_range(len, r, world)).collect();
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts[world - 1].end, len);
                for w in parts.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert!(w[0].len() >= w[1].len() && w[0].len() <= w[1].len() + 1);
                }
            }
        }
    }
}
