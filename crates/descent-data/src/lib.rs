//! Data for descent: datasets, a seeded parallel loader, MNIST's IDX files and an embedded
//! digits set.
//!
//! - [`Dataset`]: samples of one shape, copied into a caller's buffer ([`Dataset::copy_sample`]);
//!   [`TensorDataset`] holds them in memory.
//! - [`DataLoader`]: batches (`[B, ..]` features, `[B]` labels), shuffled per epoch from a seed,
//!   filled in parallel with results equal to the serial ones, optionally augmented by a random
//!   shift ([`RandomShift`]), resumable at any batch ([`Epoch::skip_batches`]).
//! - [`idx`], [`mnist()`], [`fashion_mnist`]: the IDX reader, raw or gzip; every bad file is an
//!   [`Error::File`](descent_core::Error::File) naming it and the problem.
//! - [`digits()`]: the 8x8 digits set (1,797 images), embedded in the crate.
//! - [`Normalizer`], [`split()`], [`stratified_split`]: standardization and seeded splits.
//!
//! ```
//! use descent_data::{DataLoader, Normalizer, stratified_split};
//! let (train, validation) = stratified_split(&descent_data::digits(), 0.1, 0).unwrap();
//! let norm = Normalizer::per_channel(&train).unwrap();
//! let (train, validation) = (norm.apply(&train).unwrap(), norm.apply(&validation).unwrap());
//! let loader = DataLoader::new(train, 64).unwrap().shuffle(0).random_shift(1, 0).unwrap();
//! for batch in loader.epoch(0) {
//!     assert_eq!(&batch.features.shape()[1..], &[1, 8, 8]);
//! }
//! # let _ = validation;
//! ```
//!
//! All randomness comes from [`descent_core::rng`]: the same seed gives the same data order,
//! augmentation and split on every machine and with any thread count.
#![forbid(unsafe_code)]

pub mod augment;
pub mod dataset;
pub mod digits;
pub mod idx;
pub mod loader;
pub mod mnist;
pub mod normalize;
pub mod split;

pub use augment::RandomShift;
pub use dataset::{Dataset, TensorDataset};
pub use digits::{DIGITS_LEN, digits};
pub use loader::{Batch, DataLoader, Epoch};
pub use mnist::{FASHION_MNIST_CLASSES, Mnist, fashion_mnist, idx_dataset, mnist};
pub use normalize::Normalizer;
pub use split::{Holdout, split, split_indices, stratified_split, stratified_split_indices};
