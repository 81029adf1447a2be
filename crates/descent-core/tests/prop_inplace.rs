//! The in-place (`add_`, `+=`, `relu_`) and `out=` (`add_into`, `relu_into`) forms give exactly
//! the bits of the out-of-place ops, on random shapes with broadcasting of the right operand,
//! size-0 and size-1 dims, and non-contiguous, offset and expanded views on every side; they
//! write into the existing buffer when the tensor owns it alone and leave clones and views
//! untouched otherwise (copy on write); shape mismatches are errors naming the op and the shapes.

mod common;

use common::*;
use descent_core::{DType, Tensor};
use proptest::prelude::*;

/// The left operand's shape (the result's), the left operand and a right operand that
/// broadcasts to it, both in random layouts.
fn lhs_rhs(blo: f64, bhi: f64) -> impl Strategy<Value = (Input, Input)> {
    shape(0, 4).prop_flat_map(move |full| {
        (
            input_of(full.clone(), -2.0, 2.0),
            sub_shape(full).prop_flat_map(move |s| input_of(s, blo, bhi)),
        )
    })
}

fn bits(t: &Tensor) -> Vec<u64> {
    t.to_vec_f64().into_iter().map(f64::to_bits).collect()
}

/// A contiguous tensor of `t`'s elements that owns its buffer alone.
fn sole_copy(t: &Tensor, dt: DType) -> Tensor {
    Tensor::from_vec(t.to_vec_f64(), t.shape()).to_dtype(dt)
}

/// The address of the first element, for f32 tensors (to see whether a buffer was kept).
fn address(t: &Tensor) -> Option<*const f32> {
    t.as_slice::<f32>().map(<[f32]>::as_ptr)
}

/// Whether `b`, leading 1s dropped, is a suffix of `shape` (the broadcasts written in place).
fn repeats_along(b: &[usize], shape: &[usize]) -> bool {
    let lead = b.iter().take_while(|&&d| d == 1).count();
    let dims = &b[lead..];
    dims.len() <= shape.len() && dims == &shape[shape.len() - dims.len()..]
}

type InPlace = fn(&mut Tensor, &Tensor);
type Into = fn(&Tensor, &Tensor, &mut Tensor);
type OutOfPlace = fn(&Tensor, &Tensor) -> Tensor;

/// Every binary op: its in-place form, operator form, `out=` form and out-of-place op.
const OPS: [(&str, InPlace, InPlace, Into, OutOfPlace); 4] = [
    (
        "add",
        Tensor::add_,
        |a, b| *a += b,
        Tensor::add_into,
        Tensor::add,
    ),
    (
        "sub",
        Tensor::sub_,
        |a, b| *a -= b,
        Tensor::sub_into,
        Tensor::sub,
    ),
    (
        "mul",
        Tensor::mul_,
        |a, b| *a *= b,
        Tensor::mul_into,
        Tensor::mul,
    ),
    (
        "div",
        Tensor::div_,
        |a, b| *a /= b,
        Tensor::div_into,
        Tensor::div,
    ),
];

fn check_binary(ia: &Input, ib: &Input, ops: &[(&str, InPlace, InPlace, Into, OutOfPlace)]) {
    for dt in DTYPES {
        let (a, b) = (ia.tensor(dt), ib.tensor(dt));
        let (a_before, b_before) = (bits(&a), bits(&b));
        for &(name, inplace, operator, into, outofplace) in ops {
            let want = outofplace(&a, &b);
            assert_eq!(
                want.shape(),
                a.shape(),
                "{name}: the strategy keeps the lhs shape"
            );
            // In place on a buffer owned alone: written there, same bits.
            let mut x = sole_copy(&a, dt);
            let before = address(&x);
            inplace(&mut x, &b);
            assert_eq!(bits(&x), bits(&want), "{name}_ on a sole buffer, {dt:?}");
            assert_eq!(x.shape(), a.shape());
            if b.is_contiguous() && repeats_along(b.shape(), a.shape()) {
                assert_eq!(address(&x), before, "{name}_ wrote in place");
            }
            // The operator is the same op.
            let mut y = sole_copy(&a, dt);
            operator(&mut y, &b);
            assert_eq!(bits(&y), bits(&want), "{name} assign operator, {dt:?}");
            // In place on a (possibly strided) view sharing its buffer: copy on write.
            let mut v = a.clone();
            inplace(&mut v, &b);
            assert_eq!(bits(&v), bits(&want), "{name}_ on a shared view, {dt:?}");
            // `out=` into a fresh buffer, a shared one and a transposed view.
            let mut out = Tensor::zeros(a.shape()).to_dtype(dt);
            let before = address(&out);
            into(&a, &b, &mut out);
            assert_eq!(bits(&out), bits(&want), "{name}_into, {dt:?}");
            assert_eq!(address(&out), before, "{name}_into wrote into out's buffer");
            let mut shared = out.clone();
            into(&b, &a, &mut shared);
            assert_eq!(
                bits(&shared),
                bits(&outofplace(&b, &a)),
                "{name}_into shared"
            );
            assert_eq!(
                bits(&out),
                bits(&want),
                "{name}_into left the other owner alone"
            );
            if a.rank() >= 2 {
                let mut t = Tensor::zeros(a.shape()).to_dtype(dt).t();
                let mut tt = t.t();
                into(&a, &b, &mut tt);
                assert_eq!(bits(&tt), bits(&want), "{name}_into a transposed out");
                t = t.contiguous();
                assert!(t.to_vec_f64().iter().all(|&e| e == 0.0));
            }
            // The operands are untouched.
            assert_eq!(bits(&a), a_before, "{name}: lhs views unchanged");
            assert_eq!(bits(&b), b_before, "{name}: rhs unchanged");
        }
    }
}

proptest! {
    #[test]
    fn prop_add_sub_mul_in_place_match_out_of_place((ia, ib) in lhs_rhs(-2.0, 2.0)) {
        check_binary(&ia, &ib, &OPS[..3]);
    }

    #[test]
    fn prop_div_in_place_matches_out_of_place((ia, ib) in lhs_rhs(0.1, 3.0)) {
        check_binary(&ia, &ib, &OPS[3..]);
    }

    #[test]
    fn prop_relu_in_place_matches_out_of_place(ia in input(0, 4, -2.0, 2.0)) {
        for dt in DTYPES {
            let a = ia.tensor(dt);
            let want = a.relu();
            let mut x = sole_copy(&a, dt);
            let before = address(&x);
            x.relu_();
            prop_assert_eq!(bits(&x), bits(&want));
            prop_assert_eq!(address(&x), before);
            let mut v = a.clone();
            v.relu_();
            prop_assert_eq!(bits(&v), bits(&want));
            prop_assert_eq!(bits(&a), bits(&ia.tensor(dt)), "the shared view is unchanged");
            let mut out = Tensor::zeros(a.shape()).to_dtype(dt);
            a.relu_into(&mut out);
            prop_assert_eq!(bits(&out), bits(&want));
        }
    }
}

#[test]
fn large_in_place_ops_match_across_the_parallel_split() {
    // Above the parallel threshold, with a row that does not divide the chunk size.
    let a = Tensor::from_vec((0..70_000).map(|i| (i as f32).sin()).collect(), [70, 1000]);
    let row = Tensor::from_vec((0..1000).map(|i| (i as f32).cos() + 2.0).collect(), [1000]);
    let full = Tensor::from_vec(
        (0..70_000).map(|i| (i as f32).cos() + 2.0).collect(),
        [70, 1000],
    );
    for (name, inplace, _, _, outofplace) in OPS {
        for b in [&row, &full] {
            let mut x = sole_copy(&a, DType::F32);
            inplace(&mut x, b);
            assert_eq!(
                bits(&x),
                bits(&outofplace(&a, b)),
                "{name}_ {:?}",
                b.shape()
            );
        }
    }
    let mut x = sole_copy(&a, DType::F32);
    x.relu_();
    assert_eq!(bits(&x), bits(&a.relu()));
}

#[test]
fn aliasing_an_operand_is_copy_on_write() {
    let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]);
    let mut b = a.clone();
    b.add_(&a); // `b` shares `a`'s buffer: it gets its own.
    assert_eq!(b.to_vec_f32(), vec![2.0, 4.0, 6.0]);
    assert_eq!(a.to_vec_f32(), vec![1.0, 2.0, 3.0]);
    let mut c = a.clone();
    a.mul_into(&a, &mut c);
    assert_eq!(c.to_vec_f32(), vec![1.0, 4.0, 9.0]);
    assert_eq!(a.to_vec_f32(), vec![1.0, 2.0, 3.0]);
}

#[test]
fn shape_and_dtype_errors_name_the_op_and_the_shapes() {
    let mut a = Tensor::zeros([3]);
    let err = a.try_add_(&Tensor::zeros([2, 3])).unwrap_err().to_string();
    assert!(
        err.starts_with("add_: [3] and [2, 3] do not fit an in-place op"),
        "{err}"
    );
    let err = a.try_mul_(&Tensor::zeros([4])).unwrap_err().to_string();
    assert!(err.starts_with("mul_: [3] and [4]"), "{err}");
    let err = a
        .try_sub_into(&Tensor::zeros([3]), &mut Tensor::zeros([2]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("sub_into: [3] and [3] give shape [3], but `out` has shape [2]"),
        "{err}"
    );
    let err = a
        .try_div_(&Tensor::zeros([3]).to_dtype(DType::F64))
        .unwrap_err()
        .to_string();
    assert!(err.contains("div_"), "{err}");
    let err = a
        .try_relu_into(&mut Tensor::zeros([3, 1]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("relu_into: [3] and [3, 1]"), "{err}");
    assert_eq!(a.to_vec_f32(), vec![0.0; 3], "a failed op changes nothing");
}
