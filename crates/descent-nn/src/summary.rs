//! [`Summary`]: the layers of a model with their output shapes and parameter counts.

use crate::module::{Ctx, Module};
use descent_core::{Result, Tape, Tensor};
use std::fmt;

/// One layer of a [`Summary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// The layer's type and its index in call order (`Linear-1`).
    pub layer: String,
    /// The shape of its output.
    pub output_shape: Vec<usize>,
    /// Its parameter scalars.
    pub params: usize,
    /// Of which trainable.
    pub trainable: usize,
}

/// What [`Module::summary`] returns: each built-in layer an eval forward runs through, in call
/// order, and the model's totals. `Display` prints it as a table, as `torchsummary`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The input shape the forward ran on.
    pub input_shape: Vec<usize>,
    /// The layers in call order.
    pub rows: Vec<SummaryRow>,
    /// The model's parameter scalars (each parameter once, however often it is used).
    pub total: usize,
    /// Of which trainable (not frozen).
    pub trainable: usize,
}

pub(crate) fn summary<M: Module + ?Sized>(model: &M, input_shape: &[usize]) -> Result<Summary> {
    let tape = Tape::new();
    let ctx = Ctx::tracing();
    tape.no_grad(|| model.forward(&tape.constant(Tensor::zeros(input_shape)), &ctx))?;
    let mut rows = ctx.take_trace();
    for (i, row) in rows.iter_mut().enumerate() {
        row.layer = format!("{}-{}", row.layer, i + 1);
    }
    let (mut total, mut trainable) = (0, 0);
    model.visit_params("", &mut |_, p| {
        total += p.numel();
        if p.requires_grad() {
            trainable += p.numel();
        }
    });
    Ok(Summary {
        input_shape: input_shape.to_vec(),
        rows,
        total,
        trainable,
    })
}

/// `1234567` as `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = |s: &[usize]| format!("{s:?}");
        let w0 = self
            .rows
            .iter()
            .map(|r| r.layer.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let w1 = self
            .rows
            .iter()
            .map(|r| shape(&r.output_shape).len())
            .max()
            .unwrap_or(0)
            .max(12);
        let line = "-".repeat(w0 + w1 + 18);
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "{:<w0$}  {:<w1$}  {:>14}",
            "Layer", "Output shape", "Param #"
        )?;
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "{:<w0$}  {:<w1$}  {:>14}",
            "Input",
            shape(&self.input_shape),
            ""
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<w0$}  {:<w1$}  {:>14}",
                r.layer,
                shape(&r.output_shape),
                thousands(r.params)
            )?;
        }
        writeln!(f, "{line}")?;
        writeln!(f, "Total params: {}", thousands(self.total))?;
        writeln!(f, "Trainable params: {}", thousands(self.trainable))?;
        writeln!(
            f,
            "Non-trainable params: {}",
            thousands(self.total - self.trainable)
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
