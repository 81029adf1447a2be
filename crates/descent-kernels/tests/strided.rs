//! N-dimensional strided walks (`strided::{unary, binary, select, copy}`; every op of the unary
//! table, every binary op and comparison) against a naive odometer over every multi-index, on
//! random shapes (rank 0 to 4, empty dimensions included) and random layouts: permuted
//! (transposed) dimensions, gaps (every-other element), broadcast dimensions (stride 0) and
//! offsets, on every instruction-set path, in `f32` and `f64`.

mod common;

use common::{isas, name, rng};
use descent_kernels::elementwise::{
    BinaryOp, CompareOp, UnaryOp, ZipOp, binary_reference, compare_reference, unary_reference,
};
use descent_kernels::strided::{self, Strided};
use descent_kernels::{Float, Isa};
use proptest::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// An operand laid out in its own buffer.
struct Layout {
    strides: Vec<usize>,
    offset: usize,
    len: usize,
}

/// A random layout of `shape`: dimensions stored in a random order, each possibly broadcast
/// (stride 0) or followed by a gap, the whole possibly at a step of 2 and an offset.
fn layout(rng: &mut StdRng, shape: &[usize], broadcast: bool) -> Layout {
    let rank = shape.len();
    let mut order: Vec<usize> = (0..rank).collect();
    order.shuffle(rng);
    let mut strides = vec![0; rank];
    let mut acc = rng.random_range(1..=2);
    for &d in order.iter().rev() {
        if broadcast && rng.random_range(0..4) == 0 {
            continue; // stride 0
        }
        strides[d] = acc;
        acc *= shape[d] + rng.random_range(0..=1);
    }
    let offset = rng.random_range(0..=3);
    let last = if shape.contains(&0) {
        0
    } else {
        shape
            .iter()
            .zip(&strides)
            .map(|(&n, &s)| (n - 1) * s)
            .sum::<usize>()
            + 1
    };
    Layout {
        strides,
        offset,
        len: offset + last + rng.random_range(0..=1),
    }
}

fn random_shape(rng: &mut StdRng) -> Vec<usize> {
    let rank = rng.random_range(0..=4);
    (0..rank)
        .map(|_| {
            if rng.random_range(0..20) == 0 {
                0
            } else {
                rng.random_range(1..=7)
            }
        })
        .collect()
}

/// Buffer offsets of every element of `shape`, in row-major order of the multi-index.
fn offsets(shape: &[usize], l: &Layout) -> Vec<usize> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    for flat in 0..n {
        let mut rem = flat;
        let mut off = l.offset;
        for d in (0..shape.len()).rev() {
            off += (rem % shape[d]) * l.strides[d];
            rem /= shape[d];
        }
        out.push(off);
    }
    out
}

fn view<'a, T>(data: &'a [T], l: &'a Layout) -> Strided<'a, T> {
    Strided::new(data, &l.strides, l.offset)
}

/// `op` over a random strided layout, on the domain and at the tolerance of its line in
/// `common::unary_case`.
fn unary_case<T: Float>(rng: &mut StdRng, isa: Isa, op: UnaryOp) {
    let case = common::unary_case(op);
    let shape = random_shape(rng);
    let l = layout(rng, &shape, true);
    let data: Vec<T> = common::fill(rng, l.len, case.domain);
    let n: usize = shape.iter().product();
    let mut out = vec![T::from_f64(-7777.25); n];
    strided::unary(isa, op, &shape, view(&data, &l), &mut out);
    for (i, o) in offsets(&shape, &l).into_iter().enumerate() {
        let want = unary_reference(op, data[o].to_f64());
        assert!(
            common::within(out[i], want, case.tol),
            "{isa:?} {} {op:?} shape {shape:?} strides {:?} offset {} at {i}: got {}, want {want}",
            name::<T>(),
            l.strides,
            l.offset,
            out[i]
        );
    }
}

/// `op` (a binary op or a comparison) over random strided layouts of `a` and `b`, drawn
/// uniformly from `ra` and `rb`, against `reference`: within `tol` relative and absolute, or
/// exactly in `T` if `tol` is 0.
fn zip_case<T: Float, O: ZipOp>(
    rng: &mut StdRng,
    isa: Isa,
    op: O,
    reference: fn(O, f64, f64) -> f64,
    (ra, rb): ((f64, f64), (f64, f64)),
    tol: f64,
) {
    let shape = random_shape(rng);
    let la = layout(rng, &shape, true);
    let lb = layout(rng, &shape, true);
    let a: Vec<T> = common::uniform(rng, la.len, ra.0, ra.1);
    let b: Vec<T> = common::uniform(rng, lb.len, rb.0, rb.1);
    let n: usize = shape.iter().product();
    let mut out = vec![T::from_f64(-7777.25); n];
    strided::binary(isa, op, &shape, view(&a, &la), view(&b, &lb), &mut out);
    let want: Vec<f64> = offsets(&shape, &la)
        .into_iter()
        .zip(offsets(&shape, &lb))
        .map(|(oa, ob)| {
            let r = reference(op, a[oa].to_f64(), b[ob].to_f64());
            if tol == 0.0 {
                T::from_f64(r).to_f64() // exact ops
            } else {
                r
            }
        })
        .collect();
    let what = format!(
        "{isa:?} {} {op:?} shape {shape:?} a {:?}+{} b {:?}+{}",
        name::<T>(),
        la.strides,
        la.offset,
        lb.strides,
        lb.offset
    );
    common::assert_all_close(&out, &want, tol, tol, &what);
}

fn binary_case<T: Float>(rng: &mut StdRng, isa: Isa, op: BinaryOp) {
    let (ranges, tol) = if op == BinaryOp::Pow {
        let approx = if T::BYTES == 4 { 1e-5 } else { 1e-13 };
        (((0.1, 4.0), (-2.0, 2.0)), approx)
    } else {
        (((-4.0, 4.0), (0.25, 4.0)), 0.0) // exact ops
    };
    zip_case::<T, _>(rng, isa, op, binary_reference, ranges, tol);
}

fn strided_matches_reference<T: Float>(isa: Isa, seed: u64) {
    let mut rng = rng(seed);
    let samples = UnaryOp::samples();
    for i in 0..150 {
        // Four ops of the table per round, every op over the rounds.
        for k in 0..4 {
            unary_case::<T>(&mut rng, isa, samples[(4 * i + k) % samples.len()]);
        }
        for op in [
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Pow,
            BinaryOp::Maximum,
            BinaryOp::Minimum,
        ] {
            binary_case::<T>(&mut rng, isa, op);
        }
        let op = CompareOp::ALL[i % CompareOp::ALL.len()];
        zip_case::<T, _>(
            &mut rng,
            isa,
            op,
            compare_reference,
            ((-2.0, 2.0), (-2.0, 2.0)),
            0.0,
        );
    }
}

#[test]
fn strided_fallback_matches_reference() {
    strided_matches_reference::<f32>(Isa::Fallback, 11);
    strided_matches_reference::<f64>(Isa::Fallback, 12);
}

#[test]
fn strided_avx2_matches_reference() {
    if !Isa::Avx2Fma.is_supported() {
        eprintln!("note: this CPU has no AVX2+FMA; the avx2 path was not exercised");
        return;
    }
    strided_matches_reference::<f32>(Isa::Avx2Fma, 13);
    strided_matches_reference::<f64>(Isa::Avx2Fma, 14);
}

/// Row-plus-column broadcasting, the commonest case: `a[m, 1] + b[1, n]`.
#[test]
fn outer_broadcast_matches_reference() {
    for isa in isas() {
        for &(m, n) in &[(1, 1), (1, 17), (17, 1), (3, 8), (9, 33), (31, 257)] {
            let a: Vec<f32> = (0..m).map(|i| i as f32).collect();
            let b: Vec<f32> = (0..n).map(|j| 1000.0 * j as f32).collect();
            let mut out = vec![f32::NAN; m * n];
            strided::binary(
                isa,
                BinaryOp::Add,
                &[m, n],
                Strided::new(&a, &[1, 0], 0),
                Strided::new(&b, &[0, 1], 0),
                &mut out,
            );
            for i in 0..m {
                for j in 0..n {
                    assert_eq!(out[i * n + j], a[i] + b[j], "{isa:?} {m}x{n} at ({i}, {j})");
                }
            }
        }
    }
}

/// A scalar broadcast to a whole shape, and a rank-0 operation.
#[test]
fn scalar_broadcast_and_rank_zero() {
    for isa in isas() {
        let x = [2.5f64];
        let mut out = vec![0.0; 24];
        strided::unary(
            isa,
            UnaryOp::Square,
            &[2, 3, 4],
            Strided::new(&x, &[0, 0, 0], 0),
            &mut out,
        );
        assert!(out.iter().all(|&v| v == 6.25), "{isa:?}");
        let mut out = [0.0f64];
        strided::binary(
            isa,
            BinaryOp::Mul,
            &[],
            Strided::new(&[0.0, 3.0], &[], 1),
            Strided::new(&[4.0], &[], 0),
            &mut out,
        );
        assert_eq!(out, [12.0], "{isa:?}");
    }
}

/// Empty shapes write nothing and read nothing (empty buffers are fine).
#[test]
fn empty_shapes_read_nothing() {
    for isa in isas() {
        let mut out: Vec<f32> = vec![];
        strided::unary(
            isa,
            UnaryOp::Exp,
            &[3, 0, 2],
            Strided::new(&[], &[0, 2, 1], 0),
            &mut out,
        );
        strided::binary(
            isa,
            BinaryOp::Add,
            &[0],
            Strided::new(&[], &[1], 0),
            Strided::new(&[], &[0], 0),
            &mut out,
        );
        strided::copy(&[0, 5], Strided::<f32>::new(&[], &[5, 1], 0), &mut out);
        assert!(out.is_empty());
    }
}

fn select_case<T: Float>(rng: &mut StdRng) {
    let shape = random_shape(rng);
    let (lc, la, lb) = (
        layout(rng, &shape, true),
        layout(rng, &shape, true),
        layout(rng, &shape, true),
    );
    let cond: Vec<T> = (0..lc.len)
        .map(|_| T::from_f64(rng.random_range(0..=2) as f64 - 1.0)) // -1, 0 or 1
        .collect();
    let a: Vec<T> = common::uniform(rng, la.len, -4.0, 4.0);
    let b: Vec<T> = common::uniform(rng, lb.len, -4.0, 4.0);
    let n: usize = shape.iter().product();
    let mut out = vec![T::from_f64(-7777.25); n];
    strided::select(
        &shape,
        view(&cond, &lc),
        view(&a, &la),
        view(&b, &lb),
        &mut out,
    );
    let (oc, oa, ob) = (
        offsets(&shape, &lc),
        offsets(&shape, &la),
        offsets(&shape, &lb),
    );
    for i in 0..n {
        let want = if cond[oc[i]] != T::ZERO {
            a[oa[i]]
        } else {
            b[ob[i]]
        };
        assert_eq!(
            out[i],
            want,
            "{} select shape {shape:?} at {i}",
            name::<T>()
        );
    }
}

#[test]
fn select_matches_reference() {
    let mut rng = rng(21);
    for _ in 0..300 {
        select_case::<f32>(&mut rng);
        select_case::<f64>(&mut rng);
    }
}

fn copy_case<T: Float>(rng: &mut StdRng) {
    let shape = random_shape(rng);
    let broadcast = rng.random();
    let l = layout(rng, &shape, broadcast);
    let data: Vec<T> = common::uniform(rng, l.len, -4.0, 4.0);
    let n: usize = shape.iter().product();
    let mut out = vec![T::from_f64(-7777.25); n];
    strided::copy(&shape, view(&data, &l), &mut out);
    let want: Vec<T> = offsets(&shape, &l).into_iter().map(|o| data[o]).collect();
    assert_eq!(
        common::bits(&out),
        common::bits(&want),
        "copy shape {shape:?} {:?}",
        l.strides
    );
}

#[test]
fn copy_gathers_exactly() {
    let mut rng = rng(22);
    for _ in 0..300 {
        copy_case::<f32>(&mut rng);
        copy_case::<f64>(&mut rng);
    }
}

proptest! {
    /// Random seeds for the layout generator: shapes and layouts beyond the fixed-seed loops.
    #[test]
    fn strided_binary_every_isa_matches_reference(seed in any::<u64>()) {
        let mut rng = rng(seed);
        for isa in isas() {
            binary_case::<f32>(&mut rng, isa, BinaryOp::Sub);
            binary_case::<f64>(&mut rng, isa, BinaryOp::Mul);
            unary_case::<f32>(&mut rng, isa, UnaryOp::Neg);
        }
    }
}
