//! Behaviour of the optimizers without PyTorch: convergence at the rate theory predicts,
//! divergence reported (and nothing corrupted), validation of hyperparameters, parameter groups,
//! exact resumption from exported state and from checkpoint files, clipping.

use descent_core::{Gradients, Param, Params, Tape, Tensor, Var};
use descent_optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, Error, Gd, Optimizer, ParamGroup,
    RmsProp, RmsPropConfig, Sgd, SgdConfig, checkpoint, clip_grad_norm, clip_grad_value,
};

/// f(x) = ½ Σ λᵢ xᵢ², a convex quadratic with curvatures λ (L = max λ).
fn quadratic(tape: &Tape, x: &Param, lambda: &[f64]) -> Var {
    let l = Tensor::from_vec(lambda.to_vec(), [lambda.len()]).to_dtype(x.value().dtype());
    let l = tape.constant(l);
    (tape.param(x).square() * l).sum_all() * 0.5
}

/// The Rosenbrock function (1 − x)² + 100(y − x²)², minimum 0 at (1, 1).
fn rosenbrock(tape: &Tape, p: &Param) -> Var {
    let v = tape.param(p);
    let (x, y) = (v.narrow(0, 0, 1), v.narrow(0, 1, 1));
    (x.rsub_scalar(1.0).square() + (y - x.square()).square() * 100.0).sum_all()
}

fn point(x: &Param) -> Vec<f64> {
    x.value().to_vec_f64()
}

#[test]
fn gd_on_a_quadratic_converges_at_the_predicted_rate() {
    // Each coordinate shrinks by |1 − η·λᵢ| per step: xᵢ(k) = (1 − η·λᵢ)^k·xᵢ(0).
    let lambda = [1.0, 10.0];
    let lr = 0.15; // below 2/L = 0.2
    let mut x = Param::named("x", Tensor::from_vec(vec![1.0f64, -2.0], [2]));
    let mut opt = Gd::new(lr).unwrap();
    for k in 1..=60 {
        let tape = Tape::new();
        let grads = quadratic(&tape, &x, &lambda).backward();
        opt.step(&mut x, &grads).unwrap();
        let got = point(&x);
        for (i, (&g, x0)) in got.iter().zip([1.0, -2.0]).enumerate() {
            let want = (1.0 - lr * lambda[i]).powi(k) * x0;
            assert!(
                (g - want).abs() <= 1e-12 * want.abs().max(1e-300),
                "step {k} coordinate {i}: {g} vs theory {want}"
            );
        }
    }
    let final_point = point(&x);
    // The slow direction decides the rate: 0.85^60 ≈ 5.8e-5.
    assert!(final_point[0].abs() < 6e-5 && final_point[1].abs() < 1e-10);
}

#[test]
fn gd_above_two_over_l_diverges_and_says_so() {
    let lambda = [1.0, 10.0];
    let mut x = Param::named("x", Tensor::from_vec(vec![1.0f32, -2.0], [2]));
    let mut opt = Gd::new(0.3).unwrap(); // 2/L = 0.2: |1 − 3| = 2 per step along λ = 10
    let mut failure = None;
    for k in 1..=1000 {
        let tape = Tape::new();
        let grads = quadratic(&tape, &x, &lambda).backward();
        if let Err(e) = opt.step(&mut x, &grads) {
            failure = Some((k, e));
            break;
        }
    }
    let (k, e) = failure.expect("lr above 2/L must diverge and the step must refuse");
    assert!(k < 200, "diverged only at step {k}");
    let msg = e.to_string();
    assert!(matches!(e, Error::NonFinite { .. }), "{msg}");
    assert!(
        msg.contains("lower learning rate") && msg.contains("0.3"),
        "{msg}"
    );
    assert_eq!(
        opt.steps(),
        (k - 1) as u64,
        "the refused step is not counted"
    );
}

#[test]
fn a_nan_gradient_stops_the_step_and_changes_nothing() {
    let mut params = vec![
        Param::named("a", Tensor::from_vec(vec![1.0f32, 2.0], [2])),
        Param::named("b", Tensor::from_vec(vec![3.0f32, 4.0, 5.0], [3])),
    ];
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let good = |params: &[Param]| {
        let tape = Tape::new();
        let (a, b) = (tape.param(&params[0]), tape.param(&params[1]));
        (a.square().sum_all() + b.square().sum_all()).backward()
    };
    let grads = good(&params);
    opt.step(&mut params, &grads).unwrap();
    let before: Vec<Vec<f32>> = params.iter().map(|p| p.value().to_vec_f32()).collect();
    let state_before = opt.state(&params);

    // The second parameter's gradient has a NaN in element 2: the first must not move either.
    let mut grads = Gradients::default();
    grads.insert(params[0].id(), Tensor::from_vec(vec![1.0f32, 1.0], [2]));
    grads.insert(
        params[1].id(),
        Tensor::from_vec(vec![1.0f32, 1.0, f32::NAN], [3]),
    );
    let e = opt.step(&mut params, &grads).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("parameter `b`") && msg.contains("element 2") && msg.contains("NaN"),
        "{msg}"
    );
    assert!(msg.contains("step 2"), "{msg}");
    let after: Vec<Vec<f32>> = params.iter().map(|p| p.value().to_vec_f32()).collect();
    assert_eq!(before, after);
    assert_eq!(opt.steps(), 1);
    let state_after = opt.state(&params);
    for (x, y) in state_before.params.iter().zip(&state_after.params) {
        assert_eq!(x.step, y.step);
        for ((_, tx), (_, ty)) in x.buffers.iter().zip(&y.buffers) {
            assert_eq!(tx.to_vec_f32(), ty.to_vec_f32());
        }
    }
}

#[test]
fn an_infinite_loss_stops_the_step() {
    // mean(x)·inf: the loss is infinite while the gradient (1/n·inf...) is checked separately.
    let mut x = Param::named("x", Tensor::from_vec(vec![f64::MAX, f64::MAX], [2]));
    let mut opt = Sgd::new(0.1).unwrap();
    let tape = Tape::new();
    let loss = (tape.param(&x) * 10.0).sum_all(); // overflows to inf; the gradient is 10
    let grads = loss.backward();
    assert_eq!(grads.loss(), Some(f64::INFINITY));
    let msg = opt.step(&mut x, &grads).unwrap_err().to_string();
    assert!(msg.contains("the loss is inf at step 1"), "{msg}");
    assert_eq!(point(&x), vec![f64::MAX, f64::MAX]);
}

#[test]
fn a_gradient_of_the_wrong_shape_is_refused() {
    let mut x = Param::named("x", Tensor::zeros([2, 2]));
    let mut grads = Gradients::default();
    grads.insert(x.id(), Tensor::zeros([4]));
    let msg = Sgd::new(0.1)
        .unwrap()
        .step(&mut x, &grads)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("parameter `x`") && msg.contains("[4]"),
        "{msg}"
    );
}

#[test]
fn momentum_and_adam_reach_the_rosenbrock_minimum() {
    // Momentum: 20 000 steps of η = 1e-3, μ = 0.9 from (−1.2, 1); Adam: 5 000 steps of η = 0.02.
    let cases: Vec<(Box<dyn Optimizer>, usize)> = vec![
        (
            Box::new(
                Sgd::with_config(SgdConfig {
                    lr: 1e-3,
                    momentum: 0.9,
                    ..SgdConfig::default()
                })
                .unwrap(),
            ),
            20_000,
        ),
        (
            Box::new(
                Adam::new(AdamConfig {
                    lr: 0.02,
                    ..AdamConfig::default()
                })
                .unwrap(),
            ),
            5_000,
        ),
    ];
    for (mut opt, budget) in cases {
        let mut p = Param::named("p", Tensor::from_vec(vec![-1.2f64, 1.0], [2]));
        for _ in 0..budget {
            let tape = Tape::new();
            let grads = rosenbrock(&tape, &p).backward();
            opt.step(&mut p, &grads).unwrap();
        }
        let q = point(&p);
        assert!(
            (q[0] - 1.0).abs() < 1e-3 && (q[1] - 1.0).abs() < 2e-3,
            "{} ended at {q:?}",
            opt.name()
        );
    }
}

#[test]
fn bad_hyperparameters_are_refused_with_the_value_and_range() {
    let msg = |e: Error| e.to_string();
    let cases = [
        msg(Sgd::new(0.0).unwrap_err()),
        msg(Sgd::new(f64::NAN).unwrap_err()),
        msg(Sgd::new(-1.0).unwrap_err()),
        msg(Sgd::with_config(SgdConfig {
            lr: 0.1,
            nesterov: true,
            ..SgdConfig::default()
        })
        .unwrap_err()),
        msg(Sgd::with_config(SgdConfig {
            lr: 0.1,
            momentum: 1.5,
            ..SgdConfig::default()
        })
        .unwrap_err()),
        msg(Adam::new(AdamConfig {
            betas: (1.0, 0.999),
            ..AdamConfig::default()
        })
        .unwrap_err()),
        msg(Adam::new(AdamConfig {
            betas: (0.9, -0.1),
            ..AdamConfig::default()
        })
        .unwrap_err()),
        msg(AdamW::new(AdamWConfig {
            weight_decay: -0.01,
            ..AdamWConfig::default()
        })
        .unwrap_err()),
        msg(Adam::new(AdamConfig {
            eps: -1e-8,
            ..AdamConfig::default()
        })
        .unwrap_err()),
        msg(RmsProp::new(RmsPropConfig {
            alpha: 1.0,
            ..RmsPropConfig::default()
        })
        .unwrap_err()),
        msg(Adagrad::new(AdagradConfig {
            lr_decay: -1.0,
            ..AdagradConfig::default()
        })
        .unwrap_err()),
    ];
    let expected = [
        "Sgd: lr = 0 is not allowed; it must be > 0 and finite",
        "Sgd: lr = NaN",
        "Sgd: lr = -1",
        "Nesterov momentum needs momentum > 0",
        "momentum = 1.5 is not allowed; it must be in [0, 1)",
        "Adam: betas.0 = 1 is not allowed; it must be in [0, 1)",
        "betas.1 = -0.1",
        "AdamW: weight_decay = -0.01 is not allowed; it must be >= 0",
        "eps = -0.00000001",
        "RmsProp: alpha = 1",
        "Adagrad: lr_decay = -1",
    ];
    for (got, want) in cases.iter().zip(expected) {
        assert!(got.contains(want), "`{got}` does not say `{want}`");
    }
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    assert!(opt.set_lr(f64::INFINITY).is_err());
    assert_eq!(opt.lr(), 1e-3, "a refused lr changes nothing");
    let group = ParamGroup::matching(|_| true).lr(-0.5);
    assert!(
        Adam::new(AdamConfig::default())
            .unwrap()
            .with_group(group)
            .unwrap_err()
            .to_string()
            .contains("lr = -0.5")
    );
}

#[test]
fn groups_get_their_own_lr_and_decay_and_follow_set_lr() {
    let mut params = vec![
        Param::named("fc.weight", Tensor::from_vec(vec![1.0f64], [1])),
        Param::named("fc.bias", Tensor::from_vec(vec![1.0f64], [1])),
    ];
    let mut opt = Sgd::with_config(SgdConfig {
        lr: 0.1,
        weight_decay: 0.5,
        ..SgdConfig::default()
    })
    .unwrap()
    .with_group(
        ParamGroup::matching(|p: &Param| p.name().ends_with("bias"))
            .lr(0.01)
            .weight_decay(0.0),
    )
    .unwrap();
    let mut grads = Gradients::default();
    for p in &params {
        grads.insert(p.id(), Tensor::from_vec(vec![1.0f64], [1]));
    }
    opt.step(&mut params, &grads).unwrap();
    // weight: 1 − 0.1·(1 + 0.5·1) = 0.85; bias: 1 − 0.01·1 = 0.99.
    assert!((point(&params[0])[0] - 0.85).abs() < 1e-15);
    assert!((point(&params[1])[0] - 0.99).abs() < 1e-15);
    opt.set_lr(0.05).unwrap(); // halves the default lr, so the group's too
    opt.step(&mut params, &grads).unwrap();
    assert!((point(&params[0])[0] - (0.85 - 0.05 * (1.0 + 0.5 * 0.85))).abs() < 1e-15);
    assert!((point(&params[1])[0] - (0.99 - 0.005)).abs() < 1e-15);
    // Groups are fixed once stepping starts.
    assert!(opt.with_group(ParamGroup::params([])).is_err());
}

fn model() -> Vec<Param> {
    vec![
        Param::named("w", Tensor::from_vec(vec![0.5f32, -1.0, 2.0, 0.25], [2, 2])),
        Param::named("b", Tensor::from_vec(vec![0.1f32, -0.2], [2])),
        Param::named("unused", Tensor::from_vec(vec![7.0f32], [1])),
    ]
}

/// A small regression loss whose gradient changes every step; `unused` gets no gradient.
#[allow(clippy::ptr_arg)] // `[Param]` is unsized: it cannot become `&mut dyn Params`.
fn train_step(params: &mut Vec<Param>, opt: &mut dyn Optimizer, k: usize) {
    let tape = Tape::new();
    let x = tape.constant(Tensor::from_vec(
        vec![1.0f32, (k as f32).sin(), -0.5, (k as f32 * 0.7).cos()],
        [2, 2],
    ));
    let y = x.matmul(&tape.param(&params[0])) + tape.param(&params[1]);
    let loss = (y - 0.3).square().sum_all();
    let report = opt.step(params, &loss.backward()).unwrap();
    assert_eq!((report.updated, report.without_grad), (2, 1));
}

fn all_optimizers() -> Vec<fn() -> Box<dyn Optimizer>> {
    vec![
        || {
            Box::new(
                Sgd::with_config(SgdConfig {
                    lr: 0.05,
                    momentum: 0.9,
                    nesterov: true,
                    weight_decay: 0.01,
                    ..SgdConfig::default()
                })
                .unwrap(),
            )
        },
        || {
            Box::new(
                Adam::new(AdamConfig {
                    lr: 0.01,
                    amsgrad: true,
                    ..AdamConfig::default()
                })
                .unwrap(),
            )
        },
        || {
            Box::new(
                AdamW::new(AdamWConfig {
                    lr: 0.01,
                    weight_decay: 0.1,
                    ..AdamWConfig::default()
                })
                .unwrap(),
            )
        },
        || {
            Box::new(
                RmsProp::new(RmsPropConfig {
                    centered: true,
                    momentum: 0.5,
                    ..RmsPropConfig::default()
                })
                .unwrap(),
            )
        },
        || {
            Box::new(
                Adagrad::new(AdagradConfig {
                    lr_decay: 0.01,
                    initial_accumulator_value: 0.1,
                    ..AdagradConfig::default()
                })
                .unwrap(),
            )
        },
    ]
}

/// Runs `train_step` for each step number in `steps`.
#[allow(clippy::ptr_arg)] // `[Param]` is unsized: it cannot become `&mut dyn Params`.
fn train(params: &mut Vec<Param>, opt: &mut dyn Optimizer, steps: std::ops::Range<usize>) {
    steps.for_each(|k| train_step(params, opt, k));
}

fn bits(params: &[Param]) -> Vec<u32> {
    params
        .iter()
        .flat_map(|p| p.value().to_vec_f32())
        .map(f32::to_bits)
        .collect()
}

#[test]
fn resuming_from_exported_state_is_bit_identical() {
    let (n, m) = (7, 9);
    for make in all_optimizers() {
        let (mut straight, mut opt) = (model(), make());
        train(&mut straight, opt.as_mut(), 0..n + m);

        let (mut first, mut opt1) = (model(), make());
        train(&mut first, opt1.as_mut(), 0..n);
        let state = opt1.state(&first);
        // A new process: new parameters (new ids) with the saved values, a new optimizer.
        let mut resumed: Vec<Param> = first
            .iter()
            .map(|p| Param::named(p.name(), p.value().clone()))
            .collect();
        let mut opt2 = make();
        opt2.load_state(&resumed, &state).unwrap();
        assert_eq!(opt2.steps(), n as u64);
        train(&mut resumed, opt2.as_mut(), n..n + m);
        assert_eq!(bits(&straight), bits(&resumed), "{}", opt.name());
    }
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("descent-optim-{}-{name}", std::process::id()))
}

#[test]
fn resuming_from_a_checkpoint_file_is_bit_identical() {
    let (n, m) = (5, 6);
    for make in all_optimizers() {
        let (mut straight, mut opt) = (model(), make());
        train(&mut straight, opt.as_mut(), 0..n + m);
        let (mut first, mut opt1) = (model(), make());
        train(&mut first, opt1.as_mut(), 0..n);
        let path = temp_path(&format!("{}.safetensors", opt.name()));
        checkpoint::save(&path, &first, opt1.as_ref()).unwrap();
        let (mut resumed, mut opt2) = (model(), make()); // fresh initial values
        checkpoint::load(&path, &mut resumed, opt2.as_mut()).unwrap();
        train(&mut resumed, opt2.as_mut(), n..n + m);
        assert_eq!(bits(&straight), bits(&resumed), "{}", opt.name());
        std::fs::remove_file(&path).unwrap();
    }
}

/// Parameters keyed by their own names, as a descent-nn model keys them by path.
struct Named(Vec<Param>);

impl Params for Named {
    fn visit(&self, f: &mut dyn FnMut(&Param)) {
        self.0.visit(f)
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.0.visit_mut(f)
    }
    fn visit_named(&self, f: &mut dyn FnMut(&str, &Param)) {
        self.0.iter().for_each(|p| f(p.name(), p))
    }
}

fn try_load_named(bytes: &[u8], params: &mut Named, opt: &mut dyn Optimizer) -> String {
    let p = temp_path("named-case.safetensors");
    std::fs::write(&p, bytes).unwrap();
    let e = checkpoint::load(&p, params, opt).unwrap_err().to_string();
    std::fs::remove_file(&p).unwrap();
    e
}

#[test]
fn bad_checkpoint_files_name_the_file_and_change_nothing() {
    let (mut params, mut opt) = (model(), Adam::new(AdamConfig::default()).unwrap());
    train_step(&mut params, &mut opt, 0);
    let path = temp_path("bad.safetensors");
    checkpoint::save(&path, &params, &opt).unwrap();
    let good = std::fs::read(&path).unwrap();
    let before = bits(&params);

    let try_load = |bytes: Option<&[u8]>, params: &mut Vec<Param>, opt: &mut dyn Optimizer| {
        let p = temp_path("case.safetensors");
        match bytes {
            Some(b) => std::fs::write(&p, b).unwrap(),
            None => {
                let _ = std::fs::remove_file(&p);
            }
        }
        let e = checkpoint::load(&p, params, opt).unwrap_err().to_string();
        assert!(e.contains(&p.display().to_string()), "{e}");
        e
    };
    let mut fresh = Adam::new(AdamConfig::default()).unwrap();
    let e = try_load(None, &mut params, &mut fresh);
    assert!(e.contains("cannot read"), "{e}");
    let e = try_load(Some(&good[..good.len() / 2]), &mut params, &mut fresh);
    assert!(e.contains("not a valid safetensors file"), "{e}");
    let e = try_load(Some(b"hello"), &mut params, &mut fresh);
    assert!(e.contains("not a valid safetensors file"), "{e}");
    let mut other = Sgd::new(0.1).unwrap();
    let e = try_load(Some(&good), &mut params, &mut other);
    assert!(e.contains("the state is of Adam, not of Sgd"), "{e}");
    let mut fewer = model();
    fewer.pop();
    let e = try_load(Some(&good), &mut fewer, &mut fresh);
    assert!(e.contains("it holds 3 parameters, the model has 2"), "{e}");
    let mut reshaped = model();
    reshaped[1] = Param::named("b", Tensor::zeros([3]));
    let e = try_load(Some(&good), &mut reshaped, &mut fresh);
    assert!(e.contains("tensor `1` is F32 [2], expected F32 [3]"), "{e}");
    assert_eq!(bits(&params), before);
    assert_eq!(fresh.steps(), 0);

    // Keyed by path: a model whose parameters have other paths is refused by name, for the
    // parameters and for the optimizer state.
    let mut named = Named(model());
    let mut named_opt = Adam::new(AdamConfig::default()).unwrap();
    train_step(&mut named.0, &mut named_opt, 0);
    checkpoint::save(&path, &named, &named_opt).unwrap();
    let by_name = std::fs::read(&path).unwrap();
    let file = descent_core::io::from_bytes(&by_name).unwrap();
    assert!(file.get("w").is_some() && file.get("optimizer.w.exp_avg").is_some());
    let mut renamed = Named(model());
    renamed.0[0] = Param::named("v", Tensor::zeros([2, 2]));
    let e = try_load_named(&by_name, &mut renamed, &mut fresh);
    assert!(
        e.contains("tensor `v` is missing (expected F32 [2, 2])"),
        "{e}"
    );
    let mut fresh2 = Adam::new(AdamConfig::default()).unwrap();
    checkpoint::load(&path, &mut named, &mut fresh2).unwrap();
    assert_eq!(fresh2.steps(), 1);
    checkpoint::save(&path, &params, &opt).unwrap();

    // Saving over a good file leaves no temporary file behind.
    checkpoint::save(&path, &params, &opt).unwrap();
    let dir = std::fs::read_dir(std::env::temp_dir()).unwrap();
    let leftovers = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("bad.safetensors."))
        .count();
    assert_eq!(leftovers, 0);
    std::fs::remove_file(&path).unwrap();
    let _ = std::fs::remove_file(temp_path("case.safetensors"));
}

#[test]
fn clipping_by_norm_and_by_value() {
    let params = vec![
        Param::named("a", Tensor::from_vec(vec![3.0f32], [1])),
        Param::named("b", Tensor::from_vec(vec![4.0f64], [1])),
    ];
    let grads_of = |params: &[Param]| {
        let mut g = Gradients::default();
        g.insert(params[0].id(), Tensor::from_vec(vec![3.0f32], [1]));
        g.insert(params[1].id(), Tensor::from_vec(vec![-4.0f64], [1]));
        g
    };
    let mut g = grads_of(&params);
    assert_eq!(clip_grad_norm(&params, &mut g, 10.0).unwrap(), 5.0);
    assert_eq!(g.get(&params[0]).unwrap().to_vec_f32(), vec![3.0]);
    assert_eq!(clip_grad_norm(&params, &mut g, 1.0).unwrap(), 5.0);
    let (a, b) = (
        g.get(&params[0]).unwrap().to_vec_f64()[0],
        g.get(&params[1]).unwrap().to_vec_f64()[0],
    );
    let coef = 1.0 / (5.0 + 1e-6);
    assert!((a - 3.0 * coef).abs() < 1e-6 && (b + 4.0 * coef).abs() < 1e-12);
    let mut g = grads_of(&params);
    assert_eq!(clip_grad_value(&params, &mut g, 3.5).unwrap(), 4.0);
    assert_eq!(g.get(&params[1]).unwrap().to_vec_f64(), vec![-3.5]);
    assert!(clip_grad_norm(&params, &mut g, 0.0).is_err());
}

#[test]
fn non_contiguous_gradients_are_handled() {
    // The gradient of a parameter used through a transpose may arrive as a view.
    let mut w = Param::named(
        "w",
        Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]),
    );
    let mut grads = Gradients::default();
    let g = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]).t();
    assert!(g.as_slice::<f32>().is_none());
    grads.insert(w.id(), g.clone());
    Sgd::new(1.0).unwrap().step(&mut w, &grads).unwrap();
    let want: Vec<f32> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
        .iter()
        .zip(g.to_vec_f32())
        .map(|(p, g)| p - g)
        .collect();
    assert_eq!(w.value().to_vec_f32(), want);
}

#[test]
fn zero_gradients_leave_gd_and_sgd_unchanged() {
    let mut params = model();
    let before = bits(&params);
    let mut grads = Gradients::default();
    params.visit(&mut |p| grads.insert(p.id(), p.value().zeros_like()));
    Gd::new(0.5).unwrap().step(&mut params, &grads).unwrap();
    Sgd::with_config(SgdConfig {
        lr: 0.5,
        momentum: 0.9,
        ..SgdConfig::default()
    })
    .unwrap()
    .step(&mut params, &grads)
    .unwrap();
    assert_eq!(bits(&params), before);
}

#[test]
fn adamw_decays_by_pytorchs_default_and_adam_does_not() {
    // With a zero gradient the Adam update is 0, so one step is the decay alone: p·(1 − η·λ).
    let step = |opt: &mut dyn Optimizer| {
        let mut w = Param::named("w", Tensor::from_vec(vec![2.0f64, -4.0], [2]));
        let tape = Tape::new();
        let grads = (tape.param(&w) * 0.0).sum_all().backward();
        opt.step(&mut w, &grads).unwrap();
        w.value().to_vec_f64()
    };
    let config = AdamWConfig {
        lr: 0.1,
        ..AdamWConfig::default()
    };
    assert_eq!(config.weight_decay, 0.01);
    let decayed = step(&mut AdamW::new(config).unwrap());
    for (got, p) in decayed.iter().zip([2.0, -4.0]) {
        assert!((got - p * (1.0 - 0.1 * 0.01)).abs() < 1e-15, "{decayed:?}");
    }
    let adam = AdamConfig {
        lr: 0.1,
        ..AdamConfig::default()
    };
    assert_eq!(step(&mut Adam::new(adam).unwrap()), vec![2.0, -4.0]);
}

#[test]
fn set_momentum_is_sgds_momentum_and_adams_beta1() {
    let mut sgd = Sgd::with_config(SgdConfig {
        momentum: 0.9,
        ..SgdConfig::default()
    })
    .unwrap();
    assert_eq!(sgd.momentum(), Some(0.9));
    sgd.set_momentum(0.85).unwrap();
    assert_eq!((sgd.momentum(), sgd.config().momentum), (Some(0.85), 0.85));
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    adam.set_momentum(0.8).unwrap();
    assert_eq!(adam.config().betas, (0.8, 0.999));
    let mut adamw = AdamW::new(AdamWConfig::default()).unwrap();
    adamw.set_momentum(0.0).unwrap(); // β1 = 0 is allowed, as at construction
    assert_eq!(adamw.momentum(), Some(0.0));
    let mut rmsprop = RmsProp::new(RmsPropConfig {
        momentum: 0.5,
        ..RmsPropConfig::default()
    })
    .unwrap();
    rmsprop.set_momentum(0.6).unwrap();
    assert_eq!(rmsprop.config().momentum, 0.6);
}

#[test]
fn set_momentum_refuses_optimizers_without_one_and_values_out_of_range() {
    let msg = |r: Result<(), Error>| r.unwrap_err().to_string();
    let mut adagrad = Adagrad::new(AdagradConfig::default()).unwrap();
    assert_eq!(adagrad.momentum(), None);
    assert!(
        msg(adagrad.set_momentum(0.9)).starts_with("Adagrad: it has no momentum to set"),
        "{}",
        msg(adagrad.set_momentum(0.9))
    );
    let mut plain = Sgd::new(0.1).unwrap();
    assert_eq!(plain.momentum(), None);
    let e = msg(plain.set_momentum(0.9));
    assert!(e.contains("built without momentum"), "{e}");
    assert_eq!(plain.config().momentum, 0.0);
    let mut sgd = Sgd::with_config(SgdConfig {
        momentum: 0.9,
        nesterov: true,
        ..SgdConfig::default()
    })
    .unwrap();
    for bad in [0.0, 1.0, f64::NAN] {
        let e = msg(sgd.set_momentum(bad));
        assert!(
            e.starts_with("Sgd: momentum = ") && e.contains("(0, 1)"),
            "{e}"
        );
    }
    assert_eq!(sgd.momentum(), Some(0.9));
    let mut adam = Adam::new(AdamConfig::default()).unwrap();
    assert_eq!(
        msg(adam.set_momentum(1.0)),
        "Adam: betas.0 = 1 is not allowed; it must be in [0, 1)"
    );
    assert_eq!(adam.momentum(), Some(0.9));
}

#[test]
fn a_momentum_set_between_steps_acts_from_the_next_step() {
    // β1 set to 0.8 after step 2: step 3 is that of an Adam built with β1 = 0.8 resumed from the
    // state after step 2 (PyTorch reads β1 from the group at each step).
    let config = AdamConfig {
        lr: 0.05,
        ..AdamConfig::default()
    };
    let step = |opt: &mut Adam, w: &mut Param| {
        let tape = Tape::new();
        let grads = rosenbrock(&tape, w).backward();
        opt.step(w, &grads).unwrap();
    };
    let mut w = Param::named("w", Tensor::from_vec(vec![1.0f64, -2.0], [2]));
    let mut opt = Adam::new(config).unwrap();
    step(&mut opt, &mut w);
    step(&mut opt, &mut w);
    let (after_2, state_2) = (w.value().clone(), opt.state(&w));
    let mut kept = Param::named("w", after_2.clone());
    let mut opt_kept = Adam::new(config).unwrap();
    opt_kept.load_state(&kept, &state_2).unwrap();
    step(&mut opt_kept, &mut kept);

    opt.set_momentum(0.8).unwrap();
    step(&mut opt, &mut w);
    let mut replay = Param::named("w", after_2);
    let mut built_with = Adam::new(AdamConfig {
        betas: (0.8, 0.999),
        ..config
    })
    .unwrap();
    built_with.load_state(&replay, &state_2).unwrap();
    step(&mut built_with, &mut replay);
    assert_eq!(point(&w), point(&replay));
    assert_ne!(point(&w), point(&kept));
}
