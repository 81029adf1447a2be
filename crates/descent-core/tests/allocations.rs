//! A recorded op allocates its output buffer and nothing else, forward and backward (workload W4's
//! chain of small unary and scalar ops on a tape with room for every node).

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
    assert_eq!((f100, f200), (300, 600), "forward: one allocation per op");
    // Backward: one gradient buffer per op, plus a constant (the seed, the gradient map).
    assert_eq!(
        b200 - b100,
        300,
        "backward: one allocation per op ({b100}, {b200})"
    );
}
