//! User-defined ops ([`CustomOp`]): recorded like built-in ops, checked by `gradcheck`, and a
//! backward rule that returns the wrong shape is an error, not a silent broadcast.

use descent_core::{
    CustomOp, Error, GradcheckConfig, IntTensor, Param, Result, Tape, Tensor, Var, gradcheck,
};

/// `a * sin-free polynomial`: `y = a^2 * b + b`, with its two partial derivatives.
struct SquareTimes;

impl CustomOp for SquareTimes {
    fn name(&self) -> &'static str {
        "square_times"
    }
    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        inputs[0].square().try_mul(inputs[1])?.try_add(inputs[1])
    }
    fn backward(
        &self,
        inputs: &[&Tensor],
        _output: &Tensor,
        g: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (inputs[0], inputs[1]);
        // dy/da = 2 a b; dy/db = a^2 + 1.
        Ok(vec![
            Some(g * &(a * b * 2.0)),
            Some(g * &(a.square() + 1.0)),
        ])
    }
}

/// The same forward with a planted mistake in its derivative (`a b` instead of `2 a b`).
struct Wrong;

impl CustomOp for Wrong {
    fn name(&self) -> &'static str {
        "wrong"
    }
    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        SquareTimes.forward(inputs)
    }
    fn backward(&self, inputs: &[&Tensor], y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let mut gs = SquareTimes.backward(inputs, y, g)?;
        gs[0] = gs[0].as_ref().map(|d| d * 0.5);
        Ok(gs)
    }
}

/// A backward rule that returns a gradient of the output's shape for a broadcast input.
struct BadShape;

impl CustomOp for BadShape {
    fn name(&self) -> &'static str {
        "bad_shape"
    }
    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor> {
        inputs[0].try_add(inputs[1])
    }
    fn backward(&self, _: &[&Tensor], _: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.clone()), Some(g.clone())])
    }
}

fn inputs() -> [Tensor; 2] {
    [
        Tensor::from_vec(vec![0.5f64, -1.5, 2.0, 0.25, -0.75, 1.0], [2, 3]),
        Tensor::from_vec(vec![1.5f64, 0.5, -2.0, -0.5, 2.5, 0.75], [2, 3]),
    ]
}

#[test]
fn custom_op_passes_gradcheck_inside_a_composition() {
    let r = gradcheck(
        |_, v| {
            Var::custom(SquareTimes, &[&v[0].tanh(), &v[1]])
                .exp()
                .sum(&[1], false)
        },
        &inputs(),
        &GradcheckConfig::default(),
    );
    assert!(r.is_ok(), "{}", r.unwrap_err());
}

#[test]
fn gradcheck_catches_a_wrong_custom_backward() {
    let r = gradcheck(
        |_, v| Var::custom(Wrong, &[&v[0], &v[1]]),
        &inputs(),
        &GradcheckConfig::default(),
    );
    let failure = r.unwrap_err();
    assert_eq!(failure.input, 0, "{failure}");
}

#[test]
fn custom_op_is_recorded_under_its_name_and_feeds_params() {
    let w = Param::named("w", inputs()[0].clone());
    let tape = Tape::new();
    tape.enable_profile();
    let b = tape.constant(inputs()[1].clone());
    let y = Var::custom(SquareTimes, &[&tape.param(&w), &b]);
    assert!(tape.to_dot().contains("square_times"));
    let grads = y.sum_all().backward();
    let want = (&inputs()[0] * &inputs()[1] * 2.0).to_vec_f64();
    assert_eq!(grads.get(&w).unwrap().to_vec_f64(), want);
    let p = tape.profile();
    let e = p.iter().find(|e| e.op == "square_times").unwrap();
    assert_eq!((e.forward_calls, e.backward_calls), (1, 1));
}

#[test]
fn a_wrongly_shaped_custom_gradient_is_an_error() {
    let tape = Tape::new();
    let a = tape.var(Tensor::zeros([2, 3]));
    let b = tape.var(Tensor::zeros([3]));
    let e = Var::custom(BadShape, &[&a, &b])
        .sum_all()
        .try_backward()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                op: "bad_shape",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("for input 1"), "{e}");
    // And the forward's own errors come back from try_custom.
    let c = tape.var(Tensor::zeros([4]));
    assert!(Var::try_custom(BadShape, &[&a, &c]).is_err());
    assert!(Var::try_custom(BadShape, &[]).is_err());
}

#[test]
fn tape_handle_from_a_var_is_weak() {
    let w = Param::named("w", Tensor::ones([2]));
    let tape = Tape::new();
    let x = tape.constant(Tensor::ones([2]));
    let handle = x.tape();
    assert!(handle.is_usable() && handle.is_recording());
    assert!(!tape.no_grad(|| handle.is_recording()));
    let y = (&x * &handle.param(&w)).sum_all();
    let _ = y.backward();
    // Consumed by backward: the handle refuses to record.
    assert!(matches!(
        handle.try_param(&w),
        Err(Error::TapeConsumed { .. })
    ));
    let tape2 = Tape::new();
    let h2 = tape2.handle();
    drop(tape2);
    assert!(matches!(
        h2.try_constant(Tensor::ones([1])),
        Err(Error::TapeDropped { .. })
    ));
}

#[test]
fn every_fallible_var_view_has_a_try_form() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros([2, 3]));
    assert!(x.try_transpose(0, 2).is_err());
    assert!(x.try_squeeze(0).is_err());
    assert!(x.try_unsqueeze(3).is_err());
    assert!(x.try_flatten(1, 0).is_err());
    assert_eq!(x.try_unsqueeze(2).unwrap().shape(), &[2, 3, 1]);
    let labels = IntTensor::from(&[0usize, 2][..]);
    assert_eq!(x.argmax(1, false), IntTensor::zeros([2]));
    assert_eq!(
        x.try_cross_entropy(&labels).unwrap().shape(),
        &[] as &[usize]
    );
}

#[test]
fn comparisons_on_vars_have_try_forms() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros([2, 3]));
    let e = x.try_eq(&tape.var(Tensor::zeros([4]))).unwrap_err();
    assert!(e.to_string().starts_with("eq: [2, 3] and [4]"), "{e}");
    assert!(!x.lt(&x).requires_grad());
}

#[test]
fn leaves_under_no_grad_are_not_recorded() {
    let w = Param::named("w", Tensor::ones([2]));
    let tape = Tape::new();
    let y = tape.no_grad(|| &tape.param(&w) * &tape.constant(Tensor::ones([2])));
    assert_eq!(tape.len(), 0);
    assert!(!y.requires_grad());
}
