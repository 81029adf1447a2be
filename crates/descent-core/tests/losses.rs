//! The elementwise losses of `ops/loss.rs` (`mse_loss`, `l1_loss`, `smooth_l1_loss`,
//! `binary_cross_entropy`, `binary_cross_entropy_with_logits`, `gaussian_kl`): each against a
//! naive `f64` loop, on `Tensor` and on `Var`, with every [`Reduction`]; each gradchecked in
//! `f64` with respect to both of its operands (away from the kinks of `l1` at 0 and
//! `smooth_l1` at `|d| = beta`); and a target of another shape refused with both shapes named.

use descent_core::{DType, Error, GradcheckConfig, Reduction, Tape, Tensor, Var, gradcheck};

const REDUCTIONS: [Reduction; 3] = [Reduction::Mean, Reduction::Sum, Reduction::None];

/// A `[2, 3]` tensor.
fn t(v: [f64; 6]) -> Tensor {
    Tensor::from_vec(v.to_vec(), [2, 3])
}

/// Reduces per-element reference values as `r` says.
fn reduce(per: Vec<f64>, r: Reduction) -> Vec<f64> {
    match r {
        Reduction::Mean => vec![per.iter().sum::<f64>() / per.len() as f64],
        Reduction::Sum => vec![per.iter().sum::<f64>()],
        Reduction::None => per,
    }
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
            "{what}: got {got:?}, want {want:?}"
        );
    }
}

type TensorLoss = fn(&Tensor, &Tensor, Reduction) -> Tensor;
type VarLoss = fn(&Var, &Var, Reduction) -> Var;

/// Checks a loss on `Tensor` and on `Var` (value and shape, every reduction) against the
/// per-element reference `naive`, and gradchecks the `Var` form in both operands.
fn check(
    name: &str,
    on_tensor: TensorLoss,
    on_var: VarLoss,
    naive: impl Fn(f64, f64) -> f64,
    x: &Tensor,
    y: &Tensor,
    gradcheck_it: bool,
) {
    let per: Vec<f64> = x
        .to_vec_f64()
        .into_iter()
        .zip(y.to_vec_f64())
        .map(|(a, b)| naive(a, b))
        .collect();
    for r in REDUCTIONS {
        let want = reduce(per.clone(), r);
        let got = on_tensor(x, y, r);
        let want_shape: &[usize] = if r == Reduction::None { x.shape() } else { &[] };
        assert_eq!(got.shape(), want_shape, "{name} {r:?}");
        assert_close(&got.to_vec_f64(), &want, &format!("{name} {r:?} (Tensor)"));
        let tape = Tape::new();
        let v = on_var(&tape.var(x.clone()), &tape.constant(y.clone()), r);
        assert_close(
            &v.value().to_vec_f64(),
            &want,
            &format!("{name} {r:?} (Var)"),
        );
        if gradcheck_it {
            let res = gradcheck(
                |_, v| on_var(&v[0], &v[1], r),
                &[x.clone(), y.clone()],
                &GradcheckConfig::default(),
            );
            assert!(res.is_ok(), "{name} {r:?}: {}", res.unwrap_err());
        }
    }
}

#[test]
fn mse_loss_matches_a_naive_loop_and_gradchecks() {
    let x = t([0.4, -1.5, 2.0, 0.25, -0.75, 1.3]);
    let y = t([1.5, 0.5, -2.0, -0.5, 2.5, 0.7]);
    check(
        "mse_loss",
        |a, b, r| a.mse_loss(b, r),
        |a, b, r| a.mse_loss(b, r),
        |a, b| (a - b) * (a - b),
        &x,
        &y,
        true,
    );
}

#[test]
fn l1_loss_matches_a_naive_loop_and_gradchecks() {
    let x = t([0.4, -1.5, 2.0, 0.25, -0.75, 1.3]);
    let y = t([1.5, 0.5, -2.0, -0.5, 2.5, 0.7]);
    check(
        "l1_loss",
        |a, b, r| a.l1_loss(b, r),
        |a, b, r| a.l1_loss(b, r),
        |a, b| (a - b).abs(),
        &x,
        &y,
        true,
    );
}

/// PyTorch's `smooth_l1_loss` element.
fn huber(a: f64, b: f64, beta: f64) -> f64 {
    let d = (a - b).abs();
    if d < beta {
        0.5 * d * d / beta
    } else {
        d - 0.5 * beta
    }
}

#[test]
fn smooth_l1_loss_matches_a_naive_loop_and_gradchecks() {
    // |d| = 1.1, 2, 4, 0.75, 3.25, 0.6: both sides of beta = 0.8, none near it.
    let x = t([0.4, -1.5, 2.0, 0.25, -0.75, 1.3]);
    let y = t([1.5, 0.5, -2.0, -0.5, 2.5, 0.7]);
    check(
        "smooth_l1_loss",
        |a, b, r| a.smooth_l1_loss(b, 0.8, r),
        |a, b, r| a.smooth_l1_loss(b, 0.8, r),
        |a, b| huber(a, b, 0.8),
        &x,
        &y,
        true,
    );
    // beta = 3: most inside; beta = 0 is l1_loss.
    check(
        "smooth_l1_loss beta 3",
        |a, b, r| a.smooth_l1_loss(b, 3.0, r),
        |a, b, r| a.smooth_l1_loss(b, 3.0, r),
        |a, b| huber(a, b, 3.0),
        &x,
        &y,
        true,
    );
    check(
        "smooth_l1_loss beta 0",
        |a, b, r| a.smooth_l1_loss(b, 0.0, r),
        |a, b, r| a.smooth_l1_loss(b, 0.0, r),
        |a, b| (a - b).abs(),
        &x,
        &y,
        true,
    );
    for beta in [-1.0, f64::NAN] {
        let e = x.try_smooth_l1_loss(&y, beta, Reduction::Mean).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        assert!(e.to_string().contains("beta"), "{e}");
    }
}

/// PyTorch's `binary_cross_entropy` element, logs clamped at -100.
fn bce(p: f64, t: f64) -> f64 {
    -(t * p.ln().max(-100.0) + (1.0 - t) * (1.0 - p).ln().max(-100.0))
}

#[test]
fn binary_cross_entropy_matches_a_naive_loop_and_gradchecks() {
    let p = t([0.1, 0.5, 0.9, 0.3, 0.7, 0.25]);
    let y = t([0.0, 1.0, 1.0, 0.2, 0.6, 0.0]);
    check(
        "binary_cross_entropy",
        |a, b, r| a.binary_cross_entropy(b, r),
        |a, b, r| a.binary_cross_entropy(b, r),
        bce,
        &p,
        &y,
        true,
    );
    // p = 0 and 1: the clamp at -100, a finite loss and a finite gradient.
    let p = t([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    let y = t([0.0, 1.0, 1.0, 0.0, 0.5, 0.25]);
    check(
        "binary_cross_entropy at 0 and 1",
        |a, b, r| a.binary_cross_entropy(b, r),
        |a, b, r| a.binary_cross_entropy(b, r),
        bce,
        &p,
        &y,
        false,
    );
    let want = [0.0, 0.0, 100.0, 100.0, 50.0, 75.0];
    assert_close(
        &p.binary_cross_entropy(&y, Reduction::None).to_vec_f64(),
        &want,
        "bce at the edges",
    );
    let tape = Tape::new();
    let pv = tape.var(p.clone());
    let g = pv
        .binary_cross_entropy(&tape.constant(y.clone()), Reduction::Sum)
        .backward();
    assert!(
        g.wrt(&pv)
            .unwrap()
            .to_vec_f64()
            .iter()
            .all(|d| d.is_finite())
    );
    // f32 as well: exactly PyTorch's 100 at the edges.
    let (p32, y32) = (p.to_dtype(DType::F32), y.to_dtype(DType::F32));
    let got = p32.binary_cross_entropy(&y32, Reduction::None).to_vec_f64();
    assert_close(&got, &want, "bce f32 at the edges");
}

/// The stable `binary_cross_entropy_with_logits` element.
fn bce_logits(x: f64, t: f64) -> f64 {
    x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()
}

#[test]
fn binary_cross_entropy_with_logits_matches_a_naive_loop_and_gradchecks() {
    // Logits of +-50 (where the naive -t log(sigmoid) overflows to inf in f32) and 0, where
    // `max` and `abs` both have kinks that cancel in the sum.
    let x = t([-50.0, 50.0, 0.0, -2.0, 3.0, 50.0]);
    let y = t([0.0, 1.0, 0.5, 1.0, 0.0, 0.0]);
    check(
        "binary_cross_entropy_with_logits",
        |a, b, r| a.binary_cross_entropy_with_logits(b, r),
        |a, b, r| a.binary_cross_entropy_with_logits(b, r),
        bce_logits,
        &x,
        &y,
        true,
    );
    // The gradient is sigmoid(x) - t, at x = 0 as well.
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let g = xv
        .binary_cross_entropy_with_logits(&tape.constant(y.clone()), Reduction::Sum)
        .backward();
    let want: Vec<f64> = x
        .to_vec_f64()
        .iter()
        .zip(y.to_vec_f64())
        .map(|(a, b)| 1.0 / (1.0 + (-a).exp()) - b)
        .collect();
    assert_close(&g.wrt(&xv).unwrap().to_vec_f64(), &want, "bce logits grad");
    // Finite in f32 at +-50 too.
    let got = x
        .to_dtype(DType::F32)
        .binary_cross_entropy_with_logits(&y.to_dtype(DType::F32), Reduction::None)
        .to_vec_f64();
    assert!(got.iter().all(|l| l.is_finite()), "{got:?}");
    assert!((got[5] - 50.0).abs() < 1e-5, "{got:?}");
}

#[test]
fn gaussian_kl_matches_a_naive_loop_and_gradchecks() {
    let mu = t([0.4, -1.5, 2.0, 0.0, -0.75, 1.3]);
    let logvar = t([0.0, 0.5, -2.0, -0.5, 1.5, 0.7]);
    check(
        "gaussian_kl",
        |a, b, r| a.gaussian_kl(b, r),
        |a, b, r| a.gaussian_kl(b, r),
        |m, lv| -0.5 * (1.0 + lv - m * m - lv.exp()),
        &mu,
        &logvar,
        true,
    );
    // N(0, 1) against itself: zero.
    let z = Tensor::zeros([3]).to_dtype(DType::F64);
    assert_eq!(z.gaussian_kl(&z, Reduction::Sum).item(), 0.0);
}

#[test]
fn a_target_of_another_shape_is_refused_naming_the_loss_and_both_shapes() {
    let x = Tensor::zeros([4, 1]);
    let y = Tensor::zeros([4]);
    type Try = fn(&Tensor, &Tensor) -> descent_core::Result<Tensor>;
    let losses: [(&str, Try); 6] = [
        ("mse_loss", |a, b| a.try_mse_loss(b, Reduction::Mean)),
        ("l1_loss", |a, b| a.try_l1_loss(b, Reduction::Mean)),
        ("smooth_l1_loss", |a, b| {
            a.try_smooth_l1_loss(b, 1.0, Reduction::Mean)
        }),
        ("binary_cross_entropy", |a, b| {
            a.try_binary_cross_entropy(b, Reduction::Mean)
        }),
        ("binary_cross_entropy_with_logits", |a, b| {
            a.try_binary_cross_entropy_with_logits(b, Reduction::Mean)
        }),
        ("gaussian_kl", |a, b| a.try_gaussian_kl(b, Reduction::Sum)),
    ];
    for (name, f) in losses {
        let e = f(&x, &y).unwrap_err();
        assert!(
            matches!(e, Error::ShapeMismatch { op, .. } if op == name),
            "{name}: {e}"
        );
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("{name}: [4, 1] and [4]")), "{msg}");
        assert!(msg.contains("no broadcasting"), "{msg}");
    }
    // On Var too, and the panicking form panics with the message.
    let tape = Tape::new();
    let e = tape
        .var(x.clone())
        .try_mse_loss(&tape.constant(y.clone()), Reduction::Mean)
        .unwrap_err();
    assert!(e.to_string().starts_with("mse_loss: [4, 1] and [4]"), "{e}");
    let r = std::panic::catch_unwind(|| x.l1_loss(&y, Reduction::Sum));
    assert!(r.is_err());
    // A target of another dtype is refused too.
    let e = x
        .try_mse_loss(&x.to_dtype(DType::F64), Reduction::Mean)
        .unwrap_err();
    assert!(
        matches!(e, Error::DTypeMismatch { op: "mse_loss", .. }),
        "{e}"
    );
}

#[test]
fn the_default_reduction_is_mean() {
    assert_eq!(Reduction::default(), Reduction::Mean);
}
