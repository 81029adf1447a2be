//! `conv2d` with random stride / padding / dilation (per axis), groups (depthwise included) and
//! an optional bias, `max_pool2d`,
//! `max_pool2d_with_indices` and `avg_pool2d` (both `count_include_pad` settings) against
//! nested-loop `f64` references, on contiguous and non-contiguous inputs, f32 and f64; and
//! `adaptive_avg_pool2d` with output sizes that do and do not divide the input's.

mod common;

use common::*;
use descent_core::{Conv2dParams, Pool2dParams, Tensor};
use proptest::prelude::*;

fn pair2(lo: usize, hi: usize) -> impl Strategy<Value = [usize; 2]> {
    (lo..=hi, lo..=hi).prop_map(|(a, b)| [a, b])
}

fn span(k: usize, d: usize) -> usize {
    d * (k - 1) + 1
}

/// Cases per conv property: `PROPTEST_CASES`, 32 when unset (each case runs both dtypes).
fn conv_config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[derive(Clone, Debug)]
struct ConvCase {
    x: Input,
    w: Input,
    b: Option<Input>,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

impl ConvCase {
    fn params(&self) -> Conv2dParams {
        Conv2dParams {
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
        }
    }
}

/// Batch 0-2, groups 1-3 with 1-3 input and output channels per group (one per group is
/// depthwise), sizes 1-7, kernel 1-3, stride 1-3, padding 0-2, dilation 1-2, a bias half the
/// time; every operand in a random, often non-contiguous layout.
fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        (
            prop_oneof![1 => Just(0usize), 4 => 1usize..=2],
            prop_oneof![2 => Just(1usize), 1 => 2usize..=3],
            1usize..=3,
            1usize..=3,
        ),
        pair2(1, 7),
        pair2(1, 3),
        pair2(1, 3),
        pair2(0, 2),
        pair2(1, 2),
        any::<bool>(),
    )
        .prop_filter("kernel fits the padded input", |(_, hw, k, _, p, d, _)| {
            (0..2).all(|a| span(k[a], d[a]) <= hw[a] + 2 * p[a])
        })
        .prop_flat_map(
            |((n, groups, cig, cog), hw, k, stride, padding, dilation, bias)| {
                let (c, co) = (cig * groups, cog * groups);
                (
                    input_of(vec![n, c, hw[0], hw[1]], -2.0, 2.0),
                    input_of(vec![co, cig, k[0], k[1]], -2.0, 2.0),
                    if bias {
                        input_of(vec![co], -2.0, 2.0).prop_map(Some).boxed()
                    } else {
                        Just(None).boxed()
                    },
                )
                    .prop_map(move |(x, w, b)| ConvCase {
                        x,
                        w,
                        b,
                        stride,
                        padding,
                        dilation,
                        groups,
                    })
            },
        )
}

#[derive(Clone, Debug)]
struct PoolCase {
    x: Input,
    p: PoolRef,
}

/// A pooling whose window fits the padded input (with dilation, a window may lie entirely in the
/// padding).
fn pool_case(allow_dilation: bool) -> impl Strategy<Value = PoolCase> {
    let dil = if allow_dilation { 2 } else { 1 };
    (
        prop_oneof![1 => Just(0usize), 4 => 1usize..=2],
        prop_oneof![1 => Just(0usize), 4 => 1usize..=3],
        pair2(1, 7),
        pair2(1, 3),
        pair2(1, 3),
        pair2(1, dil),
        pair2(0, 1),
    )
        .prop_map(|(n, c, hw, kernel, stride, dilation, pad)| {
            // Padding at most half the window.
            let padding = [pad[0].min(kernel[0] / 2), pad[1].min(kernel[1] / 2)];
            (
                n,
                c,
                hw,
                PoolRef {
                    kernel,
                    stride,
                    padding,
                    dilation,
                },
            )
        })
        .prop_filter("window fits", |(_, _, hw, p)| {
            (0..2).all(|a| span(p.kernel[a], p.dilation[a]) <= hw[a] + 2 * p.padding[a])
        })
        .prop_flat_map(|(n, c, hw, p)| {
            input_of(vec![n, c, hw[0], hw[1]], -2.0, 2.0).prop_map(move |x| PoolCase { x, p })
        })
}

fn params(p: &PoolRef, count_include_pad: bool) -> Pool2dParams {
    Pool2dParams {
        kernel: p.kernel,
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
        count_include_pad,
    }
}

proptest! {
    #![proptest_config(conv_config())]

    #[test]
    fn prop_conv2d_matches_reference(c in conv_case()) {
        let b = c.b.as_ref().map(|b| &b.arr);
        let want = conv2d_ref(&c.x.arr, &c.w.arr, b, c.stride, c.padding, c.dilation, c.groups);
        let abs_b = b.map(|b| b.map(f64::abs));
        let scale = conv2d_ref(
            &c.x.arr.map(f64::abs), &c.w.arr.map(f64::abs), abs_b.as_ref(),
            c.stride, c.padding, c.dilation, c.groups,
        );
        for dt in DTYPES {
            let bias = c.b.as_ref().map(|b| b.tensor(dt));
            let got = c.x.tensor(dt).conv2d(&c.w.tensor(dt), bias.as_ref(), c.params());
            let (rtol, atol) = sum_tol(dt);
            assert_close_scaled("conv2d", &got, &want, &scale, dt, rtol, atol);
        }
    }

    /// A grouped conv is the concatenation over channels of the ungrouped convs of its groups
    /// (a cross-check of two ops, independent of the reference).
    #[test]
    fn prop_conv2d_groups_are_independent_convs(c in conv_case()) {
        let g = c.groups;
        let (cig, cog) = (c.w.arr.shape[1], c.w.arr.shape[0] / g);
        for dt in DTYPES {
            let (x, w) = (c.x.tensor(dt), c.w.tensor(dt));
            let bias = c.b.as_ref().map(|b| b.tensor(dt));
            let got = x.conv2d(&w, bias.as_ref(), c.params());
            let parts: Vec<Tensor> = (0..g)
                .map(|k| {
                    let bk = bias.as_ref().map(|b| b.narrow(0, k * cog, cog));
                    x.narrow(1, k * cig, cig).conv2d(
                        &w.narrow(0, k * cog, cog),
                        bk.as_ref(),
                        Conv2dParams { groups: 1, ..c.params() },
                    )
                })
                .collect();
            let parts: Vec<&Tensor> = parts.iter().collect();
            let want = Tensor::concat(&parts, 1);
            let want = Arr::new(want.shape(), want.to_vec_f64());
            let (rtol, atol) = sum_tol(dt);
            assert_close("conv2d by groups", &got, &want, dt, rtol, atol);
        }
    }

    /// Conv2d with a 1x1 kernel is a matmul over channels (a cross-check of two ops).
    #[test]
    fn prop_conv2d_1x1_is_channel_matmul(x in shape_nonzero(4, 4).prop_flat_map(|s| input_of(s, -2.0, 2.0)), co in 1usize..=3) {
        let c = x.arr.shape[1];
        let w = Arr::from_fn(&[co, c, 1, 1], |i| (i[0] * 3 + i[1]) as f64 * 0.25 - 1.0);
        for dt in DTYPES {
            let got = x.tensor(dt).conv2d(&w.tensor(dt), None, Conv2dParams::default());
            let w2 = w.tensor(dt).reshape([co, c]);
            let via_matmul = w2.matmul(&x.tensor(dt).transpose(0, 1).reshape([c as isize, -1]))
                .reshape([co, x.arr.shape[0], x.arr.shape[2], x.arr.shape[3]])
                .transpose(0, 1);
            let stored = Arr::new(got.shape(), via_matmul.to_vec_f64());
            let (rtol, atol) = sum_tol(dt);
            assert_close("conv2d 1x1", &got, &stored, dt, rtol, atol);
        }
    }

    #[test]
    fn prop_max_pool2d_matches_reference(c in pool_case(true)) {
        let [h, w] = [c.x.arr.shape[2], c.x.arr.shape[3]];
        let (oh, ow) = c.p.out_hw(h, w);
        if (0..oh).any(|y| (0..ow).any(|x| c.p.window(y, x, h, w).is_empty())) {
            // No maximum exists for such a window: refused.
            for dt in DTYPES {
                prop_assert!(c.x.tensor(dt).try_max_pool2d_with_indices(params(&c.p, true)).is_err());
            }
            return Ok(());
        }
        let (want, want_idx) = max_pool_ref(&c.x.arr, &c.p);
        for dt in DTYPES {
            let t = c.x.tensor(dt);
            assert_exact("max_pool2d", &t.max_pool2d(params(&c.p, true)), &want, dt);
            let (vals, idx) = t.max_pool2d_with_indices(params(&c.p, true));
            assert_exact("max_pool2d_with_indices values", &vals, &want, dt);
            assert_exact("max_pool2d_with_indices indices", &idx.to_dtype(dt), &want_idx, dt);
        }
    }

    /// Bins from real-number floor and ceil, as PyTorch defines them.
    #[test]
    fn prop_adaptive_avg_pool2d_matches_reference(
        x in (prop_oneof![1 => Just(0usize), 4 => 1usize..=2], 1usize..=3, pair2(1, 9))
            .prop_flat_map(|(n, c, hw)| input_of(vec![n, c, hw[0], hw[1]], -2.0, 2.0)),
        out in pair2(1, 10),
    ) {
        let [h, w] = [x.arr.shape[2], x.arr.shape[3]];
        let bin = |i: usize, len: usize, out: usize| {
            let start = (i as f64 * len as f64 / out as f64).floor() as usize;
            let end = ((i + 1) as f64 * len as f64 / out as f64).ceil() as usize;
            start..end
        };
        let want = Arr::from_fn(&[x.arr.shape[0], x.arr.shape[1], out[0], out[1]], |o| {
            let (mut s, mut cnt) = (0.0, 0.0);
            for y in bin(o[2], h, out[0]) {
                for xx in bin(o[3], w, out[1]) {
                    s += x.arr.at(&[o[0], o[1], y, xx]);
                    cnt += 1.0;
                }
            }
            s / cnt
        });
        for dt in DTYPES {
            let got = x.tensor(dt).adaptive_avg_pool2d(out);
            let (rtol, atol) = tol(dt);
            assert_close("adaptive_avg_pool2d", &got, &want, dt, rtol, atol);
        }
    }

    #[test]
    fn prop_avg_pool2d_matches_reference(c in pool_case(false), include_pad in any::<bool>()) {
        let want = avg_pool_ref(&c.x.arr, &c.p, include_pad);
        for dt in DTYPES {
            let got = c.x.tensor(dt).avg_pool2d(params(&c.p, include_pad));
            let (rtol, atol) = tol(dt);
            assert_close("avg_pool2d", &got, &want, dt, rtol, atol);
        }
    }
}

/// A pooling window that lies entirely in the padding (possible only with dilation) has no
/// maximum and no argmax: the op refuses the geometry instead of returning `-inf` with an
/// out-of-range index.
#[test]
fn max_pool2d_refuses_a_window_entirely_in_the_padding() {
    // h = w = 2, kernel 2, padding 1, dilation 3: the one window reads rows/cols -1 and 2 only.
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 2, 2]);
    let p = Pool2dParams::new(2).stride(1).padding(1).dilation(3);
    let e = x.try_max_pool2d_with_indices(p).unwrap_err().to_string();
    assert!(e.starts_with("max_pool2d: window [2, 2]"), "{e}");
    assert!(e.contains("entirely in the"), "{e}");
    assert!(x.try_max_pool2d(p).is_err());
    // Only one axis affected: still refused.
    let p = Pool2dParams {
        kernel: [2, 1],
        stride: [1, 1],
        padding: [1, 0],
        dilation: [3, 1],
        count_include_pad: true,
    };
    assert!(x.try_max_pool2d(p).is_err());
    // Dilation whose windows all touch the input is fine.
    let p = Pool2dParams::new(2).stride(1).padding(1).dilation(2);
    let (v, i) = x.max_pool2d_with_indices(p);
    assert_eq!(v.shape(), &[1, 1, 2, 2]);
    assert!(i.to_vec().iter().all(|&k| (0..4).contains(&k)));
}

/// A channels-last input (stored NHWC, seen NCHW through `permute`: no contiguous layout) and a
/// depthwise weight stored transposed, with a strided bias view: the same result as the reference
/// on the logical values.
#[test]
fn conv2d_reads_channels_last_and_strided_operands() {
    let (n, c, h, w) = (2, 4, 5, 3);
    let x = Arr::from_fn(&[n, c, h, w], |i| {
        ((i[0] * 7 + i[1] * 5 + i[2] * 3 + i[3]) % 11) as f64 * 0.25 - 1.0
    });
    let wt = Arr::from_fn(&[c, 1, 3, 2], |i| {
        (i[0] * 6 + i[2] * 2 + i[3]) as f64 * 0.125 - 1.0
    });
    let b = Arr::from_fn(&[c], |i| i[0] as f64 - 1.5);
    let want = conv2d_ref(&x, &wt, Some(&b), [2, 1], [1, 1], [1, 2], c);
    for dt in DTYPES {
        let xt = permute_ref(&x, &[0, 2, 3, 1])
            .tensor(dt)
            .permute(&[0, 3, 1, 2]);
        assert!(!xt.is_contiguous());
        let wtt = permute_ref(&wt, &[3, 2, 1, 0])
            .tensor(dt)
            .permute(&[3, 2, 1, 0]);
        // The bias at every other element of a buffer twice as long.
        let bt = Arr::from_fn(
            &[2 * c],
            |i| if i[0] % 2 == 0 { b.data[i[0] / 2] } else { 9.0 },
        )
        .tensor(dt)
        .slice_axis(0, 0, 2 * c, 2);
        let p = Conv2dParams {
            stride: [2, 1],
            padding: [1, 1],
            dilation: [1, 2],
            groups: c,
        };
        let got = xt.conv2d(&wtt, Some(&bt), p);
        let (rtol, atol) = sum_tol(dt);
        assert_close(
            "channels-last depthwise conv2d",
            &got,
            &want,
            dt,
            rtol,
            atol,
        );
    }
}
