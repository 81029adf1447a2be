//! `matmul` against a triple-loop `f64` reference: 2-D, batched N-D with broadcast batch dims,
//! 1-D vector operands, and transposed / sliced / expanded views as inputs, f32 and f64.

mod common;

use common::*;
use descent_core::Tensor;
use proptest::prelude::*;

/// Shapes that `torch.matmul` accepts.
fn mm_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    let plain = (dim(), dim(), dim()).prop_map(|(m, k, n)| (vec![m, k], vec![k, n]));
    let batched = (shape(0, 2), dim(), dim(), dim()).prop_flat_map(|(batch, m, k, n)| {
        (sub_shape(batch.clone()), sub_shape(batch)).prop_map(move |(ba, bb)| {
            let mut a = ba;
            a.extend([m, k]);
            let mut b = bb;
            b.extend([k, n]);
            (a, b)
        })
    });
    let vectors = (shape(0, 2), dim(), dim(), 0..3usize).prop_map(|(batch, k, mn, which)| {
        let mut mat_l = batch.clone();
        mat_l.extend([mn, k]);
        let mut mat_r = batch;
        mat_r.extend([k, mn]);
        match which {
            0 => (vec![k], vec![k]),
            1 => (vec![k], mat_r),
            _ => (mat_l, vec![k]),
        }
    });
    prop_oneof![2 => plain, 2 => batched, 1 => vectors]
}

fn check_matmul(a: &Input, b: &Input) {
    let want = matmul_ref(&a.arr, &b.arr);
    let scale = matmul_ref(&a.arr.map(f64::abs), &b.arr.map(f64::abs));
    for dt in DTYPES {
        let got = a.tensor(dt).matmul(&b.tensor(dt));
        let (rtol, atol) = sum_tol(dt);
        assert_close_scaled("matmul", &got, &want, &scale, dt, rtol, atol);
    }
}

proptest! {
    #[test]
    fn prop_matmul_matches_reference(
        (a, b) in mm_shapes().prop_flat_map(|(sa, sb)| (input_of(sa, -2.0, 2.0), input_of(sb, -2.0, 2.0)))
    ) {
        check_matmul(&a, &b);
    }

    /// Transposed operands (`x.matmul(&w.t())` and friends): stored contiguous as the transpose,
    /// viewed through `.t()`.
    #[test]
    fn prop_matmul_transposed_views_match_reference(
        (batch, at, bt, m, k, n) in (shape(0, 2), any::<bool>(), any::<bool>(), 1usize..=9, 1usize..=9, 1usize..=9)
    ) {
        let mk = |rows: usize, cols: usize, transposed: bool| -> (Arr, Tensor, Tensor) {
            // Logical [..batch, rows, cols]; stored as [..batch, cols, rows] when transposed.
            let mut s = batch.clone();
            if transposed { s.extend([cols, rows]) } else { s.extend([rows, cols]) }
            let n = numel(&s);
            let stored = Arr::new(&s, (0..n).map(|i| ((i * 7919 % 97) as f64 / 24.0 - 2.0) as f32 as f64).collect());
            let logical = if transposed {
                let r = s.len();
                let mut p: Vec<usize> = (0..r).collect();
                p.swap(r - 2, r - 1);
                permute_ref(&stored, &p)
            } else {
                stored.clone()
            };
            let t32 = stored.tensor(descent_core::DType::F32);
            let t64 = stored.tensor(descent_core::DType::F64);
            let (t32, t64) = if transposed { (t32.t(), t64.t()) } else { (t32, t64) };
            (logical, t32, t64)
        };
        let (la, a32, a64) = mk(m, k, at);
        let (lb, b32, b64) = mk(k, n, bt);
        let want = matmul_ref(&la, &lb);
        let scale = matmul_ref(&la.map(f64::abs), &lb.map(f64::abs));
        for (dt, got) in [(descent_core::DType::F32, a32.matmul(&b32)), (descent_core::DType::F64, a64.matmul(&b64))] {
            let (rtol, atol) = sum_tol(dt);
            assert_close_scaled("matmul (transposed)", &got, &want, &scale, dt, rtol, atol);
        }
    }

    /// Larger sizes, to cross the blocking of the GEMM kernel.
    #[test]
    fn prop_matmul_larger_matches_reference(
        (a, b) in (1usize..=40, 1usize..=40, 1usize..=40)
            .prop_flat_map(|(m, k, n)| (input_with(vec![m, k], -2.0, 2.0, false), input_with(vec![k, n], -2.0, 2.0, false)))
    ) {
        check_matmul(&a, &b);
    }
}

#[test]
fn matmul_empty_inner_dim_gives_zeros() {
    for dt in DTYPES {
        let a = Tensor::full_with([2, 0], 1.0, dt);
        let b = Tensor::full_with([0, 3], 1.0, dt);
        let c = a.matmul(&b);
        assert_eq!(c.shape(), &[2, 3]);
        assert_eq!(c.to_vec_f64(), vec![0.0; 6]);
    }
}
