//! The guard rails of a step: gradients of another model, one backward pass applied twice, and
//! what a non-finite loss or gradient is blamed on. A refused step changes nothing and does not
//! count.

use descent_core::{Gradients, Param, Tape, Tensor};
use descent_optim::{Adam, AdamConfig, Error, Optimizer, Sgd};

fn model() -> Vec<Param> {
    vec![
        Param::named("w", Tensor::from_vec(vec![1.0f64, -2.0], [2])),
        Param::named("b", Tensor::from_vec(vec![0.5f64], [1])),
        Param::named("unused", Tensor::from_vec(vec![3.0f64], [1])),
    ]
}

/// Σ w² + b², which does not depend on the third parameter.
fn grads_of(params: &[Param]) -> Gradients {
    let tape = Tape::new();
    (tape.param(&params[0]).square().sum_all() + tape.param(&params[1]).square().sum_all())
        .backward()
}

fn values(params: &[Param]) -> Vec<Vec<f64>> {
    params.iter().map(|p| p.value().to_vec_f64()).collect()
}

#[test]
fn gradients_of_a_clone_are_refused_and_change_nothing() {
    let mut params = model();
    let clone = params.clone();
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let e = opt.step(&mut params, &grads_of(&clone)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NoGradients {
                owner: "Adam",
                params: 3
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with("Adam: none of the 3 parameters has a gradient in these Gradients")
            && msg.contains("another model")
            && msg.contains("clone"),
        "{msg}"
    );
    assert_eq!(values(&params), values(&model()));
    assert_eq!(opt.steps(), 0, "the refused step is not counted");
    assert!(opt.state(&params).params.is_empty());
    // The gradients of the model itself step it, the unused parameter left alone.
    let grads = grads_of(&params);
    let report = opt.step(&mut params, &grads).unwrap();
    assert_eq!(
        (report.step, report.updated, report.without_grad),
        (1, 2, 1)
    );
    assert_eq!(params[2].value().to_vec_f64(), vec![3.0]);
}

#[test]
fn the_message_counts_one_parameter_in_words() {
    let mut w = Param::new(Tensor::from_vec(vec![1.0f32], [1]));
    let other = Param::new(Tensor::from_vec(vec![1.0f32], [1]));
    let tape = Tape::new();
    let grads = tape.param(&other).square().sum_all().backward();
    let e = Sgd::new(0.1).unwrap().step(&mut w, &grads).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("Sgd: the parameter has no gradient in these Gradients"),
        "{e}"
    );
}

#[test]
fn one_backward_pass_applied_twice_is_refused() {
    let mut params = model();
    let mut opt = Adam::new(AdamConfig::default()).unwrap();
    let grads = grads_of(&params);
    opt.step(&mut params, &grads).unwrap();
    let (before, state) = (values(&params), opt.state(&params));
    for again in [grads.clone(), grads] {
        let e = opt.step(&mut params, &again).unwrap_err();
        assert!(
            matches!(
                e,
                Error::GradientsReused {
                    owner: "Adam",
                    step: 1
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("Adam: these Gradients were already applied at step 1"),
            "{e}"
        );
        assert_eq!(values(&params), before);
        assert_eq!(opt.steps(), 1, "the refused step is not counted");
        let now = opt.state(&params);
        assert_eq!(now.params[0].step, state.params[0].step);
    }
    // A new backward pass steps.
    let grads = grads_of(&params);
    let report = opt.step(&mut params, &grads).unwrap();
    assert_eq!(report.step, 2);
}

#[test]
fn a_refused_reuse_does_not_forget_the_pass() {
    // A step refused for another reason does not count as applying its pass.
    let mut params = model();
    let mut opt = Sgd::new(0.1).unwrap();
    let grads = grads_of(&params);
    let clone = params.clone();
    opt.step(&mut params, &grads).unwrap();
    assert!(opt.step(&mut params, &grads_of(&clone)).is_err());
    assert!(matches!(
        opt.step(&mut params, &grads),
        Err(Error::GradientsReused { step: 1, .. })
    ));
}

#[test]
fn two_optimizers_over_different_parameters_share_one_pass() {
    // As a GAN: one backward pass, a generator and a discriminator optimizer.
    let mut generator = vec![Param::named("g", Tensor::from_vec(vec![1.0f64], [1]))];
    let mut discriminator = vec![Param::named("d", Tensor::from_vec(vec![2.0f64], [1]))];
    let mut opt_g = Sgd::new(0.1).unwrap();
    let mut opt_d = Sgd::new(0.1).unwrap();
    for _ in 0..3 {
        let tape = Tape::new();
        let loss = (tape.param(&generator[0]) * tape.param(&discriminator[0])).sum_all();
        let grads = loss.backward();
        assert_eq!(opt_g.step(&mut generator, &grads).unwrap().updated, 1);
        assert_eq!(opt_d.step(&mut discriminator, &grads).unwrap().updated, 1);
    }
    assert_eq!((opt_g.steps(), opt_d.steps()), (3, 3));
}

#[test]
fn hand_built_gradients_carry_no_pass_and_may_be_reused() {
    let mut w = Param::new(Tensor::from_vec(vec![1.0f64], [1]));
    let mut grads = Gradients::default();
    grads.insert(w.id(), Tensor::from_vec(vec![1.0f64], [1]));
    assert_eq!(grads.pass(), None);
    let mut opt = Sgd::new(0.5).unwrap();
    opt.step(&mut w, &grads).unwrap();
    opt.step(&mut w, &grads).unwrap();
    assert_eq!(w.value().to_vec_f64(), vec![0.0]);
}

#[test]
fn an_empty_model_still_steps() {
    let mut none: Vec<Param> = Vec::new();
    let mut opt = Sgd::new(0.1).unwrap();
    let report = opt.step(&mut none, &Gradients::default()).unwrap();
    assert_eq!((report.updated, report.without_grad), (0, 0));
}

/// One SGD step of rate 0.1 on `w·scale` summed, after `before` good steps.
fn non_finite_after(before: usize, scale: f64) -> Error {
    let mut w = Param::named("w", Tensor::from_vec(vec![1.0f64], [1]));
    let mut opt = Sgd::new(0.1).unwrap();
    for _ in 0..before {
        let tape = Tape::new();
        let grads = (tape.param(&w) * 2.0).sum_all().backward();
        opt.step(&mut w, &grads).unwrap();
    }
    let tape = Tape::new();
    let grads = (tape.param(&w) * scale).sum_all().backward();
    opt.step(&mut w, &grads).unwrap_err()
}

#[test]
fn a_non_finite_loss_at_the_first_step_blames_the_data_not_the_learning_rate() {
    let msg = non_finite_after(0, f64::NAN).to_string();
    assert!(msg.starts_with("the loss is NaN at step 1;"), "{msg}");
    assert!(
        msg.contains("first step") && msg.contains("initialisation") && !msg.contains("lower"),
        "{msg}"
    );
    let later = non_finite_after(2, f64::INFINITY).to_string();
    assert!(
        later.starts_with("the loss is inf at step 3;")
            && later.contains("try a lower learning rate than 0.1"),
        "{later}"
    );
}

#[test]
fn a_non_finite_gradient_under_a_finite_loss_blames_an_op() {
    // sqrt at 0: the loss is 0, its derivative infinite.
    let mut w = Param::named("w", Tensor::from_vec(vec![0.0f64], [1]));
    let mut opt = Sgd::new(0.1).unwrap();
    let tape = Tape::new();
    let grads = tape.param(&w).sqrt().sum_all().backward();
    let e = opt.step(&mut w, &grads).unwrap_err();
    assert!(
        matches!(
            e,
            Error::NonFinite {
                loss: Some(0.0),
                step: 1,
                ..
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with("the gradient of parameter `w` (element 0 of [1]) contains inf at step 1")
            && msg.contains("loss is finite")
            && msg.contains("sqrt")
            && !msg.contains("lower learning rate"),
        "{msg}"
    );
}
