//! Normalization layers: [`BatchNorm1d`], [`BatchNorm2d`] (and [`BatchNorm3d`]), as
//! `torch.nn.BatchNorm*d`, with running statistics kept in [`Buffer`]s; and [`LayerNorm`], as
//! `torch.nn.LayerNorm`. Each forward is one fused op of descent-core
//! ([`Var::try_batch_norm`], [`Var::try_layer_norm`]).

use crate::buffer::Buffer;
use crate::module::{Ctx, Module, Visit, with_module_path};
use descent_core::{BatchNormStats, BatchStats, Error, IntTensor, Param, Result, Tensor, Var};

/// The settings of a batch-norm layer, PyTorch's defaults by [`Default`]:
/// `eps = 1e-5`, `momentum = Some(0.1)`, `affine = true`, `track_running_stats = true`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before its square root.
    pub eps: f64,
    /// The weight of a new batch in the running statistics:
    /// `running = (1 - momentum) running + momentum batch`. `None` keeps a cumulative average
    /// instead (PyTorch's `momentum=None`: the factor is `1 / num_batches_tracked`).
    pub momentum: Option<f64>,
    /// Whether the layer has a learnable per-channel `weight` (ones) and `bias` (zeros).
    pub affine: bool,
    /// Whether the layer keeps running statistics (buffers `running_mean`, `running_var`,
    /// `num_batches_tracked`) and normalizes with them in evaluation; without them it always
    /// normalizes with the batch's statistics.
    pub track_running_stats: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: Some(0.1),
            affine: true,
            track_running_stats: true,
        }
    }
}

/// Batch normalization over the channels (dim 1) of `[N, C]` or `[N, C, L]` inputs
/// (`D = 1`, [`BatchNorm1d`]), `[N, C, H, W]` (`D = 2`, [`BatchNorm2d`]) or `[N, C, D, H, W]`
/// (`D = 3`, [`BatchNorm3d`]), as `torch.nn.BatchNorm{D}d`:
/// `y = (x - mean) / sqrt(var + eps) * weight + bias` per channel.
///
/// In training ([`Ctx::is_train`]) it normalizes with the batch's mean and biased variance and,
/// if it tracks running statistics, folds them into its buffers (through `&self`: they are
/// [`Buffer`]s): `num_batches_tracked += 1`, then
/// `running_mean = (1 - f) running_mean + f mean` and likewise `running_var` with the *unbiased*
/// batch variance, `f` being `momentum` or, with `momentum = None`, `1 / num_batches_tracked`.
/// In evaluation it normalizes with the running statistics (or, if it does not track them, with
/// the batch's). A batch of one value per channel cannot be normalized with its own statistics
/// and is refused in training, as in PyTorch.
///
/// Parameters `weight` (ones) and `bias` (zeros), `[C]`, if affine; buffers `running_mean`
/// (zeros, `[C]`), `running_var` (ones, `[C]`) and `num_batches_tracked` (an integer scalar of
/// shape `[]`), PyTorch's `state_dict` names, if it tracks running statistics. All `f32`: to run
/// in `f64`, give every parameter and buffer an `f64` value.
///
/// Training forwards of one model from several threads at once would interleave their updates
/// of the running statistics; run training on one thread (eval forwards only read them).
///
/// ```
/// use descent_core::{Tape, Tensor};
/// use descent_nn::{BatchNorm1d, Ctx, Module};
/// let bn = BatchNorm1d::new(2);
/// let x = Tensor::from_vec(vec![1.0f32, 10.0, 3.0, 30.0], [2, 2]);
/// let tape = Tape::new();
/// let y = bn.forward(&tape.constant(&x), &Ctx::train(0, 0, 0)).unwrap();
/// assert!((y.value().to_vec_f32()[0] + 1.0).abs() < 1e-4); // (1 - 2) / sqrt(1 + eps)
/// // running_mean = 0.9 * 0 + 0.1 * [2, 20].
/// let rm = bn.running_mean.as_ref().unwrap().tensor().to_vec_f32();
/// assert!((rm[0] - 0.2).abs() < 1e-6 && (rm[1] - 2.0).abs() < 1e-6);
/// assert_eq!(bn.num_batches_tracked.as_ref().unwrap().int_tensor().item(), 1);
/// ```
#[derive(Debug)]
pub struct BatchNorm<const D: usize> {
    /// `[C]`, ones at construction, if affine.
    pub weight: Option<Param>,
    /// `[C]`, zeros at construction, if affine.
    pub bias: Option<Param>,
    /// `[C]`, zeros at construction, if the layer tracks running statistics.
    pub running_mean: Option<Buffer>,
    /// `[C]`, ones at construction, if the layer tracks running statistics.
    pub running_var: Option<Buffer>,
    /// An integer scalar (shape `[]`): the training batches folded into the running statistics.
    pub num_batches_tracked: Option<Buffer>,
    /// Added to the variance before its square root.
    pub eps: f64,
    /// The weight of a new batch in the running statistics; `None`: a cumulative average.
    pub momentum: Option<f64>,
    num_features: usize,
}

/// Batch normalization of `[N, C]` or `[N, C, L]` inputs, as `torch.nn.BatchNorm1d`; see
/// [`BatchNorm`].
pub type BatchNorm1d = BatchNorm<1>;
/// Batch normalization of `[N, C, H, W]` inputs, as `torch.nn.BatchNorm2d`; see [`BatchNorm`].
pub type BatchNorm2d = BatchNorm<2>;
/// Batch normalization of `[N, C, D, H, W]` inputs, as `torch.nn.BatchNorm3d`; see
/// [`BatchNorm`].
pub type BatchNorm3d = BatchNorm<3>;

impl<const D: usize> BatchNorm<D> {
    /// A layer over `num_features` channels with PyTorch's defaults (eps `1e-5`, momentum `0.1`,
    /// affine, tracking running statistics).
    pub fn new(num_features: usize) -> BatchNorm<D> {
        BatchNorm::with_config(num_features, BatchNormConfig::default())
    }

    /// A layer over `num_features` channels with the given settings.
    pub fn with_config(num_features: usize, config: BatchNormConfig) -> BatchNorm<D> {
        let c = [num_features];
        let affine = config.affine;
        let track = config.track_running_stats;
        BatchNorm {
            weight: affine.then(|| Param::named("weight", Tensor::ones(c))),
            bias: affine.then(|| Param::named("bias", Tensor::zeros(c))),
            running_mean: track.then(|| Buffer::float(Tensor::zeros(c))),
            running_var: track.then(|| Buffer::float(Tensor::ones(c))),
            num_batches_tracked: track.then(|| Buffer::int(IntTensor::scalar(0))),
            eps: config.eps,
            momentum: config.momentum,
            num_features,
        }
    }

    /// The number of channels, `C`.
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// `"BatchNorm1d"`, `"BatchNorm2d"` or `"BatchNorm3d"`.
    fn name() -> &'static str {
        match D {
            1 => "BatchNorm1d",
            2 => "BatchNorm2d",
            3 => "BatchNorm3d",
            _ => "BatchNorm",
        }
    }

    /// The input shapes the layer takes, in words.
    fn expected(&self) -> String {
        let c = self.num_features;
        match D {
            1 => format!("[N, {c}] or [N, {c}, L]"),
            2 => format!("[N, {c}, H, W]"),
            3 => format!("[N, {c}, D, H, W]"),
            _ => format!("[N, {c}, ..] of rank {}", D + 2),
        }
    }

    fn check(&self, shape: &[usize]) -> Result<()> {
        let rank_ok = shape.len() == D + 2 || (D == 1 && shape.len() == 2);
        if !rank_ok || shape[1] != self.num_features {
            return Err(Error::ShapeMismatch {
                op: Self::name(),
                lhs: shape.into(),
                rhs: [self.num_features][..].into(),
                detail: format!(
                    "do not fit: the layer takes {} inputs ({} channels at dim 1)",
                    self.expected(),
                    self.num_features
                ),
            });
        }
        Ok(())
    }

    /// Folds one training batch's statistics into the running ones (PyTorch's update).
    fn update_running_stats(&self, batch: &BatchStats) -> Result<()> {
        let (Some(rm), Some(rv), Some(count)) = (
            &self.running_mean,
            &self.running_var,
            &self.num_batches_tracked,
        ) else {
            return Ok(());
        };
        let n = count.int_tensor().try_item()? + 1;
        let factor = self.momentum.unwrap_or(1.0 / n as f64);
        let fold = |running: &Buffer, new: &Tensor| -> Result<()> {
            let old = running.tensor();
            let new = new.to_dtype(old.dtype());
            let value = old
                .mul_scalar(1.0 - factor)
                .try_add(&new.mul_scalar(factor))?;
            running.set(value.into())
        };
        fold(rm, &batch.mean)?;
        fold(rv, &batch.var)?;
        count.set(IntTensor::scalar(n).into())
    }
}

impl<const D: usize> Module for BatchNorm<D> {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        self.check(x.shape())?;
        let tape = x.tape();
        let weight = self
            .weight
            .as_ref()
            .map(|p| tape.try_param(p))
            .transpose()?;
        let bias = self.bias.as_ref().map(|p| tape.try_param(p)).transpose()?;
        let running = match (&self.running_mean, &self.running_var) {
            (Some(m), Some(v)) if !ctx.is_train() => Some((m.tensor(), v.tensor())),
            _ => None,
        };
        let stats = match &running {
            Some((mean, var)) => BatchNormStats::Running { mean, var },
            None => BatchNormStats::Batch,
        };
        let (y, batch) = x.try_batch_norm(weight.as_ref(), bias.as_ref(), stats, self.eps)?;
        if ctx.is_train()
            && let Some(batch) = &batch
        {
            self.update_running_stats(batch)?;
        }
        ctx.record_layer(Self::name(), &y, self);
        Ok(y)
    }
}

impl<const D: usize> Visit for BatchNorm<D> {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        for (name, p) in [("weight", &self.weight), ("bias", &self.bias)] {
            if let Some(p) = p {
                with_module_path(prefix, name, |path| f(path, p));
            }
        }
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        for (name, p) in [("weight", &mut self.weight), ("bias", &mut self.bias)] {
            if let Some(p) = p {
                with_module_path(prefix, name, |path| f(path, p));
            }
        }
    }

    fn visit_buffers<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Buffer)) {
        let buffers = [
            ("running_mean", &self.running_mean),
            ("running_var", &self.running_var),
            ("num_batches_tracked", &self.num_batches_tracked),
        ];
        for (name, b) in buffers {
            if let Some(b) = b {
                with_module_path(prefix, name, |path| f(path, b));
            }
        }
    }
}

impl<const D: usize> descent_core::Params for BatchNorm<D> {
    fn visit(&self, f: &mut dyn FnMut(&Param)) {
        self.visit_params("", &mut |_, p| f(p))
    }
    fn visit_named(&self, f: &mut dyn FnMut(&str, &Param)) {
        self.visit_params("", &mut |n, p| f(n, p))
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.visit_params_mut("", &mut |_, p| f(p))
    }
}

/// Layer normalization over the last dims, as `torch.nn.LayerNorm`: each group of the trailing
/// `normalized_shape` dims is normalized to mean 0 and variance 1 (biased), then scaled by
/// `weight` (ones) and shifted by `bias` (zeros), both of shape `normalized_shape`, if
/// `elementwise_affine`. The same in training and evaluation; no running statistics.
///
/// ```
/// use descent_core::{Tape, Tensor};
/// use descent_nn::{Ctx, LayerNorm, Module};
/// let ln = LayerNorm::new(&[2], 0.0, true);
/// let tape = Tape::new();
/// let y = ln.forward(&tape.constant(Tensor::from_vec(vec![1.0f32, 3.0], [1, 2])), &Ctx::eval());
/// assert_eq!(y.unwrap().value().to_vec_f32(), vec![-1.0, 1.0]);
/// ```
#[derive(Debug)]
pub struct LayerNorm {
    /// `normalized_shape`, ones at construction, if elementwise affine.
    pub weight: Option<Param>,
    /// `normalized_shape`, zeros at construction, if elementwise affine.
    pub bias: Option<Param>,
    /// Added to the variance before its square root (PyTorch's default is `1e-5`).
    pub eps: f64,
    normalized_shape: Vec<usize>,
}

impl LayerNorm {
    /// A layer normalizing the trailing dims `normalized_shape`, with a learnable elementwise
    /// weight and bias if `elementwise_affine` (PyTorch: `LayerNorm(normalized_shape, eps,
    /// elementwise_affine)`; its defaults are `eps = 1e-5`, affine).
    pub fn new(normalized_shape: &[usize], eps: f64, elementwise_affine: bool) -> LayerNorm {
        LayerNorm {
            weight: elementwise_affine
                .then(|| Param::named("weight", Tensor::ones(normalized_shape))),
            bias: elementwise_affine.then(|| Param::named("bias", Tensor::zeros(normalized_shape))),
            eps,
            normalized_shape: normalized_shape.to_vec(),
        }
    }

    /// The normalized trailing dims.
    pub fn normalized_shape(&self) -> &[usize] {
        &self.normalized_shape
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Var, ctx: &Ctx) -> Result<Var> {
        let k = self.normalized_shape.len();
        let r = x.shape().len();
        if k > r || x.shape()[r - k..] != self.normalized_shape[..] {
            return Err(Error::ShapeMismatch {
                op: "LayerNorm",
                lhs: x.shape().into(),
                rhs: self.normalized_shape[..].into(),
                detail: format!(
                    "do not fit: the input's last {k} dims must be the normalized shape {:?}",
                    self.normalized_shape
                ),
            });
        }
        let tape = x.tape();
        let weight = self
            .weight
            .as_ref()
            .map(|p| tape.try_param(p))
            .transpose()?;
        let bias = self.bias.as_ref().map(|p| tape.try_param(p)).transpose()?;
        let y = x.try_layer_norm(
            &self.normalized_shape,
            weight.as_ref(),
            bias.as_ref(),
            self.eps,
        )?;
        ctx.record_layer("LayerNorm", &y, self);
        Ok(y)
    }
}

impl Visit for LayerNorm {
    fn visit_params<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param)) {
        for (name, p) in [("weight", &self.weight), ("bias", &self.bias)] {
            if let Some(p) = p {
                with_module_path(prefix, name, |path| f(path, p));
            }
        }
    }

    fn visit_params_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Param)) {
        for (name, p) in [("weight", &mut self.weight), ("bias", &mut self.bias)] {
            if let Some(p) = p {
                with_module_path(prefix, name, |path| f(path, p));
            }
        }
    }
}

crate::impl_params!(LayerNorm);
