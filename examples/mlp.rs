//! A multi-layer perceptron classifying handwritten digits: the first thing to run.
//!
//! With no flags it trains a 64-256-256-10 ReLU MLP on the 8x8 digits embedded in descent (a few
//! seconds, above 97 % test accuracy); with `--data DIR` (an MNIST folder) the 784-256-256-10
//! MLP with Adam reaches about 98 %. It prints the model's summary, a progress bar or line per
//! epoch (loss, accuracy, samples/s), the final test accuracy, and writes the curves
//! (`runs/mlp.svg`, `runs/mlp.csv`) and a checkpoint (`runs/mlp.ckpt`, `--resume` continues
//! from it).
//!
//! Run: `cargo run --release --example mlp` (`-- --help` for the options and the learning-rate
//! lessons).

#[path = "common/mod.rs"]
mod common;

use common::Defaults;
use descent::nn::{Dropout, Flatten, ReLU};
use descent::prelude::*;

const DEFAULTS: Defaults = Defaults {
    digits: (30, 32, 3e-3),
    mnist: (15, 128, 1e-3),
};

fn main() {
    let about = "train a 2-hidden-layer ReLU MLP on digits (embedded) or MNIST (--data)";
    let config = common::parse_args("mlp", about, &DEFAULTS);
    common::run("mlp", &config, &DEFAULTS, |seeds, shape, classes| {
        let inputs: usize = shape.iter().product();
        Sequential::new()
            .push(Flatten)
            .push(Linear::new(inputs, 256, true, &seeds.stream("1")))
            .push(ReLU)
            .push(Dropout::new(0.2).expect("p in [0, 1)"))
            .push(Linear::new(256, 256, true, &seeds.stream("4")))
            .push(ReLU)
            .push(Dropout::new(0.2).expect("p in [0, 1)"))
            .push(Linear::new(256, classes, true, &seeds.stream("7")))
    });
}
