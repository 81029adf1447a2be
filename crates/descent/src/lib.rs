//! descent: a CPU-first reverse-mode automatic-differentiation tensor engine.
//!
//! This facade re-exports the crates of the workspace; `use descent::prelude::*;` brings in what
//! a training script needs.
//!
//! ```
//! use descent::prelude::*;
//! let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
//! let y = (&x * 2.0).relu().sum_all();
//! assert_eq!(y.item(), 20.0);
//! ```
#![forbid(unsafe_code)]

pub use descent_core as core;
/// Makes the calling thread one of the worker pool's threads, as PyTorch's calling thread takes
/// part in its parallel ops: call it first in `main` (the fit loop calls it too).
pub use descent_core::init_threads;
pub use descent_data as data;
/// Data-parallel training across processes (MPI with the `mpi` feature) or threads.
pub use descent_dist as dist;
pub use descent_kernels as kernels;
/// Flushing subnormal numbers to zero, opt-in, like `torch.set_flush_denormal`.
pub use descent_kernels::{flush_denormal, set_flush_denormal};
pub use descent_nn as nn;
pub use descent_optim as optim;
pub use descent_train as train;

/// What a training script needs, in one import.
pub mod prelude {
    pub use descent_core::{
        Conv2dParams, CrossEntropy, CustomOp, DType, Error, GradcheckConfig, Gradients, IntTensor,
        KlReduction, Param, Params, Pool2dParams, Reduction, Result, Tape, TapeRef, Tensor, Var,
        gradcheck,
    };
    pub use descent_data::{DataLoader, Dataset, TensorDataset};
    pub use descent_nn::{
        AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Buffer, Conv2d, Ctx, Dropout,
        Embedding, Flatten, LayerNorm, Linear, MaxPool2d, Module, ReLU, Seeds, Sequential, Visit,
    };
    pub use descent_optim::{
        Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, Gd, Optimizer, ParamGroup,
        RmsProp, RmsPropConfig, Sgd, SgdConfig,
    };
    pub use descent_train::{History, Learner, Progress, train_step};
}

/// The README's code blocks, compiled and run as doctests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
