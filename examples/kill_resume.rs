//! The trainer of the reliability tests: trains a small model on the embedded digits, writing a
//! training checkpoint after every step, and resumes from it when it exists. `.ci/kill_resume.sh`
//! kills it with `SIGKILL` at random moments and at the test-only fault points of
//! `descent_core::io::write_atomically` (`DESCENT_FAULT`), and checks after each kill that the
//! checkpoint on disk loads and holds exactly the state of an uninterrupted run at the step it
//! records (see docs/RELIABILITY.md).
//!
//! ```text
//! kill_resume --dir DIR [--model mlp|cnn] [--steps N]       train (resuming DIR/<model>.ckpt)
//! kill_resume --dir DIR ... --reference FILE                write the state hash of every step
//! kill_resume --dir DIR ... --verify FILE                   check DIR/<model>.ckpt against FILE
//! ```
//!
//! A training run prints `final <hash>`, the hash of the checkpoint's tensors (weights, buffers
//! and optimizer state) after the last step. `--reference` trains step by step (each step a
//! resume of the previous one's checkpoint) and writes `<step> <hash>` lines. `--verify` loads
//! the checkpoint (which must load), reads its step and compares its hash with the reference's
//! at that step; it also removes temporary files a killed save left, and says whether there was
//! one (the kill landed inside a save). Exits 1 with a one-line error on any failure.

use descent::core::io::{self, AnyTensor, WeightFile};
use descent::data::{DataLoader, Normalizer, stratified_split};
use descent::nn::{BatchNorm2d, Conv2d, Dropout, Flatten, MaxPool2d, ReLU};
use descent::prelude::*;
use std::path::{Path, PathBuf};
use std::process::exit;

/// The command line.
struct Config {
    dir: PathBuf,
    model: String,
    steps: u64,
    reference: Option<PathBuf>,
    verify: Option<PathBuf>,
}

fn parse_args() -> Result<Config, lexopt::Error> {
    use lexopt::prelude::*;
    let mut c = Config {
        dir: PathBuf::new(),
        model: "mlp".to_string(),
        steps: 60,
        reference: None,
        verify: None,
    };
    let mut dir = None;
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("dir") => dir = Some(PathBuf::from(p.value()?)),
            Long("model") => {
                c.model = p.value()?.string()?;
                if c.model != "mlp" && c.model != "cnn" {
                    return Err(format!("--model must be mlp or cnn, not {:?}", c.model).into());
                }
            }
            Long("steps") => c.steps = p.value()?.parse()?,
            Long("reference") => c.reference = Some(p.value()?.into()),
            Long("verify") => c.verify = Some(p.value()?.into()),
            Short('h') | Long("help") => {
                println!(
                    "usage: kill_resume --dir DIR [--model mlp|cnn] [--steps N] \
                     [--reference FILE | --verify FILE]"
                );
                exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    c.dir = dir.ok_or("--dir is required")?;
    Ok(c)
}

/// The model: the digits MLP with dropout, or a small CNN with BatchNorm and dropout.
fn build(model: &str) -> Sequential {
    let s = Seeds::new(3);
    if model == "cnn" {
        Sequential::new()
            .push(Conv2d::new(1, 8, 3, &s.stream("0")))
            .push(BatchNorm2d::new(8))
            .push(ReLU)
            .push(MaxPool2d::new(2))
            .push(Dropout::new(0.25).expect("p in [0, 1)"))
            .push(Flatten)
            .push(Linear::new(8 * 3 * 3, 10, true, &s.stream("6")))
    } else {
        Sequential::new()
            .push(Flatten)
            .push(Linear::new(64, 256, true, &s.stream("1")))
            .push(ReLU)
            .push(Dropout::new(0.2).expect("p in [0, 1)"))
            .push(Linear::new(256, 256, true, &s.stream("4")))
            .push(ReLU)
            .push(Dropout::new(0.2).expect("p in [0, 1)"))
            .push(Linear::new(256, 10, true, &s.stream("7")))
    }
}

/// The shuffled loader of the normalized training part of the digits.
fn loader() -> descent::core::Result<DataLoader> {
    let (train, _) = stratified_split(&descent::data::digits(), 0.2, 0)?;
    let train = Normalizer::per_channel(&train)?.apply(&train)?;
    Ok(DataLoader::new(train, 32)?.shuffle(5))
}

/// Trains until `steps` steps in all, resuming from the checkpoint if it exists.
fn train(c: &Config, ckpt: &Path, steps: u64) -> descent::core::Result<()> {
    let loader = loader()?;
    let mut model = build(&c.model);
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-3,
        ..AdamConfig::default()
    })?;
    let epochs = steps.div_ceil(loader.num_batches() as u64) + 1;
    let mut learner = Learner::new(&mut model, &mut opt)
        .epochs(epochs)
        .seed(9)
        .max_steps(steps)
        .checkpoint(ckpt, Some(1))
        .progress(Progress::Quiet);
    if ckpt.exists() {
        learner = learner.resume(ckpt);
    }
    learner.fit(&loader)?;
    Ok(())
}

/// FNV-1a over the tensors of a weight file, by name: names, shapes and element bits.
fn hash(file: &WeightFile) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    let mut tensors: Vec<&(String, AnyTensor)> = file.tensors.iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, t) in tensors {
        eat(name.as_bytes());
        for &d in t.shape() {
            eat(&(d as u64).to_le_bytes());
        }
        match t {
            AnyTensor::Float(t) => {
                for v in t.to_vec_f64() {
                    eat(&v.to_bits().to_le_bytes());
                }
            }
            AnyTensor::Int(t) => {
                for v in t.to_vec() {
                    eat(&v.to_le_bytes());
                }
            }
        }
    }
    h
}

/// The step a checkpoint records.
fn step_of(file: &WeightFile) -> Result<u64, String> {
    file.metadata
        .get("train.step")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "the checkpoint records no step".to_string())
}

/// Checks the checkpoint against the reference hashes; removes and reports leftover temporary
/// files.
fn verify(c: &Config, ckpt: &Path, reference: &Path) -> Result<String, String> {
    let mut temps = 0;
    for entry in std::fs::read_dir(&c.dir).map_err(|e| format!("{}: {e}", c.dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            temps += 1;
        }
    }
    let inside = if temps > 0 { " inside-save" } else { "" };
    if !ckpt.exists() {
        return Ok(format!("none{inside}"));
    }
    let file = io::load(ckpt).map_err(|e| e.to_string())?;
    let step = step_of(&file)?;
    let text =
        std::fs::read_to_string(reference).map_err(|e| format!("{}: {e}", reference.display()))?;
    let expected = text
        .lines()
        .find_map(|l| {
            let (s, h) = l.split_once(' ')?;
            (s.parse::<u64>().ok()? == step).then(|| h.to_string())
        })
        .ok_or_else(|| format!("the reference has no step {step}"))?;
    let got = format!("{:016x}", hash(&file));
    if got != expected {
        return Err(format!(
            "the checkpoint at step {step} has hash {got}, the reference {expected}: a mixed or \
             corrupt state"
        ));
    }
    Ok(format!("step {step}{inside}"))
}

fn run(c: &Config) -> Result<(), String> {
    std::fs::create_dir_all(&c.dir).map_err(|e| format!("{}: {e}", c.dir.display()))?;
    let ckpt = c.dir.join(format!("{}.ckpt", c.model));
    if let Some(reference) = &c.verify {
        println!("{}", verify(c, &ckpt, reference)?);
        return Ok(());
    }
    if let Some(out) = &c.reference {
        let _ = std::fs::remove_file(&ckpt);
        let mut lines = String::new();
        for k in 1..=c.steps {
            train(c, &ckpt, k).map_err(|e| e.to_string())?;
            let file = io::load(&ckpt).map_err(|e| e.to_string())?;
            lines += &format!("{} {:016x}\n", step_of(&file)?, hash(&file));
        }
        std::fs::write(out, lines).map_err(|e| format!("{}: {e}", out.display()))?;
    } else {
        train(c, &ckpt, c.steps).map_err(|e| e.to_string())?;
    }
    let file = io::load(&ckpt).map_err(|e| e.to_string())?;
    println!("final {:016x} at step {}", hash(&file), step_of(&file)?);
    Ok(())
}

fn main() {
    let c = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kill_resume: {e} (try --help)");
            exit(2);
        }
    };
    if let Err(e) = run(&c) {
        eprintln!("kill_resume: {e}");
        exit(1);
    }
}
