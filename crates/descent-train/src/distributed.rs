//! Data-parallel training: what the training loop does across processes ([`DataParallel`]) on
//! top of the few operations a transport provides ([`Collective`]).
//!
//! **PyTorch equivalent**: `DistributedDataParallel` (one model per process, gradients averaged
//! before each optimizer step) with `DistributedSampler`; the transports (MPI, threads) live in
//! the `descent-dist` crate.
//!
//! Every process holds the whole model. [`DataParallel::broadcast_model`] checks that every
//! rank's model has the same parameter and buffer names, element types and shapes, then gives
//! every rank rank 0's values. Each step, every rank runs forward and backward on its share of the
//! global batch ([`DataLoader::shard`]), then [`DataParallel::average_gradients`] replaces each
//! rank's gradients by the weighted sum over ranks, `sum_r (n_r / n) * g_r` (`n_r` samples on
//! rank `r`, `n` in the global batch): for a loss that is a mean over the batch this is the
//! gradient of the global batch, so the optimizer steps are those of one process taking the
//! whole batch, up to float summation order.
//!
//! **Fixed reduction order.** The reduction does not call the transport's allreduce, whose
//! summation order (and so its last bits) depends on the MPI library's algorithm choice. The
//! gradients are copied into flat buckets; each bucket is cut into `world_size` contiguous chunks,
//! and an all-to-all sends chunk `c` of every rank to rank `c`, which sums the `world_size`
//! copies **in rank order** (`((g_0 + g_1) + g_2) + ...`, each `g_r` already weighted); an
//! all-gather then gives every rank every summed chunk. Every element is summed in the same
//! order on every run, every process count's order is fixed, and all ranks end with the same
//! bits. The traffic is that of a ring allreduce: each rank sends and receives `(N - 1) / N` of
//! the bucket twice.
//!
//! Metrics (loss, accuracy counts) are summed the same way ([`DataParallel::sum`]), so the
//! guard rails see the global loss and stop every rank at the same step.
//!
//! [`DataLoader::shard`]: descent_data::DataLoader::shard

use descent_core::io::{self, AnyTensor, WeightFile};
use descent_core::{Element, Error, Gradients, IntTensor, Param, Params, Result, Tape, Var};
use descent_data::DataLoader;
use descent_nn::{Ctx, Module};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// The collective operations data-parallel training needs from a transport: the `descent-dist`
/// crate implements them over MPI and over threads of one process.
///
/// Every rank of the group must call the same operations in the same order with the same
/// `counts`; an implementation returns an error (it must not hang forever) when another rank has
/// failed or left. Implementations move data; they do no arithmetic, so results do not depend on
/// them.
pub trait Collective {
    /// This process's rank, `0..world_size()`.
    fn rank(&self) -> usize;

    /// The number of processes in the group.
    fn world_size(&self) -> usize;

    /// Makes `data` on every rank equal to `data` on rank `root` (the lengths may differ
    /// beforehand).
    ///
    /// # Errors
    /// A transport failure, another rank's failure or a timeout.
    fn broadcast_bytes(&self, data: &mut Vec<u8>, root: usize) -> Result<()>;

    /// Every rank's `data`, in rank order (the lengths may differ).
    ///
    /// # Errors
    /// A transport failure, another rank's failure or a timeout.
    fn all_gather_bytes(&self, data: &[u8]) -> Result<Vec<Vec<u8>>>;

    /// All-to-all: `send` is `world_size` consecutive parts, part `j` (`counts[j]` elements)
    /// going to rank `j`; `recv` (`world_size * counts[rank]` elements) receives part `rank` of
    /// every rank, in rank order. Every rank passes the same `counts`.
    ///
    /// # Errors
    /// A transport failure, another rank's failure or a timeout.
    fn all_to_all_f32(&self, send: &[f32], counts: &[usize], recv: &mut [f32]) -> Result<()>;

    /// All-gather: `recv` (`counts.iter().sum()` elements) receives every rank's `send` (rank `i`
    /// sends `counts[i]` elements), concatenated in rank order. Every rank passes the same
    /// `counts`.
    ///
    /// # Errors
    /// A transport failure, another rank's failure or a timeout.
    fn all_gather_f32(&self, send: &[f32], counts: &[usize], recv: &mut [f32]) -> Result<()>;

    /// [`Collective::all_to_all_f32`] for `f64`.
    ///
    /// # Errors
    /// A transport failure, another rank's failure or a timeout.
    fn all_to_all_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) -> Result<()>;

    /// [`Collective::all_gather_f32`] for `f64`.
    ///
    /// # Errors
    /// A transport failure, another rank's failure or a timeout.
    fn all_gather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) -> Result<()>;
}

/// The group of a single process: every operation is the identity. What [`DataParallel`]
/// falls back to outside a distributed launch.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn broadcast_bytes(&self, _data: &mut Vec<u8>, _root: usize) -> Result<()> {
        Ok(())
    }
    fn all_gather_bytes(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(vec![data.to_vec()])
    }
    fn all_to_all_f32(&self, send: &[f32], _counts: &[usize], recv: &mut [f32]) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }
    fn all_gather_f32(&self, send: &[f32], _counts: &[usize], recv: &mut [f32]) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }
    fn all_to_all_f64(&self, send: &[f64], _counts: &[usize], recv: &mut [f64]) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }
    fn all_gather_f64(&self, send: &[f64], _counts: &[usize], recv: &mut [f64]) -> Result<()> {
        recv.copy_from_slice(send);
        Ok(())
    }
}

/// The element types gradients travel in.
trait Wire: Element + Copy + Default + std::ops::AddAssign + std::ops::MulAssign {
    fn all_to_all(
        c: &dyn Collective,
        send: &[Self],
        counts: &[usize],
        recv: &mut [Self],
    ) -> Result<()>;
    fn all_gather(
        c: &dyn Collective,
        send: &[Self],
        counts: &[usize],
        recv: &mut [Self],
    ) -> Result<()>;
}

impl Wire for f32 {
    fn all_to_all(c: &dyn Collective, s: &[f32], n: &[usize], r: &mut [f32]) -> Result<()> {
        c.all_to_all_f32(s, n, r)
    }
    fn all_gather(c: &dyn Collective, s: &[f32], n: &[usize], r: &mut [f32]) -> Result<()> {
        c.all_gather_f32(s, n, r)
    }
}

impl Wire for f64 {
    fn all_to_all(c: &dyn Collective, s: &[f64], n: &[usize], r: &mut [f64]) -> Result<()> {
        c.all_to_all_f64(s, n, r)
    }
    fn all_gather(c: &dyn Collective, s: &[f64], n: &[usize], r: &mut [f64]) -> Result<()> {
        c.all_gather_f64(s, n, r)
    }
}

/// Time and bytes spent in collectives, since [`DataParallel::new`] or the last
/// [`DataParallel::take_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CommStats {
    /// Seconds inside gradient reductions (copying into buckets, the collectives, summing).
    pub reduce_seconds: f64,
    /// Gradient reductions done.
    pub reductions: u64,
    /// Gradient bytes this rank sent per reduction (both phases).
    pub bytes_sent: u64,
    /// Seconds inside the other collectives (metric sums, broadcasts).
    pub other_seconds: f64,
}

/// Reusable buffers of the gradient reduction.
#[derive(Default)]
struct Scratch<T> {
    flat: Vec<T>,
    recv: Vec<T>,
    sum: Vec<T>,
}

/// Data-parallel training over a [`Collective`]: model broadcast with a shape check, gradient
/// averaging in a fixed order over flat buckets, metric sums, checkpoint bytes from rank 0. See
/// the [module docs](self).
///
/// Give it to [`Learner::distributed`](crate::Learner::distributed) and the fit loop does the
/// rest; a hand-written loop calls [`DataParallel::broadcast_model`] once, then
/// [`DataParallel::average_gradients`] between backward and the optimizer step.
///
/// ```
/// use descent_train::{DataParallel, SingleProcess};
/// let dp = DataParallel::new(SingleProcess);
/// assert_eq!((dp.rank(), dp.world_size()), (0, 1));
/// assert_eq!(dp.sum(&[1.5, 2.0]).unwrap(), vec![1.5, 2.0]);
/// ```
pub struct DataParallel {
    comm: Box<dyn Collective>,
    bucket_bytes: usize,
    f32s: RefCell<Scratch<f32>>,
    f64s: RefCell<Scratch<f64>>,
    stats: RefCell<CommStats>,
}

impl std::fmt::Debug for DataParallel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataParallel")
            .field("rank", &self.rank())
            .field("world_size", &self.world_size())
            .field("bucket_bytes", &self.bucket_bytes)
            .finish()
    }
}

/// PyTorch DDP's default bucket size.
const DEFAULT_BUCKET_BYTES: usize = 25 << 20;

impl DataParallel {
    /// Data-parallel training over `comm`, with 25 MiB gradient buckets (DDP's default).
    pub fn new(comm: impl Collective + 'static) -> DataParallel {
        DataParallel::from_box(Box::new(comm))
    }

    /// [`DataParallel::new`] for a boxed transport.
    pub fn from_box(comm: Box<dyn Collective>) -> DataParallel {
        DataParallel {
            comm,
            bucket_bytes: DEFAULT_BUCKET_BYTES,
            f32s: RefCell::default(),
            f64s: RefCell::default(),
            stats: RefCell::default(),
        }
    }

    /// The bucket size in bytes (at least one element): a model's gradients travel in buckets of
    /// at most this many bytes. Results do not depend on it.
    pub fn bucket_bytes(mut self, bytes: usize) -> DataParallel {
        self.bucket_bytes = bytes.max(8);
        self
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// The number of processes.
    pub fn world_size(&self) -> usize {
        self.comm.world_size()
    }

    /// Whether this is rank 0, the one that prints and writes files.
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// The transport.
    pub fn collective(&self) -> &dyn Collective {
        &*self.comm
    }

    /// The time spent communicating since the last call (or the start), and resets it.
    pub fn take_stats(&self) -> CommStats {
        self.stats.take()
    }

    fn timed<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let t = Instant::now();
        let r = f();
        self.stats.borrow_mut().other_seconds += t.elapsed().as_secs_f64();
        r
    }

    /// Element-wise sums of `values` over the ranks, added in rank order: the same bits on every
    /// rank.
    ///
    /// # Errors
    /// The transport's.
    pub fn sum(&self, values: &[f64]) -> Result<Vec<f64>> {
        let world = self.world_size();
        if world == 1 {
            return Ok(values.to_vec());
        }
        self.timed(|| {
            let mut all = vec![0.0; values.len() * world];
            self.comm
                .all_gather_f64(values, &vec![values.len(); world], &mut all)?;
            let mut out = all[..values.len()].to_vec();
            for part in all.chunks_exact(values.len().max(1)).skip(1) {
                for (o, v) in out.iter_mut().zip(part) {
                    *o += v;
                }
            }
            Ok(out)
        })
    }

    /// Checks that every rank's model has the same parameters and buffers (names, element types,
    /// shapes, in the same order), then gives every rank rank 0's values: call it once before
    /// training, so all ranks start from the same weights.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] on every rank if any rank's model differs, naming the rank and
    /// the first differing tensor; the transport's errors.
    pub fn broadcast_model<M: Module + ?Sized>(&self, model: &mut M) -> Result<()> {
        if self.world_size() == 1 {
            return Ok(());
        }
        self.timed(|| {
            let state = descent_nn::state_dict(model);
            self.check_same(&state, "DataParallel::broadcast_model")?;
            let mut bytes = if self.is_root() {
                io::to_bytes(&state, &HashMap::new()).map_err(|message| Error::InvalidArgument {
                    op: "DataParallel::broadcast_model",
                    message,
                })?
            } else {
                Vec::new()
            };
            self.comm.broadcast_bytes(&mut bytes, 0)?;
            if !self.is_root() {
                descent_nn::load_bytes(&bytes, model)?;
            }
            Ok(())
        })
    }

    /// Gives every rank rank 0's buffers (BatchNorm's running statistics, which each rank
    /// updates from its own samples, as DDP's do), so that evaluation gives the same result on
    /// every rank. Does nothing for a model without buffers.
    ///
    /// # Errors
    /// The transport's; a buffer that does not take rank 0's value (ranks with different
    /// models, which [`DataParallel::broadcast_model`] rules out).
    pub fn broadcast_buffers<M: Module + ?Sized>(&self, model: &M) -> Result<()> {
        let mut entries = Vec::new();
        model.visit_buffers("", &mut |name, b| entries.push((name.to_string(), b.get())));
        if self.world_size() == 1 || entries.is_empty() {
            return Ok(());
        }
        self.timed(|| {
            let mut bytes = if self.is_root() {
                io::to_bytes(&entries, &HashMap::new()).map_err(|message| {
                    Error::InvalidArgument {
                        op: "DataParallel::broadcast_buffers",
                        message,
                    }
                })?
            } else {
                Vec::new()
            };
            self.comm.broadcast_bytes(&mut bytes, 0)?;
            if self.is_root() {
                return Ok(());
            }
            let file = io::from_bytes(&bytes).map_err(|message| Error::InvalidArgument {
                op: "DataParallel::broadcast_buffers",
                message,
            })?;
            let mut result = Ok(());
            model.visit_buffers("", &mut |name, b| {
                if result.is_err() {
                    return;
                }
                result = match file.get(name) {
                    Some(value) => b.set(value.clone()),
                    None => Err(Error::InvalidArgument {
                        op: "DataParallel::broadcast_buffers",
                        message: format!("rank 0 has no buffer `{name}`"),
                    }),
                };
            });
            result
        })
    }

    /// The names, element types and shapes of `state` must be rank 0's on every rank.
    fn check_same(&self, state: &[(String, AnyTensor)], op: &'static str) -> Result<()> {
        let describe = |(name, t): &(String, AnyTensor)| {
            format!("`{name}` {} {:?}", t.dtype_name(), t.shape())
        };
        let mine: Vec<String> = state.iter().map(describe).collect();
        let all = self.comm.all_gather_bytes(mine.join("\n").as_bytes())?;
        let lines = |b: &Vec<u8>| -> Vec<String> {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::to_string)
                .collect()
        };
        let reference = lines(&all[0]);
        for (rank, bytes) in all.iter().enumerate().skip(1) {
            let theirs = lines(bytes);
            if theirs == reference {
                continue;
            }
            let i = theirs
                .iter()
                .zip(&reference)
                .position(|(a, b)| a != b)
                .unwrap_or(theirs.len().min(reference.len()));
            let none = "nothing".to_string();
            return Err(Error::InvalidArgument {
                op,
                message: format!(
                    "the ranks' models differ: tensor {} is {} on rank 0 but {} on rank {rank} \
                     ({} tensors on rank 0, {} on rank {rank}); every process must build the \
                     same model",
                    i + 1,
                    reference.get(i).unwrap_or(&none),
                    theirs.get(i).unwrap_or(&none),
                    reference.len(),
                    theirs.len()
                ),
            });
        }
        Ok(())
    }

    /// Replaces the gradients of `model`'s trainable parameters in `grads` by their weighted sum
    /// over the ranks, `sum_r weight_r * grad_r`, added in rank order (see the
    /// [module docs](self)): the same bits on every rank. With `weight = n_r / n` (this rank's
    /// samples over the global batch's) and a mean loss, that is the global batch's gradient.
    ///
    /// A parameter without a gradient on a rank counts as zero there; one without a gradient on
    /// every rank keeps none (an optimizer then leaves it alone, as in one process).
    ///
    /// # Errors
    /// The transport's; a gradient whose shape is not its parameter's.
    pub fn average_gradients(
        &self,
        model: &dyn Params,
        grads: &mut Gradients,
        weight: f64,
    ) -> Result<()> {
        if self.world_size() == 1 && weight == 1.0 {
            return Ok(());
        }
        let t = Instant::now();
        type Entry = (descent_core::ParamId, Vec<usize>);
        let (mut f32s, mut f64s): (Vec<Entry>, Vec<Entry>) = (Vec::new(), Vec::new());
        model.visit(&mut |p: &Param| {
            if p.requires_grad() {
                let entry = (p.id(), p.shape().to_vec());
                match p.value().dtype() {
                    descent_core::DType::F32 => f32s.push(entry),
                    descent_core::DType::F64 => f64s.push(entry),
                }
            }
        });
        let sent = self.reduce::<f32>(&f32s, grads, weight, &mut self.f32s.borrow_mut())?
            + self.reduce::<f64>(&f64s, grads, weight, &mut self.f64s.borrow_mut())?;
        let mut stats = self.stats.borrow_mut();
        stats.reduce_seconds += t.elapsed().as_secs_f64();
        stats.reductions += 1;
        stats.bytes_sent = sent;
        Ok(())
    }

    /// The reduction of the parameters `params` (all of element type `T`); returns the bytes
    /// sent.
    fn reduce<T: Wire>(
        &self,
        params: &[(descent_core::ParamId, Vec<usize>)],
        grads: &mut Gradients,
        weight: f64,
        scratch: &mut Scratch<T>,
    ) -> Result<u64> {
        if params.is_empty() {
            return Ok(0);
        }
        let world = self.world_size();
        let rank = self.rank();
        let w = T::from_f64(weight);
        // The flat layout: each parameter's gradient, then one presence flag per parameter
        // (1 where this rank has a gradient), so the sum also counts the ranks that had one.
        let numel: usize = params
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        let total = numel + params.len();
        scratch.flat.clear();
        scratch.flat.resize(total, T::default());
        let mut at = 0;
        for (i, (id, shape)) in params.iter().enumerate() {
            let n: usize = shape.iter().product();
            if let Some(g) = grads.get_id(*id) {
                if g.shape() != &shape[..] {
                    return Err(Error::ShapeMismatch {
                        op: "DataParallel::average_gradients",
                        lhs: g.shape().into(),
                        rhs: shape.as_slice().into(),
                        detail: "a gradient's shape is not its parameter's".to_string(),
                    });
                }
                let dst = &mut scratch.flat[at..at + n];
                match g.as_slice::<T>() {
                    Some(src) => dst.copy_from_slice(src),
                    None => {
                        dst.copy_from_slice(g.contiguous().as_slice::<T>().ok_or_else(|| {
                            Error::InvalidArgument {
                                op: "DataParallel::average_gradients",
                                message: "a gradient's element type is not its parameter's"
                                    .to_string(),
                            }
                        })?)
                    }
                }
                if weight != 1.0 {
                    for v in dst.iter_mut() {
                        *v *= w;
                    }
                }
                scratch.flat[numel + i] = T::from_f64(1.0);
            }
            at += n;
        }
        // Buckets of at most `cap` elements, each cut into `world` chunks.
        let cap = (self.bucket_bytes / std::mem::size_of::<T>()).max(world);
        let mut sent = 0u64;
        let mut start = 0;
        while start < total {
            let end = (start + cap).min(total);
            let len = end - start;
            let counts: Vec<usize> = (0..world).map(|c| chunk(len, c, world).len()).collect();
            let mine = counts[rank];
            scratch.recv.clear();
            scratch.recv.resize(mine * world, T::default());
            T::all_to_all(
                &*self.comm,
                &scratch.flat[start..end],
                &counts,
                &mut scratch.recv,
            )?;
            // Rank order: ((g_0 + g_1) + g_2) + ...
            scratch.sum.clear();
            scratch.sum.extend_from_slice(&scratch.recv[..mine]);
            for part in scratch
                .recv
                .chunks_exact(mine.max(1))
                .skip(1)
                .take(world - 1)
            {
                for (s, v) in scratch.sum.iter_mut().zip(part) {
                    *s += *v;
                }
            }
            T::all_gather(
                &*self.comm,
                &scratch.sum,
                &counts,
                &mut scratch.flat[start..end],
            )?;
            sent += ((len - mine) * 2 * std::mem::size_of::<T>()) as u64;
            start = end;
        }
        let mut at = 0;
        for (i, (id, shape)) in params.iter().enumerate() {
            let n: usize = shape.iter().product();
            let values = &scratch.flat[at..at + n];
            at += n;
            let present = scratch.flat[numel + i] != T::default();
            match grads.get_id_mut(*id) {
                Some(g) => g.slice_mut::<T>()?.copy_from_slice(values),
                None if present => grads.insert(
                    *id,
                    descent_core::Tensor::from_vec(values.to_vec(), shape.as_slice()),
                ),
                None => {}
            }
        }
        Ok(sent)
    }

    /// The bytes of the file at `path` as rank 0 reads them, on every rank (a checkpoint to
    /// resume from, without a file system the ranks share).
    ///
    /// # Errors
    /// [`Error::File`] on every rank if rank 0 cannot read it; the transport's.
    pub fn read_file(&self, path: &Path) -> Result<Vec<u8>> {
        if self.world_size() == 1 {
            return std::fs::read(path)
                .map_err(|e| io::file_error(path, format!("cannot read: {e}")));
        }
        self.timed(|| {
            // One status byte, then the contents or rank 0's error message.
            let mut bytes = if self.is_root() {
                match std::fs::read(path) {
                    Ok(mut b) => {
                        b.insert(0, 1);
                        b
                    }
                    Err(e) => {
                        let mut b = vec![0];
                        b.extend_from_slice(e.to_string().as_bytes());
                        b
                    }
                }
            } else {
                Vec::new()
            };
            self.comm.broadcast_bytes(&mut bytes, 0)?;
            match bytes.first() {
                Some(1) => {
                    bytes.remove(0);
                    Ok(bytes)
                }
                _ => Err(io::file_error(
                    path,
                    format!(
                        "rank 0 cannot read it: {}",
                        String::from_utf8_lossy(bytes.get(1..).unwrap_or_default())
                    ),
                )),
            }
        })
    }

    /// [`read_file`](DataParallel::read_file), parsed as a weight file.
    ///
    /// # Errors
    /// [`Error::File`] naming `path` and what is wrong; the transport's.
    pub fn load_file(&self, path: &Path) -> Result<WeightFile> {
        let bytes = self.read_file(path)?;
        io::from_bytes(&bytes).map_err(|e| io::file_error(path, e))
    }

    /// The mean loss and accuracy of `model` over `loader`, each rank evaluating its
    /// [shard](DataLoader::shard) and the sums added across ranks: [`crate::evaluate`] of the
    /// whole loader, on every rank. Call [`DataParallel::broadcast_buffers`] first if the ranks'
    /// buffers may differ (the fit loop does).
    ///
    /// # Errors
    /// A forward or loss error; the transport's.
    pub fn evaluate<M: Module + ?Sized>(
        &self,
        model: &M,
        loader: &DataLoader,
        loss: &dyn Fn(&Var, &IntTensor) -> Result<Var>,
    ) -> Result<(f64, Option<f64>)> {
        let local = self.shard(loader)?;
        let s = evaluate_sums(model, &local, loss)?;
        let s = self.sum(&s)?;
        Ok((s[0] / s[1].max(1.0), (s[3] > 0.0).then(|| s[2] / s[3])))
    }

    /// `loader` sharded for this rank, unless it is already.
    ///
    /// # Errors
    /// If `loader` is sharded for another rank or world size.
    pub fn shard(&self, loader: &DataLoader) -> Result<DataLoader> {
        let (rank, world) = (self.rank(), self.world_size());
        match loader.sharding() {
            None if world == 1 => Ok(loader.clone()),
            None => loader.clone().shard(rank, world),
            Some(s) if s == (rank, world) => Ok(loader.clone()),
            Some((r, w)) => Err(Error::InvalidArgument {
                op: "DataParallel::shard",
                message: format!(
                    "the loader is sharded for rank {r} of {w}, this process is rank {rank} of \
                     {world}"
                ),
            }),
        }
    }
}

/// Part `c` of `len` elements dealt into `world` contiguous chunks, the first `len % world` one
/// longer.
fn chunk(len: usize, c: usize, world: usize) -> std::ops::Range<usize> {
    let (base, extra) = (len / world, len % world);
    let start = c * base + c.min(extra);
    start..start + base + usize::from(c < extra)
}

/// `[loss x samples, samples, right answers, samples with an accuracy]` of `model` over
/// `loader`, as [`crate::evaluate`] counts them.
pub(crate) fn evaluate_sums<M: Module + ?Sized>(
    model: &M,
    loader: &DataLoader,
    loss: &dyn Fn(&Var, &IntTensor) -> Result<Var>,
) -> Result<[f64; 4]> {
    let (mut loss_sum, mut seen, mut correct, mut counted) = (0.0, 0u64, 0u64, 0u64);
    let ctx = Ctx::eval();
    for batch in loader.epoch(0) {
        if batch.is_empty() {
            continue;
        }
        let tape = Tape::new();
        let (value, out) = tape.no_grad(|| -> Result<(f64, Var)> {
            let out = model.forward(&tape.constant(&batch.features), &ctx)?;
            let value = loss(&out, &batch.labels)?.value().try_item()?;
            Ok((value, out))
        })?;
        let n = batch.len() as u64;
        loss_sum += value * n as f64;
        seen += n;
        if out.shape().len() == 2 && batch.labels.shape() == [batch.len()] {
            let predicted = out.value().try_argmax(1, false)?;
            correct += predicted.try_eq(&batch.labels)?.sum_all() as u64;
            counted += n;
        }
    }
    Ok([loss_sum, seen as f64, correct as f64, counted as f64])
}

#[cfg(test)]
mod tests {
    use super::chunk;

    #[test]
    fn chunks_cover_the_bucket() {
        for world in 1..5 {
            for len in 0..12 {
                let mut at = 0;
                for c in 0..world {
                    let r = chunk(len, c, world);
                    assert_eq!(r.start, at);
                    at = r.end;
                }
                assert_eq!(at, len);
            }
        }
    }
}
