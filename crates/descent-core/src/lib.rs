//! The core of descent: [`Tensor`], shapes, errors and the ops.
//!
//! Tensors hold `f32` or `f64` ([`DType`]) in a shared, reference-counted buffer; views share it.
//! Every op that can fail has a `try_` form returning [`Result`]; the plain form and the
//! operators panic with the same message at the caller's line.
//!
//! ```
//! use descent_core::Tensor;
//! let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0, -4.0], [2, 2]);
//! let w = Tensor::from_vec(vec![0.5f32, 0.5], [2, 1]);
//! let y = x.matmul(&w).relu();
//! assert_eq!(y.to_vec_f32(), vec![0.0, 0.0]);
//! ```
#![forbid(unsafe_code)]

mod anomaly;
mod backward;
pub mod creation;
pub mod dtype;
pub mod error;
pub mod gradcheck;
pub mod gradients;
pub mod int_tensor;
pub mod io;
pub mod ops;
mod panicking;
pub mod param;
pub mod rng;
pub mod shape;
mod storage;
pub mod tape;
pub mod tensor;
pub mod var;

pub use anomaly::{Anomaly, Phase};
/// Makes the calling thread one of the worker pool's threads (call it first in `main`).
pub use descent_kernels::parallel::init_threads;
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use gradcheck::{GradcheckConfig, GradcheckFailure, GradcheckReport, gradcheck};
pub use gradients::Gradients;
pub use int_tensor::IntTensor;
pub use ops::conv::Conv2dParams;
pub use ops::custom::CustomOp;
pub use ops::loss::{CrossEntropy, KlReduction, Reduction};
pub use ops::norm::{BatchNormStats, BatchStats};
pub use ops::pool::Pool2dParams;
pub use ops::view::ShapeArg;
pub use param::{Param, ParamId, Params};
pub use shape::{Layout, Shape};
#[doc(hidden)]
pub use storage::Storage;
pub use tape::{OpProfile, Tape, TapeRef};
pub use tensor::Tensor;
pub use var::Var;
