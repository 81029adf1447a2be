//! Views against reference index arithmetic: reshape (with `-1`), permute, transpose, narrow,
//! slice_axis with a step, broadcast_to, squeeze, unsqueeze, flatten, contiguous; round trips;
//! all on contiguous and non-contiguous inputs, f32 and f64. Also checks that the strategies'
//! non-contiguous construction is faithful.

mod common;

use common::*;
use descent_core::Tensor;
use proptest::prelude::*;

/// An input of rank `0..=4` in any layout.
fn any_input() -> BoxedStrategy<Input> {
    input(0, 4, -2.0, 2.0)
}

/// A target shape with the same element count as `s`: the dims shuffled, some adjacent ones
/// merged, some 1s inserted; maybe one dim given as -1.
fn reshape_target(s: Vec<usize>) -> impl Strategy<Value = (Vec<usize>, Vec<isize>)> {
    let r = s.len();
    (
        Just(s).prop_shuffle(),
        prop::collection::vec(any::<bool>(), r),
        prop::collection::vec(0usize..=r, 0..=2),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(dims, merge, ones, which, infer)| {
            let mut out: Vec<usize> = Vec::new();
            for (i, &d) in dims.iter().enumerate() {
                match out.last_mut() {
                    Some(last) if merge[i] => *last *= d,
                    _ => out.push(d),
                }
            }
            for &at in &ones {
                out.insert(at.min(out.len()), 1);
            }
            let mut passed: Vec<isize> = out.iter().map(|&d| d as isize).collect();
            // -1 is inferable only when the other dims have a non-zero product.
            if infer && !out.is_empty() {
                let i = which.index(out.len());
                let others: usize = out
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, &d)| d)
                    .product();
                if others != 0 {
                    passed[i] = -1;
                }
            }
            (out, passed)
        })
}

proptest! {
    /// The construction used by every test holds the logical elements, and the views it
    /// produces really are views (non-contiguous, or offset into a larger buffer).
    #[test]
    fn prop_view_construction_is_faithful(inp in any_input()) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            prop_assert_eq!(t.shape(), &inp.arr.shape[..]);
            prop_assert_eq!(t.dtype(), dt);
            prop_assert_eq!(t.to_vec_f64(), inp.arr.data.clone());
            let strided = inp.views.iter().any(|v| matches!(v, View::Step2(_) | View::Expand(_)));
            if strided && inp.arr.shape.iter().all(|&d| d > 1) {
                prop_assert!(!t.is_contiguous(), "{:?} should give a strided view", inp.views);
            }
        }
    }

    #[test]
    fn prop_reshape_matches_reference(
        (inp, (target, passed)) in any_input().prop_flat_map(|inp| {
            let s = inp.arr.shape.clone();
            (Just(inp), reshape_target(s))
        })
    ) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let got = t.reshape(passed.clone());
            assert_exact("reshape", &got, &Arr::new(&target, inp.arr.data.clone()), dt);
            if t.is_contiguous() {
                prop_assert!(got.shares_storage(&t), "reshape of a contiguous tensor is a view");
            }
            // And back.
            assert_exact("reshape back", &got.reshape(inp.arr.shape.clone()), &inp.arr, dt);
        }
    }

    #[test]
    fn prop_permute_matches_reference(
        (inp, perm, neg) in any_input().prop_flat_map(|inp| {
            let r = inp.arr.rank();
            (Just(inp), Just((0..r).collect::<Vec<usize>>()).prop_shuffle(), prop::collection::vec(any::<bool>(), r))
        })
    ) {
        let r = perm.len() as isize;
        let passed: Vec<isize> = perm.iter().zip(&neg).map(|(&p, &n)| if n { p as isize - r } else { p as isize }).collect();
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let got = t.permute(&passed);
            prop_assert!(got.shares_storage(&t));
            assert_exact("permute", &got, &permute_ref(&inp.arr, &perm), dt);
            // The inverse permutation restores x.
            assert_exact("permute round trip", &got.permute(&to_isize(&inverse_perm(&perm))), &inp.arr, dt);
        }
    }

    #[test]
    fn prop_transpose_matches_reference(
        (inp, (a, pa), (b, pb)) in input(1, 4, -2.0, 2.0).prop_flat_map(|inp| {
            let r = inp.arr.rank();
            (Just(inp), axis(r), axis(r))
        })
    ) {
        let mut perm: Vec<usize> = (0..inp.arr.rank()).collect();
        perm.swap(a, b);
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let got = t.transpose(pa, pb);
            assert_exact("transpose", &got, &permute_ref(&inp.arr, &perm), dt);
            assert_exact("transpose twice", &got.transpose(pb, pa), &inp.arr, dt);
            assert_exact("t().t()", &t.t().t(), &inp.arr, dt);
            if t.rank() >= 2 {
                let r = t.rank();
                let mut p: Vec<usize> = (0..r).collect();
                p.swap(r - 2, r - 1);
                assert_exact("t()", &t.t(), &permute_ref(&inp.arr, &p), dt);
            }
        }
    }

    #[test]
    fn prop_narrow_matches_reference(
        (inp, (a, pa), start, len) in input(1, 4, -2.0, 2.0).prop_flat_map(|inp| {
            let r = inp.arr.rank();
            (Just(inp), axis(r)).prop_flat_map(|(inp, (a, pa))| {
                let n = inp.arr.shape[a];
                (Just(inp), Just((a, pa)), 0..=n).prop_flat_map(move |(inp, ax, start)| {
                    (Just(inp), Just(ax), Just(start), 0..=n - start)
                })
            })
        })
    ) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let got = t.narrow(pa, start, len);
            prop_assert!(got.shares_storage(&t));
            assert_exact("narrow", &got, &slice_ref(&inp.arr, a, start, start + len, 1), dt);
        }
    }

    #[test]
    fn prop_slice_axis_matches_reference(
        (inp, (a, pa), start, end, step) in input(1, 4, -2.0, 2.0).prop_flat_map(|inp| {
            let r = inp.arr.rank();
            (Just(inp), axis(r)).prop_flat_map(|(inp, (a, pa))| {
                let n = inp.arr.shape[a];
                (Just(inp), Just((a, pa)), 0..=n, 1usize..=3).prop_flat_map(move |(inp, ax, start, step)| {
                    (Just(inp), Just(ax), Just(start), start..=n, Just(step))
                })
            })
        })
    ) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let got = t.slice_axis(pa, start, end, step);
            prop_assert!(got.shares_storage(&t));
            assert_exact("slice_axis", &got, &slice_ref(&inp.arr, a, start, end, step), dt);
            // Slicing a slice: every other element of the result.
            let n2 = got.shape()[a];
            assert_exact(
                "slice of a slice",
                &got.slice_axis(pa, 0, n2, 2),
                &slice_ref(&slice_ref(&inp.arr, a, start, end, step), a, 0, n2, 2),
                dt,
            );
        }
    }

    #[test]
    fn prop_broadcast_to_matches_reference(
        (inp, target) in shape(0, 3).prop_flat_map(|full| {
            (sub_shape(full.clone()), Just(full), shape(0, 1))
        }).prop_flat_map(|(small, full, lead)| {
            let mut target = lead;
            target.extend(full);
            (input_of(small, -2.0, 2.0), Just(target))
        })
    ) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let got = t.broadcast_to(&target);
            prop_assert!(got.shares_storage(&t));
            assert_exact("broadcast_to", &got, &broadcast_to_ref(&inp.arr, &target), dt);
        }
    }

    #[test]
    fn prop_squeeze_unsqueeze_match_reference(
        (inp, at) in any_input().prop_flat_map(|inp| {
            let r = inp.arr.rank() as isize;
            (Just(inp), -(r + 1)..=r)
        })
    ) {
        let r = inp.arr.rank() as isize;
        let d = if at < 0 { at + r + 1 } else { at } as usize;
        let mut shape = inp.arr.shape.clone();
        shape.insert(d, 1);
        let want = Arr::new(&shape, inp.arr.data.clone());
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let u = t.unsqueeze(at);
            prop_assert!(u.shares_storage(&t));
            assert_exact("unsqueeze", &u, &want, dt);
            assert_exact("squeeze(unsqueeze)", &u.squeeze(d as isize), &inp.arr, dt);
            assert_exact("squeeze negative", &u.squeeze(d as isize - (r + 1)), &inp.arr, dt);
            // Every size-1 dim of x squeezes away.
            for (k, &n) in inp.arr.shape.iter().enumerate() {
                let mut s = inp.arr.shape.clone();
                s.remove(k);
                if n == 1 {
                    assert_exact("squeeze", &t.squeeze(k as isize), &Arr::new(&s, inp.arr.data.clone()), dt);
                } else {
                    prop_assert!(t.try_squeeze(k as isize).is_err());
                }
            }
        }
    }

    #[test]
    fn prop_flatten_matches_reference(
        (inp, s, e) in input(1, 4, -2.0, 2.0).prop_flat_map(|inp| {
            let r = inp.arr.rank();
            (Just(inp), 0..r).prop_flat_map(move |(inp, s)| (Just(inp), Just(s), s..r))
        })
    ) {
        let sh = &inp.arr.shape;
        let mut shape: Vec<usize> = sh[..s].to_vec();
        shape.push(sh[s..=e].iter().product());
        shape.extend_from_slice(&sh[e + 1..]);
        let want = Arr::new(&shape, inp.arr.data.clone());
        for dt in DTYPES {
            let t = inp.tensor(dt);
            assert_exact("flatten", &t.flatten(s as isize, e as isize), &want, dt);
            let r = sh.len() as isize;
            assert_exact("flatten (negative axes)", &t.flatten(s as isize - r, e as isize - r), &want, dt);
        }
    }

    #[test]
    fn prop_contiguous_matches_reference(inp in any_input()) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let c = t.contiguous();
            prop_assert!(c.is_contiguous());
            assert_exact("contiguous", &c, &inp.arr, dt);
            // Row-major strides (size-0 and size-1 dims may have any stride).
            let want = strides_of(&inp.arr.shape);
            if inp.arr.numel() > 0 {
                for (d, &n) in inp.arr.shape.iter().enumerate() {
                    prop_assert!(n == 1 || c.strides()[d] == want[d]);
                }
            }
            // An already contiguous, whole tensor is returned as is.
            prop_assert!(c.contiguous().shares_storage(&c));
        }
    }

    /// Views compose: a chain of views read through `to_vec` equals the reference chain.
    #[test]
    fn prop_view_chains_match_reference(inp in input(2, 4, -2.0, 2.0)) {
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let r = t.rank();
            let mut p: Vec<usize> = (0..r).collect();
            p.rotate_left(1);
            let n0 = inp.arr.shape[0];
            let got = t.permute(&to_isize(&p)).slice_axis(-1, 0, n0, 2).unsqueeze(0).contiguous().squeeze(0);
            let want = slice_ref(&permute_ref(&inp.arr, &p), r - 1, 0, n0, 2);
            assert_exact("view chain", &got, &want, dt);
        }
    }
}

#[test]
fn zero_dim_views() {
    for dt in DTYPES {
        let s = Tensor::scalar(1.5, dt);
        assert_eq!(s.reshape([1, 1]).shape(), &[1, 1]);
        assert_eq!(s.unsqueeze(0).to_vec_f64(), vec![1.5]);
        assert_eq!(s.flatten(0, -1).shape(), &[1]);
        assert_eq!(s.permute(&[]).to_vec_f64(), vec![1.5]);
        assert_eq!(s.broadcast_to([2, 3]).to_vec_f64(), vec![1.5; 6]);
        assert_eq!(s.t().shape(), &[] as &[usize]);
        let e = Tensor::full_with([2, 0, 3], 1.0, dt);
        assert_eq!(e.reshape([0, 7]).shape(), &[0, 7]);
        assert_eq!(e.reshape([3, -1, 2]).shape(), &[3, 0, 2]);
        assert_eq!(e.t().shape(), &[2, 3, 0]);
    }
}
