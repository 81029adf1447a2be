//! Hostile weight files: a bounded byte-mutation test of every loader of a safetensors file
//! (`descent_core::io::from_bytes` and `load`, `descent_nn::load_bytes`,
//! `descent_optim::checkpoint::load`, `Learner::resume`).
//!
//! From a valid file of each kind, every truncation and `PROPTEST_CASES x 16` seeded mutations
//! (default 64 x 16 per loader): flipped bits, bytes overwritten with huge values, a header length
//! that lies, and mutations of the JSON header that keep it well-framed (so they reach the
//! checks past the framing): numbers (shapes, offsets, metadata counts) replaced by huge, zero,
//! negative or shifted ones, element types replaced by others (`BF16`, `I32`, `BOOL`, ...),
//! characters replaced. Every input must end in `Ok` or an error naming the file (or the
//! problem, for bytes), never a panic, and a failed load must leave the model, parameters and
//! optimizer as they were. Each test prints how many inputs it tried.

use descent_core::io::{self, AnyTensor};
use descent_core::{IntTensor, Param, Tape, Tensor};
use descent_data::{DataLoader, TensorDataset};
use descent_nn::{BatchNorm1d, Flatten, Linear, ReLU, Seeds, Sequential, state_dict};
use descent_optim::{Adam, AdamConfig, Optimizer, checkpoint};
use descent_train::{Learner, Progress};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// SplitMix64: the seeded source of every mutation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Mutations per loader: `PROPTEST_CASES` (CI sets 64) times 16.
fn cases() -> usize {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
        * 16
}

const HUGE: [u64; 7] = [
    u64::MAX,
    1 << 63,
    1 << 40,
    1 << 32,
    u32::MAX as u64,
    100_000_001,
    0,
];
const NUMBERS: [&str; 9] = [
    "0",
    "1",
    "-1",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "1e300",
    "99999999999999999999999999",
];
const DTYPES: [&str; 12] = [
    "F32", "F64", "I64", "BF16", "F16", "I32", "U8", "I8", "BOOL", "F8_E4M3", "C64", "NOPE",
];

/// The JSON header of a safetensors file, if the framing is intact.
fn header(bytes: &[u8]) -> Option<(String, &[u8])> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let text = std::str::from_utf8(bytes.get(8..8usize.checked_add(n)?)?).ok()?;
    Some((text.to_string(), &bytes[8 + n..]))
}

/// A file with `text` as its header and `data` after it.
fn with_header(text: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    out
}

/// One seeded mutation of a valid safetensors file.
fn mutate(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    match rng.below(8) {
        0 => b.truncate(rng.below(valid.len())),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let i = rng.below(b.len().saturating_sub(8));
            b[i..i + 8].copy_from_slice(&rng.pick(&HUGE).to_le_bytes());
        }
        3 => {
            // The header length lies.
            let n = u64::from_le_bytes(b[..8].try_into().unwrap());
            let lie = match rng.below(3) {
                0 => *rng.pick(&HUGE),
                1 => n.wrapping_add(1 + rng.below(16) as u64),
                _ => n.saturating_sub(1 + rng.below(16) as u64),
            };
            b[..8].copy_from_slice(&lie.to_le_bytes());
        }
        4..=6 => {
            // A well-framed header with one number, element type or character changed.
            let (text, data) = header(valid).expect("a valid file");
            let mut text = text.into_bytes();
            let digits: Vec<usize> = (0..text.len())
                .filter(|&i| text[i].is_ascii_digit() && (i == 0 || !text[i - 1].is_ascii_digit()))
                .collect();
            let new = match rng.below(3) {
                0 if !digits.is_empty() => {
                    let start = *rng.pick(&digits);
                    let end = (start..text.len())
                        .find(|&i| !text[i].is_ascii_digit())
                        .unwrap_or(text.len());
                    let old: u64 = std::str::from_utf8(&text[start..end])
                        .unwrap()
                        .parse()
                        .unwrap_or(0);
                    let replacement = match rng.below(3) {
                        0 => rng.pick(&NUMBERS).to_string(),
                        1 => (old + 1 + rng.below(8) as u64).to_string(),
                        _ => old.saturating_sub(1 + rng.below(8) as u64).to_string(),
                    };
                    text.splice(start..end, replacement.into_bytes());
                    String::from_utf8(text).unwrap()
                }
                1 => {
                    let s = String::from_utf8(text).unwrap();
                    let spots: Vec<usize> =
                        s.match_indices("\"dtype\":\"").map(|(i, _)| i).collect();
                    if spots.is_empty() {
                        s
                    } else {
                        let at = *rng.pick(&spots) + "\"dtype\":\"".len();
                        let end = at + s[at..].find('"').unwrap();
                        format!("{}{}{}", &s[..at], rng.pick(&DTYPES), &s[end..])
                    }
                }
                _ => {
                    let i = rng.below(text.len());
                    text[i] = *rng.pick(b"0123456789,:[]{}\" -.aeZ");
                    String::from_utf8(text).unwrap()
                }
            };
            b = with_header(&new, data);
        }
        _ => {
            // Bytes appended, or a range deleted.
            if rng.below(2) == 0 {
                let extra = 1 + rng.below(64);
                b.extend((0..extra).map(|_| rng.next() as u8));
            } else {
                let i = rng.below(b.len());
                let j = (i + 1 + rng.below(32)).min(b.len());
                b.drain(i..j);
            }
        }
    }
    b
}

/// Every truncation of `valid`, then [`cases`] mutations, each given to `load`; a panic names
/// the case. Returns the number of inputs tried and how many loaded.
fn hostile(what: &str, seed: u64, valid: &[u8], mut load: impl FnMut(&[u8]) -> bool) -> usize {
    let mut rng = Rng(seed);
    let inputs = (0..valid.len())
        .map(|n| valid[..n].to_vec())
        .chain((0..cases()).map(|_| mutate(&mut rng, valid)));
    let (mut tried, mut ok) = (0, 0);
    for (i, input) in inputs.enumerate() {
        match catch_unwind(AssertUnwindSafe(|| load(&input))) {
            Ok(loaded) => ok += usize::from(loaded),
            Err(_) => panic!("{what}: input {i} (seed {seed}) panicked; it was {input:?}"),
        }
        tried += 1;
    }
    assert!(load(valid), "{what}: the valid file must load");
    println!("{what}: {tried} hostile inputs tried, {ok} loaded (Ok), the rest refused");
    tried
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("descent-hostile-{}-{name}", std::process::id()))
}

/// The error names the file, and says something.
#[track_caller]
fn names_file(e: &descent_core::Error, path: &std::path::Path) {
    let m = e.to_string();
    assert!(
        m.starts_with(&path.display().to_string())
            && m.len() > path.display().to_string().len() + 4,
        "{m}"
    );
}

#[test]
fn hostile_weight_files_end_in_ok_or_an_error() {
    let tensors: Vec<(&str, AnyTensor)> = vec![
        ("a", Tensor::from_vec(vec![1.5f32, -2.0, 3.25], [3]).into()),
        ("b", Tensor::from_vec(vec![0.1f64; 6], [2, 3]).into()),
        ("c", IntTensor::from_vec(vec![-1, 0, 5], [3, 1]).into()),
        ("d", IntTensor::scalar(7).into()),
        ("e", Tensor::zeros([0, 4]).into()),
    ];
    let meta = HashMap::from([("k".to_string(), "12".to_string())]);
    let valid = io::to_bytes(&tensors, &meta).unwrap();
    hostile("io::from_bytes", 1, &valid, |b| match io::from_bytes(b) {
        Ok(_) => true,
        Err(e) => {
            assert!(!e.is_empty());
            false
        }
    });
    let path = temp("weights.safetensors");
    let n = hostile("io::load", 2, &valid, |b| {
        std::fs::write(&path, b).unwrap();
        match io::load(&path) {
            Ok(_) => true,
            Err(e) => {
                names_file(&e, &path);
                false
            }
        }
    });
    assert!(n > cases());
    std::fs::remove_file(&path).unwrap();
}

fn model(seed: u64) -> Sequential {
    let s = Seeds::new(seed);
    Sequential::new()
        .push(Flatten)
        .push(Linear::new(4, 3, true, &s.stream("1")))
        .push(BatchNorm1d::new(3))
        .push(ReLU)
        .push(Linear::new(3, 2, true, &s.stream("4")))
}

#[test]
fn hostile_model_weights_end_in_ok_or_an_error_and_change_nothing_on_error() {
    let valid = descent_nn::save_bytes(&model(1)).unwrap();
    let mut m = model(2);
    hostile("descent_nn::load_bytes", 3, &valid, |b| {
        let before = state_dict(&m);
        match descent_nn::load_bytes(b, &mut m) {
            Ok(()) => {
                // Put the model back for the next input.
                descent_nn::load_bytes(&descent_nn::save_bytes(&model(2)).unwrap(), &mut m)
                    .unwrap();
                true
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                assert_eq!(state_dict(&m), before, "a failed load changed the model");
                false
            }
        }
    });
}

/// Two parameters and an Adam optimizer after one step.
fn params_and_adam(v: f32) -> (Vec<Param>, Adam) {
    let mut p = vec![
        Param::named("w", Tensor::from_vec(vec![v, 2.0, -1.0, 0.5], [2, 2])),
        Param::named("b", Tensor::from_vec(vec![v; 2], [2])),
    ];
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let tape = Tape::new();
    let loss = tape
        .param(&p[0])
        .square()
        .sum_all()
        .add(&tape.param(&p[1]).sum_all());
    opt.step(&mut p, &loss.backward()).unwrap();
    (p, opt)
}

fn values(p: &[Param]) -> Vec<Vec<f32>> {
    p.iter().map(|p| p.value().to_vec_f32()).collect()
}

#[test]
fn hostile_optimizer_checkpoints_end_in_ok_or_an_error_and_change_nothing_on_error() {
    let path = temp("optim.ckpt");
    let (p, opt) = params_and_adam(1.0);
    checkpoint::save(&path, &p, &opt).unwrap();
    let valid = std::fs::read(&path).unwrap();
    hostile("descent_optim::checkpoint::load", 4, &valid, |b| {
        std::fs::write(&path, b).unwrap();
        let (mut p2, mut opt2) = params_and_adam(3.0);
        let (before, state_before) = (values(&p2), opt2.state(&p2));
        match checkpoint::load(&path, &mut p2, &mut opt2) {
            Ok(()) => true,
            Err(e) => {
                names_file(&e, &path);
                assert_eq!(values(&p2), before, "a failed load changed the parameters");
                assert_eq!(
                    format!("{:?}", opt2.state(&p2)),
                    format!("{state_before:?}"),
                    "a failed load changed the optimizer"
                );
                false
            }
        }
    });
    std::fs::remove_file(&path).unwrap();
}

fn data() -> DataLoader {
    let x: Vec<f32> = (0..32).map(|i| (i as f32 * 0.37).sin()).collect();
    let y: Vec<usize> = (0..8).map(|i| i % 2).collect();
    let d = TensorDataset::new(Tensor::from_vec(x, [8, 4]), IntTensor::from(&y[..])).unwrap();
    DataLoader::new(d, 4).unwrap().shuffle(0)
}

#[test]
fn hostile_training_checkpoints_end_in_ok_or_an_error_and_change_nothing_on_error() {
    let path = temp("train.ckpt");
    let loader = data();
    let mut m = model(1);
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    Learner::new(&mut m, &mut opt)
        .epochs(3)
        .checkpoint(&path, Some(3))
        .max_steps(3)
        .progress(Progress::Quiet)
        .fit(&loader)
        .unwrap();
    let valid = std::fs::read(&path).unwrap();
    let resumed = temp("train-resumed.ckpt");
    hostile("Learner::resume", 5, &valid, |b| {
        std::fs::write(&resumed, b).unwrap();
        let mut m2 = model(2);
        let mut opt2 = Adam::new(AdamConfig::default()).unwrap();
        let before = state_dict(&m2);
        // Resumes, and stops before any step.
        let r = Learner::new(&mut m2, &mut opt2)
            .epochs(3)
            .resume(&resumed)
            .max_steps(0)
            .progress(Progress::Quiet)
            .fit(&loader);
        match r {
            Ok(_) => true,
            Err(e) => {
                names_file(&e, &resumed);
                assert_eq!(state_dict(&m2), before, "a failed resume changed the model");
                assert_eq!(opt2.steps(), 0, "a failed resume changed the optimizer");
                false
            }
        }
    });
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&resumed).unwrap();
}
