//! Optimizers of descent: they turn the [`Gradients`](descent_core::Gradients) of one backward
//! pass into an update of the [`Params`](descent_core::Params) of a model.
//!
//! | optimizer | PyTorch | state per parameter |
//! |---|---|---|
//! | [`Gd`] / [`Sgd`] (momentum, Nesterov, dampening, L2) | `SGD` | momentum buffer, if any |
//! | [`Adam`] (L2, AMSGrad) / [`AdamW`] (decoupled decay, default 1e-2) | `Adam` / `AdamW` | 2 moments (+ max) |
//! | [`RmsProp`] (momentum, centered) | `RMSprop` | mean square (+ mean, + buffer) |
//! | [`Adagrad`] (lr decay, initial accumulator) | `Adagrad` | sum of squares |
//!
//! Each optimizer's page gives its update rule as a formula. All share the [`Optimizer`] trait,
//! parameter groups ([`ParamGroup`]), learning-rate [`schedule`]s, gradient [`clip`]ping and
//! [`checkpoint`] files; a [`monitor::LossMonitor`] says when the loss stalls (a learning rate
//! too small) or climbs (too large). A step refuses a non-finite loss or gradient with an error that
//! names the parameter and its likely cause (the data or the initialisation at the first step, an
//! op at the edge of its domain under a finite loss, else a learning rate too high); it refuses
//! gradients that hold none of its parameters, or the backward pass it applied last; and it
//! changes nothing then.
//!
//! ```
//! use descent_core::{Param, Tape, Tensor};
//! use descent_optim::schedule::{CosineAnnealing, Schedule};
//! use descent_optim::{clip_grad_norm, Adam, AdamConfig, Optimizer};
//! // Fit w to minimize (w − 3)², with a cosine schedule and clipping.
//! let mut w = Param::named("w", Tensor::from_vec(vec![0.0f32], [1]));
//! let mut opt = Adam::new(AdamConfig { lr: 0.1, ..AdamConfig::default() })?;
//! let schedule = CosineAnnealing::new(0.1, 0.001, 300)?;
//! for step in 0..300 {
//!     opt.set_lr(schedule.lr_at(step))?;
//!     let tape = Tape::new();
//!     let loss = (tape.param(&w) - 3.0).square().sum_all();
//!     let mut grads = loss.backward();
//!     clip_grad_norm(&w, &mut grads, 1.0)?;
//!     opt.step(&mut w, &grads)?;
//! }
//! assert!((w.value().item() - 3.0).abs() < 1e-2);
//! # Ok::<(), descent_optim::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod adagrad;
pub mod adam;
pub mod checkpoint;
pub mod clip;
mod engine;
mod hyper;
pub mod monitor;
pub mod optimizer;
pub mod rmsprop;
pub mod schedule;
pub mod sgd;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamW, AdamWConfig};
pub use clip::{clip_grad_norm, clip_grad_value};
/// descent's one error type: `descent_optim::Error` is [`descent_core::Error`], so a `?` works
/// on core ops and optimizer calls alike.
pub use descent_core::error;
pub use descent_core::{Error, Result};
pub use optimizer::{Optimizer, OptimizerState, ParamGroup, ParamState, StepReport};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Gd, Sgd, SgdConfig};
