//! The rayon policy: one place for grain sizes and serial cut-offs.
//!
//! Below [`PAR_THRESHOLD`] elements a kernel runs on the calling thread: forking costs a few
//! microseconds, more than a small kernel takes. Above it, work is split into chunks whose
//! boundaries depend only on the problem size, never on the number of threads, so parallel results
//! equal serial ones bit for bit. The figures behind the numbers are in `docs/PERFORMANCE.md`.

/// Elements below which elementwise kernels stay on the calling thread.
///
/// Measured (docs/PERFORMANCE.md, "parallel threshold"): on the 2-core reference machine a
/// parallel `add` first beats the serial one at about 2^15 f32 elements.
pub const PAR_THRESHOLD: usize = 1 << 15;

/// Elements from which an optimizer update (`optim.rs`) forks.
///
/// Measured (docs/PERFORMANCE.md, "optimizer step"): an f32 Adam update split in two halves on
/// the 2-core reference machine is 0.94x the serial one at 2^11 elements, 1.30x at 2^12, 1.72x at
/// 2^14. An update does more per element than `add` (a square root and a division), so it pays
/// for a fork on shorter slices than [`PAR_THRESHOLD`].
pub const OPTIM_PAR_THRESHOLD: usize = 1 << 12;

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
