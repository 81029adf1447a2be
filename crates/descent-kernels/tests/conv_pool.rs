//! Convolution (`im2col`, `col2im`, `conv2d`) and pooling (`max_pool2d`, `avg_pool2d`) against
//! naive loops written from the module contracts, on random small geometries (batch 1-3,
//! channels 1-3 per group, groups 1-3, sizes 1-9, kernel 1-4, stride 1-3, padding 0-2,
//! dilation 1-2, with and without a bias).

mod common;

use common::{name, rel_err, rng};
use descent_kernels::Float;
use descent_kernels::conv::{self, Conv2dGeometry, col2im, conv2d, conv2d_reference, im2col};
use descent_kernels::pool::{
    AdaptivePool2dGeometry, NO_ARGMAX, Pool2dGeometry, adaptive_avg_pool2d, adaptive_bin,
    avg_pool2d, max_pool2d,
};
use rand::Rng;
use rand::rngs::StdRng;

/// Input coordinate read by output coordinate `o` and kernel tap `t`, if inside `[0, len)`.
fn tap(o: usize, t: usize, stride: usize, pad: usize, dil: usize, len: usize) -> Option<usize> {
    let v = (o * stride + t * dil) as isize - pad as isize;
    (v >= 0 && v < len as isize).then_some(v as usize)
}

/// Dilated kernel span fits the padded input: the contract of `Conv2dGeometry::new`.
fn fits(len: usize, k: usize, pad: usize, dil: usize) -> bool {
    dil * (k - 1) < len + 2 * pad
}

struct ConvCase {
    input: [usize; 4],
    weight: [usize; 4],
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
}

impl ConvCase {
    fn geometry(&self) -> Option<Conv2dGeometry> {
        Conv2dGeometry::grouped(
            self.input,
            self.weight,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )
    }
}

/// A random convolution; one case in two is grouped (1 to 3 groups, depthwise included).
fn random_conv(rng: &mut StdRng) -> ConvCase {
    let groups = if rng.random_bool(0.5) {
        1
    } else {
        rng.random_range(1..=3)
    };
    let (cig, cog) = (rng.random_range(1..=3), rng.random_range(1..=3));
    ConvCase {
        input: [
            rng.random_range(1..=3),
            cig * groups,
            rng.random_range(1..=9),
            rng.random_range(1..=9),
        ],
        weight: [
            cog * groups,
            cig,
            rng.random_range(1..=4),
            rng.random_range(1..=4),
        ],
        stride: (rng.random_range(1..=3), rng.random_range(1..=3)),
        padding: (rng.random_range(0..=2), rng.random_range(0..=2)),
        dilation: (rng.random_range(1..=2), rng.random_range(1..=2)),
        groups,
    }
}

/// `conv2d` straight from the contract, in `f64`, independent of the crate's reference.
fn naive_conv(g: &Conv2dGeometry, x: &[f64], w: &[f64], b: Option<&[f64]>) -> Vec<f64> {
    let (cig, cog) = (g.c_in / g.groups, g.c_out / g.groups);
    let mut out = vec![0.0; g.n * g.c_out * g.oh * g.ow];
    for n in 0..g.n {
        for co in 0..g.c_out {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut s = b.map_or(0.0, |b| b[co]);
                    for ci in 0..cig {
                        let c = co / cog * cig + ci;
                        for i in 0..g.kh {
                            for j in 0..g.kw {
                                let y = tap(oy, i, g.stride.0, g.padding.0, g.dilation.0, g.h);
                                let xx = tap(ox, j, g.stride.1, g.padding.1, g.dilation.1, g.w);
                                if let (Some(y), Some(xx)) = (y, xx) {
                                    s += x[((n * g.c_in + c) * g.h + y) * g.w + xx]
                                        * w[((co * cig + ci) * g.kh + i) * g.kw + j];
                                }
                            }
                        }
                    }
                    out[((n * g.c_out + co) * g.oh + oy) * g.ow + ox] = s;
                }
            }
        }
    }
    out
}

fn conv_matches_reference<T: Float>(seed: u64) {
    let mut rng = rng(seed);
    let mut checked = 0;
    for _ in 0..300 {
        let c = random_conv(&mut rng);
        let g = c.geometry();
        let expect = fits(c.input[2], c.weight[2], c.padding.0, c.dilation.0)
            && fits(c.input[3], c.weight[3], c.padding.1, c.dilation.1);
        assert_eq!(
            g.is_some(),
            expect,
            "geometry {:?}",
            (c.input, c.weight, c.padding)
        );
        let Some(g) = g else { continue };
        let want_oh =
            (c.input[2] + 2 * c.padding.0 - c.dilation.0 * (c.weight[2] - 1) - 1) / c.stride.0 + 1;
        assert_eq!(g.oh, want_oh, "output height");
        let x: Vec<T> = common::uniform(&mut rng, g.n * g.c_in * g.h * g.w, -1.0, 1.0);
        let w: Vec<T> = common::uniform(&mut rng, g.c_out * g.k(), -1.0, 1.0);
        let b: Option<Vec<T>> = rng
            .random_bool(0.5)
            .then(|| common::uniform(&mut rng, g.c_out, -1.0, 1.0));
        let mut out = vec![T::from_f64(f64::NAN); g.n * g.c_out * g.p()];
        conv2d(&g, &x, &w, b.as_deref(), &mut out);
        let want = conv2d_reference(&g, &x, &w, b.as_deref());
        let f = |v: &[T]| v.iter().map(|v| v.to_f64()).collect::<Vec<f64>>();
        let naive = naive_conv(&g, &f(&x), &f(&w), b.as_deref().map(f).as_deref());
        assert!(
            rel_err(&naive, &want) < 1e-14,
            "conv2d_reference vs contract: {g:?}"
        );
        let tol = if T::BYTES == 4 { 1e-5 } else { 1e-12 };
        let err = rel_err(&out, &want);
        assert!(
            err < tol,
            "{} conv2d {g:?}: relative error {err}",
            name::<T>()
        );
        checked += 1;
    }
    assert!(checked > 100, "too few valid geometries: {checked}");
}

#[test]
fn conv2d_matches_reference() {
    conv_matches_reference::<f32>(51);
    conv_matches_reference::<f64>(52);
}

/// `Conv2dGeometry::new` refuses kernels larger than the padded input, channel mismatches and
/// zero strides or dilations; `grouped` also group counts that do not divide both channel counts.
#[test]
fn conv_geometry_rejects_what_does_not_fit() {
    let ok = Conv2dGeometry::new([1, 2, 5, 5], [3, 2, 3, 3], (1, 1), (0, 0), (1, 1)).unwrap();
    assert_eq!((ok.oh, ok.ow, ok.k(), ok.p()), (3, 3, 18, 9));
    // Exactly fitting: span 5 on a padded 5.
    assert!(Conv2dGeometry::new([1, 1, 3, 3], [1, 1, 3, 3], (1, 1), (1, 1), (2, 2)).is_some());
    // Dilated kernel (span 5) larger than the padded input (3 + 2 * 0).
    assert!(Conv2dGeometry::new([1, 1, 3, 3], [1, 1, 3, 3], (1, 1), (0, 0), (2, 2)).is_none());
    assert!(Conv2dGeometry::new([1, 1, 3, 3], [1, 1, 4, 1], (1, 1), (0, 0), (1, 1)).is_none());
    assert!(Conv2dGeometry::new([1, 1, 3, 3], [1, 2, 1, 1], (1, 1), (0, 0), (1, 1)).is_none());
    assert!(Conv2dGeometry::new([1, 1, 3, 3], [1, 1, 1, 1], (0, 1), (0, 0), (1, 1)).is_none());
    assert!(Conv2dGeometry::new([1, 1, 3, 3], [1, 1, 1, 1], (1, 1), (0, 0), (1, 0)).is_none());
    assert!(Conv2dGeometry::new([1, 1, 3, 3], [1, 1, 0, 1], (1, 1), (0, 0), (1, 1)).is_none());
    assert_eq!(conv::conv_out_len(7, 3, 2, 1, 1), Some(4));
    let grouped = |x, w, groups| Conv2dGeometry::grouped(x, w, (1, 1), (0, 0), (1, 1), groups);
    let g = grouped([1, 6, 3, 3], [4, 3, 1, 1], 2).unwrap();
    assert_eq!((g.c_in_per_group(), g.c_out_per_group(), g.k()), (3, 2, 3));
    // Depthwise.
    assert!(grouped([1, 4, 3, 3], [4, 1, 3, 3], 4).is_some());
    assert!(grouped([1, 4, 3, 3], [4, 1, 3, 3], 0).is_none());
    // 6 input channels, 3 output channels: 2 groups do not divide the output.
    assert!(grouped([1, 6, 3, 3], [3, 3, 1, 1], 2).is_none());
    // 3 groups do not divide 4 input channels.
    assert!(grouped([1, 4, 3, 3], [3, 1, 1, 1], 3).is_none());
    // The weight's channels are not c_in / groups.
    assert!(grouped([1, 4, 3, 3], [4, 4, 1, 1], 2).is_none());
}

/// `im2col` against its definition: `cols[(c, i, j), (oy, ox)] = x[c, y, x]` or 0 off the input.
#[test]
fn im2col_matches_definition() {
    let mut rng = rng(53);
    for _ in 0..200 {
        let c = random_conv(&mut rng);
        let Some(g) = c.geometry() else {
            continue;
        };
        let x: Vec<f64> = common::uniform(&mut rng, g.c_in_per_group() * g.h * g.w, -1.0, 1.0);
        let mut cols = vec![f64::NAN; g.k() * g.p()];
        im2col(&g, &x, &mut cols);
        for ci in 0..g.c_in_per_group() {
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let row = (ci * g.kh + i) * g.kw + j;
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let y = tap(oy, i, g.stride.0, g.padding.0, g.dilation.0, g.h);
                            let xx = tap(ox, j, g.stride.1, g.padding.1, g.dilation.1, g.w);
                            let want = match (y, xx) {
                                (Some(y), Some(xx)) => x[(ci * g.h + y) * g.w + xx],
                                _ => 0.0,
                            };
                            assert_eq!(cols[row * g.p() + oy * g.ow + ox], want, "{g:?}");
                        }
                    }
                }
            }
        }
    }
}

/// `col2im` is the adjoint of `im2col`: `<im2col(x), y> = <x, col2im(y)>`; and it accumulates.
#[test]
fn col2im_is_the_adjoint_of_im2col() {
    let mut rng = rng(54);
    let mut checked = 0;
    for _ in 0..300 {
        let c = random_conv(&mut rng);
        let Some(g) = c.geometry() else {
            continue;
        };
        let x: Vec<f64> = common::uniform(&mut rng, g.c_in_per_group() * g.h * g.w, -1.0, 1.0);
        let y: Vec<f64> = common::uniform(&mut rng, g.k() * g.p(), -1.0, 1.0);
        let mut cols = vec![0.0; g.k() * g.p()];
        im2col(&g, &x, &mut cols);
        let mut back = vec![0.0; x.len()];
        col2im(&g, &y, &mut back);
        let lhs: f64 = cols.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
        let scale: f64 = cols.iter().zip(&y).map(|(a, b)| (a * b).abs()).sum::<f64>() + 1.0;
        assert!((lhs - rhs).abs() <= 1e-12 * scale, "{g:?}: {lhs} vs {rhs}");
        // Accumulation: col2im into z adds col2im(y) to z.
        let z: Vec<f64> = common::uniform(&mut rng, x.len(), -1.0, 1.0);
        let mut acc = z.clone();
        col2im(&g, &y, &mut acc);
        for i in 0..z.len() {
            assert!(
                (acc[i] - (z[i] + back[i])).abs() < 1e-12,
                "{g:?}: accumulation at {i}"
            );
        }
        checked += 1;
    }
    assert!(checked > 100);
}

/// A batched convolution is the per-sample convolutions, bit for bit, on any thread count.
#[test]
fn conv2d_parallel_equals_serial() {
    let g = Conv2dGeometry::new([6, 3, 19, 17], [4, 3, 3, 3], (1, 2), (1, 1), (1, 1)).unwrap();
    let mut rng = rng(55);
    let x: Vec<f32> = common::uniform(&mut rng, 6 * 3 * 19 * 17, -1.0, 1.0);
    let w: Vec<f32> = common::uniform(&mut rng, 4 * 27, -1.0, 1.0);
    let b: Vec<f32> = common::uniform(&mut rng, 4, -1.0, 1.0);
    common::assert_thread_count_invariant("conv2d", || {
        let mut out = vec![0.0f32; g.n * g.c_out * g.p()];
        conv2d(&g, &x, &w, Some(&b), &mut out);
        out
    });
    // Grouped: 6 channels in 3 groups.
    let g =
        Conv2dGeometry::grouped([5, 6, 11, 9], [6, 2, 3, 3], (1, 1), (1, 1), (1, 1), 3).unwrap();
    let x: Vec<f32> = common::uniform(&mut rng, 5 * 6 * 11 * 9, -1.0, 1.0);
    let w: Vec<f32> = common::uniform(&mut rng, 6 * 18, -1.0, 1.0);
    common::assert_thread_count_invariant("conv2d grouped", || {
        let mut out = vec![0.0f32; g.n * g.c_out * g.p()];
        conv2d(&g, &x, &w, None, &mut out);
        out
    });
}

// ---------------------------------------------------------------------------------------------
// Pooling.

struct PoolCase {
    planes: usize,
    hw: (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
}

fn random_pool(rng: &mut StdRng) -> PoolCase {
    PoolCase {
        planes: rng.random_range(1..=4),
        hw: (rng.random_range(1..=9), rng.random_range(1..=9)),
        kernel: (rng.random_range(1..=4), rng.random_range(1..=4)),
        stride: (rng.random_range(1..=3), rng.random_range(1..=3)),
        padding: (rng.random_range(0..=2), rng.random_range(0..=2)),
        dilation: (rng.random_range(1..=2), rng.random_range(1..=2)),
    }
}

fn pool_geometry(c: &PoolCase) -> Option<Pool2dGeometry> {
    Pool2dGeometry::new(c.planes, c.hw, c.kernel, c.stride, c.padding, c.dilation)
}

/// The in-plane positions `y * w + x` of window `(oy, ox)` inside the input, in `(i, j)` order.
fn window(g: &Pool2dGeometry, oy: usize, ox: usize) -> Vec<usize> {
    let mut v = vec![];
    for i in 0..g.kh {
        for j in 0..g.kw {
            let y = tap(oy, i, g.stride.0, g.padding.0, g.dilation.0, g.h);
            let x = tap(ox, j, g.stride.1, g.padding.1, g.dilation.1, g.w);
            if let (Some(y), Some(x)) = (y, x) {
                v.push(y * g.w + x);
            }
        }
    }
    v
}

/// Naive max pooling: the first maximum on ties, the first NaN if there is one.
fn naive_max(g: &Pool2dGeometry, x: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let (mut out, mut arg) = (vec![], vec![]);
    for pl in 0..g.planes {
        let plane = &x[pl * g.h * g.w..(pl + 1) * g.h * g.w];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let win = window(g, oy, ox);
                if win.is_empty() {
                    // Documented: a window entirely in the padding has no element.
                    out.push(f64::NEG_INFINITY);
                    arg.push(NO_ARGMAX);
                    continue;
                }
                let best = match win.iter().find(|&&p| plane[p].is_nan()) {
                    Some(&p) => p,
                    None => {
                        let mut best = win[0];
                        for &p in &win[1..] {
                            if plane[p] > plane[best] {
                                best = p;
                            }
                        }
                        best
                    }
                };
                out.push(plane[best]);
                arg.push(best as u32);
            }
        }
    }
    (out, arg)
}

fn naive_avg(g: &Pool2dGeometry, x: &[f64], count_include_pad: bool) -> Vec<f64> {
    let mut out = vec![];
    for pl in 0..g.planes {
        let plane = &x[pl * g.h * g.w..(pl + 1) * g.h * g.w];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let win = window(g, oy, ox);
                let s: f64 = win.iter().map(|&p| plane[p]).sum();
                let d = if count_include_pad {
                    g.kh * g.kw
                } else {
                    win.len()
                };
                out.push(s / d as f64);
            }
        }
    }
    out
}

/// `Pool2dGeometry::new` accepts exactly the geometries whose padding is at most half the
/// window and whose dilated window fits the padded input; `windows_nonempty` says whether every
/// window holds an input element (not so when a dilated window falls into the padding), and
/// empty windows give the documented values.
#[test]
fn pool_geometry_accepts_exactly_the_fitting_windows() {
    let mut rng = rng(61);
    let mut empty_seen = 0;
    for _ in 0..3000 {
        let mut c = random_pool(&mut rng);
        c.dilation = (rng.random_range(1..=3), rng.random_range(1..=3));
        if rng.random_range(0..10) == 0 {
            c.hw.0 = 0;
        }
        let fit = c.padding.0 <= c.kernel.0 / 2
            && c.padding.1 <= c.kernel.1 / 2
            && fits(c.hw.0, c.kernel.0, c.padding.0, c.dilation.0)
            && fits(c.hw.1, c.kernel.1, c.padding.1, c.dilation.1);
        let g = pool_geometry(&c);
        assert_eq!(
            g.is_some(),
            fit,
            "hw {:?} kernel {:?} stride {:?} padding {:?} dilation {:?}",
            c.hw,
            c.kernel,
            c.stride,
            c.padding,
            c.dilation
        );
        let Some(g) = g else { continue };
        let nonempty = (0..g.oh).all(|oy| (0..g.ow).all(|ox| !window(&g, oy, ox).is_empty()));
        assert_eq!(g.windows_nonempty(), nonempty, "{g:?}");
        if c.dilation == (1, 1) && c.hw.0 > 0 {
            assert!(nonempty, "{g:?}: an undilated window is never empty");
        }
        if !nonempty {
            empty_seen += 1;
            let x = vec![1.0f32; g.planes * g.h * g.w];
            let po = g.planes * g.oh * g.ow;
            let (mut out, mut arg) = (vec![0.0f32; po], vec![0u32; po]);
            max_pool2d(&g, &x, &mut out, &mut arg);
            let (mut inc, mut exc) = (vec![7.0f32; po], vec![7.0f32; po]);
            avg_pool2d(&g, &x, &mut inc, true);
            avg_pool2d(&g, &x, &mut exc, false);
            for pl in 0..g.planes {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let at = (pl * g.oh + oy) * g.ow + ox;
                        if window(&g, oy, ox).is_empty() {
                            assert_eq!((out[at], arg[at]), (f32::NEG_INFINITY, NO_ARGMAX));
                            assert!(inc[at] == 0.0 && exc[at].is_nan(), "{g:?}");
                        } else {
                            assert!(out[at] == 1.0 && (arg[at] as usize) < g.h * g.w, "{g:?}");
                        }
                    }
                }
            }
        }
    }
    assert!(
        empty_seen > 10,
        "too few geometries with empty windows: {empty_seen}"
    );
}

fn max_pool_matches_reference<T: Float>(seed: u64) {
    let mut rng = rng(seed);
    let mut checked = 0;
    for case in 0..400 {
        let mut c = random_pool(&mut rng);
        if case % 2 == 1 {
            // The direct path (no padding, no dilation) half of the time.
            (c.padding, c.dilation) = ((0, 0), (1, 1));
            if case % 4 == 1 {
                // The 2x2/2 fast path.
                (c.kernel, c.stride) = ((2, 2), (2, 2));
            }
        }
        let Some(g) = pool_geometry(&c) else { continue };
        let n = g.planes * g.h * g.w;
        // Small integers (many ties), and now and then a NaN or an infinity.
        let mut x: Vec<T> = common::discrete(&mut rng, n);
        if case % 3 == 0 {
            for v in x.iter_mut() {
                match rng.random_range(0..12) {
                    0 => *v = T::from_f64(f64::NAN),
                    1 => *v = T::NEG_INFINITY,
                    _ => {}
                }
            }
        }
        let xf: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
        let (want, want_arg) = naive_max(&g, &xf);
        let mut out = vec![T::from_f64(-7777.25); g.planes * g.oh * g.ow];
        let mut arg = vec![NO_ARGMAX; out.len()];
        max_pool2d(&g, &x, &mut out, &mut arg);
        let what = format!("{} max_pool2d {g:?}", name::<T>());
        common::assert_all_close(&out, &want, 0.0, 0.0, &what);
        assert_eq!(arg, want_arg, "{what}: argmax");
        checked += 1;
    }
    assert!(checked > 100, "too few valid geometries: {checked}");
}

#[test]
fn max_pool2d_matches_reference_first_max_on_ties() {
    max_pool_matches_reference::<f32>(62);
    max_pool_matches_reference::<f64>(63);
}

fn avg_pool_matches_reference<T: Float>(seed: u64) {
    let mut rng = rng(seed);
    let tol = if T::BYTES == 4 { 1e-6 } else { 1e-14 };
    for _ in 0..400 {
        let mut c = random_pool(&mut rng);
        c.dilation = (1, 1); // as torch's avg_pool2d
        let Some(g) = pool_geometry(&c) else { continue };
        let x: Vec<T> = common::uniform(&mut rng, g.planes * g.h * g.w, -1.0, 1.0);
        let xf: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
        for include in [true, false] {
            let mut out = vec![T::from_f64(-7777.25); g.planes * g.oh * g.ow];
            avg_pool2d(&g, &x, &mut out, include);
            let want = naive_avg(&g, &xf, include);
            let what = format!("{} avg_pool2d include_pad={include} {g:?}", name::<T>());
            common::assert_all_close(&out, &want, tol, tol, &what);
        }
    }
}

#[test]
fn avg_pool2d_matches_reference_with_and_without_padding_count() {
    avg_pool_matches_reference::<f32>(64);
    avg_pool_matches_reference::<f64>(65);
}

/// A hand-checked case: 4x4 with a 3x3 window, padding 1, stride 2.
#[test]
fn pooling_hand_checked() {
    let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let g = Pool2dGeometry::new(1, (4, 4), (3, 3), (2, 2), (1, 1), (1, 1)).unwrap();
    assert_eq!((g.oh, g.ow), (2, 2));
    let (mut out, mut arg) = (vec![0.0; 4], vec![0; 4]);
    max_pool2d(&g, &x, &mut out, &mut arg);
    assert_eq!(out, [5.0, 7.0, 13.0, 15.0]);
    assert_eq!(arg, [5, 7, 13, 15]);
    avg_pool2d(&g, &x, &mut out, true);
    // Window (0, 0) covers rows -1..=1, cols -1..=1: 0 + 1 + 4 + 5 over 9, or over 4.
    assert_eq!(out[0], 10.0 / 9.0);
    avg_pool2d(&g, &x, &mut out, false);
    assert_eq!(out[0], 2.5);
    // All equal: the first position wins.
    let x = [3.0f64; 16];
    let g = Pool2dGeometry::new(1, (4, 4), (2, 2), (2, 2), (0, 0), (1, 1)).unwrap();
    let (mut out, mut arg) = (vec![0.0; 4], vec![0; 4]);
    max_pool2d(&g, &x, &mut out, &mut arg);
    assert_eq!(arg, [0, 2, 8, 10]);
    // Windows entirely in the padding: width 1, kernel 2, padding 1, dilation 2 reads columns
    // -1 and 1 only; an empty input likewise. Accepted, but flagged.
    let g = Pool2dGeometry::new(1, (4, 1), (1, 2), (1, 1), (0, 1), (1, 2)).unwrap();
    assert!(!g.windows_nonempty());
    let g = Pool2dGeometry::new(1, (0, 4), (2, 2), (1, 1), (1, 1), (1, 1)).unwrap();
    assert!(!g.windows_nonempty());
    assert!(
        Pool2dGeometry::new(1, (4, 4), (3, 3), (1, 1), (1, 1), (2, 2))
            .unwrap()
            .windows_nonempty()
    );
    // Padding over half the window is refused.
    assert!(Pool2dGeometry::new(1, (4, 4), (3, 3), (1, 1), (2, 2), (1, 1)).is_none());
}

/// Pooling over many planes splits planes over threads: same bits on any thread count.
#[test]
fn pooling_parallel_equals_serial() {
    let g = Pool2dGeometry::new(96, (40, 37), (3, 3), (2, 2), (1, 1), (1, 1)).unwrap();
    let mut rng = rng(66);
    let x: Vec<f32> = common::uniform(&mut rng, 96 * 40 * 37, -1.0, 1.0);
    assert!(x.len() >= descent_kernels::parallel::PAR_THRESHOLD);
    common::assert_thread_count_invariant("max_pool2d", || {
        let mut out = vec![0.0f32; 96 * g.oh * g.ow];
        let mut arg = vec![0u32; out.len()];
        max_pool2d(&g, &x, &mut out, &mut arg);
        out.extend(arg.iter().map(|&a| a as f32));
        out
    });
    common::assert_thread_count_invariant("avg_pool2d", || {
        let mut out = vec![0.0f32; 96 * g.oh * g.ow];
        avg_pool2d(&g, &x, &mut out, false);
        out
    });
    let g = AdaptivePool2dGeometry::new(96, (40, 37), (7, 5)).unwrap();
    common::assert_thread_count_invariant("adaptive_avg_pool2d", || {
        let mut out = vec![0.0f32; 96 * 7 * 5];
        adaptive_avg_pool2d(&g, &x, &mut out);
        out
    });
}

/// The adaptive bins as PyTorch defines them, from real-number floor and ceil.
#[test]
fn adaptive_bins_are_pytorchs() {
    for len in 1..=12usize {
        for out in 1..=12usize {
            let mut covered = vec![false; len];
            for i in 0..out {
                let (a, b) = adaptive_bin(i, len, out);
                let start = (i as f64 * len as f64 / out as f64).floor() as usize;
                let end = ((i + 1) as f64 * len as f64 / out as f64).ceil() as usize;
                assert_eq!((a, b), (start, end), "bin {i} of {out} over {len}");
                assert!(a < b && b <= len);
                covered[a..b].iter_mut().for_each(|c| *c = true);
            }
            assert!(covered.iter().all(|&c| c), "{out} bins cover {len}");
        }
    }
    // 5 rows into 3 bins: [0, 2), [1, 4), [3, 5): overlapping by one row.
    let bins: Vec<_> = (0..3).map(|i| adaptive_bin(i, 5, 3)).collect();
    assert_eq!(bins, [(0, 2), (1, 4), (3, 5)]);
    assert!(AdaptivePool2dGeometry::new(1, (0, 3), (1, 1)).is_none());
    assert!(AdaptivePool2dGeometry::new(1, (3, 3), (1, 0)).is_none());
}

/// Adaptive average pooling against a naive loop over each bin, with output sizes below, equal to
/// and above the input's, divisible or not.
fn adaptive_matches_reference<T: Float>(seed: u64) {
    let mut rng = rng(seed);
    for _ in 0..200 {
        let (planes, h, w) = (
            rng.random_range(0..=3),
            rng.random_range(1..=9),
            rng.random_range(1..=9),
        );
        let (oh, ow) = (rng.random_range(1..=10), rng.random_range(1..=10));
        let g = AdaptivePool2dGeometry::new(planes, (h, w), (oh, ow)).unwrap();
        let x: Vec<T> = common::uniform(&mut rng, planes * h * w, -1.0, 1.0);
        let mut out = vec![T::from_f64(f64::NAN); planes * oh * ow];
        adaptive_avg_pool2d(&g, &x, &mut out);
        let mut want = vec![0.0; out.len()];
        for pl in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    let y0 = oy * h / oh;
                    let y1 = ((oy + 1) * h).div_ceil(oh);
                    let x0 = ox * w / ow;
                    let x1 = ((ox + 1) * w).div_ceil(ow);
                    let mut s = 0.0;
                    for y in y0..y1 {
                        for xx in x0..x1 {
                            s += x[(pl * h + y) * w + xx].to_f64();
                        }
                    }
                    want[(pl * oh + oy) * ow + ox] = s / ((y1 - y0) * (x1 - x0)) as f64;
                }
            }
        }
        let tol = if T::BYTES == 4 { 1e-6 } else { 1e-14 };
        let err = rel_err(&out, &want);
        assert!(
            err < tol,
            "{} adaptive {g:?}: relative error {err}",
            name::<T>()
        );
    }
}

#[test]
fn adaptive_avg_pool2d_matches_reference() {
    adaptive_matches_reference::<f32>(67);
    adaptive_matches_reference::<f64>(68);
}

/// The direct path (grouped, one input channel per group: depthwise, with channel multipliers 1
/// and 2) on rows long enough for the vectorized loops, forward and both backward kernels against
/// the reference and the adjoint identity.
#[test]
fn depthwise_direct_path_matches_reference() {
    let mut rng = rng(69);
    for (mult, stride, padding, dilation) in [
        (1, (1, 1), (1, 1), (1, 1)),
        (2, (1, 1), (2, 0), (2, 1)),
        (1, (2, 3), (1, 2), (1, 2)),
        (2, (3, 1), (0, 1), (1, 1)),
    ] {
        let (n, c, h, w) = (2, 3, 11, 37);
        let g = Conv2dGeometry::grouped(
            [n, c, h, w],
            [c * mult, 1, 3, 4],
            stride,
            padding,
            dilation,
            c,
        )
        .unwrap();
        assert!(g.is_direct());
        let x: Vec<f64> = common::uniform(&mut rng, n * c * h * w, -1.0, 1.0);
        let wt: Vec<f64> = common::uniform(&mut rng, g.c_out * g.k(), -1.0, 1.0);
        let b: Vec<f64> = common::uniform(&mut rng, g.c_out, -1.0, 1.0);
        let mut out = vec![f64::NAN; n * g.c_out * g.p()];
        conv2d(&g, &x, &wt, Some(&b), &mut out);
        let want = conv2d_reference(&g, &x, &wt, Some(&b));
        assert!(rel_err(&out, &want) < 1e-14, "{g:?}");
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let wf: Vec<f32> = wt.iter().map(|&v| v as f32).collect();
        let mut of = vec![f32::NAN; out.len()];
        conv2d(&g, &xf, &wf, None, &mut of);
        let want = conv2d_reference(&g, &xf, &wf, None);
        assert!(rel_err(&of, &want) < 1e-6, "f32 {g:?}");
        // <conv(x, w), go> = <x, grad_in> = <w, grad_w>.
        let go: Vec<f64> = common::uniform(&mut rng, out.len(), -1.0, 1.0);
        let mut y = vec![0.0; out.len()];
        conv2d(&g, &x, &wt, None, &mut y);
        let mut gx = vec![f64::NAN; x.len()];
        descent_kernels::conv::conv2d_backward_input(&g, &wt, &go, &mut gx);
        let mut gw = vec![f64::NAN; wt.len()];
        descent_kernels::conv::conv2d_backward_weight(&g, &x, &go, &mut gw);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
        let lhs = dot(&y, &go);
        assert!(
            (lhs - dot(&x, &gx)).abs() < 1e-10 * (1.0 + lhs.abs()),
            "{g:?}"
        );
        assert!(
            (lhs - dot(&wt, &gw)).abs() < 1e-10 * (1.0 + lhs.abs()),
            "{g:?}"
        );
    }
    // Not direct: ungrouped, or several input channels per group.
    let plain = Conv2dGeometry::new([1, 1, 4, 4], [2, 1, 3, 3], (1, 1), (0, 0), (1, 1)).unwrap();
    assert!(!plain.is_direct());
    let g2 =
        Conv2dGeometry::grouped([1, 4, 4, 4], [2, 2, 3, 3], (1, 1), (0, 0), (1, 1), 2).unwrap();
    assert!(!g2.is_direct());
}
