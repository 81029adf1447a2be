//! Optimizers of descent: they turn the [`Gradients`](descent_core::Gradients) of one backward
//! pass into an update of the [`Params`](descent_core::Params) of a model.

pub mod adagrad;
pub mod adam;
pub mod checkpoint;
pub mod clip;
mod engine;
pub mod error;
pub mod optimizer;
pub mod rmsprop;
pub mod schedule;
pub mod sgd;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamW};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use error::{Error, Result};
pub use optimizer::{Optimizer, OptimizerState, ParamGroup, ParamState, StepReport};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Gd, Sgd, SgdConfig};
