//! Normalization (including constant features) and seeded splits.

use descent_core::{IntTensor, Tensor};
use descent_data::{
    Dataset, Holdout, Normalizer, TensorDataset, digits, split, split_indices, stratified_split,
};
use std::collections::HashSet;

fn dataset(features: Vec<f32>, shape: &[usize]) -> TensorDataset {
    let n = shape[0];
    TensorDataset::new(
        Tensor::from_vec(features, shape),
        IntTensor::from((0..n as i64).map(|i| i % 3).collect::<Vec<_>>()),
    )
    .unwrap()
}

#[test]
fn constant_features_are_centred_not_scaled() {
    // Feature 0 varies; feature 1 is 0.1 everywhere (its f64 mean rounds, yet it must become
    // exactly 0); feature 2 is 0 everywhere; feature 3 is a huge constant.
    let n = 1001;
    let x: Vec<f32> = (0..n)
        .flat_map(|i| [i as f32 * 0.37, 0.1, 0.0, 3.0e30])
        .collect();
    let d = dataset(x, &[n, 4]);
    let norm = Normalizer::per_feature(&d);
    assert_eq!(&norm.std()[1..], &[0.0, 0.0, 0.0]);
    assert_eq!(&norm.mean()[1..], &[0.1, 0.0, 3.0e30]);
    let z = norm.apply(&d).unwrap();
    let z = z.feature_slice();
    assert!(z.iter().all(|v| v.is_finite()));
    for row in z.chunks_exact(4) {
        assert_eq!(&row[1..], &[0.0, 0.0, 0.0]);
    }
    // The varying feature is standardized: mean 0, population std 1.
    let f0: Vec<f64> = z.chunks_exact(4).map(|r| f64::from(r[0])).collect();
    let mean = f0.iter().sum::<f64>() / n as f64;
    let var = f0.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    assert!(
        mean.abs() < 1e-6 && (var.sqrt() - 1.0).abs() < 1e-5,
        "{mean} {var}"
    );
}

#[test]
fn per_channel_statistics_apply_to_another_set() {
    // Two channels of 2x2: channel 0 holds 1..=4 in every sample, channel 1 is constant 7.
    let sample = [1.0f32, 2.0, 3.0, 4.0, 7.0, 7.0, 7.0, 7.0];
    let train = dataset(sample.repeat(3), &[3, 2, 2, 2]);
    let norm = Normalizer::per_channel(&train).unwrap();
    assert_eq!(norm.mean(), &[2.5, 7.0]);
    let s = (1.25f64).sqrt() as f32;
    assert_eq!(norm.std(), &[s, 0.0]);
    let test = dataset(
        vec![2.5, 2.5, 2.5, 2.5 + 2.0 * s, 8.0, 7.0, 7.0, 7.0],
        &[1, 2, 2, 2],
    );
    let z = norm.apply(&test).unwrap();
    let z = z.feature_slice();
    assert_eq!(z[..3], [0.0, 0.0, 0.0]);
    assert!((z[3] - 2.0).abs() < 1e-6, "{}", z[3]);
    // The constant channel is centred only: 8 - 7 = 1, 7 - 7 = 0.
    assert_eq!(z[4..], [1.0, 0.0, 0.0, 0.0]);
    // Statistics of another shape do not fit.
    let other = dataset(vec![0.0; 6], &[1, 3, 2]);
    assert!(norm.apply(&other).is_err());
    let flat = dataset(vec![0.0; 6], &[6]);
    assert!(Normalizer::per_channel(&flat).is_err());
}

#[test]
fn given_channel_statistics() {
    let norm = Normalizer::from_channel_stats(vec![0.5], vec![0.25]).unwrap();
    let mut x = [0.5f32, 1.0, 0.0];
    norm.normalize(&mut x).unwrap();
    assert_eq!(x, [0.0, 2.0, -2.0]);
    let z = norm.apply(&digits()).unwrap();
    assert_eq!(z.features().shape(), &[1797, 1, 8, 8]);
    assert!(Normalizer::from_channel_stats(vec![0.0], vec![-1.0]).is_err());
    assert!(Normalizer::from_channel_stats(vec![0.0; 2], vec![1.0]).is_err());
    assert!(Normalizer::from_channel_stats(vec![f32::NAN], vec![1.0]).is_err());
    let centre_only = Normalizer::from_channel_stats(vec![1.0], vec![0.0]).unwrap();
    let mut y = [3.0f32];
    centre_only.normalize(&mut y).unwrap();
    assert_eq!(y, [2.0]);
}

#[test]
fn split_sizes_disjoint_and_complete() {
    for (n, holdout, k) in [
        (100, Holdout::Fraction(0.2), 20),
        (101, Holdout::Fraction(0.25), 25),
        (10, Holdout::Count(3), 3),
        (10, Holdout::Fraction(0.0), 0),
        (10, Holdout::Fraction(1.0), 10),
        (0, Holdout::Fraction(0.5), 0),
    ] {
        let (train, validation) = split_indices(n, holdout, 5).unwrap();
        assert_eq!(validation.len(), k);
        assert_eq!(train.len(), n - k);
        let all: HashSet<usize> = train.iter().chain(&validation).copied().collect();
        assert_eq!(all.len(), n);
        assert!(train.is_sorted() && validation.is_sorted());
    }
    assert_eq!(
        split_indices(50, 0.3, 1).unwrap(),
        split_indices(50, 0.3, 1).unwrap()
    );
    assert_ne!(
        split_indices(50, 0.3, 1).unwrap(),
        split_indices(50, 0.3, 2).unwrap()
    );
    assert!(split_indices(10, 1.5, 0).is_err());
    assert!(split_indices(10, -0.1, 0).is_err());
    assert!(split_indices(10, f64::NAN, 0).is_err());
    assert!(split_indices(10, 11usize, 0).is_err());
}

#[test]
fn split_datasets_hold_the_right_samples() {
    let d = digits();
    let (train, validation) = split(&d, 300usize, 8).unwrap();
    assert_eq!((train.len(), validation.len()), (1497, 300));
    let (ti, vi) = split_indices(1797, 300usize, 8).unwrap();
    for (part, idx) in [(&train, &ti), (&validation, &vi)] {
        for (row, &i) in idx.iter().enumerate().step_by(37) {
            assert_eq!(part.get(row).0, d.get(i).0);
            assert_eq!(part.get(row).1, d.get(i).1);
        }
    }
}

#[test]
fn stratified_split_keeps_proportions() {
    let d = digits();
    let (train, validation) = stratified_split(&d, 0.5, 3).unwrap();
    assert_eq!(train.len() + validation.len(), 1797);
    assert_eq!(validation.len(), 899); // 898.5 rounds to 899
    let full = d.label_counts();
    for (c, &v) in validation.label_counts().iter().enumerate() {
        let share = full[c] as f64 / 2.0;
        assert!(
            (v as f64 - share).abs() <= 1.0,
            "class {c}: {v} of {}",
            full[c]
        );
    }
    let (_, again) = stratified_split(&d, 0.5, 3).unwrap();
    assert_eq!(again, validation);
    let bad = TensorDataset::new(Tensor::zeros([2, 1]), IntTensor::from(vec![0, -1])).unwrap();
    assert!(stratified_split(&bad, 1usize, 0).is_err());
}
