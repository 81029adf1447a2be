//! Seeded train/validation splits, plain or stratified.
//!
//! [`split()`] draws a permutation of `0..N` from the stream `"split"` of
//! [`Seeds::new(seed)`](descent_core::rng::Seeds) and holds out its first `k` samples;
//! [`stratified_split`] does the same within each class (stream `"split/<label>"`), holding out
//! from each class its share of `k` (largest remainders, ties to the smaller label), so both
//! parts keep the class proportions. Each part keeps the samples in their original order; the
//! two parts are disjoint and together hold every sample once.
//!
//! ```
//! use descent_data::{Dataset, split, stratified_split};
//! let digits = descent_data::digits();
//! let (train, validation) = split(&digits, 0.2, 7).unwrap();
//! assert_eq!((train.len(), validation.len()), (1438, 359)); // 0.2 * 1797 = 359.4
//! let (train, validation) = stratified_split(&digits, 180, 7).unwrap();
//! assert_eq!(validation.label_counts(), vec![18; 10]);
//! assert_eq!(train.len(), 1797 - 180);
//! ```

use crate::dataset::TensorDataset;
use descent_core::error::{Error, Result};
use descent_core::rng::Seeds;

/// How much of a dataset to hold out for validation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Holdout {
    /// A fraction in `[0, 1]` of the samples, rounded to the nearest count.
    Fraction(f64),
    /// A number of samples.
    Count(usize),
}

impl From<f64> for Holdout {
    fn from(fraction: f64) -> Holdout {
        Holdout::Fraction(fraction)
    }
}

impl From<usize> for Holdout {
    fn from(count: usize) -> Holdout {
        Holdout::Count(count)
    }
}

impl Holdout {
    /// The number of samples held out of `n`.
    ///
    /// # Errors
    /// If the fraction is not in `[0, 1]` or the count exceeds `n`.
    pub fn count(self, n: usize) -> Result<usize> {
        match self {
            Holdout::Fraction(f) if (0.0..=1.0).contains(&f) => Ok((f * n as f64).round() as usize),
            Holdout::Count(k) if k <= n => Ok(k),
            _ => Err(Error::InvalidArgument {
                op: "split",
                message: format!(
                    "cannot hold out {self:?} of {n} samples: a fraction must be in [0, 1], a \
                     count at most {n}"
                ),
            }),
        }
    }
}

/// The indices `(train, validation)` of a seeded split of `0..n`, each in increasing order.
///
/// # Errors
/// As [`Holdout::count`].
pub fn split_indices(
    n: usize,
    holdout: impl Into<Holdout>,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let k = holdout.into().count(n)?;
    let mut order: Vec<usize> = (0..n).collect();
    Seeds::new(seed).stream("split").shuffle(&mut order);
    let mut validation = order[..k].to_vec();
    let mut train = order[k..].to_vec();
    validation.sort_unstable();
    train.sort_unstable();
    Ok((train, validation))
}

/// The indices `(train, validation)` of a seeded split of samples with class labels `labels`,
/// holding out each class's share; each part in increasing order.
///
/// # Errors
/// As [`Holdout::count`], or if a label is negative.
pub fn stratified_split_indices(
    labels: &[i64],
    holdout: impl Into<Holdout>,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let n = labels.len();
    let k = holdout.into().count(n)?;
    let mut classes: Vec<Vec<usize>> = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        let c = usize::try_from(l).map_err(|_| Error::InvalidArgument {
            op: "stratified_split",
            message: format!("label {l} of sample {i} is negative"),
        })?;
        if c >= classes.len() {
            classes.resize_with(c + 1, Vec::new);
        }
        classes[c].push(i);
    }
    // Each class holds out floor(k * n_c / n); the rest go to the largest remainders.
    let mut quota: Vec<usize> = classes.iter().map(|c| k * c.len() / n.max(1)).collect();
    let mut by_remainder: Vec<usize> = (0..classes.len()).collect();
    by_remainder.sort_by_key(|&c| std::cmp::Reverse((k * classes[c].len()) % n.max(1)));
    let short = k - quota.iter().sum::<usize>();
    for &c in by_remainder.iter().take(short) {
        quota[c] += 1;
    }
    let seeds = Seeds::new(seed);
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for (c, members) in classes.iter_mut().enumerate() {
        seeds.stream(&format!("split/{c}")).shuffle(members);
        validation.extend_from_slice(&members[..quota[c]]);
        train.extend_from_slice(&members[quota[c]..]);
    }
    validation.sort_unstable();
    train.sort_unstable();
    Ok((train, validation))
}

/// Splits `data` into `(train, validation)` by a seeded permutation; see the
/// [module docs](self).
///
/// # Errors
/// As [`Holdout::count`].
pub fn split(
    data: &TensorDataset,
    holdout: impl Into<Holdout>,
    seed: u64,
) -> Result<(TensorDataset, TensorDataset)> {
    let (train, validation) = split_indices(data.label_slice().len(), holdout, seed)?;
    Ok((data.subset(&train)?, data.subset(&validation)?))
}

/// Splits `data` into `(train, validation)` keeping the class proportions; see the
/// [module docs](self).
///
/// # Errors
/// As [`Holdout::count`], or if a label is negative.
pub fn stratified_split(
    data: &TensorDataset,
    holdout: impl Into<Holdout>,
    seed: u64,
) -> Result<(TensorDataset, TensorDataset)> {
    let (train, validation) = stratified_split_indices(data.label_slice(), holdout, seed)?;
    Ok((data.subset(&train)?, data.subset(&validation)?))
}
