//! Gradient checks of every differentiable op on `Var`: the backward rule against central finite
//! differences (`descent_core::gradcheck`, `f64`), on random small shapes with size-1 dims,
//! broadcasting, random axes and parameters, and operands that reach the op through
//! non-contiguous views (permuted, strided, offset, expanded; see `gradcheck_common`).
//!
//! Inputs are kept away from kinks and domain edges (|x| >= 0.1 for abs / relu, no ties for
//! max / min / maximum, positive bases for log / sqrt / pow, clamp bounds away from every input),
//! where the derivative does not exist and a finite difference would straddle it.

mod common;
mod gradcheck_common;

use common::{axis, axis_set, numel};
use descent_core::{Conv2dParams, IntTensor, Pool2dParams, Tensor, Var};
use gradcheck_common::*;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Two operands of broadcastable shapes (each often non-contiguous).
fn binary_case(va: Vals, vb: Vals) -> BoxedStrategy<(Operand, Operand)> {
    broadcast_shapes(2, 36)
        .prop_flat_map(move |s| {
            (
                operand(s[0].clone(), true, va.clone()),
                operand(s[1].clone(), true, vb.clone()),
            )
        })
        .boxed()
}

/// An operand, the reduced axes (normalized, and as passed: shuffled, some negative), keepdim.
type ReduceCase = (Operand, Vec<usize>, Vec<isize>, bool);

fn reduce_case(vals: Vals, allow_expand: bool) -> BoxedStrategy<ReduceCase> {
    small_shape(0, 4, 36)
        .prop_flat_map(move |s| {
            (
                Just(s.clone()),
                operand(s.clone(), allow_expand, vals.clone()),
                axis_set(s.len()),
                any::<bool>(),
            )
        })
        .prop_map(|(_, x, (axes, passed), keep)| (x, axes, passed, keep))
        .boxed()
}

/// How many elements each output of reducing the (logical) operand over `axes` combines.
fn reduced_count(x: &Operand, axes: &[usize]) -> usize {
    let tape = descent_core::Tape::new();
    let v = x.view(&tape.constant(x.tensor()));
    axes.iter().map(|&a| v.shape()[a]).product()
}

/// A matmul dim in `1..=3`, 1 frequent.
fn mdim() -> impl Strategy<Value = usize> + Clone {
    prop_oneof![1 => Just(1usize), 2 => 2usize..=3]
}

fn mm_2d() -> BoxedStrategy<(Vec<usize>, Vec<usize>)> {
    (mdim(), mdim(), mdim())
        .prop_map(|(m, k, n)| (vec![m, k], vec![k, n]))
        .boxed()
}

/// Batched operands whose batch dims broadcast (size 1 or missing on either side).
fn mm_batched() -> BoxedStrategy<(Vec<usize>, Vec<usize>)> {
    (small_shape(1, 2, 4), mdim(), mdim(), mdim())
        .prop_flat_map(|(batch, m, k, n)| {
            (sub_shape(batch.clone()), sub_shape(batch)).prop_map(move |(ba, bb)| {
                let mut a = ba;
                a.extend([m, k]);
                let mut b = bb;
                b.extend([k, n]);
                (a, b)
            })
        })
        .boxed()
}

/// A 1-D operand on the left, the right, or both.
fn mm_vector() -> BoxedStrategy<(Vec<usize>, Vec<usize>)> {
    (small_shape(0, 2, 4), mdim(), mdim(), 0..3usize)
        .prop_map(|(batch, k, mn, which)| {
            let mut mat_l = batch.clone();
            mat_l.extend([mn, k]);
            let mut mat_r = batch;
            mat_r.extend([k, mn]);
            match which {
                0 => (vec![k], vec![k]),
                1 => (vec![k], mat_r),
                _ => (mat_l, vec![k]),
            }
        })
        .boxed()
}

fn matmul_case(
    shapes: BoxedStrategy<(Vec<usize>, Vec<usize>)>,
) -> BoxedStrategy<(Operand, Operand)> {
    shapes
        .prop_flat_map(|(a, b)| {
            (
                operand(a, true, Vals::Uniform(-2.0, 2.0)),
                operand(b, true, Vals::Uniform(-2.0, 2.0)),
            )
        })
        .boxed()
}

fn pair(lo: usize, hi: usize) -> impl Strategy<Value = [usize; 2]> {
    (lo..=hi, lo..=hi).prop_map(|(a, b)| [a, b])
}

/// The extent of a `k`-tap window with dilation `d`.
fn span(k: usize, d: usize) -> usize {
    d * (k - 1) + 1
}

#[derive(Clone, Debug)]
struct ConvCase {
    x_shape: Vec<usize>,
    w_shape: Vec<usize>,
    x: Operand,
    w: Operand,
    /// The `[c_out]` bias, if any.
    b: Option<Operand>,
    params: Conv2dParams,
}

impl ConvCase {
    /// Whether the drawn geometry is valid (the input was grown to fit, so it nearly always is).
    fn fits(&self) -> bool {
        Tensor::zeros(&self.x_shape[..])
            .try_conv2d(&Tensor::zeros(&self.w_shape[..]), None, self.params)
            .is_ok()
    }

    /// Gradient check of `conv2d` in every operand (input, weight, and the bias when present).
    fn check(&self) -> Result<descent_core::GradcheckReport, descent_core::GradcheckFailure> {
        let mut inputs = vec![self.x.tensor(), self.w.tensor()];
        inputs.extend(self.b.as_ref().map(Operand::tensor));
        check(
            |_, v| {
                let b = self.b.as_ref().map(|b| b.view(&v[2]));
                self.x
                    .view(&v[0])
                    .conv2d(&self.w.view(&v[1]), b.as_ref(), self.params)
            },
            &inputs,
        )
    }
}

impl ConvCase {
    /// Gradient check of `conv2d_relu_max_pool2d` in every operand.
    fn check_fused(&self) -> Result<descent_core::GradcheckReport, descent_core::GradcheckFailure> {
        let mut inputs = vec![self.x.tensor(), self.w.tensor()];
        inputs.extend(self.b.as_ref().map(Operand::tensor));
        check(
            |_, v| {
                let b = self.b.as_ref().map(|b| b.view(&v[2]));
                self.x.view(&v[0]).conv2d_relu_max_pool2d(
                    &self.w.view(&v[1]),
                    b.as_ref(),
                    self.params,
                )
            },
            &inputs,
        )
    }
}

/// 3x3, stride 1, 8-9 channels on each side and a conv output of 2-5 pixels a side: the shapes
/// `conv2d_relu_max_pool2d` computes in one Winograd pass (odd sizes drop the pool's last row or
/// column).
fn fused_case() -> BoxedStrategy<ConvCase> {
    (
        1usize..=2,
        8usize..=9,
        8usize..=9,
        pair(2, 5),
        pair(0, 1),
        any::<bool>(),
    )
        .prop_flat_map(|(n, c, co, out, padding, with_bias)| {
            let side = |a: usize| out[a] + 2 - 2 * padding[a];
            let path = descent_kernels::winograd::fuses_relu_max_pool;
            three_by_three([n, c, side(0), side(1)], co, padding, with_bias, path)
        })
        .boxed()
}

/// Operands of a 3x3 convolution with stride and dilation 1 from an `x_shape` input to `co`
/// channels, asserting that its geometry takes the kernels' `path` (unless `DESCENT_CONV=im2col`
/// turns Winograd off).
fn three_by_three(
    x_shape: [usize; 4],
    co: usize,
    padding: [usize; 2],
    with_bias: bool,
    path: impl Fn(&descent_kernels::conv::Conv2dGeometry) -> bool,
) -> BoxedStrategy<ConvCase> {
    let c = x_shape[1];
    let params = Conv2dParams {
        stride: [1, 1],
        padding,
        dilation: [1, 1],
        groups: 1,
    };
    let g = descent_kernels::conv::Conv2dGeometry::new(
        x_shape,
        [co, c, 3, 3],
        (1, 1),
        (padding[0], padding[1]),
        (1, 1),
    )
    .expect("a valid geometry");
    assert!(
        path(&g) || std::env::var("DESCENT_CONV").is_ok_and(|v| v == "im2col"),
        "{g:?} does not take the path under test"
    );
    conv_operands(x_shape.to_vec(), vec![co, c, 3, 3], params, with_bias)
}

/// Random operands of the given shapes (uniform in [-1, 1], possibly through a non-contiguous
/// view), and a `[c_out]` bias when `with_bias`.
fn conv_operands(
    x_shape: Vec<usize>,
    w_shape: Vec<usize>,
    params: Conv2dParams,
    with_bias: bool,
) -> BoxedStrategy<ConvCase> {
    let b = if with_bias {
        operand(vec![w_shape[0]], true, Vals::Uniform(-1.0, 1.0))
            .prop_map(Some)
            .boxed()
    } else {
        Just(None).boxed()
    };
    (
        operand(x_shape.clone(), true, Vals::Uniform(-1.0, 1.0)),
        operand(w_shape.clone(), true, Vals::Uniform(-1.0, 1.0)),
        b,
    )
        .prop_map(move |(x, w, b)| ConvCase {
            x_shape: x_shape.clone(),
            w_shape: w_shape.clone(),
            x,
            w,
            b,
            params,
        })
        .boxed()
}

/// `n <= 2`, 16-17 input and output channels, a 3x3 kernel with stride and dilation 1, padding
/// 0..=2 and an output of 1-4 pixels per side, a bias half the time: the Winograd path of
/// `descent_kernels::conv` for the forward product and the weight gradient (checked).
fn winograd_case() -> BoxedStrategy<ConvCase> {
    (
        1usize..=2,
        16usize..=17,
        16usize..=17,
        pair(1, 4),
        pair(0, 2),
        any::<bool>(),
    )
        .prop_flat_map(|(n, c, co, out, padding, with_bias)| {
            let side = |a: usize| (out[a] + 2).saturating_sub(2 * padding[a]).max(1);
            let path = |g: &descent_kernels::conv::Conv2dGeometry| {
                descent_kernels::winograd::used_for_forward(g)
                    && descent_kernels::winograd::used_for_weight_grad(g)
            };
            three_by_three([n, c, side(0), side(1)], co, padding, with_bias, path)
        })
        .boxed()
}

/// `n <= 2`, `groups` drawn from `groups`, `c_in / groups` and `c_out / groups <= 3` (at most 3
/// channels per group, so `c_in, c_out <= 9`), `h, w <= 7, k <= 3`, stride 1..=2, padding 0..=2,
/// dilation 1..=2 (per axis), a bias half the time (always when `bias`); the input is grown to
/// fit the kernel where the draw would not.
fn conv_case(groups: std::ops::RangeInclusive<usize>, bias: bool) -> BoxedStrategy<ConvCase> {
    (
        (1usize..=2, groups),
        1usize..=3,
        1usize..=3,
        pair(1, 7),
        pair(1, 3),
        pair(1, 2),
        pair(0, 2),
        pair(1, 2),
        any::<bool>(),
    )
        .prop_flat_map(
            move |((n, groups), cig, cog, hw, k, stride, padding, dilation, with_bias)| {
                let hw: Vec<usize> = (0..2)
                    .map(|a| {
                        hw[a]
                            .max(span(k[a], dilation[a]).saturating_sub(2 * padding[a]))
                            .min(7)
                    })
                    .collect();
                let (c, co) = (cig * groups, cog * groups);
                let x_shape = vec![n, c, hw[0], hw[1]];
                let w_shape = vec![co, cig, k[0], k[1]];
                let params = Conv2dParams {
                    stride,
                    padding,
                    dilation,
                    groups,
                };
                conv_operands(x_shape, w_shape, params, bias || with_bias)
            },
        )
        .boxed()
}

#[derive(Clone, Debug)]
struct PoolCase {
    shape: Vec<usize>,
    x: Operand,
    params: Pool2dParams,
}

/// A pooling input (`n <= 2, c <= 3, h, w <= 7`) and a window (kernel 1..=3, stride 1..=3,
/// padding at most half the window, dilation up to `max_dilation`) that fits it.
fn pool_case(max_dilation: usize, vals: Vals, allow_expand: bool) -> BoxedStrategy<PoolCase> {
    (
        1usize..=2,
        1usize..=3,
        pair(1, 7),
        pair(1, 3),
        pair(1, 3),
        pair(0, 1),
        pair(1, max_dilation),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(
            move |(n, c, hw, kernel, stride, pad, dilation, square, include_pad)| {
                let kernel = if square { [kernel[0]; 2] } else { kernel };
                let padding = [pad[0].min(kernel[0] / 2), pad[1].min(kernel[1] / 2)];
                let hw: Vec<usize> = (0..2)
                    .map(|a| hw[a].max(span(kernel[a], dilation[a]).saturating_sub(2 * padding[a])))
                    .collect();
                let params = if square {
                    // The builder: the same window, stride, padding and dilation on both axes.
                    Pool2dParams::new(kernel[0])
                        .stride(stride[0])
                        .padding(padding[0])
                        .dilation(dilation[0])
                        .count_include_pad(include_pad)
                } else {
                    Pool2dParams {
                        kernel,
                        stride,
                        padding,
                        dilation,
                        count_include_pad: include_pad,
                    }
                };
                let shape = vec![n, c, hw[0], hw[1]];
                (
                    Just(shape.clone()),
                    operand(shape, allow_expand, vals.clone()),
                    Just(params),
                )
            },
        )
        .prop_map(|(shape, x, params)| PoolCase { shape, x, params })
        .boxed()
}

/// 2 or 3 operands that differ only along `axis`, and the axis as passed.
fn concat_case() -> BoxedStrategy<(Vec<Operand>, isize)> {
    (
        small_shape(1, 3, 12),
        prop::collection::vec(1usize..=3, 2..=3),
    )
        .prop_flat_map(|(base, sizes)| {
            let r = base.len();
            (Just(base), Just(sizes), axis(r))
        })
        .prop_flat_map(|(base, sizes, (a, passed))| {
            let ops: Vec<_> = sizes
                .iter()
                .map(|&n| {
                    let mut s = base.clone();
                    s[a] = n;
                    operand(s, true, Vals::Uniform(-2.0, 2.0))
                })
                .collect();
            (ops, Just(passed))
        })
        .boxed()
}

/// A target for `reshape` of `shape`: its factors shuffled and regrouped, with 1s inserted and
/// maybe one dim passed as -1.
fn reshape_target(shape: Vec<usize>) -> BoxedStrategy<Vec<isize>> {
    let factors: Vec<usize> = shape
        .iter()
        .flat_map(|&d| if d == 4 { vec![2, 2] } else { vec![d] })
        .filter(|&d| d != 1)
        .collect();
    (
        Just(factors).prop_shuffle(),
        prop::collection::vec(any::<bool>(), 8),
        0usize..=2,
        prop::option::of(0usize..8),
    )
        .prop_map(|(factors, merge, ones, infer)| {
            let mut dims: Vec<isize> = Vec::new();
            for (i, &f) in factors.iter().enumerate() {
                match dims.last_mut() {
                    Some(last) if merge[i] => *last *= f as isize,
                    _ => dims.push(f as isize),
                }
            }
            for j in 0..ones {
                let at = (j * 5 + 1) % (dims.len() + 1);
                dims.insert(at, 1);
            }
            if let Some(j) = infer
                && !dims.is_empty()
            {
                let n = dims.len();
                dims[j % n] = -1;
            }
            dims
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// The harness can fail
// ---------------------------------------------------------------------------------------------

/// A dependence hidden by `detach` (through a strided view) is a wrong gradient the checks see.
#[test]
fn harness_catches_a_hidden_dependence_through_a_view() {
    let x = Operand {
        lays: vec![Lay::Step(1)],
        stored: vec![2, 4],
        data: vec![0.5, 1.0, -1.5, 2.0, 0.25, -0.75, 1.25, -1.8],
    };
    // d/dx sum(x * stop(x)) is x analytically, 2x numerically.
    let e = check1(&x, |v| v.mul(&v.detach()).sum_all()).unwrap_err();
    assert_eq!(e.input, 0);
    // Only the odd columns are read; the worst element is the largest |x| among them.
    assert_eq!(e.index, vec![0, 3]);
    assert!((e.numeric - 4.0).abs() < 1e-6, "{e}");
    assert!((e.analytic - 2.0).abs() < 1e-12, "{e}");
    let ok = check1(&x, |v| v.mul(v).sum_all()).unwrap();
    assert_eq!(ok.elements, 8);
}

// ---------------------------------------------------------------------------------------------
// Unary ops
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gradcheck_neg(x in unary_operand(Vals::Uniform(-2.0, 2.0))) {
        let r = check1(&x, Var::neg);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_abs(x in unary_operand(Vals::Away(-2.0, 2.0, vec![0.0], 0.1))) {
        let r = check1(&x, Var::abs);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_exp(x in unary_operand(Vals::Uniform(-2.0, 2.0))) {
        let r = check1(&x, Var::exp);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_log(x in unary_operand(Vals::Uniform(0.2, 3.0))) {
        let r = check1(&x, Var::log);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_sqrt(x in unary_operand(Vals::Uniform(0.2, 3.0))) {
        let r = check1(&x, Var::sqrt);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_square(x in unary_operand(Vals::Uniform(-2.0, 2.0))) {
        let r = check1(&x, Var::square);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_recip(x in unary_operand(Vals::Signed(0.2, 3.0))) {
        let r = check1(&x, Var::recip);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_tanh(x in unary_operand(Vals::Uniform(-3.0, 3.0))) {
        let r = check1(&x, Var::tanh);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_sigmoid(x in unary_operand(Vals::Uniform(-4.0, 4.0))) {
        let r = check1(&x, Var::sigmoid);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_relu(x in unary_operand(Vals::Away(-2.0, 2.0, vec![0.0], 0.1))) {
        let r = check1(&x, Var::relu);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_leaky_relu(
        x in unary_operand(Vals::Away(-2.0, 2.0, vec![0.0], 0.1)),
        slope in 0.01..0.5f64,
    ) {
        let r = check1(&x, |v| v.leaky_relu(slope));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_gelu(x in unary_operand(Vals::Uniform(-3.0, 3.0))) {
        let r = check1(&x, Var::gelu);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_erf(x in unary_operand(Vals::Uniform(-2.5, 2.5))) {
        let r = check1(&x, Var::erf);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_powf(
        x in unary_operand(Vals::Uniform(0.2, 3.0)),
        p in prop_oneof![-2.5..2.5f64, (-2i32..=3).prop_map(f64::from)],
    ) {
        let r = check1(&x, |v| v.powf(p));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Bounds at least 0.3 apart, every input at least 0.05 from both.
    #[test]
    fn gradcheck_clamp(
        (lo, hi, x) in (-1.5..0.5f64, 0.3..1.5f64).prop_flat_map(|(lo, w)| {
            (Just(lo), Just(lo + w), unary_operand(Vals::Away(-2.5, 2.5, vec![lo, lo + w], 0.05)))
        })
    ) {
        let r = check1(&x, |v| v.clamp(lo, hi));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar forms of the binary ops
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gradcheck_add_scalar(x in unary_operand(Vals::Uniform(-2.0, 2.0)), c in -2.0..2.0f64) {
        let r = check1(&x, |v| v.add_scalar(c));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_sub_scalar(x in unary_operand(Vals::Uniform(-2.0, 2.0)), c in -2.0..2.0f64) {
        let r = check1(&x, |v| v.sub_scalar(c));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_mul_scalar(x in unary_operand(Vals::Uniform(-2.0, 2.0)), c in -2.0..2.0f64) {
        let r = check1(&x, |v| v.mul_scalar(c));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_div_scalar(
        x in unary_operand(Vals::Uniform(-2.0, 2.0)),
        c in (0.5..2.0f64, any::<bool>()).prop_map(|(m, s)| if s { m } else { -m }),
    ) {
        let r = check1(&x, |v| v.div_scalar(c));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_rsub_scalar(x in unary_operand(Vals::Uniform(-2.0, 2.0)), c in -2.0..2.0f64) {
        let r = check1(&x, |v| v.rsub_scalar(c));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_rdiv_scalar(x in unary_operand(Vals::Signed(0.2, 3.0)), c in -2.0..2.0f64) {
        let r = check1(&x, |v| v.rdiv_scalar(c));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_rpow_scalar(x in unary_operand(Vals::Uniform(-2.0, 2.0)), c in 0.3..3.0f64) {
        let r = check1(&x, |v| v.rpow_scalar(c));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_maximum_scalar(
        (c, x) in (-1.5..1.5f64).prop_flat_map(|c| {
            (Just(c), unary_operand(Vals::Away(-2.0, 2.0, vec![c], 0.05)))
        })
    ) {
        let r = check1(&x, |v| v.maximum_scalar(c));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_minimum_scalar(
        (c, x) in (-1.5..1.5f64).prop_flat_map(|c| {
            (Just(c), unary_operand(Vals::Away(-2.0, 2.0, vec![c], 0.05)))
        })
    ) {
        let r = check1(&x, |v| v.minimum_scalar(c));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Binary ops with broadcasting, where_cond
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gradcheck_add((a, b) in binary_case(Vals::Uniform(-2.0, 2.0), Vals::Uniform(-2.0, 2.0))) {
        let r = check2(&a, &b, Var::add);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_sub((a, b) in binary_case(Vals::Uniform(-2.0, 2.0), Vals::Uniform(-2.0, 2.0))) {
        let r = check2(&a, &b, Var::sub);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_mul((a, b) in binary_case(Vals::Uniform(-2.0, 2.0), Vals::Uniform(-2.0, 2.0))) {
        let r = check2(&a, &b, Var::mul);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_div((a, b) in binary_case(Vals::Uniform(-2.0, 2.0), Vals::Signed(0.5, 2.0))) {
        let r = check2(&a, &b, Var::div);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Base in `[0.5, 2]`, exponent in `[-2, 2]`.
    #[test]
    fn gradcheck_pow((a, b) in binary_case(Vals::Uniform(0.5, 2.0), Vals::Uniform(-2.0, 2.0))) {
        let r = check2(&a, &b, Var::pow);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Operands on interleaved grids: every pair broadcasting meets is at least 0.06 apart.
    #[test]
    fn gradcheck_maximum((a, b) in binary_case(Vals::Grid(0.0), Vals::Grid(0.1))) {
        let r = check2(&a, &b, Var::maximum);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_minimum((a, b) in binary_case(Vals::Grid(0.1), Vals::Grid(0.0))) {
        let r = check2(&a, &b, Var::minimum);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// A constant 0/1 mask, `on_true` and `on_false`, all three broadcasting.
    #[test]
    fn gradcheck_where_cond(
        (cond, t, f) in broadcast_shapes(3, 36).prop_flat_map(|s| {
            let n = numel(&s[0]);
            (
                (Just(s[0].clone()), prop::collection::vec(any::<bool>(), n)),
                operand(s[1].clone(), true, Vals::Uniform(-2.0, 2.0)),
                operand(s[2].clone(), true, Vals::Uniform(-2.0, 2.0)),
            )
        })
    ) {
        let (shape, bits) = cond;
        let mask = Tensor::from_vec(
            bits.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect::<Vec<f64>>(),
            &shape[..],
        );
        let r = check(
            |tape, v| tape.constant(&mask).where_cond(&t.view(&v[0]), &f.view(&v[1])),
            &[t.tensor(), f.tensor()],
        );
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gradcheck_sum((x, _, axes, keep) in reduce_case(Vals::Uniform(-2.0, 2.0), true)) {
        let r = check1(&x, |v| v.sum(&axes, keep));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_mean((x, _, axes, keep) in reduce_case(Vals::Uniform(-2.0, 2.0), true)) {
        let r = check1(&x, |v| v.mean(&axes, keep));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Distinct values (no expanded view, which would repeat them): no ties.
    #[test]
    fn gradcheck_max((x, _, axes, keep) in reduce_case(Vals::Distinct, false)) {
        let r = check1(&x, |v| v.max(&axes, keep));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_min((x, _, axes, keep) in reduce_case(Vals::Distinct, false)) {
        let r = check1(&x, |v| v.min(&axes, keep));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_logsumexp((x, _, axes, keep) in reduce_case(Vals::Uniform(-3.0, 3.0), true)) {
        let r = check1(&x, |v| v.logsumexp(&axes, keep));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Correction 0 always; correction 1 when at least two elements are reduced.
    #[test]
    fn gradcheck_var((x, norm, axes, keep) in reduce_case(Vals::Uniform(-2.0, 2.0), true)) {
        let r = check1(&x, |v| v.var(&axes, 0, keep));
        prop_assert!(r.is_ok(), "correction 0: {}", r.unwrap_err());
        if reduced_count(&x, &norm) >= 2 {
            let r = check1(&x, |v| v.var(&axes, 1, keep));
            prop_assert!(r.is_ok(), "correction 1: {}", r.unwrap_err());
        }
    }

    /// The `*_all` forms, composed so that each reduction's gradient matters.
    #[test]
    fn gradcheck_reduce_all(x in small_shape(0, 4, 24).prop_flat_map(|s| operand(s, false, Vals::Distinct))) {
        let r = check1(&x, |v| {
            v.sum_all()
                .add(&v.mean_all().mul_scalar(2.0))
                .add(&v.max_all().mul_scalar(3.0))
                .add(&v.min_all().mul_scalar(-1.5))
                .add(&v.logsumexp_all().mul_scalar(0.5))
        });
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

// ---------------------------------------------------------------------------------------------
// matmul, softmax
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gradcheck_matmul_2d((a, b) in matmul_case(mm_2d())) {
        let r = check2(&a, &b, Var::matmul);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_matmul_batched((a, b) in matmul_case(mm_batched())) {
        let r = check2(&a, &b, Var::matmul);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_matmul_vector((a, b) in matmul_case(mm_vector())) {
        let r = check2(&a, &b, Var::matmul);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// `x.matmul(&w.t())`, the linear-layer pattern, with `w` stored as `[n, k]`.
    #[test]
    fn gradcheck_matmul_transposed_rhs(
        (x, w) in (mdim(), mdim(), mdim()).prop_flat_map(|(m, k, n)| {
            (plain_operand(vec![m, k], Vals::Uniform(-2.0, 2.0)), plain_operand(vec![n, k], Vals::Uniform(-2.0, 2.0)))
        })
    ) {
        let r = check2(&x, &w, |x, w| x.matmul(&w.t()));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_softmax(
        (x, (_, a)) in small_shape(1, 4, 36).prop_flat_map(|s| {
            let r = s.len();
            (operand(s, true, Vals::Uniform(-3.0, 3.0)), axis(r))
        })
    ) {
        let r = check1(&x, |v| v.softmax(a));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_log_softmax(
        (x, (_, a)) in small_shape(1, 4, 36).prop_flat_map(|s| {
            let r = s.len();
            (operand(s, true, Vals::Uniform(-3.0, 3.0)), axis(r))
        })
    ) {
        let r = check1(&x, |v| v.log_softmax(a));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

// ---------------------------------------------------------------------------------------------
// conv2d, pooling
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Ungrouped, with a bias half the time.
    #[test]
    fn gradcheck_conv2d(c in conv_case(1..=1, false)) {
        prop_assume!(c.fits());
        let r = c.check();
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Two or three groups (depthwise when one channel per group), always with a bias: the
    /// gradients of input, weight and bias.
    #[test]
    fn gradcheck_conv2d_grouped_with_bias(c in conv_case(2..=3, true)) {
        prop_assume!(c.fits());
        let r = c.check();
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Distinct values: each window has one maximum.
    #[test]
    fn gradcheck_max_pool2d(c in pool_case(2, Vals::Distinct, false)) {
        prop_assume!(Tensor::zeros(&c.shape[..]).try_max_pool2d(c.params).is_ok());
        let r = check1(&c.x, |x| x.max_pool2d(c.params));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Output sizes below, equal to and above the input's, divisible or not (overlapping bins).
    #[test]
    fn gradcheck_adaptive_avg_pool2d(
        (x, out) in (1usize..=2, 1usize..=3, pair(1, 7)).prop_flat_map(|(n, c, hw)| {
            (operand(vec![n, c, hw[0], hw[1]], true, Vals::Uniform(-2.0, 2.0)), pair(1, 8))
        })
    ) {
        let r = check1(&x, |x| x.adaptive_avg_pool2d(out));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// With and without `count_include_pad` (drawn in the case).
    #[test]
    fn gradcheck_avg_pool2d(c in pool_case(1, Vals::Uniform(-2.0, 2.0), true)) {
        prop_assume!(Tensor::zeros(&c.shape[..]).try_avg_pool2d(c.params).is_ok());
        let r = check1(&c.x, |x| x.avg_pool2d(c.params));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

// ---------------------------------------------------------------------------------------------
// concat, stack, split, index_select, gather
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gradcheck_concat((xs, a) in concat_case()) {
        let inputs: Vec<Tensor> = xs.iter().map(Operand::tensor).collect();
        let r = check(
            |_, v| {
                let views: Vec<Var> = xs.iter().zip(v).map(|(x, v)| x.view(v)).collect();
                Var::concat(&views, a)
            },
            &inputs,
        );
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_stack(
        (xs, a) in (small_shape(0, 3, 12), 2usize..=3, any::<bool>()).prop_flat_map(|(s, k, neg)| {
            let r = s.len();
            let ops: Vec<_> = (0..k).map(|_| operand(s.clone(), true, Vals::Uniform(-2.0, 2.0))).collect();
            (ops, (0..=r).prop_map(move |a| signed_axis(a, r + 1, neg)))
        })
    ) {
        let inputs: Vec<Tensor> = xs.iter().map(Operand::tensor).collect();
        let r = check(
            |_, v| {
                let views: Vec<Var> = xs.iter().zip(v).map(|(x, v)| x.view(v)).collect();
                Var::stack(&views, a)
            },
            &inputs,
        );
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Every piece enters a weighted sum with its own position-dependent weights.
    #[test]
    fn gradcheck_split(
        (x, (_, a), size) in small_shape(1, 3, 24).prop_flat_map(|s| {
            let r = s.len();
            (operand(s, true, Vals::Uniform(-2.0, 2.0)), axis(r), 1usize..=4)
        })
    ) {
        let r = check(
            |tape, v| {
                let pieces = x.view(&v[0]).split(size, a);
                let mut total: Option<Var> = None;
                for (i, p) in pieces.iter().enumerate() {
                    let term = p.mul(&tape.constant(weights(p.shape(), i))).sum_all();
                    total = Some(match total {
                        None => term,
                        Some(t) => t.add(&term),
                    });
                }
                total.expect("at least one piece")
            },
            &[x.tensor()],
        );
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Indices drawn with replacement from a small range, and the first one repeated.
    #[test]
    fn gradcheck_index_select(
        (x, (_, a), index) in small_shape(1, 3, 24).prop_flat_map(|s| {
            let r = s.len();
            (Just(s.clone()), operand(s, true, Vals::Uniform(-2.0, 2.0)), axis(r))
        }).prop_flat_map(|(s, x, (an, a))| {
            // The first index again at the end: every case has a repeat.
            let index = prop::collection::vec(0..s[an], 1..=4).prop_map(|mut v| {
                v.push(v[0]);
                v
            });
            (Just(x), Just((an, a)), index)
        })
    ) {
        let idx = IntTensor::from(&index[..]);
        let r = check1(&x, |v| v.index_select(a, &idx));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_gather(
        (x, a, ishape, index) in small_shape(1, 3, 24).prop_flat_map(|s| {
            let r = s.len();
            (Just(s.clone()), operand(s, true, Vals::Uniform(-2.0, 2.0)), axis(r))
        }).prop_flat_map(|(s, x, (an, a))| {
            let dims: Vec<BoxedStrategy<usize>> = s
                .iter()
                .enumerate()
                .map(|(d, &n)| if d == an { (1usize..=4).boxed() } else { (1..=n).boxed() })
                .collect();
            let size = s[an];
            (Just(x), Just(a), dims).prop_flat_map(move |(x, a, ishape)| {
                let n = numel(&ishape);
                (Just(x), Just(a), Just(ishape), prop::collection::vec(0..size, n))
            })
        })
    ) {
        let idx = IntTensor::from_indices(&index, &ishape[..]);
        let r = check1(&x, |v| v.gather(a, &idx));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// Both `self` and `src` of `scatter_add`, with an index no larger than `src`, repeats
    /// included (indices drawn from a small range).
    #[test]
    fn gradcheck_scatter_add(
        (x, src, a, ishape, index) in small_shape(1, 3, 24).prop_flat_map(|s| {
            let r = s.len();
            (Just(s.clone()), operand(s, true, Vals::Uniform(-2.0, 2.0)), axis(r), 1usize..=4)
        }).prop_flat_map(|(s, x, (an, a), k)| {
            // src: any size along the axis, x's sizes elsewhere; the index no larger than src.
            let mut src_shape = s.clone();
            src_shape[an] = k;
            let size = s[an];
            let dims: Vec<BoxedStrategy<usize>> = src_shape.iter().map(|&n| (1..=n).boxed()).collect();
            (Just(x), operand(src_shape, false, Vals::Uniform(-2.0, 2.0)), Just(a), dims).prop_flat_map(move |(x, src, a, ishape)| {
                let n = numel(&ishape);
                (Just(x), Just(src), Just(a), Just(ishape), prop::collection::vec(0..size, n))
            })
        })
    ) {
        let idx = IntTensor::from_indices(&index, &ishape[..]);
        let r = check2(&x, &src, |x, s| x.scatter_add(a, &idx, s));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// `cross_entropy` over `[N, C]` and `[N, C, d]` scores with one class per sample.
    #[test]
    fn gradcheck_cross_entropy(
        (x, classes) in (1usize..=4, 1usize..=5, 0usize..=3).prop_flat_map(|(n, c, d)| {
            let shape = if d == 0 { vec![n, c] } else { vec![n, c, d] };
            let labels = if d == 0 { vec![n] } else { vec![n, d] };
            let k = numel(&labels);
            (operand(shape, true, Vals::Uniform(-3.0, 3.0)), prop::collection::vec(0..c, k).prop_map(move |v| (labels.clone(), v)))
        })
    ) {
        let (lshape, lv) = classes;
        let target = IntTensor::from_indices(&lv, &lshape[..]);
        let r = check1(&x, |v| v.cross_entropy(&target));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Views (each applied to an operand that is itself often a non-contiguous view)
// ---------------------------------------------------------------------------------------------

fn view_operand(min_rank: usize, max_rank: usize) -> BoxedStrategy<(Vec<usize>, Operand)> {
    small_shape(min_rank, max_rank, 36)
        .prop_flat_map(|s| (Just(s.clone()), operand(s, true, Vals::Uniform(-2.0, 2.0))))
        .boxed()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gradcheck_reshape(
        (x, target) in view_operand(0, 4).prop_flat_map(|(s, x)| (Just(x), reshape_target(s)))
    ) {
        let r = check1(&x, |v| v.reshape(target.clone()));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_permute(
        (x, perm) in view_operand(0, 4).prop_flat_map(|(s, x)| {
            let r = s.len();
            let axes: Vec<usize> = (0..r).collect();
            (Just(x), Just(axes).prop_shuffle(), prop::collection::vec(any::<bool>(), r))
                .prop_map(move |(x, p, neg)| {
                    let passed: Vec<isize> = p.iter().zip(&neg).map(|(&a, &n)| signed_axis(a, r, n)).collect();
                    (x, passed)
                })
        })
    ) {
        let r = check1(&x, |v| v.permute(&perm));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_transpose(
        (x, (_, a), (_, b)) in view_operand(1, 4).prop_flat_map(|(s, x)| {
            let r = s.len();
            (Just(x), axis(r), axis(r))
        })
    ) {
        let r = check1(&x, |v| v.transpose(a, b));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_t((_, x) in view_operand(0, 3)) {
        let r = check1(&x, Var::t);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_narrow(
        (x, (_, a), start, len) in view_operand(1, 4).prop_flat_map(|(s, x)| {
            let r = s.len();
            (Just(s), Just(x), axis(r))
        }).prop_flat_map(|(s, x, (an, a))| {
            let n = s[an];
            (Just(x), Just((an, a)), 0..n).prop_flat_map(move |(x, a, start)| {
                (Just(x), Just(a), Just(start), 1..=n - start)
            })
        })
    ) {
        let r = check1(&x, |v| v.narrow(a, start, len));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_slice_axis(
        (x, (_, a), start, end, step) in view_operand(1, 4).prop_flat_map(|(s, x)| {
            let r = s.len();
            (Just(s), Just(x), axis(r))
        }).prop_flat_map(|(s, x, (an, a))| {
            let n = s[an];
            (Just(x), Just((an, a)), 0..n).prop_flat_map(move |(x, a, start)| {
                (Just(x), Just(a), Just(start), start + 1..=n, 1usize..=3)
            })
        })
    ) {
        let r = check1(&x, |v| v.slice_axis(a, start, end, step));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// From a shape with size-1 and missing leading dims to the full shape.
    #[test]
    fn gradcheck_broadcast_to(
        (x, full) in small_shape(0, 4, 36).prop_flat_map(|full| {
            (sub_shape(full.clone()), Just(full))
        }).prop_flat_map(|(s, full)| (operand(s, true, Vals::Uniform(-2.0, 2.0)), Just(full)))
    ) {
        let r = check1(&x, |v| v.broadcast_to(&full));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_squeeze(
        (x, a) in (small_shape(1, 4, 36), any::<bool>()).prop_flat_map(|(s, neg)| {
            let r = s.len();
            (Just(s), 0..r, Just(neg))
        }).prop_flat_map(|(mut s, an, neg)| {
            s[an] = 1;
            let r = s.len();
            (operand(s, true, Vals::Uniform(-2.0, 2.0)), Just(signed_axis(an, r, neg)))
        })
    ) {
        let r = check1(&x, |v| v.squeeze(a));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_unsqueeze(
        (x, a) in (view_operand(0, 3), any::<bool>()).prop_flat_map(|((s, x), neg)| {
            let r = s.len();
            (Just(x), (0..=r).prop_map(move |a| signed_axis(a, r + 1, neg)))
        })
    ) {
        let r = check1(&x, |v| v.unsqueeze(a));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    #[test]
    fn gradcheck_flatten(
        (x, start, end) in (view_operand(1, 4), any::<bool>(), any::<bool>()).prop_flat_map(|((s, x), n1, n2)| {
            let r = s.len();
            (Just(x), 0..r).prop_flat_map(move |(x, a)| {
                (Just(x), Just(signed_axis(a, r, n1)), (a..r).prop_map(move |b| signed_axis(b, r, n2)))
            })
        })
    ) {
        let r = check1(&x, |v| v.flatten(start, end));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

proptest! {
    // An eighth of the cases of the others: each case checks ~2,600 weights by finite differences.
    #![proptest_config(ProptestConfig { cases: (cases() / 8).max(1), ..config() })]

    /// 3x3, stride 1, 16-17 channels on each side: the shapes `conv2d` and both its gradients
    /// compute by Winograd's F(2x2, 3x3).
    #[test]
    fn gradcheck_conv2d_winograd(c in winograd_case()) {
        let r = c.check();
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }

    /// `conv2d_relu_max_pool2d` on the shapes it fuses (ReLU's and the pool's kinks are met with
    /// probability ~0 by uniform operands).
    #[test]
    fn gradcheck_conv2d_relu_max_pool2d(c in fused_case()) {
        let r = c.check_fused();
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
