//! Threads: the same seed gives bit-identical parameters after 100 training steps of the digits
//! MLP and a CNN with BatchNorm, whatever `RAYON_NUM_THREADS` and `MATMUL_NUM_THREADS` are (each
//! setting in its own process: this test binary re-invoked with a filter); tensors, parameters
//! and models are `Send + Sync`; and eval inference on one shared model from several threads at
//! once equals serial inference.

use descent_core::io::AnyTensor;
use descent_core::{IntTensor, Param, Tape, Tensor};
use descent_data::{DataLoader, TensorDataset, digits, split};
use descent_nn::{
    BatchNorm2d, Conv2d, Ctx, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU, Seeds, Sequential,
    state_dict,
};
use descent_optim::{Adam, AdamConfig};
use descent_train::{Learner, Progress};
use std::process::Command;

fn mlp() -> Sequential {
    let s = Seeds::new(1);
    Sequential::new()
        .push(Flatten)
        .push(Linear::new(64, 256, true, &s.stream("1")))
        .push(ReLU)
        .push(Dropout::new(0.2).unwrap())
        .push(Linear::new(256, 256, true, &s.stream("4")))
        .push(ReLU)
        .push(Dropout::new(0.2).unwrap())
        .push(Linear::new(256, 10, true, &s.stream("7")))
}

fn cnn() -> Sequential {
    let s = Seeds::new(1);
    Sequential::new()
        .push(Conv2d::new(1, 16, 3, &s.stream("0")))
        .push(BatchNorm2d::new(16))
        .push(ReLU)
        .push(MaxPool2d::new(2))
        .push(Dropout::new(0.25).unwrap())
        .push(Flatten)
        .push(Linear::new(16 * 3 * 3, 10, true, &s.stream("6")))
}

/// FNV-1a of every parameter and buffer's bits, by path.
fn hash(m: &Sequential) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |v: u64| h = (h ^ v).wrapping_mul(0x100_0000_01b3);
    for (_, t) in state_dict(m) {
        match t {
            AnyTensor::Float(t) => t.to_vec_f64().iter().for_each(|v| eat(v.to_bits())),
            AnyTensor::Int(t) => t.to_vec().iter().for_each(|&v| eat(v as u64)),
        }
    }
    h
}

/// 100 steps of Adam on the digits, batches of 256 (large enough that the kernels run in
/// parallel and the GEMMs are split).
fn train_100(mut model: Sequential) -> Sequential {
    let (train, _) = split(&digits(), 0.2, 0).unwrap();
    let loader = DataLoader::new(train, 256).unwrap().shuffle(2);
    let mut opt = Adam::new(AdamConfig {
        lr: 1e-3,
        ..AdamConfig::default()
    })
    .unwrap();
    Learner::new(&mut model, &mut opt)
        .epochs(100)
        .max_steps(100)
        .seed(4)
        .progress(Progress::Quiet)
        .fit(&loader)
        .unwrap();
    model
}

const CHILD: &str = "DESCENT_DETERMINISM_CHILD";

/// Run by [`the_same_seed_gives_the_same_bits_on_1_2_and_4_threads`] in a child process; does
/// nothing otherwise.
#[test]
fn determinism_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    println!("HASH mlp {:016x}", hash(&train_100(mlp())));
    println!("HASH cnn {:016x}", hash(&train_100(cnn())));
}

#[test]
fn the_same_seed_gives_the_same_bits_on_1_2_and_4_threads() {
    let exe = std::env::current_exe().unwrap();
    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    for (rayon, matmul) in [(1, 1), (2, 2), (4, 4), (1, 4), (4, 1)] {
        let out = Command::new(&exe)
            .args([
                "determinism_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env("RAYON_NUM_THREADS", rayon.to_string())
            .env("MATMUL_NUM_THREADS", matmul.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let hashes: Vec<String> = stdout
            .lines()
            .filter_map(|l| l.find("HASH ").map(|i| l[i + 5..].to_string()))
            .collect();
        assert_eq!(hashes.len(), 2, "{stdout}");
        seen.push((format!("RAYON {rayon}, MATMUL {matmul}"), hashes));
    }
    for (setting, hashes) in &seen[1..] {
        assert_eq!(hashes, &seen[0].1, "{setting} differs from {}", seen[0].0);
    }
    println!("100 steps, MLP and CNN: {:?} on every setting", seen[0].1);
}

fn send_sync<T: Send + Sync>() {}

#[test]
fn tensors_params_and_models_are_send_and_sync() {
    send_sync::<Tensor>();
    send_sync::<IntTensor>();
    send_sync::<Param>();
    send_sync::<Sequential>();
    send_sync::<Linear>();
    send_sync::<Conv2d>();
    send_sync::<BatchNorm2d>();
    send_sync::<Dropout>();
    send_sync::<descent_nn::LayerNorm>();
    send_sync::<descent_nn::Embedding>();
    send_sync::<DataLoader>();
    send_sync::<TensorDataset>();
    send_sync::<Adam>();
}

/// The eval outputs of `model` on `batches`, as bits.
fn infer(model: &Sequential, batches: &[Tensor]) -> Vec<Vec<u32>> {
    batches
        .iter()
        .map(|x| {
            let tape = Tape::new();
            tape.no_grad(|| model.forward(&tape.constant(x), &Ctx::eval()))
                .unwrap()
                .value()
                .to_vec_f32()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        })
        .collect()
}

#[test]
fn concurrent_inference_on_one_shared_model_equals_serial_inference() {
    let (train, _) = split(&digits(), 0.2, 0).unwrap();
    let batches: Vec<Tensor> = (0..8)
        .map(|i| train.features().narrow(0, i * 100, 60 + 5 * i).contiguous())
        .collect();
    // Trained a little, so BatchNorm's running statistics are not the initial ones.
    for model in [mlp(), train_100(cnn())] {
        let serial = infer(&model, &batches);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let (model, batches) = (&model, &batches);
                    s.spawn(move || {
                        // Each thread goes through the batches in its own order, 3 times.
                        let mut order: Vec<usize> = (0..batches.len()).collect();
                        order.rotate_left(t);
                        let mut out = vec![Vec::new(); batches.len()];
                        for _ in 0..3 {
                            for &i in &order {
                                out[i] = infer(model, std::slice::from_ref(&batches[i])).remove(0);
                            }
                        }
                        out
                    })
                })
                .collect();
            for h in handles {
                assert_eq!(h.join().unwrap(), serial);
            }
        });
    }
}
