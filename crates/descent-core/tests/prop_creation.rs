//! Creation and conversion against references: `full`, `zeros_like`/`ones_like`, `arange`,
//! `linspace`, `eye`, seeded `uniform`, `to_dtype`, `item`, and copy-on-write `slice_mut`.

mod common;

use common::*;
use descent_core::{DType, Tensor};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

proptest! {
    #[test]
    fn prop_full_and_like_match_reference(s in shape(0, 4), v in value(-2.0, 2.0)) {
        for dt in DTYPES {
            let t = Tensor::full_with(&s, v, dt);
            assert_exact("full_with", &t, &Arr::new(&s, vec![v; numel(&s)]), dt);
            assert_exact("zeros_like", &t.zeros_like(), &Arr::new(&s, vec![0.0; numel(&s)]), dt);
            assert_exact("ones_like", &t.ones_like(), &Arr::new(&s, vec![1.0; numel(&s)]), dt);
        }
        assert_exact("full", &Tensor::full(&s, v), &Arr::new(&s, vec![v; numel(&s)]), DType::F32);
        assert_exact("zeros", &Tensor::zeros(&s), &Arr::new(&s, vec![0.0; numel(&s)]), DType::F32);
        assert_exact("ones", &Tensor::ones(&s), &Arr::new(&s, vec![1.0; numel(&s)]), DType::F32);
    }

    /// `arange(start, end, step)`: `start + i * step` while below `end` (above, for a negative step).
    #[test]
    fn prop_arange_matches_reference(start in -20i32..=20, len in 0i32..=30, step in prop_oneof![Just(1.0f64), Just(0.5), Just(-1.0), Just(2.0), Just(-0.25)]) {
        let start = start as f64;
        let end = start + len as f64 * step.signum() * 1.3;
        let mut want = Vec::new();
        let mut i = 0.0;
        loop {
            let v = start + i * step;
            if (step > 0.0 && v >= end) || (step < 0.0 && v <= end) {
                break;
            }
            want.push(v);
            i += 1.0;
        }
        let got = Tensor::arange(start, end, step);
        assert_exact("arange", &got, &Arr::new(&[want.len()], want), DType::F32);
    }

    #[test]
    fn prop_linspace_matches_reference(start in -4i32..=4, end in -4i32..=4, steps in 0usize..=12) {
        let (a, b) = (start as f64, end as f64);
        let want: Vec<f64> = (0..steps)
            .map(|i| if steps == 1 { a } else { a + (b - a) * i as f64 / (steps - 1) as f64 })
            .collect();
        let got = Tensor::linspace(a, b, steps);
        assert_close("linspace", &got, &Arr::new(&[steps], want), DType::F32, 1e-6, 1e-6);
        if steps >= 2 {
            prop_assert_eq!(got.to_vec_f64()[steps - 1], b, "linspace lands on end");
        }
    }

    #[test]
    fn prop_eye_matches_reference(n in 0usize..=6) {
        let want = Arr::from_fn(&[n, n], |i| if i[0] == i[1] { 1.0 } else { 0.0 });
        assert_exact("eye", &Tensor::eye(n), &want, DType::F32);
    }

    /// Seeded draws are reproducible and inside `[low, high)`.
    #[test]
    fn prop_uniform_is_seeded_and_in_range(s in shape(0, 3), seed in any::<u64>(), low in -3i32..=2, width in 1i32..=4) {
        let (low, high) = (low as f64, (low + width) as f64);
        let a = Tensor::uniform(&s, low, high, &mut StdRng::seed_from_u64(seed));
        let b = Tensor::uniform(&s, low, high, &mut StdRng::seed_from_u64(seed));
        prop_assert_eq!(a.shape(), &s[..]);
        prop_assert_eq!(a.to_vec_f32(), b.to_vec_f32());
        prop_assert!(a.to_vec_f64().iter().all(|v| (low..high).contains(v)));
        let r = Tensor::rand(&s, &mut StdRng::seed_from_u64(seed));
        prop_assert!(r.to_vec_f64().iter().all(|v| (0.0..1.0).contains(v)));
        let n = Tensor::randn(&s, &mut StdRng::seed_from_u64(seed));
        prop_assert_eq!(n.shape(), &s[..]);
        prop_assert!(n.to_vec_f64().iter().all(|v| v.is_finite()));
    }

    /// f32 -> f64 is exact; f64 -> f32 rounds each element; views convert their logical elements.
    #[test]
    fn prop_to_dtype_matches_reference(inp in input(0, 4, -2.0, 2.0), extra in prop::collection::vec(-2.0f64..2.0, 1..=8)) {
        let t32 = inp.tensor(DType::F32);
        assert_exact("to_dtype f64", &t32.to_dtype(DType::F64), &inp.arr, DType::F64);
        let t64 = inp.tensor(DType::F64);
        assert_exact("to_dtype f32", &t64.to_dtype(DType::F32), &inp.arr, DType::F32);
        prop_assert!(t64.to_dtype(DType::F64).shares_storage(&t64));
        let e = Tensor::from_vec(extra.clone(), [extra.len()]);
        let want: Vec<f64> = extra.iter().map(|&v| v as f32 as f64).collect();
        prop_assert_eq!(e.to_dtype(DType::F32).to_vec_f64(), want.clone());
        prop_assert_eq!(e.to_vec_f32().iter().map(|&v| v as f64).collect::<Vec<_>>(), want);
    }

    /// `slice_mut` copies a shared or strided buffer before writing: other views keep their values.
    #[test]
    fn prop_slice_mut_is_copy_on_write(inp in input(0, 4, -2.0, 2.0)) {
        let original = inp.tensor(DType::F32);
        let mut t = original.clone();
        let s = t.slice_mut::<f32>().unwrap();
        prop_assert_eq!(s.len(), inp.arr.numel());
        for (k, v) in s.iter_mut().enumerate() {
            *v = k as f32;
        }
        prop_assert_eq!(original.to_vec_f64(), inp.arr.data.clone());
        let want: Vec<f64> = (0..inp.arr.numel()).map(|k| k as f64).collect();
        assert_exact("slice_mut", &t, &Arr::new(&inp.arr.shape, want), DType::F32);
        prop_assert!(t.is_contiguous());
    }

    #[test]
    fn prop_item_and_dim_match_reference(inp in input(0, 4, -2.0, 2.0)) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            prop_assert_eq!(t.rank(), inp.arr.rank());
            prop_assert_eq!(t.numel(), inp.arr.numel());
            prop_assert_eq!(t.nbytes(), inp.arr.numel() * dt.size());
            for (d, &n) in inp.arr.shape.iter().enumerate() {
                prop_assert_eq!(t.dim(d as isize), n);
                prop_assert_eq!(t.dim(d as isize - inp.arr.rank() as isize), n);
            }
            if inp.arr.numel() == 1 {
                prop_assert_eq!(t.item(), inp.arr.data[0]);
            } else {
                prop_assert!(t.try_item().is_err());
            }
        }
    }
}
