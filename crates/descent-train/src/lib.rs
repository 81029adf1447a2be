//! The training loop of descent: [`Learner::fit`] runs epochs over a
//! [`DataLoader`](descent_data::DataLoader) with an optimizer and an optional schedule, tracks
//! loss and accuracy, evaluates on a validation set each epoch, prints a progress bar (plain lines
//! when stdout is not a terminal), stops a run whose loss climbs (naming the learning rate),
//! writes the curves as CSV and SVG, and saves training checkpoints a run resumes from
//! bit-identically, mid-epoch included, in one process or data-parallel over several
//! ([`DataParallel`], with the transports of the `descent-dist` crate).
//!
//! It sits above descent-nn, descent-optim and descent-data and uses only their public APIs.
#![forbid(unsafe_code)]

pub mod distributed;
mod history;
mod learner;
mod progress;

pub use distributed::{Collective, CommStats, DataParallel, SingleProcess};
pub use history::{EpochRecord, History};
pub use learner::{Learner, LossFn, evaluate, train_step};
pub use progress::Progress;
