//! 2-D convolution by im2col + GEMM (NCHW input, `(c_out, c_in / groups, kh, kw)` weight), with
//! an optional bias and channel groups.
//!
//! Contract, with `G = groups`, `cig = c_in / G`, `cog = c_out / G` and `grp = co / cog` the group
//! of output channel `co`:
//! `out[n, co, y, x] = bias[co] + sum_{ci < cig, i, j} w[co, ci, i, j] *
//! in[n, grp*cig + ci, y*stride_h + i*dilation_h - padding_h, x*stride_w + j*dilation_w - padding_w]`,
//! reading zeros outside the input (`bias[co] = 0` without a bias). All buffers are contiguous
//! row-major. Each group is one im2col and one GEMM per sample; `groups = c_in = c_out` is a
//! depthwise convolution. Ungrouped 3x3 convolutions with stride and dilation 1 compute the
//! forward product (from 8 channels on each side) and both gradients (from 16) by Winograd's
//! F(2x2, 3x3) instead ([`crate::winograd`]; the same contract, to rounding).

use crate::float::Float;
use crate::matmul::{MatRef, gemm_with};
use crate::reduce::{ReduceOp, reduce_row};
use rayon::prelude::*;

/// The sizes of one convolution; build it with [`Conv2dGeometry::new`], which checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Channel groups: input and output channels are split into `groups` equal blocks and block
    /// `g` of the output sees only block `g` of the input.
    pub groups: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride `(h, w)`.
    pub stride: (usize, usize),
    /// Zero padding `(h, w)` on both sides.
    pub padding: (usize, usize),
    /// Dilation `(h, w)`.
    pub dilation: (usize, usize),
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

/// Output length of one spatial axis, or `None` if the dilated kernel is larger than the padded
/// input (or a stride or dilation is zero).
pub fn conv_out_len(
    len: usize,
    k: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Option<usize> {
    if stride == 0 || dilation == 0 || k == 0 {
        return None;
    }
    let span = dilation * (k - 1) + 1;
    let padded = len + 2 * padding;
    if span > padded {
        return None;
    }
    Some((padded - span) / stride + 1)
}

impl Conv2dGeometry {
    /// Checks the sizes of an ungrouped convolution (`groups = 1`) and computes the output size;
    /// `None` if the kernel does not fit or the channels differ.
    pub fn new(
        input: [usize; 4],
        weight: [usize; 4],
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Option<Self> {
        Self::grouped(input, weight, stride, padding, dilation, 1)
    }

    /// As [`Conv2dGeometry::new`] with `groups` channel groups: the weight is
    /// `[c_out, c_in / groups, kh, kw]`. `None` also if `groups` is zero or does not divide both
    /// channel counts.
    pub fn grouped(
        input: [usize; 4],
        weight: [usize; 4],
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
        groups: usize,
    ) -> Option<Self> {
        let [n, c_in, h, w] = input;
        let [c_out, wc, kh, kw] = weight;
        if groups == 0
            || !c_in.is_multiple_of(groups)
            || !c_out.is_multiple_of(groups)
            || wc.checked_mul(groups) != Some(c_in)
        {
            return None;
        }
        let oh = conv_out_len(h, kh, stride.0, padding.0, dilation.0)?;
        let ow = conv_out_len(w, kw, stride.1, padding.1, dilation.1)?;
        Some(Conv2dGeometry {
            n,
            c_in,
            h,
            w,
            c_out,
            groups,
            kh,
            kw,
            stride,
            padding,
            dilation,
            oh,
            ow,
        })
    }

    /// Input channels per group: `c_in / groups`.
    pub fn c_in_per_group(&self) -> usize {
        self.c_in / self.groups
    }

    /// Output channels per group: `c_out / groups`.
    pub fn c_out_per_group(&self) -> usize {
        self.c_out / self.groups
    }

    /// Rows of one group's column matrix, and the length of one weight row:
    /// `c_in / groups * kh * kw`.
    pub fn k(&self) -> usize {
        self.c_in_per_group() * self.kh * self.kw
    }

    /// Whether the kernels take the direct path instead of im2col + GEMM: grouped with one input
    /// channel per group (depthwise, with any channel multiplier). Each group's GEMM would be
    /// `c_out / groups x kh kw x oh ow`, too small to pay for the packing and the im2col copy; the
    /// direct loops do the same multiply-adds as one shifted axpy per kernel tap and output row.
    pub fn is_direct(&self) -> bool {
        self.groups > 1 && self.c_in_per_group() == 1
    }

    /// The output columns `[lo, hi)` whose tap `j` falls inside the input, with the weight `wv`
    /// and the input column of `lo`.
    #[inline]
    fn tap_columns<T>(&self, j: usize, wv: T) -> TapColumns<T> {
        let shift = j * self.dilation.1;
        let (pad, stride) = (self.padding.1, self.stride.1);
        // ox * stride + shift - pad in [0, w).
        let lo = pad.saturating_sub(shift).div_ceil(stride);
        let hi = (self.w + pad)
            .saturating_sub(shift)
            .div_ceil(stride)
            .min(self.ow);
        TapColumns {
            lo,
            hi: hi.max(lo),
            x_lo: (lo * stride + shift).saturating_sub(pad),
            wv,
        }
    }

    /// Asserts the slice lengths of a forward convolution.
    pub(crate) fn check_forward<T>(
        &self,
        input: &[T],
        weight: &[T],
        bias: Option<&[T]>,
        out: &[T],
    ) {
        self.check_operands(input, weight, bias);
        assert_eq!(
            out.len(),
            self.n * self.c_out * self.p(),
            "conv2d: output length"
        );
    }

    /// Asserts the slice lengths of a forward convolution's operands.
    pub(crate) fn check_operands<T>(&self, input: &[T], weight: &[T], bias: Option<&[T]>) {
        assert_eq!(
            input.len(),
            self.n * self.c_in * self.h * self.w,
            "conv2d: input length"
        );
        assert_eq!(weight.len(), self.c_out * self.k(), "conv2d: weight length");
        if let Some(b) = bias {
            assert_eq!(b.len(), self.c_out, "conv2d: bias length");
        }
    }

    /// Asserts the slice lengths of an input gradient.
    pub(crate) fn check_input_grad<T>(&self, weight: &[T], grad_out: &[T], grad_in: &[T]) {
        assert_eq!(
            weight.len(),
            self.c_out * self.k(),
            "conv2d_backward_input: weight length"
        );
        assert_eq!(
            grad_out.len(),
            self.n * self.c_out * self.p(),
            "conv2d_backward_input: grad_out length"
        );
        assert_eq!(
            grad_in.len(),
            self.n * self.c_in * self.h * self.w,
            "conv2d_backward_input: grad_in length"
        );
    }

    /// Asserts the slice lengths of a weight gradient.
    pub(crate) fn check_weight_grad<T>(&self, input: &[T], grad_out: &[T], grad_w: &[T]) {
        assert_eq!(
            input.len(),
            self.n * self.c_in * self.h * self.w,
            "conv2d_backward_weight: input length"
        );
        assert_eq!(
            grad_out.len(),
            self.n * self.c_out * self.p(),
            "conv2d_backward_weight: grad_out length"
        );
        assert_eq!(
            grad_w.len(),
            self.c_out * self.k(),
            "conv2d_backward_weight: grad_w length"
        );
    }

    /// Output pixels per channel: `oh * ow`.
    pub fn p(&self) -> usize {
        self.oh * self.ow
    }

    /// Input row `y` (may be negative or past the end) read by output row `oy` and kernel row `i`.
    #[inline]
    fn in_y(&self, oy: usize, i: usize) -> isize {
        (oy * self.stride.0 + i * self.dilation.0) as isize - self.padding.0 as isize
    }

    #[inline]
    fn in_x(&self, ox: usize, j: usize) -> isize {
        (ox * self.stride.1 + j * self.dilation.1) as isize - self.padding.1 as isize
    }
}

/// Unfolds the channels of one group of one sample, `[c_in / groups, h, w]`, into `cols`
/// `[k, oh * ow]` with `k = c_in / groups * kh * kw` (the whole sample when `groups = 1`).
pub fn im2col<T: Float>(g: &Conv2dGeometry, input: &[T], cols: &mut [T]) {
    assert_eq!(
        input.len(),
        g.c_in_per_group() * g.h * g.w,
        "im2col: input length"
    );
    assert_eq!(cols.len(), g.k() * g.p(), "im2col: cols length");
    let p = g.p();
    for (row, col_row) in cols.chunks_mut(p).enumerate() {
        let c = row / (g.kh * g.kw);
        let i = (row / g.kw) % g.kh;
        let j = row % g.kw;
        let plane = &input[c * g.h * g.w..(c + 1) * g.h * g.w];
        // The output columns [lo, hi) whose tap j lands inside the row; the rest read padding.
        let t = g.tap_columns(j, ());
        let sx = g.stride.1;
        for oy in 0..g.oh {
            let y = g.in_y(oy, i);
            let dst = &mut col_row[oy * g.ow..(oy + 1) * g.ow];
            if y < 0 || y >= g.h as isize {
                dst.iter_mut().for_each(|v| *v = T::ZERO);
                continue;
            }
            if t.lo >= t.hi {
                dst.iter_mut().for_each(|v| *v = T::ZERO);
                continue;
            }
            let src = &plane[y as usize * g.w..(y as usize + 1) * g.w];
            dst[..t.lo].iter_mut().for_each(|v| *v = T::ZERO);
            dst[t.hi..].iter_mut().for_each(|v| *v = T::ZERO);
            let inside = &mut dst[t.lo..t.hi];
            if sx == 1 {
                inside.copy_from_slice(&src[t.x_lo..t.x_lo + inside.len()]);
            } else {
                for (d, &v) in inside.iter_mut().zip(src[t.x_lo..].iter().step_by(sx)) {
                    *d = v;
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds `cols` `[k, oh * ow]` back into the channels of one group of
/// one sample, `[c_in / groups, h, w]` (accumulating, as several output pixels read the same
/// input pixel).
pub fn col2im<T: Float>(g: &Conv2dGeometry, cols: &[T], input: &mut [T]) {
    assert_eq!(
        input.len(),
        g.c_in_per_group() * g.h * g.w,
        "col2im: input length"
    );
    assert_eq!(cols.len(), g.k() * g.p(), "col2im: cols length");
    let p = g.p();
    for (row, col_row) in cols.chunks(p).enumerate() {
        let c = row / (g.kh * g.kw);
        let i = (row / g.kw) % g.kh;
        let j = row % g.kw;
        let plane = &mut input[c * g.h * g.w..(c + 1) * g.h * g.w];
        let t = g.tap_columns(j, ());
        let sx = g.stride.1;
        for oy in 0..g.oh {
            let y = g.in_y(oy, i);
            if y < 0 || y >= g.h as isize || t.lo >= t.hi {
                continue;
            }
            let dst = &mut plane[y as usize * g.w..(y as usize + 1) * g.w];
            let src = &col_row[oy * g.ow + t.lo..oy * g.ow + t.hi];
            if sx == 1 {
                for (d, &v) in dst[t.x_lo..t.x_lo + src.len()].iter_mut().zip(src) {
                    *d += v;
                }
            } else {
                for (d, &v) in dst[t.x_lo..].iter_mut().step_by(sx).zip(src) {
                    *d += v;
                }
            }
        }
    }
}

/// The output columns of one kernel tap on the direct path (see
/// [`Conv2dGeometry::tap_columns`]).
#[derive(Clone, Copy)]
struct TapColumns<T> {
    lo: usize,
    hi: usize,
    x_lo: usize,
    wv: T,
}

/// `dst[k * ds] += wv * src[k * ss]` for `k < n`; with both strides 1, a contiguous loop that
/// vectorizes.
#[inline(always)]
fn axpy<T: Float>(n: usize, wv: T, src: &[T], ss: usize, dst: &mut [T], ds: usize) {
    if ss == 1 && ds == 1 {
        for (d, &v) in dst[..n].iter_mut().zip(&src[..n]) {
            *d += wv * v;
        }
    } else {
        for k in 0..n {
            dst[k * ds] += wv * src[k * ss];
        }
    }
}

/// `sum_k a[k * sa] * b[k]` for `k < n`, in eight interleaved partial sums combined in a fixed
/// order (so it vectorizes and does not depend on anything but the data).
#[inline(always)]
fn dot<T: Float>(n: usize, a: &[T], sa: usize, b: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    if sa == 1 {
        let (a, b) = (&a[..n], &b[..n]);
        let mut ca = a.chunks_exact(8);
        let mut cb = b.chunks_exact(8);
        for (x, y) in (&mut ca).zip(&mut cb) {
            for l in 0..8 {
                acc[l] += x[l] * y[l];
            }
        }
        for (l, (&x, &y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
            acc[l] += x * y;
        }
    } else {
        for k in 0..n {
            acc[k % 8] += a[k * sa] * b[k];
        }
    }
    let (a4, b4) = (
        (acc[0] + acc[4]) + (acc[1] + acc[5]),
        (acc[2] + acc[6]) + (acc[3] + acc[7]),
    );
    a4 + b4
}

/// Calls `f(y, oy)` for each output row `oy` whose kernel row `i` reads an input row `y`.
#[inline(always)]
fn for_rows(g: &Conv2dGeometry, i: usize, mut f: impl FnMut(usize, usize)) {
    for oy in 0..g.oh {
        let y = g.in_y(oy, i);
        if y >= 0 && y < g.h as isize {
            f(y as usize, oy);
        }
    }
}

/// The direct path's walk: for each kernel tap `(i, j)` with weight `w_taps[i kw + j]` and each
/// output row it reaches, `f(y, oy, columns)`.
#[inline(always)]
fn direct_taps<T: Float>(
    g: &Conv2dGeometry,
    w_taps: &[T],
    mut f: impl FnMut(usize, usize, TapColumns<T>),
) {
    for i in 0..g.kh {
        for j in 0..g.kw {
            let cols = g.tap_columns(j, w_taps[i * g.kw + j]);
            if cols.lo < cols.hi {
                for_rows(g, i, |y, oy| f(y, oy, cols));
            }
        }
    }
}

/// Forward convolution: `out` `[n, c_out, oh, ow]` from `input` `[n, c_in, h, w]`, `weight`
/// `[c_out, c_in / groups, kh, kw]` and an optional `bias` `[c_out]`.
///
/// Parallel over the batch; each sample is, per group, one [`im2col`] and one GEMM
/// `out_g <- W_g cols_g` (`cog x k` times `k x p`). With a bias, the output rows of the group are
/// first filled with their bias and the GEMM accumulates onto them (`beta = 1`), so the bias
/// costs no pass of its own. Depthwise-like geometries ([`Conv2dGeometry::is_direct`]) skip
/// im2col and GEMM: each output plane starts as its bias and gets one shifted axpy per tap.
///
/// # Panics
/// If a slice length does not match the geometry.
pub fn conv2d<T: Float>(
    g: &Conv2dGeometry,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
) {
    g.check_forward(input, weight, bias, out);
    if out.is_empty() {
        return;
    }
    if crate::winograd::used_for_forward(g) {
        return crate::winograd::conv2d(g, input, weight, bias, out);
    }
    let sample_in = g.c_in * g.h * g.w;
    let group_in = g.c_in_per_group() * g.h * g.w;
    let sample_out = g.c_out * g.p();
    let (k, p, cog) = (g.k(), g.p(), g.c_out_per_group());
    let direct = g.is_direct();
    let parallel = g.n > 1 && rayon::current_num_threads() > 1;
    let one = |(s, out_s): (usize, &mut [T])| {
        let x_s = &input[s * sample_in..(s + 1) * sample_in];
        if direct {
            // One input plane per group: out[co] = bias[co] + sum_taps w[co, tap] * shifted x[grp].
            for (co, out_c) in out_s.chunks_mut(p).enumerate() {
                out_c.fill(bias.map_or(T::ZERO, |b| b[co]));
                let plane = &x_s[co / cog * group_in..(co / cog + 1) * group_in];
                direct_taps(g, &weight[co * k..(co + 1) * k], |y, oy, t| {
                    let src = &plane[y * g.w + t.x_lo..(y + 1) * g.w];
                    let dst = &mut out_c[oy * g.ow + t.lo..(oy + 1) * g.ow];
                    axpy(t.hi - t.lo, t.wv, src, g.stride.1, dst, 1);
                });
            }
            return;
        }
        let mut cols = crate::buffer::Buffer::<T>::for_overwrite(k * p); // Overwritten by im2col or a GEMM.
        for (grp, out_g) in out_s.chunks_mut(cog * p).enumerate() {
            im2col(g, &x_s[grp * group_in..(grp + 1) * group_in], &mut cols);
            let w = MatRef {
                data: weight,
                offset: grp * cog * k,
                rs: k,
                cs: 1,
            };
            let c = MatRef {
                data: &cols,
                offset: 0,
                rs: p,
                cs: 1,
            };
            match bias {
                Some(b) => {
                    for (row, &bv) in out_g.chunks_mut(p).zip(&b[grp * cog..(grp + 1) * cog]) {
                        row.iter_mut().for_each(|v| *v = bv);
                    }
                    gemm_with(cog, k, p, w, c, true, !parallel, out_g);
                }
                None => gemm_with(cog, k, p, w, c, false, !parallel, out_g),
            }
        }
    };
    crate::parallel::for_each_chunk_mut(out, sample_out, parallel, one);
}

/// The naive reference: the contract's sum as nested loops, in `f64`.
pub fn conv2d_reference<T: Float>(
    g: &Conv2dGeometry,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
) -> Vec<f64> {
    let (cig, cog) = (g.c_in_per_group(), g.c_out_per_group());
    let mut out = vec![0.0; g.n * g.c_out * g.p()];
    for n in 0..g.n {
        for co in 0..g.c_out {
            let grp = co / cog;
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut s = bias.map_or(0.0, |b| b[co].to_f64());
                    for ci in 0..cig {
                        for i in 0..g.kh {
                            for j in 0..g.kw {
                                let (y, x) = (g.in_y(oy, i), g.in_x(ox, j));
                                if y < 0 || x < 0 || y >= g.h as isize || x >= g.w as isize {
                                    continue;
                                }
                                let c = grp * cig + ci;
                                let iv =
                                    input[((n * g.c_in + c) * g.h + y as usize) * g.w + x as usize];
                                let wv = weight[((co * cig + ci) * g.kh + i) * g.kw + j];
                                s += iv.to_f64() * wv.to_f64();
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

/// The gradient of [`conv2d`] with respect to its input: `grad_in` `[n, c_in, h, w]` from
/// `grad_out` `[n, c_out, oh, ow]` and `weight`. Per sample and group, `cols = W_g^T grad_out_g`
/// (one GEMM with `W_g` read transposed through its strides) and [`col2im`] folds the columns
/// back into the group's input channels. Parallel over the batch; `grad_in` is overwritten.
///
/// # Panics
/// If a slice length does not match the geometry.
pub fn conv2d_backward_input<T: Float>(
    g: &Conv2dGeometry,
    weight: &[T],
    grad_out: &[T],
    grad_in: &mut [T],
) {
    g.check_input_grad(weight, grad_out, grad_in);
    if crate::winograd::used_for_input_grad(g) {
        return crate::winograd::conv2d_backward_input(g, weight, grad_out, grad_in);
    }
    let sample_in = g.c_in * g.h * g.w;
    if sample_in == 0 {
        return;
    }
    let group_in = g.c_in_per_group() * g.h * g.w;
    let sample_out = g.c_out * g.p();
    let (k, p, cog) = (g.k(), g.p(), g.c_out_per_group());
    let direct = g.is_direct();
    let parallel = g.n > 1 && rayon::current_num_threads() > 1;
    let one = |(s, gin): (usize, &mut [T])| {
        gin.iter_mut().for_each(|v| *v = T::ZERO);
        if direct {
            // grad_in[grp] += sum over the group's output channels and taps of w * grad_out.
            for (grp, gin_c) in gin.chunks_mut(group_in).enumerate() {
                for co in grp * cog..(grp + 1) * cog {
                    let go = &grad_out[s * sample_out + co * p..s * sample_out + (co + 1) * p];
                    direct_taps(g, &weight[co * k..(co + 1) * k], |y, oy, t| {
                        let src = &go[oy * g.ow + t.lo..(oy + 1) * g.ow];
                        let dst = &mut gin_c[y * g.w + t.x_lo..(y + 1) * g.w];
                        axpy(t.hi - t.lo, t.wv, src, 1, dst, g.stride.1);
                    });
                }
            }
            return;
        }
        let mut cols = crate::buffer::Buffer::<T>::for_overwrite(k * p); // Overwritten by im2col or a GEMM.
        for (grp, gin_g) in gin.chunks_mut(group_in).enumerate() {
            let wt = MatRef {
                data: weight,
                offset: grp * cog * k,
                rs: 1,
                cs: k,
            };
            let go = MatRef {
                data: grad_out,
                offset: s * sample_out + grp * cog * p,
                rs: p,
                cs: 1,
            };
            gemm_with(k, cog, p, wt, go, false, !parallel, &mut cols);
            col2im(g, &cols, gin_g);
        }
    };
    crate::parallel::for_each_chunk_mut(grad_in, sample_in, parallel, one);
}

/// Both gradients of [`conv2d`]: as [`conv2d_backward_input`] and [`conv2d_backward_weight`]
/// (the same bits), in one pass over the samples where both take the Winograd path (each
/// sample's output-gradient transform is then shared).
///
/// # Panics
/// If a slice length does not match the geometry.
pub fn conv2d_backward_input_weight<T: Float>(
    g: &Conv2dGeometry,
    input: &[T],
    weight: &[T],
    grad_out: &[T],
    grad_in: &mut [T],
    grad_w: &mut [T],
) {
    if crate::winograd::used_for_input_grad(g) && crate::winograd::used_for_weight_grad(g) {
        return crate::winograd::conv2d_backward_input_weight(
            g, input, weight, grad_out, grad_in, grad_w,
        );
    }
    conv2d_backward_input(g, weight, grad_out, grad_in);
    conv2d_backward_weight(g, input, grad_out, grad_w);
}

/// The gradient of [`conv2d`] with respect to its weight: for each group,
/// `grad_w_g` `[c_out / groups, k]` `= sum_n grad_out_{n,g} cols_{n,g}^T`. The batch is cut into
/// at most 8 runs of consecutive samples (the cut depends on the batch size alone); each
/// (group, run) accumulates its samples in order into a partial sum of its own, in parallel, and
/// the partial sums are then added in run order, so the result does not depend on the thread
/// count. `grad_w` is overwritten.
///
/// # Panics
/// If a slice length does not match the geometry.
pub fn conv2d_backward_weight<T: Float>(
    g: &Conv2dGeometry,
    input: &[T],
    grad_out: &[T],
    grad_w: &mut [T],
) {
    g.check_weight_grad(input, grad_out, grad_w);
    grad_w.iter_mut().for_each(|v| *v = T::ZERO);
    if grad_w.is_empty() {
        return;
    }
    if crate::winograd::used_for_weight_grad(g) {
        return crate::winograd::conv2d_backward_weight(g, input, grad_out, grad_w);
    }
    let sample_in = g.c_in * g.h * g.w;
    let group_in = g.c_in_per_group() * g.h * g.w;
    let sample_out = g.c_out * g.p();
    let (k, p, cog) = (g.k(), g.p(), g.c_out_per_group());
    if g.is_direct() {
        // grad_w[co, tap] = sum_n sum_pixels grad_out[n, co] * shifted x[n, grp], batch in order.
        let one = |(co, gw): (usize, &mut [T])| {
            for s in 0..g.n {
                let at = s * sample_in + co / cog * group_in;
                let plane = &input[at..at + group_in];
                let go = &grad_out[s * sample_out + co * p..s * sample_out + (co + 1) * p];
                for (tap, gwt) in gw.iter_mut().enumerate() {
                    let (i, j) = (tap / g.kw, tap % g.kw);
                    let mut acc = T::ZERO;
                    let t = g.tap_columns(j, T::ONE);
                    if t.lo < t.hi {
                        for_rows(g, i, |y, oy| {
                            let src = &plane[y * g.w + t.x_lo..(y + 1) * g.w];
                            let gr = &go[oy * g.ow + t.lo..(oy + 1) * g.ow];
                            acc += dot(t.hi - t.lo, src, g.stride.1, gr);
                        });
                    }
                    *gwt += acc;
                }
            }
        };
        crate::parallel::for_each_chunk_mut(grad_w, k, rayon::current_num_threads() > 1, one);
        return;
    }
    // Partial sums over fixed runs of samples (their number depends on the batch size alone),
    // each computed by one task, then added in order: parallel over the batch, and the same
    // bits whatever the thread count, serial included.
    let parts = g.n.min(WEIGHT_GRAD_PARTS);
    let parallel = g.groups * parts > 1 && rayon::current_num_threads() > 1;
    let run = |grp: usize, part: usize, acc: &mut [T]| {
        let mut cols = crate::buffer::Buffer::<T>::for_overwrite(k * p); // Overwritten by im2col.
        let samples = part * g.n / parts..(part + 1) * g.n / parts;
        for s in samples {
            let at = s * sample_in + grp * group_in;
            im2col(g, &input[at..at + group_in], &mut cols);
            let go = MatRef {
                data: grad_out,
                offset: s * sample_out + grp * cog * p,
                rs: p,
                cs: 1,
            };
            let ct = MatRef {
                data: &cols,
                offset: 0,
                rs: 1,
                cs: p,
            };
            gemm_with(cog, p, k, go, ct, true, !parallel, acc);
        }
    };
    let block = cog * k;
    let mut partials = crate::buffer::Buffer::<T>::zeroed(g.groups * parts * block);
    let task = |(i, acc): (usize, &mut [T])| run(i / parts, i % parts, acc);
    crate::parallel::for_each_chunk_mut(&mut partials, block, parallel, task);
    for (gw, group_parts) in grad_w.chunks_mut(block).zip(partials.chunks(parts * block)) {
        for part in group_parts.chunks(block) {
            for (w, &v) in gw.iter_mut().zip(part) {
                *w += v;
            }
        }
    }
}

/// Runs of samples whose weight-gradient contributions [`conv2d_backward_weight`] sums apart
/// (then adds in order): enough for the threads of a laptop-class CPU, few enough that the
/// partial sums (each `c_out x k`) stay small.
const WEIGHT_GRAD_PARTS: usize = 8;

/// The gradient of [`conv2d`] with respect to its bias: `grad_b[co] = sum_{n, y, x}
/// grad_out[n, co, y, x]`, read straight from `grad_out` (nothing is broadcast). Each row
/// `grad_out[n, co]` is summed by [`reduce_row`] and the rows are added in batch order, so the
/// result does not depend on the thread count; the channels are summed in parallel. `grad_b` is
/// overwritten.
///
/// # Panics
/// If a slice length does not match the geometry.
pub fn conv2d_backward_bias<T: Float>(g: &Conv2dGeometry, grad_out: &[T], grad_b: &mut [T]) {
    assert_eq!(
        grad_out.len(),
        g.n * g.c_out * g.p(),
        "conv2d_backward_bias: grad_out length"
    );
    assert_eq!(grad_b.len(), g.c_out, "conv2d_backward_bias: grad_b length");
    let p = g.p();
    let one = |(co, gb): (usize, &mut T)| {
        let mut acc = T::ZERO;
        for s in 0..g.n {
            let at = (s * g.c_out + co) * p;
            acc += reduce_row(ReduceOp::Sum, &grad_out[at..at + p]);
        }
        *gb = acc;
    };
    // Each channel's sum is computed whole by one task, in batch order: the channels can go to
    // any thread.
    if g.c_out > 1 && crate::parallel::worth_parallel(grad_out.len()) {
        grad_b.par_iter_mut().enumerate().for_each(one);
    } else {
        grad_b.iter_mut().enumerate().for_each(one);
    }
}
