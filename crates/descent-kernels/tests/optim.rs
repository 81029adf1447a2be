//! Fused optimizer updates against naive per-element `f64` references, on every length class
//! (empty, SIMD tails, above the parallel threshold), and thread-count invariance.

mod common;

use common::{LENS, assert_all_close, assert_thread_count_invariant, rng, uniform};
use descent_kernels::Float;
use descent_kernels::optim::{
    AdagradStep, AdamStep, RmspropStep, SgdStep, adagrad, adam, clamp, first_non_finite, rmsprop,
    scale, sgd, sum_squares,
};

/// Lengths: the usual ones plus one above the parallel threshold with a ragged last chunk.
fn lens() -> Vec<usize> {
    let mut v = LENS.to_vec();
    v.push(100_003);
    v
}

/// Three steps of the reference and of the kernel from the same start, compared after each.
fn three_steps<T: Float>(
    n: usize,
    buffers: usize,
    reference: impl Fn(usize, &mut [f64], &[f64], &mut [Vec<f64>]),
    kernel: impl Fn(usize, &mut [T], &[T], &mut [Vec<T>]),
    tol: f64,
    what: &str,
) {
    let mut r = rng(n as u64 + 7);
    let mut p: Vec<T> = uniform(&mut r, n, -2.0, 2.0);
    let mut pr: Vec<f64> = p.iter().map(|x| x.to_f64()).collect();
    let mut s: Vec<Vec<T>> = vec![vec![T::ZERO; n]; buffers];
    let mut sr: Vec<Vec<f64>> = vec![vec![0.0; n]; buffers];
    for step in 1..=3 {
        let g: Vec<T> = uniform(&mut r, n, -1.0, 1.0);
        let gr: Vec<f64> = g.iter().map(|x| x.to_f64()).collect();
        reference(step, &mut pr, &gr, &mut sr);
        kernel(step, &mut p, &g, &mut s);
        assert_all_close(&p, &pr, tol, tol, &format!("{what} n={n} step {step}"));
        for (b, br) in s.iter().zip(&sr) {
            assert_all_close(b, br, tol, tol, &format!("{what} state n={n} step {step}"));
        }
    }
}

fn tol<T: Float>() -> f64 {
    if T::BYTES == 4 { 2e-5 } else { 1e-13 }
}

fn sgd_case<T: Float>(momentum: f64, dampening: f64, nesterov: bool, wd: f64) {
    let h = |step: usize| SgdStep {
        lr: 0.1,
        weight_decay: wd,
        momentum,
        dampening,
        nesterov,
        first: step == 1,
    };
    let buffers = usize::from(momentum != 0.0);
    for n in lens() {
        three_steps::<T>(
            n,
            buffers,
            |step, p, g, s| {
                for i in 0..p.len() {
                    let mut d = g[i] + wd * p[i];
                    if momentum != 0.0 {
                        let b = &mut s[0][i];
                        *b = if step == 1 {
                            d
                        } else {
                            momentum * *b + (1.0 - dampening) * d
                        };
                        d = if nesterov { d + momentum * *b } else { *b };
                    }
                    p[i] -= 0.1 * d;
                }
            },
            |step, p, g, s| sgd(&h(step), p, g, s.first_mut().map(|b| b.as_mut_slice())),
            tol::<T>(),
            "sgd",
        );
    }
}

#[test]
fn sgd_matches_reference() {
    for (mu, damp, nest, wd) in [
        (0.0, 0.0, false, 0.0),
        (0.0, 0.0, false, 0.01),
        (0.9, 0.0, false, 0.0),
        (0.9, 0.3, false, 0.01),
        (0.9, 0.0, true, 0.01),
    ] {
        sgd_case::<f32>(mu, damp, nest, wd);
        sgd_case::<f64>(mu, damp, nest, wd);
    }
}

fn adam_case<T: Float>(amsgrad: bool, wd: f64, decoupled: bool) {
    let (lr, b1, b2, eps): (f64, f64, f64, f64) = (0.01, 0.9, 0.999, 1e-8);
    let h = |step: usize| AdamStep {
        step_size: lr / (1.0 - b1.powi(step as i32)),
        bias2_sqrt: (1.0 - b2.powi(step as i32)).sqrt(),
        beta1: b1,
        beta2: b2,
        eps,
        weight_decay: if decoupled { 0.0 } else { wd },
        decoupled_decay: if decoupled { lr * wd } else { 0.0 },
    };
    for n in lens() {
        three_steps::<T>(
            n,
            2 + usize::from(amsgrad),
            |step, p, g, s| {
                let (bc1, bc2) = (1.0 - b1.powi(step as i32), 1.0 - b2.powi(step as i32));
                for i in 0..p.len() {
                    if decoupled {
                        p[i] *= 1.0 - lr * wd;
                    }
                    let g = if decoupled { g[i] } else { g[i] + wd * p[i] };
                    s[0][i] = b1 * s[0][i] + (1.0 - b1) * g;
                    s[1][i] = b2 * s[1][i] + (1.0 - b2) * g * g;
                    let v = if amsgrad {
                        s[2][i] = s[2][i].max(s[1][i]);
                        s[2][i]
                    } else {
                        s[1][i]
                    };
                    let (m_hat, v_hat) = (s[0][i] / bc1, v / bc2);
                    // The textbook form; PyTorch's (and the kernel's) is step_size·m/(√v/√bc2 + ε).
                    p[i] -= lr * m_hat / (v_hat.sqrt() + eps);
                }
            },
            |step, p, g, s| {
                let (m, rest) = s.split_first_mut().unwrap();
                let (v, rest) = rest.split_first_mut().unwrap();
                adam(
                    &h(step),
                    p,
                    g,
                    m,
                    v,
                    rest.first_mut().map(|b| b.as_mut_slice()),
                )
            },
            // m̂/(√v̂ + ε) amplifies rounding when v̂ is tiny; relative to the step it stays small.
            if T::BYTES == 4 { 1e-4 } else { 1e-12 },
            "adam",
        );
    }
}

#[test]
fn adam_matches_reference() {
    for (ams, wd, dec) in [
        (false, 0.0, false),
        (true, 0.0, false),
        (false, 0.1, false),
        (false, 0.1, true),
        (true, 0.1, true),
    ] {
        adam_case::<f32>(ams, wd, dec);
        adam_case::<f64>(ams, wd, dec);
    }
}

fn rmsprop_case<T: Float>(centered: bool, momentum: f64, wd: f64) {
    let (lr, alpha, eps) = (0.01, 0.99, 1e-8);
    let h = RmspropStep {
        lr,
        alpha,
        eps,
        weight_decay: wd,
        momentum,
    };
    let buffers = 1 + usize::from(centered) + usize::from(momentum > 0.0);
    for n in lens() {
        three_steps::<T>(
            n,
            buffers,
            |_, p, g, s| {
                for i in 0..p.len() {
                    let g = g[i] + wd * p[i];
                    s[0][i] = alpha * s[0][i] + (1.0 - alpha) * g * g;
                    let mut k = 1;
                    let var = if centered {
                        s[1][i] = alpha * s[1][i] + (1.0 - alpha) * g;
                        k = 2;
                        s[0][i] - s[1][i] * s[1][i]
                    } else {
                        s[0][i]
                    };
                    let a = var.sqrt() + eps;
                    if momentum > 0.0 {
                        s[k][i] = momentum * s[k][i] + g / a;
                        p[i] -= lr * s[k][i];
                    } else {
                        p[i] -= lr * g / a;
                    }
                }
            },
            |_, p, g, s| {
                let (sq, rest) = s.split_first_mut().unwrap();
                let mut rest = rest.iter_mut();
                let ga = if centered { rest.next() } else { None };
                let b = if momentum > 0.0 { rest.next() } else { None };
                rmsprop(
                    &h,
                    p,
                    g,
                    sq,
                    ga.map(|b| b.as_mut_slice()),
                    b.map(|b| b.as_mut_slice()),
                )
            },
            if T::BYTES == 4 { 1e-4 } else { 1e-12 },
            "rmsprop",
        );
    }
}

#[test]
fn rmsprop_matches_reference() {
    for (c, mu, wd) in [
        (false, 0.0, 0.0),
        (true, 0.0, 0.0),
        (false, 0.9, 0.01),
        (true, 0.9, 0.01),
    ] {
        rmsprop_case::<f32>(c, mu, wd);
        rmsprop_case::<f64>(c, mu, wd);
    }
}

fn adagrad_case<T: Float>(wd: f64) {
    let (lr, decay, eps) = (0.1, 0.01, 1e-10);
    for n in lens() {
        three_steps::<T>(
            n,
            1,
            |step, p, g, s| {
                let clr = lr / (1.0 + (step as f64 - 1.0) * decay);
                for i in 0..p.len() {
                    let g = g[i] + wd * p[i];
                    s[0][i] += g * g;
                    p[i] -= clr * g / (s[0][i].sqrt() + eps);
                }
            },
            |step, p, g, s| {
                let h = AdagradStep {
                    clr: lr / (1.0 + (step as f64 - 1.0) * decay),
                    eps,
                    weight_decay: wd,
                };
                adagrad(&h, p, g, &mut s[0])
            },
            tol::<T>(),
            "adagrad",
        );
    }
}

#[test]
fn adagrad_matches_reference() {
    for wd in [0.0, 0.05] {
        adagrad_case::<f32>(wd);
        adagrad_case::<f64>(wd);
    }
}

#[test]
fn adam_is_thread_count_invariant() {
    let n = 300_007;
    let mut r = rng(3);
    let p0: Vec<f32> = uniform(&mut r, n, -1.0, 1.0);
    let g: Vec<f32> = uniform(&mut r, n, -1.0, 1.0);
    assert_thread_count_invariant("adam", || {
        let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; n], vec![0.0; n]);
        let h = AdamStep {
            step_size: 0.01,
            bias2_sqrt: 0.5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            ..AdamStep::default()
        };
        adam(&h, &mut p, &g, &mut m, &mut v, None);
        p
    });
}

#[test]
fn first_non_finite_finds_the_first() {
    for n in lens() {
        let mut x = vec![1.5f32; n];
        assert_eq!(first_non_finite(&x), None, "n={n}");
        if n == 0 {
            continue;
        }
        for at in [0, n / 2, n - 1] {
            x[at] = f32::INFINITY;
            assert_eq!(first_non_finite(&x), Some((at, "inf")), "n={n} at={at}");
            x[at] = f32::NAN;
            if at + 1 < n {
                x[n - 1] = f32::NEG_INFINITY;
            }
            assert_eq!(first_non_finite(&x), Some((at, "NaN")), "n={n} at={at}");
            x.fill(1.5);
        }
    }
    // Huge finite values are finite: x·0 must not overflow.
    assert_eq!(first_non_finite(&[f64::MAX, -f64::MAX]), None);
}

#[test]
fn sum_squares_scale_and_clamp() {
    for n in lens() {
        let mut r = rng(n as u64);
        let x: Vec<f32> = uniform(&mut r, n, -3.0, 3.0);
        let want: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let got = sum_squares(&x);
        assert!((got - want).abs() <= 1e-12 * want.max(1.0), "n={n}");
        let mut y = x.clone();
        scale(&mut y, 0.5);
        assert!(y.iter().zip(&x).all(|(a, b)| *a == b * 0.5));
        clamp(&mut y, 1.0);
        assert!(
            y.iter()
                .zip(&x)
                .all(|(a, b)| *a == (b * 0.5).clamp(-1.0, 1.0))
        );
    }
    let mut z = [f32::NAN, 5.0];
    clamp(&mut z, 1.0);
    assert!(z[0].is_nan() && z[1] == 1.0);
}
