//! The in-place kernels (`unary_assign`, `binary_assign`) give bit for bit what the out-of-place
//! ones (`unary`, `binary`) give, for every op, around the stack block (1024) and the parallel
//! chunk sizes, with the right operand of `binary_assign` repeated along the accumulator (periods
//! that do and do not divide the chunk), in `f32` and `f64`, on the instruction set in use
//! (`DESCENT_FORCE_ISA=fallback` runs the portable one).

mod common;

use common::{Domain, bits, fill, rng, unary_case};
use descent_kernels::Float;
use descent_kernels::elementwise::{self, BinaryOp, UnaryOp};

const LENS: [usize; 9] = [0, 1, 7, 9, 1023, 1024, 1025, 3000, 70_000];

fn unary_matches<T: Float>() {
    let mut r = rng(11);
    for op in UnaryOp::samples() {
        let case = unary_case(op);
        for n in LENS {
            let x: Vec<T> = fill(&mut r, n, case.domain);
            let mut want = vec![T::ZERO; n];
            elementwise::unary(op, &x, &mut want);
            let mut acc = x.clone();
            elementwise::unary_assign(op, &mut acc);
            assert_eq!(bits(&acc), bits(&want), "{op:?} n = {n}");
        }
    }
}

fn binary_matches<T: Float>() {
    let mut r = rng(12);
    let ops = [
        (BinaryOp::Add, Domain::Any),
        (BinaryOp::Sub, Domain::Any),
        (BinaryOp::Mul, Domain::Any),
        (BinaryOp::Div, Domain::NonZero),
        (BinaryOp::Pow, Domain::Positive),
        (BinaryOp::Maximum, Domain::Any),
        (BinaryOp::Minimum, Domain::Any),
    ];
    for (op, domain) in ops {
        for n in LENS {
            for period in [n, 1, 3, 1000, 17_500] {
                if period == 0 || n % period != 0 {
                    continue;
                }
                let a: Vec<T> = fill(&mut r, n, Domain::Positive);
                let b: Vec<T> = fill(&mut r, period, domain);
                let full: Vec<T> = (0..n).map(|i| b[i % period]).collect();
                let mut want = vec![T::ZERO; n];
                elementwise::binary(op, &a, &full, &mut want);
                let mut acc = a.clone();
                elementwise::binary_assign(op, &mut acc, &b);
                assert_eq!(bits(&acc), bits(&want), "{op:?} n = {n}, period {period}");
            }
        }
    }
}

#[test]
fn unary_assign_matches_unary() {
    unary_matches::<f32>();
    unary_matches::<f64>();
}

#[test]
fn binary_assign_matches_binary_with_a_repeated_operand() {
    binary_matches::<f32>();
    binary_matches::<f64>();
}
