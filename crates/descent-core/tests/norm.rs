//! `batch_norm` and `layer_norm` (`ops/norm.rs`): the forward against naive `f64` loops on 2-D,
//! 3-D and 4-D inputs with size-1 dims and non-contiguous layouts, in f32 and f64, with and
//! without weight and bias, with batch and running statistics (and the returned batch mean and
//! unbiased variance); gradient checks (`f64`) of the input, the weight and the bias in both
//! modes; constant channels (variance 0) stay finite; results do not depend on the thread count;
//! and refused operands are named in the error with both shapes.
//!
//! Proptest cases: `PROPTEST_CASES`, 32 when unset.

mod common;
mod gradcheck_common;

use common::*;
use descent_core::{BatchNormStats, DType, Error, Tape, Tensor, Var};
use gradcheck_common::{Operand, Vals, check, gdim, operand, plain_operand};
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

/// Forward tolerances: `(rtol, atol)`. The output is `O(1)`; in f32 the rounding of `x - mean`
/// is scaled by `invstd <= 1 / sqrt(eps)`.
fn norm_tol(dt: DType) -> (f64, f64) {
    match dt {
        DType::F32 => (1e-4, 2e-4),
        DType::F64 => (1e-10, 1e-10),
    }
}

// ---------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------

/// `(sum, count)` of `f(x)` grouped by `key(index)`.
fn group_mean(x: &Arr, groups: usize, key: impl Fn(&[usize]) -> usize) -> Vec<f64> {
    let mut s = vec![0.0; groups];
    let mut n = vec![0usize; groups];
    for i in 0..x.numel() {
        let idx = unravel(i, &x.shape);
        s[key(&idx)] += x.data[i];
        n[key(&idx)] += 1;
    }
    s.iter().zip(&n).map(|(s, &n)| s / n as f64).collect()
}

/// Per-group mean and biased variance.
fn group_moments(
    x: &Arr,
    groups: usize,
    key: impl Fn(&[usize]) -> usize + Copy,
) -> (Vec<f64>, Vec<f64>) {
    let mean = group_mean(x, groups, key);
    let dev = Arr::from_fn(&x.shape, |i| (x.at(i) - mean[key(i)]).powi(2));
    (mean, group_mean(&dev, groups, key))
}

/// What `batch_norm` should give: the output and, for batch statistics, the batch mean and
/// unbiased variance.
struct BnRef {
    y: Arr,
    mean: Vec<f64>,
    var_unbiased: Vec<f64>,
}

fn batch_norm_ref(
    x: &Arr,
    w: Option<&[f64]>,
    b: Option<&[f64]>,
    running: Option<(&[f64], &[f64])>,
    eps: f64,
) -> BnRef {
    let c = x.shape[1];
    let key = |i: &[usize]| i[1];
    let (mean, var) = match running {
        Some((m, v)) => (m.to_vec(), v.to_vec()),
        None => group_moments(x, c, key),
    };
    let m = (x.numel() / c) as f64;
    let var_unbiased = var.iter().map(|v| v * m / (m - 1.0)).collect();
    let y = Arr::from_fn(&x.shape, |i| {
        let k = i[1];
        let xh = (x.at(i) - mean[k]) / (var[k] + eps).sqrt();
        xh * w.map_or(1.0, |w| w[k]) + b.map_or(0.0, |b| b[k])
    });
    BnRef {
        y,
        mean,
        var_unbiased,
    }
}

fn layer_norm_ref(x: &Arr, k: usize, w: Option<&Arr>, b: Option<&Arr>, eps: f64) -> Arr {
    let lead = x.rank() - k;
    let groups: usize = x.shape[..lead].iter().product();
    let key = |i: &[usize]| ravel(&i[..lead], &x.shape[..lead]);
    let (mean, var) = group_moments(x, groups, key);
    Arr::from_fn(&x.shape, |i| {
        let g = key(i);
        let xh = (x.at(i) - mean[g]) / (var[g] + eps).sqrt();
        xh * w.map_or(1.0, |w| w.at(&i[lead..])) + b.map_or(0.0, |b| b.at(&i[lead..]))
    })
}

fn vec_close(what: &str, got: &Tensor, want: &[f64], dt: DType) {
    let (rtol, atol) = norm_tol(dt);
    assert_close(
        what,
        got,
        &Arr::new(&[want.len()], want.to_vec()),
        dt,
        rtol,
        atol,
    );
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// A batch-norm case: input (often non-contiguous), weight, bias, running mean and variance,
/// eps.
#[derive(Debug, Clone)]
struct BnCase {
    x: Input,
    w: Option<Vec<f64>>,
    b: Option<Vec<f64>>,
    running_mean: Vec<f64>,
    running_var: Vec<f64>,
    eps: f64,
}

fn bn_case() -> impl Strategy<Value = BnCase> {
    shape_nonzero(2, 4)
        .prop_filter("more than one value per channel", |s| numel(s) / s[1] > 1)
        .prop_flat_map(|s| {
            let c = s[1];
            (
                input_of(s, -2.0, 2.0),
                prop::option::of(prop::collection::vec(value(-2.0, 2.0), c)),
                prop::option::of(prop::collection::vec(value(-2.0, 2.0), c)),
                prop::collection::vec(value(-1.0, 1.0), c),
                prop::collection::vec(0.1..2.0f64, c),
                prop_oneof![Just(1e-5), Just(0.1)],
            )
        })
        .prop_map(|(x, w, b, running_mean, running_var, eps)| BnCase {
            x,
            w,
            b,
            running_mean,
            running_var,
            eps,
        })
}

/// A layer-norm case: input, the number `k` of normalized trailing dims, weight, bias, eps.
#[derive(Debug, Clone)]
struct LnCase {
    x: Input,
    k: usize,
    w: Option<Arr>,
    b: Option<Arr>,
    eps: f64,
}

fn ln_case() -> impl Strategy<Value = LnCase> {
    shape_nonzero(1, 4)
        .prop_flat_map(|s| {
            let r = s.len();
            (Just(s), 1..=r)
        })
        .prop_flat_map(|(s, k)| {
            let ns = s[s.len() - k..].to_vec();
            (
                input_of(s, -2.0, 2.0),
                Just(k),
                prop::option::of(arr_of(ns.clone(), -2.0, 2.0)),
                prop::option::of(arr_of(ns, -2.0, 2.0)),
                prop_oneof![Just(1e-5), Just(0.1)],
            )
        })
        .prop_map(|(x, k, w, b, eps)| LnCase { x, k, w, b, eps })
}

fn vec_tensor(v: &[f64], dt: DType) -> Tensor {
    Tensor::from_vec(v.to_vec(), [v.len()]).to_dtype(dt)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn prop_batch_norm_with_batch_stats_matches_reference(case in bn_case()) {
        let want = batch_norm_ref(&case.x.arr, case.w.as_deref(), case.b.as_deref(), None, case.eps);
        for dt in DTYPES {
            let x = case.x.tensor(dt);
            let w = case.w.as_deref().map(|w| vec_tensor(w, dt));
            let b = case.b.as_deref().map(|b| vec_tensor(b, dt));
            let (y, stats) = x.batch_norm(w.as_ref(), b.as_ref(), BatchNormStats::Batch, case.eps);
            let (rtol, atol) = norm_tol(dt);
            assert_close("batch_norm (batch)", &y, &want.y, dt, rtol, atol);
            let stats = stats.expect("batch statistics");
            vec_close("batch mean", &stats.mean, &want.mean, dt);
            vec_close("batch var (unbiased)", &stats.var, &want.var_unbiased, dt);

            // The recorded op gives the same values.
            let tape = Tape::new();
            let wv = w.as_ref().map(|w| tape.var(w));
            let bv = b.as_ref().map(|b| tape.var(b));
            let (yv, sv) = tape.var(&x).batch_norm(wv.as_ref(), bv.as_ref(), BatchNormStats::Batch, case.eps);
            prop_assert_eq!(yv.value().to_vec_f64(), y.to_vec_f64());
            prop_assert_eq!(sv.expect("batch statistics").var.to_vec_f64(), stats.var.to_vec_f64());
        }
    }

    #[test]
    fn prop_batch_norm_with_running_stats_matches_reference(case in bn_case()) {
        let running = Some((&case.running_mean[..], &case.running_var[..]));
        let want = batch_norm_ref(&case.x.arr, case.w.as_deref(), case.b.as_deref(), running, case.eps);
        for dt in DTYPES {
            let x = case.x.tensor(dt);
            let w = case.w.as_deref().map(|w| vec_tensor(w, dt));
            let b = case.b.as_deref().map(|b| vec_tensor(b, dt));
            let (rm, rv) = (vec_tensor(&case.running_mean, dt), vec_tensor(&case.running_var, dt));
            let stats = BatchNormStats::Running { mean: &rm, var: &rv };
            let (y, none) = x.batch_norm(w.as_ref(), b.as_ref(), stats, case.eps);
            prop_assert!(none.is_none());
            let (rtol, atol) = norm_tol(dt);
            assert_close("batch_norm (running)", &y, &want.y, dt, rtol, atol);
        }
    }

    #[test]
    fn prop_layer_norm_matches_reference(case in ln_case()) {
        let want = layer_norm_ref(&case.x.arr, case.k, case.w.as_ref(), case.b.as_ref(), case.eps);
        let ns = &case.x.arr.shape[case.x.arr.rank() - case.k..];
        for dt in DTYPES {
            let x = case.x.tensor(dt);
            let w = case.w.as_ref().map(|w| w.tensor(dt));
            let b = case.b.as_ref().map(|b| b.tensor(dt));
            let y = x.layer_norm(ns, w.as_ref(), b.as_ref(), case.eps);
            let (rtol, atol) = norm_tol(dt);
            assert_close("layer_norm", &y, &want, dt, rtol, atol);
            let tape = Tape::new();
            let wv = w.as_ref().map(|w| tape.var(w));
            let bv = b.as_ref().map(|b| tape.var(b));
            let yv = tape.var(&x).layer_norm(ns, wv.as_ref(), bv.as_ref(), case.eps);
            prop_assert_eq!(yv.value().to_vec_f64(), y.to_vec_f64());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Gradient checks
// ---------------------------------------------------------------------------------------------

/// `[N, C]`, `[N, C, L]` or `[N, C, H, W]` with small dims, at least 2 values per channel.
fn bn_shape() -> impl Strategy<Value = Vec<usize>> {
    (prop::collection::vec(gdim(), 2..=4), 1usize..=3).prop_map(|(mut s, c)| {
        s[1] = c;
        // At least two values per channel, at most ~48 elements.
        if numel(&s) / c < 2 {
            s[0] = 2;
        }
        while numel(&s) > 48 {
            let i = (0..s.len())
                .filter(|&i| i != 1)
                .max_by_key(|&i| s[i])
                .unwrap();
            s[i] -= 1;
        }
        s
    })
}

/// A gradcheck case: the input (distinct values, so every channel has a variance), an optional
/// weight and bias, running statistics, eps.
type GradCase = (
    Operand,
    Option<Operand>,
    Option<Operand>,
    Vec<f64>,
    Vec<f64>,
    f64,
);

fn bn_grad_case() -> impl Strategy<Value = GradCase> {
    bn_shape().prop_flat_map(|s| {
        let c = s[1];
        (
            operand(s, false, Vals::Distinct),
            prop::option::weighted(0.8, plain_operand(vec![c], Vals::Signed(0.5, 1.5))),
            prop::option::weighted(0.8, plain_operand(vec![c], Vals::Uniform(-1.0, 1.0))),
            prop::collection::vec(-1.0..1.0f64, c),
            prop::collection::vec(0.2..2.0f64, c),
            prop_oneof![Just(1e-5), Just(0.1)],
        )
    })
}

/// The inputs of a gradcheck: the input, then the weight and bias that are present; and how to
/// call the op on the variables.
fn grad_inputs(x: &Operand, w: &Option<Operand>, b: &Option<Operand>) -> Vec<Tensor> {
    std::iter::once(x.tensor())
        .chain(w.iter().map(Operand::tensor))
        .chain(b.iter().map(Operand::tensor))
        .collect()
}

fn split(v: &[Var], has_w: bool) -> (Option<&Var>, Option<&Var>) {
    let w = has_w.then(|| &v[1]);
    let b = v.get(1 + usize::from(has_w));
    (w, b)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn prop_batch_norm_batch_stats_gradcheck((x, w, b, _, _, eps) in bn_grad_case()) {
        let has_w = w.is_some();
        let r = check(
            |_, v| {
                let (wv, bv) = split(v, has_w);
                x.view(&v[0]).batch_norm(wv, bv, BatchNormStats::Batch, eps).0
            },
            &grad_inputs(&x, &w, &b),
        );
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn prop_batch_norm_running_stats_gradcheck((x, w, b, rm, rv, eps) in bn_grad_case()) {
        let has_w = w.is_some();
        let (rm, rv) = (vec_tensor(&rm, DType::F64), vec_tensor(&rv, DType::F64));
        let r = check(
            |_, v| {
                let (wv, bv) = split(v, has_w);
                let stats = BatchNormStats::Running { mean: &rm, var: &rv };
                x.view(&v[0]).batch_norm(wv, bv, stats, eps).0
            },
            &grad_inputs(&x, &w, &b),
        );
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn prop_layer_norm_gradcheck(
        (x, k, w, b, eps) in (prop::collection::vec(gdim(), 1..=3), 1usize..=3)
            .prop_map(|(s, k)| (gradcheck_common::cap(s, 36), k))
            .prop_flat_map(|(s, k)| {
                let k = k.min(s.len());
                let ns = s[s.len() - k..].to_vec();
                (
                    operand(s, false, Vals::Distinct),
                    Just(k),
                    prop::option::weighted(0.8, plain_operand(ns.clone(), Vals::Signed(0.5, 1.5))),
                    prop::option::weighted(0.8, plain_operand(ns, Vals::Uniform(-1.0, 1.0))),
                    prop_oneof![Just(1e-5), Just(0.1)],
                )
            })
    ) {
        let has_w = w.is_some();
        let r = check(
            |_, v| {
                let (wv, bv) = split(v, has_w);
                let xv = x.view(&v[0]);
                let ns = xv.shape()[xv.shape().len() - k..].to_vec();
                xv.layer_norm(&ns, wv, bv, eps)
            },
            &grad_inputs(&x, &w, &b),
        );
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

/// The weight and bias gradients against their closed forms (`sum g x_hat`, `sum g`), and the
/// input gradient of batch statistics summing to zero per channel.
#[test]
fn batch_norm_parameter_gradients_golden() {
    // Channel 0 holds [1, 3] (x_hat [-1, 1]), channel 1 holds [10, 30] (x_hat [-1, 1]).
    let tape = Tape::new();
    let x = tape.var(Tensor::from_vec(vec![1.0f64, 10.0, 3.0, 30.0], [2, 2]));
    let w = tape.var(Tensor::from_vec(vec![2.0f64, 3.0], [2]));
    let b = tape.var(Tensor::from_vec(vec![0.0f64, 0.0], [2]));
    let (y, _) = x.batch_norm(Some(&w), Some(&b), BatchNormStats::Batch, 0.0);
    // g = [[1, 2], [3, 4]]: grad_bias = [1 + 3, 2 + 4], grad_weight = [-1 + 3, -2 + 4].
    let g = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
    let grads = y.mul(&tape.constant(&g)).sum_all().backward();
    assert_eq!(grads.wrt(&b).unwrap().to_vec_f64(), vec![4.0, 6.0]);
    assert_eq!(grads.wrt(&w).unwrap().to_vec_f64(), vec![2.0, 2.0]);
    // Two values per channel: y does not depend on x at all (x_hat is always [-1, 1]).
    let dx = grads.wrt(&x).unwrap().to_vec_f64();
    assert!(dx.iter().all(|v| v.abs() < 1e-12), "{dx:?}");
}

// ---------------------------------------------------------------------------------------------
// Constant channels, determinism, errors
// ---------------------------------------------------------------------------------------------

#[test]
fn constant_channels_give_finite_outputs_and_gradients() {
    for dt in DTYPES {
        // Channel 0 constant (5.0), channel 1 varying; [N, C, L] = [3, 2, 2].
        let data: Vec<f64> = (0..12)
            .map(|i| if (i / 2) % 2 == 0 { 5.0 } else { i as f64 })
            .collect();
        let x = Tensor::from_vec(data, [3, 2, 2]).to_dtype(dt);
        let b = Tensor::from_vec(vec![0.25f64, 0.0], [2]).to_dtype(dt);
        let tape = Tape::new();
        let (xv, bv) = (tape.var(&x), tape.var(&b));
        let (y, stats) = xv.batch_norm(None, Some(&bv), BatchNormStats::Batch, 1e-5);
        let yv = y.value().to_vec_f64();
        assert!(yv.iter().all(|v| v.is_finite()), "{dt:?}: {yv:?}");
        // The constant channel normalizes to 0, plus the bias.
        for (i, v) in yv.iter().enumerate() {
            if (i / 2) % 2 == 0 {
                assert!((v - 0.25).abs() < 1e-6, "{dt:?}: {yv:?}");
            }
        }
        assert_eq!(stats.unwrap().var.to_vec_f64()[0], 0.0, "{dt:?}");
        let probe = tape.constant(
            Tensor::arange(0.0, 12.0, 1.0)
                .reshape([3, 2, 2])
                .to_dtype(dt),
        );
        let grads = y.mul(&probe).sum_all().backward();
        assert!(grads.wrt(&xv).unwrap().all_finite(), "{dt:?}");

        // Layer norm of a constant row.
        let x = Tensor::full([2, 3], 7.0).to_dtype(dt);
        let tape = Tape::new();
        let xv = tape.var(&x);
        let y = xv.layer_norm(&[3], None, None, 1e-5);
        assert_eq!(y.value().to_vec_f64(), vec![0.0; 6], "{dt:?}");
        let grads = y.mul(&tape.constant(&x)).sum_all().backward();
        assert!(grads.wrt(&xv).unwrap().all_finite(), "{dt:?}");
    }
}

fn on_threads<R: Send>(n: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
        .install(f)
}

/// Forward, batch statistics and every gradient, as `f64` bit patterns.
fn norm_run(dt: DType) -> Vec<Vec<u64>> {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let x = Tensor::randn([16, 8, 16, 32], &mut rng).to_dtype(dt);
    let g = Tensor::randn([16, 8, 16, 32], &mut rng).to_dtype(dt);
    let w = Tensor::randn([8], &mut rng).to_dtype(dt);
    let lw = Tensor::randn([16, 32], &mut rng).to_dtype(dt);
    let bits = |t: &Tensor| {
        t.to_vec_f64()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<u64>>()
    };
    let mut out = Vec::new();
    let tape = Tape::new();
    let (xv, wv, lwv) = (tape.var(&x), tape.var(&w), tape.var(&lw));
    let (y, stats) = xv.batch_norm(Some(&wv), Some(&wv), BatchNormStats::Batch, 1e-5);
    let stats = stats.unwrap();
    let z = xv.layer_norm(&[16, 32], Some(&lwv), Some(&lwv), 1e-5);
    out.extend([
        bits(y.value()),
        bits(&stats.mean),
        bits(&stats.var),
        bits(z.value()),
    ]);
    let gv = tape.constant(&g);
    let grads = y.add(&z).mul(&gv).sum_all().backward();
    for v in [&xv, &wv, &lwv] {
        out.push(bits(grads.wrt(v).unwrap()));
    }
    out
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    for dt in DTYPES {
        let one = on_threads(1, || norm_run(dt));
        for n in [2, 3] {
            let many = on_threads(n, || norm_run(dt));
            for (k, (a, b)) in one.iter().zip(&many).enumerate() {
                assert!(
                    a == b,
                    "{dt:?}: output {k} differs between 1 and {n} threads"
                );
            }
        }
    }
}

#[test]
fn refused_operands_are_named_with_both_shapes() {
    let x = Tensor::zeros([4, 3]);
    let msg = |e: Error| e.to_string();
    assert_eq!(
        msg(x
            .try_batch_norm(Some(&Tensor::ones([4])), None, BatchNormStats::Batch, 1e-5)
            .unwrap_err()),
        "batch_norm: [4, 3] and [4] do not fit: the weight must have shape [3], one value per \
         channel (dim 1 of the input)"
    );
    let (rm, rv) = (Tensor::zeros([3]), Tensor::ones([3, 1]));
    let e = x
        .try_batch_norm(
            None,
            None,
            BatchNormStats::Running {
                mean: &rm,
                var: &rv,
            },
            1e-5,
        )
        .unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }));
    assert!(msg(e).starts_with("batch_norm: [4, 3] and [3, 1] do not fit: the running var"));
    assert_eq!(
        msg(Tensor::zeros([4])
            .try_batch_norm(None, None, BatchNormStats::Batch, 1e-5)
            .unwrap_err()),
        "batch_norm: the input must have at least 2 dims ([N, C] or [N, C, *]), got shape [4]"
    );
    assert!(
        msg(Tensor::zeros([1, 3, 1])
            .try_batch_norm(None, None, BatchNormStats::Batch, 1e-5)
            .unwrap_err())
        .starts_with(
            "batch_norm: batch statistics need more than 1 value per channel, got input of shape \
             [1, 3, 1]"
        )
    );
    // One value per channel is fine with running statistics.
    let (rm, rv) = (Tensor::zeros([3]), Tensor::ones([3]));
    let running = BatchNormStats::Running {
        mean: &rm,
        var: &rv,
    };
    assert!(
        Tensor::zeros([1, 3])
            .try_batch_norm(None, None, running, 1e-5)
            .is_ok()
    );
    assert_eq!(
        msg(x
            .try_batch_norm(
                None,
                Some(&Tensor::zeros([3]).to_dtype(DType::F64)),
                BatchNormStats::Batch,
                1e-5
            )
            .unwrap_err()),
        "batch_norm: element types differ (F32 vs F64); convert one with to_dtype"
    );
    assert_eq!(
        msg(x
            .try_batch_norm(None, None, BatchNormStats::Batch, -1.0)
            .unwrap_err()),
        "batch_norm: eps = -1 must be finite and >= 0"
    );

    let x = Tensor::zeros([2, 3, 4]);
    assert_eq!(
        msg(x.try_layer_norm(&[3], None, None, 1e-5).unwrap_err()),
        "layer_norm: [2, 3, 4] and [3] do not fit: normalized_shape [3] must be non-empty and \
         equal the input's last 1 dims"
    );
    assert_eq!(
        msg(x
            .try_layer_norm(&[3, 4], Some(&Tensor::ones([4])), None, 1e-5)
            .unwrap_err()),
        "layer_norm: [2, 3, 4] and [4] do not fit: the weight must have the normalized shape [3, 4]"
    );
    assert!(x.try_layer_norm(&[], None, None, 1e-5).is_err());
    assert!(x.try_layer_norm(&[1, 2, 3, 4], None, None, 1e-5).is_err());

    // The recorded forms refuse the same operands, with the same messages.
    let tape = Tape::new();
    let xv = tape.var(Tensor::zeros([4, 3]));
    let wv = tape.var(Tensor::ones([4]));
    assert!(
        msg(xv
            .try_batch_norm(Some(&wv), None, BatchNormStats::Batch, 1e-5)
            .unwrap_err())
        .starts_with("batch_norm: [4, 3] and [4] do not fit")
    );
    assert!(
        msg(xv.try_layer_norm(&[4], None, None, 1e-5).unwrap_err())
            .starts_with("layer_norm: [4, 3] and [4] do not fit")
    );
}

/// The node keeps the input, the statistics and the weight, and nothing once backward ran.
#[test]
fn saved_bytes_are_the_input_the_statistics_and_the_weight() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros([4, 3, 5]));
    let w = tape.var(Tensor::ones([3]));
    let (y, _) = x.batch_norm(Some(&w), None, BatchNormStats::Batch, 1e-5);
    // Input 60 f32, mean and invstd 3 each, weight 3.
    assert_eq!(tape.saved_bytes(), (60 + 3 + 3 + 3) * 4);
    let _ = y.sum_all().backward();
    assert_eq!(tape.saved_bytes(), 0);
}
