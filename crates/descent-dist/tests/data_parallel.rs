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

#[test]
fn a_rank_with_an_empty_share_of_the_last_batch_contributes_nothing() {
    use descent_core::{IntTensor, Tensor};
    use descent_data::{DataLoader, TensorDataset};
    use descent_nn::{Linear, Seeds};
    use descent_optim::Sgd;
    use descent_train::{Learner, Progress};
    // 10 samples in batches of 4: the last batch holds 2, so of 3 ranks one gets nothing.
    let x: Vec<f32> = (0..30)
        .map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.5)
        .collect();
    let y: Vec<usize> = (0..10).map(|i| i % 3).collect();
    let data = TensorDataset::new(Tensor::from_vec(x, [10, 3]), IntTensor::from(&y[..])).unwrap();
    let loader = DataLoader::new(data, 4).unwrap().shuffle(1);
    let train = |dp: Option<&DataParallel>| {
        let mut m = Linear::new(3, 3, true, &Seeds::new(0).stream("0"));
        let mut opt = Sgd::new(0.5).unwrap();
        let mut l = Learner::new(&mut m, &mut opt)
            .epochs(3)
            .progress(Progress::Quiet);
        if let Some(dp) = dp {
            l = l.distributed(dp);
        }
        let h = l.fit(&loader).unwrap();
        let mut v = m.weight.value().to_vec_f32();
        v.extend(m.bias.as_ref().unwrap().value().to_vec_f32());
        (v, h.epochs[2].train_loss)
    };
    let (one, loss_one) = train(None);
    for (many, loss_many) in LocalGroup::new(3).run(|dp| train(Some(&dp))) {
        let d = scenarios::max_diff(&one, &many);
        assert!(d <= 1e-6, "{d:e}");
        assert!(
            (loss_one - loss_many).abs() < 1e-6,
            "{loss_one} {loss_many}"
        );
    }
}
