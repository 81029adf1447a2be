//! Fused cross-entropy of logits: log-softmax and the negative log-likelihood of a target class,
//! with class weights and label smoothing, in one pass per row; and its backward.
//!
//! Layout: the logits are a contiguous `[outer, classes, inner]` block (PyTorch's `[N, C]`, or
//! `[N, C, d1, ...]` with `inner = d1 * ...`); a *row* is one `(o, i)`, its `classes` logits
//! `inner` apart. `targets[o * inner + i]` is the row's class, or [`IGNORE`].
//!
//! Contract, per row with `m = max_c x_c`, `ls = ln sum_c e^(x_c - m)`,
//! `logp_c = (x_c - m) - ls` (PyTorch's log-softmax, in its order of operations), weight `w`
//! (all ones without one), smoothing `eps` and `C = classes`:
//!
//! `loss = (1 - eps) w_t (-logp_t) + (eps / C) sum_c w_c (-logp_c)`, 0 for an ignored row;
//! the smoothing sum is skipped when `eps = 0` (as PyTorch, which then never forms it).
//!
//! The forward returns the total weight `sum w_t` over the rows not ignored (the divisor of
//! PyTorch's weighted mean) and keeps `(m, ls)` per row for the backward:
//!
//! `dx_j = s_r (p_j A - (1 - eps) w_t [j = t] - (eps / C) w_j)` with `p_j = e^((x_j - m) - ls)`,
//! `A = (1 - eps) w_t + (eps / C) sum_c w_c` and `s_r` the row's upstream scale; 0 for an
//! ignored row. Without weights this is `s_r (softmax - smoothed one-hot)`.
//!
//! Any finite logits give finite results (`e^(x - m) <= 1`, and `-logp = (m - x) + ls` never
//! cancels catastrophically). Rows are independent, so the parallel split (over `outer`) does not
//! change any bit.

use crate::float::Float;
use crate::parallel::worth_parallel;
use rayon::prelude::*;

/// The target of an ignored row.
pub const IGNORE: usize = usize::MAX;

/// The operands of [`forward`] and [`backward`].
#[derive(Clone, Copy, Debug)]
pub struct CrossEntropy<'a, T> {
    /// The logits, contiguous `[outer, classes, inner]`.
    pub x: &'a [T],
    /// Leading size (`N`).
    pub outer: usize,
    /// Classes (`C`).
    pub classes: usize,
    /// Trailing size (the product of `d1, ...`; 1 for `[N, C]`).
    pub inner: usize,
    /// One class per row (`outer * inner`), each below `classes` or [`IGNORE`].
    pub targets: &'a [usize],
    /// Class weights (`classes`), or `None` for all ones.
    pub weight: Option<&'a [T]>,
    /// Label smoothing `eps` in `[0, 1]`.
    pub smoothing: T,
}

impl<T: Float> CrossEntropy<'_, T> {
    fn check(&self) {
        assert_eq!(
            self.x.len(),
            self.outer * self.classes * self.inner,
            "cross_entropy: input length"
        );
        assert_eq!(
            self.targets.len(),
            self.outer * self.inner,
            "cross_entropy: targets length"
        );
        if let Some(w) = self.weight {
            assert_eq!(w.len(), self.classes, "cross_entropy: weight length");
        }
        assert!(
            self.targets
                .iter()
                .all(|&t| t < self.classes || t == IGNORE),
            "cross_entropy: a target is out of range"
        );
    }

    fn w(&self, c: usize) -> T {
        self.weight.map_or(T::ONE, |w| w[c])
    }
}

/// The logits of row `(o, i)` gathered into `row` (or borrowed when `inner == 1`).
fn row_of<'a, T: Float>(
    xo: &'a [T],
    classes: usize,
    inner: usize,
    i: usize,
    buf: &'a mut Vec<T>,
) -> &'a [T] {
    if inner == 1 {
        return xo;
    }
    buf.clear();
    buf.extend((0..classes).map(|c| xo[c * inner + i]));
    buf
}

/// `(m, ls)` of one row: its max and `ln sum e^(x - m)`.
fn stats<T: Float>(row: &[T]) -> (T, T) {
    let m = row.iter().fold(T::NEG_INFINITY, |a, &b| a.max_nan(b));
    let mut s = T::ZERO;
    for &v in row {
        s += (v - m).exp();
    }
    (m, s.ln())
}

/// Per-row losses into `loss` (`outer * inner`) and `(m, ls)` pairs into `saved`
/// (`2 * outer * inner`); returns the total weight of the rows not ignored.
///
/// # Panics
/// If a length does not match or a target is neither below `classes` nor [`IGNORE`].
pub fn forward<T: Float>(a: &CrossEntropy<'_, T>, loss: &mut [T], saved: &mut [T]) -> T {
    a.check();
    let rows = a.outer * a.inner;
    assert_eq!(loss.len(), rows, "cross_entropy: loss length");
    assert_eq!(saved.len(), 2 * rows, "cross_entropy: saved length");
    let (c, inner) = (a.classes, a.inner);
    let keep = T::ONE - a.smoothing;
    let spread = a.smoothing / T::from_usize(c);
    let one = |(o, (loss_o, saved_o)): (usize, (&mut [T], &mut [T]))| {
        let xo = &a.x[o * c * inner..(o + 1) * c * inner];
        let mut buf = Vec::new();
        for i in 0..inner {
            let t = a.targets[o * inner + i];
            if t == IGNORE {
                loss_o[i] = T::ZERO;
                saved_o[2 * i] = T::ZERO;
                saved_o[2 * i + 1] = T::ZERO;
                continue;
            }
            let row = row_of(xo, c, inner, i, &mut buf);
            let (m, ls) = stats(row);
            saved_o[2 * i] = m;
            saved_o[2 * i + 1] = ls;
            let nll = -((row[t] - m) - ls);
            let mut l = keep * (a.w(t) * nll);
            if a.smoothing != T::ZERO {
                let mut smooth = T::ZERO;
                for (k, &v) in row.iter().enumerate() {
                    smooth += a.w(k) * -((v - m) - ls);
                }
                l += spread * smooth;
            }
            loss_o[i] = l;
        }
    };
    if rows > 0 {
        if worth_parallel(a.x.len()) && a.outer > 1 {
            loss.par_chunks_mut(inner)
                .zip(saved.par_chunks_mut(2 * inner))
                .enumerate()
                .for_each(one);
        } else {
            loss.chunks_mut(inner)
                .zip(saved.chunks_mut(2 * inner))
                .enumerate()
                .for_each(one);
        }
    }
    let mut total = T::ZERO;
    for &t in a.targets {
        if t != IGNORE {
            total += a.w(t);
        }
    }
    total
}

/// The gradient of the per-row losses with respect to the logits into `dx` (the input's
/// length): row `r` is scaled by `grad[r] * scale` (`grad` has one element per row, or one
/// element for all rows), with the `saved` pairs of [`forward`].
///
/// # Panics
/// If a length does not match or a target is out of range.
pub fn backward<T: Float>(
    a: &CrossEntropy<'_, T>,
    saved: &[T],
    grad: &[T],
    scale: T,
    dx: &mut [T],
) {
    a.check();
    let rows = a.outer * a.inner;
    assert_eq!(saved.len(), 2 * rows, "cross_entropy: saved length");
    assert!(
        grad.len() == rows || grad.len() == 1,
        "cross_entropy: grad length"
    );
    assert_eq!(dx.len(), a.x.len(), "cross_entropy: dx length");
    let (c, inner) = (a.classes, a.inner);
    let keep = T::ONE - a.smoothing;
    let spread = a.smoothing / T::from_usize(c);
    let w_sum = match a.weight {
        Some(w) => w.iter().fold(T::ZERO, |s, &v| s + v),
        None => T::from_usize(c),
    };
    let one = |(o, dx_o): (usize, &mut [T])| {
        let xo = &a.x[o * c * inner..(o + 1) * c * inner];
        for i in 0..inner {
            let r = o * inner + i;
            let t = a.targets[r];
            if t == IGNORE {
                (0..c).for_each(|k| dx_o[k * inner + i] = T::ZERO);
                continue;
            }
            let s = grad[if grad.len() == 1 { 0 } else { r }] * scale;
            let (m, ls) = (saved[2 * r], saved[2 * r + 1]);
            let wt = a.w(t);
            let big_a = keep * wt + spread * w_sum;
            for k in 0..c {
                let p = ((xo[k * inner + i] - m) - ls).exp();
                let mut d = p * big_a - spread * a.w(k);
                if k == t {
                    d -= keep * wt;
                }
                dx_o[k * inner + i] = s * d;
            }
        }
    };
    if dx.is_empty() {
        return;
    }
    if worth_parallel(a.x.len()) && a.outer > 1 {
        dx.par_chunks_mut(c * inner).enumerate().for_each(one);
    } else {
        dx.chunks_mut(c * inner).enumerate().for_each(one);
    }
}

/// The reference: per-row losses in `f64` by a plain loop over the definition (log-softmax
/// through `ln sum e^x` with the max subtracted, then the weighted, smoothed NLL).
pub fn reference<T: Float>(a: &CrossEntropy<'_, T>) -> Vec<f64> {
    let (c, inner) = (a.classes, a.inner);
    let eps = a.smoothing.to_f64();
    let w = |k: usize| a.weight.map_or(1.0, |w| w[k].to_f64());
    let mut out = Vec::with_capacity(a.outer * inner);
    for o in 0..a.outer {
        for i in 0..inner {
            let t = a.targets[o * inner + i];
            if t == IGNORE {
                out.push(0.0);
                continue;
            }
            let x: Vec<f64> = (0..c)
                .map(|k| a.x[(o * c + k) * inner + i].to_f64())
                .collect();
            let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            let mut l = (1.0 - eps) * w(t) * (lse - x[t]);
            if eps != 0.0 {
                l += eps / c as f64 * (0..c).map(|k| w(k) * (lse - x[k])).sum::<f64>();
            }
            out.push(l);
        }
    }
    out
}
