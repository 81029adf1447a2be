//! Gradient clipping, by global norm and by value. PyTorch equivalents:
//! `torch.nn.utils.clip_grad_norm_`, `torch.nn.utils.clip_grad_value_`.
//!
//! Both work in place on the [`Gradients`] of a step, before it goes to
//! [`Optimizer::step`](crate::Optimizer::step), and visit the parameters in their order, so the
//! norm is summed in the same order every time (the same bits whatever the thread count).

use crate::hyper::{Range, check};
use descent_core::{DType, Gradients, Params, Result};
use descent_kernels::optim::{clamp, scale, sum_squares};

/// Scales the gradients of `params` so that their global L2 norm (the norm of all their elements
/// together) is at most `max_norm`, and returns the norm before clipping.
///
/// As in PyTorch, the factor is `max_norm / (norm + 1e-6)` when it is below 1; otherwise nothing
/// changes. A non-finite norm leaves the gradients as they are (the optimizer step then reports
/// which parameter's gradient is not finite).
///
/// ```
/// use descent_core::{Param, Tape, Tensor};
/// use descent_optim::clip::clip_grad_norm;
/// let w = Param::new(Tensor::from_vec(vec![3.0f32, 4.0], [2]));
/// let tape = Tape::new();
/// let loss = tape.param(&w).square().sum_all() * 0.5; // gradient = w, norm 5
/// let mut grads = loss.backward();
/// let norm = clip_grad_norm(&w, &mut grads, 1.0).unwrap();
/// assert_eq!(norm, 5.0);
/// let g = grads.get(&w).unwrap().to_vec_f32();
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// ```
///
/// # Errors
/// If `max_norm` is not positive and finite.
pub fn clip_grad_norm(params: &dyn Params, grads: &mut Gradients, max_norm: f64) -> Result<f64> {
    check("clip_grad_norm", "max_norm", max_norm, Range::Positive)?;
    let mut total = 0.0;
    params.visit(&mut |p| {
        if let Some(g) = grads.get(p) {
            total += match g.dtype() {
                DType::F32 => g
                    .as_slice::<f32>()
                    .map_or_else(|| sum_squares(&g.to_vec::<f32>()), sum_squares),
                DType::F64 => g
                    .as_slice::<f64>()
                    .map_or_else(|| sum_squares(&g.to_vec::<f64>()), sum_squares),
            };
        }
    });
    let norm = total.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if norm.is_finite() && coef < 1.0 {
        for_each_grad(params, grads, &mut |g| match g {
            Slice::F32(g) => scale(g, coef),
            Slice::F64(g) => scale(g, coef),
        });
    }
    Ok(norm)
}

/// Clamps every gradient element of `params` into `[-limit, limit]` and returns the largest
/// absolute element before clamping.
///
/// ```
/// use descent_core::{Param, Tape, Tensor};
/// use descent_optim::clip::clip_grad_value;
/// let w = Param::new(Tensor::from_vec(vec![3.0f64, -0.5], [2]));
/// let tape = Tape::new();
/// let loss = tape.param(&w).square().sum_all() * 0.5; // gradient = w
/// let mut grads = loss.backward();
/// assert_eq!(clip_grad_value(&w, &mut grads, 1.0).unwrap(), 3.0);
/// assert_eq!(grads.get(&w).unwrap().to_vec_f64(), vec![1.0, -0.5]);
/// ```
///
/// # Errors
/// If `limit` is not positive and finite.
pub fn clip_grad_value(params: &dyn Params, grads: &mut Gradients, limit: f64) -> Result<f64> {
    check("clip_grad_value", "limit", limit, Range::Positive)?;
    let mut largest = 0.0f64;
    for_each_grad(params, grads, &mut |g| match g {
        Slice::F32(g) => {
            largest = g.iter().fold(largest, |m, &x| m.max(f64::from(x).abs()));
            clamp(g, limit);
        }
        Slice::F64(g) => {
            largest = g.iter().fold(largest, |m, &x| m.max(x.abs()));
            clamp(g, limit);
        }
    });
    Ok(largest)
}

enum Slice<'a> {
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
}

/// Calls `f` on the gradient of every parameter of `params` that has one, in order.
fn for_each_grad(params: &dyn Params, grads: &mut Gradients, f: &mut dyn FnMut(Slice<'_>)) {
    params.visit(&mut |p| {
        let Some(g) = grads.get_id_mut(p.id()) else {
            return;
        };
        match g.dtype() {
            DType::F32 => f(Slice::F32(g.slice_mut::<f32>().expect("dtype matched"))),
            DType::F64 => f(Slice::F64(g.slice_mut::<f64>().expect("dtype matched"))),
        }
    });
}
