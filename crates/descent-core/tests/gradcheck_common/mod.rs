//! Helpers of the gradient checks in `gradcheck_ops.rs`: the proptest configuration, small
//! shapes, value generators that keep inputs away from kinks and domain edges, and operands that
//! reach the op under test through a non-contiguous view (permuted, strided, offset or expanded).
//!
//! `gradcheck` converts its inputs to contiguous `f64`, so a non-contiguous operand is made
//! inside the closure: the input tensor holds the *stored* elements and [`Operand::view`] applies
//! the layout steps that turn it into the *logical* operand the op sees.
#![allow(dead_code)]

use crate::common::{inverse_perm, numel};
use descent_core::{GradcheckConfig, GradcheckFailure, GradcheckReport, Tensor, Var, gradcheck};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Cases per property: `PROPTEST_CASES`, 64 when unset.
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

/// The proptest configuration of every gradient check (no regression files are written).
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// `gradcheck` with the default (PyTorch) step and tolerances.
pub fn check(
    f: impl Fn(&descent_core::Tape, &[Var]) -> Var,
    inputs: &[Tensor],
) -> Result<GradcheckReport, GradcheckFailure> {
    gradcheck(f, inputs, &GradcheckConfig::default())
}

/// Gradient check of `f` applied to one operand (seen through its view).
pub fn check1(x: &Operand, f: impl Fn(&Var) -> Var) -> Result<GradcheckReport, GradcheckFailure> {
    check(|_, v| f(&x.view(&v[0])), &[x.tensor()])
}

/// Gradient check of `f` applied to two operands (each seen through its view).
pub fn check2(
    a: &Operand,
    b: &Operand,
    f: impl Fn(&Var, &Var) -> Var,
) -> Result<GradcheckReport, GradcheckFailure> {
    check(
        |_, v| f(&a.view(&v[0]), &b.view(&v[1])),
        &[a.tensor(), b.tensor()],
    )
}

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

/// A dim in `1..=4`, size 1 frequent.
pub fn gdim() -> impl Strategy<Value = usize> + Clone {
    prop_oneof![2 => Just(1usize), 3 => 2usize..=4]
}

/// Lowers the largest dims until the shape has at most `max` elements.
pub fn cap(mut s: Vec<usize>, max: usize) -> Vec<usize> {
    while numel(&s) > max.max(1) {
        let i = (0..s.len()).max_by_key(|&i| s[i]).expect("non-empty");
        s[i] -= 1;
    }
    s
}

/// A shape of rank `min..=max`, no zero dims, at most `max_numel` elements.
pub fn small_shape(
    min_rank: usize,
    max_rank: usize,
    max_numel: usize,
) -> BoxedStrategy<Vec<usize>> {
    prop::collection::vec(gdim(), min_rank..=max_rank)
        .prop_map(move |s| cap(s, max_numel))
        .boxed()
}

/// A shape that broadcasts with `full` into `full`: some dims set to 1, some leading dims dropped.
pub fn sub_shape(full: Vec<usize>) -> BoxedStrategy<Vec<usize>> {
    crate::common::sub_shape(full).boxed()
}

/// `n` shapes that broadcast together (NumPy rules; size-1 dims and differing ranks).
pub fn broadcast_shapes(n: usize, max_numel: usize) -> BoxedStrategy<Vec<Vec<usize>>> {
    small_shape(0, 4, max_numel)
        .prop_flat_map(move |full| {
            let v: Vec<_> = (0..n).map(|_| sub_shape(full.clone())).collect();
            v
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// How the stored elements of an operand are drawn.
#[derive(Clone, Debug)]
pub enum Vals {
    /// Uniform in `[lo, hi]`.
    Uniform(f64, f64),
    /// Uniform in `[lo, hi]`, then pushed to at least `d` from each of the points (which must be
    /// at least `6 d` apart): away from kinks such as `relu` at 0 or clamp bounds.
    Away(f64, f64, Vec<f64>, f64),
    /// All distinct, at least 0.1 apart: a shuffled arithmetic sequence (no ties for max / min).
    Distinct,
    /// `0.2 k + offset + jitter` with `|k| <= 8`, `|jitter| <= 0.02`: operands drawn with offsets
    /// 0 and 0.1 are at least 0.06 apart elementwise, whatever broadcasting pairs them.
    Grid(f64),
    /// Magnitude in `[lo, hi]` with a random sign (a divisor away from 0).
    Signed(f64, f64),
}

/// `x` moved to at least `d` from `c` (by `2 d` away from it when closer).
pub fn repel(x: f64, c: f64, d: f64) -> f64 {
    if (x - c).abs() < d {
        if x >= c { x + 2.0 * d } else { x - 2.0 * d }
    } else {
        x
    }
}

impl Vals {
    pub fn strategy(&self, n: usize) -> BoxedStrategy<Vec<f64>> {
        match self.clone() {
            Vals::Uniform(lo, hi) => prop::collection::vec(lo..=hi, n).boxed(),
            Vals::Away(lo, hi, points, d) => prop::collection::vec(lo..=hi, n)
                .prop_map(move |v| {
                    v.into_iter()
                        .map(|x| points.iter().fold(x, |x, &c| repel(x, c, d)))
                        .collect()
                })
                .boxed(),
            Vals::Distinct => (
                Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
                -1.0..1.0f64,
            )
                .prop_map(move |(p, shift)| {
                    p.into_iter()
                        .map(|k| (k as f64 - n as f64 / 2.0) * 0.1 + shift)
                        .collect()
                })
                .boxed(),
            Vals::Grid(offset) => prop::collection::vec((-8i32..=8, -0.02..=0.02f64), n)
                .prop_map(move |v| {
                    v.into_iter()
                        .map(|(k, j)| 0.2 * f64::from(k) + offset + j)
                        .collect()
                })
                .boxed(),
            Vals::Signed(lo, hi) => prop::collection::vec((lo..=hi, any::<bool>()), n)
                .prop_map(|v| v.into_iter().map(|(m, s)| if s { m } else { -m }).collect())
                .boxed(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Non-contiguous operands
// ---------------------------------------------------------------------------------------------

/// One layout step applied inside the closure, from the stored tensor towards the logical one.
#[derive(Clone, Debug, PartialEq)]
pub enum Lay {
    /// `permute(p)`: a transposed view.
    Permute(Vec<usize>),
    /// `slice_axis(a, 1, 2n, 2)` of a stored dim `2n`: stride 2, offset 1.
    Step(usize),
    /// `narrow(a, 1, n)` of a stored dim `n + 2`: an offset view.
    Narrow(usize),
    /// `broadcast_to` from a stored size 1 to the logical size `n` along `a`: stride 0.
    Expand(usize, usize),
}

/// The stored shape that the layout steps `lays` (outermost first) turn into `logical`; also
/// fills in the sizes of the `Expand` steps.
pub fn resolve(logical: &[usize], lays: &mut [Lay]) -> Vec<usize> {
    let mut cur = logical.to_vec();
    for l in lays.iter_mut() {
        match l {
            Lay::Permute(p) => {
                // y = x.permute(p): y[i] = x[p[i]].
                let mut x = vec![0; cur.len()];
                for (i, &pi) in p.iter().enumerate() {
                    x[pi] = cur[i];
                }
                cur = x;
            }
            Lay::Step(a) => cur[*a] *= 2,
            Lay::Narrow(a) => cur[*a] += 2,
            Lay::Expand(a, n) => {
                *n = cur[*a];
                cur[*a] = 1;
            }
        }
    }
    cur
}

/// Random layout steps (0 to 2) for a logical rank-`r` operand.
pub fn lays(r: usize, allow_expand: bool) -> BoxedStrategy<Vec<Lay>> {
    if r == 0 {
        return Just(vec![]).boxed();
    }
    let axes: Vec<usize> = (0..r).collect();
    let mut options: Vec<(u32, BoxedStrategy<Lay>)> = vec![
        (2, Just(axes).prop_shuffle().prop_map(Lay::Permute).boxed()),
        (2, (0..r).prop_map(Lay::Step).boxed()),
        (1, (0..r).prop_map(Lay::Narrow).boxed()),
    ];
    if allow_expand {
        options.push((1, (0..r).prop_map(|a| Lay::Expand(a, 0)).boxed()));
    }
    let one = proptest::strategy::Union::new_weighted(options);
    prop_oneof![
        1 => Just(vec![]),
        3 => prop::collection::vec(one, 1..=2),
    ]
    .boxed()
}

/// An operand: the stored elements and the layout steps that give the logical operand.
#[derive(Clone, Debug)]
pub struct Operand {
    pub lays: Vec<Lay>,
    pub stored: Vec<usize>,
    pub data: Vec<f64>,
}

impl Operand {
    /// A contiguous operand of `shape` holding `data`.
    pub fn plain(shape: &[usize], data: Vec<f64>) -> Operand {
        Operand {
            lays: vec![],
            stored: shape.to_vec(),
            data,
        }
    }

    /// The stored tensor (what `gradcheck` perturbs).
    pub fn tensor(&self) -> Tensor {
        Tensor::from_vec(self.data.clone(), &self.stored[..])
    }

    /// The logical operand: the layout steps applied to the stored variable, innermost first.
    pub fn view(&self, v: &Var) -> Var {
        let mut v = v.clone();
        for l in self.lays.iter().rev() {
            v = match l {
                Lay::Permute(p) => v.permute(&to_isize(p)),
                Lay::Step(a) => {
                    let n = v.shape()[*a];
                    v.slice_axis(*a as isize, 1, n, 2)
                }
                Lay::Narrow(a) => {
                    let n = v.shape()[*a];
                    v.narrow(*a as isize, 1, n - 2)
                }
                Lay::Expand(a, n) => {
                    let mut s = v.shape().to_vec();
                    s[*a] = *n;
                    v.broadcast_to(&s)
                }
            };
        }
        v
    }
}

/// An operand of logical `shape` with values drawn by `vals`, often non-contiguous.
pub fn operand(shape: Vec<usize>, allow_expand: bool, vals: Vals) -> BoxedStrategy<Operand> {
    lays(shape.len(), allow_expand)
        .prop_flat_map(move |mut lays| {
            let stored = resolve(&shape, &mut lays);
            let n = numel(&stored);
            (Just(lays), Just(stored), vals.strategy(n))
        })
        .prop_map(|(lays, stored, data)| Operand { lays, stored, data })
        .boxed()
}

/// A contiguous operand of logical `shape` with values drawn by `vals`.
pub fn plain_operand(shape: Vec<usize>, vals: Vals) -> BoxedStrategy<Operand> {
    let n = numel(&shape);
    vals.strategy(n)
        .prop_map(move |data| Operand::plain(&shape, data))
        .boxed()
}

/// An operand of random small shape (rank 0 to 3, at most 24 logical elements).
pub fn unary_operand(vals: Vals) -> BoxedStrategy<Operand> {
    small_shape(0, 3, 24)
        .prop_flat_map(move |s| operand(s, true, vals.clone()))
        .boxed()
}

pub fn to_isize(v: &[usize]) -> Vec<isize> {
    v.iter().map(|&a| a as isize).collect()
}

/// The inverse of permutation `p`.
pub fn inverse(p: &[usize]) -> Vec<usize> {
    inverse_perm(p)
}

/// `a` as passed to an op: normalized, or as its negative alias `a - r`.
pub fn signed_axis(a: usize, r: usize, negative: bool) -> isize {
    if negative {
        a as isize - r as isize
    } else {
        a as isize
    }
}

/// Fixed, position-dependent weights (all distinct-ish, in `[0.5, 1.6]`) for a weighted sum.
pub fn weights(shape: &[usize], salt: usize) -> Tensor {
    let n = numel(shape);
    let data: Vec<f64> = (0..n)
        .map(|k| 0.5 + ((k * 7 + salt * 3) % 12) as f64 * 0.1)
        .collect();
    Tensor::from_vec(data, shape)
}
