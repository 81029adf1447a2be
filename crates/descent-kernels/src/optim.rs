//! Fused optimizer updates: each reads a parameter, its gradient and its state once, and writes
//! them once.
//!
//! The hyperparameters of a step arrive as plain numbers (the bias corrections, the step size of
//! this step are computed by the caller once per parameter). Each update follows PyTorch's
//! single-tensor implementation operation by operation, in the same order, so an `f64` run matches
//! `torch.optim` to the last few ulps. From [`optim_par_threshold`] elements on the work is split
//! over rayon's threads; the updates are elementwise, so the result does not
//! depend on the thread count.
//!
//! ```
//! use descent_kernels::optim::{sgd, SgdStep};
//! let (mut p, g) = ([1.0f32, 2.0], [0.5f32, -1.0]);
//! sgd(&SgdStep { lr: 0.1, ..SgdStep::default() }, &mut p, &g, None);
//! assert_eq!(p, [0.95, 2.1]);
//! ```

use crate::float::Float;
use crate::parallel::{CHUNK, optim_par_threshold};

/// One SGD step: `d = g + weight_decay·p`; with momentum `b ← momentum·b + (1 − dampening)·d`
/// (`b ← d` on the first step), `d = d + momentum·b` (Nesterov) or `d = b`; then `p ← p − lr·d`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SgdStep {
    /// Learning rate.
    pub lr: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Momentum factor; 0 for none (then no buffer is passed).
    pub momentum: f64,
    /// Dampening of the gradient in the momentum buffer.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Whether the momentum buffer is empty (the first step): it is set to the gradient.
    pub first: bool,
}

/// One Adam / AdamW step (PyTorch's `Adam`, `AdamW`):
/// `p ← p·(1 − lr·decoupled_decay)`, `g ← g + weight_decay·p`, `m ← m + (1 − β1)(g − m)`,
/// `v ← β2·v + (1 − β2)·g²`, with amsgrad `v̂ ← max(v̂, v)` (else `v̂ = v`),
/// `p ← p − step_size · m / (√v̂ / bias2_sqrt + eps)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct AdamStep {
    /// `lr / (1 − β1^t)`.
    pub step_size: f64,
    /// `√(1 − β2^t)`.
    pub bias2_sqrt: f64,
    /// `β1`.
    pub beta1: f64,
    /// `β2`.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty added to the gradient (Adam).
    pub weight_decay: f64,
    /// `lr·weight_decay` of AdamW's decoupled decay: `p ← p·(1 − decay)` before the update.
    pub decoupled_decay: f64,
}

/// One RMSprop step (PyTorch's `RMSprop`): `g ← g + weight_decay·p`,
/// `s ← α·s + (1 − α)·g²`; centered: `ḡ ← ḡ + (1 − α)(g − ḡ)`, `a = √(s − ḡ²) + eps`, else
/// `a = √s + eps`; with momentum `b ← momentum·b + g/a`, `p ← p − lr·b`, else `p ← p − lr·g/a`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RmspropStep {
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant α.
    pub alpha: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Momentum factor; 0 for none.
    pub momentum: f64,
}

/// One Adagrad step (PyTorch's `Adagrad`): `g ← g + weight_decay·p`, `s ← s + g²`,
/// `p ← p − clr · g / (√s + eps)` with `clr = lr / (1 + (t − 1)·lr_decay)` computed by the caller.
#[derive(Clone, Copy, Debug, Default)]
pub struct AdagradStep {
    /// The decayed learning rate of this step.
    pub clr: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

/// The slices one update touches, split together at chunk boundaries.
struct Lanes<'a, T> {
    p: &'a mut [T],
    g: &'a [T],
    s: [Option<&'a mut [T]>; 3],
}

impl<'a, T: Float> Lanes<'a, T> {
    fn new(p: &'a mut [T], g: &'a [T], s: [Option<&'a mut [T]>; 3]) -> Lanes<'a, T> {
        assert_eq!(p.len(), g.len(), "parameter and gradient lengths differ");
        for b in s.iter().flatten() {
            assert_eq!(b.len(), p.len(), "parameter and state lengths differ");
        }
        Lanes { p, g, s }
    }

    fn split_at(self, mid: usize) -> (Lanes<'a, T>, Lanes<'a, T>) {
        let (p0, p1) = self.p.split_at_mut(mid);
        let (g0, g1) = self.g.split_at(mid);
        let [a, b, c] = self.s.map(|s| match s {
            Some(s) => {
                let (x, y) = s.split_at_mut(mid);
                (Some(x), Some(y))
            }
            None => (None, None),
        });
        (
            Lanes {
                p: p0,
                g: g0,
                s: [a.0, b.0, c.0],
            },
            Lanes {
                p: p1,
                g: g1,
                s: [a.1, b.1, c.1],
            },
        )
    }

    /// Runs `f` over the lanes, forking when the work is large enough: pieces of at least
    /// [`optim_par_threshold`]` / 2` elements, and no more than four per thread.
    fn run(self, f: &(impl Fn(Lanes<'_, T>) + Sync)) {
        let (n, threads, cut) = (
            self.p.len(),
            rayon::current_num_threads(),
            optim_par_threshold(),
        );
        if n < cut || threads < 2 {
            return f(self);
        }
        let min_piece = (n / (4 * threads)).max(cut / 2);
        self.run_split(min_piece, f);
    }

    fn run_split(self, min_piece: usize, f: &(impl Fn(Lanes<'_, T>) + Sync)) {
        let n = self.p.len();
        if n < 2 * min_piece {
            return f(self);
        }
        // Split on a multiple of 64 elements (cache lines of both f32 and f64 stay whole).
        let mid = (n / 2).div_ceil(64) * 64;
        let (a, b) = self.split_at(mid.min(n));
        rayon::join(|| a.run_split(min_piece, f), || b.run_split(min_piece, f));
    }
}

fn t<T: Float>(v: f64) -> T {
    T::from_f64(v)
}

/// Applies one SGD step to `p` given its gradient `g` and, when `h.momentum != 0`, its momentum
/// buffer (ignored otherwise).
///
/// # Panics
/// If the lengths differ, or momentum is set and no buffer is passed.
pub fn sgd<T: Float>(h: &SgdStep, p: &mut [T], g: &[T], momentum_buf: Option<&mut [T]>) {
    let buf = if h.momentum != 0.0 {
        Some(momentum_buf.expect("SGD with momentum needs its buffer"))
    } else {
        None
    };
    let (lr, wd, mu, damp) = (
        t::<T>(h.lr),
        t::<T>(h.weight_decay),
        t::<T>(h.momentum),
        t::<T>(1.0 - h.dampening),
    );
    let (decay, nesterov, first) = (h.weight_decay != 0.0, h.nesterov, h.first);
    Lanes::new(p, g, [buf, None, None]).run(&|l: Lanes<'_, T>| {
        let [b, _, _] = l.s;
        // One monomorphic loop per combination, so each vectorizes without branches inside.
        match (b, decay, nesterov) {
            (None, false, _) => l.p.iter_mut().zip(l.g).for_each(|(p, &g)| *p -= lr * g),
            (None, true, _) => {
                l.p.iter_mut()
                    .zip(l.g)
                    .for_each(|(p, &g)| *p -= lr * (g + wd * *p))
            }
            (Some(b), false, false) => {
                sgd_loop::<T, false, false>(lr, wd, mu, damp, first, l.p, l.g, b)
            }
            (Some(b), true, false) => {
                sgd_loop::<T, true, false>(lr, wd, mu, damp, first, l.p, l.g, b)
            }
            (Some(b), false, true) => {
                sgd_loop::<T, false, true>(lr, wd, mu, damp, first, l.p, l.g, b)
            }
            (Some(b), true, true) => {
                sgd_loop::<T, true, true>(lr, wd, mu, damp, first, l.p, l.g, b)
            }
        }
    });
}

#[allow(clippy::too_many_arguments)] // The scalars of one step, hoisted out of the loop.
#[inline(always)]
fn sgd_loop<T: Float, const DECAY: bool, const NESTEROV: bool>(
    lr: T,
    wd: T,
    mu: T,
    damp: T,
    first: bool,
    p: &mut [T],
    g: &[T],
    b: &mut [T],
) {
    // On the first step the buffer is the gradient itself: b ← d, i.e. μ·0 + 1·d with the
    // dampening off, which keeps one loop for both cases.
    let (mu_b, damp) = if first { (T::ZERO, T::ONE) } else { (mu, damp) };
    for ((p, &g), b) in p.iter_mut().zip(g).zip(b) {
        let d = if DECAY { g + wd * *p } else { g };
        *b = *b * mu_b + damp * d;
        let step = if NESTEROV { d + mu * *b } else { *b };
        *p -= lr * step;
    }
}

/// Applies one Adam (or AdamW) step to `p` given its gradient `g`, its first and second moments
/// `m`, `v`, and, for amsgrad, the running maximum `v_max` of the second moment.
///
/// # Panics
/// If the lengths differ.
pub fn adam<T: Float>(
    h: &AdamStep,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    v_max: Option<&mut [T]>,
) {
    let c = AdamConsts::<T>::new(h);
    let (decay, decoupled) = (h.weight_decay != 0.0, h.decoupled_decay != 0.0);
    Lanes::new(p, g, [Some(m), Some(v), v_max]).run(&|l: Lanes<'_, T>| {
        let [Some(m), Some(v), v_max] = l.s else {
            unreachable!("Adam passes both moments")
        };
        // One monomorphic loop per combination, so each vectorizes without branches inside.
        match (decay, decoupled, v_max) {
            (false, false, None) => adam_isa::<T, false, false>(&c, l.p, l.g, m, v),
            (true, false, None) => adam_isa::<T, true, false>(&c, l.p, l.g, m, v),
            (false, true, None) => adam_isa::<T, false, true>(&c, l.p, l.g, m, v),
            (true, true, None) => adam_isa::<T, true, true>(&c, l.p, l.g, m, v),
            (decay, decoupled, Some(vm)) => {
                for ((((p, &g), m), v), vm) in l.p.iter_mut().zip(l.g).zip(m).zip(v).zip(vm) {
                    if decoupled {
                        *p *= c.keep;
                    }
                    let g = if decay { g + c.wd * *p } else { g };
                    *m += c.one_m_b1 * (g - *m);
                    *v = *v * c.b2 + c.one_m_b2 * g * g;
                    *vm = vm.max_nan(*v);
                    *p += c.neg_step * *m / (vm.sqrt() / c.bias2_sqrt + c.eps);
                }
            }
        }
    });
}

/// [`adam_loop`] on the best instruction set this CPU has (the same bits on every path: the
/// loop has no multiply-add the compiler could fuse, and `sqrt` and `/` are correctly rounded).
fn adam_isa<T: Float, const DECAY: bool, const DECOUPLED: bool>(
    c: &AdamConsts<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    match crate::isa() {
        crate::Isa::Avx2Fma => crate::simd::adam_avx2::<T, DECAY, DECOUPLED>(c, p, g, m, v),
        crate::Isa::Fallback => adam_loop::<T, DECAY, DECOUPLED>(c, p, g, m, v),
    }
}

/// Adam's per-step constants in the element type.
pub(crate) struct AdamConsts<T> {
    pub(crate) neg_step: T,
    pub(crate) bias2_sqrt: T,
    pub(crate) eps: T,
    pub(crate) one_m_b1: T,
    pub(crate) b2: T,
    pub(crate) one_m_b2: T,
    pub(crate) wd: T,
    pub(crate) keep: T,
    /// Gradients and moments below this magnitude read and store as zero:
    /// [`T::MIN_POSITIVE`](Float::MIN_POSITIVE) when [`crate::flush_denormal`] is on, zero (no
    /// value is below it) otherwise.
    pub(crate) tiny: T,
    /// `neg_step`, `one_m_b1` and `one_m_b2` exactly in `f64`, and 1.0 as a value the compiler
    /// cannot see ([`adam_lanes_faded`]).
    pub(crate) neg_step_wide: f64,
    pub(crate) one_m_b1_wide: f64,
    pub(crate) one_m_b2_wide: f64,
    pub(crate) one: f64,
}

impl<T: Float> AdamConsts<T> {
    fn new(h: &AdamStep) -> Self {
        AdamConsts {
            neg_step: t(-h.step_size),
            bias2_sqrt: t(h.bias2_sqrt),
            eps: t(h.eps),
            one_m_b1: t(1.0 - h.beta1),
            b2: t(h.beta2),
            one_m_b2: t(1.0 - h.beta2),
            wd: t(h.weight_decay),
            keep: t(1.0 - h.decoupled_decay),
            tiny: if crate::flush_denormal() {
                T::MIN_POSITIVE
            } else {
                T::ZERO
            },
            neg_step_wide: t::<T>(-h.step_size).to_f64(),
            one_m_b1_wide: t::<T>(1.0 - h.beta1).to_f64(),
            one_m_b2_wide: t::<T>(1.0 - h.beta2).to_f64(),
            one: std::hint::black_box(1.0),
        }
    }
}

/// The Adam update in blocks of 64 values: a block in which a gradient or first moment is nonzero
/// and below 2^-60 in magnitude ([`FADED`]) takes [`adam_lanes_faded`] (the same bits, without
/// subnormal operands in its multiplications), the others [`adam_lanes`].
///
/// A multiplication or division with a subnormal input or result takes a microcode assist on x86
/// (~30 ns for a vector, measured), and once a model has fitted its batch the first moments of
/// many weights decay into the subnormal range and stay there (`m + 0.1 (0 - m)` rounds back to
/// `m` from 5 units of 2^-149 down): a vector with one such lane assists three times. With
/// flushing on (`tiny` nonzero) nothing is subnormal and every block takes the plain loop.
#[inline(always)]
pub(crate) fn adam_loop<T: Float, const DECAY: bool, const DECOUPLED: bool>(
    c: &AdamConsts<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    // Short enough that the out-of-order core overlaps a block's check with the previous
    // block's arithmetic (a scan of the whole slice first measured 1.5x slower).
    const BLOCK: usize = 64;
    if c.tiny != T::ZERO {
        return adam_lanes::<T, DECAY, DECOUPLED, true>(c, p, g, m, v);
    }
    let low = T::from_f64(FADED);
    let mut blocks = p
        .chunks_exact_mut(BLOCK)
        .zip(g.chunks_exact(BLOCK))
        .zip(m.chunks_exact_mut(BLOCK))
        .zip(v.chunks_exact_mut(BLOCK));
    for (((p, g), m), v) in &mut blocks {
        if T::any_nonzero_below(g, m, low) {
            adam_lanes_faded::<T, DECAY, DECOUPLED>(c, p, g, m, v);
        } else {
            adam_lanes::<T, DECAY, DECOUPLED, false>(c, p, g, m, v);
        }
    }
    let rest = p.len() - p.len() % BLOCK;
    adam_lanes::<T, DECAY, DECOUPLED, false>(
        c,
        &mut p[rest..],
        &g[rest..],
        &mut m[rest..],
        &mut v[rest..],
    );
}

/// Gradients and first moments nonzero and below this magnitude (2^-60) send their block of the
/// Adam update to [`adam_lanes_faded`]: below it `(1 - b2) g g`, `(1 - b1) (g - m)` or
/// `step m / denominator` may be subnormal. (Speed only: both paths give the same bits.)
const FADED: f64 = 1.0 / (1u64 << 60) as f64;

/// [`FADED`] as an `f32` (exact: a power of two).
pub(crate) const FADED_F32: f32 = FADED as f32;

/// The Adam update as written, one vectorizable loop.
#[inline(always)]
fn adam_lanes<T: Float, const DECAY: bool, const DECOUPLED: bool, const FLUSH: bool>(
    c: &AdamConsts<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    // A select per value, branch-free: with flushing off (`tiny` 0) it never fires.
    let flush = |x: T| {
        if FLUSH && x.abs() < c.tiny {
            T::ZERO
        } else {
            x
        }
    };
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        if DECOUPLED {
            *p *= c.keep;
        }
        let g = flush(g);
        let g = if DECAY { g + c.wd * *p } else { g };
        *m = flush(*m + c.one_m_b1 * (g - *m));
        *v = flush(*v * c.b2 + c.one_m_b2 * g * g);
        *p += c.neg_step * *m / (v.sqrt() / c.bias2_sqrt + c.eps);
    }
}

/// [`adam_lanes`] (flushing off) with the multiplications that take a gradient or a first moment
/// and the final division computed in `f64` and rounded to `T`. For `f32` those are the same
/// bits: a product of two `f32` values is exact in `f64`, and a quotient rounded to `f64` first
/// still rounds to the correctly rounded `f32` (53 >= 2 * 24 + 2, subnormal results included);
/// and no operand is subnormal in `f64`. The conversions take no assist, nor do additions and
/// subtractions of subnormal `f32` values, which stay in `T` with the rest. For `f64` the same
/// arithmetic as [`adam_lanes`].
#[inline(always)]
pub(crate) fn adam_lanes_faded<T: Float, const DECAY: bool, const DECOUPLED: bool>(
    c: &AdamConsts<T>,
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
) {
    // `one` (1.0, read from memory) keeps the compiler from folding an f32 -> f64 -> f32 round
    // trip around a multiplication or division back into the f32 one (an exact rewrite it
    // knows); the constants come as `f64` already.
    let wide = |x: T| x.to_f64() * c.one;
    let to_t = T::from_f64;
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
        if DECOUPLED {
            *p *= c.keep;
        }
        let g = if DECAY { g + c.wd * *p } else { g };
        *m += to_t(c.one_m_b1_wide * wide(g - *m));
        *v = *v * c.b2 + to_t(wide(to_t(c.one_m_b2_wide * wide(g))) * wide(g));
        let step = to_t(c.neg_step_wide * wide(*m));
        *p += to_t(wide(step) / wide(v.sqrt() / c.bias2_sqrt + c.eps));
    }
}

/// Applies one RMSprop step to `p` given its gradient `g`, its mean square `s`, for the centered
/// variant its mean gradient `g_avg`, and with momentum its buffer `b`.
///
/// # Panics
/// If the lengths differ, or momentum is set and no buffer is passed.
pub fn rmsprop<T: Float>(
    h: &RmspropStep,
    p: &mut [T],
    g: &[T],
    s: &mut [T],
    g_avg: Option<&mut [T]>,
    momentum_buf: Option<&mut [T]>,
) {
    let b = if h.momentum > 0.0 {
        Some(momentum_buf.expect("RMSprop with momentum needs its buffer"))
    } else {
        None
    };
    let (lr, alpha, one_m_alpha, eps) = (
        t::<T>(h.lr),
        t::<T>(h.alpha),
        t::<T>(1.0 - h.alpha),
        t::<T>(h.eps),
    );
    let (wd, decay, mu) = (
        t::<T>(h.weight_decay),
        h.weight_decay != 0.0,
        t::<T>(h.momentum),
    );
    let c = RmspropConsts {
        lr,
        alpha,
        one_m_alpha,
        eps,
        wd,
        mu,
    };
    Lanes::new(p, g, [Some(s), g_avg, b]).run(&|l: Lanes<'_, T>| {
        let [Some(s), ga, b] = l.s else {
            unreachable!("RMSprop passes its mean square")
        };
        // One monomorphic loop per combination, so each vectorizes without branches inside.
        if decay {
            rmsprop_lanes::<T, true>(&c, l.p, l.g, s, ga, b)
        } else {
            rmsprop_lanes::<T, false>(&c, l.p, l.g, s, ga, b)
        }
    });
}

/// RMSprop's per-step constants in the element type.
struct RmspropConsts<T> {
    lr: T,
    alpha: T,
    one_m_alpha: T,
    eps: T,
    wd: T,
    mu: T,
}

#[inline(always)]
fn rmsprop_lanes<T: Float, const DECAY: bool>(
    c: &RmspropConsts<T>,
    p: &mut [T],
    g: &[T],
    s: &mut [T],
    ga: Option<&mut [T]>,
    b: Option<&mut [T]>,
) {
    let grad = |p: T, g: T| if DECAY { g + c.wd * p } else { g };
    let square = |s: &mut T, g: T| {
        *s = *s * c.alpha + c.one_m_alpha * g * g;
        *s
    };
    match (ga, b) {
        (None, None) => {
            for ((p, &g), s) in p.iter_mut().zip(g).zip(s) {
                let g = grad(*p, g);
                let avg = square(s, g).sqrt() + c.eps;
                *p -= c.lr * g / avg;
            }
        }
        (Some(ga), None) => {
            for (((p, &g), s), ga) in p.iter_mut().zip(g).zip(s).zip(ga) {
                let g = grad(*p, g);
                let sq = square(s, g);
                *ga += c.one_m_alpha * (g - *ga);
                let avg = (sq - *ga * *ga).sqrt() + c.eps;
                *p -= c.lr * g / avg;
            }
        }
        (None, Some(b)) => {
            for (((p, &g), s), b) in p.iter_mut().zip(g).zip(s).zip(b) {
                let g = grad(*p, g);
                let avg = square(s, g).sqrt() + c.eps;
                *b = *b * c.mu + g / avg;
                *p -= c.lr * *b;
            }
        }
        (Some(ga), Some(b)) => {
            for ((((p, &g), s), ga), b) in p.iter_mut().zip(g).zip(s).zip(ga).zip(b) {
                let g = grad(*p, g);
                let sq = square(s, g);
                *ga += c.one_m_alpha * (g - *ga);
                let avg = (sq - *ga * *ga).sqrt() + c.eps;
                *b = *b * c.mu + g / avg;
                *p -= c.lr * *b;
            }
        }
    }
}

/// Applies one Adagrad step to `p` given its gradient `g` and its sum of squares `s`.
///
/// # Panics
/// If the lengths differ.
pub fn adagrad<T: Float>(h: &AdagradStep, p: &mut [T], g: &[T], s: &mut [T]) {
    let (clr, eps, wd) = (t::<T>(h.clr), t::<T>(h.eps), t::<T>(h.weight_decay));
    let decay = h.weight_decay != 0.0;
    Lanes::new(p, g, [Some(s), None, None]).run(&|l: Lanes<'_, T>| {
        let [Some(s), _, _] = l.s else {
            unreachable!("Adagrad passes its sum of squares")
        };
        if decay {
            adagrad_loop::<T, true>(clr, eps, wd, l.p, l.g, s)
        } else {
            adagrad_loop::<T, false>(clr, eps, wd, l.p, l.g, s)
        }
    });
}

#[inline(always)]
fn adagrad_loop<T: Float, const DECAY: bool>(
    clr: T,
    eps: T,
    wd: T,
    p: &mut [T],
    g: &[T],
    s: &mut [T],
) {
    for ((p, &g), s) in p.iter_mut().zip(g).zip(s) {
        let g = if DECAY { g + wd * *p } else { g };
        *s += g * g;
        *p -= clr * g / (s.sqrt() + eps);
    }
}

/// `g ← g·scale` in place (gradient clipping by norm).
pub fn scale<T: Float>(g: &mut [T], scale: f64) {
    let s = t::<T>(scale);
    g.iter_mut().for_each(|x| *x *= s);
}

/// `g ← clamp(g, −limit, limit)` in place (gradient clipping by value); NaN stays NaN.
pub fn clamp<T: Float>(g: &mut [T], limit: f64) {
    let (lo, hi) = (t::<T>(-limit), t::<T>(limit));
    for x in g.iter_mut() {
        if *x > hi {
            *x = hi;
        } else if *x < lo {
            *x = lo;
        }
    }
}

/// The sum of squares of `g`, accumulated in `f64` in fixed blocks (the same result whatever the
/// thread count).
pub fn sum_squares<T: Float>(g: &[T]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let mut blocks = g.chunks_exact(LANES);
    for b in &mut blocks {
        for (a, &x) in acc.iter_mut().zip(b) {
            let x = x.to_f64();
            *a += x * x;
        }
    }
    let tail: f64 = blocks.remainder().iter().map(|&x| x.to_f64().powi(2)).sum();
    acc.iter().sum::<f64>() + tail
}

/// The position and kind (`"NaN"` or `"inf"`) of the first non-finite element of `x`, if any.
/// Scans in blocks without branching on each element, so finite data (the usual case) is checked
/// at memory speed.
pub fn first_non_finite<T: Float>(x: &[T]) -> Option<(usize, &'static str)> {
    if x.len() >= optim_par_threshold() && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        // The first chunk with a non-finite element, found in parallel, then searched serially.
        return x
            .par_chunks(CHUNK)
            .enumerate()
            .find_map_first(|(c, chunk)| {
                first_non_finite_serial(chunk).map(|(i, kind)| (c * CHUNK + i, kind))
            });
    }
    first_non_finite_serial(x)
}

fn first_non_finite_serial<T: Float>(x: &[T]) -> Option<(usize, &'static str)> {
    match crate::isa() {
        crate::Isa::Avx2Fma => crate::simd::first_non_finite_avx2(x),
        crate::Isa::Fallback => first_non_finite_body(x),
    }
}

/// The scan of [`first_non_finite`] on one thread, for every instruction set.
#[inline(always)]
pub(crate) fn first_non_finite_body<T: Float>(x: &[T]) -> Option<(usize, &'static str)> {
    const BLOCK: usize = 256;
    for (b, block) in x.chunks(BLOCK).enumerate() {
        // On the bits (a multiplication by zero would take an assist on subnormal values).
        if T::all_finite(block) {
            continue;
        }
        let (i, v) = block.iter().enumerate().find(|(_, v)| !v.is_finite())?;
        return Some((b * BLOCK + i, if v.is_nan() { "NaN" } else { "inf" }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Any `f32` bit pattern half the time (every binade, subnormal values, infinities, NaN),
    /// otherwise a value of the magnitudes training sees, a third of them faded.
    fn value(r: &mut rand::rngs::StdRng) -> f32 {
        match r.random_range(0..6) {
            0..=2 => f32::from_bits(r.random()),
            3 => f32::from_bits(r.random_range(0..0x0080_0000) | (r.random::<u32>() & 1 << 31)),
            _ => r.random_range(-1.0..1.0f32) * 2f32.powi(r.random_range(-70..0)),
        }
    }

    fn same(a: f32, b: f32) -> bool {
        (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
    }

    /// The plain loop as written, without the flush selects.
    fn plain<T: Float, const DECAY: bool, const DECOUPLED: bool>(
        c: &AdamConsts<T>,
        p: &mut [T],
        g: &[T],
        m: &mut [T],
        v: &mut [T],
    ) {
        adam_lanes::<T, DECAY, DECOUPLED, false>(c, p, g, m, v)
    }

    /// The faded block's `f64` arithmetic, and the update the dispatch picks for this CPU (the
    /// AVX2 intrinsics of `adam_f32_target`, which check each vector for faded lanes, where it has
    /// AVX2), give the plain `f32` loop's bits, on every kind of input, for the four variants and
    /// for random hyperparameters as well as the usual ones; a length that is not a multiple of
    /// the vector width covers the tail.
    #[test]
    fn the_faded_lanes_and_the_dispatched_update_give_the_plain_lanes_bits() {
        let mut r = rand::rngs::StdRng::seed_from_u64(11);
        let n = (1 << 15) + 5;
        for round in 0..16 {
            let h = if round < 4 {
                AdamStep {
                    step_size: 1e-3,
                    bias2_sqrt: 0.3 + 0.2 * round as f64,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: 1e-2,
                    decoupled_decay: 1e-5,
                }
            } else {
                AdamStep {
                    step_size: r.random_range(1e-6..1.0),
                    bias2_sqrt: r.random_range(1e-3..1.0),
                    beta1: r.random_range(0.0..1.0),
                    beta2: r.random_range(0.0..1.0),
                    eps: 10f64.powi(r.random_range(-40..0)),
                    weight_decay: r.random_range(0.0..1.0),
                    decoupled_decay: r.random_range(0.0..0.1),
                }
            };
            let c = AdamConsts::<f32>::new(&h);
            assert_eq!(c.tiny, 0.0, "flushing is off in unit tests");
            let p: Vec<f32> = (0..n).map(|_| value(&mut r)).collect();
            let g: Vec<f32> = (0..n).map(|_| value(&mut r)).collect();
            let m: Vec<f32> = (0..n).map(|_| value(&mut r)).collect();
            let v: Vec<f32> = (0..n).map(|_| value(&mut r).abs()).collect();
            let run = |path: u8, decay: bool, decoupled: bool| {
                let (mut p, mut m, mut v) = (p.clone(), m.clone(), v.clone());
                macro_rules! go {
                    ($f:ident) => {
                        match (decay, decoupled) {
                            (false, false) => {
                                $f::<f32, false, false>(&c, &mut p, &g, &mut m, &mut v)
                            }
                            (true, false) => $f::<f32, true, false>(&c, &mut p, &g, &mut m, &mut v),
                            (false, true) => $f::<f32, false, true>(&c, &mut p, &g, &mut m, &mut v),
                            (true, true) => $f::<f32, true, true>(&c, &mut p, &g, &mut m, &mut v),
                        }
                    };
                }
                match path {
                    0 => go!(plain),
                    1 => go!(adam_lanes_faded),
                    _ => go!(adam_isa),
                }
                (p, m, v)
            };
            for (decay, decoupled, path) in
                [(false, false), (true, false), (false, true), (true, true)]
                    .into_iter()
                    .flat_map(|(d, dc)| [(d, dc, 1), (d, dc, 2)])
            {
                let (want, got) = (run(0, decay, decoupled), run(path, decay, decoupled));
                for (what, w, gt) in [
                    ("p", &want.0, &got.0),
                    ("m", &want.1, &got.1),
                    ("v", &want.2, &got.2),
                ] {
                    for i in 0..n {
                        assert!(
                            same(w[i], gt[i]),
                            "round {round}, decay {decay}, decoupled {decoupled}, path {path}: \
                             {what}[{i}] \
                             {:e} against {:e} (p {:e}, g {:e}, m {:e}, v {:e})",
                            gt[i],
                            w[i],
                            p[i],
                            g[i],
                            m[i],
                            v[i]
                        );
                    }
                }
            }
        }
    }
}
