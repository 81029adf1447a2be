//! [`gradcheck`]: compares the gradients of the backward pass with central finite differences, in
//! `f64`, for any composition of ops a user writes.
//!
//! A non-scalar output `y` is reduced to the scalar `L = sum(y * r)` with a fixed random `r`
//! (seeded), so one backward pass checks the vector-Jacobian product `J^T r` of every input at
//! once; the finite differences are taken of that same `L`. Inputs are converted to `f64`.

use crate::dtype::DType;
use crate::tape::Tape;
use crate::tensor::Tensor;
use crate::var::Var;
use rand::SeedableRng;
use std::fmt;

/// Step and tolerances of a [`gradcheck`] (PyTorch's `gradcheck` defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradcheckConfig {
    /// The finite-difference step: `(L(x + eps) - L(x - eps)) / (2 eps)`.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance, against the numeric gradient.
    pub rtol: f64,
    /// Seed of the random projection of a non-scalar output.
    pub seed: u64,
}

impl Default for GradcheckConfig {
    fn default() -> Self {
        GradcheckConfig {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            seed: 0,
        }
    }
}

/// The element where analytic and numeric gradients differ most (relative to the tolerance).
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckFailure {
    /// Which input (its position in the `inputs` slice).
    pub input: usize,
    /// The element's multi-index in that input.
    pub index: Vec<usize>,
    /// The gradient from the backward pass.
    pub analytic: f64,
    /// The central finite difference.
    pub numeric: f64,
    /// `atol + rtol * |numeric|`, which `|analytic - numeric|` exceeded.
    pub tolerance: f64,
}

impl fmt::Display for GradcheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradcheck: input {} element {:?}: analytic {} vs numeric {} (|diff| {:.3e} > tolerance {:.3e})",
            self.input,
            self.index,
            self.analytic,
            self.numeric,
            (self.analytic - self.numeric).abs(),
            self.tolerance
        )
    }
}

impl std::error::Error for GradcheckFailure {}

/// What a passing [`gradcheck`] compared.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckReport {
    /// Input elements checked.
    pub elements: usize,
    /// The largest `|analytic - numeric|` seen.
    pub max_abs_error: f64,
}

/// Checks the backward pass of `f` against central finite differences at `inputs`.
///
/// `f` gets a tape and one variable per input (in `f64`) and returns the output variable.
/// Pass inputs away from kinks (`relu` at 0, ties of `max`), where no derivative exists.
///
/// ```
/// use descent_core::{GradcheckConfig, Tensor, gradcheck};
/// let x = Tensor::from_vec(vec![0.5f64, -1.0, 2.0], [3]);
/// let w = Tensor::from_vec(vec![1.5f64, 0.3, -0.7], [3]);
/// let report = gradcheck(
///     |_tape, v| (&v[0] * &v[1]).tanh().sum_all(),
///     &[x, w],
///     &GradcheckConfig::default(),
/// )
/// .unwrap();
/// assert_eq!(report.elements, 6);
/// ```
///
/// # Errors
/// The worst element, if any element's analytic and numeric gradients differ by more than
/// `atol + rtol * |numeric|` (a non-finite gradient always fails).
pub fn gradcheck(
    f: impl Fn(&Tape, &[Var]) -> Var,
    inputs: &[Tensor],
    config: &GradcheckConfig,
) -> Result<GradcheckReport, GradcheckFailure> {
    let inputs: Vec<Tensor> = inputs
        .iter()
        .map(|t| t.to_dtype(DType::F64).contiguous())
        .collect();
    // The projection, drawn once from the output's shape.
    let probe = {
        let tape = Tape::new();
        let vars: Vec<Var> = inputs.iter().map(|t| tape.constant(t)).collect();
        f(&tape, &vars).value().dims()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let r = if probe.iter().product::<usize>() == 1 {
        Tensor::ones(&probe[..]).to_dtype(DType::F64)
    } else {
        Tensor::uniform(&probe[..], 0.5, 1.5, &mut rng).to_dtype(DType::F64)
    };
    let loss_of = |vals: &[Tensor]| -> f64 {
        let tape = Tape::new();
        let vars: Vec<Var> = vals.iter().map(|t| tape.constant(t)).collect();
        let y = f(&tape, &vars);
        y.value().mul(&r).sum_all().item()
    };

    // Analytic: one backward pass.
    let tape = Tape::new();
    let vars: Vec<Var> = inputs.iter().map(|t| tape.var(t)).collect();
    let y = f(&tape, &vars);
    let loss = y.mul(&tape.constant(&r)).sum_all();
    let grads = loss.try_backward().ok();
    let analytic: Vec<Vec<f64>> = vars
        .iter()
        .zip(&inputs)
        .map(|(v, t)| {
            grads
                .as_ref()
                .and_then(|g| g.wrt(v))
                .map_or_else(|| vec![0.0; t.numel()], Tensor::to_vec_f64)
        })
        .collect();

    let mut worst: Option<(f64, GradcheckFailure)> = None;
    let mut max_abs_error = 0.0f64;
    let mut elements = 0;
    for (i, x) in inputs.iter().enumerate() {
        let base = x.to_vec_f64();
        for j in 0..base.len() {
            let at = |d: f64| {
                let mut v = base.clone();
                v[j] += d;
                let mut vals = inputs.clone();
                vals[i] = Tensor::from_vec(v, x.shape());
                loss_of(&vals)
            };
            let numeric = (at(config.eps) - at(-config.eps)) / (2.0 * config.eps);
            let a = analytic[i][j];
            let diff = (a - numeric).abs();
            let tolerance = config.atol + config.rtol * numeric.abs();
            elements += 1;
            if diff.is_finite() {
                max_abs_error = max_abs_error.max(diff);
            }
            let ratio = if diff.is_finite() {
                diff / tolerance
            } else {
                f64::INFINITY
            };
            if ratio > 1.0 && worst.as_ref().is_none_or(|(w, _)| ratio > *w) {
                worst = Some((
                    ratio,
                    GradcheckFailure {
                        input: i,
                        index: unravel(j, x.shape()),
                        analytic: a,
                        numeric,
                        tolerance,
                    },
                ));
            }
        }
    }
    match worst {
        Some((_, failure)) => Err(failure),
        None => Ok(GradcheckReport {
            elements,
            max_abs_error,
        }),
    }
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = flat % shape[d].max(1);
        flat /= shape[d].max(1);
    }
    idx
}
