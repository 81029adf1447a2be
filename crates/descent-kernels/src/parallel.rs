//! The rayon policy: one place for grain sizes and serial cut-offs.
//!
//! Below [`PAR_THRESHOLD`] elements a kernel runs on the calling thread: forking costs a few
//! microseconds, more than a small kernel takes. Each cut-off has a lower twin that applies when
//! the caller is one of the pool's threads ([`init_threads`], [`cut_off`]), where a fork costs
//! less. Above it, work is split into chunks whose
//! boundaries depend only on the problem size, never on the number of threads, so parallel results
//! equal serial ones bit for bit. The figures behind the numbers are in `docs/PERFORMANCE.md`.

/// Elements below which elementwise kernels stay on the calling thread.
///
/// Measured twice (docs/PERFORMANCE.md): in isolation, on hot data, a parallel `add` first beats
/// the serial one at about 2^15 f32 elements on the 2-core reference machine; inside a training
/// step, where the two halves' data must first move to the other core and back, W1 (relu and
/// friends on 2^15 elements) ran 9 % faster with the cut at 2^17, and W2 (10^6-element
/// activations) did not change ("Thread cut-offs measured in training steps").
pub const PAR_THRESHOLD: usize = 1 << 17;

/// Elements from which an optimizer update (`optim.rs`) and its finiteness scan fork when the
/// caller is not one of the pool's threads (see [`optim_par_threshold`]).
///
/// In isolation (docs/PERFORMANCE.md, "optimizer step") an f32 Adam update split in two halves
/// on the 2-core reference machine was 1.30x the serial one at 2^12 elements and 1.72x at 2^14.
/// Inside a training step the parameters, gradients and moments were last touched by the thread
/// that ran the backward pass, and splitting the update moves half of them to the other core and
/// back: W1b's Adam step (269k parameters in 6 tensors) took 0.89 ms split and 0.27 ms on one
/// thread ("Thread cut-offs measured in training steps"). From 2^20 elements the update is
/// long enough to pay for it.
pub const OPTIM_PAR_THRESHOLD: usize = 1 << 20;

/// Elements from which an optimizer update forks when the caller is one of the pool's threads
/// ([`init_threads`]): one half stays on the calling core, and only the other half is handed
/// over. On the 2-core EPYC (Zen 4) machine, W1b's Adam step (269k values; the largest tensor
/// 200k) took 0.186 ms whole; with the caller in the pool and this cut-off W1b ran 1.2-1.4x
/// faster end to end (docs/PERFORMANCE.md, "The calling thread in the pool").
pub const OPTIM_PAR_THRESHOLD_IN_POOL: usize = 1 << 16;

/// The optimizer cut-off in force for the calling thread: [`OPTIM_PAR_THRESHOLD_IN_POOL`] on one
/// of the pool's threads, [`OPTIM_PAR_THRESHOLD`] elsewhere. (Where the update is split does not
/// change its result: it is elementwise.)
#[inline]
pub fn optim_par_threshold() -> usize {
    cut_off(OPTIM_PAR_THRESHOLD_IN_POOL, OPTIM_PAR_THRESHOLD)
}

/// `inside` when the calling thread is one of the pool's threads ([`in_pool`]), else `outside`:
/// the one rule behind every pair of cut-offs.
#[inline]
pub fn cut_off(inside: usize, outside: usize) -> usize {
    if in_pool() { inside } else { outside }
}

/// Whether the calling thread is one of the rayon pool's threads. A fork from such a thread runs
/// one half where it is, on data still in this core's caches, and the other core steals the
/// other half; a fork from outside the pool (a program's main thread, by default) hands both
/// halves to the pool and sleeps until they are done, which costs two hand-offs and moves all
/// the data to other threads. The cut-offs for splitting are lower inside the pool.
#[inline]
pub fn in_pool() -> bool {
    rayon::current_thread_index().is_some()
}

/// Makes the calling thread one of the threads of rayon's global pool, as PyTorch's calling
/// thread takes part in its intra-op parallelism: with `n` threads (`RAYON_NUM_THREADS`, or one
/// per core) the pool starts `n - 1` more, and forks from this thread run one half here.
/// Call it at the start of `main`, before anything uses rayon: once the global pool exists (any
/// parallel kernel, or another crate's `par_iter`, creates it), it cannot take this thread in,
/// and this returns whether the calling thread is in the pool anyway. The fit loop
/// (`descent_train`) calls it, so a program that trains through it needs no call of its own.
///
/// Safe to call from any thread, any number of times. The thread stays in the pool for the
/// life of the process; if it ends, the pool works on with the other threads. Results do not
/// change: every kernel gives the same bits whatever the split (see the module doc).
///
/// ```
/// descent_kernels::parallel::init_threads();
/// // Whether this thread got in depends on whether the pool existed already.
/// let _ = descent_kernels::parallel::in_pool();
/// ```
pub fn init_threads() -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    static TRIED: AtomicBool = AtomicBool::new(false);
    if !in_pool() && !TRIED.swap(true, Ordering::AcqRel) {
        // An error means the global pool exists already (or threads cannot be started, in
        // which case rayon falls back to the calling thread alone when it builds its default
        // pool): nothing to do either way.
        let _ = rayon::ThreadPoolBuilder::new()
            .use_current_thread()
            .build_global();
    }
    in_pool()
}

/// Elements per chunk of a parallel elementwise kernel.
pub const CHUNK: usize = 1 << 14;

/// Elements per partial sum of a long reduction: fixed, so the summation order does not depend
/// on the thread count.
pub const REDUCE_CHUNK: usize = 1 << 12;

/// `f((i, chunk))` for each `len`-element chunk of `data` (the last may be shorter), on the rayon
/// pool when `parallel`, else in order on the calling thread. The chunks, and so the results of
/// a kernel that keeps each chunk's work to itself, are the same either way.
pub fn for_each_chunk_mut<T: Send>(
    data: &mut [T],
    len: usize,
    parallel: bool,
    f: impl Fn((usize, &mut [T])) + Send + Sync,
) {
    use rayon::prelude::*;
    if parallel {
        data.par_chunks_mut(len).enumerate().for_each(f);
    } else {
        data.chunks_mut(len).enumerate().for_each(f);
    }
}

/// Whether work over `n` elements is worth forking for: from [`PAR_THRESHOLD_IN_POOL`] on one
/// of the pool's threads, from [`PAR_THRESHOLD`] elsewhere.
#[inline]
pub fn worth_parallel(n: usize) -> bool {
    n >= cut_off(PAR_THRESHOLD_IN_POOL, PAR_THRESHOLD) && rayon::current_num_threads() > 1
}

/// Elements from which elementwise kernels fork when the caller is one of the pool's threads
/// ([`init_threads`]; [`PAR_THRESHOLD`] elsewhere). On the 2-core Zen 4 machine W1's forward
/// `relu` (2^15 values) went from 0.015-0.018 to 0.009-0.010 ms a step with it; W1 and W2 end
/// to end within noise (docs/PERFORMANCE.md, "The calling thread in the pool").
pub const PAR_THRESHOLD_IN_POOL: usize = 1 << 15;

/// Elements from which the unary ops' backward kernel (`elementwise_grad::unary_grad`) forks
/// when the caller is one of the pool's threads ([`PAR_THRESHOLD`] elsewhere): one step above
/// [`PAR_THRESHOLD_IN_POOL`]. On the 2-core Zen 4 machine W1's `relu` backward (two calls on
/// 2^15 values a step) took 0.026-0.029 ms a step forked and 0.019-0.020 on the calling thread
/// (`--profile`, 3 runs each), while the forward `relu` on the same sizes gains from the fork
/// (0.010-0.011 against 0.015-0.016).
pub const GRAD_PAR_THRESHOLD_IN_POOL: usize = 1 << 16;

/// How long a thread of [`for_each_part`] with no part left keeps its core busy waiting for the
/// parts still running.
pub const SPIN_LIMIT: std::time::Duration = std::time::Duration::from_millis(2);

/// Runs `f(part)` for every `part < parts` on the rayon pool: one task per thread, each taking
/// the next part not yet taken until none is left (so the load balances whatever the parts
/// cost), then running any pending pool work or spinning until every part is done, for at most
/// [`SPIN_LIMIT`], instead of going to sleep at once. Which thread runs a part must not change
/// what the part computes (every caller's parts write disjoint outputs).
///
/// Why: on the 2-vCPU reference machine a core that goes idle inside a region slows the region
/// down far more than the wait itself (docs/PERFORMANCE.md, "An own AVX-512 GEMM, and idle cores
/// inside a parallel region"): a GEMM split in two halves ran at 211-213 GFLOP/s with rayon's
/// plain `join` and at 261-266 with the halves spinning until both were done (n = 1024).
/// Waiting never blocks progress: a part is only waited for once a thread runs it, the wait
/// runs other pool work (`rayon::yield_now`), and it is bounded.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let sum = AtomicUsize::new(0);
/// descent_kernels::parallel::for_each_part(4, |p| {
///     sum.fetch_add(p, Ordering::Relaxed);
/// });
/// assert_eq!(sum.into_inner(), 6);
/// ```
pub fn for_each_part(parts: usize, f: impl Fn(usize) + Sync) {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = rayon::current_num_threads().min(parts);
    if threads < 2 {
        (0..parts).for_each(f);
        return;
    }
    let (next, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    (0..threads).into_par_iter().with_max_len(1).for_each(|_| {
        loop {
            let part = next.fetch_add(1, Ordering::Relaxed);
            if part >= parts {
                break;
            }
            f(part);
            done.fetch_add(1, Ordering::AcqRel);
        }
        let start = std::time::Instant::now();
        while done.load(Ordering::Acquire) < parts && start.elapsed() < SPIN_LIMIT {
            if rayon::yield_now() != Some(rayon::Yield::Executed) {
                std::hint::spin_loop();
            }
        }
    });
}
