//! The tape and backward pass: semantics, errors, memory, debugging aids, and composite
//! gradient checks (a 2-layer MLP, a small conv net).

use descent_core::{
    Conv2dParams, Error, GradcheckConfig, IntTensor, Param, Phase, Pool2dParams, Tape, Tensor, Var,
    gradcheck,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn t64(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape)
}

fn randn64(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, &mut StdRng::seed_from_u64(seed)).to_dtype(descent_core::DType::F64)
}

#[test]
fn readme_loop_shape_parameters_get_gradients() {
    let w = Param::named("w", t64(&[1.0, 2.0, 3.0, 4.0], &[2, 2]));
    let b = Param::named("b", t64(&[0.5, -0.5], &[2]));
    let tape = Tape::new();
    let x = tape.constant(t64(&[1.0, 1.0, 2.0, 0.0], &[2, 2]));
    let y = x.matmul(&tape.param(&w).t()) + tape.param(&b);
    let loss = y.sum_all();
    let grads = loss.backward();
    // d sum(x w^T + b) / d w[i, k] = sum_n x[n, k] = [3, 1]; / d b = batch size 2.
    assert_eq!(
        grads.get(&w).unwrap().to_vec_f64(),
        vec![3.0, 1.0, 3.0, 1.0]
    );
    assert_eq!(grads.get(&b).unwrap().to_vec_f64(), vec![2.0, 2.0]);
    assert_eq!(grads.len(), 2);
}

#[test]
fn a_value_used_twice_accumulates_both_gradients() {
    let tape = Tape::new();
    let x = tape.var(t64(&[3.0], &[1]));
    // y = x * x + x: dy/dx = 2x + 1 = 7.
    let y = (&x * &x + &x).sum_all();
    assert_eq!(y.backward().wrt(&x).unwrap().to_vec_f64(), vec![7.0]);
}

#[test]
fn a_parameter_registered_twice_sums_its_gradients() {
    let w = Param::new(t64(&[2.0], &[1]));
    let tape = Tape::new();
    let (a, b) = (tape.param(&w), tape.param(&w));
    let g = (&a * &b).sum_all().backward();
    assert_eq!(g.get(&w).unwrap().to_vec_f64(), vec![4.0]);
}

#[test]
fn gradients_reduce_over_broadcast_dims_and_flow_through_views() {
    let tape = Tape::new();
    let a = tape.var(randn64(&[3, 1], 1));
    let b = tape.var(randn64(&[4], 2));
    let y = (&a * &b).t().reshape([2, 6]).narrow(1, 1, 4).sum_all();
    let g = y.backward();
    assert_eq!(g.wrt(&a).unwrap().shape(), &[3, 1]);
    assert_eq!(g.wrt(&b).unwrap().shape(), &[4]);
}

#[test]
fn backward_twice_is_a_clear_error() {
    let tape = Tape::new();
    let x = tape.var(t64(&[1.0], &[1]));
    let y = x.exp().sum_all();
    y.backward();
    assert!(tape.is_consumed());
    assert_eq!(tape.len(), 0);
    let e = y.try_backward().unwrap_err();
    assert!(matches!(e, Error::TapeConsumed { .. }), "{e}");
    assert!(e.to_string().contains("already consumed"), "{e}");
    // Recording on a consumed tape is refused too.
    let e = x.try_add(&x).unwrap_err();
    assert!(matches!(e, Error::TapeConsumed { .. }));
}

#[test]
fn mixing_two_tapes_is_a_clear_error() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let a = t1.var(t64(&[1.0], &[1]));
    let b = t2.var(t64(&[1.0], &[1]));
    let e = a.try_mul(&b).unwrap_err();
    assert!(matches!(e, Error::MixedTapes { op: "mul" }), "{e}");
}

#[test]
fn non_scalar_backward_needs_a_seed() {
    let tape = Tape::new();
    let x = tape.var(t64(&[1.0, 2.0], &[2]));
    let y = x.square();
    let e = y.try_backward().unwrap_err();
    assert!(e.to_string().contains("backward_with"), "{e}");
    let g = y.backward_with(&t64(&[1.0, 1.0], &[2])).unwrap();
    assert_eq!(g.wrt(&x).unwrap().to_vec_f64(), vec![2.0, 4.0]);
}

#[test]
fn a_dropped_tape_frees_its_graph_and_says_so() {
    let x_val = t64(&[1.0, 2.0], &[2]);
    let y = {
        let tape = Tape::new();
        let x = tape.var(&x_val);
        x.exp().mul(&x)
    };
    // The value stays readable; the graph is gone.
    assert_eq!(y.shape(), &[2]);
    let e = y.sum_all_checked().unwrap_err();
    assert!(matches!(e, Error::TapeDropped { .. }), "{e}");
}

trait SumChecked {
    fn sum_all_checked(&self) -> descent_core::Result<Var>;
}
impl SumChecked for Var {
    fn sum_all_checked(&self) -> descent_core::Result<Var> {
        self.try_sum(&[0], false)
    }
}

#[test]
fn tape_memory_is_visible_and_released_by_backward() {
    let tape = Tape::new();
    let x = tape.var(Tensor::ones([1000]).to_dtype(descent_core::DType::F64));
    let y = x.tanh().exp().sum_all();
    assert_eq!(tape.len(), 4);
    // tanh saves its output, exp its output: two buffers of 1000 f64.
    assert_eq!(tape.saved_bytes(), 2 * 8000);
    y.backward();
    assert_eq!((tape.len(), tape.saved_bytes()), (0, 0));
    tape.reset();
    assert!(!tape.is_consumed());
    let z = tape.var(t64(&[1.0], &[1])).exp().sum_all();
    assert!(z.try_backward().is_ok());
}

#[test]
fn no_grad_records_nothing_and_detach_cuts_the_graph() {
    let tape = Tape::new();
    let x = tape.var(t64(&[2.0], &[1]));
    let frozen = tape.no_grad(|| x.square());
    assert!(!frozen.requires_grad());
    assert_eq!(tape.len(), 1);
    // y = x * stop(x^2): dy/dx = x^2 = 4, not 3 x^2.
    let y = (&x * &frozen).sum_all();
    assert_eq!(y.backward().wrt(&x).unwrap().to_vec_f64(), vec![4.0]);
    let tape = Tape::new();
    let x = tape.var(t64(&[2.0], &[1]));
    let y = (&x * &x.square().detach()).sum_all();
    assert_eq!(y.backward().wrt(&x).unwrap().to_vec_f64(), vec![4.0]);
}

#[test]
fn backward_from_something_without_gradients_is_an_error() {
    let tape = Tape::new();
    let c = tape.constant(t64(&[1.0], &[1]));
    let e = c.exp().sum_all().try_backward().unwrap_err();
    assert!(e.to_string().contains("does not depend"), "{e}");
}

#[test]
fn a_chain_of_100_000_ops_does_not_overflow_the_stack() {
    let tape = Tape::with_capacity(100_001);
    let x = tape.var(t64(&[0.5; 4], &[4]));
    let mut y = x.clone();
    for _ in 0..100_000 {
        y = y.mul_scalar(1.0);
    }
    let g = y.sum_all().backward();
    assert_eq!(g.wrt(&x).unwrap().to_vec_f64(), vec![1.0; 4]);
}

#[test]
fn anomaly_mode_names_the_first_bad_op_forward() {
    let tape = Tape::new();
    tape.set_anomaly_mode(true);
    let x = tape.var(t64(&[-1.0, 4.0], &[2]));
    let y = x.log().sum_all(); // log(-1) = NaN
    let a = tape.anomaly().expect("found");
    assert_eq!(
        (a.op, a.phase, a.position, a.what),
        ("log", Phase::Forward, 1, "NaN")
    );
    assert_eq!(a.input_shapes, vec![vec![2]]);
    assert!(a.location.contains("tape.rs"), "{}", a.location);
    let e = y.try_backward().unwrap_err();
    assert!(
        e.to_string()
            .starts_with("anomaly: NaN in the forward result of `log`"),
        "{e}"
    );
}

#[test]
fn anomaly_mode_names_the_first_bad_op_backward() {
    let tape = Tape::new();
    tape.set_anomaly_mode(true);
    let x = tape.var(t64(&[0.0, 4.0], &[2]));
    // sqrt(0) = 0 is finite; its gradient 1 / (2 sqrt 0) is not.
    let e = x.sqrt().sum_all().try_backward().unwrap_err();
    let Error::Anomaly(a) = e else {
        panic!("expected an anomaly, got {e}")
    };
    assert_eq!((a.op, a.phase, a.what), ("sqrt", Phase::Backward, "inf"));
}

#[test]
fn dot_export_shows_ops_shapes_and_edges() {
    let tape = Tape::new();
    let w = Param::new(t64(&[1.0, 2.0], &[2, 1]));
    let x = tape.constant(t64(&[1.0, 2.0], &[1, 2]));
    let _ = x.matmul(&tape.param(&w)).relu();
    let dot = tape.to_dot();
    assert!(
        dot.contains("n2 [label=\"#2 matmul\\n[1, 1]\", style=filled"),
        "{dot}"
    );
    assert!(
        dot.contains("n0 [label=\"#0 constant\\n[1, 2]\"];"),
        "{dot}"
    );
    assert!(dot.contains("n0 -> n2") && dot.contains("n1 -> n2") && dot.contains("n2 -> n3"));
}

#[test]
fn profile_counts_forward_and_backward_calls() {
    let tape = Tape::new();
    tape.enable_profile();
    let x = tape.var(randn64(&[8, 8], 3));
    let y = x.matmul(&x).tanh().matmul(&x).sum_all();
    y.backward();
    let p = tape.profile();
    let mm = p.iter().find(|e| e.op == "matmul").unwrap();
    assert_eq!((mm.forward_calls, mm.backward_calls), (2, 2));
    let off = Tape::new();
    let _ = off.var(randn64(&[2], 1)).exp();
    assert!(off.profile().is_empty());
}

#[test]
fn composite_two_layer_mlp_passes_gradcheck() {
    let x = randn64(&[5, 4], 10);
    let w1 = randn64(&[6, 4], 11);
    let b1 = randn64(&[6], 12);
    let w2 = randn64(&[3, 6], 13);
    let b2 = randn64(&[3], 14);
    let labels = IntTensor::from_vec(vec![0, 2, 1, 1, 0], [5]);
    let r = gradcheck(
        |tape, v| {
            let h = (v[0].matmul(&v[1].t()) + &v[2]).tanh();
            let logits = h.matmul(&v[3].t()) + &v[4];
            let logp = logits.log_softmax(-1);
            let picked = logp.gather(1, &labels.reshape([5, 1]));
            let _ = tape;
            -picked.mean_all()
        },
        &[x, w1, b1, w2, b2],
        &GradcheckConfig::default(),
    );
    assert!(r.is_ok(), "{}", r.unwrap_err());
}

/// conv2d keeps only what its backward reads: the input for the weight gradient, the weight for
/// the input gradient, nothing for the bias gradient; and the bias gradient is `grad_out` summed
/// over batch and pixels.
#[test]
fn conv2d_saves_only_what_its_gradients_need() {
    let tape = Tape::new();
    let x = tape.constant(Tensor::ones([2, 3, 4, 4]));
    let w = tape.var(Tensor::ones([3, 1, 3, 3]));
    // A bias seen through a view (the first 3 of 4 elements).
    let b = tape.var(Tensor::zeros([4]));
    let y = x.conv2d(
        &w,
        Some(&b.narrow(0, 0, 3)),
        Conv2dParams::default().groups(3).padding(1),
    );
    // Weight and bias need gradients, the input does not: only the input (f32) is saved.
    assert_eq!(tape.saved_bytes(), 2 * 3 * 4 * 4 * 4);
    let grads = y.sum_all().backward();
    // d sum / d b[c] = the output pixels of channel c over the batch, 2 * 16.
    assert_eq!(
        grads.wrt(&b).unwrap().to_vec_f32(),
        vec![32.0, 32.0, 32.0, 0.0]
    );
    assert_eq!(grads.wrt(&w).unwrap().shape(), &[3, 1, 3, 3]);
    assert!(grads.wrt(&x).is_none());
}

#[test]
fn composite_conv_net_passes_gradcheck() {
    let x = randn64(&[2, 2, 6, 6], 20);
    let k = randn64(&[3, 2, 3, 3], 21);
    let b = randn64(&[3], 23);
    let w = randn64(&[4, 12], 22);
    let r = gradcheck(
        |_tape, v| {
            let c = v[0]
                .conv2d(&v[1], Some(&v[2]), Conv2dParams::default().padding(1))
                .gelu();
            let p = c.max_pool2d(Pool2dParams::new(3)); // [2, 3, 2, 2]
            let f = p.reshape([2, 12]);
            f.matmul(&v[3].t()).softmax(-1).square().sum_all()
        },
        &[x, k, b, w],
        &GradcheckConfig::default(),
    );
    assert!(r.is_ok(), "{}", r.unwrap_err());
}

/// A depthwise-separable block (depthwise 3x3 with bias, then pointwise 1x1 with bias), as in
/// MobileNet: every parameter's gradient through two convs, one of them grouped.
#[test]
fn composite_depthwise_separable_block_passes_gradcheck() {
    let x = randn64(&[2, 4, 5, 5], 30);
    let dw = randn64(&[4, 1, 3, 3], 31);
    let db = randn64(&[4], 32);
    let pw = randn64(&[6, 4, 1, 1], 33);
    let pb = randn64(&[6], 34);
    let r = gradcheck(
        |_tape, v| {
            let h = v[0]
                .conv2d(
                    &v[1],
                    Some(&v[2]),
                    Conv2dParams::default().padding(1).groups(4),
                )
                .tanh();
            h.conv2d(&v[3], Some(&v[4]), Conv2dParams::default())
                .square()
                .sum_all()
        },
        &[x, dw, db, pw, pb],
        &GradcheckConfig::default(),
    );
    assert!(r.is_ok(), "{}", r.unwrap_err());
}

#[test]
fn gradcheck_catches_a_wrong_gradient() {
    // detach() hides a dependence: the analytic gradient misses it, and gradcheck says where.
    let x = t64(&[1.0, 2.0], &[2]);
    let e = gradcheck(
        |_, v| (&v[0] * &v[0].detach()).sum_all(),
        &[x],
        &GradcheckConfig::default(),
    )
    .unwrap_err();
    assert_eq!(e.input, 0);
    assert_eq!(e.index, vec![1]);
    assert!((e.numeric - 4.0).abs() < 1e-6 && (e.analytic - 2.0).abs() < 1e-12);
    assert!(
        e.to_string().starts_with("gradcheck: input 0 element [1]"),
        "{e}"
    );
}
