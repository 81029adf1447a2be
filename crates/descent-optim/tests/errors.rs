//! One error type across the crates: a `?` takes core and optimizer errors alike, and `{:?}`
//! (what `unwrap`, `expect` and a `main` returning `Result` print) is the message.

use descent_core::{Param, Tape, Tensor};
use descent_optim::{Error, Optimizer, Sgd};

/// Adds `[1, 1]` and ones of `shape`, then takes one SGD step of rate `lr` on `scale` times the
/// sum: every failure, of a core op or of the optimizer, goes through the same `?`.
fn add_then_step(shape: &[usize], lr: f64, scale: f64) -> Result<(), descent_optim::Error> {
    let sum = Tensor::ones([2]).try_add(&Tensor::ones(shape))?;
    let mut w = Param::named("w", sum);
    let mut opt = Sgd::new(lr)?;
    let tape = Tape::new();
    let loss = (tape.param(&w) * scale).sum_all();
    opt.step(&mut w, &loss.backward())?;
    Ok(())
}

#[test]
fn question_mark_takes_core_and_optimizer_errors() {
    assert_eq!(add_then_step(&[2], 0.1, 1.0), Ok(()));
    let shape = add_then_step(&[3], 0.1, 1.0);
    assert!(
        matches!(shape, Err(Error::ShapeMismatch { .. })),
        "{shape:?}"
    );
    let lr = add_then_step(&[2], -0.1, 1.0);
    assert!(
        matches!(lr, Err(Error::InvalidHyperparameter { .. })),
        "{lr:?}"
    );
    let loss = add_then_step(&[2], 10.0, f64::INFINITY);
    assert!(matches!(loss, Err(Error::NonFinite { .. })), "{loss:?}");
}

#[test]
fn debug_prints_the_message() {
    // Not the variant's fields (`NonFinite { what: "loss", value: "inf", .. }`): the message.
    let non_finite = add_then_step(&[2], 10.0, f64::INFINITY).unwrap_err();
    assert_eq!(
        format!("{non_finite:?}"),
        "the loss is inf at step 1; the step was not taken. This is the optimizer's first \
         step, so no update (and no learning rate) has acted yet: check the inputs and targets \
         for NaN or inf, and the model's initialisation (or the loss: log of 0, division by 0)"
    );
    let shape = add_then_step(&[3], 0.1, 1.0).unwrap_err();
    let debug = format!("{shape:?}");
    assert!(debug.starts_with("add: [2] and [3] "), "{debug}");
    for e in [non_finite, shape] {
        assert_eq!(format!("{e:?}"), e.to_string());
    }
}
