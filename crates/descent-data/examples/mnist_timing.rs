//! Times reading MNIST and one shuffled epoch of batches of 128: medians of a few runs.
//!
//! ```text
//! cargo run --release -p descent-data --example mnist_timing [-- <mnist dir> [runs]]
//! ```
//! The directory defaults to the developers' shared folder, `../shared/data/mnist` beside the
//! repository.

use descent_data::{DataLoader, idx, mnist};
use std::path::PathBuf;
use std::time::Instant;

fn median_ms(mut f: impl FnMut(), runs: usize) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn main() -> descent_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist")
    });
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let threads = rayon::current_num_threads();
    println!(
        "{} ({runs} runs, {threads} rayon threads), medians:",
        dir.display()
    );

    let images = dir.join("train-images-idx3-ubyte.gz");
    let t = median_ms(
        || {
            idx::read_images(&images).unwrap();
        },
        runs,
    );
    println!("  read train images (gzip decode + checks, 47 MB): {t:8.1} ms");
    let t = median_ms(
        || {
            mnist(&dir).unwrap();
        },
        runs,
    );
    println!("  mnist(): train + test, decoded and scaled to f32:  {t:8.1} ms");

    let train = mnist(&dir)?.train;
    for (name, loader) in [
        ("parallel", DataLoader::new(train.clone(), 128)?.shuffle(0)),
        (
            "serial",
            DataLoader::new(train.clone(), 128)?
                .shuffle(0)
                .parallel(false),
        ),
        (
            "parallel, shift 2",
            DataLoader::new(train.clone(), 128)?
                .shuffle(0)
                .random_shift(2, 0)?,
        ),
        (
            "serial, shift 2",
            DataLoader::new(train.clone(), 128)?
                .shuffle(0)
                .random_shift(2, 0)?
                .parallel(false),
        ),
    ] {
        let mut epoch = 0;
        let t = median_ms(
            || {
                let n: usize = loader.epoch(epoch).map(|b| b.len()).sum();
                assert_eq!(n, 60_000);
                epoch += 1;
            },
            runs,
        );
        println!("  one epoch, 469 batches of 128, shuffled, {name:<17}: {t:8.1} ms");
    }
    Ok(())
}
