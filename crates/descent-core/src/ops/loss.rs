//! Losses. Classification with integer class labels: `nll_loss` and `cross_entropy` (with
//! PyTorch's options through `cross_entropy_with`); regression and probability losses against a
//! float target of the input's shape: `mse_loss`, `l1_loss`, `smooth_l1_loss`,
//! `binary_cross_entropy`, `binary_cross_entropy_with_logits`, `kl_div`; and the VAE's
//! `gaussian_kl` of `(mu, logvar)`.
//!
//! **PyTorch equivalent**: `F.nll_loss(input, target)` and `F.cross_entropy(input, target, weight,
//! ignore_index, reduction, label_smoothing)`: `input` holds scores of shape `[N, C]` (or
//! `[N, C, d1, ...]`, or `[C]` for one sample), `target` holds one class in `0..C` per sample, of
//! shape `[N]` (`[N, d1, ...]`, `[]`). A target of another shape is an error that names the
//! expected shape: labels of shape `[1, N]` or `[N, 1]` would otherwise broadcast into a silently
//! wrong loss.
//!
//! `nll_loss` is a composition: `-mean(gather(input, 1, target))`.
//!
//! **`cross_entropy` is one op** with its own backward rule (numerics and speed demand it: one
//! pass per row instead of log-softmax, gather, mean and their three backward passes), computed
//! by `descent_kernels::cross_entropy`. Per sample, with `logp = log_softmax(x)` (max subtracted,
//! so logits of `±1e4` in `f32` and `±1e30` in `f64` stay finite), class weights `w` (all ones by
//! default), label smoothing `eps` and `C` classes, exactly as PyTorch:
//!
//! `loss = (1 - eps) w_t (-logp_t) + (eps / C) sum_c w_c (-logp_c)`, 0 for an ignored sample;
//!
//! `Sum` adds them, `None` keeps them (shape of the target), and `Mean` divides the sum by the
//! total weight `sum w_t` of the samples not ignored (PyTorch's weighted mean; the number of
//! samples not ignored without weights). When every sample is ignored that is `0 / 0`: the mean
//! is NaN, as in PyTorch (`Sum` gives 0), and the gradient is 0. The gradient is
//! `s (softmax A - (1 - eps) w_t one_hot_t - (eps / C) w)` per sample with
//! `A = (1 - eps) w_t + (eps / C) sum_c w_c` and `s` the upstream gradient (divided by the total
//! weight for `Mean`): `s (softmax - smoothed one-hot)` without weights.
//!
//! **Elementwise losses**: `F.mse_loss`, `F.l1_loss`, `F.smooth_l1_loss`,
//! `F.binary_cross_entropy`, `F.binary_cross_entropy_with_logits`, each with a [`Reduction`]
//! (PyTorch's `reduction=`), and `F.kl_div` with a [`KlReduction`] (which adds `batchmean`). The
//! target must have exactly the input's shape and dtype: PyTorch broadcasts a target of another
//! shape with a warning (an `[N, 1]` prediction against an `[N]` target becomes an `[N, N]` loss);
//! descent refuses it with [`Error::ShapeMismatch`]. They are compositions of elementwise ops,
//! with no backward rule of their own.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid};
use crate::int_tensor::IntTensor;
use crate::ops::{BackwardRule, GradsIn, Op, Pooled, opt};
use crate::panicking::panicking;
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::Float;
use descent_kernels::cross_entropy as kernel;

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
    /// `F.cross_entropy` with its defaults; a 0-d tensor. One fused op; see the module docs and
    /// [`Tensor::try_cross_entropy_with`] for the options.
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
        self.try_cross_entropy_with(target, CrossEntropy::default())
    }

    /// The cross-entropy of the classes `target` under the logits `self` with PyTorch's options
    /// (class weights, `ignore_index`, label smoothing, reduction), as `F.cross_entropy`; see the
    /// module docs for the exact formula and the weighted mean.
    ///
    /// ```
    /// use descent_core::{CrossEntropy, IntTensor, Reduction, Tensor};
    /// let logits = Tensor::from_vec(vec![0.0f64, 0.0, 0.0, 0.0], [2, 2]);
    /// let labels = IntTensor::from_vec(vec![1, -100], [2]);
    /// let per_sample = logits.cross_entropy_with(
    ///     &labels,
    ///     CrossEntropy { ignore_index: Some(-100), reduction: Reduction::None, ..Default::default() },
    /// );
    /// assert_eq!(per_sample.to_vec_f64(), vec![2f64.ln(), 0.0]);
    /// ```
    ///
    /// # Errors
    /// If `target`'s shape is not `self`'s without the class dim; a class is out of range and not
    /// `ignore_index` ([`Error::IndexOutOfRange`] naming `cross_entropy`); the weight is not
    /// `[C]` or not of `self`'s dtype; `label_smoothing` is not in `[0, 1]`.
    pub fn try_cross_entropy_with(
        &self,
        target: &IntTensor,
        options: CrossEntropy,
    ) -> Result<Tensor> {
        Ok(cross_entropy_forward(self, target, &options)?.0)
    }
}

/// Options of `cross_entropy_with`: PyTorch's `F.cross_entropy` arguments. The default is
/// PyTorch's default except `ignore_index` (see its doc).
///
/// ```
/// use descent_core::{CrossEntropy, Reduction};
/// let smoothed = CrossEntropy { label_smoothing: 0.1, reduction: Reduction::Sum, ..Default::default() };
/// assert!(smoothed.weight.is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CrossEntropy {
    /// A weight per class (`[C]`, the input's dtype), PyTorch's `weight`; `None` for all ones.
    /// Not differentiated (PyTorch's is not either).
    pub weight: Option<Tensor>,
    /// A label value whose samples contribute nothing (to the loss, the mean's divisor and the
    /// gradient), PyTorch's `ignore_index`. The default is `None`: every label must be a class.
    /// PyTorch's default is `-100`; pass `Some(-100)` for its behaviour. (descent does not ignore
    /// `-100` silently, so a stray negative label is an error rather than a skipped sample.)
    pub ignore_index: Option<i64>,
    /// Label smoothing `eps` in `[0, 1]`, PyTorch's `label_smoothing`: the target becomes
    /// `(1 - eps) one_hot + eps / C`, weighted by class as PyTorch does (module docs).
    pub label_smoothing: f64,
    /// `Mean` (the default: divided by the total weight of the samples not ignored), `Sum` or
    /// `None` (one loss per sample, of the target's shape).
    pub reduction: Reduction,
}

/// The fused forward of `cross_entropy`: the loss as `options.reduction` says, and what the
/// backward rule reads.
fn cross_entropy_forward(
    x: &Tensor,
    target: &IntTensor,
    options: &CrossEntropy,
) -> Result<(Tensor, CrossEntropyNode)> {
    const OP: &str = "cross_entropy";
    let classes = target.check_labels_for(OP, x.shape())?;
    let eps = options.label_smoothing;
    if !(0.0..=1.0).contains(&eps) {
        return Err(invalid(
            OP,
            format!("label_smoothing must be in [0, 1], got {eps}"),
        ));
    }
    if let Some(w) = &options.weight {
        if w.shape() != [classes] {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: x.shape().into(),
                rhs: w.shape().into(),
                detail: format!(
                    "do not fit: the class weight must have shape [{classes}] (one per class),                      got {:?}",
                    w.shape()
                ),
            });
        }
        if w.dtype() != x.dtype() {
            return Err(Error::DTypeMismatch {
                op: OP,
                lhs: x.dtype(),
                rhs: w.dtype(),
            });
        }
    }
    let axis = if x.rank() == 1 { 0 } else { 1 };
    let mut targets = SPARE_TARGETS
        .try_with(std::cell::Cell::take)
        .unwrap_or_default();
    target.to_class_targets(OP, classes, axis, options.ignore_index, &mut targets)?;
    let outer = if x.rank() == 1 { 1 } else { x.shape()[0] };
    let inner: usize = x.shape()[(axis + 1).min(x.rank())..].iter().product();
    let x = x.contiguous();
    let weight = options.weight.as_ref().map(Tensor::contiguous);
    let rows = targets.len();
    let (per_sample, saved, total) = with_dtype!(x.dtype(), T => {
        let w = weight.as_ref().map(|w| w.contiguous_slice::<T>().expect("contiguous"));
        let a = kernel::CrossEntropy {
            x: x.contiguous_slice::<T>().expect("contiguous"),
            outer,
            classes,
            inner,
            targets: &targets,
            weight: w,
            smoothing: T::from_f64(eps),
        };
        let mut loss = crate::dtype::for_overwrite::<T>(rows);
        let mut saved = crate::dtype::for_overwrite::<T>(2 * rows);
        let total = kernel::forward(&a, &mut loss, &mut saved);
        (
            Tensor::from_parts(loss, target.shape()),
            Tensor::from_parts(saved, &[rows, 2]),
            total.to_f64(),
        )
    });
    let value = match options.reduction {
        Reduction::None => per_sample,
        Reduction::Sum => per_sample.sum_all(),
        // 0 / 0 = NaN when every sample is ignored, as PyTorch.
        Reduction::Mean => per_sample.sum_all().div_scalar(total),
    };
    let node = CrossEntropyNode {
        x,
        saved,
        targets,
        weight,
        smoothing: eps,
        reduction: options.reduction,
        total_weight: total,
        dims: (outer, classes, inner),
    };
    Ok((value, node))
}

/// The backward rule of `cross_entropy`, from the logits, the `(max, log-sum)` pair of each row,
/// the targets and the options (module docs: `s (softmax A - smoothed weighted one-hot)`).
pub(crate) struct CrossEntropyNode {
    /// The logits, contiguous.
    x: Tensor,
    /// `[rows, 2]`: each row's max and `ln sum e^(x - max)`.
    saved: Tensor,
    /// One class per row, or `kernel::IGNORE`.
    targets: Vec<usize>,
    /// The class weights, contiguous.
    weight: Option<Tensor>,
    smoothing: f64,
    reduction: Reduction,
    /// The mean's divisor.
    total_weight: f64,
    /// `(outer, classes, inner)`.
    dims: (usize, usize, usize),
}

super::recycled!(CrossEntropyNode);

thread_local! {
    /// The targets storage of this thread's last dropped `cross_entropy` node, for the next one.
    static SPARE_TARGETS: std::cell::Cell<Vec<usize>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Drop for CrossEntropyNode {
    fn drop(&mut self) {
        let targets = std::mem::take(&mut self.targets);
        if targets.capacity() <= 1 << 20 {
            let _ = SPARE_TARGETS.try_with(|spare| spare.set(targets));
        }
    }
}

impl BackwardRule for CrossEntropyNode {
    fn saved_bytes(&self) -> usize {
        self.x.nbytes()
            + self.saved.nbytes()
            + opt(&self.weight)
            + self.targets.len() * std::mem::size_of::<usize>()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        if !grads.needs(0) {
            return Ok(());
        }
        let (outer, classes, inner) = self.dims;
        let scale = match self.reduction {
            Reduction::Mean => 1.0 / self.total_weight,
            Reduction::Sum | Reduction::None => 1.0,
        };
        let g = g.contiguous();
        let dx = with_dtype!(self.x.dtype(), T => {
            let a = kernel::CrossEntropy {
                x: self.x.contiguous_slice::<T>().expect("contiguous"),
                outer,
                classes,
                inner,
                targets: &self.targets,
                weight: self.weight.as_ref().map(|w| w.contiguous_slice::<T>().expect("contiguous")),
                smoothing: T::from_f64(self.smoothing),
            };
            let mut dx = crate::dtype::for_overwrite::<T>(self.x.numel());
            kernel::backward(
                &a,
                self.saved.contiguous_slice::<T>().expect("contiguous"),
                g.contiguous_slice::<T>().expect("contiguous"),
                T::from_f64(scale),
                &mut dx,
            );
            Tensor::from_parts(dx, self.x.shape())
        });
        grads.set(0, dx);
        Ok(())
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

    /// The mean cross-entropy of logits, as [`Tensor::try_cross_entropy`], recorded as one
    /// node.
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
        self.try_cross_entropy_with(target, CrossEntropy::default())
    }

    /// The cross-entropy of logits with PyTorch's options, as
    /// [`Tensor::try_cross_entropy_with`], recorded as one node with its own backward rule.
    ///
    /// # Errors
    /// As [`Tensor::try_cross_entropy_with`].
    #[track_caller]
    pub fn try_cross_entropy_with(&self, target: &IntTensor, options: CrossEntropy) -> Result<Var> {
        Var::record("cross_entropy", &[self], || {
            let (value, node) = cross_entropy_forward(self.value(), target, &options)?;
            Ok(Recorded {
                value,
                op: Op::CrossEntropy(Pooled::new(node)),
            })
        })
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

/// How `kl_div` reduces its per-element values, as PyTorch's `reduction=` of `F.kl_div`: the
/// three of [`Reduction`] plus `batchmean`, which only `kl_div` accepts (hence a type of its own,
/// so the other losses cannot be given it).
///
/// The default is [`KlReduction::Mean`], as in PyTorch (which warns that it is not the KL
/// divergence; `BatchMean` is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KlReduction {
    /// The mean over every element (`reduction='mean'`); a 0-d tensor.
    #[default]
    Mean,
    /// The sum over every element (`reduction='sum'`); a 0-d tensor.
    Sum,
    /// No reduction (`reduction='none'`): the per-element values, of the input's shape.
    None,
    /// The sum divided by the input's dim 0, the batch size (`reduction='batchmean'`): the KL
    /// divergence per sample; a 0-d tensor.
    BatchMean,
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

            /// The Kullback-Leibler divergence `KL(target || p)` of log-probabilities `self`
            /// (`log p`) from `target`, reduced, as `F.kl_div(self, target, reduction,
            /// log_target)`. Per element: `t (log t - self)` (`xlogy(t, t) - t self`, with
            /// `0 log 0 = 0`) for probabilities `t`, or `e^t (t - self)` if `log_target` (then
            /// `target` holds `log t`). [`KlReduction::BatchMean`] is the mathematical KL
            /// divergence per sample; `Mean` divides by the number of elements, as PyTorch.
            /// A negative probability target gives NaN, as in PyTorch; at `t = 0` exactly the
            /// gradient with respect to `t` is `-self` (PyTorch's is NaN there).
            ///
            /// # Errors
            /// If `target`'s shape or dtype is not `self`'s.
            #[track_caller]
            pub fn try_kl_div(
                &self,
                target: &$T,
                reduction: KlReduction,
                log_target: bool,
            ) -> Result<$T> {
                check_target("kl_div", $value(self), $value(target))?;
                let per = if log_target {
                    target.exp().try_mul(&target.try_sub(self)?)?
                } else {
                    // The log is taken of `t` where `t != 0` and of 1 where `t == 0`, so
                    // `0 log 0 = 0` and no gradient is NaN there.
                    let safe = target.try_add(&target.eq_scalar(0.0))?;
                    target
                        .try_mul(&safe.log())?
                        .try_sub(&target.try_mul(self)?)?
                };
                Ok(match reduction {
                    KlReduction::Mean => per.mean_all(),
                    KlReduction::Sum => per.sum_all(),
                    KlReduction::None => per,
                    // PyTorch: the sum divided by the input's dim 0 (the sum for a 0-d input).
                    KlReduction::BatchMean => match $value(self).shape().first() {
                        Some(&n) => per.sum_all().div_scalar(n as f64),
                        None => per.sum_all(),
                    },
                })
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
    /// The KL divergence from `target` of log-probabilities `self`, reduced; see `try_kl_div`.
    kl_div = try_kl_div(target: &Self, reduction: KlReduction, log_target: bool) -> Self;
    /// The KL divergence of `N(self, exp(logvar))` from `N(0, 1)`; see `try_gaussian_kl`.
    gaussian_kl = try_gaussian_kl(logvar: &Self, reduction: Reduction) -> Self;
}

panicking! { Tensor, Var:
    /// The mean negative log-likelihood of `target` classes; see `try_nll_loss`.
    nll_loss = try_nll_loss(target: &IntTensor) -> Self;
    /// The mean cross-entropy of `target` classes under logits; see `try_cross_entropy`.
    cross_entropy = try_cross_entropy(target: &IntTensor) -> Self;
    /// The cross-entropy with PyTorch's options; see `try_cross_entropy_with`.
    cross_entropy_with = try_cross_entropy_with(target: &IntTensor, options: CrossEntropy) -> Self;
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
    fn cross_entropy_with_weights_and_smoothing_golden() {
        // Logits [0, 0], target 1, weight [1, 3], eps = 0.5, C = 2: logp = [-ln 2, -ln 2], so
        // loss = (1 - eps) w_1 ln 2 + (eps / C)(w_0 + w_1) ln 2 = (1.5 + 1) ln 2 = 2.5 ln 2, and
        // the mean divides by w_1 = 3. Gradient / 3: A = 0.5 * 3 + 0.25 * 4 = 2.5, p = 1/2:
        // dx_0 = (1.25 - 0.25) / 3 = 1/3, dx_1 = (1.25 - 1.5 - 0.75) / 3 = -1/3.
        use crate::{CrossEntropy, Tape};
        let options = CrossEntropy {
            weight: Some(Tensor::from_vec(vec![1.0f64, 3.0], [2])),
            label_smoothing: 0.5,
            ..Default::default()
        };
        let tape = Tape::new();
        let x = tape.var(Tensor::from_vec(vec![0.0f64, 0.0], [1, 2]));
        let loss = x.cross_entropy_with(&IntTensor::from(&[1usize][..]), options);
        assert!((loss.value().item() - 2.5 * 2f64.ln() / 3.0).abs() < 1e-15);
        let g = loss.backward().wrt(&x).unwrap().to_vec_f64();
        assert!((g[0] - 1.0 / 3.0).abs() < 1e-15 && (g[1] + 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn spatial_targets_average_over_every_position() {
        // [N=1, C=2, 2] with equal scores: the loss is ln 2 at every position.
        let logits = Tensor::zeros([1, 2, 2]).to_dtype(crate::DType::F64);
        let loss = logits.cross_entropy(&IntTensor::from_vec(vec![0, 1], [1, 2]));
        assert!((loss.item() - 2f64.ln()).abs() < 1e-15);
    }
}
