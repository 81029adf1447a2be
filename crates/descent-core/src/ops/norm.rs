//! Fused normalizations: `batch_norm` over the channels (dim 1) and `layer_norm` over the last
//! dims, each one op with its own backward rule.
//!
//! **PyTorch equivalent**: `torch.nn.functional.batch_norm(x, running_mean, running_var, weight,
//! bias, training, momentum=0, eps)` and `torch.nn.functional.layer_norm(x, normalized_shape,
//! weight, bias, eps)`.
//!
//! `batch_norm` takes `[N, C]` or `[N, C, *]` and normalizes each channel `c` over every other
//! dim: `y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c`. With
//! [`BatchNormStats::Batch`] (training) `mean_c`, `var_c` are the batch's own (the biased
//! variance), and the op also returns them as [`BatchStats`] (the variance *unbiased*, what
//! PyTorch folds into the running estimate), so a layer can update its running statistics
//! itself; [`BatchNormStats::Running`] (evaluation) normalizes with given estimates. The update
//! of running statistics is not part of the op.
//!
//! `layer_norm` normalizes each group of the last `normalized_shape.len()` dims (which must equal
//! `normalized_shape`), with a weight and bias of that shape, element by element.
//!
//! Derivatives, with `x_hat = (x - mean) invstd`, `invstd = 1 / sqrt(var + eps)` and `m` the
//! elements a statistic runs over: `grad_bias = sum g`, `grad_weight = sum g x_hat`; batch norm
//! with batch statistics `grad_in = w invstd (g - sum g / m - x_hat sum(g x_hat) / m)` (sums over
//! the channel), with running statistics `grad_in = w invstd g`; layer norm, with `gw = g w`,
//! `grad_in = invstd (gw - sum gw / m - x_hat sum(gw x_hat) / m)` (sums over the group). The
//! backward rules read the input, the saved `mean`/`invstd` per channel or group, and the weight:
//! one node instead of the dozen elementwise ops of the composite, and no saved `x_hat`.
//! The arithmetic is in `descent_kernels::norm`.

use crate::dtype::with_dtype;
use crate::error::{Error, Result, invalid};
use crate::ops::{BackwardRule, GradsIn, Op, opt};
use crate::panicking::panicking;
use crate::shape::Shape;
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};
use descent_kernels::Float;
use descent_kernels::norm::{self, ChannelLayout, NormGrads};

/// Which statistics [`Tensor::batch_norm`] / [`Var::batch_norm`] normalize with.
#[derive(Clone, Copy, Debug)]
pub enum BatchNormStats<'a> {
    /// The batch's own mean and biased variance per channel (training mode, PyTorch's
    /// `training=True`); they are returned as [`BatchStats`]. Needs more than one value per
    /// channel.
    Batch,
    /// Given estimates, each of shape `[C]` and the input's element type (evaluation mode, a
    /// layer's running statistics). They are constants: no gradient flows to them.
    Running {
        /// The mean per channel.
        mean: &'a Tensor,
        /// The variance per channel.
        var: &'a Tensor,
    },
}

/// The statistics of one training-mode batch norm, per channel (shape `[C]`, the input's element
/// type): what a layer folds into its running estimates, as PyTorch does
/// (`running = (1 - momentum) running + momentum batch`).
#[derive(Clone, Debug)]
pub struct BatchStats {
    /// The batch mean.
    pub mean: Tensor,
    /// The *unbiased* batch variance (`sum (x - mean)^2 / (m - 1)`, `m` values per channel);
    /// the normalization itself uses the biased one.
    pub var: Tensor,
}

/// What the forward computes and the backward reads.
struct Normalized {
    y: Tensor,
    /// The input, contiguous.
    x: Tensor,
    mean: Tensor,
    invstd: Tensor,
}

fn check_dtype(op: &'static str, x: &Tensor, other: &Tensor) -> Result<()> {
    if x.dtype() != other.dtype() {
        return Err(Error::DTypeMismatch {
            op,
            lhs: x.dtype(),
            rhs: other.dtype(),
        });
    }
    Ok(())
}

fn check_eps(op: &'static str, eps: f64) -> Result<()> {
    if !(eps >= 0.0 && eps.is_finite()) {
        return Err(invalid(op, format!("eps = {eps} must be finite and >= 0")));
    }
    Ok(())
}

/// `[n, c, s]` of a batch-norm input, and the shape and type checks of its operands.
fn batch_norm_layout(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    stats: &BatchNormStats<'_>,
    eps: f64,
) -> Result<ChannelLayout> {
    const OP: &str = "batch_norm";
    if x.rank() < 2 {
        return Err(invalid(
            OP,
            format!(
                "the input must have at least 2 dims ([N, C] or [N, C, *]), got shape {:?}",
                x.shape()
            ),
        ));
    }
    check_eps(OP, eps)?;
    let c = x.shape()[1];
    let operands = [
        ("weight", weight),
        ("bias", bias),
        ("running mean", stats_part(stats, true)),
        ("running var", stats_part(stats, false)),
    ];
    for (what, t) in operands {
        let Some(t) = t else { continue };
        if t.shape() != [c] {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: x.shape().into(),
                rhs: t.shape().into(),
                detail: format!(
                    "do not fit: the {what} must have shape [{c}], one value per channel (dim 1 \
                     of the input)"
                ),
            });
        }
        check_dtype(OP, x, t)?;
    }
    let l = ChannelLayout {
        n: x.shape()[0],
        c,
        s: x.shape()[2..].iter().product(),
    };
    if matches!(stats, BatchNormStats::Batch) && l.per_channel() <= 1 {
        return Err(invalid(
            OP,
            format!(
                "batch statistics need more than 1 value per channel, got input of shape {:?} \
                 ({} per channel); normalize with running statistics instead",
                x.shape(),
                l.per_channel()
            ),
        ));
    }
    Ok(l)
}

fn stats_part<'a>(stats: &BatchNormStats<'a>, mean: bool) -> Option<&'a Tensor> {
    match *stats {
        BatchNormStats::Batch => None,
        BatchNormStats::Running { mean: m, var: v } => Some(if mean { m } else { v }),
    }
}

/// The batch-norm forward: the output, what the backward reads, and the batch statistics.
fn batch_norm_forward(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    stats: BatchNormStats<'_>,
    eps: f64,
) -> Result<(Normalized, ChannelLayout, Option<BatchStats>)> {
    let l = batch_norm_layout(x, weight, bias, &stats, eps)?;
    let x = x.contiguous();
    let (weight, bias) = (weight.map(Tensor::contiguous), bias.map(Tensor::contiguous));
    let c = [l.c];
    Ok(with_dtype!(x.dtype(), T => {
        let xs = x.contiguous_slice::<T>().expect("contiguous");
        let (mean, var, batch) = match stats {
            BatchNormStats::Batch => {
                let mut mean = crate::dtype::for_overwrite::<T>(l.c);
                let mut var = crate::dtype::for_overwrite::<T>(l.c);
                norm::channel_moments(xs, l, &mut mean, &mut var);
                let (mean, var) = (Tensor::from_parts(mean, &c), Tensor::from_parts(var, &c));
                let m = l.per_channel() as f64;
                let unbiased = var.mul_scalar(m / (m - 1.0));
                (mean.clone(), var, Some(BatchStats { mean, var: unbiased }))
            }
            BatchNormStats::Running { mean, var } => (mean.contiguous(), var.contiguous(), None),
        };
        let mut invstd = crate::dtype::for_overwrite::<T>(l.c);
        norm::inv_std(
            var.contiguous_slice::<T>().expect("contiguous"),
            T::from_f64(eps),
            &mut invstd,
        );
        let invstd = Tensor::from_parts(invstd, &c);
        let mut y = crate::dtype::for_overwrite::<T>(l.numel());
        norm::batch_norm_forward(
            xs,
            l,
            mean.contiguous_slice::<T>().expect("contiguous"),
            invstd.contiguous_slice::<T>().expect("contiguous"),
            weight.as_ref().map(|w| w.contiguous_slice::<T>().expect("contiguous")),
            bias.as_ref().map(|b| b.contiguous_slice::<T>().expect("contiguous")),
            &mut y,
        );
        let y = Tensor::from_parts(y, x.shape());
        (Normalized { y, x, mean, invstd }, l, batch)
    }))
}

/// `[rows, d]` of a layer-norm input, and the shape and type checks of its operands.
fn layer_norm_rows(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<(usize, usize)> {
    const OP: &str = "layer_norm";
    let k = normalized_shape.len();
    if k == 0 || k > x.rank() || x.shape()[x.rank() - k..] != *normalized_shape {
        return Err(Error::ShapeMismatch {
            op: OP,
            lhs: x.shape().into(),
            rhs: normalized_shape.into(),
            detail: format!(
                "do not fit: normalized_shape {normalized_shape:?} must be non-empty and equal \
                 the input's last {k} dims"
            ),
        });
    }
    check_eps(OP, eps)?;
    for (what, t) in [("weight", weight), ("bias", bias)] {
        let Some(t) = t else { continue };
        if t.shape() != normalized_shape {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: x.shape().into(),
                rhs: t.shape().into(),
                detail: format!(
                    "do not fit: the {what} must have the normalized shape {normalized_shape:?}"
                ),
            });
        }
        check_dtype(OP, x, t)?;
    }
    let d: usize = normalized_shape.iter().product();
    let rows = x.shape()[..x.rank() - k].iter().product();
    Ok((rows, d))
}

fn layer_norm_forward(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<(Normalized, usize, usize)> {
    let (rows, d) = layer_norm_rows(x, normalized_shape, weight, bias, eps)?;
    let x = x.contiguous();
    let (weight, bias) = (weight.map(Tensor::contiguous), bias.map(Tensor::contiguous));
    Ok(with_dtype!(x.dtype(), T => {
        let mut y = crate::dtype::for_overwrite::<T>(rows * d);
        let mut mean = crate::dtype::for_overwrite::<T>(rows);
        let mut invstd = crate::dtype::for_overwrite::<T>(rows);
        norm::layer_norm_forward(
            x.contiguous_slice::<T>().expect("contiguous"),
            rows,
            d,
            T::from_f64(eps),
            weight.as_ref().map(|w| w.contiguous_slice::<T>().expect("contiguous")),
            bias.as_ref().map(|b| b.contiguous_slice::<T>().expect("contiguous")),
            &mut y,
            &mut mean,
            &mut invstd,
        );
        let y = Tensor::from_parts(y, x.shape());
        let mean = Tensor::from_parts(mean, &[rows]);
        let invstd = Tensor::from_parts(invstd, &[rows]);
        (Normalized { y, x, mean, invstd }, rows, d)
    }))
}

impl Tensor {
    /// Batch normalization over dim 1 of an `[N, C]` or `[N, C, *]` input, with an optional
    /// per-channel `weight` and `bias` (shape `[C]`); see the [module docs](self).
    ///
    /// With [`BatchNormStats::Batch`] it normalizes with the batch's statistics and also returns
    /// them ([`BatchStats`]: the mean and the *unbiased* variance, for running estimates); with
    /// [`BatchNormStats::Running`] it normalizes with the given ones and returns `None`.
    ///
    /// ```
    /// use descent_core::{BatchNormStats, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f64, 10.0, 3.0, 30.0], [2, 2]);
    /// let (y, stats) = x.batch_norm(None, None, BatchNormStats::Batch, 0.0);
    /// assert_eq!(y.to_vec_f64(), vec![-1.0, -1.0, 1.0, 1.0]);
    /// let stats = stats.unwrap();
    /// assert_eq!(stats.mean.to_vec_f64(), vec![2.0, 20.0]);
    /// assert_eq!(stats.var.to_vec_f64(), vec![2.0, 200.0]); // Unbiased.
    /// ```
    ///
    /// # Errors
    /// If the input has fewer than 2 dims; a weight, bias or running statistic is not of shape
    /// `[C]` or not of the input's element type; `eps` is negative or not finite; or batch
    /// statistics are asked of one value per channel.
    pub fn try_batch_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        stats: BatchNormStats<'_>,
        eps: f64,
    ) -> Result<(Tensor, Option<BatchStats>)> {
        let (n, _, batch) = batch_norm_forward(self, weight, bias, stats, eps)?;
        Ok((n.y, batch))
    }

    /// Layer normalization over the last `normalized_shape.len()` dims (which must equal
    /// `normalized_shape`), with an optional elementwise `weight` and `bias` of that shape; see
    /// the [module docs](self).
    ///
    /// ```
    /// use descent_core::Tensor;
    /// let x = Tensor::from_vec(vec![1.0f64, 3.0, 10.0, 30.0], [2, 2]);
    /// assert_eq!(x.layer_norm(&[2], None, None, 0.0).to_vec_f64(), vec![-1.0, 1.0, -1.0, 1.0]);
    /// ```
    ///
    /// # Errors
    /// If `normalized_shape` is empty or is not the input's trailing dims, the weight or bias is
    /// not of that shape or not of the input's element type, or `eps` is negative or not finite.
    pub fn try_layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        eps: f64,
    ) -> Result<Tensor> {
        Ok(
            layer_norm_forward(self, normalized_shape, weight, bias, eps)?
                .0
                .y,
        )
    }
}

/// Where the optional weight and bias sit among a node's inputs (the input is slot 0).
#[derive(Clone, Copy)]
struct Slots {
    weight: Option<usize>,
    bias: Option<usize>,
}

impl Slots {
    fn new(weight: bool, bias: bool) -> Slots {
        let w = weight.then_some(1);
        Slots {
            weight: w,
            bias: bias.then_some(1 + usize::from(weight)),
        }
    }

    fn needs(slot: Option<usize>, grads: &GradsIn) -> bool {
        slot.is_some_and(|s| grads.needs(s))
    }
}

/// The inputs of a normalization node: the input, then the weight and bias that are present.
fn inputs<'a>(x: &'a Var, weight: Option<&'a Var>, bias: Option<&'a Var>) -> Vec<&'a Var> {
    std::iter::once(x).chain(weight).chain(bias).collect()
}

/// The backward rule of `batch_norm` (both modes): the kernel
/// [`norm::batch_norm_backward`] from the input, the `mean`/`invstd` it was normalized with and
/// the weight.
pub(crate) struct BatchNormNode {
    norm: SavedNorm,
    layout: ChannelLayout,
    /// Whether the statistics were the batch's (they then depend on the input).
    batch_stats: bool,
}

/// What both normalization rules save.
struct SavedNorm {
    /// The input, contiguous.
    x: Tensor,
    mean: Tensor,
    invstd: Tensor,
    /// The weight, contiguous, if there is one.
    weight: Option<Tensor>,
    slots: Slots,
}

impl SavedNorm {
    fn bytes(&self) -> usize {
        self.x.nbytes() + self.mean.nbytes() + self.invstd.nbytes() + opt(&self.weight)
    }

    /// Allocates the gradients `grads` needs, runs `kernel` on them, and hands them over with
    /// the input's and the parameters' shapes.
    fn backward<T: crate::dtype::Element>(
        &self,
        grads: &mut GradsIn,
        param_shape: &[usize],
        kernel: impl FnOnce(Option<&[T]>, NormGrads<'_, T>),
    ) {
        let needs_w = Slots::needs(self.slots.weight, grads);
        let needs_b = Slots::needs(self.slots.bias, grads);
        let params = param_shape.iter().product();
        let mut dx = grads
            .needs(0)
            .then(|| crate::dtype::zeros::<T>(self.x.numel()));
        let mut dw = needs_w.then(|| crate::dtype::zeros::<T>(params));
        let mut db = needs_b.then(|| crate::dtype::zeros::<T>(params));
        kernel(
            self.weight
                .as_ref()
                .map(|w| w.contiguous_slice::<T>().expect("saved contiguous")),
            NormGrads {
                input: dx.as_deref_mut(),
                weight: dw.as_deref_mut(),
                bias: db.as_deref_mut(),
            },
        );
        if let Some(dx) = dx {
            grads.set(0, Tensor::from_parts(dx, self.x.shape()));
        }
        if let (Some(dw), Some(s)) = (dw, self.slots.weight) {
            grads.set(s, Tensor::from_parts(dw, param_shape));
        }
        if let (Some(db), Some(s)) = (db, self.slots.bias) {
            grads.set(s, Tensor::from_parts(db, param_shape));
        }
    }
}

impl BackwardRule for BatchNormNode {
    fn saved_bytes(&self) -> usize {
        self.norm.bytes()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let g = g.contiguous();
        let s = &self.norm;
        let l = self.layout;
        with_dtype!(g.dtype(), T => {
            s.backward::<T>(grads, &[l.c], |w, out| {
                norm::batch_norm_backward(
                    g.contiguous_slice::<T>().expect("contiguous"),
                    s.x.contiguous_slice::<T>().expect("saved contiguous"),
                    l,
                    s.mean.contiguous_slice::<T>().expect("saved contiguous"),
                    s.invstd.contiguous_slice::<T>().expect("saved contiguous"),
                    w,
                    self.batch_stats,
                    out,
                )
            })
        });
        Ok(())
    }
}

/// The backward rule of `layer_norm`: the kernel [`norm::layer_norm_backward`] from the input,
/// the per-group `mean`/`invstd` and the weight.
pub(crate) struct LayerNormNode {
    norm: SavedNorm,
    rows: usize,
    d: usize,
    normalized_shape: Shape,
}

impl BackwardRule for LayerNormNode {
    fn saved_bytes(&self) -> usize {
        self.norm.bytes()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        let g = g.contiguous();
        let s = &self.norm;
        with_dtype!(g.dtype(), T => {
            s.backward::<T>(grads, &self.normalized_shape, |w, out| {
                norm::layer_norm_backward(
                    g.contiguous_slice::<T>().expect("contiguous"),
                    s.x.contiguous_slice::<T>().expect("saved contiguous"),
                    self.rows,
                    self.d,
                    s.mean.contiguous_slice::<T>().expect("saved contiguous"),
                    s.invstd.contiguous_slice::<T>().expect("saved contiguous"),
                    w,
                    out,
                )
            })
        });
        Ok(())
    }
}

impl Var {
    /// Batch normalization, one op, as [`Tensor::try_batch_norm`]; gradients for the input,
    /// the weight and the bias (see the [module docs](self)). Running statistics are constants.
    ///
    /// ```
    /// use descent_core::{BatchNormStats, Tape, Tensor};
    /// let tape = Tape::new();
    /// let x = tape.var(&Tensor::from_vec(vec![1.0f64, 2.0, 4.0, 8.0], [4, 1]));
    /// let (y, stats) = x.batch_norm(None, None, BatchNormStats::Batch, 1e-5);
    /// assert_eq!(stats.unwrap().mean.to_vec_f64(), vec![3.75]);
    /// let grads = y.square().sum_all().backward();
    /// assert_eq!(grads.wrt(&x).unwrap().shape(), &[4, 1]);
    /// ```
    ///
    /// # Errors
    /// As [`Tensor::try_batch_norm`], or if the operands are on different tapes.
    #[track_caller]
    pub fn try_batch_norm(
        &self,
        weight: Option<&Var>,
        bias: Option<&Var>,
        stats: BatchNormStats<'_>,
        eps: f64,
    ) -> Result<(Var, Option<BatchStats>)> {
        let mut batch = None;
        let batch_stats = matches!(stats, BatchNormStats::Batch);
        let y = Var::record("batch_norm", &inputs(self, weight, bias), || {
            let (n, layout, b) = batch_norm_forward(
                self.value(),
                weight.map(Var::value),
                bias.map(Var::value),
                stats,
                eps,
            )?;
            batch = b;
            Ok(Recorded {
                value: n.y,
                op: Op::BatchNorm(Box::new(BatchNormNode {
                    norm: SavedNorm {
                        x: n.x,
                        mean: n.mean,
                        invstd: n.invstd,
                        weight: weight.map(|w| w.value().contiguous()),
                        slots: Slots::new(weight.is_some(), bias.is_some()),
                    },
                    layout,
                    batch_stats,
                })),
            })
        })?;
        Ok((y, batch))
    }

    /// Layer normalization, one op, as [`Tensor::try_layer_norm`]; gradients for the input,
    /// the weight and the bias (see the [module docs](self)).
    ///
    /// # Errors
    /// As [`Tensor::try_layer_norm`], or if the operands are on different tapes.
    #[track_caller]
    pub fn try_layer_norm(
        &self,
        normalized_shape: &[usize],
        weight: Option<&Var>,
        bias: Option<&Var>,
        eps: f64,
    ) -> Result<Var> {
        Var::record("layer_norm", &inputs(self, weight, bias), || {
            let (n, rows, d) = layer_norm_forward(
                self.value(),
                normalized_shape,
                weight.map(Var::value),
                bias.map(Var::value),
                eps,
            )?;
            Ok(Recorded {
                value: n.y,
                op: Op::LayerNorm(Box::new(LayerNormNode {
                    norm: SavedNorm {
                        x: n.x,
                        mean: n.mean,
                        invstd: n.invstd,
                        weight: weight.map(|w| w.value().contiguous()),
                        slots: Slots::new(weight.is_some(), bias.is_some()),
                    },
                    rows,
                    d,
                    normalized_shape: normalized_shape.into(),
                })),
            })
        })
    }
}

panicking! { Tensor, Var:
    /// Batch normalization over dim 1; see `try_batch_norm`.
    batch_norm = try_batch_norm(weight: Option<&Self>, bias: Option<&Self>, stats: BatchNormStats<'_>, eps: f64) -> (Self, Option<BatchStats>);
    /// Layer normalization over the last dims; see `try_layer_norm`.
    layer_norm = try_layer_norm(normalized_shape: &[usize], weight: Option<&Self>, bias: Option<&Self>, eps: f64) -> Self;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn batch_norm_forward_golden() {
        // Channel 0 of [[1, 10], [3, 30]] is [1, 3]: mean 2, biased var 1, so x_hat = [-1, 1];
        // with weight 2 and bias 0.5, y = [-1.5, 2.5]. Channel 1: mean 20, var 100, the same
        // x_hat, weight 1 and bias 0: [-1, 1]. Unbiased variances: 2 and 200.
        let x = Tensor::from_vec(vec![1.0f64, 10.0, 3.0, 30.0], [2, 2]);
        let w = Tensor::from_vec(vec![2.0f64, 1.0], [2]);
        let b = Tensor::from_vec(vec![0.5f64, 0.0], [2]);
        let (y, stats) = x.batch_norm(Some(&w), Some(&b), BatchNormStats::Batch, 0.0);
        assert_eq!(y.to_vec_f64(), vec![-1.5, -1.0, 2.5, 1.0]);
        let stats = stats.expect("batch statistics");
        assert_eq!(stats.var.to_vec_f64(), vec![2.0, 200.0]);
        // Eval with running mean 0, var 3, eps 1: (x - 0) / 2 * w + b.
        let (rm, rv) = (
            Tensor::zeros([2]).to_dtype(DType::F64),
            Tensor::full([2], 3.0),
        );
        let rv = rv.to_dtype(DType::F64);
        let running = BatchNormStats::Running {
            mean: &rm,
            var: &rv,
        };
        let (y, none) = x.batch_norm(Some(&w), Some(&b), running, 1.0);
        assert!(none.is_none());
        assert_eq!(y.to_vec_f64(), vec![1.5, 5.0, 3.5, 15.0]);
    }

    #[test]
    fn layer_norm_forward_golden() {
        // Row [1, 2, 3, 4]: mean 2.5, var 1.25, x_hat = (x - 2.5) / sqrt(1.25).
        let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [1, 2, 2]);
        let y = x.layer_norm(&[2, 2], None, None, 0.0).to_vec_f64();
        let s = 1.25f64.sqrt();
        for (got, want) in y.iter().zip([-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]) {
            assert!((got - want).abs() < 1e-15, "{y:?}");
        }
    }
}
