//! `linear` (`y = x W^T + b`, the bias fused into the GEMM) against a naive `f64` loop: 1-D, 2-D
//! and 3-D inputs, size-0 and size-1 dims, non-contiguous (permuted, strided, offset, expanded)
//! `x`, `weight` and `bias`, with and without a bias, forward and all three gradients, `f32` and
//! `f64`; gradchecks of `x`, `weight` and `bias` (`f64`) through non-contiguous views; what the
//! node saves; and the errors.
//!
//! Proptest cases: `PROPTEST_CASES`, 32 when unset.

mod common;
mod gradcheck_common;

use common::*;
use descent_core::{DType, Error, Tape, Tensor};
use gradcheck_common::{Operand, Vals, operand};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(32),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The leading shape of `x` (rank 0 to 2, so `x` is 1-D to 3-D), `in` and `out`.
fn linear_shapes() -> impl Strategy<Value = (Vec<usize>, usize, usize)> {
    (shape(0, 2), dim(), dim())
}

/// `x` as rows: `(m, k)`, the leading dims flattened.
fn rows(x: &Arr) -> (usize, usize) {
    (numel(&x.shape[..x.rank() - 1]), x.shape[x.rank() - 1])
}

/// The naive forward `y[.., j] = sum_p x[.., p] w[j, p] + b[j]`, and its scale
/// `sum_p |x| |w| + |b|` (what rounding errors follow).
fn linear_ref(x: &Arr, w: &Arr, b: Option<&Arr>) -> (Arr, Arr) {
    let (m, k) = rows(x);
    let n = w.shape[0];
    let mut shape = x.shape[..x.rank() - 1].to_vec();
    shape.push(n);
    let (mut y, mut s) = (vec![0.0; m * n], vec![0.0; m * n]);
    for r in 0..m {
        for j in 0..n {
            let (mut acc, mut abs) = b.map_or((0.0, 0.0), |b| (b.data[j], b.data[j].abs()));
            for p in 0..k {
                acc += x.data[r * k + p] * w.data[j * k + p];
                abs += (x.data[r * k + p] * w.data[j * k + p]).abs();
            }
            y[r * n + j] = acc;
            s[r * n + j] = abs;
        }
    }
    (Arr::new(&shape, y), Arr::new(&shape, s))
}

/// The naive gradients for the upstream gradient `g` (of `y`'s shape): `dx = g W`,
/// `dW = g^T x`, `db = sum_rows g`, each with its scale.
fn grads_ref(x: &Arr, w: &Arr, g: &Arr) -> [(Arr, Arr); 3] {
    let (m, k) = rows(x);
    let n = w.shape[0];
    let (mut dx, mut sx) = (vec![0.0; m * k], vec![0.0; m * k]);
    let (mut dw, mut sw) = (vec![0.0; n * k], vec![0.0; n * k]);
    let (mut db, mut sb) = (vec![0.0; n], vec![0.0; n]);
    for r in 0..m {
        for j in 0..n {
            let gj = g.data[r * n + j];
            db[j] += gj;
            sb[j] += gj.abs();
            for p in 0..k {
                dx[r * k + p] += gj * w.data[j * k + p];
                sx[r * k + p] += (gj * w.data[j * k + p]).abs();
                dw[j * k + p] += gj * x.data[r * k + p];
                sw[j * k + p] += (gj * x.data[r * k + p]).abs();
            }
        }
    }
    [
        (Arr::new(&x.shape, dx), Arr::new(&x.shape, sx)),
        (Arr::new(&w.shape, dw), Arr::new(&w.shape, sw)),
        (Arr::new(&[n], db), Arr::new(&[n], sb)),
    ]
}

/// Checks forward and backward of `linear` on these operands against the references.
fn check_linear(x: &Input, w: &Input, b: Option<&Input>, g: &Arr) {
    let (want, scale) = linear_ref(&x.arr, &w.arr, b.map(|b| &b.arr));
    let want_grads = grads_ref(&x.arr, &w.arr, g);
    for dt in DTYPES {
        let (rtol, atol) = sum_tol(dt);
        let (xt, wt, bt) = (x.tensor(dt), w.tensor(dt), b.map(|b| b.tensor(dt)));
        let y = xt.linear(&wt, bt.as_ref());
        assert_close_scaled("linear", &y, &want, &scale, dt, rtol, atol);

        let tape = Tape::new();
        let (xv, wv) = (tape.var(xt.clone()), tape.var(wt.clone()));
        let bv = bt.as_ref().map(|b| tape.var(b.clone()));
        let yv = xv.linear(&wv, bv.as_ref());
        assert_close_scaled("linear (Var)", yv.value(), &want, &scale, dt, rtol, atol);
        let grads = yv.backward_with(&g.tensor(dt)).unwrap();
        let [(dx, sx), (dw, sw), (db, sb)] = &want_grads;
        assert_close_scaled("linear dx", grads.wrt(&xv).unwrap(), dx, sx, dt, rtol, atol);
        assert_close_scaled("linear dW", grads.wrt(&wv).unwrap(), dw, sw, dt, rtol, atol);
        if let Some(bv) = &bv {
            assert_close_scaled("linear db", grads.wrt(bv).unwrap(), db, sb, dt, rtol, atol);
        }
    }
}

/// Operands of `linear` for the given shapes, each in a random (often non-contiguous) layout,
/// the bias present or not, and an upstream gradient.
#[allow(clippy::type_complexity)]
fn operands(
    lead: Vec<usize>,
    k: usize,
    n: usize,
) -> impl Strategy<Value = (Input, Input, Option<Input>, Arr)> {
    let mut xs = lead.clone();
    xs.push(k);
    let mut ys = lead;
    ys.push(n);
    (
        input_of(xs, -2.0, 2.0),
        input_of(vec![n, k], -2.0, 2.0),
        prop::option::of(input_of(vec![n], -2.0, 2.0)),
        arr_of(ys, -1.0, 1.0),
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn prop_linear_matches_reference(
        (x, w, b, g) in linear_shapes().prop_flat_map(|(lead, k, n)| operands(lead, k, n))
    ) {
        check_linear(&x, &w, b.as_ref(), &g);
    }

    /// Larger sizes, to cross the blocking of the GEMM kernel; `W` often a transposed view.
    #[test]
    fn prop_linear_larger_matches_reference(
        (x, w, b, g) in (1usize..=3, 1usize..=40, 1usize..=40, 1usize..=40)
            .prop_flat_map(|(l, m, k, n)| operands(if l == 3 { vec![2, m] } else { vec![m] }, k, n))
    ) {
        check_linear(&x, &w, b.as_ref(), &g);
    }

    /// Gradchecks of `x`, `weight` and `bias` (`f64`), each reaching `linear` through a random
    /// non-contiguous view.
    #[test]
    fn prop_linear_gradcheck(
        (x, w, b) in (gradcheck_common::small_shape(0, 2, 8), 1usize..=4, 1usize..=4)
            .prop_flat_map(|(lead, k, n)| {
                let mut xs = lead;
                xs.push(k);
                (
                    operand(xs, true, Vals::Uniform(-2.0, 2.0)),
                    operand(vec![n, k], true, Vals::Uniform(-2.0, 2.0)),
                    prop::option::of(operand(vec![n], true, Vals::Uniform(-2.0, 2.0))),
                )
            })
    ) {
        gradcheck_linear(&x, &w, b.as_ref());
    }
}

fn gradcheck_linear(x: &Operand, w: &Operand, b: Option<&Operand>) {
    let res = match b {
        Some(b) => gradcheck_common::check(
            |_, v| x.view(&v[0]).linear(&w.view(&v[1]), Some(&b.view(&v[2]))),
            &[x.tensor(), w.tensor(), b.tensor()],
        ),
        None => gradcheck_common::check2(x, w, |x, w| x.linear(w, None)),
    };
    assert!(res.is_ok(), "linear gradcheck: {}", res.unwrap_err());
}

#[test]
fn linear_gradcheck_3d_input_with_and_without_bias() {
    let data = |n: usize, salt: usize| -> Vec<f64> {
        (0..n)
            .map(|i| ((i * 37 + salt * 11) % 19) as f64 / 7.0 - 1.3)
            .collect()
    };
    let x = Operand::plain(&[2, 3, 4], data(24, 1));
    let w = Operand::plain(&[5, 4], data(20, 2));
    let b = Operand::plain(&[5], data(5, 3));
    gradcheck_linear(&x, &w, Some(&b));
    gradcheck_linear(&x, &w, None);
    // A 1-D input.
    let x1 = Operand::plain(&[4], data(4, 4));
    gradcheck_linear(&x1, &w, Some(&b));
}

#[test]
fn linear_saves_and_computes_only_what_is_needed() {
    let x = Tensor::ones([8, 4]).to_dtype(DType::F64);
    let w = Tensor::ones([3, 4]).to_dtype(DType::F64);
    let b = Tensor::zeros([3]).to_dtype(DType::F64);
    // Only the weight needs a gradient: the node keeps x (for G^T x), not W.
    let tape = Tape::new();
    let (xv, wv, bv) = (
        tape.constant(x.clone()),
        tape.var(w.clone()),
        tape.constant(b.clone()),
    );
    let y = xv.linear(&wv, Some(&bv));
    assert_eq!(tape.len(), 4, "one node for linear");
    assert_eq!(tape.saved_bytes(), x.nbytes());
    let g = y.sum_all().backward();
    assert!(g.wrt(&xv).is_none() && g.wrt(&bv).is_none());
    assert_eq!(g.wrt(&wv).unwrap().to_vec_f64(), vec![8.0; 12]);
    // Only the input needs a gradient: the node keeps W, not x.
    let tape = Tape::new();
    let (xv, wv) = (tape.var(x.clone()), tape.constant(w.clone()));
    let _y = xv.linear(&wv, None);
    assert_eq!(tape.saved_bytes(), w.nbytes());
    // Only the bias: nothing saved; db is the column sums of G.
    let tape = Tape::new();
    let (xv, wv, bv) = (tape.constant(x), tape.constant(w), tape.var(b));
    let y = xv.linear(&wv, Some(&bv));
    assert_eq!(tape.saved_bytes(), 0);
    let g = y.sum_all().backward();
    assert_eq!(g.wrt(&bv).unwrap().to_vec_f64(), vec![8.0; 3]);
}

#[test]
fn linear_errors_name_the_op_and_both_shapes() {
    let x = Tensor::zeros([2, 3]);
    let msg = |e: Error| e.to_string();
    let e = msg(x.try_linear(&Tensor::zeros([4, 5]), None).unwrap_err());
    assert!(e.starts_with("linear: [2, 3] and [4, 5]"), "{e}");
    assert!(
        e.contains("last dim (3)") && e.contains("in_features (5)"),
        "{e}"
    );
    let e = msg(x.try_linear(&Tensor::zeros([3]), None).unwrap_err());
    assert!(
        e.starts_with("linear: [2, 3] and [3]") && e.contains("2-D"),
        "{e}"
    );
    let e = msg(x
        .try_linear(&Tensor::zeros([4, 3]), Some(&Tensor::zeros([3])))
        .unwrap_err());
    assert!(
        e.starts_with("linear: [2, 3] and [4, 3]") && e.contains("bias must have shape [4]"),
        "{e}"
    );
    let e = msg(Tensor::scalar(1.0, DType::F32)
        .try_linear(&Tensor::zeros([4, 1]), None)
        .unwrap_err());
    assert!(
        e.starts_with("linear: [] and [4, 1]") && e.contains("0-d"),
        "{e}"
    );
    let e = x
        .try_linear(&Tensor::zeros([4, 3]).to_dtype(DType::F64), None)
        .unwrap_err();
    assert!(
        matches!(e, Error::DTypeMismatch { op: "linear", .. }),
        "{e}"
    );
    // On variables: the same message, and mixed tapes are refused.
    let (t1, t2) = (Tape::new(), Tape::new());
    let e = t1
        .var(x.clone())
        .try_linear(&t1.var(Tensor::zeros([4, 5])), None)
        .unwrap_err();
    assert!(
        e.to_string().starts_with("linear: [2, 3] and [4, 5]"),
        "{e}"
    );
    let e = t1
        .var(x)
        .try_linear(&t2.var(Tensor::zeros([4, 3])), None)
        .unwrap_err();
    assert!(matches!(e, Error::MixedTapes { op: "linear" }), "{e}");
}

#[test]
fn linear_equals_matmul_plus_bias() {
    // The fused op and the composition it replaces agree (to rounding) on an MLP-like shape.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    let x = Tensor::randn([16, 30], &mut rng).to_dtype(DType::F64);
    let w = Tensor::randn([12, 30], &mut rng).to_dtype(DType::F64);
    let b = Tensor::randn([12], &mut rng).to_dtype(DType::F64);
    let fused = x.linear(&w, Some(&b)).to_vec_f64();
    let composed = (x.matmul(&w.t()) + &b).to_vec_f64();
    for (a, c) in fused.iter().zip(&composed) {
        assert!((a - c).abs() < 1e-12, "{a} vs {c}");
    }
}
