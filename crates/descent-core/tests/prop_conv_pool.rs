//! `conv2d` with random stride / padding / dilation (per axis), `max_pool2d`,
//! `max_pool2d_with_indices` and `avg_pool2d` (both `count_include_pad` settings) against
//! nested-loop `f64` references, on contiguous and non-contiguous inputs, f32 and f64.

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

#[derive(Clone, Debug)]
struct ConvCase {
    x: Input,
    w: Input,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    (
        prop_oneof![1 => Just(0usize), 4 => 1usize..=2],
        1usize..=3,
        pair2(1, 7),
        1usize..=3,
        pair2(1, 3),
        pair2(1, 3),
        pair2(0, 2),
        pair2(1, 2),
    )
        .prop_filter(
            "kernel fits the padded input",
            |(_, _, hw, _, k, _, p, d)| (0..2).all(|a| span(k[a], d[a]) <= hw[a] + 2 * p[a]),
        )
        .prop_flat_map(|(n, c, hw, co, k, stride, padding, dilation)| {
            (
                input_of(vec![n, c, hw[0], hw[1]], -2.0, 2.0),
                input_of(vec![co, c, k[0], k[1]], -2.0, 2.0),
            )
                .prop_map(move |(x, w)| ConvCase {
                    x,
                    w,
                    stride,
                    padding,
                    dilation,
                })
        })
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
    #[test]
    fn prop_conv2d_matches_reference(c in conv_case()) {
        let want = conv2d_ref(&c.x.arr, &c.w.arr, c.stride, c.padding, c.dilation);
        let scale = conv2d_ref(&c.x.arr.map(f64::abs), &c.w.arr.map(f64::abs), c.stride, c.padding, c.dilation);
        let params = Conv2dParams { stride: c.stride, padding: c.padding, dilation: c.dilation };
        for dt in DTYPES {
            let got = c.x.tensor(dt).conv2d(&c.w.tensor(dt), params);
            let (rtol, atol) = sum_tol(dt);
            assert_close_scaled("conv2d", &got, &want, &scale, dt, rtol, atol);
        }
    }

    /// Conv2d with a 1x1 kernel is a matmul over channels (a cross-check of two ops).
    #[test]
    fn prop_conv2d_1x1_is_channel_matmul(x in shape_nonzero(4, 4).prop_flat_map(|s| input_of(s, -2.0, 2.0)), co in 1usize..=3) {
        let c = x.arr.shape[1];
        let w = Arr::from_fn(&[co, c, 1, 1], |i| (i[0] * 3 + i[1]) as f64 * 0.25 - 1.0);
        for dt in DTYPES {
            let got = x.tensor(dt).conv2d(&w.tensor(dt), Conv2dParams::default());
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
