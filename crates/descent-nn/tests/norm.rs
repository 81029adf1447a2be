//! The normalization and embedding layers: `BatchNorm1d`/`BatchNorm2d` in training (batch
//! statistics) and evaluation (running statistics) against naive loops, the running statistics
//! after several training steps against PyTorch's update rule (momentum and cumulative),
//! `num_batches_tracked`, eval forwards of one shared model from two threads, finite-difference
//! checks of the input and every parameter through each layer, `LayerNorm` and `Embedding`
//! against references, and the errors naming the layer and both shapes.

use descent_core::{DType, Error, GradcheckConfig, IntTensor, Tape, Tensor, gradcheck};
use descent_nn::{
    BatchNorm1d, BatchNorm2d, BatchNormConfig, Buffer, Ctx, Embedding, LayerNorm, Module, Seeds,
};

/// `n` values drawn `N(0, 1) * scale + shift` from a named stream.
fn data(label: &str, n: usize, scale: f64, shift: f64) -> Vec<f64> {
    let mut s = Seeds::new(7).stream(label);
    (0..n).map(|_| s.next_normal() * scale + shift).collect()
}

fn tensor(label: &str, shape: &[usize], scale: f64, shift: f64) -> Tensor {
    Tensor::from_vec(data(label, shape.iter().product(), scale, shift), shape)
}

fn train(step: u64) -> Ctx {
    Ctx::train(0, 0, step)
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i} is {g}, want {w}"
        );
    }
}

/// Per-channel mean and biased variance of an `[N, C, *]` row-major array.
fn channel_moments(x: &[f64], shape: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let c = shape[1];
    let s: usize = shape[2..].iter().product();
    let m = x.len() / c;
    let ch = |i: usize| (i / s) % c;
    let mut mean = vec![0.0; c];
    for (i, v) in x.iter().enumerate() {
        mean[ch(i)] += v / m as f64;
    }
    let mut var = vec![0.0; c];
    for (i, v) in x.iter().enumerate() {
        var[ch(i)] += (v - mean[ch(i)]).powi(2) / m as f64;
    }
    (mean, var)
}

/// `(x - mean) / sqrt(var + eps) * w + b` per channel.
fn normalize_ref(
    x: &[f64],
    shape: &[usize],
    mean: &[f64],
    var: &[f64],
    w: &[f64],
    b: &[f64],
    eps: f64,
) -> Vec<f64> {
    let c = shape[1];
    let s: usize = shape[2..].iter().product();
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let k = (i / s) % c;
            (v - mean[k]) / (var[k] + eps).sqrt() * w[k] + b[k]
        })
        .collect()
}

fn vec_of(b: &Option<Buffer>) -> Vec<f64> {
    b.as_ref().unwrap().tensor().to_vec_f64()
}

fn count(b: &Option<Buffer>) -> i64 {
    b.as_ref().unwrap().int_tensor().item()
}

/// Sets a layer's weight and bias to given values (same dtype).
fn set_affine(w: &mut Option<descent_core::Param>, values: &[f64], dt: DType) {
    let p = w.as_mut().unwrap();
    let t = Tensor::from_vec(values.to_vec(), [values.len()]).to_dtype(dt);
    p.set_value(t).unwrap();
}

#[test]
fn batch_norm1d_trains_on_batch_statistics() {
    for shape in [vec![6, 3], vec![4, 3, 5]] {
        let mut bn = BatchNorm1d::new(3);
        set_affine(&mut bn.weight, &[0.5, -2.0, 1.5], DType::F32);
        set_affine(&mut bn.bias, &[0.1, 0.0, -0.3], DType::F32);
        let x = tensor("x", &shape, 2.0, 1.0).to_dtype(DType::F32);
        let xs = x.to_vec_f64();
        let tape = Tape::new();
        let y = bn.forward(&tape.constant(&x), &train(0)).unwrap();
        let (mean, var) = channel_moments(&xs, &shape);
        let want = normalize_ref(
            &xs,
            &shape,
            &mean,
            &var,
            &[0.5, -2.0, 1.5],
            &[0.1, 0.0, -0.3],
            1e-5,
        );
        assert_close(&y.value().to_vec_f64(), &want, 1e-5, &format!("{shape:?}"));
    }
}

#[test]
fn batch_norm2d_evaluates_with_running_statistics() {
    let shape = [2, 3, 4, 5];
    let mut bn = BatchNorm2d::new(3);
    set_affine(&mut bn.weight, &[1.0, 2.0, 3.0], DType::F32);
    set_affine(&mut bn.bias, &[0.0, 0.5, -0.5], DType::F32);
    let (rm, rv) = (vec![0.5, -1.0, 0.0], vec![2.0, 0.5, 1.0]);
    let set = |b: &Option<Buffer>, v: &[f64]| {
        let t = Tensor::from_vec(v.to_vec(), [3]).to_dtype(DType::F32);
        b.as_ref().unwrap().set(t.into()).unwrap();
    };
    set(&bn.running_mean, &rm);
    set(&bn.running_var, &rv);
    let x = tensor("x2", &shape, 1.0, 0.0).to_dtype(DType::F32);
    let xs = x.to_vec_f64();
    let tape = Tape::new();
    let y = bn.forward(&tape.constant(&x), &Ctx::eval()).unwrap();
    let want = normalize_ref(
        &xs,
        &shape,
        &rm,
        &rv,
        &[1.0, 2.0, 3.0],
        &[0.0, 0.5, -0.5],
        1e-5,
    );
    assert_close(&y.value().to_vec_f64(), &want, 1e-5, "eval");
    // Evaluation changes no statistic.
    assert_eq!(vec_of(&bn.running_mean), rm);
    assert_eq!(count(&bn.num_batches_tracked), 0);

    // A fresh layer in eval: running mean 0, variance 1.
    let fresh = BatchNorm2d::new(3);
    let y = fresh.forward(&tape.constant(&x), &Ctx::eval()).unwrap();
    let want: Vec<f64> = xs.iter().map(|v| v / (1.0f64 + 1e-5).sqrt()).collect();
    assert_close(&y.value().to_vec_f64(), &want, 1e-6, "fresh eval");
}

/// Several training steps against PyTorch's rule, computed in `f64`:
/// `num_batches_tracked += 1; f = momentum or 1 / num_batches_tracked;
/// running = (1 - f) running + f batch` with the unbiased batch variance.
#[test]
fn running_statistics_follow_pytorch_update_rule() {
    for momentum in [Some(0.1), Some(0.35), None] {
        let config = BatchNormConfig {
            momentum,
            ..BatchNormConfig::default()
        };
        let bn = BatchNorm1d::with_config(3, config);
        let (mut rm, mut rv) = (vec![0.0; 3], vec![1.0; 3]);
        let shape = [5, 3, 4];
        for step in 0..6u64 {
            let x = tensor(
                &format!("batch{step}"),
                &shape,
                1.0 + step as f64,
                step as f64 - 2.0,
            )
            .to_dtype(DType::F32);
            let tape = Tape::new();
            bn.forward(&tape.constant(&x), &train(step)).unwrap();
            let (mean, var) = channel_moments(&x.to_vec_f64(), &shape);
            let m = (5 * 4) as f64;
            let n = step as f64 + 1.0;
            let f = momentum.unwrap_or(1.0 / n);
            for k in 0..3 {
                rm[k] = (1.0 - f) * rm[k] + f * mean[k];
                rv[k] = (1.0 - f) * rv[k] + f * var[k] * m / (m - 1.0);
            }
            let what = format!("momentum {momentum:?} step {step}");
            assert_close(
                &vec_of(&bn.running_mean),
                &rm,
                1e-5,
                &format!("{what}: mean"),
            );
            assert_close(&vec_of(&bn.running_var), &rv, 1e-5, &format!("{what}: var"));
            assert_eq!(count(&bn.num_batches_tracked), step as i64 + 1, "{what}");
        }
        // An eval forward reads them and changes nothing.
        let tape = Tape::new();
        let x = tensor("eval", &shape, 1.0, 0.0).to_dtype(DType::F32);
        bn.forward(&tape.constant(&x), &Ctx::eval()).unwrap();
        assert_eq!(count(&bn.num_batches_tracked), 6);
        assert_close(&vec_of(&bn.running_mean), &rm, 1e-5, "after eval");
    }
}

#[test]
fn state_names_and_optional_parts_follow_pytorch() {
    let bn = BatchNorm2d::new(4);
    let params: Vec<String> = bn.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(params, ["weight", "bias"]);
    let buffers: Vec<String> = bn.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        buffers,
        ["running_mean", "running_var", "num_batches_tracked"]
    );
    let nbt = bn.num_batches_tracked.as_ref().unwrap();
    assert_eq!((nbt.shape(), nbt.dtype_name()), (vec![], "I64"));
    assert_eq!(bn.running_var.as_ref().unwrap().shape(), [4]);

    // Without affine and running statistics: nothing to visit, and batch statistics in eval too.
    let bare = BatchNorm1d::with_config(
        2,
        BatchNormConfig {
            affine: false,
            track_running_stats: false,
            ..BatchNormConfig::default()
        },
    );
    assert!(bare.named_params().is_empty() && bare.named_buffers().is_empty());
    let x = Tensor::from_vec(vec![1.0f32, 10.0, 3.0, 30.0], [2, 2]);
    let tape = Tape::new();
    let y = bare.forward(&tape.constant(&x), &Ctx::eval()).unwrap();
    assert_close(
        &y.value().to_vec_f64(),
        &[-1.0, -1.0, 1.0, 1.0],
        1e-4,
        "bare eval",
    );

    // Nested paths, through derive(Module).
    #[derive(descent_nn::Module)]
    struct Net {
        bn1: BatchNorm1d,
        emb: Embedding,
        ln: LayerNorm,
    }
    impl Module for Net {
        fn forward(
            &self,
            x: &descent_core::Var,
            ctx: &Ctx,
        ) -> descent_core::Result<descent_core::Var> {
            self.ln.forward(&self.bn1.forward(x, ctx)?, ctx)
        }
    }
    let net = Net {
        bn1: BatchNorm1d::new(3),
        emb: Embedding::new(5, 3, None, &Seeds::new(0).stream("e")),
        ln: LayerNorm::new(&[3], 1e-5, true),
    };
    let names: Vec<String> = net.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "bn1.weight",
            "bn1.bias",
            "emb.weight",
            "ln.weight",
            "ln.bias"
        ]
    );
    let names: Vec<String> = net.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.num_batches_tracked"
        ]
    );

    // The buffers travel with the weights.
    let tape = Tape::new();
    net.forward(
        &tape.constant(tensor("n", &[4, 3], 1.0, 3.0).to_dtype(DType::F32)),
        &train(0),
    )
    .unwrap();
    let bytes = descent_nn::save_bytes(&net).unwrap();
    let mut other = Net {
        bn1: BatchNorm1d::new(3),
        emb: Embedding::new(5, 3, None, &Seeds::new(1).stream("e")),
        ln: LayerNorm::new(&[3], 1e-5, true),
    };
    descent_nn::load_bytes(&bytes, &mut other).unwrap();
    assert_eq!(
        vec_of(&other.bn1.running_mean),
        vec_of(&net.bn1.running_mean)
    );
    assert_eq!(count(&other.bn1.num_batches_tracked), 1);
}

#[test]
fn eval_forwards_of_one_shared_model_run_on_two_threads() {
    let bn = BatchNorm2d::new(3);
    for step in 0..3 {
        let tape = Tape::new();
        let x = tensor(&format!("t{step}"), &[4, 3, 2, 2], 2.0, 1.0).to_dtype(DType::F32);
        bn.forward(&tape.constant(&x), &train(step)).unwrap();
    }
    let x = tensor("shared", &[2, 3, 2, 2], 1.0, 0.0).to_dtype(DType::F32);
    let run = |m: &BatchNorm2d| {
        let tape = Tape::new();
        m.forward(&tape.constant(&x), &Ctx::eval())
            .unwrap()
            .value()
            .to_vec_f32()
    };
    let want = run(&bn);
    let model = &bn;
    let results: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(|| run(model))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        assert_eq!(r, want);
    }
    assert_eq!(count(&bn.num_batches_tracked), 3);
}

/// A layer's parameters and buffers in `f64`.
fn to_f64<M: Module>(m: &mut M) {
    m.visit_params_mut("", &mut |_, p| {
        let v = p.value().to_dtype(DType::F64);
        *p.value_mut() = v;
    });
}

fn bn_to_f64(bn: &mut BatchNorm2d) {
    to_f64(bn);
    for b in [&mut bn.running_mean, &mut bn.running_var] {
        let t = b.as_ref().unwrap().tensor().to_dtype(DType::F64);
        *b = Some(Buffer::float(t));
    }
}

/// Checks, by central differences on `L = sum(y r)` (fixed `r`), the gradient of every
/// parameter of `m` that `forward` gives, skipping the elements `skip(param, index)` says.
fn check_param_grads<M: Module>(
    m: &mut M,
    forward: impl Fn(&M, &Tape) -> descent_core::Var,
    skip: impl Fn(usize, usize) -> bool,
) {
    let r = {
        let tape = Tape::new();
        let y = forward(m, &tape);
        Tensor::from_vec(data("r", y.value().numel(), 1.0, 0.0), y.shape())
    };
    let loss = |m: &M| {
        let tape = Tape::new();
        let y = forward(m, &tape);
        y.mul(&tape.constant(&r)).sum_all().value().item()
    };
    let tape = Tape::new();
    let grads = forward(m, &tape)
        .mul(&tape.constant(&r))
        .sum_all()
        .backward();
    let mut analytic = Vec::new();
    m.visit_params("", &mut |name, p| {
        let g = grads
            .get(p)
            .map(|g| g.to_vec_f64())
            .unwrap_or(vec![0.0; p.numel()]);
        analytic.push((name.to_string(), g));
    });
    let h = 1e-6;
    for (k, (name, g)) in analytic.iter().enumerate() {
        for (i, &analytic) in g.iter().enumerate() {
            if skip(k, i) {
                continue;
            }
            let nudge = |m: &mut M, d: f64| {
                let mut j = 0;
                m.visit_params_mut("", &mut |_, p| {
                    if j == k {
                        p.value_mut().slice_mut::<f64>().unwrap()[i] += d;
                    }
                    j += 1;
                });
            };
            nudge(m, h);
            let up = loss(m);
            nudge(m, -2.0 * h);
            let down = loss(m);
            nudge(m, h);
            let numeric = (up - down) / (2.0 * h);
            assert!(
                (analytic - numeric).abs() <= 1e-5 + 1e-3 * numeric.abs(),
                "{name}[{i}]: analytic {analytic} vs numeric {numeric}"
            );
        }
    }
}

#[test]
fn gradients_through_batch_norm_match_finite_differences() {
    let x = tensor("gx", &[3, 2, 2, 2], 1.5, 0.5);
    for train_mode in [true, false] {
        let ctx = || if train_mode { train(0) } else { Ctx::eval() };
        let mut bn = BatchNorm2d::new(2);
        bn_to_f64(&mut bn);
        bn.weight
            .as_mut()
            .unwrap()
            .set_value(Tensor::from_vec(vec![0.7, -1.3], [2]))
            .unwrap();
        bn.bias
            .as_mut()
            .unwrap()
            .set_value(Tensor::from_vec(vec![0.2, 0.4], [2]))
            .unwrap();
        bn.running_mean
            .as_ref()
            .unwrap()
            .set(Tensor::from_vec(vec![0.3, -0.1], [2]).into())
            .unwrap();
        // The input.
        let r = gradcheck(
            |_, v| bn.forward(&v[0], &ctx()).unwrap(),
            std::slice::from_ref(&x),
            &GradcheckConfig::default(),
        );
        assert!(r.is_ok(), "train {train_mode}: {}", r.unwrap_err());
        // The weight and bias.
        check_param_grads(
            &mut bn,
            |m, tape| m.forward(&tape.constant(&x), &ctx()).unwrap(),
            |_, _| false,
        );
    }
}

#[test]
fn gradients_through_layer_norm_match_finite_differences() {
    let x = tensor("lx", &[2, 3, 4], 1.0, 0.0);
    let mut ln = LayerNorm::new(&[3, 4], 1e-5, true);
    to_f64(&mut ln);
    ln.weight
        .as_mut()
        .unwrap()
        .set_value(tensor("lw", &[3, 4], 0.5, 1.0))
        .unwrap();
    ln.bias
        .as_mut()
        .unwrap()
        .set_value(tensor("lb", &[3, 4], 0.5, 0.0))
        .unwrap();
    let r = gradcheck(
        |_, v| ln.forward(&v[0], &Ctx::eval()).unwrap(),
        std::slice::from_ref(&x),
        &GradcheckConfig::default(),
    );
    assert!(r.is_ok(), "{}", r.unwrap_err());
    check_param_grads(
        &mut ln,
        |m, tape| m.forward(&tape.constant(&x), &Ctx::eval()).unwrap(),
        |_, _| false,
    );
}

#[test]
fn gradients_through_embedding_match_finite_differences_except_the_padding_row() {
    let idx = IntTensor::from_vec(vec![1, 0, 3, 1, 4, 0], [2, 3]);
    let mut emb = Embedding::new(5, 2, Some(0), &Seeds::new(3).stream("emb"));
    to_f64(&mut emb);
    let forward =
        |m: &Embedding, tape: &Tape| m.forward_indices(&tape.handle(), &idx, &train(0)).unwrap();
    // Row 0 is the padding row: its gradient is zero whatever the loss (checked below), not the
    // finite difference.
    check_param_grads(&mut emb, forward, |_, i| i < 2);
    let tape = Tape::new();
    let y = forward(&emb, &tape);
    let grads = y
        .mul(&tape.constant(tensor("p", &[2, 3, 2], 1.0, 0.0)))
        .sum_all()
        .backward();
    let g = grads.get(&emb.weight).unwrap().to_vec_f64();
    assert_eq!(&g[..2], &[0.0, 0.0]);
    // Row 2 is never looked up; rows 1, 3, 4 are.
    assert_eq!(&g[4..6], &[0.0, 0.0]);
    assert!([2, 3, 6, 7, 8, 9].iter().all(|&i| g[i] != 0.0), "{g:?}");
}

#[test]
fn layer_norm_forward_matches_a_naive_loop() {
    let x = tensor("ln", &[3, 2, 5], 2.0, 1.0).to_dtype(DType::F32);
    let mut ln = LayerNorm::new(&[2, 5], 1e-5, true);
    ln.weight
        .as_mut()
        .unwrap()
        .set_value(tensor("w", &[2, 5], 1.0, 0.0).to_dtype(DType::F32))
        .unwrap();
    ln.bias
        .as_mut()
        .unwrap()
        .set_value(tensor("b", &[2, 5], 1.0, 0.0).to_dtype(DType::F32))
        .unwrap();
    let tape = Tape::new();
    let y = ln
        .forward(&tape.constant(&x), &train(0))
        .unwrap()
        .value()
        .to_vec_f64();
    let (xs, w, b) = (
        x.to_vec_f64(),
        ln.weight.as_ref().unwrap().value().to_vec_f64(),
        ln.bias.as_ref().unwrap().value().to_vec_f64(),
    );
    let mut want = Vec::new();
    for row in xs.chunks(10) {
        let mean = row.iter().sum::<f64>() / 10.0;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 10.0;
        for (j, v) in row.iter().enumerate() {
            want.push((v - mean) / (var + 1e-5).sqrt() * w[j] + b[j]);
        }
    }
    assert_close(&y, &want, 1e-5, "LayerNorm");
    // Without affine, no parameters.
    assert!(LayerNorm::new(&[5], 1e-5, false).named_params().is_empty());
}

#[test]
fn embedding_looks_up_rows_and_starts_normal() {
    let emb = Embedding::new(1000, 16, Some(7), &Seeds::new(11).stream("big"));
    let w = emb.weight.value().to_vec_f64();
    assert!(w[7 * 16..8 * 16].iter().all(|&v| v == 0.0), "padding row");
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / w.len() as f64;
    assert!(
        mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
        "N(0, 1): mean {mean}, var {var}"
    );

    let idx = IntTensor::from_vec(vec![3, 999, 7, 3], [2, 2]);
    let tape = Tape::new();
    let y = emb
        .forward_indices(&tape.handle(), &idx, &Ctx::eval())
        .unwrap();
    assert_eq!(y.shape(), &[2, 2, 16]);
    let got = y.value().to_vec_f64();
    for (k, &i) in [3usize, 999, 7, 3].iter().enumerate() {
        assert_eq!(
            &got[k * 16..(k + 1) * 16],
            &w[i * 16..(i + 1) * 16],
            "lookup {k}"
        );
    }
    // A scalar index gives one vector.
    let y = emb
        .forward_indices(&tape.handle(), &IntTensor::scalar(5), &Ctx::eval())
        .unwrap();
    assert_eq!(y.shape(), &[16]);
}

#[test]
fn errors_name_the_layer_and_both_shapes() {
    let tape = Tape::new();
    let msg = |r: descent_core::Result<descent_core::Var>| r.unwrap_err().to_string();
    let bn = BatchNorm1d::new(3);
    assert_eq!(
        msg(bn.forward(&tape.constant(Tensor::zeros([4, 5])), &train(0))),
        "BatchNorm1d: [4, 5] and [3] do not fit: the layer takes [N, 3] or [N, 3, L] inputs (3 \
         channels at dim 1)"
    );
    let e = bn
        .forward(&tape.constant(Tensor::zeros([4, 3, 2, 2])), &train(0))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                op: "BatchNorm1d",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        msg(BatchNorm2d::new(3).forward(&tape.constant(Tensor::zeros([4, 3, 5])), &Ctx::eval())),
        "BatchNorm2d: [4, 3, 5] and [3] do not fit: the layer takes [N, 3, H, W] inputs (3 \
         channels at dim 1)"
    );
    // One value per channel cannot be normalized with its own statistics, and nothing changes.
    assert!(
        msg(bn.forward(&tape.constant(Tensor::zeros([1, 3])), &train(0)))
            .contains("more than 1 value per channel")
    );
    assert_eq!(count(&bn.num_batches_tracked), 0);
    assert_eq!(
        msg(LayerNorm::new(&[4], 1e-5, true)
            .forward(&tape.constant(Tensor::zeros([2, 3])), &Ctx::eval())),
        "LayerNorm: [2, 3] and [4] do not fit: the input's last 1 dims must be the normalized \
         shape [4]"
    );
    let emb = Embedding::new(5, 2, None, &Seeds::new(0).stream("e"));
    let e = emb
        .forward_indices(
            &tape.handle(),
            &IntTensor::from_vec(vec![0, 5], [2]),
            &Ctx::eval(),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::IndexOutOfRange {
                op: "Embedding",
                index: 5,
                size: 5,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        msg(emb.forward(&tape.constant(Tensor::zeros([2])), &Ctx::eval()))
            .starts_with("Embedding: takes integer indices, not a float Var")
    );
}
