//! PyTorch interop both ways, with fixtures from `golden/gen_torch_interop.py` (no Python here):
//! a `state_dict` PyTorch wrote loads strictly into the matching descent model and gives
//! PyTorch's logits to 1e-5; the files descent writes (`golden/descent_*.safetensors`, checked
//! here to be what descent writes today) are the ones the script loads into PyTorch.

use descent_core::io::{self, AnyTensor};
use descent_core::{Tape, Tensor};
use descent_nn::{Ctx, Linear, Module, ReLU, Seeds, Sequential};
use std::path::PathBuf;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn float(file: &io::WeightFile, name: &str) -> Tensor {
    match file.get(name) {
        Some(AnyTensor::Float(t)) => t.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.to_vec_f64()
        .iter()
        .zip(b.to_vec_f64())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn eval(model: &dyn Module, x: &Tensor) -> Tensor {
    let tape = Tape::new();
    tape.no_grad(|| model.forward(&tape.constant(x), &Ctx::eval()))
        .unwrap()
        .value()
        .clone()
}

/// `nn.Sequential(Linear(8, 16), ReLU, Linear(16, 16), ReLU, Linear(16, 4))`.
fn mlp(seed: u64) -> Sequential {
    let s = Seeds::new(seed);
    Sequential::new()
        .push(Linear::new(8, 16, true, &s.stream("0")))
        .push(ReLU)
        .push(Linear::new(16, 16, true, &s.stream("2")))
        .push(ReLU)
        .push(Linear::new(16, 4, true, &s.stream("4")))
}

fn check_torch_fixture(name: &str, model: &mut dyn Module) {
    descent_nn::load(golden(&format!("torch_{name}.safetensors")), model).unwrap();
    let io = io::load(golden(&format!("torch_{name}_io.safetensors"))).unwrap();
    let logits = eval(model, &float(&io, "input"));
    let err = max_abs_diff(&logits, &float(&io, "logits"));
    assert!(err <= 1e-5, "{name}: max |logits - torch| = {err}");
}

/// Writes (under `DESCENT_REGEN_FIXTURES=1`) or checks the weights descent writes for `model`
/// and its logits on a fixed input, which the script loads into PyTorch.
fn check_descent_fixture(name: &str, model: &dyn Module, input: &Tensor) {
    let weights = descent_nn::save_bytes(model).unwrap();
    let logits = eval(model, input);
    let io_bytes = io::to_bytes(
        &[
            ("input", AnyTensor::from(input)),
            ("logits", AnyTensor::from(&logits)),
        ],
        &Default::default(),
    )
    .unwrap();
    let (wpath, iopath) = (
        golden(&format!("descent_{name}.safetensors")),
        golden(&format!("descent_{name}_io.safetensors")),
    );
    if std::env::var("DESCENT_REGEN_FIXTURES").as_deref() == Ok("1") {
        io::write_atomically(&wpath, &weights).unwrap();
        io::write_atomically(&iopath, &io_bytes).unwrap();
        return;
    }
    let committed = std::fs::read(&wpath).unwrap();
    let committed_io = io::from_bytes(&std::fs::read(&iopath).unwrap()).unwrap();
    // Same names, shapes and bits (compared sorted by name: a file's order is not its content).
    let sorted = |bytes: &[u8]| {
        let mut t = io::from_bytes(bytes).unwrap().tensors;
        t.sort_by(|a, b| a.0.cmp(&b.0));
        t
    };
    assert_eq!(
        sorted(&weights),
        sorted(&committed),
        "{name}: descent now writes other weights than the committed fixture; regenerate with \
         DESCENT_REGEN_FIXTURES=1 and rerun golden/gen_torch_interop.py"
    );
    assert_eq!(float(&committed_io, "logits"), logits, "{name}");
}

#[test]
fn a_pytorch_mlp_state_dict_loads_and_gives_pytorchs_logits() {
    check_torch_fixture("mlp", &mut mlp(9));
}

#[test]
fn the_mlp_file_descent_writes_is_the_one_pytorch_loads() {
    let input = Tensor::linspace(-2.0, 2.0, 5 * 8).reshape([5, 8]);
    check_descent_fixture("mlp", &mlp(0), &input);
}
