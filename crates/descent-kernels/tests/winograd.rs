//! The F(2x2, 3x3) Winograd convolution and weight gradient against naive `f64` loops of the
//! contract, over paddings 0-3 and odd and even output sizes (tiles cut by the edge); the
//! dispatch from `conv` and the thread-count invariance.

mod common;

use common::{name, rel_err, rng, uniform};
use descent_kernels::Float;
use descent_kernels::conv::{self, Conv2dGeometry, conv2d_reference};
use descent_kernels::pool;
use descent_kernels::winograd;
use rand::Rng;

/// `grad_w[co, ci, i, j] = sum_{n, oy, ox} grad_out[n, co, oy, ox] x[n, ci, oy + i - p, ox + j - p]`,
/// in `f64`.
fn grad_weight_reference<T: Float>(g: &Conv2dGeometry, x: &[T], go: &[T]) -> Vec<f64> {
    let mut gw = vec![0.0; g.c_out * g.c_in * 9];
    for n in 0..g.n {
        for co in 0..g.c_out {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let d = go[((n * g.c_out + co) * g.oh + oy) * g.ow + ox].to_f64();
                    for ci in 0..g.c_in {
                        for i in 0..3 {
                            for j in 0..3 {
                                let y = (oy + i) as isize - g.padding.0 as isize;
                                let xx = (ox + j) as isize - g.padding.1 as isize;
                                if y < 0 || xx < 0 || y >= g.h as isize || xx >= g.w as isize {
                                    continue;
                                }
                                let xv = x
                                    [((n * g.c_in + ci) * g.h + y as usize) * g.w + xx as usize]
                                    .to_f64();
                                gw[((co * g.c_in + ci) * 3 + i) * 3 + j] += xv * d;
                            }
                        }
                    }
                }
            }
        }
    }
    gw
}

/// `grad_in[n, ci, y, x] = sum_{co, i, j} grad_out[n, co, y + p - i, x + p - j] w[co, ci, i, j]`
/// over the output positions that exist, in `f64`.
fn grad_input_reference<T: Float>(g: &Conv2dGeometry, w: &[T], go: &[T]) -> Vec<f64> {
    let mut gi = vec![0.0; g.n * g.c_in * g.h * g.w];
    for n in 0..g.n {
        for co in 0..g.c_out {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let d = go[((n * g.c_out + co) * g.oh + oy) * g.ow + ox].to_f64();
                    for ci in 0..g.c_in {
                        for i in 0..3 {
                            for j in 0..3 {
                                let y = (oy + i) as isize - g.padding.0 as isize;
                                let xx = (ox + j) as isize - g.padding.1 as isize;
                                if y < 0 || xx < 0 || y >= g.h as isize || xx >= g.w as isize {
                                    continue;
                                }
                                gi[((n * g.c_in + ci) * g.h + y as usize) * g.w + xx as usize] +=
                                    w[((co * g.c_in + ci) * 3 + i) * 3 + j].to_f64() * d;
                            }
                        }
                    }
                }
            }
        }
    }
    gi
}

/// A random geometry the Winograd path supports: 3x3, stride 1, padding 0-3 per axis.
fn random_geometry(r: &mut impl Rng) -> Option<Conv2dGeometry> {
    let padding = (r.random_range(0..=3), r.random_range(0..=3));
    let input = [
        r.random_range(1..=3),
        r.random_range(1..=5),
        r.random_range(1..=9),
        r.random_range(1..=9),
    ];
    let weight = [r.random_range(1..=5), input[1], 3, 3];
    Conv2dGeometry::new(input, weight, (1, 1), padding, (1, 1))
}

fn matches_reference<T: Float>(seed: u64) {
    let tol = if T::BYTES == 4 { 2e-6 } else { 1e-14 };
    let mut r = rng(seed);
    let mut checked = 0;
    for _ in 0..200 {
        let Some(g) = random_geometry(&mut r) else {
            continue;
        };
        assert!(winograd::supports(&g), "{g:?}");
        let x: Vec<T> = uniform(&mut r, g.n * g.c_in * g.h * g.w, -1.0, 1.0);
        let w: Vec<T> = uniform(&mut r, g.c_out * g.k(), -1.0, 1.0);
        let b: Option<Vec<T>> = r
            .random_bool(0.5)
            .then(|| uniform(&mut r, g.c_out, -1.0, 1.0));
        let go: Vec<T> = uniform(&mut r, g.n * g.c_out * g.p(), -1.0, 1.0);
        let what = format!("{} {g:?}", name::<T>());

        let mut y = vec![T::from_f64(f64::NAN); go.len()];
        winograd::conv2d(&g, &x, &w, b.as_deref(), &mut y);
        let err = rel_err(&y, &conv2d_reference(&g, &x, &w, b.as_deref()));
        assert!(err < tol, "forward {what}: relative error {err}");

        let mut gw = vec![T::from_f64(f64::NAN); w.len()];
        winograd::conv2d_backward_weight(&g, &x, &go, &mut gw);
        let err = rel_err(&gw, &grad_weight_reference(&g, &x, &go));
        assert!(err < tol, "weight gradient {what}: relative error {err}");

        let mut gi = vec![T::from_f64(f64::NAN); x.len()];
        winograd::conv2d_backward_input(&g, &w, &go, &mut gi);
        let err = rel_err(&gi, &grad_input_reference(&g, &w, &go));
        assert!(err < tol, "input gradient {what}: relative error {err}");
        // Both at once: the same bits as apart.
        let (mut gi2, mut gw2) = (vec![T::from_f64(f64::NAN); x.len()], vec![T::ZERO; w.len()]);
        winograd::conv2d_backward_input_weight(&g, &x, &w, &go, &mut gi2, &mut gw2);
        let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&gi2),
            bits(&gi),
            "input gradient, both at once, {what}"
        );
        assert_eq!(
            bits(&gw2),
            bits(&gw),
            "weight gradient, both at once, {what}"
        );
        checked += 1;
    }
    assert!(checked > 100, "too few valid geometries: {checked}");
}

#[test]
fn winograd_matches_the_naive_loops() {
    matches_reference::<f32>(91);
    matches_reference::<f64>(92);
}

/// The gradient references above are the contract: check them once against `conv`'s im2col
/// path (which has its own tests), on a shape below the Winograd cut-off.
#[test]
fn gradient_reference_matches_the_im2col_path() {
    let g = Conv2dGeometry::new([2, 3, 7, 6], [4, 3, 3, 3], (1, 1), (1, 2), (1, 1)).unwrap();
    assert!(!winograd::used_for_weight_grad(&g));
    let mut r = rng(93);
    let x: Vec<f64> = uniform(&mut r, g.n * g.c_in * g.h * g.w, -1.0, 1.0);
    let w: Vec<f64> = uniform(&mut r, g.c_out * g.k(), -1.0, 1.0);
    let go: Vec<f64> = uniform(&mut r, g.n * g.c_out * g.p(), -1.0, 1.0);
    let mut gw = vec![0.0; w.len()];
    conv::conv2d_backward_weight(&g, &x, &go, &mut gw);
    assert!(rel_err(&gw, &grad_weight_reference(&g, &x, &go)) < 1e-14);
    assert!(!winograd::used_for_input_grad(&g));
    let mut gi = vec![0.0; x.len()];
    conv::conv2d_backward_input(&g, &w, &go, &mut gi);
    assert!(rel_err(&gi, &grad_input_reference(&g, &w, &go)) < 1e-14);
}

/// From `MIN_CHANNELS_WEIGHT_GRAD` channels on, `conv` takes this path for the forward product
/// and both gradients (also computed at once); the results match the references and do not
/// depend on the thread count.
/// The cut-offs: 8 channels a side for the forward product, 16 for the weight gradient.
#[test]
fn cut_offs() {
    let g =
        |c: usize| Conv2dGeometry::new([1, c, 5, 5], [c, c, 3, 3], (1, 1), (1, 1), (1, 1)).unwrap();
    let on = !std::env::var("DESCENT_CONV").is_ok_and(|v| v == "im2col");
    assert!(!winograd::used_for_forward(&g(7)));
    assert_eq!(winograd::used_for_forward(&g(8)), on);
    assert!(!winograd::used_for_weight_grad(&g(15)));
    assert_eq!(winograd::used_for_weight_grad(&g(16)), on);
    let strided =
        Conv2dGeometry::new([1, 16, 9, 9], [16, 16, 3, 3], (2, 2), (1, 1), (1, 1)).unwrap();
    assert!(!winograd::supports(&strided) && !winograd::used_for_forward(&strided));
}

#[test]
fn conv_dispatches_here_and_is_thread_count_invariant() {
    let c = winograd::MIN_CHANNELS_WEIGHT_GRAD;
    let g = Conv2dGeometry::new([9, c, 9, 8], [c + 1, c, 3, 3], (1, 1), (1, 0), (1, 1)).unwrap();
    if std::env::var("DESCENT_CONV").is_ok_and(|v| v == "im2col") {
        eprintln!("DESCENT_CONV=im2col: the dispatch is off, checking the results only");
    } else {
        assert!(winograd::used_for_forward(&g) && winograd::used_for_weight_grad(&g));
        assert!(winograd::used_for_input_grad(&g));
    }
    let mut r = rng(94);
    let x: Vec<f32> = uniform(&mut r, g.n * g.c_in * g.h * g.w, -1.0, 1.0);
    let w: Vec<f32> = uniform(&mut r, g.c_out * g.k(), -1.0, 1.0);
    let b: Vec<f32> = uniform(&mut r, g.c_out, -1.0, 1.0);
    let go: Vec<f32> = uniform(&mut r, g.n * g.c_out * g.p(), -1.0, 1.0);
    let fwd = || {
        let mut y = vec![0.0f32; go.len()];
        conv::conv2d(&g, &x, &w, Some(&b), &mut y);
        y
    };
    let bwd_w = || {
        let mut gw = vec![0.0f32; w.len()];
        conv::conv2d_backward_weight(&g, &x, &go, &mut gw);
        gw
    };
    let bwd_x = || {
        let mut gi = vec![0.0f32; x.len()];
        conv::conv2d_backward_input(&g, &w, &go, &mut gi);
        gi
    };
    let both = || {
        let (mut gi, mut gw) = (vec![0.0f32; x.len()], vec![0.0f32; w.len()]);
        conv::conv2d_backward_input_weight(&g, &x, &w, &go, &mut gi, &mut gw);
        [gi, gw].concat()
    };
    assert!(rel_err(&fwd(), &conv2d_reference(&g, &x, &w, Some(&b))) < 5e-6);
    assert!(rel_err(&bwd_w(), &grad_weight_reference(&g, &x, &go)) < 5e-6);
    assert!(rel_err(&bwd_x(), &grad_input_reference(&g, &w, &go)) < 5e-6);
    assert_eq!(
        both(),
        [bwd_x(), bwd_w()].concat(),
        "both at once: the same bits"
    );
    common::assert_thread_count_invariant("winograd conv2d", fwd);
    common::assert_thread_count_invariant("winograd conv2d_backward_weight", bwd_w);
    common::assert_thread_count_invariant("winograd conv2d_backward_input", bwd_x);
    common::assert_thread_count_invariant("winograd conv2d_backward_input_weight", both);
}

/// A NaN or an infinity in the input reaches exactly the outputs whose window holds it, as with
/// im2col: the transforms combine each value only into the positions that depend on it (an
/// infinity may come out as NaN where the naive loops give an infinity: the transforms subtract
/// it from itself). The weight gradient is non-finite wherever the naive loops' is, and may be
/// at more taps of the same input and output channel: a tap's sum there is a combination of
/// transformed products in which the other taps' terms cancel, and they do not cancel once one
/// is NaN (or 0 x NaN, for the pixels past the output's edge). In a training step a non-finite
/// input usually makes the loss non-finite, and then every gradient.
#[test]
fn non_finite_inputs_stay_in_their_windows() {
    let mut r = rng(95);
    for _ in 0..100 {
        let Some(g) = random_geometry(&mut r) else {
            continue;
        };
        let mut x: Vec<f64> = uniform(&mut r, g.n * g.c_in * g.h * g.w, -1.0, 1.0);
        let w: Vec<f64> = uniform(&mut r, g.c_out * g.k(), -1.0, 1.0);
        let go: Vec<f64> = uniform(&mut r, g.n * g.c_out * g.p(), -1.0, 1.0);
        let at = r.random_range(0..x.len());
        x[at] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][r.random_range(0..3)];
        let mut y = vec![0.0; go.len()];
        winograd::conv2d(&g, &x, &w, None, &mut y);
        let want = conv2d_reference(&g, &x, &w, None);
        for (i, (a, b)) in y.iter().zip(&want).enumerate() {
            assert_eq!(
                a.is_finite(),
                b.is_finite(),
                "forward {g:?} [{i}]: {a} vs {b}"
            );
        }
        let mut gw = vec![0.0; w.len()];
        winograd::conv2d_backward_weight(&g, &x, &go, &mut gw);
        let want = grad_weight_reference(&g, &x, &go);
        for (i, (a, b)) in gw.iter().zip(&want).enumerate() {
            assert!(
                b.is_finite() || !a.is_finite(),
                "weight gradient {g:?} [{i}]: {a} vs {b}"
            );
        }
    }
}

/// `max_pool2d(relu(conv2d(x)), 2)` by the three kernels one after the other (the convolution on
/// the Winograd path), and ReLU's backward after the pool's: what the fused kernels must match
/// bit for bit.
fn unfused<T: Float>(
    g: &Conv2dGeometry,
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    grad_pooled: &[T],
) -> (Vec<T>, Vec<u32>, Vec<T>) {
    let mut y = vec![T::ZERO; g.n * g.c_out * g.p()];
    winograd::conv2d(g, x, w, b, &mut y);
    let relu: Vec<T> = y
        .iter()
        .map(|&v| if v < T::ZERO { T::ZERO } else { v })
        .collect();
    let pg = pool::Pool2dGeometry::new(g.n * g.c_out, (g.oh, g.ow), (2, 2), (2, 2), (0, 0), (1, 1))
        .expect("2x2 pool fits");
    let mut pooled = vec![T::ZERO; pg.planes * pg.oh * pg.ow];
    let mut am = vec![0u32; pooled.len()];
    pool::max_pool2d(&pg, &relu, &mut pooled, &mut am);
    let mut gin = vec![T::ZERO; y.len()];
    pool::max_pool2d_backward(&pg, &am, grad_pooled, &mut gin);
    // ReLU's backward on its input y.
    let gin = gin
        .iter()
        .zip(&y)
        .map(|(&g, &v)| if v > T::ZERO { g } else { T::ZERO })
        .collect();
    (pooled, am, gin)
}

fn fused_matches_unfused<T: Float>(seed: u64) {
    let mut r = rng(seed);
    let mut checked = 0;
    for case in 0..150 {
        let Some(g) = random_geometry(&mut r) else {
            continue;
        };
        if g.oh < 2 || g.ow < 2 {
            continue;
        }
        let mut x: Vec<T> = uniform(&mut r, g.n * g.c_in * g.h * g.w, -1.0, 1.0);
        if case % 10 == 0 {
            // A NaN and an infinity: windows with a NaN win it, as the pool's rule says.
            let len = x.len();
            x[r.random_range(0..len)] = T::from_f64(f64::NAN);
            x[r.random_range(0..len)] = T::from_f64(f64::INFINITY);
        }
        let w: Vec<T> = uniform(&mut r, g.c_out * g.k(), -1.0, 1.0);
        let b: Option<Vec<T>> = r
            .random_bool(0.5)
            .then(|| uniform(&mut r, g.c_out, -1.0, 1.0));
        let (ph, pw) = (g.oh / 2, g.ow / 2);
        let mut grad_pooled: Vec<T> = uniform(&mut r, g.n * g.c_out * ph * pw, -1.0, 1.0);
        // Negative zeros: the unfused backward adds them to zero (+0).
        grad_pooled[0] = T::from_f64(-0.0);
        let (pooled_ref, am_ref, gin_ref) = unfused(&g, &x, &w, b.as_deref(), &grad_pooled);

        let mut pooled = vec![T::from_f64(7.0); grad_pooled.len()];
        let mut am = vec![9u8; grad_pooled.len()];
        winograd::conv2d_relu_max_pool(&g, &x, &w, b.as_deref(), &mut pooled, &mut am);
        let what = format!("{} {g:?}", name::<T>());
        let bits = |v: &[T]| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&pooled), bits(&pooled_ref), "pooled values, {what}");
        // The fused argmax is the window pixel; the pool's, the position in the plane.
        for (i, (&a, &at)) in am.iter().zip(&am_ref).enumerate() {
            let (py, px) = ((i / pw) % ph, i % pw);
            let at = at as usize;
            let (yy, xx) = (at / g.ow, at % g.ow);
            assert_eq!(
                (yy - 2 * py) * 2 + (xx - 2 * px),
                a as usize,
                "argmax {i}, {what}"
            );
        }
        let mut gin = vec![T::from_f64(7.0); gin_ref.len()];
        pool::relu_max_pool2x2_backward(
            g.n * g.c_out,
            (g.oh, g.ow),
            &pooled,
            &am,
            &grad_pooled,
            &mut gin,
        );
        assert_eq!(bits(&gin), bits(&gin_ref), "gradient, {what}");
        checked += 1;
    }
    assert!(checked > 60, "only {checked} geometries");
}

#[test]
fn fused_relu_max_pool_matches_the_three_kernels_bit_for_bit() {
    fused_matches_unfused::<f32>(41);
    fused_matches_unfused::<f64>(42);
}

#[test]
fn fused_relu_max_pool_is_thread_count_invariant_and_dispatched_from_eight_channels() {
    let g = Conv2dGeometry::new([5, 8, 12, 11], [9, 8, 3, 3], (1, 1), (1, 0), (1, 1)).unwrap();
    assert!(winograd::fuses_relu_max_pool(&g));
    let small = Conv2dGeometry::new([5, 4, 12, 11], [9, 4, 3, 3], (1, 1), (1, 0), (1, 1)).unwrap();
    assert!(!winograd::fuses_relu_max_pool(&small));
    let mut r = rng(5);
    let x: Vec<f32> = uniform(&mut r, 5 * 8 * 12 * 11, -1.0, 1.0);
    let w: Vec<f32> = uniform(&mut r, 9 * 8 * 9, -1.0, 1.0);
    let b: Vec<f32> = uniform(&mut r, 9, -1.0, 1.0);
    let len = 5 * 9 * (g.oh / 2) * (g.ow / 2);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (mut y, mut am) = (vec![0f32; len], vec![0u8; len]);
        pool.install(|| winograd::conv2d_relu_max_pool(&g, &x, &w, Some(&b), &mut y, &mut am));
        (y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), am)
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}
