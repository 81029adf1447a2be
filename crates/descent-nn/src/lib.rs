//! Neural-network modules of descent: layers, seeded initialization and named weight files.
//!
//! A model is a tree of [`Module`]s. `forward` takes the module by shared reference, the input
//! [`Var`](descent_core::Var) and a [`Ctx`] (train or eval mode, and the seeded random stream
//! dropout draws from); parameters are registered on the input's tape as the forward runs, so a
//! training step is `Tape::new()`, `forward`, a loss, `backward`, an optimizer step. Parameters
//! are visited by their PyTorch `state_dict` names (`"0.weight"`, `"2.bias"`), which are also
//! their names in weight files ([`save`], [`load`]).
//!
//! ```
//! use descent_core::{IntTensor, Tape, Tensor};
//! use descent_nn::{Ctx, Linear, Module, ReLU, Sequential, Seeds};
//! use descent_optim::{Optimizer, Sgd};
//!
//! let seeds = Seeds::new(0);
//! let mut model = Sequential::new()
//!     .push(Linear::new(4, 16, true, &seeds.stream("0")))
//!     .push(ReLU)
//!     .push(Linear::new(16, 3, true, &seeds.stream("2")));
//! assert_eq!(model.named_params()[0].0, "0.weight");
//!
//! let x = Tensor::from_vec((0..8).map(|i| i as f32 / 8.0).collect(), [2, 4]);
//! let labels = IntTensor::from(&[2usize, 0][..]);
//! let mut opt = Sgd::new(0.5).unwrap();
//! for step in 0..20 {
//!     let tape = Tape::new();
//!     let logits = model.forward(&tape.constant(&x), &Ctx::train(0, 0, step)).unwrap();
//!     let loss = logits.cross_entropy(&labels);
//!     opt.step(&mut model, &loss.backward()).unwrap();
//! }
//! let tape = Tape::new();
//! let logits = model.forward(&tape.constant(&x), &Ctx::eval()).unwrap();
//! assert_eq!(logits.argmax(1, false), labels);
//! ```
#![forbid(unsafe_code)]

extern crate self as descent_nn;

mod activation;
mod buffer;
mod conv;
mod dropout;
mod embedding;
pub mod init;
mod linear;
mod module;
mod norm;
mod pool;
mod sequential;
mod summary;
mod weights;

pub use activation::{Flatten, GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh};
pub use buffer::Buffer;
pub use conv::{Conv2d, Conv2dConfig};
pub use descent_nn_derive::Module;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use init::{Seeds, Stream};
pub use linear::Linear;
pub use module::{Ctx, Mode, Module, Visit, module_path, with_index_path, with_module_path};
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormConfig, LayerNorm};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
pub use summary::{Summary, SummaryRow};

#[doc(hidden)]
pub mod __private {
    pub use descent_core::{Param, Params};
}
pub use sequential::Sequential;
pub use weights::{load, load_bytes, load_state_dict, save, save_bytes, state_dict};
