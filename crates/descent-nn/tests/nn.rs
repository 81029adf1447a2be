//! descent-nn: layers against naive references, gradients through modules, names, seeded
//! initialization, dropout in both modes, and strict weight files.

use descent_core::{GradcheckConfig, IntTensor, Param, Params, Tape, Tensor, Var, gradcheck};
use descent_nn::{
    Ctx, Dropout, Flatten, GELU, LeakyReLU, Linear, Module, ReLU, Seeds, Sequential, Sigmoid,
    Softmax, Tanh, Visit,
};

fn mlp(seed: u64) -> Sequential {
    let s = Seeds::new(seed);
    Sequential::new()
        .push(Linear::new(5, 7, true, &s.stream("0")))
        .push(Tanh)
        .push(Linear::new(7, 3, false, &s.stream("2")))
}

fn input() -> Tensor {
    Tensor::from_vec((0..10).map(|i| (i as f32 - 4.5) / 3.0).collect(), [2, 5])
}

#[test]
fn linear_forward_matches_a_naive_loop() {
    let l = Linear::new(5, 3, true, &Seeds::new(1).stream("l"));
    let x = input();
    let tape = Tape::new();
    let y = l
        .forward(&tape.constant(&x), &Ctx::eval())
        .unwrap()
        .into_value();
    let (w, b, xv) = (
        l.weight.value().to_vec_f64(),
        l.bias.as_ref().unwrap().value().to_vec_f64(),
        x.to_vec_f64(),
    );
    let mut want = vec![0.0; 6];
    for n in 0..2 {
        for o in 0..3 {
            want[n * 3 + o] = b[o] + (0..5).map(|i| xv[n * 5 + i] * w[o * 5 + i]).sum::<f64>();
        }
    }
    for (g, w) in y.to_vec_f64().iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "{g} vs {w}");
    }
}

#[test]
fn names_follow_pytorch_state_dict() {
    let m = mlp(0);
    let names: Vec<String> = m.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight"]);
    assert_eq!(m.num_parameters(), 5 * 7 + 7 + 7 * 3);
    assert_eq!(m.num_params(), m.num_parameters());
}

#[test]
fn same_seed_same_model_other_seed_other_model() {
    let a: Vec<f32> = mlp(3).named_params()[0].1.value().to_vec_f32();
    assert_eq!(a, mlp(3).named_params()[0].1.value().to_vec_f32());
    assert_ne!(a, mlp(4).named_params()[0].1.value().to_vec_f32());
    // PyTorch's default bound for nn.Linear(5, 7): 1 / sqrt(5).
    assert!(a.iter().all(|v| v.abs() <= 1.0 / 5f32.sqrt()));
}

/// A model whose parameters are the gradcheck inputs: each is set from `v` on every call.
fn with_params(m: &mut Sequential, values: &[Tensor]) {
    let mut i = 0;
    m.visit_params_mut("", &mut |_, p| {
        *p = Param::named(p.name().to_string(), values[i].clone());
        i += 1;
    });
}

#[test]
fn gradients_through_a_sequential_match_finite_differences() {
    // The parameters enter as gradcheck variables: the module's forward with each weight
    // replaced by the variable, written out (Linear, tanh, Linear, cross-entropy).
    let m = mlp(5);
    let mut inputs: Vec<Tensor> = vec![input()];
    m.visit_params("", &mut |_, p| inputs.push(p.value().clone()));
    let labels = IntTensor::from(&[2usize, 0][..]);
    let r = gradcheck(
        |_, v: &[Var]| {
            let h = (v[0].matmul(&v[1].t()) + &v[2]).tanh();
            h.matmul(&v[3].t()).cross_entropy(&labels)
        },
        &inputs,
        &GradcheckConfig::default(),
    );
    assert!(r.is_ok(), "{}", r.unwrap_err());
    // And the module computes exactly that composition.
    let mut m64 = mlp(5);
    let as64: Vec<Tensor> = inputs[1..]
        .iter()
        .map(|t| t.to_dtype(descent_core::DType::F64))
        .collect();
    with_params(&mut m64, &as64);
    let tape = Tape::new();
    let x = tape.constant(input().to_dtype(descent_core::DType::F64));
    let got = m64
        .forward(&x, &Ctx::eval())
        .unwrap()
        .cross_entropy(&labels);
    let want = {
        let h = (x.matmul(&tape.constant(&as64[0]).t()) + &tape.constant(&as64[1])).tanh();
        h.matmul(&tape.constant(&as64[2]).t())
            .cross_entropy(&labels)
    };
    assert_eq!(got.value().item(), want.value().item());
}

#[test]
fn every_parameter_gets_a_gradient_under_its_id() {
    let m = mlp(1);
    let tape = Tape::new();
    let loss = m
        .forward(&tape.constant(input()), &Ctx::eval())
        .unwrap()
        .cross_entropy(&IntTensor::from(&[1usize, 2][..]));
    let grads = loss.backward();
    for (name, p) in m.named_params() {
        let g = grads
            .get(p)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        assert_eq!(g.shape(), p.shape(), "{name}");
    }
}

#[test]
fn eval_under_no_grad_records_nothing() {
    let m = mlp(2);
    let tape = Tape::new();
    let x = tape.constant(input());
    let y = tape.no_grad(|| m.forward(&x, &Ctx::eval()).unwrap());
    assert_eq!(tape.len(), 1, "only the input");
    assert!(!y.requires_grad());
}

#[test]
fn dropout_is_seeded_in_training_and_the_identity_in_eval() {
    let d = Dropout::new(0.5).unwrap();
    let x = Tensor::ones([1000]);
    let tape = Tape::new();
    let xv = tape.constant(&x);
    let run = |ctx: &Ctx| d.forward(&xv, ctx).unwrap().into_value().to_vec_f32();
    let a = run(&Ctx::train(9, 1, 2));
    assert_eq!(
        a,
        run(&Ctx::train(9, 1, 2)),
        "same (seed, epoch, step): same mask"
    );
    assert_ne!(a, run(&Ctx::train(9, 1, 3)), "another step: another mask");
    let zeros = a.iter().filter(|&&v| v == 0.0).count();
    assert!(
        (400..600).contains(&zeros),
        "{zeros} of 1000 dropped at p = 0.5"
    );
    assert!(
        a.iter().all(|&v| v == 0.0 || v == 2.0),
        "kept elements scaled by 1 / (1 - p)"
    );
    assert_eq!(run(&Ctx::eval()), x.to_vec_f32());
    assert!(Dropout::new(1.0).is_err() && Dropout::new(-0.1).is_err());
}

#[test]
fn activations_and_flatten_match_their_ops() {
    let x = Tensor::from_vec(
        (0..24).map(|i| (i as f32 - 12.0) / 5.0).collect(),
        [2, 3, 4],
    );
    let tape = Tape::new();
    let v = tape.constant(&x);
    let ctx = Ctx::eval();
    let f = |m: &dyn Module| m.forward(&v, &ctx).unwrap().into_value().to_vec_f32();
    assert_eq!(f(&ReLU), x.relu().to_vec_f32());
    assert_eq!(f(&GELU), x.gelu().to_vec_f32());
    assert_eq!(f(&Sigmoid), x.sigmoid().to_vec_f32());
    assert_eq!(f(&Tanh), x.tanh().to_vec_f32());
    assert_eq!(f(&Softmax), x.softmax(-1).to_vec_f32());
    assert_eq!(f(&LeakyReLU::default()), x.leaky_relu(0.01).to_vec_f32());
    assert_eq!(Flatten.forward(&v, &ctx).unwrap().shape(), &[2, 12]);
}

#[test]
fn a_wrong_input_width_names_the_layer_and_shapes() {
    let l = Linear::new(5, 3, true, &Seeds::new(0).stream("l"));
    let tape = Tape::new();
    let e = l
        .forward(&tape.constant(Tensor::zeros([2, 4])), &Ctx::eval())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "Linear: [2, 4] and [3, 5] do not fit: the input's last dim must be in_features = 5"
    );
}

#[test]
fn weights_round_trip_and_load_strictly() {
    let a = mlp(7);
    let bytes = descent_nn::save_bytes(&a).unwrap();
    let mut b = mlp(8);
    descent_nn::load_bytes(&bytes, &mut b).unwrap();
    for ((na, pa), (nb, pb)) in a.named_params().into_iter().zip(b.named_params()) {
        assert_eq!(na, nb);
        assert_eq!(pa.value().to_vec_f32(), pb.value().to_vec_f32(), "{na}");
    }
    // A model of another shape: the error names the tensor and what was expected; nothing loads.
    let s = Seeds::new(0);
    let mut other = Sequential::new()
        .push(Linear::new(5, 6, true, &s.stream("0")))
        .push(Tanh)
        .push(Linear::new(6, 3, false, &s.stream("2")));
    let before = other.named_params()[0].1.value().to_vec_f32();
    let e = descent_nn::load_bytes(&bytes, &mut other)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "load: tensor `0.weight` is F32 [7, 5], expected F32 [6, 5]"
    );
    assert_eq!(other.named_params()[0].1.value().to_vec_f32(), before);
    // Missing and extra tensors.
    let one = Sequential::new().push(Linear::new(5, 7, true, &s.stream("0")));
    let e = descent_nn::load_bytes(&descent_nn::save_bytes(&one).unwrap(), &mut mlp(0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("tensor `2.weight` is missing"), "{e}");
    let e = descent_nn::load_bytes(
        &bytes,
        &mut Sequential::new().push(Linear::new(5, 7, true, &s.stream("0"))),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("[\"2.weight\"] are in the file but not in the model"),
        "{e}"
    );
    // Files: the error names the file.
    let path = std::env::temp_dir().join(format!("descent-nn-{}.safetensors", std::process::id()));
    descent_nn::save(&path, &a).unwrap();
    let mut c = mlp(9);
    descent_nn::load(&path, &mut c).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = descent_nn::load(&path, &mut c).unwrap_err().to_string();
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn models_are_send_and_sync() {
    fn check<T: Send + Sync>(_: &T) {}
    check(&mlp(0));
}

#[test]
fn frozen_parameters_get_no_gradient_and_stay_put() {
    use descent_optim::{Adam, AdamConfig, Optimizer};
    let mut m = mlp(11);
    // Freeze the first layer: fine-tune only the head.
    m.visit_params_mut("", &mut |name, p| {
        if name.starts_with("0.") {
            p.set_requires_grad(false)
        }
    });
    let before: Vec<Vec<f32>> = m
        .named_params()
        .iter()
        .map(|(_, p)| p.value().to_vec_f32())
        .collect();
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    for step in 0..3 {
        let tape = Tape::new();
        let loss = m
            .forward(&tape.constant(input()), &Ctx::train(0, 0, step))
            .unwrap()
            .cross_entropy(&IntTensor::from(&[1usize, 2][..]));
        let grads = loss.backward();
        assert!(grads.get(m.named_params()[0].1).is_none());
        opt.step(&mut m, &grads).unwrap();
    }
    let after: Vec<Vec<f32>> = m
        .named_params()
        .iter()
        .map(|(_, p)| p.value().to_vec_f32())
        .collect();
    assert_eq!(before[0], after[0], "0.weight is frozen");
    assert_eq!(before[1], after[1], "0.bias is frozen");
    assert_ne!(before[2], after[2], "2.weight trains");
    // A model with every parameter frozen: a step changes nothing and is not an error.
    m.visit_params_mut("", &mut |_, p| p.set_requires_grad(false));
    let tape = Tape::new();
    let loss = m
        .forward(&tape.constant(input()), &Ctx::eval())
        .unwrap()
        .cross_entropy(&IntTensor::from(&[1usize, 2][..]));
    assert!(!loss.requires_grad());
}
