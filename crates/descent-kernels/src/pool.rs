//! 2-D max, average and adaptive average pooling over NCHW planes.
//!
//! Contract: window `(y, x)` covers input rows `y*stride_h + i*dilation_h - padding_h` for
//! `i < kh` (likewise columns); positions outside the input are skipped by max pooling (they act
//! as `-inf`) and count as zeros for average pooling when `count_include_pad` is set (PyTorch's
//! default). `padding <= k / 2` (checked by [`Pool2dGeometry::new`]) makes every window hold an
//! input element only without dilation: a dilated window can fall entirely into the padding. Such
//! a window gives `-inf` with argmax [`NO_ARGMAX`] (max pooling) and `0` or, without
//! `count_include_pad`, NaN (average pooling); callers that need a maximum for every window check
//! [`Pool2dGeometry::windows_nonempty`].
//!
//! Adaptive average pooling (PyTorch's `adaptive_avg_pool2d`) has no stride or window: output
//! row `i` of `oh` averages input rows `[floor(i h / oh), ceil((i + 1) h / oh))` (likewise
//! columns; see [`adaptive_bin`]), so the bins cover the input, may overlap by one row when `oh`
//! does not divide `h`, and are never empty for `h >= 1`.

use crate::conv::conv_out_len;

/// The argmax of a max-pooling window that holds no input element (it lies in the padding).
/// Argmaxes are `u32` positions `y * w + x` inside their plane: half the memory traffic of
/// `usize`, and [`Pool2dGeometry::new`] refuses planes they could not index.
pub const NO_ARGMAX: u32 = u32::MAX;
use crate::float::Float;
use rayon::prelude::*;

/// The sizes of one pooling; build it with [`Pool2dGeometry::new`], which checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dGeometry {
    /// Batch size times channels: the number of planes.
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Stride `(h, w)`.
    pub stride: (usize, usize),
    /// Padding `(h, w)`.
    pub padding: (usize, usize),
    /// Dilation `(h, w)`.
    pub dilation: (usize, usize),
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl Pool2dGeometry {
    /// Checks the sizes and computes the output size; `None` if the window does not fit, a
    /// padding exceeds half the window, or a plane has `u32::MAX` pixels or more (its argmax
    /// positions would not fit in a `u32`).
    pub fn new(
        planes: usize,
        hw: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Option<Self> {
        if padding.0 > kernel.0 / 2 || padding.1 > kernel.1 / 2 {
            return None;
        }
        if hw.0.checked_mul(hw.1)? >= NO_ARGMAX as usize {
            return None;
        }
        let oh = conv_out_len(hw.0, kernel.0, stride.0, padding.0, dilation.0)?;
        let ow = conv_out_len(hw.1, kernel.1, stride.1, padding.1, dilation.1)?;
        Some(Pool2dGeometry {
            planes,
            h: hw.0,
            w: hw.1,
            kh: kernel.0,
            kw: kernel.1,
            stride,
            padding,
            dilation,
            oh,
            ow,
        })
    }

    /// Whether every window holds at least one input element. Always true without dilation
    /// (for a non-empty input); a dilated window can fall entirely into the padding, e.g. width 1,
    /// kernel 2, padding 1, dilation 2 reads columns -1 and 1 only.
    pub fn windows_nonempty(&self) -> bool {
        windows_hit(
            self.h,
            self.kh,
            self.stride.0,
            self.padding.0,
            self.dilation.0,
            self.oh,
        ) && windows_hit(
            self.w,
            self.kw,
            self.stride.1,
            self.padding.1,
            self.dilation.1,
            self.ow,
        )
    }

    /// The input positions of window `(oy, ox)` that are inside the input, as `y * w + x`.
    #[inline]
    fn window(&self, oy: usize, ox: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.kh).flat_map(move |i| {
            let y = (oy * self.stride.0 + i * self.dilation.0) as isize - self.padding.0 as isize;
            (0..self.kw).filter_map(move |j| {
                let x =
                    (ox * self.stride.1 + j * self.dilation.1) as isize - self.padding.1 as isize;
                (y >= 0 && x >= 0 && y < self.h as isize && x < self.w as isize)
                    .then(|| y as usize * self.w + x as usize)
            })
        })
    }
}

/// Whether each of the `out` windows along one axis has a tap inside `[0, len)`.
fn windows_hit(len: usize, k: usize, stride: usize, pad: usize, dil: usize, out: usize) -> bool {
    (0..out).all(|o| {
        (0..k).any(|t| {
            let v = o * stride + t * dil;
            v >= pad && v - pad < len
        })
    })
}

fn planes_par<T: Float, U: Send>(
    g: &Pool2dGeometry,
    out: &mut [T],
    extra: &mut [U],
    f: impl Fn(usize, &mut [T], &mut [U]) + Sync + Send,
) {
    let po = g.oh * g.ow;
    if po == 0 {
        return;
    }
    if g.planes * g.h * g.w >= crate::parallel::PAR_THRESHOLD {
        out.par_chunks_mut(po)
            .zip(extra.par_chunks_mut(po.max(1)))
            .enumerate()
            .for_each(|(pl, (o, e))| f(pl, o, e));
    } else {
        for (pl, (o, e)) in out
            .chunks_mut(po)
            .zip(extra.chunks_mut(po.max(1)))
            .enumerate()
        {
            f(pl, o, e);
        }
    }
}

/// Max pooling; `argmax[i]` receives the in-plane index `y * w + x` of each maximum (the first on
/// ties, a NaN if one is in the window), for the backward pass.
pub fn max_pool2d<T: Float>(g: &Pool2dGeometry, input: &[T], out: &mut [T], argmax: &mut [u32]) {
    let (pi, po) = (g.h * g.w, g.oh * g.ow);
    assert_eq!(input.len(), g.planes * pi, "max_pool2d: input length");
    assert_eq!(out.len(), g.planes * po, "max_pool2d: output length");
    assert_eq!(argmax.len(), g.planes * po, "max_pool2d: argmax length");
    // Without padding or dilation every window lies inside the plane: index it directly (the
    // general path filters each tap through bounds checks, 5x slower on W2's 2x2 pool).
    let plain = g.padding == (0, 0) && g.dilation == (1, 1);
    planes_par(g, out, argmax, |pl, o, am| {
        let plane = &input[pl * pi..(pl + 1) * pi];
        if plain && (g.kh, g.kw, g.stride) == (2, 2, (2, 2)) {
            // The common 2x2/2 pool: two input rows per output row, four taps in (i, j) order.
            for (oy, (o_row, am_row)) in o.chunks_mut(g.ow).zip(am.chunks_mut(g.ow)).enumerate() {
                let (at0, at1) = (2 * oy * g.w, (2 * oy + 1) * g.w);
                let (r0, r1) = (&plane[at0..at0 + 2 * g.ow], &plane[at1..at1 + 2 * g.ow]);
                // Positions fit in u32: the geometry refuses larger planes.
                crate::simd::max_pool_2x2_row(r0, r1, g.w as u32, at0 as u32, o_row, am_row);
            }
            return;
        }
        if plain {
            for oy in 0..g.oh {
                let y0 = oy * g.stride.0;
                for ox in 0..g.ow {
                    let x0 = ox * g.stride.1;
                    let mut best = y0 * g.w + x0;
                    let mut bv = plane[best];
                    for i in 0..g.kh {
                        let row = (y0 + i) * g.w + x0;
                        for (j, &v) in plane[row..row + g.kw].iter().enumerate() {
                            // The same rule as below (the first maximum, a NaN wins), as
                            // selects rather than branches: on real activations which tap wins
                            // is a coin toss, and mispredicted branches were most of the time.
                            let better = (v > bv) | (v.is_nan() & !bv.is_nan());
                            best = if better { row + j } else { best };
                            bv = if better { v } else { bv };
                        }
                    }
                    o[oy * g.ow + ox] = bv;
                    am[oy * g.ow + ox] = best as u32;
                }
            }
            return;
        }
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let mut best = NO_ARGMAX;
                let mut bv = T::NEG_INFINITY;
                for at in g.window(oy, ox) {
                    let v = plane[at];
                    if best == NO_ARGMAX || v > bv || (v.is_nan() && !bv.is_nan()) {
                        best = at as u32;
                        bv = v;
                    }
                }
                o[oy * g.ow + ox] = bv;
                am[oy * g.ow + ox] = best;
            }
        }
    });
}

/// One output row of the 2x2 stride-2 max pool: `out[ox]` is the largest of `r0[2ox]`,
/// `r0[2ox + 1]`, `r1[2ox]`, `r1[2ox + 1]` (the first on ties, a NaN wins) and `am[ox]` its
/// in-plane position, `at0 + 2ox` plus 0, 1, `w` or `w + 1`. Written with selects and no
/// branches so that it vectorizes; dispatched per instruction set by `simd::max_pool_2x2_row`.
#[inline(always)]
pub(crate) fn max_pool_2x2_row_body<T: Float>(
    r0: &[T],
    r1: &[T],
    w: u32,
    at0: u32,
    out: &mut [T],
    am: &mut [u32],
) {
    let n = out.len();
    let (r0, r1, am) = (&r0[..2 * n], &r1[..2 * n], &mut am[..n]);
    for ox in 0..n {
        let (mut bv, mut off) = (r0[2 * ox], 0u32);
        for (v, o) in [
            (r0[2 * ox + 1], 1),
            (r1[2 * ox], w),
            (r1[2 * ox + 1], w + 1),
        ] {
            let better = (v > bv) | (v.is_nan() & !bv.is_nan());
            off = if better { o } else { off };
            bv = if better { v } else { bv };
        }
        out[ox] = bv;
        am[ox] = at0 + 2 * ox as u32 + off;
    }
}

/// Average pooling; the divisor is the window size when `count_include_pad`, else the number of
/// input positions in the window.
pub fn avg_pool2d<T: Float>(
    g: &Pool2dGeometry,
    input: &[T],
    out: &mut [T],
    count_include_pad: bool,
) {
    let (pi, po) = (g.h * g.w, g.oh * g.ow);
    assert_eq!(input.len(), g.planes * pi, "avg_pool2d: input length");
    assert_eq!(out.len(), g.planes * po, "avg_pool2d: output length");
    let full = T::from_usize(g.kh * g.kw);
    let mut none: Vec<()> = vec![(); out.len()];
    planes_par(g, out, &mut none, |pl, o, _| {
        let plane = &input[pl * pi..(pl + 1) * pi];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let mut s = T::ZERO;
                let mut cnt = 0;
                for at in g.window(oy, ox) {
                    s += plane[at];
                    cnt += 1;
                }
                let d = if count_include_pad {
                    full
                } else {
                    T::from_usize(cnt)
                };
                o[oy * g.ow + ox] = s / d;
            }
        }
    });
}

/// The gradient of [`max_pool2d`]: each output gradient is added to the input position its
/// `argmax` names (windows entirely in the padding, [`NO_ARGMAX`], send nothing). `grad_in` is
/// overwritten. Parallel over planes.
pub fn max_pool2d_backward<T: Float>(
    g: &Pool2dGeometry,
    argmax: &[u32],
    grad_out: &[T],
    grad_in: &mut [T],
) {
    let (pi, po) = (g.h * g.w, g.oh * g.ow);
    assert_eq!(
        argmax.len(),
        g.planes * po,
        "max_pool2d_backward: argmax length"
    );
    assert_eq!(
        grad_out.len(),
        g.planes * po,
        "max_pool2d_backward: grad_out length"
    );
    assert_eq!(
        grad_in.len(),
        g.planes * pi,
        "max_pool2d_backward: grad_in length"
    );
    if pi == 0 {
        return;
    }
    let one = |(pl, gin): (usize, &mut [T])| {
        gin.iter_mut().for_each(|v| *v = T::ZERO);
        let (am, go) = (
            &argmax[pl * po..(pl + 1) * po],
            &grad_out[pl * po..(pl + 1) * po],
        );
        for (&at, &gv) in am.iter().zip(go) {
            if at != NO_ARGMAX {
                gin[at as usize] += gv;
            }
        }
    };
    crate::parallel::for_each_chunk_mut(
        grad_in,
        pi,
        g.planes * pi >= crate::parallel::PAR_THRESHOLD,
        one,
    );
}

/// The gradient of ReLU followed by a 2x2 max pool with stride 2 (the last two ops of
/// [`crate::winograd::conv2d_relu_max_pool`]) with respect to the ReLU's input, `planes x oh x
/// ow`: each window's gradient goes to its `argmax` pixel (`0..4` in `(row, column)` order) if
/// the pooled value is positive (the ReLU passed it), and every other value is zero. The same bits
/// as [`max_pool2d_backward`] followed by ReLU's backward (the sum `0 + g` included). `grad_in` is
/// overwritten. Parallel over planes.
///
/// # Panics
/// If a slice length does not match the shape.
pub fn relu_max_pool2x2_backward<T: Float>(
    planes: usize,
    (oh, ow): (usize, usize),
    pooled: &[T],
    argmax: &[u8],
    grad_out: &[T],
    grad_in: &mut [T],
) {
    let (pi, (ph, pw)) = (oh * ow, (oh / 2, ow / 2));
    let po = ph * pw;
    let what = "relu_max_pool2x2_backward";
    assert_eq!(pooled.len(), planes * po, "{what}: pooled length");
    assert_eq!(argmax.len(), planes * po, "{what}: argmax length");
    assert_eq!(grad_out.len(), planes * po, "{what}: grad_out length");
    assert_eq!(grad_in.len(), planes * pi, "{what}: grad_in length");
    if pi == 0 {
        return;
    }
    let one = |(pl, gin): (usize, &mut [T])| {
        let at = pl * po..(pl + 1) * po;
        let (y, am, go) = (&pooled[at.clone()], &argmax[at.clone()], &grad_out[at]);
        for (py, rows) in gin.chunks_mut(2 * ow).enumerate() {
            if py >= ph {
                rows.iter_mut().for_each(|v| *v = T::ZERO);
                continue;
            }
            let (r0, r1) = rows.split_at_mut(ow);
            let row = py * pw..(py + 1) * pw;
            let (y, am, go) = (&y[row.clone()], &am[row.clone()], &go[row]);
            for (px, ((&y, &a), &g)) in y.iter().zip(am).zip(go).enumerate() {
                // ReLU's derivative is 1 where its input was positive, and the pooled value is
                // that input at the argmax.
                let g = if y > T::ZERO { T::ZERO + g } else { T::ZERO };
                let (d0, d1) = (&mut r0[2 * px..2 * px + 2], &mut r1[2 * px..2 * px + 2]);
                d0[0] = if a == 0 { g } else { T::ZERO };
                d0[1] = if a == 1 { g } else { T::ZERO };
                d1[0] = if a == 2 { g } else { T::ZERO };
                d1[1] = if a == 3 { g } else { T::ZERO };
            }
            // An odd width: the last column is in no window.
            r0[2 * pw..].iter_mut().for_each(|v| *v = T::ZERO);
            r1[2 * pw..].iter_mut().for_each(|v| *v = T::ZERO);
        }
    };
    crate::parallel::for_each_chunk_mut(
        grad_in,
        pi,
        planes * pi >= crate::parallel::PAR_THRESHOLD,
        one,
    );
}

/// The gradient of [`avg_pool2d`]: each output gradient, divided by its window's divisor, is
/// added to every input position of the window. `grad_in` is overwritten.
pub fn avg_pool2d_backward<T: Float>(
    g: &Pool2dGeometry,
    grad_out: &[T],
    grad_in: &mut [T],
    count_include_pad: bool,
) {
    let (pi, po) = (g.h * g.w, g.oh * g.ow);
    assert_eq!(
        grad_out.len(),
        g.planes * po,
        "avg_pool2d_backward: grad_out length"
    );
    assert_eq!(
        grad_in.len(),
        g.planes * pi,
        "avg_pool2d_backward: grad_in length"
    );
    if pi == 0 {
        return;
    }
    let full = T::from_usize(g.kh * g.kw);
    let one = |(pl, gin): (usize, &mut [T])| {
        gin.iter_mut().for_each(|v| *v = T::ZERO);
        let go = &grad_out[pl * po..(pl + 1) * po];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let d = if count_include_pad {
                    full
                } else {
                    T::from_usize(g.window(oy, ox).count())
                };
                let share = go[oy * g.ow + ox] / d;
                for at in g.window(oy, ox) {
                    gin[at] += share;
                }
            }
        }
    };
    crate::parallel::for_each_chunk_mut(
        grad_in,
        pi,
        g.planes * pi >= crate::parallel::PAR_THRESHOLD,
        one,
    );
}

/// Bin `i` of `out` adaptive-pooling bins over `len` elements: the half-open range
/// `[floor(i len / out), ceil((i + 1) len / out))`, as PyTorch's `start_index` / `end_index`.
/// Non-empty whenever `len >= 1`.
#[inline]
pub fn adaptive_bin(i: usize, len: usize, out: usize) -> (usize, usize) {
    (i * len / out, ((i + 1) * len).div_ceil(out))
}

/// The sizes of one adaptive pooling; build it with [`AdaptivePool2dGeometry::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptivePool2dGeometry {
    /// Batch size times channels: the number of planes.
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl AdaptivePool2dGeometry {
    /// `None` if a plane or the output is empty (a bin would have nothing to average).
    pub fn new(planes: usize, hw: (usize, usize), out: (usize, usize)) -> Option<Self> {
        if hw.0 == 0 || hw.1 == 0 || out.0 == 0 || out.1 == 0 {
            return None;
        }
        Some(AdaptivePool2dGeometry {
            planes,
            h: hw.0,
            w: hw.1,
            oh: out.0,
            ow: out.1,
        })
    }

    /// Row range and column range of output `(oy, ox)`.
    #[inline]
    fn bins(&self, oy: usize, ox: usize) -> ((usize, usize), (usize, usize)) {
        (
            adaptive_bin(oy, self.h, self.oh),
            adaptive_bin(ox, self.w, self.ow),
        )
    }

    fn parallel(&self) -> bool {
        self.planes > 1 && self.planes * self.h * self.w >= crate::parallel::PAR_THRESHOLD
    }
}

/// Adaptive average pooling: `out[p, oy, ox]` is the mean of `input[p]` over the rows and
/// columns of bin `(oy, ox)` (see [`adaptive_bin`]), summed row by row in order. Parallel over
/// planes above the cut-off.
///
/// # Panics
/// If a slice length does not match the geometry.
pub fn adaptive_avg_pool2d<T: Float>(g: &AdaptivePool2dGeometry, input: &[T], out: &mut [T]) {
    let (pi, po) = (g.h * g.w, g.oh * g.ow);
    assert_eq!(
        input.len(),
        g.planes * pi,
        "adaptive_avg_pool2d: input length"
    );
    assert_eq!(
        out.len(),
        g.planes * po,
        "adaptive_avg_pool2d: output length"
    );
    if out.is_empty() {
        return;
    }
    let one = |(pl, o): (usize, &mut [T])| {
        let plane = &input[pl * pi..(pl + 1) * pi];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let ((y0, y1), (x0, x1)) = g.bins(oy, ox);
                let mut s = T::ZERO;
                for y in y0..y1 {
                    for &v in &plane[y * g.w + x0..y * g.w + x1] {
                        s += v;
                    }
                }
                o[oy * g.ow + ox] = s / T::from_usize((y1 - y0) * (x1 - x0));
            }
        }
    };
    crate::parallel::for_each_chunk_mut(out, po, g.parallel(), one);
}

/// The gradient of [`adaptive_avg_pool2d`]: each output gradient, divided by its bin's size, is
/// added to every input position of the bin (bins may overlap). `grad_in` is overwritten.
/// Parallel over planes above the cut-off.
///
/// # Panics
/// If a slice length does not match the geometry.
pub fn adaptive_avg_pool2d_backward<T: Float>(
    g: &AdaptivePool2dGeometry,
    grad_out: &[T],
    grad_in: &mut [T],
) {
    let (pi, po) = (g.h * g.w, g.oh * g.ow);
    assert_eq!(
        grad_out.len(),
        g.planes * po,
        "adaptive_avg_pool2d_backward: grad_out length"
    );
    assert_eq!(
        grad_in.len(),
        g.planes * pi,
        "adaptive_avg_pool2d_backward: grad_in length"
    );
    if grad_in.is_empty() {
        return;
    }
    let one = |(pl, gin): (usize, &mut [T])| {
        gin.iter_mut().for_each(|v| *v = T::ZERO);
        let go = &grad_out[pl * po..(pl + 1) * po];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let ((y0, y1), (x0, x1)) = g.bins(oy, ox);
                let share = go[oy * g.ow + ox] / T::from_usize((y1 - y0) * (x1 - x0));
                for y in y0..y1 {
                    for v in &mut gin[y * g.w + x0..y * g.w + x1] {
                        *v += share;
                    }
                }
            }
        }
    };
    crate::parallel::for_each_chunk_mut(grad_in, pi, g.parallel(), one);
}
