//! The models of the reference workloads (`../shared/anchors/WORKLOADS.md`), as descent-nn
//! `Sequential`s with PyTorch's default initialization from seed 0: what every benchmark
//! program of `benches/` trains or evaluates, written once.

use descent::nn::{Flatten, ReLU};
use descent::prelude::*;

/// W1's MLP: 784 -> 256 -> 256 -> 10 with ReLU.
#[allow(dead_code)] // not every program that includes this file uses both models
pub fn w1_mlp() -> Sequential {
    let s = Seeds::new(0);
    Sequential::new()
        .push(Linear::new(784, 256, true, &s.stream("0")))
        .push(ReLU)
        .push(Linear::new(256, 256, true, &s.stream("2")))
        .push(ReLU)
        .push(Linear::new(256, 10, true, &s.stream("4")))
}

/// W2's CNN: PyTorch's MNIST example net without dropout.
#[allow(dead_code)]
pub fn w2_cnn() -> Sequential {
    let s = Seeds::new(0);
    Sequential::new()
        .push(Conv2d::new(1, 32, 3, &s.stream("0")))
        .push(ReLU)
        .push(Conv2d::new(32, 64, 3, &s.stream("2")))
        .push(ReLU)
        .push(MaxPool2d::new(2))
        .push(Flatten)
        .push(Linear::new(9216, 128, true, &s.stream("6")))
        .push(ReLU)
        .push(Linear::new(128, 10, true, &s.stream("8")))
}
