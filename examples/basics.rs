//! A tour of the tensor engine: creation, views, broadcasting, reductions, matmul, softmax,
//! conv2d and pooling, with the errors a shape mistake gives.
//!
//! Run with `cargo run --release --example basics` (`--help` for the options).

use descent::prelude::*;
use rand::SeedableRng;
use std::time::Instant;

fn main() {
    let mut size = 512usize;
    let mut seed = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--help" | "-h" => {
                println!(
                    "basics: a tour of descent's tensor ops\n\n\
                     usage: basics [--size N] [--seed S]\n  \
                     --size N  side of the square matmul to time (default 512)\n  \
                     --seed S  seed of the random inputs (default 0)"
                );
                return;
            }
            "--size" | "--seed" => {
                let v = args.next().and_then(|v| v.parse::<u64>().ok());
                match (a.as_str(), v) {
                    ("--size", Some(v)) if v > 0 && v <= 8192 => size = v as usize,
                    ("--seed", Some(v)) => seed = v,
                    _ => {
                        eprintln!("basics: {a} needs a number (--size: 1..=8192); see --help");
                        std::process::exit(2);
                    }
                }
            }
            other => {
                eprintln!("basics: unknown argument {other:?}; see --help");
                std::process::exit(2);
            }
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // Creation and views: a transpose is a view, no copy.
    let x = Tensor::arange(0.0, 6.0, 1.0).reshape([2, 3]);
    println!("x = {x:?}");
    println!(
        "x.t() = {:?} (shares x's buffer: {})",
        x.t(),
        x.t().shares_storage(&x)
    );

    // Broadcasting: [2, 3] + [3] and a scalar.
    let b = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], [3]);
    println!("x + b = {:?}", &x + &b);
    println!("x * 2 - 1 = {:?}", &x * 2.0 - 1.0);

    // Reductions over any axes, with keepdim.
    println!("sum over axis 0 = {:?}", x.sum(&[0], false));
    println!("mean over axis 1, keepdim = {:?}", x.mean(&[1], true));
    println!("softmax over axis 1 = {:?}", x.softmax(1));

    // A shape mistake is a clear error, not a wrong answer.
    let w = Tensor::randn([4, 2], &mut rng);
    match x.try_matmul(&w) {
        Ok(_) => unreachable!("inner dimensions differ"),
        Err(e) => println!("x.matmul(w) refused: {e}"),
    }

    // conv2d and pooling on NCHW.
    let img = Tensor::randn([2, 1, 28, 28], &mut rng);
    let k = Tensor::randn([8, 1, 3, 3], &mut rng);
    let y = img
        .conv2d(&k, None, Conv2dParams::default().padding(1))
        .relu();
    let p = y.max_pool2d(Pool2dParams::new(2));
    println!(
        "conv2d + relu + max_pool2d: {:?} -> {:?} -> {:?}",
        img.shape(),
        y.shape(),
        p.shape()
    );

    // Gradients: record a forward pass on a tape, then one backward pass.
    let w = Param::named("w", Tensor::randn([3, 4], &mut rng) * 0.5);
    let tape = Tape::new();
    let xv = tape.constant(Tensor::randn([5, 4], &mut rng));
    let loss = xv.matmul(&tape.param(&w).t()).tanh().square().mean_all();
    println!(
        "tape: {} nodes, {} bytes saved for backward; loss = {:.4}",
        tape.len(),
        tape.saved_bytes(),
        loss.value().item()
    );
    let grads = loss.backward();
    println!("d loss / d w = {:?}", grads.get(&w).expect("w was used"));
    // The same composition, checked against finite differences in f64.
    let report = gradcheck(
        |_, v| v[0].matmul(&v[1].t()).tanh().square().mean_all(),
        &[Tensor::randn([5, 4], &mut rng), w.value().clone()],
        &GradcheckConfig::default(),
    );
    match report {
        Ok(r) => println!(
            "gradcheck: {} elements agree (max |error| {:.1e})",
            r.elements, r.max_abs_error
        ),
        Err(e) => println!("{e}"),
    }

    // A matmul, timed once (benchmarks live in benches/).
    let a = Tensor::randn([size, size], &mut rng);
    let c = Tensor::randn([size, size], &mut rng);
    let t = Instant::now();
    let d = a.matmul(&c);
    let s = t.elapsed().as_secs_f64();
    println!(
        "matmul {size}x{size}: {:.1} ms, {:.1} GFLOP/s (checksum {:.3})",
        s * 1e3,
        2.0 * (size as f64).powi(3) / s / 1e9,
        d.mean_all().item()
    );
}
