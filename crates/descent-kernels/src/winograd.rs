//! Winograd's minimal filtering F(2x2, 3x3) for 3x3 convolutions with stride and dilation 1: the
//! forward product and the weight gradient of [`crate::conv`] with 2.25x fewer multiply-adds than
//! im2col + GEMM.
//!
//! Each output tile of 2x2 pixels reads a 4x4 input tile. With `G` (4x3), `B^T` (4x4) and `A^T`
//! (2x4) the F(2, 3) matrices of Lavin and Gray ("Fast Algorithms for Convolutional Neural
//! Networks", 2016),
//!
//! `Y = A^T [ sum_ci (G g G^T) ⊙ (B^T d B) ] A`
//!
//! for a weight `g` (3x3), an input tile `d` (4x4) and an output tile `Y` (2x2). The 16 positions
//! `xi` of the 4x4 transformed tiles are independent, so the sum over input channels is one GEMM
//! per position: `M_xi (c_out x T) = U_xi (c_out x c_in) V_xi (c_in x T)` over the `T` tiles of a
//! sample. The weight gradient is `G^T [ sum_tiles (A dY A^T) ⊙ (B^T d B) ] G`, one GEMM per
//! position with the tiles as `k`. The input gradient is the backward of the forward algorithm:
//! `dV_xi = U_xi^T (A dY A^T)_xi`, then `B dV B^T` added back over the overlapping input
//! patches (the adjoint of the input transform); computed with the weight gradient, each
//! sample's `A dY A^T` serves both (alone it measured a tie with im2col; docs/PERFORMANCE.md).
//!
//! The transforms add and subtract only (and halve, in `G`), so results differ from im2col's by
//! rounding alone: a few units in the last place of the largest terms. The batch is cut the way
//! [`crate::conv`] cuts it (per sample, and fixed runs of samples for the weight gradient), so the
//! bits do not depend on the thread count.

use crate::buffer::Buffer;
use crate::conv::Conv2dGeometry;
use crate::float::Float;
use crate::matmul::{MatRef, gemm_with};

/// Positions of a transformed tile (4 x 4).
const XI: usize = 16;

/// Channels on each side from which [`used_for_forward`] sends a 3x3 convolution's forward
/// product here. One thread, batch 32, 26x26, padding 1, `c` channels in and out: 4 channels
/// 0.42 ms by im2col against 0.38, 8 channels 0.80 against 0.66, 16 channels 2.06 against 1.54
/// (docs/PERFORMANCE.md, "Winograd F(2x2, 3x3)").
pub const MIN_CHANNELS_FORWARD: usize = 8;

/// Channels on each side from which [`used_for_weight_grad`] sends a weight gradient here: its
/// output-gradient transform and per-position GEMMs over the tiles cost more below that (same
/// shapes: 8 channels 1.07 ms by im2col against 1.43, 12 channels 1.60 against 1.67, 16 channels
/// 1.96 against 1.72).
pub const MIN_CHANNELS_WEIGHT_GRAD: usize = 16;

/// Whether this module can compute the convolution: one group, a 3x3 kernel, stride and dilation
/// 1 (any padding).
pub fn supports(g: &Conv2dGeometry) -> bool {
    g.groups == 1 && (g.kh, g.kw) == (3, 3) && g.stride == (1, 1) && g.dilation == (1, 1)
}

/// Whether `DESCENT_CONV=im2col` keeps im2col + GEMM for every shape (to measure).
fn off() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var("DESCENT_CONV").is_ok_and(|v| v == "im2col"))
}

/// Whether [`crate::conv::conv2d`] takes this path: [`supports`], at least
/// [`MIN_CHANNELS_FORWARD`] input and output channels, and `DESCENT_CONV` not `im2col`.
pub fn used_for_forward(g: &Conv2dGeometry) -> bool {
    supports(g) && g.c_in.min(g.c_out) >= MIN_CHANNELS_FORWARD && !off()
}

/// Whether [`crate::conv::conv2d_backward_weight`] takes this path: [`supports`], at least
/// [`MIN_CHANNELS_WEIGHT_GRAD`] input and output channels, and `DESCENT_CONV` not `im2col`.
pub fn used_for_weight_grad(g: &Conv2dGeometry) -> bool {
    supports(g) && g.c_in.min(g.c_out) >= MIN_CHANNELS_WEIGHT_GRAD && !off()
}

/// The tiles of one plane: `th x tw` tiles of 2x2 output pixels over an `oh x ow` output.
#[derive(Clone, Copy)]
pub(crate) struct Tiles {
    /// Input height and width.
    h: usize,
    w: usize,
    /// Padding (rows, columns).
    pad: (usize, usize),
    /// Output height and width.
    oh: usize,
    ow: usize,
    /// Tile rows and columns.
    th: usize,
    tw: usize,
}

impl Tiles {
    fn new(h: usize, w: usize, pad: (usize, usize)) -> Tiles {
        let (oh, ow) = (h + 2 * pad.0 - 2, w + 2 * pad.1 - 2);
        Tiles {
            h,
            w,
            pad,
            oh,
            ow,
            th: oh.div_ceil(2),
            tw: ow.div_ceil(2),
        }
    }

    /// Tile slots per tile row: the `tw` tiles and one slot past the edge, so that a plane's
    /// tiles are one run `tp` apart per row and the transforms run as long loops over a whole
    /// plane (the extra slot's input transform is zero, and its output is dropped).
    fn tp(&self) -> usize {
        self.tw + 1
    }

    /// Tile slots per plane: `th * tp`, the `n` of the forward GEMMs and the `k` of the
    /// weight-gradient ones.
    fn count(&self) -> usize {
        self.th * self.tp()
    }
}

/// `U = G g G^T` for every `(row, col)` 3x3 kernel: `u[xi * rows * cols + row * cols + col]`.
/// `kernel(row, col, i, j)` reads the kernel's tap `(i, j)`.
fn transform_weight<T: Float>(
    rows: usize,
    cols: usize,
    kernel: impl Fn(usize, usize, usize, usize) -> T,
    u: &mut [T],
) {
    let half = T::from_f64(0.5);
    let plane = rows * cols;
    for r in 0..rows {
        for c in 0..cols {
            let g = |i, j| kernel(r, c, i, j);
            // t = G g: 4 x 3.
            let col: [[T; 3]; 3] = std::array::from_fn(|j| [g(0, j), g(1, j), g(2, j)]);
            let t: [[T; 3]; 4] = [
                std::array::from_fn(|j| col[j][0]),
                std::array::from_fn(|j| half * ((col[j][0] + col[j][1]) + col[j][2])),
                std::array::from_fn(|j| half * ((col[j][0] - col[j][1]) + col[j][2])),
                std::array::from_fn(|j| col[j][2]),
            ];
            // U = t G^T: 4 x 4.
            for (a, ta) in t.iter().enumerate() {
                let (t0, t1, t2) = (ta[0], ta[1], ta[2]);
                let row = [t0, half * ((t0 + t1) + t2), half * ((t0 - t1) + t2), t2];
                for (b, &v) in row.iter().enumerate() {
                    u[(a * 4 + b) * plane + r * cols + c] = v;
                }
            }
        }
    }
}

/// `out[k] = f(a[k], b[k])` over the shortest of the three: a loop the compiler vectorizes.
#[inline(always)]
fn zip2<T: Float>(out: &mut [T], a: &[T], b: &[T], f: impl Fn(T, T) -> T) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// `out[k] = f(a[k], b[k], c[k], d[k])`.
#[inline(always)]
fn zip4<T: Float>(out: &mut [T], a: &[T], b: &[T], c: &[T], d: &[T], f: impl Fn(T, T, T, T) -> T) {
    for ((((o, &w), &x), &y), &z) in out.iter_mut().zip(a).zip(b).zip(c).zip(d) {
        *o = f(w, x, y, z);
    }
}

/// `even[k] = src[2k]`, `odd[k] = src[2k + 1]`.
#[inline(always)]
fn deinterleave<T: Float>(src: &[T], even: &mut [T], odd: &mut [T]) {
    for ((p, e), o) in src.chunks_exact(2).zip(even).zip(odd) {
        *e = p[0];
        *o = p[1];
    }
}

/// Splits `buf` into `N` consecutive rows of `len` values.
fn rows<T, const N: usize>(buf: &mut [T], len: usize) -> [&mut [T]; N] {
    let mut rest = &mut buf[..N * len];
    std::array::from_fn(|_| {
        let (row, tail) = std::mem::take(&mut rest).split_at_mut(len);
        rest = tail;
        row
    })
}

/// The 16 rows of plane `c` in a transformed buffer laid out `[xi][plane][slot]`.
fn xi_rows<T>(buf: &[T], planes: usize, c: usize, count: usize) -> [&[T]; XI] {
    std::array::from_fn(|xi| &buf[(xi * planes + c) * count..(xi * planes + c + 1) * count])
}

/// As [`xi_rows`], mutable.
fn xi_rows_mut<T>(buf: &mut [T], planes: usize, c: usize, count: usize) -> [&mut [T]; XI] {
    let mut it = buf.chunks_exact_mut(planes * count);
    std::array::from_fn(|_| {
        let chunk = it.next().expect("16 positions");
        &mut chunk[c * count..(c + 1) * count]
    })
}

/// `V = B^T d B` for every tile of every plane of `input` (`planes x h x w`), into
/// `v[xi * planes * count + plane * count + slot]`.
///
/// Per plane: `B^T` over the four input rows of each tile row (zero-padded), written as whole
/// rows `2 tp` wide one tile row after another; their even and odd columns; and `B` over the
/// columns as one loop over the plane's `count` tile slots, since the tile in slot `k` reads
/// columns `e[k], o[k], e[k + 1], o[k + 1]`. The slot past each tile row's edge is then zeroed.
#[inline(always)]
pub(crate) fn transform_input_body<T: Float>(t: &Tiles, planes: usize, input: &[T], v: &mut [T]) {
    let (count, tp) = (t.count(), t.tp());
    let wide = 2 * tp;
    // The padded plane: rows -pad.. of the input, 2 th + 2 of them, each `wide` columns.
    let hp = 2 * t.th + 2;
    let mut padded = vec![T::ZERO; hp * wide];
    // B^T of each tile row's four rows (4 rows of th * wide), then their even and odd columns
    // (4 + 4 rows of count + 1, the last value zero).
    let mut tr = vec![T::ZERO; 4 * t.th * wide];
    let mut eo = vec![T::ZERO; 8 * (count + 1)];
    for c in 0..planes {
        let plane = &input[c * t.h * t.w..(c + 1) * t.h * t.w];
        for (py, row) in padded.chunks_exact_mut(wide).enumerate() {
            let y = py as isize - t.pad.0 as isize;
            if y >= 0 && (y as usize) < t.h {
                let src = &plane[y as usize * t.w..][..t.w];
                row[t.pad.1..t.pad.1 + t.w].copy_from_slice(src);
            } else {
                row.fill(T::ZERO);
            }
        }
        // t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3, over the rows of each tile row.
        {
            let [t0, t1, t2, t3] = rows::<T, 4>(&mut tr, t.th * wide);
            for ty in 0..t.th {
                let d = |a: usize| &padded[(2 * ty + a) * wide..][..wide];
                let at = ty * wide..(ty + 1) * wide;
                zip2(&mut t0[at.clone()], d(0), d(2), |a, b| a - b);
                zip2(&mut t1[at.clone()], d(1), d(2), |a, b| a + b);
                zip2(&mut t2[at.clone()], d(2), d(1), |a, b| a - b);
                zip2(&mut t3[at], d(1), d(3), |a, b| a - b);
            }
        }
        let [e0, e1, e2, e3, o0, o1, o2, o3] = rows::<T, 8>(&mut eo, count + 1);
        for (q, (e, o)) in [(e0, o0), (e1, o1), (e2, o2), (e3, o3)]
            .into_iter()
            .enumerate()
        {
            deinterleave(&tr[q * t.th * wide..(q + 1) * t.th * wide], e, o);
        }
        // B over the columns of transformed row q: the tile in slot k reads columns e[k], o[k],
        // e[k + 1], o[k + 1].
        let mut dst = xi_rows_mut(v, planes, c, count);
        for q in 0..4 {
            let e = &eo[q * (count + 1)..(q + 1) * (count + 1)];
            let o = &eo[(4 + q) * (count + 1)..(5 + q) * (count + 1)];
            let (e0, e1, o0, o1) = (&e[..count], &e[1..], &o[..count], &o[1..]);
            zip2(dst[q * 4], e0, e1, |a, b| a - b);
            zip2(dst[q * 4 + 1], o0, e1, |a, b| a + b);
            zip2(dst[q * 4 + 2], e1, o0, |a, b| a - b);
            zip2(dst[q * 4 + 3], o0, o1, |a, b| a - b);
        }
        for row in dst.iter_mut() {
            for ty in 0..t.th {
                row[ty * tp + t.tw] = T::ZERO;
            }
        }
    }
}

/// `A^T M A` of every tile slot of one plane (`mm`: its 16 rows of `count` slots) into `ybuf`
/// as four rows of `count`: output pixel `(0, 0)`, `(0, 1)`, `(1, 0)` and `(1, 1)` of each tile.
///
/// `A^T` over the rows (s0 = m0 + m1 + m2, s1 = m1 - m2 - m3 for each column), then `A` over the
/// columns (y_a0 = s_a0 + s_a1 + s_a2, y_a1 = s_a1 - s_a2 - s_a3), one pass over the slots.
#[inline(always)]
fn tile_outputs<T: Float>(mm: [&[T]; XI], ybuf: &mut [T], count: usize) {
    let [y00, y01, y10, y11] = rows::<T, 4>(ybuf, count);
    for k in 0..count {
        let v = |r: usize, col: usize| mm[r * 4 + col][k];
        let s0: [T; 4] = std::array::from_fn(|col| (v(0, col) + v(1, col)) + v(2, col));
        let s1: [T; 4] = std::array::from_fn(|col| (v(1, col) - v(2, col)) - v(3, col));
        y00[k] = (s0[0] + s0[1]) + s0[2];
        y01[k] = (s0[1] - s0[2]) - s0[3];
        y10[k] = (s1[0] + s1[1]) + s1[2];
        y11[k] = (s1[1] - s1[2]) - s1[3];
    }
}

/// The adjoint of [`transform_input_body`]: `dX`, the gradient of `input` (`planes x h x w`,
/// overwritten), from `dV`, the gradient of every tile's `B^T d B` (`dv[xi * planes * count +
/// plane * count + slot]`, zero in the slot past each tile row's edge).
///
/// Per plane, the forward's steps in reverse: `B` over the columns of each transformed row `q`
/// (the tile in slot `k` sends `dd0, dd1, dd2, dd3` to columns `e[k], o[k], e[k + 1], o[k + 1]`,
/// so `e[k] = dd0[k] + dd2[k - 1]`, `o[k] = dd1[k] + dd3[k - 1]`), the even and odd columns
/// interleaved back into rows `2 tp` wide, `B` over the four rows of each tile row added into the
/// padded plane (tile rows overlap by two rows), and the padding cut off.
#[inline(always)]
pub(crate) fn transform_input_grad_body<T: Float>(
    t: &Tiles,
    planes: usize,
    dv: &[T],
    dx: &mut [T],
) {
    let (count, tp) = (t.count(), t.tp());
    let wide = 2 * tp;
    let hp = 2 * t.th + 2;
    let mut padded = vec![T::ZERO; hp * wide];
    let mut tr = vec![T::ZERO; 4 * t.th * wide];
    // dd0..dd3 of every slot (count + 1 each: a zero slot before the first, so that k - 1 is
    // in range), and the even and odd columns.
    let mut dd = vec![T::ZERO; 4 * (count + 1)];
    let mut eo = vec![T::ZERO; 2 * count];
    for (c, dx_c) in dx.chunks_mut(t.h * t.w).enumerate().take(planes) {
        let src = xi_rows(dv, planes, c, count);
        for q in 0..4 {
            let [d0, d1, d2, d3] = [0, 1, 2, 3].map(|j| src[q * 4 + j]);
            {
                let [a0, a1, a2, a3] = rows::<T, 4>(&mut dd, count + 1);
                // Slot k is at k + 1; index 0 stays zero.
                zip2(&mut a0[1..], d0, d0, |v, _| v);
                for (((o, &v1), &v2), &v3) in a1[1..].iter_mut().zip(d1).zip(d2).zip(d3) {
                    *o = (v1 - v2) + v3;
                }
                for (((o, &v0), &v1), &v2) in a2[1..].iter_mut().zip(d0).zip(d1).zip(d2) {
                    *o = (v1 + v2) - v0;
                }
                zip2(&mut a3[1..], d3, d3, |v, _| T::ZERO - v);
            }
            let (a0, rest) = dd.split_at(count + 1);
            let (a1, rest) = rest.split_at(count + 1);
            let (a2, a3) = rest.split_at(count + 1);
            let (e, o) = eo.split_at_mut(count);
            // e[k] = dd0[k] + dd2[k - 1], o[k] = dd1[k] + dd3[k - 1].
            zip2(e, &a0[1..], &a2[..count], |x, y| x + y);
            zip2(o, &a1[1..], &a3[..count], |x, y| x + y);
            let row = &mut tr[q * t.th * wide..(q + 1) * t.th * wide];
            for ((p, &ev), &ov) in row.chunks_exact_mut(2).zip(&*e).zip(&*o) {
                p[0] = ev;
                p[1] = ov;
            }
        }
        // B over the rows: padded rows 2 ty + (0, 1, 2, 3) get (t0, t1 - t2 + t3, t1 + t2 - t0,
        // -t3) of tile row ty.
        padded.iter_mut().for_each(|v| *v = T::ZERO);
        for ty in 0..t.th {
            let r = |q: usize| &tr[q * t.th * wide + ty * wide..][..wide];
            let (t0, t1, t2, t3) = (r(0), r(1), r(2), r(3));
            let rows4 = &mut padded[2 * ty * wide..(2 * ty + 4) * wide];
            let [p0, p1, p2, p3] = rows::<T, 4>(rows4, wide);
            for (p, &v) in p0.iter_mut().zip(t0) {
                *p += v;
            }
            for (((p, &v1), &v2), &v3) in p1.iter_mut().zip(t1).zip(t2).zip(t3) {
                *p += (v1 - v2) + v3;
            }
            for (((p, &v0), &v1), &v2) in p2.iter_mut().zip(t0).zip(t1).zip(t2) {
                *p += (v1 + v2) - v0;
            }
            for (p, &v) in p3.iter_mut().zip(t3) {
                *p -= v;
            }
        }
        for (y, row) in dx_c.chunks_exact_mut(t.w).enumerate() {
            row.copy_from_slice(&padded[(y + t.pad.0) * wide + t.pad.1..][..t.w]);
        }
    }
}

/// `Y = A^T M A (+ bias)` for every tile of every plane: `m[xi * planes * count + plane * count
/// + slot]` into `out` (`planes x oh x ow`), the tiles' pixels past the output's edge dropped.
#[inline(always)]
pub(crate) fn transform_output_body<T: Float>(
    t: &Tiles,
    planes: usize,
    m: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
) {
    let (count, tp) = (t.count(), t.tp());
    // y_ab: output pixel (a, b) of every tile slot.
    let mut ybuf = vec![T::ZERO; 4 * count];
    for (c, out_c) in out.chunks_mut(t.oh * t.ow).enumerate().take(planes) {
        let b = bias.map_or(T::ZERO, |b| b[c]);
        tile_outputs(xi_rows(m, planes, c, count), &mut ybuf, count);
        for oy in 0..t.oh {
            let (ty, a) = (oy / 2, oy % 2);
            let dst = &mut out_c[oy * t.ow..(oy + 1) * t.ow];
            let y0 = &ybuf[(2 * a) * count + ty * tp..][..t.tw];
            let y1 = &ybuf[(2 * a + 1) * count + ty * tp..][..t.tw];
            let mut pairs = dst.chunks_exact_mut(2);
            for ((p, &u), &w) in (&mut pairs).zip(y0).zip(y1) {
                p[0] = u + b;
                p[1] = w + b;
            }
            if let Some(last) = pairs.into_remainder().first_mut() {
                *last = y0[t.tw - 1] + b;
            }
        }
    }
}

/// As [`transform_output_body`], then ReLU and 2x2 max pooling with stride 2 of each plane's
/// `oh x ow` output, whose windows are exactly the tiles: `out` (`planes x oh/2 x ow/2`) gets
/// `max(relu(y + bias))` over each tile's four pixels and `argmax` the winning pixel (0 to 3 in
/// `(row, column)` order), by the rule and in the order of [`crate::pool::max_pool2d`] (the
/// first maximum; a NaN wins), so the values are the bits of the three ops run apart. A tile row
/// or column past `oh/2` or `ow/2` (an odd output size) is dropped, as pooling drops it.
#[inline(always)]
pub(crate) fn transform_output_relu_pool_body<T: Float>(
    t: &Tiles,
    planes: usize,
    m: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
    argmax: &mut [u8],
) {
    let (count, tp) = (t.count(), t.tp());
    let (ph, pw) = (t.oh / 2, t.ow / 2);
    let mut ybuf = vec![T::ZERO; 4 * count];
    // The pooled value and argmax of every slot of the first `ph` tile rows, in one loop over
    // the slots (a plane's rows are only ~12 windows wide: row by row, a third of the work fell
    // to the vector loop's scalar remainder), then the `pw` windows of each row copied out.
    let slots = ph * tp;
    let (mut pv, mut pa) = (vec![T::ZERO; slots], vec![0u8; slots]);
    let planes_out = out.chunks_mut(ph * pw).zip(argmax.chunks_mut(ph * pw));
    for (c, (out_c, am_c)) in planes_out.enumerate().take(planes) {
        let b = bias.map_or(T::ZERO, |b| b[c]);
        tile_outputs(xi_rows(m, planes, c, count), &mut ybuf, count);
        let relu = |v: T| if v < T::ZERO { T::ZERO } else { v };
        let [y0, y1, y2, y3]: [&[T]; 4] = std::array::from_fn(|i| &ybuf[i * count..][..slots]);
        // Zipped, with the argmax as a u32 until the store: a loop the compiler vectorizes.
        let taps = y0.iter().zip(y1).zip(y2).zip(y3);
        for ((o, am), (((&v0, &v1), &v2), &v3)) in pv.iter_mut().zip(pa.iter_mut()).zip(taps) {
            let (mut bv, mut off) = (relu(v0 + b), 0u32);
            for (tap, v) in [(1, v1), (2, v2), (3, v3)] {
                let v = relu(v + b);
                let better = (v > bv) | (v.is_nan() & !bv.is_nan());
                off = if better { tap } else { off };
                bv = if better { v } else { bv };
            }
            *o = bv;
            *am = off as u8;
        }
        for (py, (o, am)) in out_c.chunks_mut(pw).zip(am_c.chunks_mut(pw)).enumerate() {
            o.copy_from_slice(&pv[py * tp..][..pw]);
            am.copy_from_slice(&pa[py * tp..][..pw]);
        }
    }
}

/// `Yhat = A dY A^T` for every tile of every plane of `dy` (`planes x oh x ow`, pixels past the
/// edge read as zero), into `yh[xi * planes * count + plane * count + slot]`.
#[inline(always)]
pub(crate) fn transform_output_grad_body<T: Float>(
    t: &Tiles,
    planes: usize,
    dy: &[T],
    yh: &mut [T],
) {
    let (count, tp) = (t.count(), t.tp());
    // Even and odd columns of the tile rows' first and second rows (e0, o0, e1, o1), zero past
    // the edge.
    let mut ybuf = vec![T::ZERO; 4 * count];
    for c in 0..planes {
        let plane = &dy[c * t.oh * t.ow..(c + 1) * t.oh * t.ow];
        let [e0, o0, e1, o1] = rows::<T, 4>(&mut ybuf, count);
        for ty in 0..t.th {
            for (a, (e, o)) in [(&mut *e0, &mut *o0), (&mut *e1, &mut *o1)]
                .into_iter()
                .enumerate()
            {
                let (e, o) = (
                    &mut e[ty * tp..(ty + 1) * tp],
                    &mut o[ty * tp..(ty + 1) * tp],
                );
                let y = 2 * ty + a;
                e.fill(T::ZERO);
                o.fill(T::ZERO);
                if y < t.oh {
                    let src = &plane[y * t.ow..(y + 1) * t.ow];
                    deinterleave(src, e, o);
                    if t.ow % 2 == 1 {
                        e[t.tw - 1] = src[t.ow - 1];
                    }
                }
            }
        }
        // A over the rows (q0 = y0, q1 = y0 + y1, q2 = y0 - y1, q3 = -y1), then A^T over the
        // columns of q_r ((qe, qe + qo, qe - qo, -qo)): each of the 16 rows of Yhat from the
        // even and odd columns of dY's two rows in one loop.
        let [e0, o0, e1, o1] = [0, 1, 2, 3].map(|i| &ybuf[i * count..(i + 1) * count]);
        let mut dst = xi_rows_mut(yh, planes, c, count).into_iter();
        macro_rules! put {
            ($f:expr) => {
                zip4(dst.next().expect("16 rows"), e0, o0, e1, o1, $f)
            };
        }
        let neg = |x: T| T::ZERO - x;
        // r = 0: qe = e0, qo = o0.
        put!(|e0, _, _, _| e0);
        put!(|e0, o0, _, _| e0 + o0);
        put!(|e0, o0, _, _| e0 - o0);
        put!(|_, o0, _, _| neg(o0));
        // r = 1: qe = e0 + e1, qo = o0 + o1.
        put!(|e0, _, e1, _| e0 + e1);
        put!(|e0, o0, e1, o1| (e0 + e1) + (o0 + o1));
        put!(|e0, o0, e1, o1| (e0 + e1) - (o0 + o1));
        put!(|_, o0, _, o1| neg(o0 + o1));
        // r = 2: qe = e0 - e1, qo = o0 - o1.
        put!(|e0, _, e1, _| e0 - e1);
        put!(|e0, o0, e1, o1| (e0 - e1) + (o0 - o1));
        put!(|e0, o0, e1, o1| (e0 - e1) - (o0 - o1));
        put!(|_, o0, _, o1| neg(o0 - o1));
        // r = 3: qe = -e1, qo = -o1.
        put!(|_, _, e1, _| neg(e1));
        put!(|_, _, e1, o1| neg(e1) + neg(o1));
        put!(|_, _, e1, o1| neg(e1) - neg(o1));
        put!(|_, _, _, o1| o1);
    }
}

/// [`transform_input_body`] on the best instruction set this CPU has.
fn transform_input<T: Float>(t: &Tiles, planes: usize, input: &[T], v: &mut [T]) {
    match crate::isa() {
        crate::Isa::Avx2Fma => crate::simd::winograd_input_avx2(t, planes, input, v),
        crate::Isa::Fallback => transform_input_body(t, planes, input, v),
    }
}

/// [`transform_output_body`] on the best instruction set this CPU has.
fn transform_output<T: Float>(
    t: &Tiles,
    planes: usize,
    m: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
) {
    match crate::isa() {
        crate::Isa::Avx2Fma => crate::simd::winograd_output_avx2(t, planes, m, bias, out),
        crate::Isa::Fallback => transform_output_body(t, planes, m, bias, out),
    }
}

/// [`transform_output_relu_pool_body`] on the best instruction set this CPU has.
fn transform_output_relu_pool<T: Float>(
    t: &Tiles,
    planes: usize,
    m: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
    argmax: &mut [u8],
) {
    match crate::isa() {
        crate::Isa::Avx2Fma => {
            crate::simd::winograd_output_relu_pool_avx2(t, planes, m, bias, out, argmax)
        }
        crate::Isa::Fallback => transform_output_relu_pool_body(t, planes, m, bias, out, argmax),
    }
}

/// [`transform_input_grad_body`] on the best instruction set this CPU has.
fn transform_input_grad<T: Float>(t: &Tiles, planes: usize, dv: &[T], dx: &mut [T]) {
    match crate::isa() {
        crate::Isa::Avx2Fma => crate::simd::winograd_input_grad_avx2(t, planes, dv, dx),
        crate::Isa::Fallback => transform_input_grad_body(t, planes, dv, dx),
    }
}

/// [`transform_output_grad_body`] on the best instruction set this CPU has.
fn transform_output_grad<T: Float>(t: &Tiles, planes: usize, dy: &[T], yh: &mut [T]) {
    match crate::isa() {
        crate::Isa::Avx2Fma => crate::simd::winograd_output_grad_avx2(t, planes, dy, yh),
        crate::Isa::Fallback => transform_output_grad_body(t, planes, dy, yh),
    }
}

/// One Winograd convolution per sample: sample `s` of `input` (`c_in x h x w` each) is
/// transformed, multiplied by the transformed weight `u` (`16 x c_out x c_in`) position by
/// position, and the products `M` (`16 x c_out x slots`) handed to `emit` with `outs[s]`, which
/// turns them into that sample's output. Parallel over the batch, one sample per task.
fn convolve<T: Float, O: Send>(
    c_in: usize,
    c_out: usize,
    t: &Tiles,
    u: &[T],
    input: &[T],
    outs: Vec<O>,
    emit: impl Fn(&[T], O) + Sync,
) {
    let count = t.count();
    let sample_in = c_in * t.h * t.w;
    let one = |(s, out_s): (usize, O)| {
        // Both overwritten: v by the input transform, m by the GEMMs.
        let mut v = Buffer::<T>::for_overwrite(XI * c_in * count);
        let mut m = Buffer::<T>::for_overwrite(XI * c_out * count);
        transform_input(t, c_in, &input[s * sample_in..(s + 1) * sample_in], &mut v);
        per_position_products(c_out, c_in, count, u, &v, &mut m);
        emit(&m, out_s);
    };
    if outs.len() > 1 && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        outs.into_par_iter().enumerate().for_each(one);
    } else {
        outs.into_iter().enumerate().for_each(one);
    }
}

/// `out_xi = a_xi b_xi` for each of the 16 positions: `a` holds 16 row-major `rows x inner`
/// matrices one after the other, `b` 16 `inner x count` ones, `out` 16 `rows x count` ones
/// (overwritten). The per-position GEMMs of the forward product and of the input gradient.
fn per_position_products<T: Float>(
    rows: usize,
    inner: usize,
    count: usize,
    a: &[T],
    b: &[T],
    out: &mut [T],
) {
    for (xi, out_xi) in out.chunks_mut(rows * count).enumerate() {
        let a = MatRef {
            data: a,
            offset: xi * rows * inner,
            rs: inner,
            cs: 1,
        };
        let b = MatRef {
            data: b,
            offset: xi * inner * count,
            rs: count,
            cs: 1,
        };
        gemm_with(rows, inner, count, a, b, false, false, out_xi);
    }
}

/// `U = G g G^T` of a `c_out x c_in x 3 x 3` weight, `16 x c_out x c_in`.
fn transformed_weight<T: Float>(g: &Conv2dGeometry, weight: &[T]) -> Buffer<T> {
    let mut u = Buffer::<T>::for_overwrite(XI * g.c_out * g.c_in); // Every value written.
    let c_in = g.c_in;
    transform_weight(
        g.c_out,
        c_in,
        |co, ci, i, j| weight[(co * c_in + ci) * 9 + i * 3 + j],
        &mut u,
    );
    u
}

/// Forward convolution (the contract of [`crate::conv::conv2d`]) by F(2x2, 3x3).
///
/// # Panics
/// If `!supports(g)` or a slice length does not match the geometry.
pub fn conv2d<T: Float>(
    g: &Conv2dGeometry,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
) {
    assert!(supports(g), "winograd::conv2d: unsupported geometry {g:?}");
    g.check_forward(input, weight, bias, out);
    if out.is_empty() {
        return;
    }
    let t = Tiles::new(g.h, g.w, g.padding);
    let u = transformed_weight(g, weight);
    let outs: Vec<&mut [T]> = out.chunks_mut(g.c_out * g.p()).collect();
    convolve(g.c_in, g.c_out, &t, &u, input, outs, |m, out_s| {
        transform_output(&t, g.c_out, m, bias, out_s)
    });
}

/// Whether [`conv2d_relu_max_pool`] computes `g`'s convolution followed by ReLU and a 2x2 max
/// pool with stride 2: [`used_for_forward`], and an output of at least 2x2.
pub fn fuses_relu_max_pool(g: &Conv2dGeometry) -> bool {
    used_for_forward(g) && g.oh >= 2 && g.ow >= 2
}

/// `max_pool2d(relu(conv2d(input, weight, bias)), 2)` in one pass: the convolution as
/// [`conv2d`], and the ReLU and the pooling (2x2 windows, stride 2, no padding, the last row or
/// column dropped when `oh` or `ow` is odd) in the output transform, so the `oh x ow` output is
/// never written. `out` (`n x c_out x oh/2 x ow/2`) gets the same bits as the three kernels run
/// one after the other ([`crate::conv::conv2d`] on this path, ReLU, [`crate::pool::max_pool2d`]),
/// and `argmax` the winning pixel of each window as `0..4` in `(row, column)` order (the first
/// maximum; a NaN wins). [`crate::pool::relu_max_pool2x2_backward`] is its gradient.
///
/// Any channel count works; [`fuses_relu_max_pool`] says where callers should use it.
///
/// # Panics
/// If `!supports(g)`, the output is smaller than 2x2, or a slice length does not match the
/// geometry.
pub fn conv2d_relu_max_pool<T: Float>(
    g: &Conv2dGeometry,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
    argmax: &mut [u8],
) {
    assert!(
        supports(g) && g.oh >= 2 && g.ow >= 2,
        "winograd::conv2d_relu_max_pool: unsupported geometry {g:?}"
    );
    let pooled = g.n * g.c_out * (g.oh / 2) * (g.ow / 2);
    assert_eq!(out.len(), pooled, "conv2d_relu_max_pool: output length");
    assert_eq!(argmax.len(), pooled, "conv2d_relu_max_pool: argmax length");
    g.check_operands(input, weight, bias);
    if pooled == 0 {
        return;
    }
    let t = Tiles::new(g.h, g.w, g.padding);
    let u = transformed_weight(g, weight);
    let per = g.c_out * (g.oh / 2) * (g.ow / 2);
    let outs: Vec<(&mut [T], &mut [u8])> =
        out.chunks_mut(per).zip(argmax.chunks_mut(per)).collect();
    convolve(g.c_in, g.c_out, &t, &u, input, outs, |m, (o, am)| {
        transform_output_relu_pool(&t, g.c_out, m, bias, o, am)
    });
}

/// Runs of samples whose weight-gradient contributions are summed apart and then added in order:
/// the same cut as [`crate::conv`]'s im2col path.
const WEIGHT_GRAD_PARTS: usize = 8;

/// The weight gradient (the contract of [`crate::conv::conv2d_backward_weight`]) by F(2x2, 3x3):
/// per sample, the input tiles `V` and the output-gradient tiles `A dY A^T`; per position one
/// GEMM over the tiles accumulates `dU (c_out x c_in)`; `grad_w = G^T dU G`. The batch is cut
/// into at most 8 runs of consecutive samples (the cut depends on the batch size alone), each
/// summed in order by one task, and the runs added in order, so the result does not depend on
/// the thread count. `grad_w` is overwritten.
///
/// # Panics
/// If `!supports(g)` or a slice length does not match the geometry.
pub fn conv2d_backward_weight<T: Float>(
    g: &Conv2dGeometry,
    input: &[T],
    grad_out: &[T],
    grad_w: &mut [T],
) {
    assert!(
        supports(g),
        "winograd::conv2d_backward_weight: unsupported geometry {g:?}"
    );
    g.check_weight_grad(input, grad_out, grad_w);
    backward(g, Some((input, grad_w)), None, grad_out);
}

/// Whether [`crate::conv::conv2d_backward_input`] takes this path: as
/// [`used_for_weight_grad`] (the same channel cut-off: below it the output-gradient transform
/// costs more than the GEMMs save).
pub fn used_for_input_grad(g: &Conv2dGeometry) -> bool {
    used_for_weight_grad(g)
}

/// The input gradient (the contract of [`crate::conv::conv2d_backward_input`]) by F(2x2, 3x3),
/// the backward of the forward algorithm: per sample, the output-gradient tiles `A dY A^T`, one
/// GEMM per position `dV_xi = U_xi^T (A dY A^T)_xi`, and the adjoint of the input transform adds
/// `B dV B^T` back over the overlapping 4x4 patches. `grad_in` is overwritten.
///
/// # Panics
/// If `!supports(g)` or a slice length does not match the geometry.
pub fn conv2d_backward_input<T: Float>(
    g: &Conv2dGeometry,
    weight: &[T],
    grad_out: &[T],
    grad_in: &mut [T],
) {
    assert!(
        supports(g),
        "winograd::conv2d_backward_input: unsupported geometry {g:?}"
    );
    g.check_input_grad(weight, grad_out, grad_in);
    backward(g, None, Some((weight, grad_in)), grad_out);
}

/// Both gradients of a convolution in one pass over the samples, each sample's output-gradient
/// transform shared by the two: the same bits as [`conv2d_backward_input`] and
/// [`conv2d_backward_weight`] called apart.
///
/// # Panics
/// If `!supports(g)` or a slice length does not match the geometry.
pub fn conv2d_backward_input_weight<T: Float>(
    g: &Conv2dGeometry,
    input: &[T],
    weight: &[T],
    grad_out: &[T],
    grad_in: &mut [T],
    grad_w: &mut [T],
) {
    assert!(
        supports(g),
        "winograd::conv2d_backward_input_weight: unsupported geometry {g:?}"
    );
    g.check_weight_grad(input, grad_out, grad_w);
    g.check_input_grad(weight, grad_out, grad_in);
    backward(g, Some((input, grad_w)), Some((weight, grad_in)), grad_out);
}

/// The backward pass over the batch's fixed runs of samples: the weight gradient from
/// `(input, grad_w)`, the input gradient from `(weight, grad_in)`, either or both.
#[allow(clippy::type_complexity)]
fn backward<T: Float>(
    g: &Conv2dGeometry,
    wgrad: Option<(&[T], &mut [T])>,
    igrad: Option<(&[T], &mut [T])>,
    grad_out: &[T],
) {
    let t = Tiles::new(g.h, g.w, g.padding);
    let count = t.count();
    let (c_in, c_out) = (g.c_in, g.c_out);
    let (sample_in, sample_out) = (c_in * g.h * g.w, c_out * g.p());
    let parts = g.n.clamp(1, WEIGHT_GRAD_PARTS);
    let cut = |part: usize| part * g.n / parts;
    let block = XI * c_out * c_in;
    let (input, grad_w) = match wgrad {
        Some((x, gw)) => {
            gw.iter_mut().for_each(|v| *v = T::ZERO);
            (Some(x), (!gw.is_empty()).then_some(gw))
        }
        None => (None, None),
    };
    let (ut, grad_in) = match igrad {
        Some((w, gi)) => {
            // U_xi^T: `16 x c_in x c_out`.
            let mut ut = Buffer::<T>::for_overwrite(XI * c_in * c_out); // Every value written.
            transform_weight(
                c_in,
                c_out,
                |ci, co, i, j| w[(co * c_in + ci) * 9 + i * 3 + j],
                &mut ut,
            );
            (Some(ut), Some(gi))
        }
        None => (None, None),
    };
    if g.n == 0 || g.p() == 0 {
        if let Some(gi) = grad_in {
            gi.iter_mut().for_each(|v| *v = T::ZERO);
        }
        return;
    }
    let mut partials = grad_w.as_ref().map(|_| Buffer::<T>::zeroed(parts * block));
    // One task per run: its partial dU and its samples' rows of grad_in.
    let mut tasks: Vec<(usize, Option<&mut [T]>, Option<&mut [T]>)> = Vec::with_capacity(parts);
    {
        let mut du_rest = partials.as_deref_mut();
        let mut dx_rest = grad_in;
        for part in 0..parts {
            let du = du_rest.take().map(|d| {
                let (head, tail) = d.split_at_mut(block);
                du_rest = Some(tail);
                head
            });
            let samples = cut(part + 1) - cut(part);
            let dx = dx_rest.take().map(|d| {
                let (head, tail) = d.split_at_mut(samples * sample_in);
                dx_rest = Some(tail);
                head
            });
            tasks.push((part, du, dx));
        }
    }
    let run = |(part, mut du, mut dx): (usize, Option<&mut [T]>, Option<&mut [T]>)| {
        // All overwritten by their transforms or GEMMs before being read.
        let mut v = du
            .as_ref()
            .map(|_| Buffer::<T>::for_overwrite(XI * c_in * count));
        let mut yh = Buffer::<T>::for_overwrite(XI * c_out * count);
        let mut dv = dx
            .as_ref()
            .map(|_| Buffer::<T>::for_overwrite(XI * c_in * count));
        for (i, s) in (cut(part)..cut(part + 1)).enumerate() {
            let dy = &grad_out[s * sample_out..(s + 1) * sample_out];
            transform_output_grad(&t, c_out, dy, &mut yh);
            if let (Some(du), Some(v), Some(x)) = (du.as_deref_mut(), v.as_deref_mut(), input) {
                transform_input(&t, c_in, &x[s * sample_in..(s + 1) * sample_in], v);
                for (xi, du_xi) in du.chunks_mut(c_out * c_in).enumerate() {
                    let a = MatRef {
                        data: &yh,
                        offset: xi * c_out * count,
                        rs: count,
                        cs: 1,
                    };
                    let b = MatRef {
                        data: v,
                        offset: xi * c_in * count,
                        rs: 1,
                        cs: count,
                    };
                    gemm_with(c_out, count, c_in, a, b, true, false, du_xi);
                }
            }
            if let (Some(dx), Some(dv), Some(ut)) = (dx.as_deref_mut(), dv.as_deref_mut(), &ut) {
                per_position_products(c_in, c_out, count, ut, &yh, dv);
                transform_input_grad(&t, c_in, dv, &mut dx[i * sample_in..(i + 1) * sample_in]);
            }
        }
    };
    if parts > 1 && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        tasks.into_par_iter().for_each(run);
    } else {
        tasks.into_iter().for_each(run);
    }
    let (Some(grad_w), Some(partials)) = (grad_w, partials.as_mut()) else {
        return;
    };
    let (first, rest) = partials.split_at_mut(block);
    for part in rest.chunks(block) {
        for (d, &p) in first.iter_mut().zip(part) {
            *d += p;
        }
    }
    let du = &*first;
    // grad_w = G^T dU G for every (co, ci), G^T = [[1, .5, .5, 0], [0, .5, -.5, 0], [0, .5, .5, 1]].
    let half = T::from_f64(0.5);
    let plane = c_out * c_in;
    for (oc, gw) in grad_w.chunks_mut(9).enumerate() {
        let d = |r: usize, c: usize| du[(r * 4 + c) * plane + oc];
        // s = G^T dU: 3 x 4.
        let s: [[T; 4]; 3] = [
            std::array::from_fn(|c| d(0, c) + half * (d(1, c) + d(2, c))),
            std::array::from_fn(|c| half * (d(1, c) - d(2, c))),
            std::array::from_fn(|c| half * (d(1, c) + d(2, c)) + d(3, c)),
        ];
        // grad_w = s G: 3 x 3.
        for (i, si) in s.iter().enumerate() {
            let (s0, s1, s2, s3) = (si[0], si[1], si[2], si[3]);
            gw[i * 3] = s0 + half * (s1 + s2);
            gw[i * 3 + 1] = half * (s1 - s2);
            gw[i * 3 + 2] = half * (s1 + s2) + s3;
        }
    }
}
