//! The ops, one file per op family: the forward here, and (from the tape issue on) the backward
//! rule right beside it. See `README.md` in this folder for the convention.
//!
//! Families and their primitives:
//! - [`view`]: the reshape, permute, transpose, narrow/slice, broadcast_to, squeeze, unsqueeze, flatten
//! - [`unary`]: the neg abs exp log sqrt square recip tanh sigmoid relu leaky_relu gelu erf powf clamp,
//!   and the scalar forms of binary ops
//! - [`binary`]: the add sub mul div pow maximum minimum (broadcasting), operators
//! - [`compare`]: the eq ne lt le gt ge (masks), where_cond
//! - [`reduce`]: the sum mean max min logsumexp var, argmax argmin
//! - [`matmul`]: the 2-D and batched matmul
//! - [`softmax`]: the softmax, log_softmax
//! - [`conv`]: the conv2d
//! - [`pool`]: the max_pool2d, avg_pool2d
//! - [`join`]: the concat, stack, split
//! - [`index`]: the index_select, gather, one_hot

pub mod binary;
pub mod compare;
pub mod conv;
pub mod index;
pub mod join;
pub mod matmul;
pub mod pool;
pub mod reduce;
pub mod softmax;
pub mod unary;
pub mod view;
