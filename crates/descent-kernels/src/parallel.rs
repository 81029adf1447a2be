//! The rayon policy: one place for grain sizes and serial cut-offs.
//!
//! Below [`PAR_THRESHOLD`] elements a kernel runs on the calling thread: forking costs a few
//! microseconds, more than a small kernel takes. Above it, work is split into chunks whose
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

/// Elements from which an optimizer update (`optim.rs`) and its finiteness scan fork.
///
/// In isolation (docs/PERFORMANCE.md, "optimizer step") an f32 Adam update split in two halves
/// on the 2-core reference machine was 1.30x the serial one at 2^12 elements and 1.72x at 2^14.
/// Inside a training step the parameters, gradients and moments were last touched by the thread
/// that ran the backward pass, and splitting the update moves half of them to the other core and
/// back: W1b's Adam step (269k parameters in 6 tensors) took 0.89 ms split and 0.27 ms on one
/// thread ("Thread cut-offs measured in training steps"). From 2^20 elements the update is
/// long enough to pay for it.
pub const OPTIM_PAR_THRESHOLD: usize = 1 << 20;

/// Elements per chunk of a parallel elementwise kernel.
pub const CHUNK: usize = 1 << 14;

/// Elements per partial sum of a long reduction: fixed, so the summation order does not depend
/// on the thread count.
pub const REDUCE_CHUNK: usize = 1 << 12;

/// Whether work over `n` elements is worth forking for.
#[inline]
pub fn worth_parallel(n: usize) -> bool {
    n >= PAR_THRESHOLD && rayon::current_num_threads() > 1
}
