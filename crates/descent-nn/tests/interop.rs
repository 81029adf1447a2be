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

/// BatchNorm1d/2d in f64 over three training steps and then eval against PyTorch: outputs,
/// input gradients, running statistics and `num_batches_tracked`, momentum 0.1 and cumulative.
#[test]
fn batchnorm_training_steps_and_running_stats_match_pytorch() {
    use descent_core::{DType, IntTensor, Param};
    use descent_nn::{BatchNorm, BatchNormConfig, Buffer};

    fn run<const D: usize>(file: &io::WeightFile, tag: &str, mtag: &str, momentum: Option<f64>) {
        let mut bn = BatchNorm::<D>::with_config(
            3,
            BatchNormConfig {
                momentum,
                ..BatchNormConfig::default()
            },
        );
        let f64_of = |v: Vec<f64>| Tensor::from_vec(v, [3]);
        bn.weight = Some(Param::named("weight", f64_of(vec![1.5, -0.5, 2.0])));
        bn.bias = Some(Param::named("bias", f64_of(vec![0.1, 0.2, -0.3])));
        bn.running_mean = Some(Buffer::float(Tensor::zeros([3]).to_dtype(DType::F64)));
        bn.running_var = Some(Buffer::float(Tensor::ones([3]).to_dtype(DType::F64)));
        let close = |what: &str, a: &Tensor, b: &Tensor| {
            let err = max_abs_diff(a, b);
            assert!(err <= 1e-12, "{tag}.{mtag} {what}: max diff {err}");
        };
        for step in 0..3 {
            let key = format!("{tag}.{mtag}.{step}");
            let x0 = float(file, &format!("{key}.x"));
            let tape = Tape::new();
            let x = tape.var(&x0);
            let y = bn.forward(&x, &Ctx::train(0, 0, step)).unwrap();
            close("y", y.value(), &float(file, &format!("{key}.y")));
            let g = tape.constant(float(file, &format!("{key}.grad_out")));
            let grads = y.mul(&g).sum_all().backward();
            close(
                "grad_x",
                grads.wrt(&x).unwrap(),
                &float(file, &format!("{key}.grad_x")),
            );
            let rm = bn.running_mean.as_ref().unwrap().tensor();
            let rv = bn.running_var.as_ref().unwrap().tensor();
            close(
                "running_mean",
                &rm,
                &float(file, &format!("{key}.running_mean")),
            );
            close(
                "running_var",
                &rv,
                &float(file, &format!("{key}.running_var")),
            );
            let Some(AnyTensor::Int(n)) = file.get(&format!("{key}.num_batches_tracked")) else {
                panic!("{key}: num_batches_tracked")
            };
            assert_eq!(
                &bn.num_batches_tracked.as_ref().unwrap().int_tensor(),
                n,
                "{key}"
            );
            assert_eq!(n, &IntTensor::scalar(step as i64 + 1));
        }
        let tape = Tape::new();
        let xe = float(file, &format!("{tag}.{mtag}.eval.x"));
        let y = bn.forward(&tape.constant(xe), &Ctx::eval()).unwrap();
        close(
            "eval y",
            y.value(),
            &float(file, &format!("{tag}.{mtag}.eval.y")),
        );
    }

    let file = io::load(golden("torch_batchnorm_steps.safetensors")).unwrap();
    for (mtag, momentum) in [("m01", Some(0.1)), ("cum", None)] {
        run::<2>(&file, "bn2d", mtag, momentum);
        run::<1>(&file, "bn1d", mtag, momentum);
    }
}
