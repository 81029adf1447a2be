//! Numeric kernels of descent: pure functions on slices, sizes and strides.
//!
//! This crate knows nothing of tensors, tapes or gradients. It is the only crate of the workspace
//! with `unsafe` code and `std::arch`; every `unsafe` block carries a `// SAFETY:` argument.
//! Every SIMD kernel has a scalar reference it is tested against, on every instruction-set path
//! ([`Isa`]); `DESCENT_FORCE_ISA=fallback` forces the portable path process-wide.
//!
//! ```
//! use descent_kernels::{elementwise::{binary, BinaryOp}};
//! let (a, b) = ([1.0f32, 2.0, 3.0], [10.0f32, 20.0, 30.0]);
//! let mut out = [0.0f32; 3];
//! binary(BinaryOp::Add, &a, &b, &mut out);
//! assert_eq!(out, [11.0, 22.0, 33.0]);
//! ```

pub mod buffer;
pub mod conv;
pub mod cpu_features;
pub mod cross_entropy;
mod denormal;
pub mod elementwise;
pub mod elementwise_grad;
mod float;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod parallel;
pub mod pool;
pub mod reduce;
pub mod scatter;
#[cfg(target_arch = "x86_64")]
mod sgemm;
mod simd;
pub mod softmax;
pub mod special;
pub mod strided;
pub mod unary_ops;
pub mod winograd;

pub use cpu_features::{Isa, isa};
pub use denormal::{flush_denormal, set_flush_denormal};
pub use elementwise::{BinaryOp, CompareOp, UnaryOp, ZipOp};
pub use float::Float;
pub use reduce::{ReduceOp, Reduction};
