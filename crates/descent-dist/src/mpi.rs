//! [`Mpi`]: the ranks of a data-parallel group as the processes of an MPI job (`mpirun -np N`).
//!
//! Built with the `mpi` feature (the `mpi` crate over the system's MPI library; Open MPI is what
//! CI runs). Collectives are MPI's `Bcast`, `Allgather(v)` and `Alltoallv` on `MPI_COMM_WORLD`;
//! the reduction arithmetic is descent's own, in a fixed order (see
//! [`descent_train::distributed`]).
//!
//! **Failures.** MPI has no timeouts: a collective waits until every rank arrives. A rank that
//! exits (an error, a panic, a signal) makes `mpirun` end the whole job, and a panic here
//! calls `MPI_Abort` after printing its message, so the job ends rather than the others waiting
//! at MPI's finalization. Against a rank that hangs without exiting, a watchdog thread ends
//! this process with an error naming the collective when one has waited longer than
//! `DESCENT_DIST_TIMEOUT` seconds (default 600), which again ends the job.

use descent_core::{Error, Result};
use descent_train::Collective;
use mpi::Count;
use mpi::collective::{CommunicatorCollectives, Root};
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::Equivalence;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The MPI job this process belongs to (`MPI_COMM_WORLD`). Dropping it finalizes MPI.
///
/// **Failures.** MPI has no timeouts: a collective waits until every rank arrives. A rank that
/// exits (an error, a panic, a signal) makes `mpirun` end the whole job; a panic calls
/// `MPI_Abort` after printing its message, so the job ends rather than the others waiting at
/// MPI's finalization. Against a rank that hangs without exiting, a watchdog thread ends this
/// process with an error naming the collective when one has waited longer than
/// `DESCENT_DIST_TIMEOUT` seconds (default 600), which again ends the job. After an error of
/// its own, a program should exit (or call [`Mpi::abort`]) rather than return from `main`
/// normally, which would finalize MPI while the other ranks wait.
pub struct Mpi {
    world: SimpleCommunicator,
    watchdog: Watchdog,
    // Last: MPI is finalized after the communicator is gone.
    _universe: Universe,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi")
            .field("rank", &self.world.rank())
            .field("size", &self.world.size())
            .finish()
    }
}

impl Mpi {
    /// Initializes MPI (`MPI_Init`) and joins `MPI_COMM_WORLD`; installs the panic hook and the
    /// watchdog described at [`Mpi`].
    ///
    /// # Errors
    /// If MPI was already initialized in this process.
    pub fn init() -> Result<Mpi> {
        let universe = mpi::initialize().ok_or_else(|| Error::InvalidArgument {
            op: "Mpi::init",
            message: "MPI is already initialized in this process".to_string(),
        })?;
        let world = universe.world();
        let rank = world.rank();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            eprintln!("descent-dist: rank {rank} panicked; aborting the MPI job");
            SimpleCommunicator::world().abort(101);
        }));
        let timeout = std::env::var("DESCENT_DIST_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(Duration::from_secs(600), Duration::from_secs_f64);
        Ok(Mpi {
            watchdog: Watchdog::start(rank as usize, timeout),
            world,
            _universe: universe,
        })
    }

    /// Ends every process of the job with `code` (`MPI_Abort`), after an error on this rank.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    fn guarded<R>(&self, what: &'static str, f: impl FnOnce() -> R) -> R {
        self.watchdog.enter(what);
        let r = f();
        self.watchdog.leave();
        r
    }
}

/// Ends the process when a collective waits too long.
struct Watchdog {
    /// Milliseconds since `epoch` when the current collective started, plus 1; 0 when idle.
    since: Arc<AtomicU64>,
    /// Which collective (an index into `NAMES`).
    what: Arc<AtomicU64>,
    epoch: Instant,
}

const NAMES: [&str; 5] = [
    "broadcast",
    "all-gather",
    "all-to-all",
    "all-gather (values)",
    "other",
];

impl Watchdog {
    fn start(rank: usize, timeout: Duration) -> Watchdog {
        let since = Arc::new(AtomicU64::new(0));
        let what = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let (s, w) = (since.clone(), what.clone());
        std::thread::Builder::new()
            .name("descent-dist-watchdog".to_string())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(250).min(timeout));
                    let started = s.load(Ordering::Acquire);
                    if started == 0 {
                        continue;
                    }
                    let now = epoch.elapsed().as_millis() as u64 + 1;
                    if now.saturating_sub(started) > timeout.as_millis() as u64 {
                        let name = NAMES[(w.load(Ordering::Acquire) as usize).min(NAMES.len() - 1)];
                        eprintln!(
                            "descent-dist: rank {rank} waited more than {:.0} s in an MPI {name} \
                             for the other ranks (DESCENT_DIST_TIMEOUT): another rank hangs or \
                             died; ending this process",
                            timeout.as_secs_f64()
                        );
                        std::process::exit(70);
                    }
                }
            })
            .expect("spawning the watchdog thread");
        Watchdog { since, what, epoch }
    }

    fn enter(&self, what: &'static str) {
        let i = NAMES
            .iter()
            .position(|n| *n == what)
            .unwrap_or(NAMES.len() - 1);
        self.what.store(i as u64, Ordering::Release);
        self.since.store(
            self.epoch.elapsed().as_millis() as u64 + 1,
            Ordering::Release,
        );
    }

    fn leave(&self) {
        self.since.store(0, Ordering::Release);
    }
}

/// MPI counts are C ints.
fn count(n: usize) -> Result<Count> {
    Count::try_from(n).map_err(|_| Error::InvalidArgument {
        op: "Mpi",
        message: format!("{n} elements do not fit an MPI count; use smaller buckets"),
    })
}

fn displacements(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |at, &c| {
            let d = *at;
            *at += c;
            Some(d)
        })
        .collect()
}

impl Mpi {
    fn all_to_all<T: Equivalence>(
        &self,
        send: &[T],
        counts: &[usize],
        recv: &mut [T],
    ) -> Result<()> {
        let world = self.world.size() as usize;
        let rank = self.world.rank() as usize;
        if counts.len() != world
            || send.len() != counts.iter().sum::<usize>()
            || recv.len() != world * counts[rank]
        {
            return Err(Error::InvalidArgument {
                op: "Mpi::all_to_all",
                message: "buffer lengths do not match the counts".to_string(),
            });
        }
        let send_counts = counts
            .iter()
            .map(|&c| count(c))
            .collect::<Result<Vec<_>>>()?;
        let send_displs = displacements(&send_counts);
        let recv_counts = vec![count(counts[rank])?; world];
        let recv_displs = displacements(&recv_counts);
        self.guarded("all-to-all", || {
            let s = Partition::new(send, &send_counts[..], &send_displs[..]);
            let mut r = PartitionMut::new(recv, &recv_counts[..], &recv_displs[..]);
            self.world.all_to_all_varcount_into(&s, &mut r);
        });
        Ok(())
    }

    fn all_gather<T: Equivalence>(
        &self,
        send: &[T],
        counts: &[usize],
        recv: &mut [T],
    ) -> Result<()> {
        let world = self.world.size() as usize;
        let rank = self.world.rank() as usize;
        if counts.len() != world
            || send.len() != counts[rank]
            || recv.len() != counts.iter().sum::<usize>()
        {
            return Err(Error::InvalidArgument {
                op: "Mpi::all_gather",
                message: "buffer lengths do not match the counts".to_string(),
            });
        }
        let recv_counts = counts
            .iter()
            .map(|&c| count(c))
            .collect::<Result<Vec<_>>>()?;
        let recv_displs = displacements(&recv_counts);
        self.guarded("all-gather (values)", || {
            let mut r = PartitionMut::new(recv, &recv_counts[..], &recv_displs[..]);
            self.world.all_gather_varcount_into(send, &mut r);
        });
        Ok(())
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn world_size(&self) -> usize {
        self.world.size() as usize
    }

    fn broadcast_bytes(&self, data: &mut Vec<u8>, root: usize) -> Result<()> {
        let root = self.world.process_at_rank(count(root)?);
        let mut len = data.len() as u64;
        self.guarded("broadcast", || root.broadcast_into(&mut len));
        let len = usize::try_from(len).map_err(|_| Error::InvalidArgument {
            op: "Mpi::broadcast_bytes",
            message: format!("{len} bytes do not fit this machine"),
        })?;
        count(len)?;
        data.resize(len, 0);
        self.guarded("broadcast", || root.broadcast_into(&mut data[..]));
        Ok(())
    }

    fn all_gather_bytes(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        let world = self.world.size() as usize;
        let mut lens = vec![0u64; world];
        self.guarded("all-gather", || {
            self.world
                .all_gather_into(&(data.len() as u64), &mut lens[..])
        });
        let counts: Vec<usize> = lens.iter().map(|&n| n as usize).collect();
        let mut all = vec![0u8; counts.iter().sum()];
        self.all_gather(data, &counts, &mut all)?;
        let mut out = Vec::with_capacity(world);
        let mut at = 0;
        for n in counts {
            out.push(all[at..at + n].to_vec());
            at += n;
        }
        Ok(out)
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
