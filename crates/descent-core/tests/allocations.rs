//! A recorded op allocates its output buffer and nothing else, forward and backward (workload W4's
//! chain of small unary and scalar ops on a tape with room for every node); a weight file whose
//! header lies about its sizes allocates about what the file holds, never the declared size.

use descent_core::{Tape, Tensor};

/// Allocations of the forward and of the backward pass of a chain of `3 * steps` ops.
fn chain(steps: usize) -> (u64, u64) {
    let x0 = Tensor::linspace(-1.0, 1.0, 64);
    let tape = Tape::with_capacity(3 * steps + 2);
    let x = tape.var(&x0);
    let mut y = x.clone();
    let forward = allocation_counter::measure(|| {
        for _ in 0..steps {
            y = (&y * 1.0001 + 0.001).tanh();
        }
    });
    let loss = y.sum_all();
    let mut grads = None;
    let backward = allocation_counter::measure(|| grads = Some(loss.backward()));
    assert!(grads.unwrap().wrt(&x).is_some());
    (forward.count_total, backward.count_total)
}

#[test]
fn each_op_allocates_only_its_output_buffer() {
    let probe = allocation_counter::measure(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(probe.count_total, 1, "the counter counts");
    let (f100, b100) = chain(100);
    let (f200, b200) = chain(200);
    println!("forward {f100}, {f200}; backward {b100}, {b200}");
    // At most one allocation per op; fewer, since a buffer freed on this thread is reused from
    // its cache of small blocks (the `* 1.0001` and `+ 0.001` outputs die at the next op).
    assert!(
        f100 <= 300 && f200 <= 600,
        "forward: at most one allocation per op ({f100}, {f200})"
    );
    // Backward: at most one gradient buffer per op, plus a constant (the seed).
    assert!(
        b200 <= b100 + 300,
        "backward: at most one allocation per op ({b100}, {b200})"
    );
}

#[test]
fn a_second_identical_chain_allocates_only_what_it_keeps() {
    // The first chain leaves its node storage, pending-gradient storage and freed buffers to the
    // thread; the second records into them. What it still allocates: the tape itself and the
    // values kept alive at once (each `tanh` output is saved until backward reaches it).
    chain(100);
    let (forward, backward) = chain(100);
    println!("second chain of 300 ops: forward {forward}, backward {backward}");
    assert!(forward <= 102, "forward allocated {forward} times");
    assert!(backward <= 10, "backward allocated {backward} times");
}

/// A safetensors file whose header is `json` and which holds `data` bytes after it.
fn safetensors_file(json: &str, data: usize) -> Vec<u8> {
    let mut b = (json.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(json.as_bytes());
    b.resize(b.len() + data, 7);
    b
}

#[test]
fn a_lying_weight_file_header_allocates_little() {
    // Each claims gigabytes (or more than memory) and holds 64 bytes of data: refused, having
    // allocated about what the file holds, never the declared size.
    let lies = [
        // A tensor of 2^30 f32 (4 GiB) whose byte range runs past the end.
        r#"{"w":{"dtype":"F32","shape":[1073741824],"data_offsets":[0,4294967296]}}"#,
        // A shape whose element count overflows.
        r#"{"w":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,64]}}"#,
        // Overlapping ranges that together claim more than the file.
        r#"{"a":{"dtype":"I64","shape":[8],"data_offsets":[0,64]},"b":{"dtype":"I64","shape":[536870912],"data_offsets":[0,4294967296]}}"#,
        // A range that ends before it starts.
        r#"{"w":{"dtype":"F32","shape":[16],"data_offsets":[64,0]}}"#,
    ];
    for json in lies {
        let bytes = safetensors_file(json, 64);
        let mut result = None;
        let info =
            allocation_counter::measure(|| result = Some(descent_core::io::from_bytes(&bytes)));
        assert!(result.unwrap().is_err(), "{json}");
        assert!(
            info.bytes_max < 64 << 10,
            "{json}: {} bytes allocated at the peak",
            info.bytes_max
        );
    }
    // A header length of 2^40 bytes in a file of 80.
    let mut bytes = safetensors_file("{}", 64);
    bytes[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let info =
        allocation_counter::measure(|| assert!(descent_core::io::from_bytes(&bytes).is_err()));
    assert!(info.bytes_max < 64 << 10, "{} bytes", info.bytes_max);
}
