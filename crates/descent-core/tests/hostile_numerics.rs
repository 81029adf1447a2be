//! Numerically hostile values, in one place (docs/RELIABILITY.md, item 3): softmax and
//! log-softmax over rows of `-inf` (fully and partly), cross-entropy with logits of `±1e4` and
//! with `-inf` (masked) logits, binary cross-entropy at `p = 0` and `1`, its logits form at
//! `±1e4`, and normalization of a constant feature. Each result is the documented one, and
//! gradients are finite (and gradchecked) where the mathematics allows. Cross-entropy at `±1e4`
//! with its options, and BatchNorm/LayerNorm of constant channels, are also in `losses.rs` and
//! `norm.rs`; a constant feature in `descent_data::Normalizer` in descent-data's
//! `normalize_split.rs`.

use descent_core::{DType, GradcheckConfig, IntTensor, Reduction, Tape, Tensor, Var, gradcheck};

const INF: f64 = f64::INFINITY;

fn finite(t: &Tensor) -> bool {
    t.to_vec_f64().iter().all(|v| v.is_finite())
}

/// The gradient of `sum(f(x) * probe)` with respect to `x`, with a fixed probe.
fn grad(x: &Tensor, f: impl Fn(&Var) -> Var) -> (Tensor, Tensor) {
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let y = f(&xv);
    let probe = Tensor::from_vec(
        (0..y.value().numel())
            .map(|i| 0.5 + 0.25 * i as f64)
            .collect::<Vec<f64>>(),
        y.shape(),
    )
    .to_dtype(x.dtype());
    let out = y.value().clone();
    // Only the finite outputs are probed, so a -inf output does not make the sum -inf.
    let zeros = tape.constant(Tensor::zeros(y.shape()).to_dtype(x.dtype()));
    let loss = tape
        .constant(out.ge_scalar(-1e300))
        .where_cond(&y, &zeros)
        .mul(&tape.constant(&probe))
        .sum_all();
    let g = loss.backward().wrt(&xv).unwrap().clone();
    (out, g)
}

#[test]
fn softmax_of_a_partly_minus_inf_row_is_zero_there_with_finite_gradients() {
    for dt in [DType::F32, DType::F64] {
        let x = Tensor::from_vec(vec![-INF, 1.0, 2.0, -INF, 0.0, -INF], [2, 3]).to_dtype(dt);
        let (y, g) = grad(&x, |v| v.softmax(1));
        let y = y.to_vec_f64();
        assert_eq!((y[0], y[3], y[5]), (0.0, 0.0, 0.0), "{dt:?}");
        assert!((y[1] + y[2] - 1.0).abs() < 1e-6 && (y[4] - 1.0).abs() < 1e-6);
        assert!(finite(&g), "{dt:?}: {g:?}");
        assert_eq!(g.to_vec_f64()[0], 0.0, "no gradient flows to a -inf logit");

        let (l, g) = grad(&x, |v| v.log_softmax(1));
        let l = l.to_vec_f64();
        assert_eq!((l[0], l[3], l[5]), (-INF, -INF, -INF), "{dt:?}");
        assert_eq!(l[4], 0.0);
        assert!(finite(&g), "{dt:?}: {g:?}");
    }
    // Gradchecked on the finite entries: the -inf ones are constants of the function.
    let mask = Tensor::from_vec(vec![-INF, 0.0, 0.0, -INF, 0.0, 0.0], [2, 3]);
    let x = Tensor::from_vec(vec![0.3, 1.0, 2.0, 0.1, 0.0, -0.7], [2, 3]);
    for log in [false, true] {
        let r = gradcheck(
            |tape, v| {
                let z = v[0].add(&tape.constant(&mask));
                let y = if log { z.log_softmax(1) } else { z.softmax(1) };
                // -inf outputs of log_softmax are left out of the projection.
                let keep = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0, 1.0, 1.0], [2, 3]);
                tape.constant(keep.ne_scalar(0.0)).where_cond(
                    &y,
                    &tape.constant(Tensor::zeros([2, 3]).to_dtype(DType::F64)),
                )
            },
            std::slice::from_ref(&x),
            &GradcheckConfig::default(),
        );
        assert!(r.is_ok(), "log {log}: {}", r.unwrap_err());
    }
}

#[test]
fn softmax_of_a_fully_minus_inf_row_is_nan_as_in_pytorch() {
    // Every entry -inf: the distribution is undefined (0 / 0); softmax and log-softmax give
    // NaN for that row, as PyTorch does, and leave the other rows alone.
    for dt in [DType::F32, DType::F64] {
        let x = Tensor::from_vec(vec![-INF, -INF, -INF, 0.0, 1.0, 2.0], [2, 3]).to_dtype(dt);
        for y in [x.softmax(1), x.log_softmax(1)] {
            let y = y.to_vec_f64();
            assert!(y[..3].iter().all(|v| v.is_nan()), "{dt:?}: {y:?}");
            assert!(y[3..].iter().all(|v| v.is_finite()), "{dt:?}: {y:?}");
        }
    }
}

#[test]
fn cross_entropy_with_huge_and_masked_logits_is_finite_where_defined() {
    let labels = IntTensor::from(&[0usize, 2, 1][..]);
    for dt in [DType::F32, DType::F64] {
        // ±1e4 logits: the loss is 0 or 2e4 exactly as the math says, and the gradient is the
        // softmax minus the one-hot, in [-1, 1].
        let x = Tensor::from_vec(
            vec![1e4, -1e4, 0.0, -1e4, 1e4, 1e4, 1e4, -1e4, -1e4],
            [3, 3],
        )
        .to_dtype(dt);
        let tape = Tape::new();
        let xv = tape.var(x.clone());
        let loss = xv.cross_entropy(&labels);
        let v = loss.value().item();
        // Row 0: 0; row 1: log 2; row 2: 2e4. Mean: (log 2 + 2e4) / 3.
        assert!((v - (2f64.ln() + 2e4) / 3.0).abs() < 1e-2, "{dt:?}: {v}");
        let g = loss.backward().wrt(&xv).unwrap().to_vec_f64();
        assert!(
            g.iter()
                .all(|v| v.is_finite() && v.abs() <= 1.0 / 3.0 + 1e-6),
            "{g:?}"
        );

        // A -inf logit (a masked class) that is not the label: finite loss, zero gradient there.
        let x = Tensor::from_vec(vec![0.5, -INF, 0.1, 0.2, 0.3, -INF, 1.0, 0.0, 2.0], [3, 3])
            .to_dtype(dt);
        let labels2 = IntTensor::from(&[0usize, 1, 2][..]);
        let tape = Tape::new();
        let xv = tape.var(x);
        let loss = xv.cross_entropy(&labels2);
        assert!(loss.value().item().is_finite(), "{dt:?}");
        let g = loss.backward().wrt(&xv).unwrap().to_vec_f64();
        assert!(g.iter().all(|v| v.is_finite()), "{dt:?}: {g:?}");
        assert_eq!((g[1], g[5]), (0.0, 0.0));
    }
}

#[test]
fn binary_cross_entropy_at_zero_and_one_is_finite_with_finite_gradients() {
    for dt in [DType::F32, DType::F64] {
        // p = 0 and 1 against both targets: the log is clamped at -100 (PyTorch's rule), so a
        // confident wrong answer costs 100, a right one 0.
        let p = Tensor::from_vec(vec![0.0, 1.0, 0.0, 1.0], [4]).to_dtype(dt);
        let t = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0], [4]).to_dtype(dt);
        let tape = Tape::new();
        let pv = tape.var(p);
        let loss = pv.binary_cross_entropy(&tape.constant(&t), Reduction::None);
        let l = loss.value().to_vec_f64();
        assert_eq!(&l[..2], &[0.0, 0.0], "{dt:?}");
        assert!(
            (l[2] - 100.0).abs() < 1e-4 && (l[3] - 100.0).abs() < 1e-4,
            "{dt:?}: {l:?}"
        );
        let g = loss.sum_all().backward().wrt(&pv).unwrap().clone();
        assert!(finite(&g), "{dt:?}: {g:?}");

        // The logits form at ±1e4: exact, finite, its gradient sigmoid(x) - t.
        let x = Tensor::from_vec(vec![1e4, -1e4, 1e4, -1e4], [4]).to_dtype(dt);
        let tape = Tape::new();
        let xv = tape.var(x);
        let loss = xv.binary_cross_entropy_with_logits(&tape.constant(&t), Reduction::None);
        let l = loss.value().to_vec_f64();
        assert_eq!(l, vec![1e4, 1e4, 0.0, 0.0], "{dt:?}");
        let g = loss.sum_all().backward().wrt(&xv).unwrap().to_vec_f64();
        assert_eq!(g, vec![1.0, -1.0, 0.0, 0.0], "{dt:?}");
    }
    // Away from the clamp, gradchecked (p in (0, 1)).
    let p = Tensor::from_vec(vec![1e-3, 0.5, 0.999, 0.2], [4]);
    let t = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.3], [4]);
    let r = gradcheck(
        |tape, v| v[0].binary_cross_entropy(&tape.constant(&t), Reduction::Sum),
        &[p],
        &GradcheckConfig {
            eps: 1e-7,
            ..GradcheckConfig::default()
        },
    );
    assert!(r.is_ok(), "{}", r.unwrap_err());
}

#[test]
fn layer_norm_of_a_constant_row_is_zero_and_gradchecks() {
    // Variance 0: the row normalizes to 0 (plus the bias), and with eps > 0 the function is
    // smooth there, so its gradient is finite and agrees with finite differences.
    let x = Tensor::from_vec(vec![7.0, 7.0, 7.0, 7.0, 0.5, -1.0, 2.0, 0.0], [2, 4]);
    let w = Tensor::from_vec(vec![1.0, 2.0, 0.5, -1.0], [4]);
    let b = Tensor::from_vec(vec![0.1, 0.2, 0.3, 0.4], [4]);
    let y = x.layer_norm(&[4], Some(&w), Some(&b), 1e-5).to_vec_f64();
    assert_eq!(&y[..4], &[0.1, 0.2, 0.3, 0.4]);
    let r = gradcheck(
        |_, v| v[0].layer_norm(&[4], Some(&v[1]), Some(&v[2]), 1e-1),
        &[x, w, b],
        &GradcheckConfig::default(),
    );
    assert!(r.is_ok(), "{}", r.unwrap_err());
}
