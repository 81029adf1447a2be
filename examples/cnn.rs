//! A convolutional network classifying handwritten digits: the CNN of workload W2 (PyTorch's
//! MNIST example net, with its dropout).
//!
//! conv 3x3 (32) -> ReLU -> conv 3x3 (64) -> ReLU -> max-pool 2 -> dropout 0.25 -> flatten ->
//! linear 128 -> ReLU -> dropout 0.5 -> linear 10. With no flags it trains on the 8x8 digits
//! embedded in descent (seconds, above 95 % test accuracy); with `--data DIR` (an MNIST folder)
//! it reaches about 99 % in a few epochs. It prints the model's summary, a progress bar or line
//! per epoch, the final test accuracy, and writes the curves (`runs/cnn.svg`, `runs/cnn.csv`)
//! and a checkpoint (`runs/cnn.ckpt`, `--resume` continues from it).
//!
//! Run: `cargo run --release --example cnn` (`-- --help` for the options).

#[path = "common/mod.rs"]
mod common;

use common::Defaults;
use descent::nn::{Conv2d, Dropout, Flatten, MaxPool2d, ReLU};
use descent::prelude::*;

const DEFAULTS: Defaults = Defaults {
    digits: (30, 32, 1e-3),
    mnist: (4, 64, 1e-3),
};

fn main() {
    let about = "train the CNN of workload W2 on digits (embedded) or MNIST (--data)";
    let config = common::parse_args("cnn", about, &DEFAULTS);
    common::run("cnn", &config, &DEFAULTS, |seeds, shape, classes| {
        let (c, h, w) = (shape[0], shape[1], shape[2]);
        // Two 3x3 convolutions without padding, then a 2x2 max-pool.
        let flat = 64 * ((h - 4) / 2) * ((w - 4) / 2);
        Sequential::new()
            .push(Conv2d::new(c, 32, 3, &seeds.stream("0")))
            .push(ReLU)
            .push(Conv2d::new(32, 64, 3, &seeds.stream("2")))
            .push(ReLU)
            .push(MaxPool2d::new(2))
            .push(Dropout::new(0.25).expect("p in [0, 1)"))
            .push(Flatten)
            .push(Linear::new(flat, 128, true, &seeds.stream("7")))
            .push(ReLU)
            .push(Dropout::new(0.5).expect("p in [0, 1)"))
            .push(Linear::new(128, classes, true, &seeds.stream("10")))
    });
}
