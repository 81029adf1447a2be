//! What the `mlp` and `cnn` examples share: the command line, the data (the embedded digits, or
//! an MNIST-format folder), the optimizer and schedule, and the training run through
//! `descent::train::Learner`. Each example gives only its model.
//!
//! Under `mpirun -np N` (built with `--features mpi`) the run is data-parallel: every process
//! takes its share of each batch (the batch size stays the global one), gradients are averaged
//! across processes, and only rank 0 prints and writes files.

use descent::data::{DataLoader, Normalizer, TensorDataset, digits, mnist, stratified_split};
use descent::optim::schedule::{CosineAnnealing, OneCycle, StepLr};
use descent::prelude::*;
use std::path::PathBuf;
use std::process::exit;
use std::time::Instant;

/// Settings an example picks for each kind of data.
pub struct Defaults {
    /// `(epochs, batch size, learning rate)` on the embedded digits.
    pub digits: (u64, usize, f64),
    /// `(epochs, batch size, learning rate)` on an MNIST folder.
    pub mnist: (u64, usize, f64),
}

/// The command line.
pub struct Config {
    pub data: Option<PathBuf>,
    pub optimizer: String,
    pub lr: Option<f64>,
    pub batch_size: Option<usize>,
    pub epochs: Option<u64>,
    pub schedule: String,
    pub seed: u64,
    pub out: PathBuf,
    pub resume: bool,
    pub save_model: Option<PathBuf>,
    pub shift: usize,
}

fn usage(name: &str, about: &str, d: &Defaults) -> String {
    format!(
        "\
{name}: {about}

usage: {name} [options]
  --data DIR          an MNIST-format folder (train-images-idx3-ubyte[.gz], ...); default: the
                      8x8 digits embedded in descent (1,797 images, 20 % held out for testing)
  --optimizer NAME    sgd | momentum | adam (default adam)
  --lr LR             learning rate (default {} on digits, {} on MNIST)
  --batch-size B      samples per step: 1 is SGD, the set size is full-batch GD
                      (default {} on digits, {} on MNIST)
  --epochs E          passes over the training set (default {} on digits, {} on MNIST)
  --schedule NAME     none | cosine | step | onecycle (default cosine)
  --shift K           random shifts of up to K pixels (data augmentation; default 0)
  --seed S            seed of the initialization, dropout and shuffling (default 0)
  --out DIR           where the curves (.svg, .csv) and the checkpoint go (default runs)
  --resume            continue from DIR/{name}.ckpt
  --save-model FILE   write the trained weights (safetensors; PyTorch loads them)
  -h, --help          print this help

Lessons to try: --lr 10 (the run stops, naming the learning rate), --lr 0.00001 (a warning says
the loss stalls), --optimizer sgd vs momentum, --batch-size 1 vs 1797 (SGD vs full-batch GD).",
        d.digits.2, d.mnist.2, d.digits.1, d.mnist.1, d.digits.0, d.mnist.0
    )
}

/// Parses the command line; prints the help and exits 0 for `--help`, prints a one-line error
/// and exits 2 for a bad flag.
pub fn parse_args(name: &str, about: &str, defaults: &Defaults) -> Config {
    match try_parse(name, about, defaults) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: {e} (try --help)");
            exit(2);
        }
    }
}

fn try_parse(name: &str, about: &str, defaults: &Defaults) -> Result<Config, lexopt::Error> {
    use lexopt::prelude::*;
    let mut c = Config {
        data: None,
        optimizer: "adam".to_string(),
        lr: None,
        batch_size: None,
        epochs: None,
        schedule: "cosine".to_string(),
        seed: 0,
        out: PathBuf::from("runs"),
        resume: false,
        save_model: None,
        shift: 0,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("data") => c.data = Some(parser.value()?.into()),
            Long("optimizer") => {
                c.optimizer = parser.value()?.string()?;
                if !["sgd", "momentum", "adam"].contains(&c.optimizer.as_str()) {
                    return Err(format!(
                        "--optimizer must be sgd, momentum or adam, not {:?}",
                        c.optimizer
                    )
                    .into());
                }
            }
            Long("lr") => {
                let lr: f64 = number(&mut parser, "--lr")?;
                if !(lr > 0.0 && lr.is_finite()) {
                    return Err(format!("--lr must be positive and finite, not {lr}").into());
                }
                c.lr = Some(lr);
            }
            Long("batch-size") => {
                let b: usize = number(&mut parser, "--batch-size")?;
                if b == 0 {
                    return Err("--batch-size must be at least 1".into());
                }
                c.batch_size = Some(b);
            }
            Long("epochs") => c.epochs = Some(number(&mut parser, "--epochs")?),
            Long("schedule") => {
                c.schedule = parser.value()?.string()?;
                if !["none", "cosine", "step", "onecycle"].contains(&c.schedule.as_str()) {
                    return Err(format!(
                        "--schedule must be none, cosine, step or onecycle, not {:?}",
                        c.schedule
                    )
                    .into());
                }
            }
            Long("shift") => c.shift = number(&mut parser, "--shift")?,
            Long("seed") => c.seed = number(&mut parser, "--seed")?,
            Long("out") => c.out = parser.value()?.into(),
            Long("resume") => c.resume = true,
            Long("save-model") => c.save_model = Some(parser.value()?.into()),
            Short('h') | Long("help") => {
                println!("{}", usage(name, about, defaults));
                exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(c)
}

/// The value of `flag`, parsed; the error names the flag and the value.
fn number<T>(parser: &mut lexopt::Parser, flag: &str) -> Result<T, lexopt::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let v = parser.value()?;
    let s = v.to_string_lossy();
    s.parse().map_err(|e| format!("{flag} {s:?}: {e}").into())
}

/// The training and test sets, normalized per channel with the training set's statistics, and
/// a line saying what they are.
fn load_data(c: &Config) -> descent::core::Result<(TensorDataset, TensorDataset, String)> {
    let (train, test, what) = match &c.data {
        None => {
            let (train, test) = stratified_split(&digits(), 0.2, 0)?;
            (train, test, "the embedded 8x8 digits".to_string())
        }
        Some(dir) => {
            let m = mnist(dir)?;
            (
                m.train,
                m.test,
                format!("the IDX data in {}", dir.display()),
            )
        }
    };
    let norm = Normalizer::per_channel(&train)?;
    Ok((norm.apply(&train)?, norm.apply(&test)?, what))
}

/// Trains the model `build` makes from the input shape and the class count; prints the summary;
/// exits 1 with the error's message if anything fails.
pub fn run(
    name: &str,
    c: &Config,
    defaults: &Defaults,
    build: impl Fn(&Seeds, &[usize], usize) -> Sequential,
) {
    // Before the data loads (it uses the pool): this thread joins it and runs its share.
    descent::init_threads();
    let dp = match descent::dist::from_env() {
        Ok(dp) => dp,
        Err(e) => {
            eprintln!("{name}: {e}");
            exit(1);
        }
    };
    if let Err(e) = try_run(name, c, defaults, build, dp.as_ref()) {
        match &dp {
            Some(dp) => eprintln!("{name} (rank {} of {}): {e}", dp.rank(), dp.world_size()),
            None => eprintln!("{name}: {e}"),
        }
        // Exiting without finalizing MPI makes the launcher end the other ranks.
        exit(1);
    }
}

fn try_run(
    name: &str,
    c: &Config,
    defaults: &Defaults,
    build: impl Fn(&Seeds, &[usize], usize) -> Sequential,
    dp: Option<&descent::dist::DataParallel>,
) -> descent::core::Result<()> {
    let root = dp.is_none_or(|d| d.is_root());
    // Only rank 0 speaks.
    macro_rules! say {
        ($($t:tt)*) => { if root { println!($($t)*); } };
    }
    let (train, test, what) = load_data(c)?;
    let (epochs, batch, lr) = if c.data.is_some() {
        defaults.mnist
    } else {
        defaults.digits
    };
    let (epochs, batch, lr) = (
        c.epochs.unwrap_or(epochs),
        c.batch_size.unwrap_or(batch),
        c.lr.unwrap_or(lr),
    );
    let sample_shape = train.features().shape()[1..].to_vec();
    let mut model = build(&Seeds::new(c.seed), &sample_shape, 10);
    say!(
        "{name}: {} training and {} test samples from {what}; batch {batch}, {epochs} epochs, {} \
         at lr {lr}, schedule {}",
        train.labels().shape()[0],
        test.labels().shape()[0],
        c.optimizer,
        c.schedule
    );
    if let Some(dp) = dp {
        say!(
            "{name}: data-parallel over {} processes (MPI), {} samples of each batch per process",
            dp.world_size(),
            batch.div_ceil(dp.world_size())
        );
    }
    let mut input = vec![1];
    input.extend(&sample_shape);
    let summary = model.summary(&input)?;
    if root {
        print!("{summary}");
    }

    let mut loader = DataLoader::new(train, batch)?.shuffle(c.seed);
    if c.shift > 0 {
        loader = loader.random_shift(c.shift, c.seed)?;
    }
    let test_loader = DataLoader::new(test, 1000)?;
    let steps = epochs * loader.num_batches() as u64;
    let mut opt: Box<dyn Optimizer> = match c.optimizer.as_str() {
        "sgd" => Box::new(Sgd::new(lr)?),
        "momentum" => Box::new(Sgd::with_config(SgdConfig {
            lr,
            momentum: 0.9,
            ..SgdConfig::default()
        })?),
        _ => Box::new(Adam::new(AdamConfig {
            lr,
            ..AdamConfig::default()
        })?),
    };
    std::fs::create_dir_all(&c.out).map_err(|e| descent::core::Error::File {
        path: c.out.clone(),
        detail: format!("cannot create the output folder: {e}"),
    })?;
    let checkpoint = c.out.join(format!("{name}.ckpt"));
    let mut learner = Learner::new(&mut model, opt.as_mut())
        .epochs(epochs)
        .seed(c.seed)
        .validation(test_loader)
        .checkpoint(&checkpoint, Some(500))
        .curves(c.out.join(name));
    learner = match c.schedule.as_str() {
        "cosine" => learner.schedule(CosineAnnealing::new(lr, 0.0, steps.max(1))?),
        "step" => learner.schedule(StepLr::new(lr, (steps / 3).max(1), 0.1)?),
        "onecycle" => learner.schedule(OneCycle::new(lr, steps.max(1))?),
        _ => learner,
    };
    if c.resume {
        learner = learner.resume(&checkpoint);
    }
    if let Some(dp) = dp {
        learner = learner.distributed(dp);
    }
    let started = Instant::now();
    let history = learner.fit(&loader)?;
    let wall = started.elapsed().as_secs_f64();
    let Some(last) = history.last() else {
        say!("{name}: nothing to train (0 epochs)");
        return Ok(());
    };
    let per_epoch: f64 =
        history.epochs.iter().map(|r| r.seconds).sum::<f64>() / history.epochs.len() as f64;
    let rate: f64 = history
        .epochs
        .iter()
        .map(|r| r.samples_per_second)
        .sum::<f64>()
        / history.epochs.len() as f64;
    say!(
        "{name}: test accuracy {:.2}% after {} epochs (final epoch); {:.2} s per epoch, {:.0} \
         samples/s, {:.1} s in all",
        100.0 * last.val_accuracy.unwrap_or(f64::NAN),
        history.epochs.len(),
        per_epoch,
        rate,
        wall
    );
    say!(
        "{name}: curves in {} and {}, checkpoint {}",
        c.out.join(format!("{name}.svg")).display(),
        c.out.join(format!("{name}.csv")).display(),
        checkpoint.display()
    );
    if let Some(path) = c.save_model.as_ref().filter(|_| root) {
        descent::nn::save(path, &model)?;
        println!("{name}: weights saved to {}", path.display());
    }
    Ok(())
}
