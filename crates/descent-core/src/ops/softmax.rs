//! `softmax` and `log_softmax` along one axis, each one coarse, numerically stable op.
//!
//! **PyTorch equivalent**: `torch.softmax(x, dim)`, `torch.log_softmax(x, dim)`. Computed as
//! `e^(x - max) / sum e^(x - max)`, finite for any finite input. Derivatives (using the saved
//! output `y`): softmax `grad_in = y * (grad_out - sum(grad_out * y))`; log-softmax
//! `grad_in = grad_out - e^y * sum(grad_out)`, both sums along the axis. A row with some `-inf`
//! entries (masked positions) gives 0 there (log-softmax `-inf`) and finite gradients, 0 at the
//! masked entries; a row of only `-inf` has no distribution (0 / 0) and gives NaN, as in
//! PyTorch (`tests/hostile_numerics.rs`). A hand-written backward
//! because the composite of exp/sum/div is less stable and records more nodes.

use crate::dtype::with_dtype;
use crate::error::Result;
use crate::ops::{BackwardRule, GradsIn, Op};
use crate::panicking::panicking;
use crate::shape::normalize_axis;
use crate::tensor::Tensor;
use crate::var::{Recorded, Var};

impl Tensor {
    pub(crate) fn try_softmax_impl(
        &self,
        axis: isize,
        log: bool,
        op: &'static str,
    ) -> Result<Tensor> {
        let a = normalize_axis(op, axis, self.shape())?;
        let x = self.contiguous();
        let outer: usize = self.shape()[..a].iter().product();
        let len = self.shape()[a];
        let inner: usize = self.shape()[a + 1..].iter().product();
        Ok(with_dtype!(self.dtype(), T => {
            let xs = x.contiguous_slice::<T>().expect("contiguous");
            let mut out = crate::dtype::for_overwrite::<T>(xs.len());
            descent_kernels::softmax::softmax(xs, outer, len, inner, &mut out, log);
            Tensor::from_parts(out, self.shape())
        }))
    }

    /// Softmax along `axis`.
    ///
    /// # Errors
    /// If the axis is out of range.
    pub fn try_softmax(&self, axis: isize) -> Result<Tensor> {
        self.try_softmax_impl(axis, false, "softmax")
    }

    /// Log-softmax along `axis`.
    ///
    /// # Errors
    /// If the axis is out of range.
    pub fn try_log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.try_softmax_impl(axis, true, "log_softmax")
    }
}

/// The backward rule of softmax and log_softmax, from the saved output `y` alone.
pub(crate) struct SoftmaxNode {
    pub(crate) y: Tensor,
    /// The normalized axis.
    pub(crate) axis: isize,
    pub(crate) log: bool,
}

impl BackwardRule for SoftmaxNode {
    fn saved_bytes(&self) -> usize {
        self.y.nbytes()
    }

    fn backward(&self, g: &Tensor, grads: &mut GradsIn) -> Result<()> {
        if !grads.needs(0) {
            return Ok(());
        }
        let axes = [self.axis];
        let dx = if self.log {
            // g - e^y sum(g)
            g.sub(&self.y.exp().mul(&g.sum(&axes, true)))
        } else {
            // y (g - sum(g y))
            self.y.mul(&g.sub(&g.mul(&self.y).sum(&axes, true)))
        };
        grads.set(0, dx);
        Ok(())
    }
}

impl Var {
    #[track_caller]
    fn try_softmax_var(&self, axis: isize, log: bool, name: &'static str) -> Result<Var> {
        Var::record(name, &[self], || {
            let a = normalize_axis(name, axis, self.value().shape())?;
            let y = self.value().try_softmax_impl(axis, log, name)?;
            Ok(Recorded {
                op: Op::Softmax(SoftmaxNode {
                    y: y.clone(),
                    axis: a as isize,
                    log,
                }),
                value: y,
            })
        })
    }

    /// Softmax along `axis`, one op; gradient `y (g - sum(g y))`.
    ///
    /// # Errors
    /// If the axis is out of range or the tape is consumed.
    #[track_caller]
    pub fn try_softmax(&self, axis: isize) -> Result<Var> {
        self.try_softmax_var(axis, false, "softmax")
    }

    /// Log-softmax along `axis`, one op; gradient `g - e^y sum(g)`.
    ///
    /// # Errors
    /// If the axis is out of range or the tape is consumed.
    #[track_caller]
    pub fn try_log_softmax(&self, axis: isize) -> Result<Var> {
        self.try_softmax_var(axis, true, "log_softmax")
    }
}

panicking! { Tensor, Var:
    /// Softmax along `axis`: non-negative, summing to 1 along it.
    ///
    /// ```
    /// let p = descent_core::Tensor::from_vec(vec![1000.0f32, 1000.0], [2]).softmax(0);
    /// assert_eq!(p.to_vec_f32(), vec![0.5, 0.5]);
    /// ```
    softmax = try_softmax(axis: isize) -> Self;
    /// Log-softmax along `axis`: `x - logsumexp(x)`, stable for large inputs.
    log_softmax = try_log_softmax(axis: isize) -> Self;
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn softmax_forward_golden() {
        // softmax([1, 2, 3]) = e^(x-3) / (e^-2 + e^-1 + 1) = [0.09003057, 0.24472847, 0.66524096].
        let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], [3]);
        let p = x.softmax(0).to_vec_f64();
        let want = [
            0.090_030_573_170_380_46,
            0.244_728_471_054_797_6,
            0.665_240_955_774_821_8,
        ];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-15);
        }
        let lp = x.log_softmax(0).to_vec_f64();
        assert!((lp[2] - want[2].ln()).abs() < 1e-15);
    }

    #[test]
    fn softmax_along_a_middle_axis() {
        let x = Tensor::arange(0.0, 12.0, 1.0).reshape([2, 3, 2]);
        let s = x.softmax(1).sum(&[1], false);
        assert!(s.to_vec_f32().iter().all(|v| (v - 1.0).abs() < 1e-6));
    }
}
