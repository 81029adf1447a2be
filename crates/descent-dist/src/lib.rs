//! Data-parallel training for descent across processes: the transports under
//! [`descent_train::DataParallel`].
//!
//! - `Mpi` (feature `mpi`): the processes of an MPI job, started with
//!   `mpirun -np N program`. Without the feature, [`from_env`] under `mpirun` is an error that
//!   says how to build with it; nothing else needs an MPI library.
//! - [`LocalGroup`]: ranks as threads of one process, for tests and for trying data parallelism
//!   without a launcher.
//! - [`from_env`]: what a program calls once at start: the MPI group when launched by `mpirun`,
//!   `None` otherwise.
//!
//! What happens to gradients, metrics, checkpoints and random streams is
//! [`descent_train::distributed`]'s: bucketed gradient averaging summed in rank order (the same
//! bits on every rank and every run), metrics summed over ranks, rank 0 printing and writing.
//!
//! ```
//! use descent_dist::LocalGroup;
//! // Two ranks: each contributes its rank, both get the same sum.
//! let sums = LocalGroup::new(2).run(|dp| dp.sum(&[1.0 + dp.rank() as f64]).unwrap()[0]);
//! assert_eq!(sums, vec![3.0, 3.0]);
//! ```
#![forbid(unsafe_code)]

mod local;
#[cfg(feature = "mpi")]
mod mpi;

pub use descent_train::distributed::{Collective, CommStats, DataParallel, SingleProcess};
pub use local::{LocalGroup, LocalRank};
#[cfg(feature = "mpi")]
pub use mpi::Mpi;

use descent_core::Result;

/// The environment variables an MPI launcher sets with the number of processes (Open MPI,
/// MPICH/Hydra and PMIx, Slurm's PMI).
const SIZE_VARIABLES: [&str; 4] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "PMIX_SIZE",
    "MPI_LOCALNRANKS",
];

/// The number of processes of the MPI job this process was launched in, read from the
/// launcher's environment variables (`OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`, ...), or `None`.
pub fn launched_size() -> Option<usize> {
    SIZE_VARIABLES
        .iter()
        .find_map(|v| std::env::var(v).ok()?.trim().parse().ok())
}

/// Whether this binary was built with MPI support (the `mpi` feature).
pub const HAS_MPI: bool = cfg!(feature = "mpi");

/// The data-parallel group this process belongs to: MPI's when launched by an MPI launcher
/// (`mpirun -np N ...`), else `None` (train as a single process).
///
/// # Errors
/// Launched by `mpirun` but built without the `mpi` feature (saying how to build with it); MPI
/// failing to initialize.
pub fn from_env() -> Result<Option<DataParallel>> {
    let Some(size) = launched_size() else {
        return Ok(None);
    };
    init_mpi(size).map(Some)
}

#[cfg(feature = "mpi")]
fn init_mpi(_size: usize) -> Result<DataParallel> {
    Ok(DataParallel::new(Mpi::init()?))
}

#[cfg(not(feature = "mpi"))]
fn init_mpi(size: usize) -> Result<DataParallel> {
    Err(descent_core::Error::InvalidArgument {
        op: "descent_dist::from_env",
        message: format!(
            "this process was started by an MPI launcher ({size} processes) but built without \
             MPI: build with `--features mpi` (it needs an MPI library and libclang, e.g. \
             Debian's libopenmpi-dev openmpi-bin libclang-dev)"
        ),
    })
}
