//! 2-D convolution by im2col + GEMM (NCHW input, `(c_out, c_in, kh, kw)` weight).
//!
//! Contract: `out[n, co, y, x] = sum_{ci, i, j} w[co, ci, i, j] *
//! in[n, ci, y*stride_h + i*dilation_h - padding_h, x*stride_w + j*dilation_w - padding_w]`,
//! reading zeros outside the input. All buffers are contiguous row-major.

use crate::float::Float;
use crate::matmul::{MatRef, gemm};
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
    /// Checks the sizes and computes the output size; `None` if the kernel does not fit.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        input: [usize; 4],
        weight: [usize; 4],
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Option<Self> {
        let [n, c_in, h, w] = input;
        let [c_out, wc, kh, kw] = weight;
        if wc != c_in {
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
            kh,
            kw,
            stride,
            padding,
            dilation,
            oh,
            ow,
        })
    }

    /// Rows of the column matrix: `c_in * kh * kw`.
    pub fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
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

/// Unfolds one sample `[c_in, h, w]` into `cols` `[c_in * kh * kw, oh * ow]`.
pub fn im2col<T: Float>(g: &Conv2dGeometry, input: &[T], cols: &mut [T]) {
    assert_eq!(input.len(), g.c_in * g.h * g.w, "im2col: input length");
    assert_eq!(cols.len(), g.k() * g.p(), "im2col: cols length");
    let p = g.p();
    for (row, col_row) in cols.chunks_mut(p).enumerate() {
        let c = row / (g.kh * g.kw);
        let i = (row / g.kw) % g.kh;
        let j = row % g.kw;
        let plane = &input[c * g.h * g.w..(c + 1) * g.h * g.w];
        for oy in 0..g.oh {
            let y = g.in_y(oy, i);
            let dst = &mut col_row[oy * g.ow..(oy + 1) * g.ow];
            if y < 0 || y >= g.h as isize {
                dst.iter_mut().for_each(|v| *v = T::ZERO);
                continue;
            }
            let src = &plane[y as usize * g.w..(y as usize + 1) * g.w];
            for (ox, d) in dst.iter_mut().enumerate() {
                let x = g.in_x(ox, j);
                *d = if x < 0 || x >= g.w as isize {
                    T::ZERO
                } else {
                    src[x as usize]
                };
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds `cols` `[c_in * kh * kw, oh * ow]` back into one sample
/// `[c_in, h, w]` (accumulating, as several output pixels read the same input pixel).
pub fn col2im<T: Float>(g: &Conv2dGeometry, cols: &[T], input: &mut [T]) {
    assert_eq!(input.len(), g.c_in * g.h * g.w, "col2im: input length");
    assert_eq!(cols.len(), g.k() * g.p(), "col2im: cols length");
    let p = g.p();
    for (row, col_row) in cols.chunks(p).enumerate() {
        let c = row / (g.kh * g.kw);
        let i = (row / g.kw) % g.kh;
        let j = row % g.kw;
        let plane = &mut input[c * g.h * g.w..(c + 1) * g.h * g.w];
        for oy in 0..g.oh {
            let y = g.in_y(oy, i);
            if y < 0 || y >= g.h as isize {
                continue;
            }
            let dst = &mut plane[y as usize * g.w..(y as usize + 1) * g.w];
            for ox in 0..g.ow {
                let x = g.in_x(ox, j);
                if x >= 0 && x < g.w as isize {
                    dst[x as usize] += col_row[oy * g.ow + ox];
                }
            }
        }
    }
}

/// Forward convolution: `out` `[n, c_out, oh, ow]` from `input` `[n, c_in, h, w]` and `weight`
/// `[c_out, c_in, kh, kw]`. Parallel over the batch; each sample is one im2col and one GEMM.
pub fn conv2d<T: Float>(g: &Conv2dGeometry, input: &[T], weight: &[T], out: &mut [T]) {
    assert_eq!(
        input.len(),
        g.n * g.c_in * g.h * g.w,
        "conv2d: input length"
    );
    assert_eq!(weight.len(), g.c_out * g.k(), "conv2d: weight length");
    assert_eq!(out.len(), g.n * g.c_out * g.p(), "conv2d: output length");
    if out.is_empty() {
        return;
    }
    let sample_in = g.c_in * g.h * g.w;
    let sample_out = g.c_out * g.p();
    let (k, p) = (g.k(), g.p());
    let one = |(s, out_s): (usize, &mut [T])| {
        let mut cols = vec![T::ZERO; k * p];
        im2col(g, &input[s * sample_in..(s + 1) * sample_in], &mut cols);
        let w = MatRef {
            data: weight,
            offset: 0,
            rs: k,
            cs: 1,
        };
        let c = MatRef {
            data: &cols,
            offset: 0,
            rs: p,
            cs: 1,
        };
        gemm(g.c_out, k, p, w, c, out_s);
    };
    if g.n > 1 && rayon::current_num_threads() > 1 {
        out.par_chunks_mut(sample_out).enumerate().for_each(one);
    } else {
        out.chunks_mut(sample_out).enumerate().for_each(one);
    }
}

/// The naive reference: the contract's sum as nested loops, in `f64`.
pub fn conv2d_reference<T: Float>(g: &Conv2dGeometry, input: &[T], weight: &[T]) -> Vec<f64> {
    let mut out = vec![0.0; g.n * g.c_out * g.p()];
    for n in 0..g.n {
        for co in 0..g.c_out {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut s = 0.0;
                    for ci in 0..g.c_in {
                        for i in 0..g.kh {
                            for j in 0..g.kw {
                                let (y, x) = (g.in_y(oy, i), g.in_x(ox, j));
                                if y < 0 || x < 0 || y >= g.h as isize || x >= g.w as isize {
                                    continue;
                                }
                                let iv = input
                                    [((n * g.c_in + ci) * g.h + y as usize) * g.w + x as usize];
                                let wv = weight[((co * g.c_in + ci) * g.kh + i) * g.kw + j];
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
/// `grad_out` `[n, c_out, oh, ow]` and `weight`. Per sample, `cols = W^T grad_out` (one GEMM with
/// `W` read transposed through its strides) and [`col2im`] folds the columns back. Parallel over
/// the batch; `grad_in` is overwritten.
pub fn conv2d_backward_input<T: Float>(
    g: &Conv2dGeometry,
    weight: &[T],
    grad_out: &[T],
    grad_in: &mut [T],
) {
    assert_eq!(
        weight.len(),
        g.c_out * g.k(),
        "conv2d_backward_input: weight length"
    );
    assert_eq!(
        grad_out.len(),
        g.n * g.c_out * g.p(),
        "conv2d_backward_input: grad_out length"
    );
    assert_eq!(
        grad_in.len(),
        g.n * g.c_in * g.h * g.w,
        "conv2d_backward_input: grad_in length"
    );
    let sample_in = g.c_in * g.h * g.w;
    if sample_in == 0 {
        return;
    }
    let sample_out = g.c_out * g.p();
    let (k, p) = (g.k(), g.p());
    let one = |(s, gin): (usize, &mut [T])| {
        gin.iter_mut().for_each(|v| *v = T::ZERO);
        let mut cols = vec![T::ZERO; k * p];
        let wt = MatRef {
            data: weight,
            offset: 0,
            rs: 1,
            cs: k,
        };
        let go = MatRef {
            data: &grad_out[s * sample_out..(s + 1) * sample_out],
            offset: 0,
            rs: p,
            cs: 1,
        };
        gemm(k, g.c_out, p, wt, go, &mut cols);
        col2im(g, &cols, gin);
    };
    if g.n > 1 && rayon::current_num_threads() > 1 {
        grad_in.par_chunks_mut(sample_in).enumerate().for_each(one);
    } else {
        grad_in.chunks_mut(sample_in).enumerate().for_each(one);
    }
}

/// The gradient of [`conv2d`] with respect to its weight: `grad_w` `[c_out, c_in, kh, kw]` =
/// `sum_n grad_out_n cols_n^T`, accumulated sample by sample in batch order (so the result does
/// not depend on the thread count; each GEMM is itself parallel). `grad_w` is overwritten.
pub fn conv2d_backward_weight<T: Float>(
    g: &Conv2dGeometry,
    input: &[T],
    grad_out: &[T],
    grad_w: &mut [T],
) {
    assert_eq!(
        input.len(),
        g.n * g.c_in * g.h * g.w,
        "conv2d_backward_weight: input length"
    );
    assert_eq!(
        grad_out.len(),
        g.n * g.c_out * g.p(),
        "conv2d_backward_weight: grad_out length"
    );
    assert_eq!(
        grad_w.len(),
        g.c_out * g.k(),
        "conv2d_backward_weight: grad_w length"
    );
    grad_w.iter_mut().for_each(|v| *v = T::ZERO);
    let sample_in = g.c_in * g.h * g.w;
    let sample_out = g.c_out * g.p();
    let (k, p) = (g.k(), g.p());
    let mut cols = vec![T::ZERO; k * p];
    for s in 0..g.n {
        im2col(g, &input[s * sample_in..(s + 1) * sample_in], &mut cols);
        let go = MatRef {
            data: &grad_out[s * sample_out..(s + 1) * sample_out],
            offset: 0,
            rs: p,
            cs: 1,
        };
        let ct = MatRef {
            data: &cols,
            offset: 0,
            rs: 1,
            cs: p,
        };
        crate::matmul::gemm_acc(g.c_out, p, k, go, ct, grad_w);
    }
}
