//! User-defined ops: a forward on tensors and its backward rule, recorded like a built-in op.
//!
//! **PyTorch equivalent**: `torch.autograd.Function` (candle: `CustomOp1`). Implement
//! [`CustomOp`] outside descent, apply it to variables with [`Var::custom`]: it is recorded as
//! one node, its backward rule runs in the reverse walk like any other, anomaly mode, the profile
//! and `to_dot` show it under its name, and [`gradcheck`](crate::gradcheck()) checks it.
//!
//! ```
//! use descent_core::{CustomOp, GradcheckConfig, Result, Tape, Tensor, Var, gradcheck};
//!
//! /// `x^3`, with the derivative written by hand: `3 x^2`.
//! struct Cube;
//!
//! impl CustomOp for Cube {
//!     fn name(&self) -> &'static str {
//!         "cube"
//!     }
//!     fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor> {
//!         Ok(inputs[0].powf(3.0))
//!     }
//!     fn backward(
//!         &self,
//!         inputs: &[&Tensor],
//!         _output: &Tensor,
//!         grad_out: &Tensor,
//!     ) -> Result<Vec<Option<Tensor>>> {
//!         Ok(vec![Some(grad_out * &(inputs[0].square() * 3.0))])
//!     }
//! }
//!
//! let x = Tensor::from_vec(vec![1.0f64, -2.0, 0.5], [3]);
//! let report = gradcheck(|_, v: &[Var]| Var::custom(Cube, &[&v[0]]), &[x], &GradcheckConfig::default());
//! assert!(report.is_ok());
//! ```

use crate::error::{Error, Result, invalid};
use crate::ops::{BackwardRule, GradsIn, Op};
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};

/// An op defined outside descent: its forward on tensor values and its backward rule.
///
/// The backward rule receives the inputs and output of the forward and the gradient `grad_out`
/// of the output (its shape), and returns one entry per input: `Some(gradient)` of exactly that
/// input's shape, or `None` for an input that gets no gradient. It runs on plain tensors, so it
/// records nothing.
pub trait CustomOp: 'static {
    /// The op's name in errors, anomaly reports, profiles and graph exports.
    fn name(&self) -> &'static str;

    /// The output computed from the input values.
    ///
    /// # Errors
    /// Whatever the op refuses (as a shape mismatch); the error is returned by [`Var::try_custom`].
    fn forward(&self, inputs: &[&Tensor]) -> Result<Tensor>;

    /// The gradient of each input, from the gradient `grad_out` of the output.
    ///
    /// # Errors
    /// Whatever the rule refuses; `backward` returns it.
    fn backward(
        &self,
        inputs: &[&Tensor],
        output: &Tensor,
        grad_out: &Tensor,
    ) -> Result<Vec<Option<Tensor>>>;
}

/// What a recorded custom op keeps: the op and the values its backward rule receives.
pub(crate) struct CustomNode {
    op: Box<dyn CustomOp>,
    inputs: Vec<Tensor>,
    output: Tensor,
}

impl BackwardRule for CustomNode {
    fn saved_bytes(&self) -> usize {
        self.inputs.iter().map(Tensor::nbytes).sum::<usize>() + self.output.nbytes()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let inputs: Vec<&Tensor> = self.inputs.iter().collect();
        let name = self.op.name();
        let gs = self.op.backward(&inputs, &self.output, g)?;
        if gs.len() != inputs.len() {
            return Err(invalid(
                name,
                format!(
                    "backward returned {} gradients for {} inputs",
                    gs.len(),
                    inputs.len()
                ),
            ));
        }
        for (slot, (grad, x)) in gs.into_iter().zip(&inputs).enumerate() {
            let Some(grad) = grad else { continue };
            if grad.shape() != x.shape() || grad.dtype() != x.dtype() {
                return Err(Error::ShapeMismatch {
                    op: name,
                    lhs: x.shape().into(),
                    rhs: grad.shape().into(),
                    detail: format!(
                        "do not fit: backward returned a {:?} gradient of the second shape for \
                         input {slot}, of the first shape and type {:?}",
                        grad.dtype(),
                        x.dtype()
                    ),
                });
            }
            grads.set(slot, grad);
        }
        Ok(())
    }
}

impl Var {
    /// Applies a user-defined op to `inputs` (all on one tape) and records it as one node; see
    /// [`CustomOp`].
    ///
    /// # Errors
    /// If `inputs` is empty, the inputs are on different or consumed tapes, or the op's forward
    /// errs.
    #[track_caller]
    pub fn try_custom(op: impl CustomOp, inputs: &[&Var]) -> Result<Var> {
        if inputs.is_empty() {
            return Err(invalid(op.name(), "a custom op needs at least one input"));
        }
        Var::record(op.name(), inputs, || {
            let values: Vec<&Tensor> = inputs.iter().map(|v| v.value()).collect();
            let output = op.forward(&values)?;
            Ok(Recorded {
                op: Op::Custom(Box::new(CustomNode {
                    op: Box::new(op),
                    inputs: values.into_iter().cloned().collect(),
                    output: output.clone(),
                })),
                value: output,
            })
        })
    }

    /// Applies a user-defined op; see [`Var::try_custom`].
    ///
    /// # Panics
    /// Where [`Var::try_custom`] returns an error, with its message, at the caller's line.
    #[track_caller]
    pub fn custom(op: impl CustomOp, inputs: &[&Var]) -> Var {
        crate::error::or_panic(Var::try_custom(op, inputs))
    }
}
