//! What the data path allocates: a lying IDX header allocates nothing near what it claims, and a
//! batch costs the same allocations whatever its number of samples (no tensor or vector per
//! sample).

use descent_data::{DataLoader, digits, idx};
use std::io::Write;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn header(dims: [u32; 3]) -> Vec<u8> {
    let mut h = vec![0, 0, 8, 3];
    for d in dims {
        h.extend_from_slice(&d.to_be_bytes());
    }
    h
}

#[test]
fn a_lying_header_allocates_little() {
    let dir = std::env::temp_dir().join(format!("descent-data-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Claims 47 MB (60000 images) and 4 GB (5.5 million); holds 100 bytes of pixels.
    for (name, dims) in [
        ("mnist-size", [60_000, 28, 28]),
        ("huge", [5_500_000, 28, 28]),
    ] {
        let mut bytes = header(dims);
        bytes.extend_from_slice(&[7; 100]);
        for (suffix, content) in [("raw", bytes.clone()), ("gz", gz(&bytes))] {
            let path = dir.join(format!("{name}.{suffix}"));
            std::fs::write(&path, &content).unwrap();
            let mut result = None;
            let info = allocation_counter::measure(|| result = Some(idx::read_images(&path)));
            assert!(result.unwrap().is_err());
            assert!(
                info.bytes_max < 1 << 20,
                "{name}.{suffix}: {} bytes allocated at the peak",
                info.bytes_max
            );
        }
    }
    // A gzip file large enough that the claim is possible (47 KB of incompressible pixels can
    // hold 47 MB by deflate's bound): read, found short, having allocated about what it holds.
    let mut bytes = header([60_000, 28, 28]);
    let mut state = 1u32;
    bytes.extend((0..47_000).map(|_| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 24) as u8
    }));
    let path = dir.join("possible.gz");
    std::fs::write(&path, gz(&bytes)).unwrap();
    let mut result = None;
    let info = allocation_counter::measure(|| result = Some(idx::read_images(&path)));
    let e = result.unwrap().unwrap_err().to_string();
    assert!(e.contains("truncated: 47000 bytes of data"), "{e}");
    assert!(
        info.bytes_max < 1 << 20,
        "{} bytes at the peak",
        info.bytes_max
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_batch_allocates_the_same_whatever_its_size() {
    let counts: Vec<u64> = [10, 100, 1000]
        .iter()
        .map(|&bs| {
            let loader = DataLoader::new(digits(), bs)
                .unwrap()
                .shuffle(0)
                .parallel(false);
            let mut epoch = loader.epoch(0);
            let info = allocation_counter::measure(|| drop(epoch.next()));
            info.count_total
        })
        .collect();
    assert!(counts.iter().all(|&c| c == counts[0]), "{counts:?}");
    assert!(counts[0] <= 8, "{counts:?}");
}
