//! Losses. Classification with integer class labels: `nll_loss` and `cross_entropy`; regression
//! and probability losses against a float target of the input's shape: `mse_loss`, `l1_loss`,
//! `smooth_l1_loss`, `binary_cross_entropy`, `binary_cross_entropy_with_logits`; and the VAE's
//! `gaussian_kl` of `(mu, logvar)`.
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
//!
//! **Elementwise losses**: `F.mse_loss`, `F.l1_loss`, `F.smooth_l1_loss`,
//! `F.binary_cross_entropy` and `F.binary_cross_entropy_with_logits`, each with a [`Reduction`]
//! (PyTorch's `reduction=`). The target must have exactly the input's shape and dtype: PyTorch
//! broadcasts a target of another shape with a warning (an `[N, 1]` prediction against an `[N]`
//! target becomes an `[N, N]` loss); descent refuses it with [`Error::ShapeMismatch`]. They are
//! compositions of elementwise ops too, with no backward rule of their own.

use crate::error::{Error, Result};
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

/// How an elementwise loss reduces its per-element values, as PyTorch's `reduction=`.
///
/// The default is [`Reduction::Mean`], as in PyTorch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// The mean over every element (`reduction='mean'`); a 0-d tensor.
    #[default]
    Mean,
    /// The sum over every element (`reduction='sum'`); a 0-d tensor.
    Sum,
    /// No reduction (`reduction='none'`): the per-element losses, of the input's shape.
    None,
}

/// Checks that an elementwise loss's target has exactly the input's shape and dtype.
fn check_target(op: &'static str, input: &Tensor, target: &Tensor) -> Result<()> {
    if input.shape() != target.shape() {
        return Err(Error::ShapeMismatch {
            op,
            lhs: input.shape().into(),
            rhs: target.shape().into(),
            detail: format!(
                "differ: the target must have exactly the input's shape {:?}, got {:?} (no \
                 broadcasting)",
                input.shape(),
                target.shape()
            ),
        });
    }
    if input.dtype() != target.dtype() {
        return Err(Error::DTypeMismatch {
            op,
            lhs: input.dtype(),
            rhs: target.dtype(),
        });
    }
    Ok(())
}

/// Refuses a negative or NaN `beta` for `smooth_l1_loss`.
fn check_beta(beta: f64) -> Result<()> {
    if beta >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            op: "smooth_l1_loss",
            message: format!("beta must be >= 0, got {beta}"),
        })
    }
}

/// The floor under a probability before its log in `binary_cross_entropy`: its log (about
/// -101.3, in `f32` as in `f64`) is below -100, so the clamp at -100 after the log gives
/// PyTorch's value, while `log` never sees 0 and its gradient is never NaN.
const P_FLOOR: f64 = 1e-44;

/// The elementwise losses, written once for `Tensor` and `Var`: every op used exists on both.
macro_rules! elementwise_losses {
    ($T:ident, $value:ident) => {
        impl $T {
            /// Reduces per-element losses as `reduction` says.
            fn reduce_loss(self, reduction: Reduction) -> $T {
                match reduction {
                    Reduction::Mean => self.mean_all(),
                    Reduction::Sum => self.sum_all(),
                    Reduction::None => self,
                }
            }

            /// The squared error `(self - target)^2`, reduced, as `F.mse_loss`.
            ///
            /// # Errors
            /// If `target`'s shape or dtype is not `self`'s.
            #[track_caller]
            pub fn try_mse_loss(&self, target: &$T, reduction: Reduction) -> Result<$T> {
                check_target("mse_loss", $value(self), $value(target))?;
                Ok(self.try_sub(target)?.square().reduce_loss(reduction))
            }

            /// The absolute error `|self - target|`, reduced, as `F.l1_loss`. The gradient at
            /// a zero difference is 0.
            ///
            /// # Errors
            /// If `target`'s shape or dtype is not `self`'s.
            #[track_caller]
            pub fn try_l1_loss(&self, target: &$T, reduction: Reduction) -> Result<$T> {
                check_target("l1_loss", $value(self), $value(target))?;
                Ok(self.try_sub(target)?.abs().reduce_loss(reduction))
            }

            /// The Huber loss with PyTorch's `beta`, reduced, as `F.smooth_l1_loss`: with
            /// `d = self - target`, `0.5 d^2 / beta` where `|d| < beta`, else
            /// `|d| - 0.5 beta`; `beta = 0` is `l1_loss`. Computed as
            /// `0.5 m^2 / beta + |d| - m` with `m = min(|d|, beta)`, so the gradient is
            /// `d / beta` inside and `sign(d)` outside.
            ///
            /// # Errors
            /// If `target`'s shape or dtype is not `self`'s, or `beta` is negative or NaN.
            #[track_caller]
            pub fn try_smooth_l1_loss(
                &self,
                target: &$T,
                beta: f64,
                reduction: Reduction,
            ) -> Result<$T> {
                check_target("smooth_l1_loss", $value(self), $value(target))?;
                check_beta(beta)?;
                let ad = self.try_sub(target)?.abs();
                if beta == 0.0 {
                    return Ok(ad.reduce_loss(reduction));
                }
                let m = ad.minimum_scalar(beta);
                let quad = m.square().mul_scalar(0.5 / beta);
                Ok(quad.try_add(&ad)?.try_sub(&m)?.reduce_loss(reduction))
            }

            /// The binary cross-entropy of probabilities `self` (in `[0, 1]`) against
            /// `target`, reduced, as `F.binary_cross_entropy`:
            /// `-(t log p + (1 - t) log(1 - p))`, each log clamped below at -100 as in
            /// PyTorch, so `p = 0` or `1` gives a finite loss. Where a log is clamped its
            /// gradient is 0 (PyTorch's is `(p - t) / max(p (1 - p), 1e-12)`); prefer
            /// `binary_cross_entropy_with_logits` on logits.
            ///
            /// # Errors
            /// If `target`'s shape or dtype is not `self`'s.
            #[track_caller]
            pub fn try_binary_cross_entropy(
                &self,
                target: &$T,
                reduction: Reduction,
            ) -> Result<$T> {
                check_target("binary_cross_entropy", $value(self), $value(target))?;
                let log_p = self.maximum_scalar(P_FLOOR).log().maximum_scalar(-100.0);
                let log_q = self
                    .rsub_scalar(1.0)
                    .maximum_scalar(P_FLOOR)
                    .log()
                    .maximum_scalar(-100.0);
                let pos = target.try_mul(&log_p)?;
                let neg = target.rsub_scalar(1.0).try_mul(&log_q)?;
                Ok(pos.try_add(&neg)?.neg().reduce_loss(reduction))
            }

            /// The binary cross-entropy of logits `self` against `target`, reduced, as
            /// `F.binary_cross_entropy_with_logits`, in the stable form
            /// `max(x, 0) - x t + log(1 + exp(-|x|))`: finite for any finite logit, and its
            /// gradient is `sigmoid(x) - t` (at `x = 0` too).
            ///
            /// # Errors
            /// If `target`'s shape or dtype is not `self`'s.
            #[track_caller]
            pub fn try_binary_cross_entropy_with_logits(
                &self,
                target: &$T,
                reduction: Reduction,
            ) -> Result<$T> {
                check_target(
                    "binary_cross_entropy_with_logits",
                    $value(self),
                    $value(target),
                )?;
                // `maximum_scalar` splits the gradient at a tie, which with `abs`' zero
                // gradient at 0 gives the exact `1/2 - t` at `x = 0`.
                let softplus_tail = self.abs().neg().exp().add_scalar(1.0).log();
                let loss = self
                    .maximum_scalar(0.0)
                    .try_sub(&self.try_mul(target)?)?
                    .try_add(&softplus_tail)?;
                Ok(loss.reduce_loss(reduction))
            }

            /// The KL divergence of `N(mu, exp(logvar))` (`self` is `mu`) from `N(0, 1)`,
            /// per element `-0.5 (1 + logvar - mu^2 - exp(logvar))`, reduced: the VAE's
            /// regularizer. Pass [`Reduction::Sum`] for the usual VAE term
            /// `-0.5 sum(1 + logvar - mu^2 - exp(logvar))` (summed over every latent of
            /// every sample; divide by the batch size for a per-sample mean).
            ///
            /// # Errors
            /// If `logvar`'s shape or dtype is not `self`'s.
            #[track_caller]
            pub fn try_gaussian_kl(&self, logvar: &$T, reduction: Reduction) -> Result<$T> {
                check_target("gaussian_kl", $value(self), $value(logvar))?;
                let inner = logvar
                    .add_scalar(1.0)
                    .try_sub(&self.square())?
                    .try_sub(&logvar.exp())?;
                Ok(inner.mul_scalar(-0.5).reduce_loss(reduction))
            }
        }
    };
}

/// A tensor as itself.
fn tensor_value(t: &Tensor) -> &Tensor {
    t
}

/// A variable's value.
fn var_value(v: &Var) -> &Tensor {
    v.value()
}

elementwise_losses!(Tensor, tensor_value);
elementwise_losses!(Var, var_value);

panicking! { Tensor, Var:
    /// The squared error against `target`, reduced; see `try_mse_loss`.
    mse_loss = try_mse_loss(target: &Self, reduction: Reduction) -> Self;
    /// The absolute error against `target`, reduced; see `try_l1_loss`.
    l1_loss = try_l1_loss(target: &Self, reduction: Reduction) -> Self;
    /// The Huber loss with PyTorch's `beta`, reduced; see `try_smooth_l1_loss`.
    smooth_l1_loss = try_smooth_l1_loss(target: &Self, beta: f64, reduction: Reduction) -> Self;
    /// The binary cross-entropy of probabilities, reduced; see `try_binary_cross_entropy`.
    binary_cross_entropy = try_binary_cross_entropy(target: &Self, reduction: Reduction) -> Self;
    /// The binary cross-entropy of logits, reduced; see `try_binary_cross_entropy_with_logits`.
    binary_cross_entropy_with_logits = try_binary_cross_entropy_with_logits(target: &Self, reduction: Reduction) -> Self;
    /// The KL divergence of `N(self, exp(logvar))` from `N(0, 1)`; see `try_gaussian_kl`.
    gaussian_kl = try_gaussian_kl(logvar: &Self, reduction: Reduction) -> Self;
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
