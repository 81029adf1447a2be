//! The real MNIST and Fashion-MNIST files of the developers' shared folder, when present:
//! `<repo>/../shared/data/` (the crate's `../../../shared/data`). Absent, the tests print why
//! and pass, except under `CI=true`, where the data must be there.

use descent_data::{Dataset, FASHION_MNIST_CLASSES, fashion_mnist, mnist};
use std::path::PathBuf;

/// The data folder `name`, or `None` (with the reason printed) when it is absent outside CI.
fn data_dir(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    let reason = format!("{} is absent", dir.display());
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and {reason}"
    );
    eprintln!("skipped: {reason}");
    None
}

/// Mean of all features times 255 (the README quotes mean pixels in 0..255).
fn mean_pixel(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64 * 255.0
}

#[test]
fn real_mnist_counts_and_histograms() {
    let Some(dir) = data_dir("mnist") else { return };
    let m = mnist(&dir).unwrap();
    assert_eq!(m.train.features().shape(), &[60000, 1, 28, 28]);
    assert_eq!(m.test.features().shape(), &[10000, 1, 28, 28]);
    assert_eq!(
        m.train.label_counts(),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        m.test.label_counts(),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert!((mean_pixel(m.train.feature_slice()) - 33.318).abs() < 1e-3);
    assert!((mean_pixel(m.test.feature_slice()) - 33.791).abs() < 1e-3);
    let x = m.train.feature_slice();
    assert!(x.contains(&0.0) && x.contains(&1.0));
    assert_eq!(m.train.sample_shape(), &[1, 28, 28]);
}

#[test]
fn real_fashion_mnist_counts() {
    let Some(dir) = data_dir("fashion-mnist") else {
        return;
    };
    let m = fashion_mnist(&dir).unwrap();
    assert_eq!(m.train.len(), 60000);
    assert_eq!(m.test.len(), 10000);
    assert_eq!(m.train.label_counts(), vec![6000; 10]);
    assert_eq!(m.test.label_counts(), vec![1000; 10]);
    assert!((mean_pixel(m.train.feature_slice()) - 72.940).abs() < 1e-3);
    assert_eq!(FASHION_MNIST_CLASSES[9], "Ankle boot");
}
