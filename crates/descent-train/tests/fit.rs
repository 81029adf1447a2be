//! The fit loop on the embedded digits: it learns, it stops a diverging learning rate with a
//! message naming it, a resume from a mid-epoch checkpoint equals an uninterrupted run bit for
//! bit (an MLP with dropout, and a CNN with BatchNorm and dropout), a failed resume changes
//! nothing, and the curves are written.

use descent_core::{Error, IntTensor, Params, Tape, Tensor, Var};
use descent_data::{DataLoader, TensorDataset, digits, split};
use descent_nn::{Ctx, Dropout, Flatten, Linear, Module, ReLU, Seeds, Sequential};
use descent_optim::schedule::CosineAnnealing;
use descent_optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use descent_train::{Learner, Progress, train_step};
use std::path::PathBuf;

fn data() -> (TensorDataset, TensorDataset) {
    split(&digits(), 0.2, 7).unwrap()
}

fn mlp(seed: u64) -> Sequential {
    let s = Seeds::new(seed);
    Sequential::new()
        .push(Flatten)
        .push(Linear::new(64, 32, true, &s.stream("1")))
        .push(ReLU)
        .push(Dropout::new(0.2).unwrap())
        .push(Linear::new(32, 10, true, &s.stream("4")))
}

fn bits(m: &Sequential) -> Vec<u32> {
    let mut out = Vec::new();
    m.visit(&mut |p| out.extend(p.value().to_vec_f32().iter().map(|v| v.to_bits())));
    out
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("descent-train-{}-{name}", std::process::id()))
}

#[test]
fn an_mlp_learns_the_digits() {
    let (train, val) = data();
    let loader = DataLoader::new(train, 32).unwrap().shuffle(1);
    let mut model = mlp(0);
    let mut opt = Adam::new(AdamConfig {
        lr: 0.01,
        ..AdamConfig::default()
    })
    .unwrap();
    let history = Learner::new(&mut model, &mut opt)
        .epochs(8)
        .validation(DataLoader::new(val, 256).unwrap())
        .progress(Progress::Quiet)
        .fit(&loader)
        .unwrap();
    assert_eq!(history.epochs.len(), 8);
    let last = history.last().unwrap();
    assert!(last.val_accuracy.unwrap() > 0.93, "{last:?}");
    assert!(last.train_loss < history.epochs[0].train_loss);
}

#[test]
fn a_learning_rate_far_too_large_stops_the_run_naming_it() {
    // The new user's case of the issue: Adam at lr 10 on the digits.
    let (train, _) = data();
    let loader = DataLoader::new(train, 32).unwrap().shuffle(1);
    let mut model = mlp(0);
    let mut opt = Adam::new(AdamConfig {
        lr: 10.0,
        ..AdamConfig::default()
    })
    .unwrap();
    let err = Learner::new(&mut model, &mut opt)
        .epochs(30)
        .progress(Progress::Quiet)
        .fit(&loader)
        .unwrap_err();
    let Error::Diverged {
        step,
        lr,
        suggested_lr,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*lr, *suggested_lr), (10.0, 1.0));
    assert!(
        *step < 3 * loader.num_batches() as u64,
        "stopped late: {err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("learning rate 10 is likely too large; try 1"),
        "{message}"
    );

    // With the guard rails off, the same run goes on (and gets nowhere).
    let mut model = mlp(0);
    let mut opt = Adam::new(AdamConfig {
        lr: 10.0,
        ..AdamConfig::default()
    })
    .unwrap();
    let h = Learner::new(&mut model, &mut opt)
        .epochs(2)
        .lr_warnings(false)
        .progress(Progress::Quiet)
        .fit(&loader);
    // Either it finishes, or the optimizer refuses a non-finite step; it is not stopped early
    // by the monitor.
    assert!(!matches!(h, Err(Error::Diverged { .. })));
}

#[test]
fn a_nan_in_the_data_is_blamed_on_the_data_at_the_first_step() {
    let x = Tensor::from_vec(vec![f32::NAN; 4 * 64], [4, 1, 8, 8]);
    let d = TensorDataset::new(x, IntTensor::from(&[0usize, 1, 2, 3][..])).unwrap();
    let mut model = mlp(0);
    let mut opt = Sgd::new(0.1).unwrap();
    let err = Learner::new(&mut model, &mut opt)
        .progress(Progress::Quiet)
        .fit(&DataLoader::new(d, 4).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::NonFinite { step: 1, .. }), "{err}");
    assert!(err.to_string().contains("check the inputs"), "{err}");
}

/// A run of 2 epochs with dropout, a shuffled loader, momentum and a cosine schedule.
fn run(
    model: &mut Sequential,
    opt: &mut dyn Optimizer,
    loader: &DataLoader,
    ckpt: Option<(&PathBuf, u64)>,
    resume: Option<&PathBuf>,
    max_steps: Option<u64>,
) -> descent_core::Result<descent_train::History> {
    let steps = 2 * loader.num_batches() as u64;
    let mut l = Learner::new(model, opt)
        .epochs(2)
        .seed(11)
        .schedule(CosineAnnealing::new(0.05, 0.0, steps).unwrap())
        .progress(Progress::Quiet);
    if let Some((p, every)) = ckpt {
        l = l.checkpoint(p, Some(every));
    }
    if let Some(p) = resume {
        l = l.resume(p);
    }
    if let Some(n) = max_steps {
        l = l.max_steps(n);
    }
    l.fit(loader)
}

fn sgd() -> Sgd {
    Sgd::with_config(SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        ..SgdConfig::default()
    })
    .unwrap()
}

#[test]
fn resuming_from_a_mid_epoch_checkpoint_equals_an_uninterrupted_run() {
    let (train, _) = data();
    let loader = DataLoader::new(train, 64).unwrap().shuffle(3);
    let batches = loader.num_batches() as u64;

    let mut straight = mlp(5);
    let h_straight = run(&mut straight, &mut sgd(), &loader, None, None, None).unwrap();

    // Interrupted mid-way through the second epoch, after a checkpoint 5 steps earlier.
    let path = temp("resume.ckpt");
    let stop = batches + 7;
    let mut first = mlp(5);
    run(
        &mut first,
        &mut sgd(),
        &loader,
        Some((&path, 5)),
        None,
        Some(stop),
    )
    .unwrap();
    let file = descent_core::io::load(&path).unwrap();
    let position: u64 = file.metadata["train.position"].parse().unwrap();
    assert_eq!(file.metadata["train.epoch"], "1");
    assert!(position > 0 && position < batches, "a mid-epoch checkpoint");

    // A fresh process: a new model and optimizer, resumed.
    let mut resumed = mlp(99);
    let h_resumed = run(&mut resumed, &mut sgd(), &loader, None, Some(&path), None).unwrap();
    assert_eq!(bits(&resumed), bits(&straight));
    assert_eq!(h_resumed.epochs.len(), 2);
    for (a, b) in h_resumed.epochs.iter().zip(&h_straight.epochs) {
        assert_eq!(
            (a.train_loss, a.train_accuracy, a.lr),
            (b.train_loss, b.train_accuracy, b.lr)
        );
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_failed_resume_names_the_file_and_changes_nothing() {
    let (train, _) = data();
    let loader = DataLoader::new(train, 128).unwrap();
    let path = temp("failed.ckpt");
    let mut m = mlp(1);
    run(&mut m, &mut sgd(), &loader, Some((&path, 3)), None, Some(4)).unwrap();

    // Another optimizer's state: refused after the weights were checked; the model keeps its
    // values.
    let mut other = mlp(2);
    let before = bits(&other);
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    let err = run(&mut other, &mut adam, &loader, None, Some(&path), None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("failed.ckpt") && msg.contains("Sgd"), "{msg}");
    assert_eq!(bits(&other), before);

    // Another loader: the checkpoint stopped at batch 3 of an epoch of 12; this one has 2.
    let err = Learner::new(&mut other, &mut sgd())
        .seed(11)
        .resume(&path)
        .progress(Progress::Quiet)
        .fit(&DataLoader::new(data().0, 1024).unwrap())
        .unwrap_err();
    assert!(
        err.to_string().contains("this loader has 2 batches"),
        "{err}"
    );
    assert_eq!(bits(&other), before);

    // Another seed.
    let err = Learner::new(&mut other, &mut sgd())
        .seed(12)
        .resume(&path)
        .progress(Progress::Quiet)
        .fit(&loader)
        .unwrap_err();
    assert!(err.to_string().contains("seeded with 11"), "{err}");

    // Not a checkpoint at all.
    std::fs::write(&path, b"not a checkpoint").unwrap();
    let err = run(&mut other, &mut sgd(), &loader, None, Some(&path), None).unwrap_err();
    assert!(err.to_string().contains("failed.ckpt"), "{err}");
    assert_eq!(bits(&other), before);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn curves_are_written_as_csv_and_svg() {
    let (train, val) = data();
    let prefix = temp("curves");
    let mut model = mlp(0);
    let mut opt = sgd();
    Learner::new(&mut model, &mut opt)
        .epochs(2)
        .validation(DataLoader::new(val, 512).unwrap())
        .curves(&prefix)
        .progress(Progress::Lines)
        .fit(&DataLoader::new(train, 64).unwrap())
        .unwrap();
    let csv = std::fs::read_to_string(prefix.with_extension("csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("epoch,train_loss"));
    let svg = std::fs::read_to_string(prefix.with_extension("svg")).unwrap();
    assert!(svg.contains("<svg"));
    std::fs::remove_file(prefix.with_extension("csv")).unwrap();
    std::fs::remove_file(prefix.with_extension("svg")).unwrap();
}

#[test]
fn a_derived_model_struct_trains_through_the_loop() {
    #[derive(descent_nn::Module)]
    struct Net {
        body: Sequential,
        head: Linear,
    }
    impl Module for Net {
        fn forward(
            &self,
            x: &descent_core::Var,
            ctx: &descent_nn::Ctx,
        ) -> descent_core::Result<descent_core::Var> {
            self.head.forward(&self.body.forward(x, ctx)?, ctx)
        }
    }
    let s = Seeds::new(0);
    let mut net = Net {
        body: Sequential::new()
            .push(Flatten)
            .push(Linear::new(64, 16, true, &s.stream("b")))
            .push(ReLU),
        head: Linear::new(16, 10, true, &s.stream("h")),
    };
    let (train, val) = data();
    let mut opt = Adam::new(AdamConfig {
        lr: 0.01,
        ..AdamConfig::default()
    })
    .unwrap();
    let h = Learner::new(&mut net, &mut opt)
        .epochs(3)
        .validation(DataLoader::new(val, 512).unwrap())
        .progress(Progress::Quiet)
        .fit(&DataLoader::new(train, 32).unwrap().shuffle(0))
        .unwrap();
    assert!(h.last().unwrap().val_accuracy.unwrap() > 0.8);
}

#[test]
fn a_learning_rate_far_too_small_is_named_in_a_warning_and_a_good_one_is_not() {
    let (train, _) = data();
    let loader = DataLoader::new(train, 32).unwrap().shuffle(1);
    let fit = |lr: f64, warnings: bool| {
        let mut model = mlp(0);
        let mut opt = Sgd::new(lr).unwrap();
        Learner::new(&mut model, &mut opt)
            .epochs(3)
            .lr_warnings(warnings)
            .progress(Progress::Quiet)
            .fit(&loader)
            .unwrap()
    };
    let slow = fit(1e-7, true);
    assert!(!slow.warnings.is_empty());
    assert!(
        slow.warnings[0].contains("learning rate may be too small (it is 0.0000001"),
        "{:?}",
        slow.warnings
    );
    assert!(fit(1e-7, false).warnings.is_empty());
    let good = fit(0.1, true);
    assert!(good.warnings.is_empty(), "{:?}", good.warnings);
}

/// A small CNN with BatchNorm (running statistics are buffers in the checkpoint) and dropout.
fn cnn(seed: u64) -> Sequential {
    let s = Seeds::new(seed);
    Sequential::new()
        .push(descent_nn::Conv2d::new(1, 4, 3, &s.stream("0")))
        .push(descent_nn::BatchNorm2d::new(4))
        .push(ReLU)
        .push(descent_nn::MaxPool2d::new(2))
        .push(Dropout::new(0.25).unwrap())
        .push(Flatten)
        .push(Linear::new(4 * 3 * 3, 10, true, &s.stream("6")))
}

/// Every parameter and buffer (running statistics, batch counts) as bits.
fn state_bits(m: &Sequential) -> Vec<(String, Vec<u64>)> {
    descent_nn::state_dict(m)
        .into_iter()
        .map(|(name, t)| {
            let bits = match t {
                descent_core::io::AnyTensor::Float(t) => {
                    t.to_vec_f64().iter().map(|v| v.to_bits()).collect()
                }
                descent_core::io::AnyTensor::Int(t) => {
                    t.to_vec().iter().map(|&v| v as u64).collect()
                }
            };
            (name, bits)
        })
        .collect()
}

#[test]
fn resuming_a_cnn_with_batchnorm_and_dropout_equals_an_uninterrupted_run() {
    let (train, _) = data();
    let loader = DataLoader::new(train, 64).unwrap().shuffle(3);
    let batches = loader.num_batches() as u64;

    let mut straight = cnn(5);
    let h_straight = run(&mut straight, &mut sgd(), &loader, None, None, None).unwrap();

    // N steps with a checkpoint at each, stopped mid-way through the second epoch; then a fresh
    // model and optimizer resume and train the M remaining steps.
    let path = temp("resume-cnn.ckpt");
    let stop = batches + 4;
    let mut first = cnn(5);
    run(
        &mut first,
        &mut sgd(),
        &loader,
        Some((&path, 1)),
        None,
        Some(stop),
    )
    .unwrap();
    let file = descent_core::io::load(&path).unwrap();
    assert_eq!(file.metadata["train.step"], stop.to_string());
    assert!(file.get("1.running_mean").is_some() && file.get("1.num_batches_tracked").is_some());

    let mut resumed = cnn(99);
    let h_resumed = run(&mut resumed, &mut sgd(), &loader, None, Some(&path), None).unwrap();
    assert_eq!(state_bits(&resumed), state_bits(&straight));
    for (a, b) in h_resumed.epochs.iter().zip(&h_straight.epochs) {
        assert_eq!((a.train_loss, a.lr), (b.train_loss, b.lr));
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn train_step_is_the_step_fit_takes() {
    // Three steps of the loop and three `train_step` calls on the same batches, with dropout
    // (its masks derive from the `Ctx`), end in the same bits.
    let (train, _) = data();
    let loader = DataLoader::new(train, 32).unwrap().shuffle(2);
    let mut looped = mlp(3);
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    Learner::new(&mut looped, &mut opt)
        .seed(4)
        .max_steps(3)
        .progress(Progress::Quiet)
        .fit(&loader)
        .unwrap();

    let mut stepped = mlp(3);
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let loss = |out: &Var, y: &IntTensor| out.try_cross_entropy(y);
    let mut losses = Vec::new();
    for (step, batch) in loader.epoch(0).take(3).enumerate() {
        let ctx = Ctx::train(4, 0, step as u64);
        let tape = Tape::new();
        let l = train_step(
            &mut stepped,
            &mut opt,
            &tape,
            &batch.features,
            &batch.labels,
            &ctx,
            &loss,
        )
        .unwrap();
        losses.push(l);
        assert!(tape.is_consumed());
    }
    assert_eq!(bits(&stepped), bits(&looped));
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");

    // A consumed tape is an error, and nothing changes.
    let tape = Tape::new();
    let _ = tape.var(Tensor::zeros([1])).sum_all().backward();
    let batch = loader.epoch(0).next().unwrap();
    let before = bits(&stepped);
    let err = train_step(
        &mut stepped,
        &mut opt,
        &tape,
        &batch.features,
        &batch.labels,
        &Ctx::train(4, 0, 3),
        &loss,
    );
    assert!(err.is_err());
    assert_eq!(bits(&stepped), before);
}
