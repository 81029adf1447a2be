//! The data-parallel scenarios of `tests/scenarios` over MPI: run under
//! `mpirun -np N target/release/examples/mpi_check SCENARIO [DIR]` (CI's `.ci/mpi.sh` does).
//! Every rank prints its line; the exit code is 0 only if the scenario held on this rank.
//!
//! Scenarios: `equality`, `determinism`, `mismatch`, `batchnorm`, `resume-write DIR`,
//! `resume-read DIR`, `rank-fails` (the last rank errors at its 4th step and exits: the launcher
//! must end the job), `rank-panics` (the last rank panics at its 4th step: the panic hook aborts
//! the job), `rank-hangs` (the last rank stops answering at its 4th step: the others' watchdog,
//! `DESCENT_DIST_TIMEOUT` seconds, ends them and the launcher the job), `transports` (the MPI
//! run's bits equal those of the same ranks as threads).

#[path = "../tests/scenarios/mod.rs"]
mod scenarios;

use std::path::PathBuf;
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dp = match descent_dist::from_env() {
        Ok(Some(dp)) => dp,
        Ok(None) => {
            eprintln!("mpi_check: run me under mpirun");
            exit(2);
        }
        Err(e) => {
            eprintln!("mpi_check: {e}");
            exit(2);
        }
    };
    let dir = || PathBuf::from(args.get(1).cloned().unwrap_or_else(|| ".".to_string()));
    let result = match args.first().map(String::as_str) {
        Some("equality") => scenarios::equality(&dp),
        Some("determinism") => scenarios::determinism(&dp),
        Some("mismatch") => scenarios::mismatch(&dp),
        Some("batchnorm") => scenarios::batchnorm(&dp),
        Some("resume-write") => scenarios::resume_write(&dp, &dir()),
        Some("resume-read") => scenarios::resume_read(&dp, &dir()),
        Some("rank-fails") => match scenarios::rank_fails(&dp) {
            Ok(_) => Err("the failing rank's run did not fail".to_string()),
            Err(e) => {
                // What an application does with an error: say it and exit, which makes the
                // launcher end the other ranks (they are waiting in a collective).
                eprintln!("mpi_check: rank {}: {e}", dp.rank());
                exit(3);
            }
        },
        Some("rank-panics") => {
            let failing = dp.world_size() - 1;
            let _ = scenarios::rank_fails_with(&dp, &|| {
                if dp.rank() == failing {
                    panic!("rank {failing} panics on purpose")
                }
            });
            Err("the panicking rank's run went on".to_string())
        }
        Some("rank-hangs") => {
            let failing = dp.world_size() - 1;
            let _ = scenarios::rank_fails_with(&dp, &|| {
                if dp.rank() == failing {
                    eprintln!("mpi_check: rank {failing} stops answering on purpose");
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
            });
            Err("the run went on past a hung rank".to_string())
        }
        Some("transports") => {
            let mine = scenarios::trained_state(&dp);
            let world = dp.world_size();
            let rank = dp.rank();
            // The same ranks as threads of this process, for comparison.
            let threads = descent_dist::LocalGroup::new(world)
                .run(|d| scenarios::trained_state(&d))
                .swap_remove(rank);
            if mine == threads {
                Ok(format!("MPI and thread ranks ({world}) give the same bits"))
            } else {
                Err("MPI and thread ranks differ".to_string())
            }
        }
        other => Err(format!("unknown scenario {other:?}")),
    };
    match result {
        Ok(line) => println!("rank {}: {line}", dp.rank()),
        Err(e) => {
            eprintln!("rank {}: FAILED: {e}", dp.rank());
            exit(1);
        }
    }
}
