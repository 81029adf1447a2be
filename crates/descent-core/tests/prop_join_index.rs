//! `concat`, `stack`, `split`, `split_sizes`, `index_select`, `gather` and `one_hot` against
//! reference index arithmetic, on contiguous and non-contiguous inputs, f32 and f64.

mod common;

use common::*;
use descent_core::{IntTensor, Tensor};
use proptest::prelude::*;

/// 1..=4 inputs that agree on every dim but `axis`.
fn concat_case() -> impl Strategy<Value = (Vec<Input>, usize, isize)> {
    shape(1, 4)
        .prop_flat_map(|s| {
            let r = s.len();
            (Just(s), axis(r), prop::collection::vec(dim(), 1..=4))
        })
        .prop_flat_map(|(s, (a, pa), sizes)| {
            let inputs: Vec<_> = sizes
                .into_iter()
                .map(|n| {
                    let mut si = s.clone();
                    si[a] = n;
                    input_of(si, -2.0, 2.0)
                })
                .collect();
            (inputs, Just(a), Just(pa))
        })
}

/// Whole numbers of a reference array as an integer tensor.
fn int_of(a: &Arr) -> IntTensor {
    IntTensor::from_vec(a.data.iter().map(|&v| v as i64).collect(), &a.shape)
}

proptest! {
    #[test]
    fn prop_concat_matches_reference((inputs, a, pa) in concat_case()) {
        let arrs: Vec<Arr> = inputs.iter().map(|i| i.arr.clone()).collect();
        let want = concat_ref(&arrs, a);
        for dt in DTYPES {
            let ts: Vec<Tensor> = inputs.iter().map(|i| i.tensor(dt)).collect();
            assert_exact("concat", &Tensor::concat(&ts, pa), &want, dt);
            let refs: Vec<&Tensor> = ts.iter().collect();
            assert_exact("concat (refs)", &Tensor::concat(&refs, pa), &want, dt);
        }
    }

    #[test]
    fn prop_stack_matches_reference(
        (inputs, at) in shape(0, 3).prop_flat_map(|s| {
            let r = s.len() as isize;
            (prop::collection::vec(input_of(s, -2.0, 2.0), 1..=4), -(r + 1)..=r)
        })
    ) {
        let r = inputs[0].arr.rank() as isize;
        let d = if at < 0 { at + r + 1 } else { at } as usize;
        let parts: Vec<Arr> = inputs
            .iter()
            .map(|i| {
                let mut s = i.arr.shape.clone();
                s.insert(d, 1);
                Arr::new(&s, i.arr.data.clone())
            })
            .collect();
        let want = concat_ref(&parts, d);
        for dt in DTYPES {
            let ts: Vec<Tensor> = inputs.iter().map(|i| i.tensor(dt)).collect();
            assert_exact("stack", &Tensor::stack(&ts, at), &want, dt);
        }
    }

    #[test]
    fn prop_split_matches_reference(
        (inp, (a, pa), size) in input(1, 4, -2.0, 2.0).prop_flat_map(|inp| {
            let r = inp.arr.rank();
            (Just(inp), axis(r), 1usize..=6)
        })
    ) {
        let n = inp.arr.shape[a];
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let parts = t.split(size, pa);
            prop_assert_eq!(parts.len(), n.div_ceil(size));
            for (j, p) in parts.iter().enumerate() {
                let start = j * size;
                let end = (start + size).min(n);
                prop_assert!(p.shares_storage(&t), "split returns views");
                assert_exact("split piece", p, &slice_ref(&inp.arr, a, start, end, 1), dt);
            }
            // Round trip (when there is a piece to concatenate).
            if !parts.is_empty() {
                assert_exact("concat(split)", &Tensor::concat(&parts, pa), &inp.arr, dt);
            }
        }
    }

    #[test]
    fn prop_split_sizes_matches_reference(
        (inp, (a, pa), cuts) in input(1, 4, -2.0, 2.0).prop_flat_map(|inp| {
            let r = inp.arr.rank();
            (Just(inp), axis(r)).prop_flat_map(|(inp, (a, pa))| {
                let n = inp.arr.shape[a];
                (Just(inp), Just((a, pa)), prop::collection::vec(0..=n, 0..=3))
            })
        })
    ) {
        let n = inp.arr.shape[a];
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut bounds = vec![0];
        bounds.extend(cuts);
        bounds.push(n);
        let sizes: Vec<usize> = bounds.windows(2).map(|w| w[1] - w[0]).collect();
        for dt in DTYPES {
            let t = inp.tensor(dt);
            let parts = t.split_sizes(&sizes, pa);
            prop_assert_eq!(parts.len(), sizes.len());
            for (j, p) in parts.iter().enumerate() {
                assert_exact("split_sizes piece", p, &slice_ref(&inp.arr, a, bounds[j], bounds[j + 1], 1), dt);
            }
            assert_exact("concat(split_sizes)", &Tensor::concat(&parts, pa), &inp.arr, dt);
        }
    }

    #[test]
    fn prop_index_select_matches_reference(
        (inp, (a, pa), idx) in shape(1, 4).prop_flat_map(|s| {
            let r = s.len();
            (Just(s), axis(r))
        }).prop_flat_map(|(mut s, (a, pa))| {
            // The indexed axis is non-empty so indices exist.
            s[a] = s[a].max(1);
            let n = s[a];
            (input_of(s, -2.0, 2.0), Just((a, pa)), prop::collection::vec(0..n, 0..=6))
        })
    ) {
        let want = index_select_ref(&inp.arr, a, &idx);
        for dt in DTYPES {
            let it = IntTensor::from(&idx[..]);
            assert_exact("index_select", &inp.tensor(dt).index_select(pa, &it), &want, dt);
            // A strided index view works too.
            let mut doubled = Vec::new();
            for &i in &idx { doubled.extend([i, 0]); }
            let iv = IntTensor::from(&doubled[..]).slice_axis(0, 0, doubled.len(), 2);
            assert_exact("index_select (strided index)", &inp.tensor(dt).index_select(pa, &iv), &want, dt);
        }
    }

    #[test]
    fn prop_gather_matches_reference(
        (inp, (a, pa), index) in shape(1, 4).prop_flat_map(|s| {
            let r = s.len();
            (Just(s), axis(r))
        }).prop_flat_map(|(mut s, (a, pa))| {
            s[a] = s[a].max(1);
            let n = s[a];
            // Index dims: at most x's outside the axis, anything along it.
            let dims: Vec<BoxedStrategy<usize>> = s
                .iter()
                .enumerate()
                .map(|(d, &sd)| if d == a { (0usize..=5).boxed() } else { (0..=sd).boxed() })
                .collect();
            (input_of(s, -2.0, 2.0), Just((a, pa)), dims).prop_flat_map(move |(inp, ax, ishape)| {
                let k = numel(&ishape);
                (Just(inp), Just(ax), prop::collection::vec((0..n).prop_map(|v| v as f64), k)
                    .prop_map(move |v| Arr::new(&ishape, v)))
            })
        })
    ) {
        let want = gather_ref(&inp.arr, a, &index);
        for dt in DTYPES {
            let it = int_of(&index);
            assert_exact("gather", &inp.tensor(dt).gather(pa, &it), &want, dt);
            // A transposed index (non-contiguous) gives the transposed selection.
            if index.rank() >= 2 && inp.arr.rank() >= 2 {
                let r = index.rank();
                let mut p: Vec<usize> = (0..r).collect();
                p.swap(r - 2, r - 1);
                let xt = inp.tensor(dt).t();
                let ax = if a == r - 1 { r - 2 } else if a == r - 2 { r - 1 } else { a };
                let it_t = it.t();
                if (0..r).all(|d| d == ax || it_t.shape()[d] <= xt.shape()[d]) {
                    let want_t = gather_ref(&permute_ref(&inp.arr, &p), ax, &permute_ref(&index, &p));
                    assert_exact("gather (transposed)", &xt.gather(ax as isize, &it_t), &want_t, dt);
                }
            }
        }
    }

    #[test]
    fn prop_one_hot_matches_reference(
        (labels, classes) in (1usize..=6).prop_flat_map(|c| {
            (shape(0, 3).prop_flat_map(move |s| {
                let k = numel(&s);
                prop::collection::vec((0..c).prop_map(|v| v as f64), k).prop_map(move |v| Arr::new(&s, v))
            }), Just(c))
        })
    ) {
        let want = one_hot_ref(&labels, classes);
        for dt in DTYPES {
            assert_exact("one_hot", &int_of(&labels).one_hot(classes).to_dtype(dt), &want, dt);
            // Labels in a transposed view.
            if labels.rank() >= 2 {
                let r = labels.rank();
                let mut p: Vec<usize> = (0..r).collect();
                p.swap(r - 2, r - 1);
                let want_t = one_hot_ref(&permute_ref(&labels, &p), classes);
                assert_exact("one_hot (transposed labels)", &int_of(&labels).t().one_hot(classes).to_dtype(dt), &want_t, dt);
            }
        }
    }
}
