//! MNIST and Fashion-MNIST from their four standard IDX files.
//!
//! A directory holds `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each raw or gzip-compressed with a
//! `.gz` suffix (the `.gz` file is read when both exist). Images become `f32` values in `[0, 1]`
//! (each byte divided by 255, as torchvision's `ToTensor`) of shape `[N, 1, 28, 28]`: one
//! channel, as a convolution expects; flattening to `[N, 784]` is the model's job (a `Flatten`
//! layer or a `reshape`). Labels are `0..=9`.

use crate::dataset::TensorDataset;
use crate::idx::{self, IdxImages};
use descent_core::error::Result;
use descent_core::io::file_error;
use descent_core::{IntTensor, Tensor};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The training and test sets of MNIST or Fashion-MNIST.
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist {
    /// 60,000 images `[60000, 1, 28, 28]` and labels in the standard distribution.
    pub train: TensorDataset,
    /// 10,000 images `[10000, 1, 28, 28]` and labels in the standard distribution.
    pub test: TensorDataset,
}

/// The class names of Fashion-MNIST, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Side of an MNIST image, in pixels.
const SIDE: usize = 28;

/// Reads MNIST from `dir` (see the [module docs](self) for the files and the tensors).
///
/// ```no_run
/// let mnist = descent_data::mnist("data/mnist")?;
/// assert_eq!(mnist.train.features().shape(), &[60000, 1, 28, 28]);
/// # Ok::<(), descent_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::File`](descent_core::Error::File) naming the file and the problem: a missing file,
/// any problem [`idx::read_images`] and [`idx::read_labels`] find (labels must be in `0..10`),
/// images other than 28x28, or image and label files of different counts.
pub fn mnist(dir: impl AsRef<Path>) -> Result<Mnist> {
    let dir = dir.as_ref();
    let (train, test) = rayon::join(
        || read_pair(dir, "train", 10),
        || read_pair(dir, "t10k", 10),
    );
    Ok(Mnist {
        train: train?,
        test: test?,
    })
}

/// Reads Fashion-MNIST from `dir`: the same files and format as [`mnist()`]; the labels name
/// [`FASHION_MNIST_CLASSES`].
///
/// # Errors
/// As [`mnist()`].
pub fn fashion_mnist(dir: impl AsRef<Path>) -> Result<Mnist> {
    mnist(dir)
}

/// `dir/<prefix>-images-idx3-ubyte[.gz]` and its labels, as a dataset.
fn read_pair(dir: &Path, prefix: &str, classes: usize) -> Result<TensorDataset> {
    let images_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let (images, labels) = rayon::join(
        || idx::read_images(&images_path),
        || idx::read_labels(&labels_path, classes),
    );
    let (images, labels) = (images?, labels?);
    if (images.rows, images.cols) != (SIDE, SIDE) {
        return Err(file_error(
            &images_path,
            format!(
                "images are {}x{} pixels; MNIST images are {SIDE}x{SIDE}",
                images.rows, images.cols
            ),
        ));
    }
    idx_dataset(&images, &labels, &images_path, &labels_path)
}

/// The dataset of IDX images (as `[N, 1, rows, cols]` `f32` in `[0, 1]`) and their labels.
///
/// # Errors
/// [`Error::File`](descent_core::Error::File) naming `labels_path` if the counts differ.
pub fn idx_dataset(
    images: &IdxImages,
    labels: &[u8],
    images_path: &Path,
    labels_path: &Path,
) -> Result<TensorDataset> {
    if labels.len() != images.count {
        return Err(file_error(
            labels_path,
            format!(
                "count mismatch: {} labels, but {} holds {} images",
                labels.len(),
                images_path.display(),
                images.count
            ),
        ));
    }
    let mut features = Tensor::zeros([images.count, 1, images.rows, images.cols]);
    scale_pixels(
        &images.pixels,
        features.slice_mut::<f32>().expect("zeros is f32"),
    );
    let labels = IntTensor::from(labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>());
    TensorDataset::new(features, labels)
}

/// Bytes to `f32` in `[0, 1]`: `b / 255`, correctly rounded (a table of the 256 values).
fn scale_pixels(pixels: &[u8], out: &mut [f32]) {
    let table: [f32; 256] = std::array::from_fn(|b| b as f32 / 255.0);
    out.par_chunks_mut(1 << 16)
        .zip(pixels.par_chunks(1 << 16))
        .for_each(|(o, p)| {
            for (o, &p) in o.iter_mut().zip(p) {
                *o = table[usize::from(p)];
            }
        });
}

/// `dir/name.gz` if it exists, else `dir/name` if it exists.
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    let raw = dir.join(name);
    if raw.exists() {
        return Ok(raw);
    }
    Err(file_error(
        &raw,
        format!("not found (nor {name}.gz beside it)"),
    ))
}
