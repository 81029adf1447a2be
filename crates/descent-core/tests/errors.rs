//! Every misuse gives a clear `Err` naming the op and the shapes / values involved, and the
//! panicking form panics with the same message (checked with `catch_unwind`).

mod common;

use common::*;
use descent_core::{Conv2dParams, DType, Error, IntTensor, Pool2dParams, Tape, Tensor};
use proptest::prelude::*;
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Asserts that `fallible` is an error and `panicking` panics with the same message; returns it.
#[track_caller]
fn fails<T: Debug>(fallible: Result<T, Error>, panicking: impl FnOnce() -> T) -> String {
    let msg = fallible.expect_err("the try_ form must fail").to_string();
    let caught = catch_unwind(AssertUnwindSafe(panicking));
    let payload = caught.expect_err("the panicking form must panic");
    assert_eq!(
        panic_message(&*payload),
        msg,
        "panic message differs from the error"
    );
    msg
}

fn z(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape)
}

fn z64(shape: &[usize]) -> Tensor {
    Tensor::full_with(shape, 0.0, DType::F64)
}

fn idx(v: &[i64]) -> IntTensor {
    IntTensor::from(v.to_vec())
}

#[test]
fn broadcast_mismatch_names_op_shapes_and_dim() {
    let (a, b) = (z(&[4, 3]), z(&[4, 5]));
    let want = |op: &str| {
        format!("{op}: [4, 3] and [4, 5] do not broadcast: dim 1 is 3 vs 5 and neither is 1")
    };
    assert_eq!(fails(a.try_add(&b), || a.add(&b)), want("add"));
    assert_eq!(fails(a.try_add(&b), || &a + &b), want("add"));
    assert_eq!(fails(a.try_sub(&b), || a.sub(&b)), want("sub"));
    assert_eq!(fails(a.try_sub(&b), || &a - &b), want("sub"));
    assert_eq!(fails(a.try_mul(&b), || a.mul(&b)), want("mul"));
    assert_eq!(fails(a.try_mul(&b), || a.clone() * b.clone()), want("mul"));
    assert_eq!(fails(a.try_div(&b), || a.div(&b)), want("div"));
    assert_eq!(fails(a.try_div(&b), || &a / &b), want("div"));
    assert_eq!(fails(a.try_pow(&b), || a.pow(&b)), want("pow"));
    assert_eq!(fails(a.try_maximum(&b), || a.maximum(&b)), want("maximum"));
    assert_eq!(fails(a.try_minimum(&b), || a.minimum(&b)), want("minimum"));
    assert_eq!(fails(a.try_eq(&b), || a.eq(&b)), want("eq"));
    assert_eq!(fails(a.try_ne(&b), || a.ne(&b)), want("ne"));
    assert_eq!(fails(a.try_lt(&b), || a.lt(&b)), want("lt"));
    assert_eq!(fails(a.try_le(&b), || a.le(&b)), want("le"));
    assert_eq!(fails(a.try_gt(&b), || a.gt(&b)), want("gt"));
    assert_eq!(fails(a.try_ge(&b), || a.ge(&b)), want("ge"));
    // The failing dim is counted in the result's dims.
    assert_eq!(
        z(&[2, 3]).try_add(&z(&[7, 1, 4])).unwrap_err().to_string(),
        "add: [2, 3] and [7, 1, 4] do not broadcast: dim 2 is 3 vs 4 and neither is 1"
    );
    let c = z(&[4, 1]);
    let m = fails(c.try_where_cond(&a, &b), || c.where_cond(&a, &b));
    assert!(
        m.starts_with("where_cond: ") && m.contains("do not broadcast"),
        "{m}"
    );
    let e = fails(z(&[2, 3]).try_broadcast_to([2, 4]), || {
        z(&[2, 3]).broadcast_to([2, 4])
    });
    assert_eq!(
        e,
        "broadcast_to: [2, 3] and [2, 4] do not broadcast: dim 1 is 3 vs 4 and neither is 1"
    );
    let e = fails(z(&[2, 3]).try_broadcast_to([3]), || {
        z(&[2, 3]).broadcast_to([3])
    });
    assert!(e.starts_with("broadcast_to: [2, 3] and [3] "), "{e}");
}

proptest! {
    /// For any two shapes, the binary op succeeds exactly when the reference broadcast does, and
    /// otherwise names the first failing dim.
    #[test]
    fn prop_broadcast_error_matches_reference(a in shape(0, 4), b in shape(0, 4)) {
        let (ta, tb) = (z(&a), z(&b));
        match broadcast_shape(&[&a, &b]) {
            Some(s) => prop_assert_eq!(ta.try_add(&tb).unwrap().shape().to_vec(), s),
            None => {
                let rank = a.len().max(b.len());
                let get = |s: &[usize], d: usize| (d + s.len()).checked_sub(rank).map_or(1, |i| s[i]);
                let d = (0..rank).find(|&d| {
                    let (x, y) = (get(&a, d), get(&b, d));
                    x != y && x != 1 && y != 1
                }).unwrap();
                let want = format!(
                    "mul: {a:?} and {b:?} do not broadcast: dim {d} is {} vs {} and neither is 1",
                    get(&a, d), get(&b, d)
                );
                prop_assert_eq!(fails(ta.try_mul(&tb), || ta.mul(&tb)), want);
            }
        }
    }
}

#[test]
fn dtype_mismatch_names_op_and_types() {
    let (a, b) = (z(&[2, 2]), z64(&[2, 2]));
    let want =
        |op: &str| format!("{op}: element types differ (F32 vs F64); convert one with to_dtype");
    assert_eq!(fails(a.try_add(&b), || &a + &b), want("add"));
    assert_eq!(fails(a.try_maximum(&b), || a.maximum(&b)), want("maximum"));
    assert_eq!(fails(a.try_lt(&b), || a.lt(&b)), want("lt"));
    assert_eq!(fails(a.try_matmul(&b), || a.matmul(&b)), want("matmul"));
    assert_eq!(
        fails(a.try_where_cond(&a, &b), || a.where_cond(&a, &b)),
        want("where_cond")
    );
    assert_eq!(
        fails(Tensor::try_concat(&[&a, &b], 0), || Tensor::concat(
            &[&a, &b],
            0
        )),
        want("concat")
    );
    let (x, w) = (z(&[1, 1, 3, 3]), z64(&[1, 1, 2, 2]));
    assert_eq!(
        fails(x.try_conv2d(&w, None, Conv2dParams::default()), || x
            .conv2d(&w, None, Conv2dParams::default())),
        want("conv2d")
    );
    assert_eq!(
        b.try_add(&a).unwrap_err().to_string(),
        "add: element types differ (F64 vs F32); convert one with to_dtype"
    );
    let mut t = z(&[2]);
    assert!(
        t.slice_mut::<f64>()
            .unwrap_err()
            .to_string()
            .starts_with("slice_mut: element types differ")
    );
}

#[test]
fn matmul_errors() {
    let (a, b) = (z(&[32, 784]), z(&[128, 10]));
    assert_eq!(
        fails(a.try_matmul(&b), || a.matmul(&b)),
        "matmul: [32, 784] and [128, 10] cannot be multiplied: inner dimensions differ (784 vs 128)"
    );
    let (v, m) = (z(&[3]), z(&[4, 5]));
    assert_eq!(
        fails(v.try_matmul(&m), || v.matmul(&m)),
        "matmul: [3] and [4, 5] cannot be multiplied: inner dimensions differ (3 vs 4)"
    );
    let (a, b) = (z(&[2, 3, 4]), z(&[5, 4, 6]));
    let e = fails(a.try_matmul(&b), || a.matmul(&b));
    assert!(
        e.starts_with("matmul: [2, 3, 4] and [5, 4, 6] batch dims"),
        "{e}"
    );
    assert!(e.contains("2 vs 5"), "{e}");
    let s = Tensor::scalar(1.0, DType::F32);
    let e = fails(s.try_matmul(&m), || s.matmul(&m));
    assert!(e.starts_with("matmul: [] x [4, 5]"), "{e}");
}

#[test]
fn from_vec_and_reshape_element_counts() {
    assert_eq!(
        fails(Tensor::try_from_vec(vec![1.0f32; 5], [2, 3]), || {
            Tensor::from_vec(vec![1.0f32; 5], [2, 3])
        }),
        "from_vec: 5 elements do not fill shape [2, 3] (6 elements)"
    );
    assert_eq!(
        fails(Tensor::try_from_slice(&[1.0f64; 7], [2, 3]), || {
            Tensor::from_slice(&[1.0f64; 7], [2, 3])
        }),
        "from_vec: 7 elements do not fill shape [2, 3] (6 elements)"
    );
    let x = z(&[2, 3]);
    assert_eq!(
        fails(x.try_reshape([4, 2]), || x.reshape([4, 2])),
        "reshape: 6 elements do not fill shape [4, 2] (8 elements)"
    );
    // Also on a non-contiguous input.
    let xt = x.t();
    assert_eq!(
        fails(xt.try_reshape([7]), || xt.reshape([7])),
        "reshape: 6 elements do not fill shape [7] (7 elements)"
    );
    let e = fails(x.try_reshape([4, -1]), || x.reshape([4, -1]));
    assert!(
        e.starts_with("reshape: cannot infer -1 in [4, -1] for 6 elements of shape [2, 3]"),
        "{e}"
    );
    let e = fails(x.try_reshape([-1, -1]), || x.reshape([-1, -1]));
    assert!(e.starts_with("reshape: invalid dims [-1, -1]"), "{e}");
    let e = fails(x.try_reshape([-2, 3]), || x.reshape([-2, 3]));
    assert!(e.starts_with("reshape: invalid dims [-2, 3]"), "{e}");
    let e = fails(x.try_item(), || x.item());
    assert_eq!(e, "item: tensor of shape [2, 3] has 6 elements, not 1");
}

#[test]
fn axis_out_of_range_names_op_axis_and_shape() {
    let x = z(&[2, 3]);
    let msg = |op: &str, axis: isize| {
        format!("{op}: axis {axis} is out of range or repeated for shape [2, 3] (rank 2)")
    };
    assert_eq!(
        fails(x.try_sum(&[2], false), || x.sum(&[2], false)),
        msg("sum", 2)
    );
    assert_eq!(
        fails(x.try_sum(&[0, -2], false), || x.sum(&[0, -2], false)),
        msg("sum", -2)
    );
    assert_eq!(
        fails(x.try_mean(&[-3], true), || x.mean(&[-3], true)),
        msg("mean", -3)
    );
    assert_eq!(
        fails(x.try_max(&[5], false), || x.max(&[5], false)),
        msg("max", 5)
    );
    assert_eq!(
        fails(x.try_min(&[2], false), || x.min(&[2], false)),
        msg("min", 2)
    );
    assert_eq!(
        fails(x.try_logsumexp(&[2], false), || x.logsumexp(&[2], false)),
        msg("logsumexp", 2)
    );
    assert_eq!(
        fails(x.try_var(&[2], 1, false), || x.var(&[2], 1, false)),
        msg("var", 2)
    );
    assert_eq!(
        fails(x.try_argmax(2, false), || x.argmax(2, false)),
        msg("argmax", 2)
    );
    assert_eq!(
        fails(x.try_argmin(-3, false), || x.argmin(-3, false)),
        msg("argmin", -3)
    );
    assert_eq!(fails(x.try_softmax(2), || x.softmax(2)), msg("softmax", 2));
    assert_eq!(
        fails(x.try_log_softmax(-3), || x.log_softmax(-3)),
        msg("log_softmax", -3)
    );
    assert_eq!(
        fails(x.try_transpose(0, 2), || x.transpose(0, 2)),
        msg("transpose", 2)
    );
    assert_eq!(
        fails(x.try_narrow(2, 0, 1), || x.narrow(2, 0, 1)),
        msg("narrow", 2)
    );
    assert_eq!(fails(x.try_squeeze(2), || x.squeeze(2)), msg("squeeze", 2));
    assert_eq!(
        fails(x.try_unsqueeze(3), || x.unsqueeze(3)),
        msg("unsqueeze", 3)
    );
    assert_eq!(
        fails(x.try_unsqueeze(-4), || x.unsqueeze(-4)),
        msg("unsqueeze", -4)
    );
    assert_eq!(
        fails(x.try_flatten(0, 2), || x.flatten(0, 2)),
        msg("flatten", 2)
    );
    assert_eq!(fails(x.try_dim(2), || x.dim(2)), msg("dim", 2));
    assert_eq!(
        fails(x.try_permute(&[0, 0]), || x.permute(&[0, 0])),
        msg("permute", 0)
    );
    assert_eq!(
        fails(x.try_permute(&[0, 2]), || x.permute(&[0, 2])),
        msg("permute", 2)
    );
    assert_eq!(
        fails(Tensor::try_concat(&[&x], 2), || Tensor::concat(&[&x], 2)),
        msg("concat", 2)
    );
    assert_eq!(
        fails(Tensor::try_stack(&[&x], 3), || Tensor::stack(&[&x], 3)),
        msg("stack", 3)
    );
    assert_eq!(fails(x.try_split(1, 2), || x.split(1, 2)), msg("split", 2));
    let i = idx(&[0]);
    assert_eq!(
        fails(x.try_index_select(2, &i), || x.index_select(2, &i)),
        msg("index_select", 2)
    );
    let g = IntTensor::zeros([1, 1]);
    assert_eq!(
        fails(x.try_gather(-3, &g), || x.gather(-3, &g)),
        msg("gather", -3)
    );
    // A wrong number of permute axes.
    let e = fails(x.try_permute(&[0]), || x.permute(&[0]));
    assert_eq!(e, "permute: 1 axes given for shape [2, 3] of rank 2");
    // Reductions of 0-D tensors have no axes at all.
    let s = Tensor::scalar(1.0, DType::F32);
    assert!(
        s.try_sum(&[0], false)
            .unwrap_err()
            .to_string()
            .starts_with("sum: axis 0 is out of range")
    );
}

#[test]
fn views_and_joins_refuse_bad_arguments() {
    let x = z(&[2, 3]);
    let e = fails(x.try_narrow(1, 2, 2), || x.narrow(1, 2, 2));
    assert_eq!(
        e,
        "narrow: range 2..4 step 1 does not fit axis 1 of size 3 in shape [2, 3]"
    );
    let e = fails(x.try_slice_axis(1, 0, 3, 0), || x.slice_axis(1, 0, 3, 0));
    assert_eq!(
        e,
        "slice: range 0..3 step 0 does not fit axis 1 of size 3 in shape [2, 3]"
    );
    let e = fails(x.try_slice_axis(1, 2, 1, 1), || x.slice_axis(1, 2, 1, 1));
    assert!(e.starts_with("slice: range 2..1 step 1"), "{e}");
    let e = fails(x.try_squeeze(1), || x.squeeze(1));
    assert_eq!(e, "squeeze: axis 1 of shape [2, 3] has size 3, not 1");
    let e = fails(x.try_flatten(1, 0), || x.flatten(1, 0));
    assert_eq!(e, "flatten: start axis 1 is after end axis 0");
    let e = fails(x.try_split(0, 1), || x.split(0, 1));
    assert_eq!(e, "split: split_size must be positive");
    let e = fails(x.try_split_sizes(&[1, 1], 1), || x.split_sizes(&[1, 1], 1));
    assert_eq!(
        e,
        "split: sizes [1, 1] do not add up to axis 1 of size 3 in shape [2, 3]"
    );
    let y = z(&[3, 2]);
    let e = fails(Tensor::try_concat(&[&x, &y], 1), || {
        Tensor::concat(&[&x, &y], 1)
    });
    assert_eq!(
        e,
        "concat: [2, 3] and [3, 2] differ outside the concatenated axis 1"
    );
    let r3 = z(&[2, 3, 1]);
    let e = fails(Tensor::try_concat(&[&x, &r3], 0), || {
        Tensor::concat(&[&x, &r3], 0)
    });
    assert!(e.starts_with("concat: [2, 3] and [2, 3, 1]"), "{e}");
    let e = fails(Tensor::try_stack(&[&x, &y], 0), || {
        Tensor::stack(&[&x, &y], 0)
    });
    assert_eq!(
        e,
        "stack: [2, 3] and [3, 2] differ; stack needs equal shapes"
    );
    let none: [&Tensor; 0] = [];
    assert_eq!(
        fails(Tensor::try_concat(&none, 0), || Tensor::concat(&none, 0)),
        "concat: needs at least one tensor"
    );
    assert_eq!(
        fails(Tensor::try_stack(&none, 0), || Tensor::stack(&none, 0)),
        "stack: needs at least one tensor"
    );
    let e = Tensor::try_arange(0.0, 1.0, 0.0).unwrap_err().to_string();
    assert!(e.starts_with("arange: "), "{e}");
    let e = Tensor::try_arange(0.0, 1.0, -1.0).unwrap_err().to_string();
    assert_eq!(e, "arange: step -1 points away from end 1 (start 0)");
}

#[test]
fn bad_indices_name_the_index_axis_and_size() {
    let x = z(&[3, 2]);
    let want = |op: &str, index: &str, size: usize, axis: usize| {
        format!(
            "{op}: index {index} is out of range for axis {axis} of size {size} (indices must be in 0..{size})"
        )
    };
    for (v, shown) in [
        (3, "3"),
        (-1, "-1"),
        (i64::MAX, "9223372036854775807"),
        (i64::MIN, "-9223372036854775808"),
    ] {
        let i = idx(&[0, v]);
        assert_eq!(
            fails(x.try_index_select(0, &i), || x.index_select(0, &i)),
            want("index_select", shown, 3, 0)
        );
        // gather along axis 1 (size 2) with an index of shape [1, 2].
        let g = IntTensor::from_vec(vec![0, v], [1, 2]);
        assert_eq!(
            fails(x.try_gather(1, &g), || x.gather(1, &g)),
            want("gather", shown, 2, 1)
        );
        // one_hot: the "axis" is the new last one.
        let labels = idx(&[1, v]);
        assert_eq!(
            fails(labels.try_one_hot(3), || labels.one_hot(3)),
            want("one_hot", shown, 3, 1)
        );
        // scatter_add along axis 0 (size 3).
        let s = IntTensor::from_vec(vec![0, v], [2, 1]);
        assert_eq!(
            fails(x.try_scatter_add(0, &s, &z(&[2, 1])), || x.scatter_add(
                0,
                &s,
                &z(&[2, 1])
            )),
            want("scatter_add", shown, 3, 0)
        );
    }
    // An index not 1-D.
    let i2 = IntTensor::zeros([1, 1]);
    let e = fails(x.try_index_select(0, &i2), || x.index_select(0, &i2));
    assert_eq!(e, "index_select: index must be 1-D, got shape [1, 1]");
    // gather with an index of another rank or with a dim too large.
    let g = IntTensor::zeros([2]);
    let e = fails(x.try_gather(0, &g), || x.gather(0, &g));
    assert!(e.starts_with("gather: [3, 2] and [2] do not fit"), "{e}");
    let g = IntTensor::zeros([1, 3]);
    let e = fails(x.try_gather(0, &g), || x.gather(0, &g));
    assert!(e.starts_with("gather: [3, 2] and [1, 3] do not fit"), "{e}");
    // scatter_add with an index larger than src.
    let s = IntTensor::zeros([3, 1]);
    let e = fails(x.try_scatter_add(0, &s, &z(&[2, 1])), || {
        x.scatter_add(0, &s, &z(&[2, 1]))
    });
    assert!(
        e.starts_with("scatter_add: [3, 2] and [3, 1] do not fit"),
        "{e}"
    );
    // Indexing an empty axis.
    let e = z(&[0, 2])
        .try_index_select(0, &idx(&[0]))
        .unwrap_err()
        .to_string();
    assert_eq!(e, want("index_select", "0", 0, 0));
    // one_hot with zero classes refuses any label.
    assert!(idx(&[0]).try_one_hot(0).is_err());
}

#[test]
fn conv2d_refuses_bad_geometry() {
    let x = z(&[1, 1, 2, 2]);
    let w = z(&[1, 1, 3, 3]);
    let e = fails(x.try_conv2d(&w, None, Conv2dParams::default()), || {
        x.conv2d(&w, None, Conv2dParams::default())
    });
    assert_eq!(
        e,
        "conv2d: kernel 3x3 (dilation [1, 1], so 3x3) is larger than the padded input 2x2 (input [1, 1, 2, 2], padding [0, 0])"
    );
    // Dilation makes a 2x2 kernel span 5x5.
    let w2 = z(&[1, 1, 2, 2]);
    let p = Conv2dParams::default().dilation(4).padding(1);
    let e = fails(x.try_conv2d(&w2, None, p), || x.conv2d(&w2, None, p));
    assert!(
        e.starts_with(
            "conv2d: kernel 2x2 (dilation [4, 4], so 5x5) is larger than the padded input 4x4"
        ),
        "{e}"
    );
    // Padding lets the kernel fit.
    assert_eq!(
        x.conv2d(&w, None, Conv2dParams::default().padding(1))
            .shape(),
        &[1, 1, 2, 2]
    );
    let w3 = z(&[1, 3, 1, 1]);
    let e = fails(x.try_conv2d(&w3, None, Conv2dParams::default()), || {
        x.conv2d(&w3, None, Conv2dParams::default())
    });
    assert_eq!(
        e,
        "conv2d: [1, 1, 2, 2] and [1, 3, 1, 1] do not fit: input has 1 channels, weight expects 3"
    );
    let x3 = z(&[1, 2, 2]);
    let e = fails(x3.try_conv2d(&w, None, Conv2dParams::default()), || {
        x3.conv2d(&w, None, Conv2dParams::default())
    });
    assert!(
        e.starts_with("conv2d: [1, 2, 2] and [1, 1, 3, 3] need a 4-D input"),
        "{e}"
    );
    let p = Conv2dParams::default().stride(0);
    let e = fails(x.try_conv2d(&w2, None, p), || x.conv2d(&w2, None, p));
    assert_eq!(
        e,
        "conv2d: stride [0, 0] and dilation [1, 1] must be positive"
    );
}

/// Group counts that do not divide both channel counts, a weight whose channels are not
/// `c_in / groups`, zero groups, and biases of the wrong shape or type: errors naming `conv2d` and
/// both shapes, on `Tensor` and `Var` alike.
#[test]
fn conv2d_refuses_bad_groups_and_bias() {
    let x = z(&[1, 6, 4, 4]);
    let conv = |w: &[usize], b: Option<&[usize]>, groups: usize| {
        let (w, b) = (z(w), b.map(z));
        let p = Conv2dParams::default().groups(groups);
        fails(x.try_conv2d(&w, b.as_ref(), p), || {
            x.conv2d(&w, b.as_ref(), p)
        })
    };
    // 6 input channels in 4 groups.
    assert_eq!(
        conv(&[4, 2, 3, 3], None, 4),
        "conv2d: [1, 6, 4, 4] and [4, 2, 3, 3] do not fit groups = 4: input channels (6) and \
         output channels (4) must both be divisible by groups"
    );
    // 6 input channels in 3 groups, but 4 output channels.
    assert_eq!(
        conv(&[4, 2, 3, 3], None, 3),
        "conv2d: [1, 6, 4, 4] and [4, 2, 3, 3] do not fit groups = 3: input channels (6) and \
         output channels (4) must both be divisible by groups"
    );
    // Divisible, but the weight has 3 channels per group where 6 / 2 = 3 is right and 2 wrong.
    assert_eq!(
        conv(&[4, 2, 3, 3], None, 2),
        "conv2d: [1, 6, 4, 4] and [4, 2, 3, 3] do not fit: input has 6 channels, weight expects \
         2 per group x 2 groups = 4"
    );
    assert!(
        x.try_conv2d(&z(&[4, 3, 3, 3]), None, Conv2dParams::default().groups(2))
            .is_ok()
    );
    assert_eq!(
        conv(&[6, 1, 3, 3], None, 0),
        "conv2d: groups must be positive, got 0"
    );
    // Depthwise is fine.
    assert!(
        x.try_conv2d(&z(&[6, 1, 3, 3]), None, Conv2dParams::default().groups(6))
            .is_ok()
    );
    // A bias of the wrong length or rank.
    for b in [&[5][..], &[1, 6], &[]] {
        let e = conv(&[6, 1, 3, 3], Some(b), 6);
        assert_eq!(
            e,
            format!(
                "conv2d: [6, 1, 3, 3] and {b:?} do not fit: the bias must have shape [c_out] = \
                 [6] for this weight"
            )
        );
    }
    // A bias of another element type.
    let (w, b) = (z(&[6, 1, 3, 3]), z64(&[6]));
    let p = Conv2dParams::default().groups(6);
    assert_eq!(
        fails(x.try_conv2d(&w, Some(&b), p), || x.conv2d(&w, Some(&b), p)),
        "conv2d: element types differ (F32 vs F64); convert one with to_dtype"
    );
    // On variables the same errors, from the same checks.
    let tape = Tape::new();
    let (xv, wv, bv) = (
        tape.var(x.clone()),
        tape.var(z(&[4, 2, 3, 3])),
        tape.var(z(&[3])),
    );
    let e = xv
        .try_conv2d(&wv, Some(&bv), Conv2dParams::default().groups(3))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("conv2d: [1, 6, 4, 4] and [4, 2, 3, 3] do not fit groups = 3"),
        "{e}"
    );
    let wv = tape.var(z(&[4, 3, 3, 3]));
    let e = xv
        .try_conv2d(&wv, Some(&bv), Conv2dParams::default().groups(2))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("conv2d: [4, 3, 3, 3] and [3] do not fit: the bias"),
        "{e}"
    );
}

#[test]
fn pooling_refuses_bad_geometry() {
    let x = z(&[1, 1, 2, 2]);
    let e = fails(x.try_max_pool2d(Pool2dParams::new(3)), || {
        x.max_pool2d(Pool2dParams::new(3))
    });
    assert!(
        e.starts_with("max_pool2d: window [3, 3]") && e.contains("does not fit input [1, 1, 2, 2]"),
        "{e}"
    );
    let p = Pool2dParams::new(2).padding(2);
    let e = fails(x.try_max_pool2d_with_indices(p), || {
        x.max_pool2d_with_indices(p)
    });
    assert!(e.contains("padding exceeds half the window"), "{e}");
    let e = fails(x.try_avg_pool2d(Pool2dParams::new(3)), || {
        x.avg_pool2d(Pool2dParams::new(3))
    });
    assert!(e.starts_with("avg_pool2d: window [3, 3]"), "{e}");
    let p = Pool2dParams::new(1).dilation(2);
    let e = fails(x.try_avg_pool2d(p), || x.avg_pool2d(p));
    assert_eq!(
        e,
        "avg_pool2d: dilation [2, 2] is not supported (torch has none either)"
    );
    let x2 = z(&[2, 2]);
    let e = fails(x2.try_max_pool2d(Pool2dParams::new(1)), || {
        x2.max_pool2d(Pool2dParams::new(1))
    });
    assert_eq!(
        e,
        "max_pool2d: needs a 4-D input (n, c, h, w), got shape [2, 2]"
    );
    let p = Pool2dParams::new(2).stride(0);
    let e = fails(x.try_max_pool2d(p), || x.max_pool2d(p));
    assert_eq!(
        e,
        "max_pool2d: kernel [2, 2], stride [0, 0] and dilation [1, 1] must be positive"
    );
    let e = fails(x2.try_adaptive_avg_pool2d([1, 1]), || {
        x2.adaptive_avg_pool2d([1, 1])
    });
    assert_eq!(
        e,
        "adaptive_avg_pool2d: needs a 4-D input (n, c, h, w), got shape [2, 2]"
    );
    let e = fails(x.try_adaptive_avg_pool2d([0, 3]), || {
        x.adaptive_avg_pool2d([0, 3])
    });
    assert_eq!(
        e,
        "adaptive_avg_pool2d: output size [0, 3] and the input's plane [2, 2] (of [1, 1, 2, 2]) \
         must both be non-empty"
    );
    let x0 = z(&[1, 1, 0, 2]);
    assert!(x0.try_adaptive_avg_pool2d([1, 1]).is_err());
}

#[test]
fn reductions_over_empty_axes() {
    let x = z(&[0, 3]);
    let e = fails(x.try_max(&[0], false), || x.max(&[0], false));
    assert_eq!(e, "max: cannot reduce over an empty axis of shape [0, 3]");
    let e = fails(x.try_min(&[0, 1], true), || x.min(&[0, 1], true));
    assert_eq!(e, "min: cannot reduce over an empty axis of shape [0, 3]");
    let e = fails(x.try_argmax(0, false), || x.argmax(0, false));
    assert_eq!(
        e,
        "argmax: cannot reduce over the empty axis 0 of shape [0, 3]"
    );
    let e = fails(x.try_argmin(-2, true), || x.argmin(-2, true));
    assert_eq!(
        e,
        "argmin: cannot reduce over the empty axis 0 of shape [0, 3]"
    );
    // max_all of an empty tensor panics with the same message.
    let caught =
        catch_unwind(AssertUnwindSafe(|| x.max_all())).expect_err("max_all of empty panics");
    assert_eq!(
        panic_message(&*caught),
        "max: cannot reduce over an empty axis of shape [0, 3]"
    );
}

#[test]
fn error_values_are_structured() {
    match z(&[2]).try_add(&z(&[3])).unwrap_err() {
        Error::ShapeMismatch { op, .. } => assert_eq!(op, "add"),
        other => panic!("wrong variant {other:?}"),
    }
    match z(&[2]).try_index_select(0, &idx(&[5])).unwrap_err() {
        Error::IndexOutOfRange {
            op,
            index,
            size,
            axis,
        } => {
            assert_eq!((op, index, size, axis), ("index_select", 5, 2, 0));
        }
        other => panic!("wrong variant {other:?}"),
    }
    match z(&[2]).try_sum(&[1], false).unwrap_err() {
        Error::InvalidAxis { op, axis, .. } => assert_eq!((op, axis), ("sum", 1)),
        other => panic!("wrong variant {other:?}"),
    }
    match Tensor::try_from_vec(vec![0.0f32], [2]).unwrap_err() {
        Error::ElementCount { op, got, .. } => assert_eq!((op, got), ("from_vec", 1)),
        other => panic!("wrong variant {other:?}"),
    }
    match z(&[2]).try_matmul(&z64(&[2])).unwrap_err() {
        Error::DTypeMismatch { op, lhs, rhs } => {
            assert_eq!((op, lhs, rhs), ("matmul", DType::F32, DType::F64))
        }
        other => panic!("wrong variant {other:?}"),
    }
}

#[test]
fn integer_tensors_of_impossible_sizes_are_errors_not_aborts() {
    use descent_core::IntTensor;
    let e = IntTensor::try_full([1usize << 40], 0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("8796093022208 bytes") && e.contains("[1099511627776]"),
        "{e}"
    );
    let e = IntTensor::try_full([1usize << 62, 16], 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("more elements than fit"), "{e}");
    assert_eq!(IntTensor::try_full([2, 3], 7).unwrap().to_vec(), vec![7; 6]);
}
