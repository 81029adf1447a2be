//! Classification losses with integer class labels: `nll_loss` and `cross_entropy`.
//!
//! **PyTorch equivalent**: `F.nll_loss(input, target)` and `F.cross_entropy(input, target)` with
//! `reduction='mean'`: `input` holds scores of shape `[N, C]` (or `[N, C, d1, ...]`, or `[C]` for
//! one sample), `target` holds one class in `0..C` per sample, of shape `[N]` (`[N, d1, ...]`,
//! `[]`). A target of another shape is an error that names the expected shape: labels of shape
//! `[1, N]` or `[N, 1]` would otherwise broadcast into a silently wrong loss.
//!
//! Both are compositions, with no backward rule of their own:
//! `nll_loss = -mean(gather(input, 1, target))`, `cross_entropy = nll_loss(log_softmax(input, 1))`;
//! `log_softmax` is the stable primitive, so the gradient is `softmax - one_hot` divided by the
//! number of samples, to rounding.

use crate::error::Result;
use crate::int_tensor::IntTensor;
use crate::panicking::panicking;
use crate::tensor::Tensor;
use crate::var::Var;

/// The class axis of `input` and the target reshaped to gather along it (a size-1 dim inserted
/// at the class axis), after checking the target's shape.
fn gather_index(
    op: &'static str,
    input: &[usize],
    target: &IntTensor,
) -> Result<(isize, IntTensor)> {
    target.check_labels_for(op, input)?;
    let axis = if input.len() == 1 { 0 } else { 1 };
    Ok((axis, target.try_unsqueeze(axis)?))
}

impl Tensor {
    /// The mean negative log-likelihood of the classes `target` under log-probabilities `self`
    /// (`[N, C]`, `[N, C, d1, ...]` or `[C]`), as `F.nll_loss`; a 0-d tensor.
    ///
    /// # Errors
    /// If `target`'s shape is not `self`'s without the class dim, or a class is out of range.
    pub fn try_nll_loss(&self, target: &IntTensor) -> Result<Tensor> {
        let (axis, index) = gather_index("nll_loss", self.shape(), target)?;
        Ok(self.try_gather(axis, &index)?.mean_all().neg())
    }

    /// The mean cross-entropy of the classes `target` under the scores (logits) `self`, as
    /// `F.cross_entropy`: `nll_loss(log_softmax(self, 1), target)`; a 0-d tensor.
    ///
    /// ```
    /// use descent_core::{IntTensor, Tensor};
    /// let logits = Tensor::from_vec(vec![0.0f64, 0.0, 10.0, 0.0], [2, 2]);
    /// let loss = logits.cross_entropy(&IntTensor::from(&[1usize, 0][..]));
    /// // -(ln(1/2) + ln(e^10 / (e^10 + 1))) / 2
    /// let want = (2f64.ln() + (1.0 + (-10f64).exp()).ln()) / 2.0;
    /// assert!((loss.item() - want).abs() < 1e-15);
    /// ```
    ///
    /// # Errors
    /// If `target`'s shape is not `self`'s without the class dim, or a class is out of range.
    pub fn try_cross_entropy(&self, target: &IntTensor) -> Result<Tensor> {
        let (axis, index) = gather_index("cross_entropy", self.shape(), target)?;
        let logp = self.try_log_softmax(axis)?;
        Ok(logp.try_gather(axis, &index)?.mean_all().neg())
    }
}

impl Var {
    /// The mean negative log-likelihood, as [`Tensor::try_nll_loss`], recorded.
    ///
    /// # Errors
    /// As [`Tensor::try_nll_loss`].
    #[track_caller]
    pub fn try_nll_loss(&self, target: &IntTensor) -> Result<Var> {
        let (axis, index) = gather_index("nll_loss", self.shape(), target)?;
        Ok(self.try_gather(axis, &index)?.mean_all().neg())
    }

    /// The mean cross-entropy of logits, as [`Tensor::try_cross_entropy`], recorded.
    ///
    /// ```
    /// use descent_core::{IntTensor, Tape, Tensor};
    /// let tape = Tape::new();
    /// let logits = tape.var(Tensor::from_vec(vec![0.0f64, 0.0], [1, 2]));
    /// let loss = logits.cross_entropy(&IntTensor::from(&[1usize][..]));
    /// let g = loss.backward();
    /// assert_eq!(g.wrt(&logits).unwrap().to_vec_f64(), vec![0.5, -0.5]); // softmax - one_hot
    /// ```
    ///
    /// # Errors
    /// As [`Tensor::try_cross_entropy`].
    #[track_caller]
    pub fn try_cross_entropy(&self, target: &IntTensor) -> Result<Var> {
        let (axis, index) = gather_index("cross_entropy", self.shape(), target)?;
        let logp = self.try_log_softmax(axis)?;
        Ok(logp.try_gather(axis, &index)?.mean_all().neg())
    }
}

panicking! { Tensor, Var:
    /// The mean negative log-likelihood of `target` classes; see `try_nll_loss`.
    nll_loss = try_nll_loss(target: &IntTensor) -> Self;
    /// The mean cross-entropy of `target` classes under logits; see `try_cross_entropy`.
    cross_entropy = try_cross_entropy(target: &IntTensor) -> Self;
}

#[cfg(test)]
mod tests {
    use crate::{IntTensor, Tensor};

    #[test]
    fn labels_of_the_wrong_shape_are_refused() {
        let logits = Tensor::zeros([4, 3]);
        for bad in [[1usize, 4], [4, 1]] {
            let e = logits
                .try_cross_entropy(&IntTensor::zeros(bad))
                .unwrap_err();
            assert!(e.to_string().contains("must have shape [4]"), "{e}");
        }
        assert!(
            logits
                .try_nll_loss(&IntTensor::from(&[0usize, 1, 2, 3][..]))
                .is_err()
        );
    }

    #[test]
    fn spatial_targets_average_over_every_position() {
        // [N=1, C=2, 2] with equal scores: the loss is ln 2 at every position.
        let logits = Tensor::zeros([1, 2, 2]).to_dtype(crate::DType::F64);
        let loss = logits.cross_entropy(&IntTensor::from_vec(vec![0, 1], [1, 2]));
        assert!((loss.item() - 2f64.ln()).abs() < 1e-15);
    }
}
