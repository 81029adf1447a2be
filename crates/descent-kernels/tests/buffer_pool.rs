//! The process-wide buffer pool: reuse, its bound, threads, and no stale data behind `zeroed`.
//!
//! The pool is global, so every test here takes `SERIAL` first; the sizes are odd so that no other
//! allocation of this process lands in their size classes.

use descent_kernels::buffer::{
    BLOCKS_PER_CLASS, Buffer, SharedBuffer, pool_limit, pool_stats, set_pool_limit,
};
use std::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_dropped_block_serves_the_next_allocation_of_its_class() {
    let _g = serial();
    let n = 3_000_001; // 12 MB of f32: class 12.5 MiB.
    let first = Buffer::<f32>::for_overwrite(n);
    let address = first.as_ptr();
    drop(first);
    let before = pool_stats();
    assert!(before.blocks >= 1 && before.bytes >= 4 * n, "{before:?}");
    // Same class, another element type and a slightly different length: the same block.
    let second = Buffer::<f64>::for_overwrite(n / 2 + 1000);
    assert_eq!(second.as_ptr().cast::<f32>(), address);
    let after = pool_stats();
    assert_eq!(after.hits, before.hits + 1);
    assert!(after.bytes < before.bytes);
}

#[test]
fn a_zeroed_buffer_from_a_dirty_recycled_block_is_all_zeros() {
    let _g = serial();
    let n = 700_003;
    let mut dirty = Buffer::<f32>::for_overwrite(n);
    dirty.fill(7.5);
    let shared = dirty.into_shared();
    let address = shared.as_ptr();
    let copy = shared.clone();
    drop(shared);
    drop(copy); // The last reference returns the block.
    let clean = Buffer::<f32>::zeroed(n);
    assert_eq!(clean.as_ptr(), address, "the dirty block was reused");
    assert!(clean.iter().all(|x| x.to_bits() == 0));
    // `for_overwrite` of a longer buffer in the same class: the part never written is zeros.
    drop(clean);
    let mut part = Buffer::<f32>::for_overwrite(n - 1000);
    part.fill(1.0);
    drop(part);
    let longer = Buffer::<f32>::for_overwrite(n);
    if std::env::var_os("DESCENT_POOL_POISON").is_some_and(|v| v != "0") {
        assert!(longer.iter().all(|x| x.is_nan()), "poisoned");
    } else {
        assert!(longer[n - 1000..].iter().all(|&x| x == 0.0));
    }
}

#[test]
fn the_pool_never_holds_more_than_its_limit() {
    let _g = serial();
    let limit = pool_limit();
    set_pool_limit(8 << 20);
    let before = pool_stats();
    // 40 live buffers of ~1 MB (one class), then all dropped at once.
    let buffers: Vec<Buffer<f32>> = (0..40).map(|_| Buffer::for_overwrite(250_007)).collect();
    drop(buffers);
    let stats = pool_stats();
    assert!(stats.bytes <= 8 << 20, "{stats:?}");
    assert!(
        stats.blocks - before.blocks <= BLOCKS_PER_CLASS,
        "{stats:?}"
    );
    assert!(stats.overflows >= before.overflows + 40 - BLOCKS_PER_CLASS as u64);
    // Lowering the limit frees blocks until the pool fits.
    set_pool_limit(1 << 20);
    assert!(pool_stats().bytes <= 1 << 20);
    set_pool_limit(0);
    assert_eq!(pool_stats().bytes, 0);
    assert_eq!(pool_stats().blocks, 0);
    drop(Buffer::<f32>::for_overwrite(250_007));
    assert_eq!(pool_stats().blocks, 0, "a zero limit pools nothing");
    set_pool_limit(limit);
}

#[test]
fn threads_allocate_share_and_free_concurrently() {
    let _g = serial();
    let sizes = [20_011usize, 50_021, 131_101, 262_147, 1_000_003];
    std::thread::scope(|s| {
        for t in 0..4usize {
            s.spawn(move || {
                let mut kept: Vec<SharedBuffer<f32>> = Vec::new();
                for i in 0..300 {
                    let n = sizes[(i + t) % sizes.len()];
                    let mut b = Buffer::<f32>::for_overwrite(n);
                    let v = (t * 1000 + i) as f32;
                    b.fill(v);
                    let shared = b.into_shared();
                    let other = shared.clone();
                    // Read through a clone on another thread while this one holds the original.
                    let ok = std::thread::scope(|s2| {
                        s2.spawn(move || other.iter().all(|&x| x == v))
                            .join()
                            .unwrap()
                    });
                    assert!(ok);
                    assert!(shared.iter().all(|&x| x == v));
                    kept.push(shared);
                    if kept.len() > 3 {
                        kept.remove(0);
                    }
                    let z = Buffer::<f32>::zeroed(n / 2);
                    assert!(z.iter().all(|&x| x == 0.0));
                }
            });
        }
    });
    let stats = pool_stats();
    assert!(stats.bytes <= stats.limit, "{stats:?}");
}

#[test]
fn shared_buffers_copy_on_write() {
    let _g = serial();
    let mut a = Buffer::<f64>::try_from_slice(&[1.0, 2.0, 3.0])
        .unwrap()
        .into_shared();
    let b = a.clone();
    assert!(SharedBuffer::get_mut(&mut a).is_none());
    SharedBuffer::make_mut(&mut a)[0] = 10.0;
    assert_eq!(&a[..], &[10.0, 2.0, 3.0]);
    assert_eq!(&b[..], &[1.0, 2.0, 3.0]);
    assert!(!SharedBuffer::ptr_eq(&a, &b));
    let before = a.as_ptr();
    SharedBuffer::make_mut(&mut a)[1] = 20.0; // Unique now: no copy.
    assert_eq!(a.as_ptr(), before);
}

#[test]
fn impossible_sizes_are_errors_not_aborts() {
    let _g = serial();
    let e = Buffer::<f32>::try_zeroed(1 << 40).unwrap_err();
    assert_eq!(e.bytes, Some(1 << 42));
    assert!(e.to_string().contains("4398046511104 bytes"), "{e}");
    let e = Buffer::<f32>::try_for_overwrite(1 << 62).unwrap_err();
    assert_eq!(e.bytes, None);
    let e = Buffer::<f64>::try_full(usize::MAX, 1.0).unwrap_err();
    assert_eq!(e.bytes, None);
}
