//! descent-nn's convolution and pooling layers: forward against naive `f64` loops, gradients
//! through the modules (the input by `gradcheck`, every parameter by central differences through
//! the module's own forward), PyTorch's initialization, names, and error messages.

use descent_core::{
    DType, Error, GradcheckConfig, IntTensor, Param, Pool2dParams, Tape, Tensor, gradcheck,
};
use descent_nn::init::uniform;
use descent_nn::{
    AdaptiveAvgPool2d, AvgPool2d, Conv2d, Conv2dConfig, Ctx, Flatten, Linear, MaxPool2d, Module,
    ReLU, Seeds, Sequential,
};
use descent_optim::{Optimizer, Sgd};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Values in `[-1, 1)` of `shape`, from a labelled stream.
fn data(shape: &[usize], label: &str) -> Tensor {
    uniform(shape, -1.0, 1.0, &mut Seeds::new(9).stream(label))
}

/// The eval forward of `m` on `x`, as a tensor.
fn run(m: &dyn Module, x: &Tensor) -> Tensor {
    let tape = Tape::new();
    m.forward(&tape.constant(x), &Ctx::eval())
        .unwrap()
        .into_value()
}

/// `v[idx]` of a row-major `shape`.
fn at(v: &[f64], shape: &[usize], idx: &[usize]) -> f64 {
    let mut flat = 0;
    for (d, &i) in idx.iter().enumerate() {
        assert!(i < shape[d]);
        flat = flat * shape[d] + i;
    }
    v[flat]
}

#[track_caller]
fn assert_close(got: &Tensor, want: &[f64], shape: &[usize], tol: f64) {
    assert_eq!(got.shape(), shape, "shape");
    let g = got.to_vec_f64();
    for (i, (a, b)) in g.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "element {i}: {a} vs {b}"
        );
    }
}

/// `torch.nn.functional.conv2d` as seven nested loops in `f64`.
#[allow(clippy::too_many_arguments)]
fn naive_conv(
    x: &[f64],
    xs: [usize; 4],
    w: &[f64],
    ws: [usize; 4],
    b: Option<&[f64]>,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> (Vec<f64>, [usize; 4]) {
    let [n, c, h, wd] = xs;
    let [co, cig, kh, kw] = ws;
    assert_eq!(c, cig * groups);
    let cog = co / groups;
    let len = |l: usize, k: usize, a: usize| {
        (l + 2 * padding[a] - dilation[a] * (k - 1) - 1) / stride[a] + 1
    };
    let (oh, ow) = (len(h, kh, 0), len(wd, kw, 1));
    let shape = [n, co, oh, ow];
    let mut out = vec![0.0; n * co * oh * ow];
    for s in 0..n {
        for o in 0..co {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[o]);
                    for ci in 0..cig {
                        for i in 0..kh {
                            for j in 0..kw {
                                let y = (oy * stride[0] + i * dilation[0]) as isize
                                    - padding[0] as isize;
                                let xx = (ox * stride[1] + j * dilation[1]) as isize
                                    - padding[1] as isize;
                                if y < 0 || xx < 0 || y >= h as isize || xx >= wd as isize {
                                    continue;
                                }
                                let c = o / cog * cig + ci;
                                acc += at(x, &xs, &[s, c, y as usize, xx as usize])
                                    * at(w, &ws, &[o, ci, i, j]);
                            }
                        }
                    }
                    out[((s * co + o) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    (out, shape)
}

/// The input positions `(y, x)` of pooling window `(oy, ox)` inside an `h x w` plane.
fn window(p: &Pool2dParams, oy: usize, ox: usize, h: usize, w: usize) -> Vec<(usize, usize)> {
    let mut v = vec![];
    for i in 0..p.kernel[0] {
        for j in 0..p.kernel[1] {
            let y = (oy * p.stride[0] + i * p.dilation[0]) as isize - p.padding[0] as isize;
            let x = (ox * p.stride[1] + j * p.dilation[1]) as isize - p.padding[1] as isize;
            if y >= 0 && x >= 0 && y < h as isize && x < w as isize {
                v.push((y as usize, x as usize));
            }
        }
    }
    v
}

/// A pooling as nested loops: `reduce(values in the window, window size)` per output.
fn naive_pool(
    x: &Tensor,
    p: &Pool2dParams,
    reduce: impl Fn(&[f64], usize) -> f64,
) -> (Vec<f64>, [usize; 4]) {
    let s = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let v = x.to_vec_f64();
    let len = |l: usize, a: usize| {
        (l + 2 * p.padding[a] - p.dilation[a] * (p.kernel[a] - 1) - 1) / p.stride[a] + 1
    };
    let (oh, ow) = (len(s[2], 0), len(s[3], 1));
    let mut out = vec![];
    for n in 0..s[0] {
        for c in 0..s[1] {
            for oy in 0..oh {
                for ox in 0..ow {
                    let vals: Vec<f64> = window(p, oy, ox, s[2], s[3])
                        .into_iter()
                        .map(|(y, xx)| at(&v, &s, &[n, c, y, xx]))
                        .collect();
                    out.push(reduce(&vals, p.kernel[0] * p.kernel[1]));
                }
            }
        }
    }
    (out, [s[0], s[1], oh, ow])
}

/// The module's parameters converted to `f64` (what a gradient check runs in).
fn to_f64(m: &mut dyn Module) {
    m.visit_params_mut("", &mut |_, p| {
        let v = p.value().to_dtype(DType::F64);
        *p.value_mut() = v;
    });
}

/// Checks the gradients of `sum(r * m(x))` (fixed weights `r` in `[0.5, 1.5]`) through the
/// module in `f64`: with respect to the input by [`gradcheck`], and with respect to every
/// parameter by central differences of the module's own forward, perturbing the parameter in
/// place, against the gradient `backward` reports under the parameter.
fn check_module_gradients(m: &mut dyn Module, x: &Tensor) {
    to_f64(m);
    let x = x.to_dtype(DType::F64);
    let cfg = GradcheckConfig::default();
    let r = gradcheck(
        |_, v| m.forward(&v[0], &Ctx::eval()).unwrap(),
        std::slice::from_ref(&x),
        &cfg,
    );
    assert!(r.is_ok(), "input: {}", r.unwrap_err());
    if m.num_parameters() == 0 {
        return;
    }

    let out_shape = run(m, &x).shape().to_vec();
    let n: usize = out_shape.iter().product();
    let weights = Tensor::from_vec(
        (0..n)
            .map(|k| 0.5 + ((k * 7) % 11) as f64 / 10.0)
            .collect::<Vec<f64>>(),
        &out_shape[..],
    );
    let loss = |m: &dyn Module| -> f64 { run(m, &x).mul(&weights).sum_all().item() };
    let tape = Tape::new();
    let y = m.forward(&tape.constant(&x), &Ctx::eval()).unwrap();
    let grads = y.mul(&tape.constant(&weights)).sum_all().backward();
    let mut analytic = vec![];
    m.visit_params("", &mut |name, p| {
        let g = grads
            .get(p)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        assert_eq!(g.shape(), p.shape(), "{name}");
        analytic.push((name.to_string(), g.to_vec_f64()));
    });
    for (k, (name, a)) in analytic.iter().enumerate() {
        for j in 0..a.len() {
            let mut at_shift = |d: f64| {
                let mut i = 0;
                m.visit_params_mut("", &mut |_, p| {
                    if i == k {
                        let mut v = p.value().to_vec_f64();
                        v[j] += d;
                        *p.value_mut() = Tensor::from_vec(v, p.shape());
                    }
                    i += 1;
                });
                let l = loss(m);
                let mut i = 0;
                m.visit_params_mut("", &mut |_, p| {
                    if i == k {
                        let mut v = p.value().to_vec_f64();
                        v[j] -= d;
                        *p.value_mut() = Tensor::from_vec(v, p.shape());
                    }
                    i += 1;
                });
                l
            };
            let numeric = (at_shift(cfg.eps) - at_shift(-cfg.eps)) / (2.0 * cfg.eps);
            let tol = cfg.atol + cfg.rtol * numeric.abs();
            assert!(
                (a[j] - numeric).abs() <= tol,
                "{name}[{j}]: analytic {} vs numeric {numeric}",
                a[j]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Conv2d
// ---------------------------------------------------------------------------------------------

#[test]
fn conv2d_forward_matches_a_naive_loop() {
    let cases = [
        // (in, out, kernel, config, input shape)
        (3, 4, [3, 3], Conv2dConfig::default(), [2, 3, 6, 5]),
        (
            4,
            6,
            [3, 2],
            Conv2dConfig {
                stride: [2, 1],
                padding: [1, 2],
                dilation: [1, 2],
                groups: 2,
                bias: true,
            },
            [2, 4, 7, 6],
        ),
        // Depthwise, no bias.
        (
            3,
            3,
            [3, 3],
            Conv2dConfig::default().padding(1).groups(3).bias(false),
            [1, 3, 4, 4],
        ),
        // Size-1 everything.
        (1, 1, [1, 1], Conv2dConfig::default(), [1, 1, 1, 1]),
    ];
    for (k, (cin, cout, kernel, config, xs)) in cases.into_iter().enumerate() {
        let conv =
            Conv2d::with_config(cin, cout, kernel, config, &Seeds::new(1).stream("c")).unwrap();
        assert_eq!(
            (conv.in_channels(), conv.out_channels(), conv.kernel_size()),
            (cin, cout, kernel)
        );
        let x = data(&xs, &format!("x{k}"));
        let ws = conv.weight.shape();
        let b = conv.bias.as_ref().map(|b| b.value().to_vec_f64());
        let (want, shape) = naive_conv(
            &x.to_vec_f64(),
            xs,
            &conv.weight.value().to_vec_f64(),
            [ws[0], ws[1], ws[2], ws[3]],
            b.as_deref(),
            config.stride,
            config.padding,
            config.dilation,
            config.groups,
        );
        assert_close(&run(&conv, &x), &want, &shape, 1e-5);
    }
}

#[test]
fn conv2d_names_and_bias_follow_pytorch() {
    let s = Seeds::new(0);
    let conv = Conv2d::new(3, 8, 5, &s.stream("c"));
    let names: Vec<String> = conv.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
    assert_eq!(conv.weight.shape(), [8, 3, 5, 5]);
    assert_eq!(conv.num_parameters(), 8 * 3 * 25 + 8);
    let p = conv.conv_params();
    assert_eq!(
        (p.stride, p.padding, p.dilation, p.groups),
        ([1, 1], [0, 0], [1, 1], 1)
    );
    let grouped = Conv2d::with_config(
        6,
        4,
        [3, 3],
        Conv2dConfig::default().groups(2).bias(false),
        &s.stream("g"),
    )
    .unwrap();
    assert_eq!(grouped.weight.shape(), [4, 3, 3, 3]);
    assert!(grouped.bias.is_none());
    assert_eq!(grouped.named_params().len(), 1);
    // In a Sequential: "<index>.weight" as a PyTorch state_dict.
    let m = Sequential::new()
        .push(ReLU)
        .push(Conv2d::new(1, 2, 3, &s.stream("1")));
    let names: Vec<String> = m.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["1.weight", "1.bias"]);
}

/// PyTorch's default: weight and bias uniform in `±1/sqrt(fan_in)`, `fan_in = in/groups*kh*kw`;
/// seeded: the same stream gives the same layer.
#[test]
fn conv2d_init_is_pytorchs_default() {
    let s = Seeds::new(5);
    // fan_in = 16 / 4 * 3 * 3 = 36: bound 1/6.
    let conv = Conv2d::with_config(
        16,
        64,
        [3, 3],
        Conv2dConfig::default().groups(4),
        &s.stream("c"),
    )
    .unwrap();
    let bound = 1.0 / 6.0;
    let w = conv.weight.value().to_vec_f64();
    let b = conv.bias.as_ref().unwrap().value().to_vec_f64();
    assert_eq!(w.len(), 64 * 4 * 9);
    for v in w.iter().chain(&b) {
        assert!(v.abs() <= bound, "{v} outside ±{bound}");
    }
    let max = w.iter().fold(0f64, |m, v| m.max(v.abs()));
    assert!(max > 0.98 * bound, "max |w| = {max}: the bound is reached");
    // U(-b, b): mean 0, variance b^2 / 3 (2304 draws: standard error of the mean ~0.0020).
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / w.len() as f64;
    assert!(mean.abs() < 0.01, "mean {mean}");
    assert!(
        (var / (bound * bound / 3.0) - 1.0).abs() < 0.08,
        "variance {var} vs {}",
        bound * bound / 3.0
    );
    // The bias draws its own numbers, after the weight.
    assert!(b.iter().any(|v| v.abs() > bound / 4.0));
    let again = Conv2d::with_config(
        16,
        64,
        [3, 3],
        Conv2dConfig::default().groups(4),
        &s.stream("c"),
    )
    .unwrap();
    assert_eq!(again.weight.value().to_vec_f64(), w);
    let other = Conv2d::new(16, 64, 3, &s.stream("d"));
    assert_ne!(other.weight.value().to_vec_f64()[..8], w[..8]);
}

#[test]
fn conv2d_gradients_through_the_module() {
    let s = Seeds::new(2);
    // Grouped, with bias, stride and padding: input, weight and bias.
    let mut conv = Conv2d::with_config(
        4,
        6,
        [3, 2],
        Conv2dConfig::default().stride(2).padding(1).groups(2),
        &s.stream("c"),
    )
    .unwrap();
    check_module_gradients(&mut conv, &data(&[2, 4, 5, 4], "x"));
    // Depthwise with dilation, no bias.
    let mut dw = Conv2d::with_config(
        3,
        3,
        [2, 2],
        Conv2dConfig::default().dilation(2).groups(3).bias(false),
        &s.stream("d"),
    )
    .unwrap();
    check_module_gradients(&mut dw, &data(&[1, 3, 4, 5], "y"));
}

#[test]
fn conv2d_errors_name_the_layer_and_shapes() {
    let conv = Conv2d::with_config(
        4,
        6,
        [3, 3],
        Conv2dConfig::default().groups(2),
        &Seeds::new(0).stream("c"),
    )
    .unwrap();
    let tape = Tape::new();
    let wrong_c = conv
        .forward(&tape.constant(Tensor::zeros([2, 3, 5, 5])), &Ctx::eval())
        .unwrap_err();
    assert!(matches!(wrong_c, Error::ShapeMismatch { op: "Conv2d", .. }));
    assert_eq!(
        wrong_c.to_string(),
        "Conv2d: [2, 3, 5, 5] and [6, 2, 3, 3] do not fit: the input must be 4-D (n, c, h, w) \
         with c = in_channels = 4"
    );
    let three_d = conv
        .forward(&tape.constant(Tensor::zeros([4, 5, 5])), &Ctx::eval())
        .unwrap_err();
    assert_eq!(
        three_d.to_string(),
        "Conv2d: [4, 5, 5] and [6, 2, 3, 3] do not fit: the input must be 4-D (n, c, h, w) with \
         c = in_channels = 4"
    );
    // A kernel larger than the padded input: the op's own message.
    let small = conv
        .forward(&tape.constant(Tensor::zeros([1, 4, 2, 2])), &Ctx::eval())
        .unwrap_err();
    assert!(
        small.to_string().starts_with("conv2d: kernel 3x3"),
        "{small}"
    );
    let e = Conv2d::with_config(
        6,
        4,
        [3, 3],
        Conv2dConfig::default().groups(4),
        &Seeds::new(0).stream("c"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Conv2d: in_channels (6) and out_channels (4) must both be divisible by groups (4)"
    );
    let e = Conv2d::with_config(
        2,
        2,
        [0, 3],
        Conv2dConfig::default(),
        &Seeds::new(0).stream("c"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Conv2d: kernel_size [0, 3], stride [1, 1] and dilation [1, 1] must be positive"
    );
    assert!(
        Conv2d::with_config(
            2,
            2,
            [1, 1],
            Conv2dConfig::default().groups(0),
            &Seeds::new(0).stream("c")
        )
        .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------------------------

#[test]
fn max_pool2d_forward_matches_a_naive_loop() {
    let x = data(&[2, 3, 7, 6], "p");
    let max = |v: &[f64], _: usize| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for pool in [
        MaxPool2d::new(2),
        MaxPool2d::new(3).stride(2).padding(1),
        MaxPool2d::new(2).stride(1).dilation(2),
        MaxPool2d {
            params: Pool2dParams {
                kernel: [3, 1],
                stride: [2, 1],
                ..Pool2dParams::new(1)
            },
        },
    ] {
        let (want, shape) = naive_pool(&x, &pool.params, max);
        assert_close(&run(&pool, &x), &want, &shape, 0.0);
    }
    // The stride defaults to the window, as PyTorch's stride=None.
    assert_eq!(MaxPool2d::new(3).params.stride, [3, 3]);
}

#[test]
fn avg_pool2d_forward_matches_a_naive_loop() {
    let x = data(&[2, 2, 6, 7], "a");
    for (pool, include) in [
        (AvgPool2d::new(2), true),
        (AvgPool2d::new(3).stride(2).padding(1), true),
        (
            AvgPool2d::new(3)
                .stride(2)
                .padding(1)
                .count_include_pad(false),
            false,
        ),
    ] {
        let (want, shape) = naive_pool(&x, &pool.params, |v, full| {
            v.iter().sum::<f64>() / if include { full } else { v.len() } as f64
        });
        assert_close(&run(&pool, &x), &want, &shape, 1e-6);
    }
}

/// Bins `[floor(i h / oh), ceil((i + 1) h / oh))`, in real arithmetic; sizes that divide and
/// that do not, and outputs larger than the input.
#[test]
fn adaptive_avg_pool2d_forward_matches_a_naive_loop() {
    let x = data(&[2, 3, 7, 5], "ad");
    let (s, v) = ([2, 3, 7, 5], x.to_vec_f64());
    for out in [[1, 1], [7, 5], [3, 2], [4, 4], [9, 6], [2, 5]] {
        let bin = |i: usize, len: usize, o: usize| {
            let a = (i as f64 * len as f64 / o as f64).floor() as usize;
            let b = ((i + 1) as f64 * len as f64 / o as f64).ceil() as usize;
            a..b
        };
        let mut want = vec![];
        for n in 0..2 {
            for c in 0..3 {
                for oy in 0..out[0] {
                    for ox in 0..out[1] {
                        let (mut sum, mut cnt) = (0.0, 0.0);
                        for y in bin(oy, 7, out[0]) {
                            for xx in bin(ox, 5, out[1]) {
                                sum += at(&v, &s, &[n, c, y, xx]);
                                cnt += 1.0;
                            }
                        }
                        want.push(sum / cnt);
                    }
                }
            }
        }
        let pool = AdaptiveAvgPool2d::new(out);
        assert_close(&run(&pool, &x), &want, &[2, 3, out[0], out[1]], 1e-6);
    }
}

#[test]
fn pooling_gradients_through_the_modules() {
    // Distinct values a grid step apart: each max-pooling window has one maximum.
    let n = 2 * 2 * 5 * 6;
    let distinct: Vec<f64> = (0..n).map(|k| ((k * 37) % n) as f64 * 0.05 - 3.0).collect();
    let x = Tensor::from_vec(distinct, [2, 2, 5, 6]);
    check_module_gradients(&mut MaxPool2d::new(2), &x);
    check_module_gradients(&mut MaxPool2d::new(3).stride(2).padding(1), &x);
    let x = data(&[2, 2, 5, 6], "g");
    check_module_gradients(&mut AvgPool2d::new(3).stride(2).padding(1), &x);
    check_module_gradients(
        &mut AvgPool2d::new(2).stride(1).count_include_pad(false),
        &x,
    );
    check_module_gradients(&mut AdaptiveAvgPool2d::new([3, 4]), &x);
    check_module_gradients(&mut AdaptiveAvgPool2d::new([1, 1]), &x);
    check_module_gradients(&mut AdaptiveAvgPool2d::new([7, 2]), &x);
}

#[test]
fn pooling_errors_name_the_layer() {
    let tape = Tape::new();
    let flat = tape.constant(Tensor::zeros([4, 4]));
    for (m, name) in [
        (&MaxPool2d::new(2) as &dyn Module, "MaxPool2d"),
        (&AvgPool2d::new(2), "AvgPool2d"),
        (&AdaptiveAvgPool2d::new([1, 1]), "AdaptiveAvgPool2d"),
    ] {
        let e = m.forward(&flat, &Ctx::eval()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{name}: needs a 4-D input (n, c, h, w), got shape [4, 4]")
        );
    }
    let x = tape.constant(Tensor::zeros([1, 1, 2, 2]));
    let e = MaxPool2d::new(3).forward(&x, &Ctx::eval()).unwrap_err();
    assert!(
        e.to_string().starts_with("max_pool2d: window [3, 3]"),
        "{e}"
    );
    let e = AdaptiveAvgPool2d::new([0, 2])
        .forward(&x, &Ctx::eval())
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("adaptive_avg_pool2d: output size [0, 2]"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// A small CNN
// ---------------------------------------------------------------------------------------------

fn cnn(seed: u64) -> Sequential {
    let s = Seeds::new(seed);
    Sequential::new()
        .push(
            Conv2d::with_config(
                1,
                4,
                [3, 3],
                Conv2dConfig::default().padding(1),
                &s.stream("0"),
            )
            .unwrap(),
        )
        .push(ReLU)
        .push(MaxPool2d::new(2))
        .push(
            Conv2d::with_config(
                4,
                8,
                [3, 3],
                Conv2dConfig::default().groups(2),
                &s.stream("3"),
            )
            .unwrap(),
        )
        .push(AdaptiveAvgPool2d::new([1, 1]))
        .push(Flatten)
        .push(Linear::new(8, 3, true, &s.stream("6")))
}

#[test]
fn a_small_cnn_has_pytorch_names_a_summary_and_trains() {
    let mut m = cnn(0);
    let names: Vec<String> = m.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"
        ]
    );
    let summary = m.summary(&[2, 1, 8, 8]).unwrap();
    let rows: Vec<(&str, &[usize], usize)> = summary
        .rows
        .iter()
        .map(|r| (r.layer.as_str(), &r.output_shape[..], r.params))
        .collect();
    assert_eq!(
        rows,
        [
            ("Conv2d-1", &[2, 4, 8, 8][..], 4 * 9 + 4),
            ("ReLU-2", &[2, 4, 8, 8][..], 0),
            ("MaxPool2d-3", &[2, 4, 4, 4][..], 0),
            ("Conv2d-4", &[2, 8, 2, 2][..], 8 * 2 * 9 + 8),
            ("AdaptiveAvgPool2d-5", &[2, 8, 1, 1][..], 0),
            ("Flatten-6", &[2, 8][..], 0),
            ("Linear-7", &[2, 3][..], 8 * 3 + 3),
        ]
    );
    // A few SGD steps on two fixed images lower the loss.
    let x = data(&[2, 1, 8, 8], "img");
    let labels = IntTensor::from(&[0usize, 2][..]);
    let mut opt = Sgd::new(0.1).unwrap();
    let loss_at = |m: &Sequential| {
        let tape = Tape::new();
        m.forward(&tape.constant(&x), &Ctx::eval())
            .unwrap()
            .cross_entropy(&labels)
            .value()
            .item()
    };
    let before = loss_at(&m);
    for step in 0..30 {
        let tape = Tape::new();
        let loss = m
            .forward(&tape.constant(&x), &Ctx::train(0, 0, step))
            .unwrap()
            .cross_entropy(&labels);
        opt.step(&mut m, &loss.backward()).unwrap();
    }
    let after = loss_at(&m);
    assert!(after < 0.8 * before, "loss {before} -> {after}");
}

/// The whole CNN's gradients, every parameter and the input, through the modules.
#[test]
fn a_small_cnn_passes_the_module_gradient_check() {
    let mut m = cnn(1);
    // Away from ReLU's kink and max ties: the check straddles no corner for these values (a
    // finite difference of 1e-6 would need an input within 1e-6 of one).
    check_module_gradients(&mut m, &data(&[1, 1, 6, 6], "cnn"));
}

#[test]
fn conv_layers_are_send_and_sync_and_keep_no_state() {
    fn check<T: Send + Sync + Clone + PartialEq + std::fmt::Debug>(t: T) {
        assert_eq!(t.clone(), t);
    }
    check(MaxPool2d::new(2));
    check(AvgPool2d::new(2));
    check(AdaptiveAvgPool2d::new([1, 1]));
    check(Conv2dConfig::default());
    let conv = Conv2d::new(1, 1, 1, &Seeds::new(0).stream("s"));
    let _: &(dyn Module + Send + Sync) = &conv;
    assert!(conv.named_buffers().is_empty());
    let p: &Param = &conv.weight;
    assert!(p.requires_grad());
}

/// A `Conv2d, ReLU, MaxPool2d(2)` block; with `nested`, the ReLU inside its own `Sequential`,
/// which keeps `Sequential` from fusing the three.
fn block(c_in: usize, nested: bool) -> Sequential {
    let s = Seeds::new(3);
    let conv = Conv2d::with_config(
        c_in,
        9,
        [3, 3],
        Conv2dConfig::default().padding(1),
        &s.stream("0"),
    )
    .unwrap();
    let m = Sequential::new().push(conv);
    let m = if nested {
        m.push(Sequential::new().push(ReLU))
    } else {
        m.push(ReLU)
    };
    m.push(MaxPool2d::new(2)).push(Flatten)
}

/// The output, the input's gradient and every parameter's gradient of a training forward, as
/// bits, and the number of ops on the tape.
fn block_run(m: &Sequential, x: &Tensor) -> (Vec<Vec<u64>>, usize) {
    let tape = Tape::new();
    let xv = tape.var(x);
    let y = m.forward(&xv, &Ctx::train(0, 0, 0)).unwrap();
    let ops = tape.len();
    // Distinct weights, so that each gradient element is distinct.
    let weights = tape.constant(data(y.shape(), "weights"));
    let grads = (&y * &weights).sum_all().backward();
    let bits = |t: &Tensor| t.to_vec_f64().into_iter().map(f64::to_bits).collect();
    let mut out = vec![bits(y.value()), bits(grads.wrt(&xv).unwrap())];
    for (_, p) in m.named_params() {
        out.push(bits(grads.get(p).unwrap()));
    }
    (out, ops)
}

#[test]
fn sequential_fuses_conv_relu_max_pool_with_the_same_bits() {
    // 8 input channels: the convolution takes the Winograd path, and the block is one op; odd
    // sizes drop the pool's last row.
    let x = data(&[2, 8, 7, 6], "block");
    let (fused, fused_ops) = block_run(&block(8, false), &x);
    let (apart, apart_ops) = block_run(&block(8, true), &x);
    assert_eq!(fused, apart);
    if std::env::var("DESCENT_CONV").is_ok_and(|v| v == "im2col") {
        assert_eq!(fused_ops, apart_ops);
    } else {
        assert_eq!(fused_ops + 2, apart_ops, "the three layers are one op");
    }
    // 4 input channels: no Winograd path, three ops either way.
    let x = data(&[2, 4, 7, 6], "block");
    let (fused, fused_ops) = block_run(&block(4, false), &x);
    let (apart, apart_ops) = block_run(&block(4, true), &x);
    assert_eq!((fused, fused_ops), (apart, apart_ops));
    // The summary still lists the three layers.
    let rows: Vec<String> = block(8, false)
        .summary(&[2, 8, 7, 6])
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.layer)
        .collect();
    assert_eq!(rows, ["Conv2d-1", "ReLU-2", "MaxPool2d-3", "Flatten-4"]);
}
