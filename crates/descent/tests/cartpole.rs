//! The CartPole dynamics of the `reinforce` example against hand-computed steps: the module is
//! the example's own file, included here because `cargo test --workspace` does not run the
//! tests of examples.

#[path = "../../../examples/reinforce/cartpole.rs"]
mod cartpole;
