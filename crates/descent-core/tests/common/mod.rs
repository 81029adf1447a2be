//! Shared helpers of the property tests: naive `f64` reference implementations written as plain
//! loops over multi-indices (independent of the library), proptest strategies for shapes,
//! values and non-contiguous views, and tolerant comparison.
#![allow(dead_code)]

use descent_core::{DType, Tensor};
use proptest::prelude::*;
use proptest::sample::select;

// ---------------------------------------------------------------------------------------------
// The reference array
// ---------------------------------------------------------------------------------------------

/// A row-major `f64` array with an explicit shape: what every reference computes on.
#[derive(Clone, Debug, PartialEq)]
pub struct Arr {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of `shape`.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![0; shape.len()];
    let mut acc = 1;
    for d in (0..shape.len()).rev() {
        s[d] = acc;
        acc *= shape[d];
    }
    s
}

/// The multi-index of row-major position `flat` in `shape`.
pub fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    idx
}

/// The row-major position of multi-index `idx` in `shape`.
pub fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    let mut flat = 0;
    for d in 0..shape.len() {
        assert!(idx[d] < shape[d], "reference index out of range");
        flat = flat * shape[d] + idx[d];
    }
    flat
}

impl Arr {
    pub fn new(shape: &[usize], data: Vec<f64>) -> Arr {
        assert_eq!(numel(shape), data.len(), "reference array length");
        Arr {
            shape: shape.to_vec(),
            data,
        }
    }

    /// The array whose element at multi-index `idx` is `f(idx)`.
    pub fn from_fn(shape: &[usize], mut f: impl FnMut(&[usize]) -> f64) -> Arr {
        let n = numel(shape);
        let data = (0..n).map(|i| f(&unravel(i, shape))).collect();
        Arr::new(shape, data)
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }

    pub fn at(&self, idx: &[usize]) -> f64 {
        self.data[ravel(idx, &self.shape)]
    }

    pub fn map(&self, f: impl Fn(f64) -> f64) -> Arr {
        Arr::new(&self.shape, self.data.iter().map(|&v| f(v)).collect())
    }

    /// The tensor holding these elements, contiguous, of element type `dt`.
    pub fn tensor(&self, dt: DType) -> Tensor {
        Tensor::from_vec(self.data.clone(), &self.shape[..]).to_dtype(dt)
    }
}

// ---------------------------------------------------------------------------------------------
// Reference ops
// ---------------------------------------------------------------------------------------------

/// The NumPy broadcast of several shapes, or `None`.
pub fn broadcast_shape(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1; rank];
    for s in shapes {
        let lead = rank - s.len();
        for (d, &n) in s.iter().enumerate() {
            let o = &mut out[lead + d];
            if *o == 1 {
                *o = n;
            } else if n != 1 && n != *o {
                return None;
            }
        }
    }
    Some(out)
}

/// The element of `a` that broadcasting maps output index `idx` to.
pub fn bcast_at(a: &Arr, idx: &[usize]) -> f64 {
    let lead = idx.len() - a.rank();
    let own: Vec<usize> = (0..a.rank())
        .map(|d| if a.shape[d] == 1 { 0 } else { idx[lead + d] })
        .collect();
    a.at(&own)
}

/// `f(a, b)` elementwise with broadcasting.
pub fn zip_ref(a: &Arr, b: &Arr, f: impl Fn(f64, f64) -> f64) -> Arr {
    let shape = broadcast_shape(&[&a.shape, &b.shape]).expect("shapes broadcast");
    Arr::from_fn(&shape, |i| f(bcast_at(a, i), bcast_at(b, i)))
}

/// `where(c != 0, a, b)` with three-way broadcasting.
pub fn where_ref(c: &Arr, a: &Arr, b: &Arr) -> Arr {
    let shape = broadcast_shape(&[&c.shape, &a.shape, &b.shape]).expect("shapes broadcast");
    Arr::from_fn(&shape, |i| {
        if bcast_at(c, i) != 0.0 {
            bcast_at(a, i)
        } else {
            bcast_at(b, i)
        }
    })
}

/// Reduces `x` over `axes` (normalized, distinct) with `f` applied to the values of each group
/// in row-major order.
pub fn reduce_ref(x: &Arr, axes: &[usize], keepdim: bool, f: impl Fn(&[f64]) -> f64) -> Arr {
    let r = x.rank();
    let kept_shape: Vec<usize> = (0..r)
        .map(|d| if axes.contains(&d) { 1 } else { x.shape[d] })
        .collect();
    let red_shape: Vec<usize> = axes.iter().map(|&d| x.shape[d]).collect();
    let out = Arr::from_fn(&kept_shape, |o| {
        let mut vals = Vec::new();
        for k in 0..numel(&red_shape) {
            let ri = unravel(k, &red_shape);
            let mut idx = o.to_vec();
            for (j, &d) in axes.iter().enumerate() {
                idx[d] = ri[j];
            }
            vals.push(x.at(&idx));
        }
        f(&vals)
    });
    if keepdim {
        out
    } else {
        let shape: Vec<usize> = (0..r)
            .filter(|d| !axes.contains(d))
            .map(|d| x.shape[d])
            .collect();
        Arr::new(&shape, out.data)
    }
}

pub fn sum_f(v: &[f64]) -> f64 {
    v.iter().sum()
}

pub fn mean_f(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

pub fn max_f(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

pub fn min_f(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn logsumexp_f(v: &[f64]) -> f64 {
    let m = max_f(v);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|&x| (x - m).exp()).sum::<f64>().ln()
}

pub fn var_f(v: &[f64], correction: usize) -> f64 {
    let mean = mean_f(v);
    let ss: f64 = v.iter().map(|&x| (x - mean) * (x - mean)).sum();
    ss / v.len().saturating_sub(correction) as f64
}

/// First index of the largest (`largest`) or smallest value along `axis`.
pub fn arg_ref(x: &Arr, axis: usize, keepdim: bool, largest: bool) -> Arr {
    reduce_ref(x, &[axis], keepdim, |v| {
        let mut best = 0;
        for (i, &e) in v.iter().enumerate() {
            if (largest && e > v[best]) || (!largest && e < v[best]) {
                best = i;
            }
        }
        best as f64
    })
}

/// Softmax (or log-softmax) along `axis`.
pub fn softmax_ref(x: &Arr, axis: usize, log: bool) -> Arr {
    Arr::from_fn(&x.shape, |idx| {
        let mut row = Vec::new();
        let mut j = idx.to_vec();
        for k in 0..x.shape[axis] {
            j[axis] = k;
            row.push(x.at(&j));
        }
        let m = max_f(&row);
        let s: f64 = row.iter().map(|&v| (v - m).exp()).sum();
        let v = x.at(idx);
        if log {
            v - m - s.ln()
        } else {
            (v - m).exp() / s
        }
    })
}

/// `torch.matmul`: 1-D operands promoted to a row / column, batch dims broadcast.
pub fn matmul_ref(a: &Arr, b: &Arr) -> Arr {
    assert!(a.rank() >= 1 && b.rank() >= 1);
    let a2 = if a.rank() == 1 {
        Arr::new(&[1, a.shape[0]], a.data.clone())
    } else {
        a.clone()
    };
    let b2 = if b.rank() == 1 {
        Arr::new(&[b.shape[0], 1], b.data.clone())
    } else {
        b.clone()
    };
    let (ra, rb) = (a2.rank(), b2.rank());
    let (m, k) = (a2.shape[ra - 2], a2.shape[ra - 1]);
    let (k2, n) = (b2.shape[rb - 2], b2.shape[rb - 1]);
    assert_eq!(k, k2);
    let ba = Arr::new(&a2.shape[..ra - 2], vec![0.0; numel(&a2.shape[..ra - 2])]);
    let bb = Arr::new(&b2.shape[..rb - 2], vec![0.0; numel(&b2.shape[..rb - 2])]);
    let batch = broadcast_shape(&[&ba.shape, &bb.shape]).expect("batch dims broadcast");
    let mut out_shape = batch.clone();
    out_shape.push(m);
    out_shape.push(n);
    let own = |full: &[usize], shape: &[usize]| -> Vec<usize> {
        let lead = full.len() - shape.len();
        (0..shape.len())
            .map(|d| if shape[d] == 1 { 0 } else { full[lead + d] })
            .collect()
    };
    let out = Arr::from_fn(&out_shape, |idx| {
        let nb = batch.len();
        let bi = &idx[..nb];
        let (i, j) = (idx[nb], idx[nb + 1]);
        let mut ia = own(bi, &ba.shape);
        let mut ib = own(bi, &bb.shape);
        ia.extend([i, 0]);
        ib.extend([0, j]);
        let mut s = 0.0;
        for p in 0..k {
            ia[ra - 1] = p;
            ib[rb - 2] = p;
            s += a2.at(&ia) * b2.at(&ib);
        }
        s
    });
    let mut shape = out.shape.clone();
    if b.rank() == 1 {
        shape.pop();
    }
    if a.rank() == 1 {
        let l = shape.len();
        shape.remove(l - if b.rank() == 1 { 1 } else { 2 });
    }
    Arr::new(&shape, out.data)
}

/// `torch.nn.functional.conv2d`: `(n, c, h, w)` by `(co, c / groups, kh, kw)` plus an optional
/// `[co]` bias, zero padding; seven nested loops (batch, output channel, output row and column,
/// then the group's input channels and the kernel taps).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_ref(
    x: &Arr,
    w: &Arr,
    bias: Option<&Arr>,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> Arr {
    let [n, c, h, wd] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
    let [co, cig, kh, kw] = [w.shape[0], w.shape[1], w.shape[2], w.shape[3]];
    assert_eq!(c, cig * groups, "reference conv: channels");
    let cog = co / groups;
    let out_len = |len: usize, k: usize, s: usize, p: usize, d: usize| {
        (len + 2 * p - (d * (k - 1) + 1)) / s + 1
    };
    let oh = out_len(h, kh, stride[0], padding[0], dilation[0]);
    let ow = out_len(wd, kw, stride[1], padding[1], dilation[1]);
    let mut out = Arr::new(&[n, co, oh, ow], vec![0.0; n * co * oh * ow]);
    for b in 0..n {
        for o in 0..co {
            let group = o / cog;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = bias.map_or(0.0, |bias| bias.at(&[o]));
                    for ci in 0..cig {
                        for i in 0..kh {
                            for j in 0..kw {
                                let y = (oy * stride[0] + i * dilation[0]) as isize
                                    - padding[0] as isize;
                                let xx = (ox * stride[1] + j * dilation[1]) as isize
                                    - padding[1] as isize;
                                if y < 0 || xx < 0 || y >= h as isize || xx >= wd as isize {
                                    continue;
                                }
                                s += x.at(&[b, group * cig + ci, y as usize, xx as usize])
                                    * w.at(&[o, ci, i, j]);
                            }
                        }
                    }
                    let at = ravel(&[b, o, oy, ox], &out.shape);
                    out.data[at] = s;
                }
            }
        }
    }
    out
}

/// Pooling geometry of the references.
#[derive(Clone, Copy, Debug)]
pub struct PoolRef {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
}

impl PoolRef {
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let f = |len: usize, a: usize| {
            (len + 2 * self.padding[a] - (self.dilation[a] * (self.kernel[a] - 1) + 1))
                / self.stride[a]
                + 1
        };
        (f(h, 0), f(w, 1))
    }

    /// The in-bounds positions `(y, x)` of window `(oy, ox)`, row by row.
    pub fn window(&self, oy: usize, ox: usize, h: usize, w: usize) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        for i in 0..self.kernel[0] {
            for j in 0..self.kernel[1] {
                let y = (oy * self.stride[0] + i * self.dilation[0]) as isize
                    - self.padding[0] as isize;
                let x = (ox * self.stride[1] + j * self.dilation[1]) as isize
                    - self.padding[1] as isize;
                if y >= 0 && x >= 0 && y < h as isize && x < w as isize {
                    v.push((y as usize, x as usize));
                }
            }
        }
        v
    }
}

/// Max pooling: the values and the in-plane index `y * w + x` of the first maximum.
pub fn max_pool_ref(x: &Arr, p: &PoolRef) -> (Arr, Arr) {
    let [n, c, h, w] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
    let (oh, ow) = p.out_hw(h, w);
    let mut idx = Vec::new();
    let vals = Arr::from_fn(&[n, c, oh, ow], |o| {
        let mut best: Option<(f64, usize)> = None;
        for (y, xx) in p.window(o[2], o[3], h, w) {
            let v = x.at(&[o[0], o[1], y, xx]);
            if best.is_none_or(|(b, _)| v > b) {
                best = Some((v, y * w + xx));
            }
        }
        let (v, i) = best.expect("non-empty window");
        idx.push(i as f64);
        v
    });
    let idx = Arr::new(&vals.shape.clone(), idx);
    (vals, idx)
}

/// Average pooling, dividing by the full window or by the in-bounds count.
pub fn avg_pool_ref(x: &Arr, p: &PoolRef, count_include_pad: bool) -> Arr {
    let [n, c, h, w] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
    let (oh, ow) = p.out_hw(h, w);
    Arr::from_fn(&[n, c, oh, ow], |o| {
        let win = p.window(o[2], o[3], h, w);
        let s: f64 = win.iter().map(|&(y, xx)| x.at(&[o[0], o[1], y, xx])).sum();
        let d = if count_include_pad {
            (p.kernel[0] * p.kernel[1]) as f64
        } else {
            win.len() as f64
        };
        s / d
    })
}

/// Output dim `i` is input dim `perm[i]`.
pub fn permute_ref(x: &Arr, perm: &[usize]) -> Arr {
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    Arr::from_fn(&shape, |o| {
        let mut idx = vec![0; x.rank()];
        for (i, &p) in perm.iter().enumerate() {
            idx[p] = o[i];
        }
        x.at(&idx)
    })
}

pub fn inverse_perm(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

/// Elements `start, start + step, ...` below `end` along `axis`.
pub fn slice_ref(x: &Arr, axis: usize, start: usize, end: usize, step: usize) -> Arr {
    let mut shape = x.shape.clone();
    shape[axis] = (start..end).step_by(step).count();
    Arr::from_fn(&shape, |o| {
        let mut idx = o.to_vec();
        idx[axis] = start + o[axis] * step;
        x.at(&idx)
    })
}

/// `x` expanded (NumPy rules) to `target`.
pub fn broadcast_to_ref(x: &Arr, target: &[usize]) -> Arr {
    Arr::from_fn(target, |o| bcast_at(x, o))
}

/// Joins along an existing `axis`.
pub fn concat_ref(xs: &[Arr], axis: usize) -> Arr {
    let mut shape = xs[0].shape.clone();
    shape[axis] = xs.iter().map(|x| x.shape[axis]).sum();
    Arr::from_fn(&shape, |o| {
        let mut k = o[axis];
        for x in xs {
            if k < x.shape[axis] {
                let mut idx = o.to_vec();
                idx[axis] = k;
                return x.at(&idx);
            }
            k -= x.shape[axis];
        }
        unreachable!()
    })
}

pub fn index_select_ref(x: &Arr, axis: usize, index: &[usize]) -> Arr {
    let mut shape = x.shape.clone();
    shape[axis] = index.len();
    Arr::from_fn(&shape, |o| {
        let mut idx = o.to_vec();
        idx[axis] = index[o[axis]];
        x.at(&idx)
    })
}

pub fn gather_ref(x: &Arr, axis: usize, index: &Arr) -> Arr {
    Arr::from_fn(&index.shape, |o| {
        let mut idx = o.to_vec();
        idx[axis] = index.at(o) as usize;
        x.at(&idx)
    })
}

pub fn one_hot_ref(labels: &Arr, classes: usize) -> Arr {
    let mut shape = labels.shape.clone();
    shape.push(classes);
    Arr::from_fn(&shape, |o| {
        let r = o.len() - 1;
        if labels.at(&o[..r]) as usize == o[r] {
            1.0
        } else {
            0.0
        }
    })
}

/// The error function by its Maclaurin series (accurate to ~1e-14 for |x| <= 3).
pub fn erf_ref(x: f64) -> f64 {
    assert!(x.abs() <= 3.0, "erf_ref is only for |x| <= 3");
    let mut sum = 0.0;
    let mut pow_over_fact = x; // x^(2n+1) / n!
    for n in 0..200 {
        let term = pow_over_fact / (2 * n + 1) as f64;
        sum += if n % 2 == 0 { term } else { -term };
        pow_over_fact *= x * x / (n + 1) as f64;
        if term.abs() < 1e-18 {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

pub fn gelu_ref(x: f64) -> f64 {
    0.5 * x * (1.0 + erf_ref(x / std::f64::consts::SQRT_2))
}

pub fn sigmoid_ref(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

// ---------------------------------------------------------------------------------------------
// Non-contiguous construction
// ---------------------------------------------------------------------------------------------

/// A value no op under test should ever read: it sits in the gaps of strided views.
pub const FILLER: f64 = 777.25;

/// One layout step used to build a tensor holding given logical elements.
#[derive(Clone, Debug, PartialEq)]
pub enum View {
    /// Stored permuted, viewed through the inverse `permute` (a transposed view).
    Permute(Vec<usize>),
    /// Stored interleaved with filler, viewed through `slice_axis(axis, 1, 2n + 1, 2)`.
    Step2(usize),
    /// Stored with a filler before and after, viewed through `narrow(axis, 1, n)` (non-zero
    /// offset). On a 0-D array: stored as `[filler, x, filler]`, `narrow` then `squeeze`.
    Narrow(usize),
    /// The elements are constant along `axis`; stored with size 1 there and viewed through
    /// `broadcast_to` (stride 0).
    Expand(usize),
}

/// Builds a tensor of type `dt` holding `x` through the layout steps `views` (outermost first).
pub fn build(x: &Arr, views: &[View], dt: DType) -> Tensor {
    let Some((first, rest)) = views.split_first() else {
        return x.tensor(dt);
    };
    let t = match first {
        View::Permute(p) => {
            build(&permute_ref(x, p), rest, dt).permute(&to_isize(&inverse_perm(p)))
        }
        View::Step2(a) => {
            let a = *a;
            let n = x.shape[a];
            let mut shape = x.shape.clone();
            shape[a] = 2 * n + 1;
            let base = Arr::from_fn(&shape, |i| {
                if i[a] % 2 == 1 {
                    let mut j = i.to_vec();
                    j[a] /= 2;
                    x.at(&j)
                } else {
                    FILLER
                }
            });
            build(&base, rest, dt).slice_axis(a as isize, 1, 2 * n + 1, 2)
        }
        View::Narrow(a) => {
            let a = *a;
            if x.rank() == 0 {
                let base = Arr::new(&[3], vec![FILLER, x.data[0], FILLER]);
                return build(&base, rest, dt).narrow(0, 1, 1).squeeze(0);
            }
            let n = x.shape[a];
            let mut shape = x.shape.clone();
            shape[a] = n + 2;
            let base = Arr::from_fn(&shape, |i| {
                if i[a] == 0 || i[a] == n + 1 {
                    FILLER
                } else {
                    let mut j = i.to_vec();
                    j[a] -= 1;
                    x.at(&j)
                }
            });
            build(&base, rest, dt).narrow(a as isize, 1, n)
        }
        View::Expand(a) => {
            let a = *a;
            let mut shape = x.shape.clone();
            shape[a] = 1;
            let base = Arr::from_fn(&shape, |i| if x.numel() == 0 { FILLER } else { x.at(i) });
            build(&base, rest, dt).broadcast_to(&x.shape[..])
        }
    };
    assert_eq!(t.shape(), &x.shape[..], "view construction shape");
    t
}

pub fn to_isize(v: &[usize]) -> Vec<isize> {
    v.iter().map(|&a| a as isize).collect()
}

/// Makes `x` constant along `axis` (copies index 0 everywhere), as an expanded view holds.
pub fn make_constant_along(x: &Arr, axis: usize) -> Arr {
    Arr::from_fn(&x.shape, |i| {
        let mut j = i.to_vec();
        j[axis] = 0;
        x.at(&j)
    })
}

/// An operand: its logical elements and how to lay the tensor out.
#[derive(Clone, Debug)]
pub struct Input {
    pub arr: Arr,
    pub views: Vec<View>,
}

impl Input {
    pub fn tensor(&self, dt: DType) -> Tensor {
        build(&self.arr, &self.views, dt)
    }

    pub fn shape(&self) -> &[usize] {
        &self.arr.shape
    }

    pub fn contiguous(arr: Arr) -> Input {
        Input {
            arr,
            views: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// A dim in `0..=5`, size 1 and size 0 frequent.
pub fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(1usize), 1 => Just(0usize), 6 => 2usize..=5]
}

/// A dim in `1..=5`, size 1 frequent.
pub fn dim_nonzero() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(1usize), 3 => 2usize..=5]
}

pub fn shape(min_rank: usize, max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(dim(), min_rank..=max_rank)
}

pub fn shape_nonzero(min_rank: usize, max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(dim_nonzero(), min_rank..=max_rank)
}

/// A value in `[lo, hi]`, representable in `f32` (so f32 and f64 tensors hold the same
/// elements), sometimes from a small set so ties and exact zeros occur.
pub fn value(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    let specials: Vec<f64> = [-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.0, 3.0]
        .into_iter()
        .filter(|v| (lo..=hi).contains(v))
        .collect();
    let uniform = (lo..=hi).prop_map(|v| v as f32 as f64);
    if specials.is_empty() {
        uniform.boxed()
    } else {
        prop_oneof![4 => uniform, 1 => select(specials)].boxed()
    }
}

/// Elements of `shape` in `[lo, hi]`.
pub fn arr_of(shape: Vec<usize>, lo: f64, hi: f64) -> impl Strategy<Value = Arr> {
    let n = numel(&shape);
    prop::collection::vec(value(lo, hi), n).prop_map(move |d| Arr::new(&shape, d))
}

/// Layout steps for an array of rank `r`: nothing (contiguous), or an optional expansion
/// followed by up to two of permute / step-2 slice / narrow.
pub fn views(r: usize, allow_expand: bool) -> BoxedStrategy<Vec<View>> {
    if r == 0 {
        return prop_oneof![Just(vec![]), Just(vec![View::Narrow(0)])].boxed();
    }
    let axes: Vec<usize> = (0..r).collect();
    let inner = prop_oneof![
        Just(axes.clone()).prop_shuffle().prop_map(View::Permute),
        (0..r).prop_map(View::Step2),
        (0..r).prop_map(View::Narrow),
    ];
    let expand = if allow_expand {
        prop::option::weighted(0.3, (0..r).prop_map(View::Expand)).boxed()
    } else {
        Just(None).boxed()
    };
    prop_oneof![
        1 => Just(vec![]),
        3 => (expand, prop::collection::vec(inner, 0..=2)).prop_map(|(e, rest)| {
            e.into_iter().chain(rest).collect::<Vec<View>>()
        }),
    ]
    .boxed()
}

/// An operand of the given shape, values in `[lo, hi]`, in a random (often non-contiguous) layout.
pub fn input_of(shape: Vec<usize>, lo: f64, hi: f64) -> BoxedStrategy<Input> {
    input_with(shape, lo, hi, true)
}

pub fn input_with(shape: Vec<usize>, lo: f64, hi: f64, allow_expand: bool) -> BoxedStrategy<Input> {
    let r = shape.len();
    (arr_of(shape, lo, hi), views(r, allow_expand))
        .prop_map(|(mut arr, views)| {
            for v in &views {
                if let View::Expand(a) = v {
                    arr = make_constant_along(&arr, *a);
                }
            }
            Input { arr, views }
        })
        .boxed()
}

/// An operand of random shape (rank `min..=max`) with values in `[lo, hi]`.
pub fn input(min_rank: usize, max_rank: usize, lo: f64, hi: f64) -> BoxedStrategy<Input> {
    shape(min_rank, max_rank)
        .prop_flat_map(move |s| input_of(s, lo, hi))
        .boxed()
}

/// A shape that broadcasts with `full` into `full`: some dims set to 1, some leading dims dropped.
pub fn sub_shape(full: Vec<usize>) -> impl Strategy<Value = Vec<usize>> {
    let r = full.len();
    (prop::collection::vec(prop::bool::weighted(0.3), r), 0..=r).prop_map(move |(ones, drop)| {
        let drop = if drop > r / 2 { 0 } else { drop };
        full.iter()
            .zip(&ones)
            .skip(drop)
            .map(|(&d, &one)| if one { 1 } else { d })
            .collect()
    })
}

/// `n` shapes that broadcast together (each side may expand the other).
pub fn broadcast_shapes(n: usize) -> impl Strategy<Value = Vec<Vec<usize>>> {
    shape(0, 4).prop_flat_map(move |full| {
        let v: Vec<_> = (0..n).map(|_| sub_shape(full.clone())).collect();
        v
    })
}

/// A list of distinct axes of a rank-`r` array (sorted, normalized) and how to pass them
/// (shuffled, some negative).
pub fn axis_set(r: usize) -> impl Strategy<Value = (Vec<usize>, Vec<isize>)> {
    let all: Vec<usize> = (0..r).collect();
    (
        proptest::sample::subsequence(all, 0..=r),
        prop::collection::vec(any::<bool>(), r),
    )
        .prop_flat_map(move |(axes, neg)| {
            let passed: Vec<isize> = axes
                .iter()
                .map(|&a| {
                    if neg[a] {
                        a as isize - r as isize
                    } else {
                        a as isize
                    }
                })
                .collect();
            (Just(axes), Just(passed).prop_shuffle())
        })
}

/// An axis of a rank-`r` array (`r >= 1`) as normalized and as passed (maybe negative).
pub fn axis(r: usize) -> impl Strategy<Value = (usize, isize)> {
    (0..r, any::<bool>()).prop_map(move |(a, neg)| {
        (
            a,
            if neg {
                a as isize - r as isize
            } else {
                a as isize
            },
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

pub const DTYPES: [DType; 2] = [DType::F32, DType::F64];

/// `(rtol, atol)` of elementwise results.
pub fn tol(dt: DType) -> (f64, f64) {
    match dt {
        DType::F32 => (1e-5, 1e-5),
        DType::F64 => (1e-12, 1e-12),
    }
}

/// `(rtol, atol)` of long sums (matmul, conv), relative to the sum of absolute terms.
pub fn sum_tol(dt: DType) -> (f64, f64) {
    match dt {
        DType::F32 => (1e-4, 1e-5),
        DType::F64 => (1e-12, 1e-12),
    }
}

fn close(g: f64, w: f64, scale: f64, rtol: f64, atol: f64) -> bool {
    if w.is_nan() {
        return g.is_nan();
    }
    if w.is_infinite() {
        return g == w;
    }
    (g - w).abs() <= atol + rtol * scale
}

/// Checks shape, element type and every value of `got` against `want` within
/// `atol + rtol * |want|`.
#[track_caller]
pub fn assert_close(what: &str, got: &Tensor, want: &Arr, dt: DType, rtol: f64, atol: f64) {
    let scale = want.map(f64::abs);
    assert_close_scaled(what, got, want, &scale, dt, rtol, atol);
}

/// As [`assert_close`] with the default tolerance of `dt`.
#[track_caller]
pub fn check(what: &str, got: &Tensor, want: &Arr, dt: DType) {
    let (r, a) = tol(dt);
    assert_close(what, got, want, dt, r, a);
}

/// Checks within `atol + rtol * scale` per element (`scale`: e.g. the sum of absolute terms).
#[track_caller]
pub fn assert_close_scaled(
    what: &str,
    got: &Tensor,
    want: &Arr,
    scale: &Arr,
    dt: DType,
    rtol: f64,
    atol: f64,
) {
    assert_eq!(got.shape(), &want.shape[..], "{what} ({dt:?}): shape");
    assert_eq!(got.dtype(), dt, "{what}: dtype");
    let all = got.to_vec_f64();
    for (i, ((&g, &w), &s)) in all.iter().zip(&want.data).zip(&scale.data).enumerate() {
        assert!(
            close(g, w, s.abs(), rtol, atol),
            "{what} ({dt:?}): element {i} (index {:?} of {:?}) is {g}, want {w}\n got: {:?}\nwant: {:?}",
            unravel(i, &want.shape),
            want.shape,
            all,
            want.data
        );
    }
}

/// Checks exact equality (views, joins, indexing, masks).
#[track_caller]
pub fn assert_exact(what: &str, got: &Tensor, want: &Arr, dt: DType) {
    assert_eq!(got.shape(), &want.shape[..], "{what} ({dt:?}): shape");
    assert_eq!(got.dtype(), dt, "{what}: dtype");
    let g = got.to_vec_f64();
    assert_eq!(
        g, want.data,
        "{what} ({dt:?}): values of shape {:?}",
        want.shape
    );
}

/// The message of a panic caught by `catch_unwind`.
pub fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = e.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "<non-string panic>".to_string()
    }
}
