//! The IDX reader and `mnist()` on files made here: valid ones, raw and gzip, and every kind of
//! bad file, each of which must give `Error::File` naming the file and the problem.

use descent_core::Error;
use descent_data::{Dataset, idx, mnist};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("descent-data-idx-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn images_bytes(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, rows, cols] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend((0..n * rows * cols).map(|i| (i * 7 % 256) as u8));
    b
}

fn labels_bytes(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The error's file and detail, checking it is `Error::File` and its message names the file.
#[track_caller]
fn file_error<T: std::fmt::Debug>(r: descent_core::Result<T>) -> (PathBuf, String) {
    let e = r.unwrap_err();
    let message = e.to_string();
    match e {
        Error::File { path, detail } => {
            assert!(message.contains(&path.display().to_string()), "{message}");
            (path, detail)
        }
        other => panic!("expected Error::File, got {other}"),
    }
}

/// Asserts that reading `path` as images fails naming `path` with a detail containing `want`.
#[track_caller]
fn images_fail(path: &Path, want: &str) {
    let (p, detail) = file_error(idx::read_images(path));
    assert_eq!(p, path);
    assert!(detail.contains(want), "{detail:?} should contain {want:?}");
}

#[track_caller]
fn labels_fail(path: &Path, classes: usize, want: &str) {
    let (p, detail) = file_error(idx::read_labels(path, classes));
    assert_eq!(p, path);
    assert!(detail.contains(want), "{detail:?} should contain {want:?}");
}

#[test]
fn valid_files_raw_and_gzip_read_the_same() {
    let d = dir("valid");
    let bytes = images_bytes(3, 4, 5);
    let raw = write(&d, "img", &bytes);
    // Compressed but named without `.gz`: detected by the magic bytes.
    let zipped = write(&d, "img-no-extension", &gz(&bytes));
    let a = idx::read_images(&raw).unwrap();
    let b = idx::read_images(&zipped).unwrap();
    assert_eq!(a, b);
    assert_eq!((a.count, a.rows, a.cols), (3, 4, 5));
    assert_eq!(a.pixels, bytes[16..]);
    let labels = write(&d, "lab.gz", &gz(&labels_bytes(&[0, 9, 3])));
    assert_eq!(idx::read_labels(&labels, 10).unwrap(), vec![0, 9, 3]);
    // Zero images is a valid (empty) file.
    let empty_set = write(&d, "none", &images_bytes(0, 28, 28));
    assert_eq!(idx::read_images(&empty_set).unwrap().count, 0);
}

#[test]
fn wrong_magic_names_what_the_file_is() {
    let d = dir("magic");
    let labels = write(&d, "labels", &labels_bytes(&[1, 2]));
    images_fail(
        &labels,
        "wrong magic number 0x00000801 (this is an IDX labels file)",
    );
    let images = write(&d, "images.gz", &gz(&images_bytes(1, 2, 2)));
    labels_fail(
        &images,
        10,
        "wrong magic number 0x00000803 (this is an IDX images file)",
    );
    let text = write(&d, "text", b"hello, world, this is not IDX");
    images_fail(&text, "(not an IDX file)");
    // Four dimensions, or float elements (0x0d): not u8 images.
    let mut four = images_bytes(1, 2, 2);
    four[3] = 4;
    images_fail(&write(&d, "four", &four), "wrong magic number 0x00000804");
    let mut float = images_bytes(1, 2, 2);
    float[2] = 0x0d;
    images_fail(
        &write(&d, "float", &float),
        "IDX images files start with 0x00000803",
    );
}

#[test]
fn wrong_dimensions() {
    let d = dir("dims");
    images_fail(
        &write(&d, "zero-rows", &images_bytes(2, 0, 28)),
        "rows and columns must be at least 1",
    );
    // Images that are not 28x28 are refused by mnist().
    write(&d, "train-images-idx3-ubyte", &images_bytes(2, 27, 28));
    write(&d, "train-labels-idx1-ubyte", &labels_bytes(&[1, 2]));
    write(&d, "t10k-images-idx3-ubyte", &images_bytes(1, 28, 28));
    write(&d, "t10k-labels-idx1-ubyte", &labels_bytes(&[1]));
    let (p, detail) = file_error(mnist(&d));
    assert_eq!(p, d.join("train-images-idx3-ubyte"));
    assert_eq!(detail, "images are 27x28 pixels; MNIST images are 28x28");
}

#[test]
fn truncated_files() {
    let d = dir("truncated");
    let bytes = images_bytes(3, 4, 5);
    let short = &bytes[..bytes.len() - 1];
    images_fail(
        &write(&d, "raw", short),
        "truncated: the header announces 3 x 4 x 5 images, 76 bytes with the header, but the file has 75 bytes",
    );
    images_fail(
        &write(&d, "zipped", &gz(short)),
        "truncated: 59 bytes of data (decompressed) after the header",
    );
    images_fail(&write(&d, "header", &bytes[..10]), "truncated: 10 bytes");
    images_fail(&write(&d, "magic-only", &bytes[..3]), "truncated: 3 bytes");
    labels_fail(
        &write(&d, "labels", &labels_bytes(&[1, 2])[..7]),
        10,
        "truncated",
    );
    // A gzip stream cut short is an error of the stream.
    let z = gz(&bytes);
    images_fail(&write(&d, "cut-stream", &z[..z.len() - 10]), "gzip");
}

#[test]
fn trailing_bytes() {
    let d = dir("trailing");
    let mut bytes = labels_bytes(&[1, 2, 3]);
    bytes.push(4);
    labels_fail(&write(&d, "raw", &bytes), 10, "trailing bytes");
    labels_fail(&write(&d, "zipped", &gz(&bytes)), 10, "trailing bytes");
    // Garbage after a complete gzip member.
    let mut z = gz(&labels_bytes(&[1, 2, 3]));
    z.extend_from_slice(b"garbage");
    labels_fail(&write(&d, "after-member", &z), 10, "corrupt gzip stream");
}

#[test]
fn corrupt_gzip() {
    let d = dir("corrupt");
    let mut z = gz(&images_bytes(50, 10, 10));
    let mid = z.len() / 2;
    z[mid] ^= 0xff;
    z[mid + 1] ^= 0x55;
    images_fail(&write(&d, "flipped", &z), "corrupt gzip stream");
    // A wrong CRC with intact data.
    let mut z = gz(&labels_bytes(&[1, 2, 3]));
    let n = z.len();
    z[n - 8] ^= 1;
    labels_fail(&write(&d, "crc", &z), 10, "corrupt gzip stream");
    // The gzip magic and nothing valid after it.
    images_fail(
        &write(&d, "magic-only", &[0x1f, 0x8b, 0, 1, 2]),
        "corrupt gzip stream",
    );
}

#[test]
fn a_lying_header_allocates_nothing_large() {
    let d = dir("lying");
    // Claims 4e9 x 4e9 x 4e9 images; the file is 16 bytes (raw) or ~40 (gzip).
    let mut header = vec![0, 0, 8, 3];
    for _ in 0..3 {
        header.extend_from_slice(&u32::MAX.to_be_bytes());
    }
    images_fail(&write(&d, "raw", &header), "but the file has 16 bytes");
    images_fail(
        &write(&d, "zipped", &gz(&header)),
        "more than a gzip file of",
    );
    // Plausible but false: 30 images in a small gzip file is possible, so it is read and found
    // short.
    let mut header = vec![0, 0, 8, 3];
    for v in [30u32, 28, 28] {
        header.extend_from_slice(&v.to_be_bytes());
    }
    header.extend_from_slice(&[0; 100]);
    images_fail(
        &write(&d, "plausible", &gz(&header)),
        "truncated: 100 bytes",
    );
}

#[test]
fn labels_out_of_range() {
    let d = dir("range");
    let p = write(&d, "labels", &labels_bytes(&[0, 10, 3]));
    labels_fail(&p, 10, "label 10 at index 1 is out of range 0..10");
    assert_eq!(idx::read_labels(&p, 11).unwrap(), vec![0, 10, 3]);
}

#[test]
fn missing_and_empty_files() {
    let d = dir("missing");
    images_fail(&d.join("nothing-here"), "cannot open");
    images_fail(&write(&d, "empty", &[]), "the file is empty");
    labels_fail(&write(&d, "empty.gz", &[]), 10, "the file is empty");
    let (p, detail) = file_error(mnist(&d));
    assert!(p.ends_with("train-images-idx3-ubyte") || p.ends_with("t10k-images-idx3-ubyte"));
    assert!(detail.starts_with("not found (nor"), "{detail}");
}

/// A directory of the four MNIST files, tiny: 3 train and 2 test images.
fn tiny_mnist(d: &Path, gzip: bool) {
    let files = [
        ("train-images-idx3-ubyte", images_bytes(3, 28, 28)),
        ("train-labels-idx1-ubyte", labels_bytes(&[5, 0, 9])),
        ("t10k-images-idx3-ubyte", images_bytes(2, 28, 28)),
        ("t10k-labels-idx1-ubyte", labels_bytes(&[1, 2])),
    ];
    for (name, bytes) in files {
        if gzip {
            write(d, &format!("{name}.gz"), &gz(&bytes));
        } else {
            write(d, name, &bytes);
        }
    }
}

#[test]
fn mnist_reads_raw_or_gzip_as_unit_floats() {
    for gzip in [false, true] {
        let d = dir(&format!("tiny-{gzip}"));
        tiny_mnist(&d, gzip);
        let m = mnist(&d).unwrap();
        assert_eq!(m.train.features().shape(), &[3, 1, 28, 28]);
        assert_eq!(m.test.features().shape(), &[2, 1, 28, 28]);
        assert_eq!(m.train.label_slice(), &[5, 0, 9]);
        assert_eq!(m.test.label_slice(), &[1, 2]);
        let (x, label) = m.train.get(1);
        assert_eq!(label, 0);
        let x = x.to_vec_f32();
        // Pixel j of image i is (784 i + j) * 7 mod 256.
        for (j, v) in x.iter().enumerate() {
            let byte = ((784 + j) * 7 % 256) as f32;
            assert_eq!(*v, byte / 255.0);
        }
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

#[test]
fn mnist_counts_must_agree() {
    let d = dir("count");
    tiny_mnist(&d, false);
    write(&d, "t10k-labels-idx1-ubyte", &labels_bytes(&[1, 2, 3]));
    let (p, detail) = file_error(mnist(&d));
    assert_eq!(p, d.join("t10k-labels-idx1-ubyte"));
    assert_eq!(
        detail,
        format!(
            "count mismatch: 3 labels, but {} holds 2 images",
            d.join("t10k-images-idx3-ubyte").display()
        )
    );
}

#[test]
fn mnist_refuses_labels_above_nine() {
    let d = dir("mnist-range");
    tiny_mnist(&d, true);
    write(
        &d,
        "train-labels-idx1-ubyte.gz",
        &gz(&labels_bytes(&[1, 12, 3])),
    );
    let (p, detail) = file_error(mnist(&d));
    assert_eq!(p, d.join("train-labels-idx1-ubyte.gz"));
    assert_eq!(detail, "label 12 at index 1 is out of range 0..10");
}
