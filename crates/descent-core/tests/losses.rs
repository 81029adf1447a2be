//! The elementwise losses of `ops/loss.rs` (`mse_loss`, `l1_loss`, `smooth_l1_loss`,
//! `binary_cross_entropy`, `binary_cross_entropy_with_logits`, `gaussian_kl`): each against a
//! naive `f64` loop, on `Tensor` and on `Var`, with every [`Reduction`]; each gradchecked in
//! `f64` with respect to both of its operands (away from the kinks of `l1` at 0 and
//! `smooth_l1` at `|d| = beta`); and a target of another shape refused with both shapes named.
//!
//! `kl_div` likewise, with every [`KlReduction`] and both `log_target`s. The fused
//! `cross_entropy` against a naive `f64` loop over PyTorch's definition for every combination of
//! its options (class weights, `ignore_index`, label smoothing, reduction) on `[C]`, `[N, C]` and
//! `[N, C, d1, d2]` logits (contiguous and transposed), gradchecked; stable at logits of `±1e4`
//! (and `±1e30` in `f64`); every sample ignored (a NaN mean, as PyTorch); and its errors.

use descent_core::{
    CrossEntropy, DType, Error, GradcheckConfig, IntTensor, KlReduction, Reduction, Tape, Tensor,
    Var, gradcheck,
};

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

/// PyTorch's `F.cross_entropy` by its definition, in `f64`: logits `x` of `shape` (`[C]` or
/// `[N, C, ...]`), one target per sample.
fn cross_entropy_ref(x: &[f64], shape: &[usize], targets: &[i64], o: &CrossEntropy) -> Vec<f64> {
    let (outer, c, inner) = if shape.len() == 1 {
        (1, shape[0], 1)
    } else {
        (shape[0], shape[1], shape[2..].iter().product())
    };
    let w: Option<Vec<f64>> = o.weight.as_ref().map(Tensor::to_vec_f64);
    let wc = |k: usize| w.as_ref().map_or(1.0, |w| w[k]);
    let eps = o.label_smoothing;
    let (mut per, mut total) = (Vec::new(), 0.0);
    for n in 0..outer {
        for i in 0..inner {
            let t = targets[n * inner + i];
            if Some(t) == o.ignore_index {
                per.push(0.0);
                continue;
            }
            let t = t as usize;
            let row: Vec<f64> = (0..c).map(|k| x[(n * c + k) * inner + i]).collect();
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            let logp: Vec<f64> = row.iter().map(|v| v - lse).collect();
            let nll = -wc(t) * logp[t];
            let smooth: f64 = (0..c).map(|k| -wc(k) * logp[k]).sum();
            per.push((1.0 - eps) * nll + eps / c as f64 * smooth);
            total += wc(t);
        }
    }
    match o.reduction {
        Reduction::None => per,
        Reduction::Sum => vec![per.iter().sum()],
        Reduction::Mean => vec![per.iter().sum::<f64>() / total],
    }
}

/// The option combinations of `cross_entropy_with` for `c` classes: weights or not, no
/// `ignore_index`, PyTorch's -100 or a class (1), label smoothing 0, 0.3 or 1, every reduction.
fn ce_options(c: usize) -> Vec<CrossEntropy> {
    let weight = Tensor::from_vec((0..c).map(|k| 0.5 + 0.25 * k as f64).collect(), [c]);
    let mut all = Vec::new();
    for w in [None, Some(weight)] {
        for ignore_index in [None, Some(-100), Some(1)] {
            for label_smoothing in [0.0, 0.3, 1.0] {
                for reduction in REDUCTIONS {
                    all.push(CrossEntropy {
                        weight: w.clone(),
                        ignore_index,
                        label_smoothing,
                        reduction,
                    });
                }
            }
        }
    }
    all
}

/// Logits of `shape` (values spread over about `[-2, 2]`, distinct).
fn logits(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec(
        (0..n)
            .map(|i| ((i * 7 + 3) % 11) as f64 * 0.37 - 1.9)
            .collect(),
        shape,
    )
}

#[test]
fn cross_entropy_matches_a_naive_loop_for_every_option_and_gradchecks() {
    // [C], [N, C], [N, C, d1, d2]; targets include -100 and class 1 (ignored by some options).
    let cases: [(&[usize], Vec<i64>); 3] = [
        (&[3], vec![2]),
        (&[4, 3], vec![0, -100, 1, 2]),
        (&[2, 3, 2, 1], vec![1, 0, -100, 2]),
    ];
    for (shape, labels) in cases {
        let x = logits(shape);
        let tshape: Vec<usize> = if shape.len() == 1 {
            vec![]
        } else {
            std::iter::once(shape[0])
                .chain(shape[2..].iter().copied())
                .collect()
        };
        for o in ce_options(shape[shape.len().min(2) - 1]) {
            let what = format!("cross_entropy {shape:?} {o:?}");
            let target = IntTensor::from_vec(labels.clone(), &tshape[..]);
            if o.ignore_index != Some(-100) && labels.contains(&-100) {
                // -100 is no class unless it is the ignore_index: refused, naming the op.
                let e = x.try_cross_entropy_with(&target, o.clone()).unwrap_err();
                assert!(
                    matches!(
                        e,
                        Error::IndexOutOfRange {
                            op: "cross_entropy",
                            index: -100,
                            ..
                        }
                    ),
                    "{what}: {e}"
                );
            }
            // Without ignore_index -100, those samples take class 1 (ignored by `Some(1)`).
            let labels: Vec<i64> = if o.ignore_index == Some(-100) {
                labels.clone()
            } else {
                labels
                    .iter()
                    .map(|&l| if l == -100 { 1 } else { l })
                    .collect()
            };
            let target = IntTensor::from_vec(labels.clone(), &tshape[..]);
            let want = cross_entropy_ref(&x.to_vec_f64(), shape, &labels, &o);
            let got = x.cross_entropy_with(&target, o.clone());
            let want_shape: &[usize] = if o.reduction == Reduction::None {
                &tshape
            } else {
                &[]
            };
            assert_eq!(got.shape(), want_shape, "{what}");
            assert_close(&got.to_vec_f64(), &want, &what);
            // f32, and the recorded form.
            let o32 = CrossEntropy {
                weight: o.weight.as_ref().map(|w| w.to_dtype(DType::F32)),
                ..o.clone()
            };
            let got32 = x
                .to_dtype(DType::F32)
                .cross_entropy_with(&target, o32)
                .to_vec_f64();
            for (g, w) in got32.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "{what} f32: {got32:?} vs {want:?}"
                );
            }
            let tape = Tape::new();
            let xv = tape.var(x.clone());
            let v = xv.cross_entropy_with(&target, o.clone());
            assert_eq!(tape.len(), 2, "{what}: one node");
            assert_close(&v.value().to_vec_f64(), &want, &format!("{what} (Var)"));
            // The f32 gradient agrees with the f64 one (which gradcheck checks below).
            let g64 = v.sum_all().backward().wrt(&xv).unwrap().to_vec_f64();
            let tape = Tape::new();
            let x32 = tape.var(x.to_dtype(DType::F32));
            let o32 = CrossEntropy {
                weight: o.weight.as_ref().map(|w| w.to_dtype(DType::F32)),
                ..o.clone()
            };
            let g32 = x32
                .cross_entropy_with(&target, o32)
                .sum_all()
                .backward()
                .wrt(&x32)
                .unwrap()
                .to_vec_f64();
            for (a, b) in g32.iter().zip(&g64) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{what} f32 grad: {g32:?} vs {g64:?}"
                );
            }
            let res = gradcheck(
                |_, v| v[0].cross_entropy_with(&target, o.clone()),
                std::slice::from_ref(&x),
                &GradcheckConfig::default(),
            );
            assert!(res.is_ok(), "{what}: {}", res.unwrap_err());
        }
    }
}

#[test]
fn cross_entropy_of_a_transposed_view_and_its_gradient() {
    // Logits [4, 3] held transposed; the gradient without options is (softmax - one_hot) / N.
    let stored = logits(&[3, 4]);
    let target = IntTensor::from(&[2usize, 0, 1, 1][..]);
    let x = stored.t();
    assert!(!x.is_contiguous());
    let want = cross_entropy_ref(
        &x.contiguous().to_vec_f64(),
        &[4, 3],
        &[2, 0, 1, 1],
        &CrossEntropy::default(),
    );
    assert_close(&[x.cross_entropy(&target).item()], &want, "transposed");
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let g = xv.cross_entropy(&target).backward();
    let p = x.softmax(1).to_vec_f64();
    let onehot = target.one_hot(3).to_dtype(DType::F64).to_vec_f64();
    let want: Vec<f64> = p.iter().zip(&onehot).map(|(p, h)| (p - h) / 4.0).collect();
    assert_close(
        &g.wrt(&xv).unwrap().to_vec_f64(),
        &want,
        "softmax - one_hot",
    );
    let res = gradcheck(
        |_, v| v[0].t().cross_entropy(&target),
        &[stored],
        &GradcheckConfig::default(),
    );
    assert!(res.is_ok(), "{}", res.unwrap_err());
}

#[test]
fn cross_entropy_is_stable_for_huge_logits() {
    let target = IntTensor::from(&[1usize, 0, 2][..]);
    let o = CrossEntropy {
        weight: Some(Tensor::from_vec(vec![1.0, 2.0, 0.5], [3])),
        label_smoothing: 0.2,
        ..Default::default()
    };
    for (big, dtypes) in [
        (1e4, &[DType::F32, DType::F64][..]),
        (1e30, &[DType::F64][..]),
    ] {
        let vals = vec![big, -big, 0.0, -big, big, big, 0.5 * big, -0.5 * big, big];
        let want = cross_entropy_ref(&vals, &[3, 3], &[1, 0, 2], &o);
        let want_plain = cross_entropy_ref(&vals, &[3, 3], &[1, 0, 2], &CrossEntropy::default());
        for &dt in dtypes {
            let x = Tensor::from_vec(vals.clone(), [3, 3]).to_dtype(dt);
            let od = CrossEntropy {
                weight: o.weight.as_ref().map(|w| w.to_dtype(dt)),
                ..o.clone()
            };
            for (opts, want) in [(od, &want), (CrossEntropy::default(), &want_plain)] {
                let tape = Tape::new();
                let xv = tape.var(x.clone());
                let loss = xv.cross_entropy_with(&target, opts);
                let got = loss.value().item();
                assert!(got.is_finite(), "{big} {dt:?}: {got}");
                assert!(
                    (got - want[0]).abs() <= 1e-6 * want[0].abs(),
                    "{big} {dt:?}: {got} vs {want:?}"
                );
                let g = loss.backward();
                let dx = g.wrt(&xv).unwrap().to_vec_f64();
                assert!(dx.iter().all(|d| d.is_finite()), "{big} {dt:?}: {dx:?}");
            }
        }
    }
}

#[test]
fn cross_entropy_with_every_sample_ignored_is_nan_for_mean_as_pytorch() {
    let x = logits(&[3, 4]);
    let target = IntTensor::from_vec(vec![-100, -100, -100], [3]);
    for label_smoothing in [0.0, 0.2] {
        let o = |reduction| CrossEntropy {
            ignore_index: Some(-100),
            label_smoothing,
            reduction,
            ..Default::default()
        };
        assert!(
            x.cross_entropy_with(&target, o(Reduction::Mean))
                .item()
                .is_nan()
        );
        assert_eq!(x.cross_entropy_with(&target, o(Reduction::Sum)).item(), 0.0);
        assert_eq!(
            x.cross_entropy_with(&target, o(Reduction::None))
                .to_vec_f64(),
            vec![0.0; 3]
        );
        // The gradient is 0, not NaN (PyTorch's too).
        let tape = Tape::new();
        let xv = tape.var(x.clone());
        let g = xv
            .cross_entropy_with(&target, o(Reduction::Mean))
            .backward();
        assert_eq!(g.wrt(&xv).unwrap().to_vec_f64(), vec![0.0; 12]);
    }
}

#[test]
fn cross_entropy_errors_name_the_op() {
    let x = logits(&[2, 3]);
    let e = x
        .try_cross_entropy(&IntTensor::from_vec(vec![0, 3], [2]))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::IndexOutOfRange {
                op: "cross_entropy",
                index: 3,
                size: 3,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().starts_with("cross_entropy: "), "{e}");
    let e = x
        .try_cross_entropy(&IntTensor::from_vec(vec![-1, 0], [2]))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::IndexOutOfRange {
                op: "cross_entropy",
                index: -1,
                ..
            }
        ),
        "{e}"
    );
    let labels = IntTensor::from_vec(vec![0, 1], [2]);
    for eps in [-0.1, 1.5, f64::NAN] {
        let e = x
            .try_cross_entropy_with(
                &labels,
                CrossEntropy {
                    label_smoothing: eps,
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(
            e.to_string().starts_with("cross_entropy: label_smoothing"),
            "{e}"
        );
    }
    let e = x
        .try_cross_entropy_with(
            &labels,
            CrossEntropy {
                weight: Some(Tensor::ones([2]).to_dtype(DType::F64)),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        e.to_string().starts_with("cross_entropy: [2, 3] and [2]") && e.to_string().contains("[3]"),
        "{e}"
    );
    let e = x
        .try_cross_entropy_with(
            &labels,
            CrossEntropy {
                weight: Some(Tensor::ones([3])),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::DTypeMismatch {
                op: "cross_entropy",
                ..
            }
        ),
        "{e}"
    );
    // Labels of the wrong shape (named), on Var too.
    let tape = Tape::new();
    let e = tape
        .var(x)
        .try_cross_entropy(&IntTensor::zeros([2, 1]))
        .unwrap_err();
    assert!(e.to_string().contains("must have shape [2]"), "{e}");
}

/// PyTorch's `F.kl_div` element.
fn kl(x: f64, t: f64, log_target: bool) -> f64 {
    if log_target {
        t.exp() * (t - x)
    } else if t == 0.0 {
        0.0
    } else {
        t * (t.ln() - x)
    }
}

const KL_REDUCTIONS: [KlReduction; 4] = [
    KlReduction::Mean,
    KlReduction::Sum,
    KlReduction::None,
    KlReduction::BatchMean,
];

#[test]
fn kl_div_matches_a_naive_loop_and_gradchecks() {
    // Log-probabilities of two rows; probability targets (one exact 0) and log targets.
    let x = t([-1.2, -0.5, -2.0, -0.3, -1.9, -0.8]);
    let p = t([0.2, 0.5, 0.3, 0.0, 0.6, 0.4]);
    let p_pos = t([0.2, 0.5, 0.3, 0.1, 0.5, 0.4]);
    let lt = t([-1.6, -0.7, -1.2, -2.3, -0.5, -0.9]);
    for (target, log_target, grad) in [(&p, false, false), (&p_pos, false, true), (&lt, true, true)]
    {
        let per: Vec<f64> = x
            .to_vec_f64()
            .iter()
            .zip(target.to_vec_f64())
            .map(|(&a, b)| kl(a, b, log_target))
            .collect();
        for r in KL_REDUCTIONS {
            let sum: f64 = per.iter().sum();
            let want = match r {
                KlReduction::Mean => vec![sum / 6.0],
                KlReduction::Sum => vec![sum],
                KlReduction::None => per.clone(),
                KlReduction::BatchMean => vec![sum / 2.0],
            };
            let what = format!("kl_div {r:?} log_target {log_target}");
            assert_close(&x.kl_div(target, r, log_target).to_vec_f64(), &want, &what);
            let tape = Tape::new();
            let v = tape
                .var(x.clone())
                .kl_div(&tape.var(target.clone()), r, log_target);
            assert_close(&v.value().to_vec_f64(), &want, &format!("{what} (Var)"));
            let g = v.sum_all().backward();
            assert!(
                g.iter().all(|(_, d)| d.all_finite()),
                "{what}: finite gradients"
            );
            if grad {
                let res = gradcheck(
                    |_, v| v[0].kl_div(&v[1], r, log_target),
                    &[x.clone(), target.clone()],
                    &GradcheckConfig::default(),
                );
                assert!(res.is_ok(), "{what}: {}", res.unwrap_err());
            }
        }
    }
    // batchmean of a 0-d input is the sum, as PyTorch; the default is PyTorch's mean.
    let (a, b) = (
        Tensor::scalar(0.3, DType::F64),
        Tensor::scalar(0.4, DType::F64),
    );
    assert_close(
        &[a.kl_div(&b, KlReduction::BatchMean, false).item()],
        &[kl(0.3, 0.4, false)],
        "0-d batchmean",
    );
    assert_eq!(KlReduction::default(), KlReduction::Mean);
    // A negative probability: NaN, as PyTorch's xlogy.
    assert!(
        a.kl_div(&Tensor::scalar(-0.1, DType::F64), KlReduction::Sum, false)
            .item()
            .is_nan()
    );
    let e = x.try_kl_div(
        &Tensor::zeros([6]).to_dtype(DType::F64),
        KlReduction::Sum,
        false,
    );
    assert!(
        e.unwrap_err()
            .to_string()
            .starts_with("kl_div: [2, 3] and [6]")
    );
}
