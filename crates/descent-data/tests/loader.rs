//! The DataLoader: coverage, seeded order, batch sizes, parallel == serial, resuming, and the
//! random shift's independence from threads and batch composition.

use descent_core::{IntTensor, Tensor};
use descent_data::{Batch, DataLoader, Dataset, TensorDataset, digits};
use std::collections::HashSet;

/// `n` samples of shape `[2, 3, 3]` whose every feature is the sample's index; label `i % 7`.
fn indexed(n: usize) -> TensorDataset {
    let features: Vec<f32> = (0..n)
        .flat_map(|i| std::iter::repeat_n(i as f32, 18))
        .collect();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 7).collect();
    TensorDataset::new(
        Tensor::from_vec(features, [n, 2, 3, 3]),
        IntTensor::from(labels),
    )
    .unwrap()
}

/// The batches' sample indices.
fn indices(batches: impl Iterator<Item = Batch>) -> Vec<Vec<usize>> {
    batches.map(|b| b.indices).collect()
}

/// Bit patterns of a batch's features, for exact comparison.
fn bits(b: &Batch) -> Vec<u32> {
    b.features
        .to_vec_f32()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

#[test]
fn every_sample_once_per_epoch_with_its_own_features_and_label() {
    let data = indexed(103);
    for (bs, shuffle) in [
        (1, true),
        (10, true),
        (10, false),
        (64, true),
        (103, true),
        (500, false),
    ] {
        let mut loader = DataLoader::new(data.clone(), bs).unwrap();
        if shuffle {
            loader = loader.shuffle(5);
        }
        for epoch in 0..3 {
            let mut seen = vec![0usize; 103];
            for b in loader.epoch(epoch) {
                assert_eq!(b.features.shape(), &[b.len(), 2, 3, 3]);
                assert_eq!(b.labels.shape(), &[b.len()]);
                assert_eq!(b.epoch, epoch);
                let x = b.features.to_vec_f32();
                let y = b.labels.to_vec();
                for (row, &i) in b.indices.iter().enumerate() {
                    seen[i] += 1;
                    assert!(x[row * 18..(row + 1) * 18].iter().all(|&v| v == i as f32));
                    assert_eq!(y[row], i as i64 % 7);
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "bs {bs}: {seen:?}");
        }
    }
}

#[test]
fn unshuffled_order_is_the_dataset_order() {
    let loader = DataLoader::new(indexed(7), 3).unwrap();
    assert_eq!(
        indices(loader.epoch(4)),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
    );
}

#[test]
fn shuffles_are_reproducible_and_change_per_epoch() {
    let data = indexed(200);
    let a = DataLoader::new(data.clone(), 16).unwrap().shuffle(11);
    let b = DataLoader::new(data.clone(), 16).unwrap().shuffle(11);
    let c = DataLoader::new(data, 16).unwrap().shuffle(12);
    assert_eq!(indices(a.epoch(0)), indices(b.epoch(0)));
    assert_eq!(indices(a.epoch(3)), indices(b.epoch(3)));
    assert_ne!(a.order(0), a.order(1));
    assert_ne!(a.order(0), c.order(0));
    assert_ne!(a.order(0), (0..200).collect::<Vec<_>>());
    // The order is the rng's Fisher-Yates on stream "shuffle/<epoch>": pinned by descent-core.
    let mut expected: Vec<usize> = (0..200).collect();
    descent_core::rng::Seeds::new(11)
        .stream("shuffle/2")
        .shuffle(&mut expected);
    assert_eq!(a.order(2), expected);
}

#[test]
fn last_batch_is_smaller_unless_drop_last() {
    let data = indexed(103);
    let keep = DataLoader::new(data.clone(), 10).unwrap().shuffle(1);
    let sizes: Vec<usize> = keep.epoch(0).map(|b| b.len()).collect();
    assert_eq!(sizes, [vec![10; 10], vec![3]].concat());
    assert_eq!(keep.num_batches(), 11);
    let drop = keep.clone().drop_last(true);
    let sizes: Vec<usize> = drop.epoch(0).map(|b| b.len()).collect();
    assert_eq!(sizes, vec![10; 10]);
    assert_eq!(drop.num_batches(), 10);
    // The dropped samples are the tail of the same order.
    let kept: HashSet<usize> = drop.epoch(0).flat_map(|b| b.indices).collect();
    let dropped: Vec<usize> = drop.order(0)[100..].to_vec();
    assert!(dropped.iter().all(|i| !kept.contains(i)));
    // A batch larger than the set with drop_last gives no batch at all.
    let none = DataLoader::new(indexed(5), 8).unwrap().drop_last(true);
    assert_eq!(none.epoch(0).count(), 0);
}

#[test]
fn sgd_minibatch_and_full_batch_are_settings() {
    let data = indexed(9);
    assert_eq!(DataLoader::new(data.clone(), 1).unwrap().epoch(0).len(), 9);
    let full = DataLoader::full_batch(data.clone()).shuffle(3);
    let batches: Vec<Batch> = full.epoch(0).collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].features.shape(), &[9, 2, 3, 3]);
    let empty = DataLoader::full_batch(indexed(0));
    assert_eq!(empty.epoch(0).count(), 0);
    let e = DataLoader::new(data, 0).unwrap_err();
    assert_eq!(
        e.to_string(),
        "DataLoader::new: batch_size must be at least 1"
    );
}

#[test]
fn parallel_equals_serial_bit_for_bit_at_any_thread_count() {
    // 1797 digits in batches of 512: each batch is above the parallel cut-off.
    let loader = DataLoader::new(digits(), 512)
        .unwrap()
        .shuffle(3)
        .random_shift(2, 9)
        .unwrap();
    let serial: Vec<Batch> = loader.clone().parallel(false).epoch(1).collect();
    for threads in [1, 2, 3, 8] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let parallel: Vec<Batch> = pool.install(|| loader.epoch(1).collect());
        assert_eq!(parallel.len(), serial.len());
        for (p, s) in parallel.iter().zip(&serial) {
            assert_eq!(bits(p), bits(s), "{threads} threads");
            assert_eq!(p.labels, s.labels);
            assert_eq!(p.indices, s.indices);
        }
    }
}

#[test]
fn resuming_mid_epoch_gives_the_remaining_batches() {
    let loader = DataLoader::new(digits(), 100)
        .unwrap()
        .shuffle(21)
        .random_shift(1, 21)
        .unwrap();
    let full: Vec<Batch> = loader.epoch(2).collect();
    assert_eq!(full.len(), 18);
    for k in [0, 1, 7, 17, 18, 50] {
        let mut resumed = loader.epoch(2).skip_batches(k);
        assert_eq!(resumed.position(), k.min(18));
        assert_eq!(resumed.len(), 18 - k.min(18));
        let rest: Vec<Batch> = resumed.by_ref().collect();
        assert_eq!(rest.len(), full.len().saturating_sub(k));
        for (r, f) in rest.iter().zip(&full[k.min(18)..]) {
            assert_eq!(r.position, f.position);
            assert_eq!(r.indices, f.indices);
            assert_eq!(bits(r), bits(f));
        }
        assert_eq!(resumed.position(), 18);
    }
    // Position counts yielded batches; a fresh loader built with the same settings resumes too.
    let mut e = loader.epoch(2);
    e.next();
    e.next();
    assert_eq!(e.position(), 2);
    let again = DataLoader::new(digits(), 100)
        .unwrap()
        .shuffle(21)
        .random_shift(1, 21)
        .unwrap();
    let next = again.epoch(2).skip_batches(e.position()).next().unwrap();
    assert_eq!(bits(&next), bits(&e.next().unwrap()));
}

#[test]
fn shift_depends_on_the_sample_not_on_the_batch() {
    let base = DataLoader::new(digits(), 7)
        .unwrap()
        .shuffle(4)
        .random_shift(2, 4)
        .unwrap();
    let other = DataLoader::new(digits(), 300)
        .unwrap()
        .shuffle(4)
        .random_shift(2, 4)
        .unwrap();
    let rows = |loader: &DataLoader| {
        let mut rows = vec![Vec::new(); 1797];
        for b in loader.epoch(0) {
            let x = b.features.to_vec_f32();
            for (r, &i) in b.indices.iter().enumerate() {
                rows[i] = x[r * 64..(r + 1) * 64].to_vec();
            }
        }
        rows
    };
    let (a, b) = (rows(&base), rows(&other));
    assert_eq!(a, b);
    // The shift really moved images, and differs between epochs.
    let plain = digits();
    let moved = (0..1797)
        .filter(|&i| a[i] != plain.get(i).0.to_vec_f32())
        .count();
    assert!(moved > 1000, "{moved}");
    let e0: Vec<Vec<usize>> = indices(base.epoch(0));
    let e1 = base.epoch(1).next().unwrap();
    let e0_first = base.epoch(0).next().unwrap();
    assert_ne!(e0[0], e1.indices);
    assert_ne!(bits(&e0_first), bits(&e1));
    // Shifted pixels are the original ones or zeros.
    let p = plain.get(5).0.to_vec_f32();
    let zero_or_original = a[5].iter().all(|v| *v == 0.0 || p.contains(v));
    assert!(zero_or_original);
}

#[test]
fn shift_needs_images() {
    let flat = TensorDataset::new(Tensor::zeros([4, 6]), IntTensor::zeros([4])).unwrap();
    let e = DataLoader::new(flat, 2)
        .unwrap()
        .random_shift(1, 0)
        .unwrap_err();
    assert!(e.to_string().contains("[.., height, width]"), "{e}");
}

/// A dataset computed on the fly: sample `i` is `[i, -i]`, label `i % 2`.
struct Generated;

impl Dataset for Generated {
    fn len(&self) -> usize {
        5
    }
    fn sample_shape(&self) -> &[usize] {
        &[2]
    }
    fn copy_sample(&self, index: usize, out: &mut [f32]) -> i64 {
        assert!(index < 5);
        out.copy_from_slice(&[index as f32, -(index as f32)]);
        (index % 2) as i64
    }
}

#[test]
fn any_dataset_can_be_loaded() {
    let loader = DataLoader::new(Generated, 2).unwrap();
    let b: Vec<Batch> = loader.epoch(0).collect();
    assert_eq!(b.len(), 3);
    assert_eq!(b[1].features.to_vec_f32(), vec![2.0, -2.0, 3.0, -3.0]);
    assert_eq!(b[1].labels.to_vec(), vec![0, 1]);
    // Shared through an Arc.
    let shared = std::sync::Arc::new(Generated);
    let loader = DataLoader::from_arc(shared.clone(), 5).unwrap();
    assert_eq!(loader.epoch(0).next().unwrap().len(), 5);
    assert_eq!(shared.get(3).1, 1);
}

#[test]
fn loaders_and_epochs_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<DataLoader>();
    send_sync::<descent_data::Epoch>();
    send_sync::<Batch>();
    send_sync::<TensorDataset>();
    let loader = DataLoader::new(indexed(10), 4).unwrap().shuffle(1);
    let epoch = loader.epoch(0).skip_batches(1);
    let from_thread = std::thread::spawn(move || indices(epoch)).join().unwrap();
    assert_eq!(from_thread, indices(loader.epoch(0).skip(1)));
}

#[test]
fn sharded_loaders_partition_every_batch_of_every_epoch() {
    // 1797 samples in batches of 100: 17 full batches and one of 97, dealt to 1-4 ranks.
    let loader = DataLoader::new(descent_data::digits(), 100)
        .unwrap()
        .shuffle(5)
        .random_shift(1, 5)
        .unwrap();
    for world in 1..=4 {
        let shards: Vec<DataLoader> = (0..world)
            .map(|r| loader.clone().shard(r, world).unwrap())
            .collect();
        for epoch in 0..3 {
            let whole: Vec<_> = loader.epoch(epoch).collect();
            let parts: Vec<Vec<_>> = shards.iter().map(|s| s.epoch(epoch).collect()).collect();
            for (k, batch) in whole.iter().enumerate() {
                let mut indices = Vec::new();
                let mut rows = Vec::new();
                for (r, p) in parts.iter().enumerate() {
                    assert_eq!(p.len(), whole.len(), "rank {r} runs as many batches");
                    assert_eq!(p[k].position, k);
                    let n = p[k].len();
                    assert!(n == batch.len() / world || n == batch.len() / world + 1);
                    indices.extend(p[k].indices.iter().copied());
                    rows.extend(p[k].features.to_vec_f32());
                }
                // Disjoint and complete, in the global batch's order, with the same
                // augmented pixels.
                assert_eq!(indices, batch.indices);
                assert_eq!(rows, batch.features.to_vec_f32());
            }
            // Resuming a shard at position k gives its remaining batches.
            let resumed: Vec<_> = shards[world - 1]
                .epoch(epoch)
                .skip_batches(5)
                .map(|b| b.indices)
                .collect();
            let expected: Vec<_> = parts[world - 1][5..]
                .iter()
                .map(|b| b.indices.clone())
                .collect();
            assert_eq!(resumed, expected);
        }
    }
    assert!(loader.clone().shard(4, 4).is_err());
    assert!(loader.clone().shard(0, 0).is_err());
}
