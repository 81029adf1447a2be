//! Normalization kernels: batch norm over the channels of a contiguous `[n, c, s]` block, layer
//! norm over the rows of a contiguous `[rows, d]` block, forward and backward.
//!
//! Batch norm (channel `k`, its `m = n * s` elements `x[i, k, j]`):
//! `mean_k = sum x / m`, `var_k = sum (x - mean_k)^2 / m` (biased, two passes),
//! `invstd_k = 1 / sqrt(var_k + eps)`, `y = (x - mean_k) invstd_k w_k + b_k`.
//! Its backward with `x_hat = (x - mean_k) invstd_k`: `grad_bias_k = sum g`,
//! `grad_weight_k = sum g x_hat`, and `grad_in = w_k invstd_k (g - sum g / m - x_hat sum(g x_hat) / m)`
//! when the statistics are the batch's own (they depend on `x`), `grad_in = w_k invstd_k g` when
//! they are given (running estimates, constants).
//!
//! Layer norm (row `r` of `d` elements): the same statistics per row, `y = x_hat w_j + b_j` with a
//! weight and bias per column `j`. Backward with `gw = g w_j`:
//! `grad_in = invstd_r (gw - sum gw / d - x_hat sum(gw x_hat) / d)` (sums along the row),
//! `grad_weight_j = sum_r g x_hat`, `grad_bias_j = sum_r g`.
//!
//! Determinism: every per-channel (per-row, per-column) sum runs over its elements in one fixed
//! order, `n` ascending and, within a row of `s`, in the fixed lanes and chunks of
//! [`reduce_row`]; work is split across threads only *between*
//! channels, rows or columns, so results are bit-identical whatever the thread count.

use crate::float::Float;
use crate::parallel::{CHUNK, REDUCE_CHUNK, worth_parallel};
use crate::reduce::{ReduceOp, reduce_row};
use rayon::prelude::*;

/// How a batch-norm input is laid out: a contiguous `[n, c, s]` block, `c` channels, each made
/// of `n` runs of `s` contiguous elements (`s` is the product of the spatial dims, 1 for `[N, C]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelLayout {
    /// The batch size (dim 0).
    pub n: usize,
    /// The channels (dim 1).
    pub c: usize,
    /// Elements per channel and sample (the product of the dims after 1).
    pub s: usize,
}

impl ChannelLayout {
    /// Elements of the whole block.
    pub fn numel(&self) -> usize {
        self.n * self.c * self.s
    }

    /// Elements each channel's statistics run over: `n * s`.
    pub fn per_channel(&self) -> usize {
        self.n * self.s
    }

    /// The run of sample `i`, channel `k`.
    #[inline]
    fn run<'a, T>(&self, x: &'a [T], i: usize, k: usize) -> &'a [T] {
        let at = (i * self.c + k) * self.s;
        &x[at..at + self.s]
    }

    /// Channels per parallel task: about [`CHUNK`] elements each (boundaries depend only on the
    /// sizes; results do not depend on them at all).
    fn block(&self) -> usize {
        (CHUNK / self.per_channel().max(1)).clamp(1, self.c.max(1))
    }
}

const LANES: usize = 8;

/// `[sum f(i)[0], .., sum f(i)[K-1]]` over `i < len`: eight independent lanes combined in a fixed
/// order, in chunks of [`REDUCE_CHUNK`] added in order.
#[inline(always)]
fn lane_sums<T: Float, const K: usize>(len: usize, f: impl Fn(usize) -> [T; K]) -> [T; K] {
    let mut total = [T::ZERO; K];
    let mut start = 0;
    while start < len {
        let end = (start + REDUCE_CHUNK).min(len);
        let mut acc = [[T::ZERO; K]; LANES];
        let full = start + (end - start) / LANES * LANES;
        let mut i = start;
        while i < full {
            for (l, a) in acc.iter_mut().enumerate() {
                let v = f(i + l);
                for q in 0..K {
                    a[q] += v[q];
                }
            }
            i += LANES;
        }
        let mut part = [T::ZERO; K];
        for q in 0..K {
            part[q] = ((acc[0][q] + acc[4][q]) + (acc[2][q] + acc[6][q]))
                + ((acc[1][q] + acc[5][q]) + (acc[3][q] + acc[7][q]));
        }
        for j in full..end {
            let v = f(j);
            for q in 0..K {
                part[q] += v[q];
            }
        }
        for q in 0..K {
            total[q] += part[q];
        }
        start = end;
    }
    total
}

/// `sum x` of a run: one element needs no call.
#[inline]
fn run_sum<T: Float>(x: &[T]) -> T {
    if x.len() == 1 {
        x[0]
    } else {
        reduce_row(ReduceOp::Sum, x)
    }
}

/// `sum (x - m)^2` of a run.
#[inline]
fn run_sq_dev<T: Float>(x: &[T], m: T) -> T {
    if x.len() == 1 {
        let d = x[0] - m;
        return d * d;
    }
    let [s] = lane_sums(x.len(), |i| {
        let d = x[i] - m;
        [d * d]
    });
    s
}

/// `(sum g, sum g (x - m))` of a run.
#[inline]
fn run_g_dev<T: Float>(g: &[T], x: &[T], m: T) -> [T; 2] {
    if x.len() == 1 {
        return [g[0], g[0] * (x[0] - m)];
    }
    lane_sums(x.len(), |i| [g[i], g[i] * (x[i] - m)])
}

/// Runs `f(first_channel, out_a, out_b)` on blocks of channels, in parallel when the block is
/// large; `out_a`/`out_b` are the block's slices of two per-channel outputs.
fn channel_blocks<T: Float>(
    l: ChannelLayout,
    a: &mut [T],
    b: &mut [T],
    f: impl Fn(usize, &mut [T], &mut [T]) + Sync,
) {
    let block = l.block();
    if worth_parallel(l.numel()) && l.c > 1 {
        a.par_chunks_mut(block)
            .zip(b.par_chunks_mut(block))
            .enumerate()
            .for_each(|(i, (a, b))| f(i * block, a, b));
    } else {
        a.chunks_mut(block)
            .zip(b.chunks_mut(block))
            .enumerate()
            .for_each(|(i, (a, b))| f(i * block, a, b));
    }
}

/// Per-channel mean and biased variance (`sum (x - mean)^2 / (n s)`, two passes) of `[n, c, s]`.
/// With no element per channel (`n s = 0`) both are NaN.
///
/// # Panics
/// If `x.len() != n c s` or `mean`, `var` do not have `c` elements.
pub fn channel_moments<T: Float>(x: &[T], l: ChannelLayout, mean: &mut [T], var: &mut [T]) {
    assert_eq!(x.len(), l.numel(), "channel_moments: input length");
    assert_eq!(mean.len(), l.c, "channel_moments: mean length");
    assert_eq!(var.len(), l.c, "channel_moments: var length");
    let m = l.per_channel();
    if m == 0 {
        mean.fill(T::from_f64(f64::NAN));
        var.fill(T::from_f64(f64::NAN));
        return;
    }
    let count = T::from_usize(m);
    channel_blocks(l, mean, var, |c0, mean, var| {
        // Sample-major, so the block is read in memory order; each channel still sums its runs
        // in `n` order.
        mean.fill(T::ZERO);
        for i in 0..l.n {
            for (k, mk) in mean.iter_mut().enumerate() {
                *mk += run_sum(l.run(x, i, c0 + k));
            }
        }
        mean.iter_mut().for_each(|mk| *mk /= count);
        var.fill(T::ZERO);
        for i in 0..l.n {
            for (k, vk) in var.iter_mut().enumerate() {
                *vk += run_sq_dev(l.run(x, i, c0 + k), mean[k]);
            }
        }
        var.iter_mut().for_each(|vk| *vk /= count);
    });
}

/// `out = 1 / sqrt(var + eps)`, elementwise.
///
/// # Panics
/// If the lengths differ.
pub fn inv_std<T: Float>(var: &[T], eps: T, out: &mut [T]) {
    assert_eq!(var.len(), out.len(), "inv_std: output length");
    for (o, &v) in out.iter_mut().zip(var) {
        *o = T::ONE / (v + eps).sqrt();
    }
}

/// Runs `f(sample, out_run_block)` over the `n` samples of an `[n, c, s]` output, in parallel
/// (each task a few samples) when large. Elementwise work: any split gives the same bits.
fn per_sample<T: Float>(l: ChannelLayout, out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
    let row = l.c * l.s;
    if row == 0 {
        return;
    }
    if worth_parallel(out.len()) && l.n > 1 {
        let min = (CHUNK / row).max(1);
        out.par_chunks_mut(row)
            .with_min_len(min)
            .enumerate()
            .for_each(|(i, o)| f(i, o));
    } else {
        out.chunks_mut(row).enumerate().for_each(|(i, o)| f(i, o));
    }
}

/// Batch-norm forward: `y = (x - mean_k) invstd_k w_k + b_k` over `[n, c, s]` (a missing weight
/// is 1, a missing bias 0).
///
/// # Panics
/// If a length does not match the layout.
pub fn batch_norm_forward<T: Float>(
    x: &[T],
    l: ChannelLayout,
    mean: &[T],
    invstd: &[T],
    weight: Option<&[T]>,
    bias: Option<&[T]>,
    y: &mut [T],
) {
    assert_eq!(x.len(), l.numel(), "batch_norm_forward: input length");
    assert_eq!(y.len(), l.numel(), "batch_norm_forward: output length");
    assert_eq!(mean.len(), l.c, "batch_norm_forward: mean length");
    assert_eq!(invstd.len(), l.c, "batch_norm_forward: invstd length");
    let scale: Vec<T> = match weight {
        Some(w) => {
            assert_eq!(w.len(), l.c, "batch_norm_forward: weight length");
            invstd.iter().zip(w).map(|(&s, &w)| s * w).collect()
        }
        None => invstd.to_vec(),
    };
    let shift: Vec<T> = match bias {
        Some(b) => {
            assert_eq!(b.len(), l.c, "batch_norm_forward: bias length");
            b.to_vec()
        }
        None => vec![T::ZERO; l.c],
    };
    per_sample(l, y, |i, yi| {
        for (k, yk) in yi.chunks_exact_mut(l.s).enumerate() {
            let (m, a, b) = (mean[k], scale[k], shift[k]);
            for (o, &v) in yk.iter_mut().zip(l.run(x, i, k)) {
                *o = (v - m) * a + b;
            }
        }
    });
}

/// The gradients a backward kernel writes; `None` for those not needed.
#[derive(Debug)]
pub struct NormGrads<'a, T> {
    /// Gradient of the input, the input's length.
    pub input: Option<&'a mut [T]>,
    /// Gradient of the weight.
    pub weight: Option<&'a mut [T]>,
    /// Gradient of the bias.
    pub bias: Option<&'a mut [T]>,
}

/// Batch-norm backward over `[n, c, s]` from the upstream gradient `g`, the input `x` and the
/// `mean`/`invstd` the forward normalized with (see the [module docs](self) for the formulas).
/// `batch_stats` says whether those were the batch's own statistics (their dependence on `x` is
/// then part of `grad_in`) or given constants.
///
/// # Panics
/// If a length does not match the layout.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward<T: Float>(
    g: &[T],
    x: &[T],
    l: ChannelLayout,
    mean: &[T],
    invstd: &[T],
    weight: Option<&[T]>,
    batch_stats: bool,
    out: NormGrads<'_, T>,
) {
    assert_eq!(g.len(), l.numel(), "batch_norm_backward: gradient length");
    assert_eq!(x.len(), l.numel(), "batch_norm_backward: input length");
    assert_eq!(mean.len(), l.c, "batch_norm_backward: mean length");
    assert_eq!(invstd.len(), l.c, "batch_norm_backward: invstd length");
    // Pass 1: per channel, sum g and sum g (x - mean).
    let mut sum_g = vec![T::ZERO; l.c];
    let mut sum_gd = vec![T::ZERO; l.c];
    let need_sums =
        out.weight.is_some() || out.bias.is_some() || (out.input.is_some() && batch_stats);
    if need_sums {
        channel_blocks(l, &mut sum_g, &mut sum_gd, |c0, sg, sgd| {
            for i in 0..l.n {
                for k in 0..sg.len() {
                    let [a, b] = run_g_dev(l.run(g, i, c0 + k), l.run(x, i, c0 + k), mean[c0 + k]);
                    sg[k] += a;
                    sgd[k] += b;
                }
            }
        });
    }
    if let Some(db) = out.bias {
        assert_eq!(db.len(), l.c, "batch_norm_backward: bias gradient length");
        db.copy_from_slice(&sum_g);
    }
    if let Some(dw) = out.weight {
        assert_eq!(dw.len(), l.c, "batch_norm_backward: weight gradient length");
        for ((o, &s), &is) in dw.iter_mut().zip(&sum_gd).zip(invstd) {
            *o = s * is;
        }
    }
    let Some(dx) = out.input else { return };
    assert_eq!(
        dx.len(),
        l.numel(),
        "batch_norm_backward: input gradient length"
    );
    // dx = k_c (g - mg_c - (x - mean_c) q_c), with k = w invstd, and, for batch statistics,
    // mg = sum g / m, q = invstd^2 sum g (x - mean) / m (zero for given statistics).
    let w = |k: usize| weight.map_or(T::ONE, |w| w[k]);
    let coef: Vec<T> = (0..l.c).map(|k| w(k) * invstd[k]).collect();
    let (mg, q): (Vec<T>, Vec<T>) = if batch_stats {
        let m = T::from_usize(l.per_channel());
        (0..l.c)
            .map(|k| (sum_g[k] / m, invstd[k] * invstd[k] * sum_gd[k] / m))
            .unzip()
    } else {
        (vec![T::ZERO; l.c], vec![T::ZERO; l.c])
    };
    per_sample(l, dx, |i, di| {
        for (k, dk) in di.chunks_exact_mut(l.s).enumerate() {
            let (a, b, c, m) = (coef[k], mg[k], q[k], mean[k]);
            let (gk, xk) = (l.run(g, i, k), l.run(x, i, k));
            for ((o, &gv), &xv) in dk.iter_mut().zip(gk).zip(xk) {
                *o = a * (gv - b - (xv - m) * c);
            }
        }
    });
}

/// Runs `f(row, out_row, mean_r, invstd_r)` over the rows of a `[rows, d]` output and two per-row
/// outputs, in parallel when large (each row is computed by one thread).
fn per_row<T: Float>(
    d: usize,
    out: &mut [T],
    a: &mut [T],
    b: &mut [T],
    f: impl Fn(usize, &mut [T], &mut T, &mut T) + Sync,
) {
    if d == 0 {
        return;
    }
    if worth_parallel(out.len()) && a.len() > 1 {
        let min = (CHUNK / d).max(1);
        out.par_chunks_mut(d)
            .zip(a.par_iter_mut())
            .zip(b.par_iter_mut())
            .with_min_len(min)
            .enumerate()
            .for_each(|(r, ((o, a), b))| f(r, o, a, b));
    } else {
        out.chunks_mut(d)
            .zip(a.iter_mut())
            .zip(b.iter_mut())
            .enumerate()
            .for_each(|(r, ((o, a), b))| f(r, o, a, b));
    }
}

/// Layer-norm forward over the rows of `[rows, d]`: writes `y`, and each row's `mean` and
/// `invstd = 1 / sqrt(var + eps)` (biased variance) for the backward pass. A missing weight is 1,
/// a missing bias 0.
///
/// # Panics
/// If a length does not match `rows` and `d`.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_forward<T: Float>(
    x: &[T],
    rows: usize,
    d: usize,
    eps: T,
    weight: Option<&[T]>,
    bias: Option<&[T]>,
    y: &mut [T],
    mean: &mut [T],
    invstd: &mut [T],
) {
    assert_eq!(x.len(), rows * d, "layer_norm_forward: input length");
    assert_eq!(y.len(), rows * d, "layer_norm_forward: output length");
    assert_eq!(mean.len(), rows, "layer_norm_forward: mean length");
    assert_eq!(invstd.len(), rows, "layer_norm_forward: invstd length");
    if let Some(w) = weight {
        assert_eq!(w.len(), d, "layer_norm_forward: weight length");
    }
    if let Some(b) = bias {
        assert_eq!(b.len(), d, "layer_norm_forward: bias length");
    }
    if d == 0 {
        mean.fill(T::from_f64(f64::NAN));
        invstd.fill(T::from_f64(f64::NAN));
        return;
    }
    let count = T::from_usize(d);
    per_row(d, y, mean, invstd, |r, yr, mr, ir| {
        let xr = &x[r * d..(r + 1) * d];
        let m = run_sum(xr) / count;
        let is = T::ONE / (run_sq_dev(xr, m) / count + eps).sqrt();
        for (j, (o, &v)) in yr.iter_mut().zip(xr).enumerate() {
            let w = weight.map_or(T::ONE, |w| w[j]);
            let b = bias.map_or(T::ZERO, |b| b[j]);
            *o = (v - m) * is * w + b;
        }
        *mr = m;
        *ir = is;
    });
}

/// Layer-norm backward over `[rows, d]` from the upstream gradient `g`, the input `x` and the
/// per-row `mean`/`invstd` of the forward (see the [module docs](self) for the formulas).
///
/// # Panics
/// If a length does not match `rows` and `d`.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward<T: Float>(
    g: &[T],
    x: &[T],
    rows: usize,
    d: usize,
    mean: &[T],
    invstd: &[T],
    weight: Option<&[T]>,
    out: NormGrads<'_, T>,
) {
    assert_eq!(g.len(), rows * d, "layer_norm_backward: gradient length");
    assert_eq!(x.len(), rows * d, "layer_norm_backward: input length");
    assert_eq!(mean.len(), rows, "layer_norm_backward: mean length");
    assert_eq!(invstd.len(), rows, "layer_norm_backward: invstd length");
    if let Some(w) = weight {
        assert_eq!(w.len(), d, "layer_norm_backward: weight length");
    }
    let NormGrads {
        input,
        weight: grad_w,
        bias: grad_b,
    } = out;
    if grad_w.is_some() || grad_b.is_some() {
        // The parameter gradients are column sums over the rows, each column summed in row
        // order; blocks of columns are split across threads. A gradient not asked for is summed
        // into a scratch vector (`d` elements) to keep one loop.
        let (mut scratch_w, mut scratch_b) = (Vec::new(), Vec::new());
        let dw: &mut [T] = grad_w.unwrap_or_else(|| {
            scratch_w = vec![T::ZERO; d];
            &mut scratch_w
        });
        let db: &mut [T] = grad_b.unwrap_or_else(|| {
            scratch_b = vec![T::ZERO; d];
            &mut scratch_b
        });
        assert_eq!(dw.len(), d, "layer_norm_backward: weight gradient length");
        assert_eq!(db.len(), d, "layer_norm_backward: bias gradient length");
        dw.fill(T::ZERO);
        db.fill(T::ZERO);
        let run = |c0: usize, dw: &mut [T], db: &mut [T]| {
            for r in 0..rows {
                let (m, is) = (mean[r], invstd[r]);
                let (gr, xr) = (&g[r * d + c0..], &x[r * d + c0..]);
                for (k, (ow, ob)) in dw.iter_mut().zip(db.iter_mut()).enumerate() {
                    *ow += gr[k] * ((xr[k] - m) * is);
                    *ob += gr[k];
                }
            }
        };
        let block = (CHUNK / rows.max(1)).clamp(1, d.max(1));
        if worth_parallel(rows * d) && d > block {
            dw.par_chunks_mut(block)
                .zip(db.par_chunks_mut(block))
                .enumerate()
                .for_each(|(i, (w, b))| run(i * block, w, b));
        } else {
            run(0, dw, db);
        }
    }
    let Some(dx) = input else { return };
    assert_eq!(
        dx.len(),
        rows * d,
        "layer_norm_backward: input gradient length"
    );
    if d == 0 {
        return;
    }
    let count = T::from_usize(d);
    let w = |j: usize| weight.map_or(T::ONE, |w| w[j]);
    let f = |r: usize, dr: &mut [T]| {
        let (gr, m, is) = (&g[r * d..(r + 1) * d], mean[r], invstd[r]);
        let xr = &x[r * d..(r + 1) * d];
        let [s1, s2] = lane_sums(d, |j| {
            let gw = gr[j] * w(j);
            [gw, gw * (xr[j] - m) * is]
        });
        let (a, b) = (s1 / count, s2 / count);
        for (j, o) in dr.iter_mut().enumerate() {
            let xh = (xr[j] - m) * is;
            *o = is * (gr[j] * w(j) - a - xh * b);
        }
    };
    if worth_parallel(dx.len()) && rows > 1 {
        dx.par_chunks_mut(d)
            .with_min_len((CHUNK / d).max(1))
            .enumerate()
            .for_each(|(r, dr)| f(r, dr));
    } else {
        dx.chunks_mut(d).enumerate().for_each(|(r, dr)| f(r, dr));
    }
}
