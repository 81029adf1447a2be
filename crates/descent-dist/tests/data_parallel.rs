//! Data-parallel training on ranks that are threads ([`LocalGroup`]): the scenarios the MPI
//! check also runs (`examples/mpi_check.rs`), on a machine without MPI.

mod scenarios;

use descent_dist::{DataParallel, LocalGroup, SingleProcess};
use std::time::{Duration, Instant};

fn all_ok(results: Vec<Result<String, String>>) {
    for (rank, r) in results.iter().enumerate() {
        match r {
            Ok(line) => println!("rank {rank}: {line}"),
            Err(e) => panic!("rank {rank}: {e}"),
        }
    }
}

#[test]
fn n_ranks_match_one_process_on_the_same_global_batches() {
    for n in [1, 2, 3] {
        all_ok(LocalGroup::new(n).run(|dp| scenarios::equality(&dp)));
    }
}

#[test]
fn one_rank_is_the_single_process_run_bit_for_bit() {
    let mut plain = scenarios::mlp(32);
    scenarios::train(&mut plain, None, None, None, None).unwrap();
    let dp = DataParallel::new(SingleProcess);
    let mut single = scenarios::mlp(32);
    scenarios::train(&mut single, Some(&dp), None, None, None).unwrap();
    assert_eq!(
        scenarios::state_bytes(&plain),
        scenarios::state_bytes(&single)
    );
}

#[test]
fn runs_are_bit_identical_for_a_fixed_number_of_ranks() {
    all_ok(LocalGroup::new(2).run(|dp| scenarios::determinism(&dp)));
}

#[test]
fn a_mismatched_model_stops_every_rank_naming_the_rank() {
    all_ok(LocalGroup::new(3).run(|dp| scenarios::mismatch(&dp)));
}

#[test]
fn batchnorm_buffers_and_validation_agree_on_every_rank() {
    all_ok(LocalGroup::new(2).run(|dp| scenarios::batchnorm(&dp)));
}

#[test]
fn a_checkpoint_written_by_n_ranks_resumes_on_m() {
    for (n, m) in [(2, 3), (3, 1), (1, 2)] {
        let dir = std::env::temp_dir().join(format!(
            "descent-dist-resume-{}-{n}-{m}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        all_ok(LocalGroup::new(n).run(|dp| scenarios::resume_write(&dp, &dir)));
        all_ok(LocalGroup::new(m).run(|dp| scenarios::resume_read(&dp, &dir)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_failing_rank_ends_every_rank_with_an_error_not_a_hang() {
    let start = Instant::now();
    let results = LocalGroup::new(3)
        .timeout(Duration::from_secs(30))
        .run(|dp| scenarios::rank_fails(&dp).map_err(|e| e.to_string()));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    for (rank, r) in results.iter().enumerate() {
        let msg = r.as_ref().expect_err("every rank fails");
        println!("rank {rank}: {msg}");
        if rank == 2 {
            assert!(msg.contains("fails on purpose"), "{msg}");
        } else {
            assert!(msg.contains("rank 2 left the group"), "{msg}");
        }
    }
}

#[test]
fn a_rank_that_never_arrives_times_out() {
    let ranks = LocalGroup::new(2)
        .timeout(Duration::from_millis(300))
        .ranks();
    let mut it = ranks.into_iter();
    let (r0, _r1) = (it.next().unwrap(), it.next().unwrap());
    let dp = DataParallel::new(r0);
    let err = dp.sum(&[1.0]).unwrap_err().to_string();
    assert!(err.contains("waited") && err.contains("[1]"), "{err}");
}
