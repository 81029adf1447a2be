//! Backward kernels against independent oracles: the fused unary gradients of every op of the
//! table against the f64 derivative reference (itself checked against finite differences of the
//! forward reference),
//! and the convolution and pooling gradients through the adjoint identity
//! `<F(x), G> = <x, F^T(G)>`, which holds exactly for these linear maps (max pooling is linear
//! once its argmax is fixed).

mod common;

use common::{name, rng, uniform};
use descent_kernels::Float;
use descent_kernels::UnaryOp;
use descent_kernels::conv::{
    Conv2dGeometry, conv2d, conv2d_backward_bias, conv2d_backward_input, conv2d_backward_weight,
};
use descent_kernels::elementwise::unary_reference;
use descent_kernels::elementwise_grad::{saves, unary_derivative_reference, unary_grad};
use descent_kernels::matmul::{MatRef, gemm_acc, gemm_reference};
use descent_kernels::pool::{
    AdaptivePool2dGeometry, Pool2dGeometry, adaptive_avg_pool2d, adaptive_avg_pool2d_backward,
    avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward,
};
use rand::Rng;

/// Every instance of `UnaryOp::samples()` with each input range where it is smooth
/// (`common::unary_case`).
fn unary_ops() -> Vec<(UnaryOp, f64, f64)> {
    UnaryOp::samples()
        .into_iter()
        .flat_map(|op| {
            common::unary_case(op)
                .smooth
                .into_iter()
                .map(move |(lo, hi)| (op, lo, hi))
        })
        .collect()
}

#[test]
fn derivative_reference_matches_finite_differences() {
    let mut r = rng(70);
    for (op, lo, hi) in unary_ops() {
        for _ in 0..50 {
            let x: f64 = r.random_range(lo..hi);
            let h = 1e-6;
            let fd = (unary_reference(op, x + h) - unary_reference(op, x - h)) / (2.0 * h);
            let d = unary_derivative_reference(op, x);
            assert!(
                (fd - d).abs() <= 1e-6 * (1.0 + d.abs()),
                "{op:?} at {x}: reference {d} vs finite difference {fd}"
            );
        }
    }
}

fn unary_grad_matches<T: Float>(seed: u64) {
    let mut r = rng(seed);
    for (op, lo, hi) in unary_ops() {
        for &n in &common::LENS {
            let x: Vec<T> = uniform(&mut r, n, lo, hi);
            let g: Vec<T> = uniform(&mut r, n, -2.0, 2.0);
            let y: Vec<T> = x
                .iter()
                .map(|&v| T::from_f64(unary_reference(op, v.to_f64())))
                .collect();
            let need = saves(op);
            let (xs, ys): (&[T], &[T]) = (
                if need.input { &x } else { &[] },
                if need.output { &y } else { &[] },
            );
            let mut out = vec![T::from_f64(f64::NAN); n];
            unary_grad(op, xs, ys, &g, &mut out);
            let want: Vec<f64> = x
                .iter()
                .zip(&g)
                .map(|(&x, &g)| g.to_f64() * unary_derivative_reference(op, x.to_f64()))
                .collect();
            // f32 reads a rounded y (tanh' = 1 - y^2 loses relative accuracy near |y| = 1).
            let tol = if T::BYTES == 4 { 2e-4 } else { 1e-9 };
            for (i, (&o, &w)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (o.to_f64() - w).abs() <= tol * (1.0 + w.abs()),
                    "{} {op:?} n={n} [{i}]: {} vs {w}",
                    name::<T>(),
                    o
                );
            }
        }
    }
}

#[test]
fn unary_grad_matches_the_derivative_reference() {
    unary_grad_matches::<f32>(71);
    unary_grad_matches::<f64>(72);
}

#[test]
fn unary_grad_ties_and_kinks_follow_the_numerics_page() {
    let x = [0.0f64, 0.5];
    let g = [1.0f64, 1.0];
    let mut out = [9.0; 2];
    unary_grad(UnaryOp::Relu, &x, &[], &g, &mut out);
    assert_eq!(out, [0.0, 1.0]);
    unary_grad(UnaryOp::Abs, &x, &[], &g, &mut out);
    assert_eq!(out, [0.0, 1.0]);
    unary_grad(UnaryOp::MaximumScalar(0.5), &x, &[], &g, &mut out);
    assert_eq!(out, [0.0, 0.5]);
    unary_grad(UnaryOp::Clamp(0.0, 0.5), &x, &[], &g, &mut out);
    assert_eq!(out, [1.0, 1.0]);
}

#[test]
fn unary_grad_is_thread_count_invariant() {
    let mut r = rng(73);
    let n = (1 << 16) + 3;
    let x: Vec<f32> = uniform(&mut r, n, -3.0, 3.0);
    let g: Vec<f32> = uniform(&mut r, n, -1.0, 1.0);
    common::assert_thread_count_invariant("unary_grad", || {
        let mut out = vec![0.0f32; n];
        unary_grad(UnaryOp::Gelu, &x, &[], &g, &mut out);
        out
    });
}

#[test]
fn gemm_acc_adds_to_what_c_holds() {
    let mut r = rng(74);
    for &(m, k, n) in &[(3, 4, 5), (1, 0, 2), (17, 9, 33)] {
        let a: Vec<f64> = uniform(&mut r, m * k, -1.0, 1.0);
        let b: Vec<f64> = uniform(&mut r, k * n, -1.0, 1.0);
        let c0: Vec<f64> = uniform(&mut r, m * n, -1.0, 1.0);
        let (am, bm) = (
            MatRef {
                data: &a,
                offset: 0,
                rs: k,
                cs: 1,
            },
            MatRef {
                data: &b,
                offset: 0,
                rs: n,
                cs: 1,
            },
        );
        let mut c = c0.clone();
        gemm_acc(m, k, n, am, bm, &mut c);
        let prod = gemm_reference(m, k, n, am, bm);
        for i in 0..m * n {
            assert!(
                (c[i] - (c0[i] + prod[i])).abs() < 1e-12,
                "({m},{k},{n}) [{i}]"
            );
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn close_dot(lhs: f64, rhs: f64, scale: f64, what: &str) {
    assert!(
        (lhs - rhs).abs() <= 1e-10 * (1.0 + scale),
        "{what}: <F x, G> = {lhs} but <x, F^T G> = {rhs}"
    );
}

#[test]
fn conv2d_backward_is_the_adjoint_of_the_forward() {
    let mut r = rng(75);
    let mut checked = 0;
    for _ in 0..300 {
        let groups = r.random_range(1..=3);
        let (cig, cog) = (r.random_range(1..=3), r.random_range(1..=3));
        let input = [
            r.random_range(1..=3),
            cig * groups,
            r.random_range(1..=8),
            r.random_range(1..=8),
        ];
        let weight = [
            cog * groups,
            cig,
            r.random_range(1..=3),
            r.random_range(1..=3),
        ];
        let stride = (r.random_range(1..=3), r.random_range(1..=3));
        let padding = (r.random_range(0..=2), r.random_range(0..=2));
        let dilation = (r.random_range(1..=2), r.random_range(1..=2));
        let Some(g) = Conv2dGeometry::grouped(input, weight, stride, padding, dilation, groups)
        else {
            continue;
        };
        let x: Vec<f64> = uniform(&mut r, g.n * g.c_in * g.h * g.w, -1.0, 1.0);
        let w: Vec<f64> = uniform(&mut r, g.c_out * g.k(), -1.0, 1.0);
        let b: Vec<f64> = uniform(&mut r, g.c_out, -1.0, 1.0);
        let go: Vec<f64> = uniform(&mut r, g.n * g.c_out * g.p(), -1.0, 1.0);
        // The map is affine in each operand; its linear part in x and w is the bias-free conv.
        let mut y = vec![0.0; go.len()];
        conv2d(&g, &x, &w, None, &mut y);
        let mut gx = vec![f64::NAN; x.len()];
        conv2d_backward_input(&g, &w, &go, &mut gx);
        let mut gw = vec![f64::NAN; w.len()];
        conv2d_backward_weight(&g, &x, &go, &mut gw);
        let lhs = dot(&y, &go);
        close_dot(lhs, dot(&x, &gx), lhs.abs(), &format!("input {g:?}"));
        close_dot(lhs, dot(&w, &gw), lhs.abs(), &format!("weight {g:?}"));
        // The bias part: y_b = conv(x, w, b) - conv(x, w) is linear in b, with adjoint grad_b.
        let mut yb = vec![0.0; go.len()];
        conv2d(&g, &x, &w, Some(&b), &mut yb);
        let diff: Vec<f64> = yb.iter().zip(&y).map(|(a, c)| a - c).collect();
        let mut gb = vec![f64::NAN; b.len()];
        conv2d_backward_bias(&g, &go, &mut gb);
        let lhs = dot(&diff, &go);
        close_dot(lhs, dot(&b, &gb), lhs.abs(), &format!("bias {g:?}"));
        checked += 1;
    }
    assert!(checked > 100, "too few valid geometries: {checked}");
}

#[test]
fn conv2d_backward_is_thread_count_invariant() {
    let g = Conv2dGeometry::new([8, 3, 12, 12], [4, 3, 3, 3], (1, 1), (1, 1), (1, 1)).unwrap();
    let mut r = rng(76);
    let x: Vec<f32> = uniform(&mut r, g.n * g.c_in * g.h * g.w, -1.0, 1.0);
    let w: Vec<f32> = uniform(&mut r, g.c_out * g.k(), -1.0, 1.0);
    let go: Vec<f32> = uniform(&mut r, g.n * g.c_out * g.p(), -1.0, 1.0);
    common::assert_thread_count_invariant("conv2d_backward_input", || {
        let mut gx = vec![0.0f32; x.len()];
        conv2d_backward_input(&g, &w, &go, &mut gx);
        gx
    });
    common::assert_thread_count_invariant("conv2d_backward_weight", || {
        let mut gw = vec![0.0f32; w.len()];
        conv2d_backward_weight(&g, &x, &go, &mut gw);
        gw
    });
    common::assert_thread_count_invariant("conv2d_backward_bias", || {
        let mut gb = vec![0.0f32; g.c_out];
        conv2d_backward_bias(&g, &go, &mut gb);
        gb
    });
    // Depthwise: the weight gradient runs its groups in parallel.
    let g =
        Conv2dGeometry::grouped([4, 6, 10, 10], [6, 1, 3, 3], (1, 1), (1, 1), (1, 1), 6).unwrap();
    let x: Vec<f32> = uniform(&mut r, g.n * g.c_in * g.h * g.w, -1.0, 1.0);
    let w: Vec<f32> = uniform(&mut r, g.c_out * g.k(), -1.0, 1.0);
    let go: Vec<f32> = uniform(&mut r, g.n * g.c_out * g.p(), -1.0, 1.0);
    common::assert_thread_count_invariant("depthwise conv2d_backward_input", || {
        let mut gx = vec![0.0f32; x.len()];
        conv2d_backward_input(&g, &w, &go, &mut gx);
        gx
    });
    common::assert_thread_count_invariant("depthwise conv2d_backward_weight", || {
        let mut gw = vec![0.0f32; w.len()];
        conv2d_backward_weight(&g, &x, &go, &mut gw);
        gw
    });
}

#[test]
fn pooling_backward_is_the_adjoint_of_the_forward() {
    let mut r = rng(77);
    let mut checked = 0;
    for _ in 0..300 {
        let k = (r.random_range(1..=3), r.random_range(1..=3));
        let Some(g) = Pool2dGeometry::new(
            r.random_range(1..=4),
            (r.random_range(1..=8), r.random_range(1..=8)),
            k,
            (r.random_range(1..=3), r.random_range(1..=3)),
            (r.random_range(0..=k.0 / 2), r.random_range(0..=k.1 / 2)),
            (1, 1),
        ) else {
            continue;
        };
        let x: Vec<f64> = uniform(&mut r, g.planes * g.h * g.w, -1.0, 1.0);
        let go: Vec<f64> = uniform(&mut r, g.planes * g.oh * g.ow, -1.0, 1.0);
        let mut y = vec![0.0; go.len()];
        let mut am = vec![0u32; go.len()];
        max_pool2d(&g, &x, &mut y, &mut am);
        let mut gx = vec![f64::NAN; x.len()];
        max_pool2d_backward(&g, &am, &go, &mut gx);
        let lhs = dot(&y, &go);
        close_dot(lhs, dot(&x, &gx), lhs.abs(), &format!("max {g:?}"));
        for include in [true, false] {
            avg_pool2d(&g, &x, &mut y, include);
            avg_pool2d_backward(&g, &go, &mut gx, include);
            let lhs = dot(&y, &go);
            close_dot(
                lhs,
                dot(&x, &gx),
                lhs.abs(),
                &format!("avg {include} {g:?}"),
            );
        }
        checked += 1;
    }
    assert!(checked > 100, "too few valid geometries: {checked}");
}

/// Adaptive average pooling is linear: its backward is its adjoint, bins overlapping or not.
#[test]
fn adaptive_avg_pool2d_backward_is_the_adjoint_of_the_forward() {
    let mut r = rng(78);
    for _ in 0..200 {
        let g = AdaptivePool2dGeometry::new(
            r.random_range(1..=3),
            (r.random_range(1..=9), r.random_range(1..=9)),
            (r.random_range(1..=10), r.random_range(1..=10)),
        )
        .unwrap();
        let x: Vec<f64> = uniform(&mut r, g.planes * g.h * g.w, -1.0, 1.0);
        let go: Vec<f64> = uniform(&mut r, g.planes * g.oh * g.ow, -1.0, 1.0);
        let mut y = vec![0.0; go.len()];
        adaptive_avg_pool2d(&g, &x, &mut y);
        let mut gx = vec![f64::NAN; x.len()];
        adaptive_avg_pool2d_backward(&g, &go, &mut gx);
        let lhs = dot(&y, &go);
        close_dot(lhs, dot(&x, &gx), lhs.abs(), &format!("adaptive {g:?}"));
    }
    let g = AdaptivePool2dGeometry::new(20, (41, 39), (6, 7)).unwrap();
    let go: Vec<f32> = uniform(&mut r, 20 * 6 * 7, -1.0, 1.0);
    common::assert_thread_count_invariant("adaptive_avg_pool2d_backward", || {
        let mut gx = vec![0.0f32; 20 * 41 * 39];
        adaptive_avg_pool2d_backward(&g, &go, &mut gx);
        gx
    });
}
