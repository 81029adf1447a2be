//! W4 of `docs/anchors.md` a fixed number of times, for instruction counts.
//!
//! Criterion times W4 (`cargo bench --bench tape`); wall time on a shared 2-core machine is too
//! noisy to tell a 2 % change, so changes to the tape are compared by the instructions this
//! program executes, which repeat exactly run after run:
//!
//! ```sh
//! cargo build --release --example w4_count
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/w4_count 20
//! ```
//!
//! The argument is the number of W4 iterations (default 20); each records 3000 ops on a fresh
//! tape and runs backward.

use descent::prelude::*;
use std::hint::black_box;

const STEPS: usize = 1000;

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let x0 = Tensor::linspace(-1.0, 1.0, 64);
    let mut checksum = 0.0;
    for _ in 0..iterations {
        let tape = Tape::new();
        let x = tape.var(&x0);
        let mut y = x.clone();
        for _ in 0..STEPS {
            y = (&y * 1.0001 + 0.001).tanh();
        }
        let grads = y.sum_all().backward();
        checksum += black_box(grads.wrt(&x).expect("x requires a gradient")).to_vec_f64()[0];
    }
    println!("w4: {iterations} iterations of 3000 ops, checksum {checksum}");
}
