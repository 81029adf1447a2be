//! [`LocalGroup`]: the ranks of a data-parallel group as threads of one process.
//!
//! What the tests of distributed training run on a machine without MPI, and a way to try
//! data parallelism without a launcher. Every collective is an exchange in which each rank
//! deposits its part and waits for the others; a rank that errors, panics or returns leaves the
//! group, and the others' pending and later collectives fail with an error naming it instead of
//! waiting, as does a collective that waits longer than the group's timeout.

use descent_core::{Error, Result};
use descent_train::Collective;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A deposited part.
#[derive(Clone, Debug)]
enum Part {
    Bytes(Vec<u8>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

#[derive(Debug)]
struct State {
    /// Completed exchanges.
    generation: u64,
    /// This exchange's parts so far.
    parts: Vec<Option<Part>>,
    /// The last completed exchange's parts, in rank order.
    results: Arc<Vec<Part>>,
    /// Ranks that left, with why, in the order they left.
    left: Vec<(usize, String)>,
}

#[derive(Debug)]
struct Shared {
    size: usize,
    timeout: Duration,
    state: Mutex<State>,
    changed: Condvar,
}

/// A group of `size` ranks in one process; [`LocalGroup::ranks`] hands out one [`LocalRank`]
/// per thread.
///
/// ```
/// use descent_dist::LocalGroup;
/// use descent_train::DataParallel;
/// let sums = LocalGroup::new(3).run(|dp: DataParallel| dp.sum(&[dp.rank() as f64]).unwrap());
/// assert_eq!(sums, vec![vec![3.0]; 3]);
/// ```
#[derive(Debug)]
pub struct LocalGroup {
    size: usize,
    timeout: Duration,
}

impl LocalGroup {
    /// A group of `size` ranks (at least 1), with a 60 s timeout per collective.
    pub fn new(size: usize) -> LocalGroup {
        LocalGroup {
            size: size.max(1),
            timeout: Duration::from_secs(60),
        }
    }

    /// How long a collective waits for the other ranks before it fails.
    pub fn timeout(mut self, timeout: Duration) -> LocalGroup {
        self.timeout = timeout;
        self
    }

    /// The group's ranks, rank `i` at index `i`: give each to its own thread.
    pub fn ranks(self) -> Vec<LocalRank> {
        let shared = Arc::new(Shared {
            size: self.size,
            timeout: self.timeout,
            state: Mutex::new(State {
                generation: 0,
                parts: vec![None; self.size],
                results: Arc::new(Vec::new()),
                left: Vec::new(),
            }),
            changed: Condvar::new(),
        });
        (0..self.size)
            .map(|rank| LocalRank {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }

    /// Runs `f` on every rank, each on its own thread with a [`DataParallel`](descent_train::DataParallel) over the group,
    /// and returns the results in rank order.
    ///
    /// # Panics
    /// If a rank's `f` panics (the others' collectives then fail).
    pub fn run<T: Send>(self, f: impl Fn(descent_train::DataParallel) -> T + Sync) -> Vec<T> {
        let ranks = self.ranks();
        std::thread::scope(|s| {
            let handles: Vec<_> = ranks
                .into_iter()
                .map(|r| {
                    let f = &f;
                    s.spawn(move || f(descent_train::DataParallel::new(r)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }
}

/// One rank of a [`LocalGroup`]; dropping it (a thread that returns, errors or panics) leaves
/// the group.
#[derive(Debug)]
pub struct LocalRank {
    rank: usize,
    shared: Arc<Shared>,
}

impl LocalRank {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated: every update is
        // a single assignment or push.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn gone(&self, state: &State, waiting: bool) -> Option<Error> {
        // The first rank to leave is the cause; the others left because of it.
        let (rank, why) = state.left.first()?;
        let rank = *rank;
        // While waiting, a rank that deposited its part before leaving does not block.
        if waiting && state.left.iter().all(|(r, _)| state.parts[*r].is_some()) {
            return None;
        }
        Some(Error::InvalidArgument {
            op: "LocalGroup",
            message: format!(
                "rank {} cannot complete a collective: rank {rank} left the group ({why})",
                self.rank
            ),
        })
    }

    /// Deposits `part` and returns every rank's part of this exchange, in rank order.
    fn exchange(&self, part: Part) -> Result<Arc<Vec<Part>>> {
        let size = self.shared.size;
        let mut state = self.lock();
        if let Some(e) = self.gone(&state, false) {
            return Err(e);
        }
        let generation = state.generation;
        state.parts[self.rank] = Some(part);
        if state.parts.iter().all(Option::is_some) {
            let parts: Vec<Part> = state
                .parts
                .iter_mut()
                .map(|p| p.take().expect("all in"))
                .collect();
            debug_assert_eq!(parts.len(), size);
            state.results = Arc::new(parts);
            state.generation += 1;
            self.shared.changed.notify_all();
            return Ok(state.results.clone());
        }
        let start = Instant::now();
        while state.generation == generation {
            if let Some(e) = self.gone(&state, true) {
                state.parts[self.rank] = None;
                return Err(e);
            }
            let left = self.shared.timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                let missing: Vec<usize> = (0..size).filter(|&r| state.parts[r].is_none()).collect();
                state.parts[self.rank] = None;
                state.left.push((self.rank, "it timed out".to_string()));
                self.shared.changed.notify_all();
                return Err(Error::InvalidArgument {
                    op: "LocalGroup",
                    message: format!(
                        "rank {} waited {:?} in a collective for ranks {missing:?}",
                        self.rank, self.shared.timeout
                    ),
                });
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        Ok(state.results.clone())
    }
}

impl Drop for LocalRank {
    fn drop(&mut self) {
        let why = if std::thread::panicking() {
            "it panicked"
        } else {
            "it finished or returned an error"
        };
        let mut state = self.lock();
        state.left.push((self.rank, why.to_string()));
        self.shared.changed.notify_all();
    }
}

fn mismatch(what: &str) -> Error {
    Error::InvalidArgument {
        op: "LocalGroup",
        message: format!("the ranks called different collectives ({what})"),
    }
}

impl Collective for LocalRank {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world_size(&self) -> usize {
        self.shared.size
    }

    fn broadcast_bytes(&self, data: &mut Vec<u8>, root: usize) -> Result<()> {
        let mine = if self.rank == root {
            data.clone()
        } else {
            Vec::new()
        };
        let all = self.exchange(Part::Bytes(mine))?;
        match &all[root] {
            Part::Bytes(b) => {
                data.clone_from(b);
                Ok(())
            }
            _ => Err(mismatch("broadcast_bytes")),
        }
    }

    fn all_gather_bytes(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        let all = self.exchange(Part::Bytes(data.to_vec()))?;
        all.iter()
            .map(|p| match p {
                Part::Bytes(b) => Ok(b.clone()),
                _ => Err(mismatch("all_gather_bytes")),
            })
            .collect()
    }

    fn all_to_all_f32(&self, send: &[f32], counts: &[usize], recv: &mut [f32]) -> Result<()> {
        self.all_to_all(send, counts, recv)
    }

    fn all_gather_f32(&self, send: &[f32], counts: &[usize], recv: &mut [f32]) -> Result<()> {
        self.all_gather(send, counts, recv)
    }

    fn all_to_all_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) -> Result<()> {
        self.all_to_all(send, counts, recv)
    }

    fn all_gather_f64(&self, send: &[f64], counts: &[usize], recv: &mut [f64]) -> Result<()> {
        self.all_gather(send, counts, recv)
    }
}

/// The element types a [`Part`] carries.
trait Value: Copy {
    fn wrap(values: Vec<Self>) -> Part;
    fn unwrap(part: &Part) -> Option<&[Self]>;
}

impl Value for f32 {
    fn wrap(values: Vec<f32>) -> Part {
        Part::F32(values)
    }
    fn unwrap(part: &Part) -> Option<&[f32]> {
        match part {
            Part::F32(v) => Some(v),
            _ => None,
        }
    }
}

impl Value for f64 {
    fn wrap(values: Vec<f64>) -> Part {
        Part::F64(values)
    }
    fn unwrap(part: &Part) -> Option<&[f64]> {
        match part {
            Part::F64(v) => Some(v),
            _ => None,
        }
    }
}

impl LocalRank {
    fn all_to_all<T: Value>(&self, send: &[T], counts: &[usize], recv: &mut [T]) -> Result<()> {
        let all = self.exchange(T::wrap(send.to_vec()))?;
        let start: usize = counts[..self.rank].iter().sum();
        let n = counts[self.rank];
        for (out, p) in recv.chunks_mut(n.max(1)).zip(all.iter()) {
            let v = T::unwrap(p).ok_or_else(|| mismatch("all_to_all"))?;
            out.copy_from_slice(&v[start..start + n]);
        }
        Ok(())
    }

    fn all_gather<T: Value>(&self, send: &[T], counts: &[usize], recv: &mut [T]) -> Result<()> {
        let all = self.exchange(T::wrap(send.to_vec()))?;
        let mut at = 0;
        for (p, &n) in all.iter().zip(counts) {
            match T::unwrap(p) {
                Some(v) if v.len() == n => recv[at..at + n].copy_from_slice(v),
                _ => return Err(mismatch("all_gather")),
            }
            at += n;
        }
        Ok(())
    }
}
