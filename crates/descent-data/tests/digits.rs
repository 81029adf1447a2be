//! The embedded 8x8 digits set.

use descent_data::{DIGITS_LEN, Dataset, digits};

#[test]
fn count_shape_and_label_histogram() {
    let d = digits();
    assert_eq!(d.len(), DIGITS_LEN);
    assert_eq!(d.len(), 1797);
    assert_eq!(d.features().shape(), &[1797, 1, 8, 8]);
    assert_eq!(d.sample_shape(), &[1, 8, 8]);
    assert_eq!(
        d.label_counts(),
        vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    );
}

#[test]
fn values_are_sixteenths_in_unit_range() {
    let d = digits();
    let x = d.feature_slice();
    assert!(
        x.iter()
            .all(|&v| (0.0..=1.0).contains(&v) && (v * 16.0).fract() == 0.0)
    );
    assert!(x.contains(&1.0) && x.contains(&0.0));
    // The first image of scikit-learn's `load_digits()`, a 0; its first row is 0 0 5 13 9 1 0 0.
    let (first, label) = d.get(0);
    assert_eq!(label, 0);
    let row: Vec<f32> = [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]
        .iter()
        .map(|v| v / 16.0)
        .collect();
    assert_eq!(first.to_vec_f32()[..8], row[..]);
}

#[test]
fn calls_share_one_parse() {
    let (a, b) = (digits(), digits());
    assert!(a.features().shares_storage(b.features()));
}
