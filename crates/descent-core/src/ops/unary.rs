//! Unary elementwise ops: `neg abs exp log sqrt square recip tanh sigmoid relu leaky_relu gelu
//! erf powf clamp`, and the scalar forms of the binary ops.
//!
//! **PyTorch equivalent**: the functions of the same name (`gelu` is the exact, erf-based one;
//! `powf` is `torch.pow(x, p)`). Each is one kernel call and, from the tape issue on, one recorded
//! op: `tanh` is coarse, not `(e^x - e^-x) / (e^x + e^-x)`. Derivatives (for the backward rules):
//! `tanh' = 1 - y^2` and `sigmoid' = y (1 - y)` use the saved output; `exp' = y`;
//! `log' = 1/x`, `sqrt' = 1/(2y)`, `relu' = [x > 0]`, `gelu' = Phi(x) + x phi(x)` use the input.

use crate::dtype::with_dtype;
use crate::tensor::Tensor;
use descent_kernels::{Float, UnaryOp, isa, strided};

impl Tensor {
    /// Applies a unary kernel op to every element (the shared forward of this family).
    pub(crate) fn map_unary(&self, op: UnaryOp) -> Tensor {
        with_dtype!(self.dtype(), T => {
            let mut out = vec![T::ZERO; self.numel()];
            strided::unary(isa(), op, self.shape(), self.strided::<T>(), &mut out);
            Tensor::from_parts(out, self.shape())
        })
    }

    /// `-x`
    pub fn neg(&self) -> Tensor {
        self.map_unary(UnaryOp::Neg)
    }

    /// `|x|`
    pub fn abs(&self) -> Tensor {
        self.map_unary(UnaryOp::Abs)
    }

    /// `e^x`
    pub fn exp(&self) -> Tensor {
        self.map_unary(UnaryOp::Exp)
    }

    /// Natural logarithm (NaN below 0, `-inf` at 0).
    pub fn log(&self) -> Tensor {
        self.map_unary(UnaryOp::Log)
    }

    /// Square root (NaN below 0).
    pub fn sqrt(&self) -> Tensor {
        self.map_unary(UnaryOp::Sqrt)
    }

    /// `x^2`
    pub fn square(&self) -> Tensor {
        self.map_unary(UnaryOp::Square)
    }

    /// `1 / x`
    pub fn recip(&self) -> Tensor {
        self.map_unary(UnaryOp::Recip)
    }

    /// Hyperbolic tangent.
    ///
    /// ```
    /// let y = descent_core::Tensor::from_vec(vec![0.0f32, 100.0], [2]).tanh();
    /// assert_eq!(y.to_vec_f32(), vec![0.0, 1.0]);
    /// ```
    pub fn tanh(&self) -> Tensor {
        self.map_unary(UnaryOp::Tanh)
    }

    /// Logistic sigmoid `1 / (1 + e^-x)`, stable on both tails.
    pub fn sigmoid(&self) -> Tensor {
        self.map_unary(UnaryOp::Sigmoid)
    }

    /// `max(x, 0)`; NaN stays NaN.
    pub fn relu(&self) -> Tensor {
        self.map_unary(UnaryOp::Relu)
    }

    /// `x` where `x > 0`, else `negative_slope * x` (torch's default slope is 0.01).
    pub fn leaky_relu(&self, negative_slope: f64) -> Tensor {
        self.map_unary(UnaryOp::LeakyRelu(negative_slope))
    }

    /// The exact GELU `x * Phi(x)`, as `torch.nn.functional.gelu`'s default.
    pub fn gelu(&self) -> Tensor {
        self.map_unary(UnaryOp::Gelu)
    }

    /// The error function.
    pub fn erf(&self) -> Tensor {
        self.map_unary(UnaryOp::Erf)
    }

    /// `x^p` for a scalar exponent.
    pub fn powf(&self, p: f64) -> Tensor {
        self.map_unary(UnaryOp::Powf(p))
    }

    /// `min(max(x, min), max)`; NaN stays NaN.
    pub fn clamp(&self, min: f64, max: f64) -> Tensor {
        self.map_unary(UnaryOp::Clamp(min, max))
    }

    /// `x + c`
    pub fn add_scalar(&self, c: f64) -> Tensor {
        self.map_unary(UnaryOp::AddScalar(c))
    }

    /// `x - c`
    pub fn sub_scalar(&self, c: f64) -> Tensor {
        self.map_unary(UnaryOp::AddScalar(-c))
    }

    /// `x * c`
    pub fn mul_scalar(&self, c: f64) -> Tensor {
        self.map_unary(UnaryOp::MulScalar(c))
    }

    /// `x / c`
    pub fn div_scalar(&self, c: f64) -> Tensor {
        self.map_unary(UnaryOp::MulScalar(1.0 / c))
    }

    /// `c - x`
    pub fn rsub_scalar(&self, c: f64) -> Tensor {
        self.map_unary(UnaryOp::RsubScalar(c))
    }

    /// `c / x`
    pub fn rdiv_scalar(&self, c: f64) -> Tensor {
        self.map_unary(UnaryOp::RdivScalar(c))
    }

    /// `c^x`
    pub fn rpow_scalar(&self, c: f64) -> Tensor {
        self.map_unary(UnaryOp::RpowScalar(c))
    }

    /// `max(x, c)`; NaN stays NaN.
    pub fn maximum_scalar(&self, c: f64) -> Tensor {
        self.map_unary(UnaryOp::MaximumScalar(c))
    }

    /// `min(x, c)`; NaN stays NaN.
    pub fn minimum_scalar(&self, c: f64) -> Tensor {
        self.map_unary(UnaryOp::MinimumScalar(c))
    }
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn unary_forward_golden() {
        let x = Tensor::from_vec(vec![-1.0f64, 0.5, 2.0], [3]);
        // relu: [0, 0.5, 2]; sigmoid(0.5) = 1 / (1 + e^-0.5) = 0.6224593312018546.
        assert_eq!(x.relu().to_vec_f64(), vec![0.0, 0.5, 2.0]);
        assert!((x.sigmoid().to_vec_f64()[1] - 0.622_459_331_201_854_6).abs() < 1e-15);
        // gelu(2) = 2 * Phi(2) = 2 * 0.9772498680518208 (torch: 1.9544997361036416).
        assert!((x.gelu().to_vec_f64()[2] - 1.954_499_736_103_641_6).abs() < 1e-14);
        assert_eq!(x.leaky_relu(0.1).to_vec_f64(), vec![-0.1, 0.5, 2.0]);
        assert_eq!(x.clamp(0.0, 1.0).to_vec_f64(), vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn unary_on_a_transposed_view() {
        let x = Tensor::from_vec(vec![1.0f32, 4.0, 9.0, 16.0], [2, 2]).t();
        assert_eq!(x.sqrt().to_vec_f32(), vec![1.0, 3.0, 2.0, 4.0]);
    }
}
