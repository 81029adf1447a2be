//! Hostile IDX files: a bounded byte-mutation test of the IDX reader, raw and gzip, and of the
//! MNIST folder reader.
//!
//! From valid image and label files, every truncation and `PROPTEST_CASES x 16` seeded mutations
//! per reader (default 64 x 16): flipped bits, magic numbers and dimensions overwritten with
//! huge or zero values, bytes appended or deleted; for gzip both the compressed bytes mutated
//! (the CRC and framing checks) and the raw bytes mutated then compressed (a lying header inside
//! a valid stream). Every input must end in `Ok` or an error naming the file, never a panic.
//! Each test prints how many inputs it tried.

use descent_data::{idx, mnist};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// SplitMix64: the seeded source of every mutation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Mutations per reader: `PROPTEST_CASES` (CI sets 64) times 16.
fn cases() -> usize {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
        * 16
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn images(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [count, rows, cols] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend((0..count * rows * cols).map(|i| (i * 37 % 256) as u8));
    b
}

fn labels(count: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&count.to_be_bytes());
    b.extend((0..count).map(|i| (i % 10) as u8));
    b
}

const HUGE: [u32; 6] = [u32::MAX, 1 << 31, 1 << 24, 60_000, 1, 0];

/// One seeded mutation of `valid`.
fn mutate(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
    let mut b = valid.to_vec();
    match rng.below(5) {
        0 => b.truncate(rng.below(valid.len())),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        2 | 3 => {
            // The magic number or a dimension replaced: the header lies.
            let field = rng.below(b.len().min(16) / 4);
            let v = HUGE[rng.below(HUGE.len())].to_be_bytes();
            b[4 * field..4 * field + 4].copy_from_slice(&v);
        }
        _ => {
            if rng.below(2) == 0 {
                let extra = 1 + rng.below(64);
                b.extend((0..extra).map(|_| rng.next() as u8));
            } else {
                let i = rng.below(b.len());
                let j = (i + 1 + rng.below(32)).min(b.len());
                b.drain(i..j);
            }
        }
    }
    b
}

/// Writes each input to `path` and reads it with `read`, which must not panic and must name the
/// file in its error; the number of inputs tried.
fn hostile(
    what: &str,
    seed: u64,
    inputs: impl Iterator<Item = Vec<u8>>,
    path: &Path,
    read: impl Fn(&Path) -> Result<(), descent_core::Error>,
) -> usize {
    let (mut tried, mut ok) = (0, 0);
    for (i, input) in inputs.enumerate() {
        std::fs::write(path, &input).unwrap();
        match catch_unwind(AssertUnwindSafe(|| read(path))) {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => {
                let m = e.to_string();
                assert!(m.starts_with(&path.display().to_string()), "{what}: {m}");
            }
            Err(_) => panic!("{what}: input {i} (seed {seed}) panicked; it was {input:?}"),
        }
        tried += 1;
    }
    println!("{what}: {tried} hostile inputs tried, {ok} read (Ok), the rest refused");
    tried
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("descent-hostile-idx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The inputs from `valid`: every truncation and [`cases`] mutations, raw; then, for gzip,
/// mutations of the compressed bytes and compressions of mutated raw bytes.
fn inputs(seed: u64, valid: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Rng(seed);
    let mut out: Vec<(&str, Vec<u8>)> = (0..valid.len())
        .map(|n| ("raw", valid[..n].to_vec()))
        .collect();
    let zipped = gz(valid);
    out.extend((0..zipped.len()).map(|n| ("gzip", zipped[..n].to_vec())));
    for _ in 0..cases() {
        out.push(("raw", mutate(&mut rng, valid)));
        out.push(("gzip", mutate(&mut rng, &zipped)));
        out.push(("gzip", gz(&mutate(&mut rng, valid))));
    }
    out
}

#[test]
fn hostile_idx_files_end_in_ok_or_an_error_naming_the_file() {
    let path = temp("hostile-idx");
    let (mut raw, mut gzip) = (0, 0);
    for (kind, seed, valid) in [("images", 1, images(3, 4, 5)), ("labels", 2, labels(12))] {
        let all = inputs(seed, &valid);
        let n_raw = all.iter().filter(|(format, _)| *format == "raw").count();
        raw += n_raw;
        gzip += all.len() - n_raw;
        hostile(
            &format!("idx::read_{kind}"),
            seed,
            all.into_iter().map(|(_, b)| b),
            &path,
            |p| {
                if kind == "images" {
                    idx::read_images(p).map(|_| ())
                } else {
                    idx::read_labels(p, 10).map(|_| ())
                }
            },
        );
    }
    println!("idx: {raw} raw and {gzip} gzip inputs in all");
    assert!(raw > cases() && gzip > cases());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn an_mnist_folder_with_a_hostile_file_gives_an_error_naming_it() {
    let dir = temp("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    let valid = [
        ("train-images-idx3-ubyte", images(4, 28, 28)),
        ("train-labels-idx1-ubyte", labels(4)),
        ("t10k-images-idx3-ubyte", images(2, 28, 28)),
        ("t10k-labels-idx1-ubyte", labels(2)),
    ];
    for (name, bytes) in &valid {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    assert!(mnist(&dir).is_ok());
    let mut rng = Rng(3);
    let mut tried = 0;
    for i in 0..cases() / 4 {
        let (name, bytes) = &valid[i % 4];
        let path = dir.join(name);
        let input = mutate(&mut rng, bytes);
        std::fs::write(&path, &input).unwrap();
        match catch_unwind(|| mnist(&dir)) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                let m = e.to_string();
                assert!(m.starts_with(&dir.display().to_string()), "{m}");
            }
            Err(_) => panic!("mnist: {name} mutated as {input:?} panicked"),
        }
        std::fs::write(&path, bytes).unwrap();
        tried += 1;
    }
    // A folder that does not exist, and one with the wrong files.
    let e = mnist(dir.join("nope")).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.txt"), b"hello").unwrap();
    let e = mnist(&dir).unwrap_err().to_string();
    assert!(e.contains("t10k-labels-idx1-ubyte"), "{e}");
    println!("mnist: {tried} folders with one hostile file tried");
    std::fs::remove_dir_all(&dir).unwrap();
}
