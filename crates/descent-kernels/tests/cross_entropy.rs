//! `cross_entropy::forward` against `cross_entropy::reference` (an `f64` loop over the
//! definition), and `cross_entropy::backward` against central differences of the `f64`
//! reference, on random `[outer, classes, inner]` blocks with class weights, label smoothing and
//! ignored rows; and finite results for logits of `±1e4` (`f32`) and `±1e30` (`f64`).

mod common;

use common::{name, rng, uniform};
use descent_kernels::Float;
use descent_kernels::cross_entropy::{CrossEntropy, IGNORE, backward, forward, reference};
use proptest::prelude::*;
use rand::Rng;

fn tol<T: Float>() -> f64 {
    if T::BYTES == 4 { 2e-5 } else { 1e-12 }
}

#[allow(clippy::too_many_arguments)]
fn check<T: Float>(
    seed: u64,
    outer: usize,
    classes: usize,
    inner: usize,
    weighted: bool,
    smoothing: f64,
    ignore_some: bool,
    spread: f64,
) {
    let mut rng = rng(seed);
    let x: Vec<T> = uniform(&mut rng, outer * classes * inner, -spread, spread);
    let targets: Vec<usize> = (0..outer * inner)
        .map(|_| {
            if ignore_some && rng.random_bool(0.3) {
                IGNORE
            } else {
                rng.random_range(0..classes)
            }
        })
        .collect();
    let w: Vec<T> = uniform(&mut rng, classes, 0.2, 2.0);
    let a = CrossEntropy {
        x: &x,
        outer,
        classes,
        inner,
        targets: &targets,
        weight: weighted.then_some(&w[..]),
        smoothing: T::from_f64(smoothing),
    };
    let rows = outer * inner;
    let (mut loss, mut saved) = (vec![T::ZERO; rows], vec![T::ZERO; 2 * rows]);
    let total = forward(&a, &mut loss, &mut saved);
    let want = reference(&a);
    let scale = spread.max(1.0);
    for (g, w) in loss.iter().zip(&want) {
        assert!(
            (g.to_f64() - w).abs() <= tol::<T>() * scale * (1.0 + w.abs()),
            "{} forward {outer}x{classes}x{inner}: {g:?} vs {w}",
            name::<T>()
        );
    }
    let want_total: f64 = targets
        .iter()
        .filter(|&&t| t != IGNORE)
        .map(|&t| if weighted { w[t].to_f64() } else { 1.0 })
        .sum();
    assert!((total.to_f64() - want_total).abs() <= tol::<T>() * (1.0 + want_total));

    // Backward: d/dx of sum_r g_r loss_r, against central differences in f64.
    let g: Vec<T> = uniform(&mut rng, rows, 0.5, 1.5);
    let mut dx = vec![T::from_f64(f64::NAN); x.len()];
    backward(&a, &saved, &g, T::from_f64(0.5), &mut dx);
    // Central differences on small blocks (each difference re-runs the whole reference).
    if T::BYTES == 8 && x.len() <= 200 {
        let xf: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
        let wf: Vec<f64> = w.iter().map(|v| v.to_f64()).collect();
        let obj = |xs: &[f64]| -> f64 {
            let b = CrossEntropy {
                x: xs,
                outer,
                classes,
                inner,
                targets: &targets,
                weight: weighted.then_some(&wf[..]),
                smoothing,
            };
            reference(&b)
                .iter()
                .zip(&g)
                .map(|(l, g)| l * g.to_f64() * 0.5)
                .sum()
        };
        let h = 1e-6;
        for j in 0..x.len() {
            let mut xp = xf.clone();
            xp[j] += h;
            let mut xm = xf.clone();
            xm[j] -= h;
            let num = (obj(&xp) - obj(&xm)) / (2.0 * h);
            let got = dx[j].to_f64();
            assert!(
                (got - num).abs() <= 1e-6 * (1.0 + num.abs()),
                "backward {outer}x{classes}x{inner} element {j}: {got} vs {num}"
            );
        }
    } else {
        assert!(dx.iter().all(|v| v.is_finite()), "backward finite");
    }
}

proptest! {
    #[test]
    fn cross_entropy_matches_reference(
        seed in any::<u64>(),
        outer in 0usize..5,
        classes in 1usize..7,
        inner in 1usize..4,
        weighted in any::<bool>(),
        smoothing in prop_oneof![Just(0.0), Just(1.0), 0.0..1.0f64],
        ignore_some in any::<bool>(),
    ) {
        check::<f32>(seed, outer, classes, inner, weighted, smoothing, ignore_some, 3.0);
        check::<f64>(seed, outer, classes, inner, weighted, smoothing, ignore_some, 3.0);
    }
}

#[test]
fn cross_entropy_large_rows_in_parallel() {
    // Above the parallel threshold: rows split over threads give the reference too.
    check::<f32>(1, 300, 130, 1, true, 0.1, true, 3.0);
    check::<f64>(2, 40, 1000, 1, false, 0.0, false, 3.0);
}

#[test]
fn cross_entropy_is_finite_for_huge_logits() {
    fn run<T: Float>(big: f64) {
        let x: Vec<T> = [big, -big, 0.0, -big, big, big]
            .iter()
            .map(|&v| T::from_f64(v))
            .collect();
        let targets = [1usize, 0];
        let w = [T::ONE, T::from_f64(2.0), T::from_f64(0.5)];
        for smoothing in [0.0, 0.25] {
            let a = CrossEntropy {
                x: &x,
                outer: 2,
                classes: 3,
                inner: 1,
                targets: &targets,
                weight: Some(&w),
                smoothing: T::from_f64(smoothing),
            };
            let (mut loss, mut saved) = (vec![T::ZERO; 2], vec![T::ZERO; 4]);
            forward(&a, &mut loss, &mut saved);
            let want = reference(&a);
            for (g, w) in loss.iter().zip(&want) {
                assert!(g.is_finite(), "{} {big}: {g:?}", name::<T>());
                assert!((g.to_f64() - w).abs() <= 1e-6 * w.abs(), "{g:?} vs {w}");
            }
            let mut dx = vec![T::ZERO; 6];
            backward(&a, &saved, &[T::ONE], T::ONE, &mut dx);
            assert!(dx.iter().all(|v| v.is_finite()), "{dx:?}");
        }
    }
    run::<f32>(1e4);
    run::<f64>(1e4);
    run::<f64>(1e30);
}
