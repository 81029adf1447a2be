//! Creating tensors: constants, ranges, identity, from data, and seeded random draws.

use crate::dtype::{DType, Element, with_dtype};
use crate::error::{Error, Result, invalid, or_panic};
use crate::tensor::Tensor;
use descent_kernels::Float;
use rand::Rng;

impl Tensor {
    /// A tensor of `shape` filled with `value`, of element type `dtype`, made by `op`.
    fn full_op(op: &'static str, shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        with_dtype!(dtype, T => {
            let mut b = crate::dtype::try_zeros::<T>(op, shape)?;
            if value != 0.0 || value.is_sign_negative() {
                b.fill(T::from_f64(value));
            }
            Ok(Tensor::from_parts(b, shape))
        })
    }

    /// A tensor of `shape` filled with `value`, of element type `dtype`.
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] naming the shape and the bytes if it cannot be allocated (or its
    /// size overflows).
    pub fn try_full_with(shape: impl AsRef<[usize]>, value: f64, dtype: DType) -> Result<Tensor> {
        Tensor::full_op("full", shape.as_ref(), value, dtype)
    }

    /// A tensor of `shape` filled with `value`, of element type `dtype`.
    ///
    /// # Panics
    /// As [`Tensor::try_full_with`] errs.
    #[track_caller]
    pub fn full_with(shape: impl AsRef<[usize]>, value: f64, dtype: DType) -> Tensor {
        or_panic(Tensor::try_full_with(shape, value, dtype))
    }

    /// An `f32` tensor of `shape` filled with `value`.
    ///
    /// # Errors
    /// As [`Tensor::try_full_with`].
    pub fn try_full(shape: impl AsRef<[usize]>, value: f64) -> Result<Tensor> {
        Tensor::full_op("full", shape.as_ref(), value, DType::F32)
    }

    /// An `f32` tensor of `shape` filled with `value`.
    ///
    /// ```
    /// let t = descent_core::Tensor::full([2, 3], 7.0);
    /// assert_eq!(t.to_vec_f32(), vec![7.0; 6]);
    /// ```
    ///
    /// # Panics
    /// As [`Tensor::try_full_with`] errs.
    #[track_caller]
    pub fn full(shape: impl AsRef<[usize]>, value: f64) -> Tensor {
        or_panic(Tensor::try_full(shape, value))
    }

    /// An `f32` tensor of zeros.
    ///
    /// ```
    /// use descent_core::{Error, Tensor};
    /// let err = Tensor::try_zeros([1 << 40]).unwrap_err();
    /// assert!(matches!(err, Error::OutOfMemory { bytes: Some(4398046511104), .. }), "{err}");
    /// ```
    ///
    /// # Errors
    /// [`Error::OutOfMemory`] naming `zeros`, the shape and the bytes if it cannot be allocated
    /// (or its size overflows).
    pub fn try_zeros(shape: impl AsRef<[usize]>) -> Result<Tensor> {
        Tensor::full_op("zeros", shape.as_ref(), 0.0, DType::F32)
    }

    /// An `f32` tensor of zeros.
    ///
    /// # Panics
    /// As [`Tensor::try_zeros`] errs.
    #[track_caller]
    pub fn zeros(shape: impl AsRef<[usize]>) -> Tensor {
        or_panic(Tensor::try_zeros(shape))
    }

    /// An `f32` tensor of ones.
    ///
    /// # Errors
    /// As [`Tensor::try_zeros`], naming `ones`.
    pub fn try_ones(shape: impl AsRef<[usize]>) -> Result<Tensor> {
        Tensor::full_op("ones", shape.as_ref(), 1.0, DType::F32)
    }

    /// An `f32` tensor of ones.
    ///
    /// # Panics
    /// As [`Tensor::try_ones`] errs.
    #[track_caller]
    pub fn ones(shape: impl AsRef<[usize]>) -> Tensor {
        or_panic(Tensor::try_ones(shape))
    }

    /// Zeros of the shape and element type of `self`.
    pub fn zeros_like(&self) -> Tensor {
        Tensor::full_with(self.shape(), 0.0, self.dtype())
    }

    /// Ones of the shape and element type of `self`.
    pub fn ones_like(&self) -> Tensor {
        Tensor::full_with(self.shape(), 1.0, self.dtype())
    }

    /// A 0-dimensional tensor holding `value`, of element type `dtype`.
    pub fn scalar(value: f64, dtype: DType) -> Tensor {
        Tensor::full_with([], value, dtype)
    }

    /// A tensor of `shape` holding `data` in row-major order; the element type is `T`'s.
    ///
    /// # Errors
    /// If `data.len()` is not the element count of `shape`, or that count overflows
    /// ([`Error::OutOfMemory`]).
    pub fn try_from_vec<T: Element>(data: Vec<T>, shape: impl AsRef<[usize]>) -> Result<Tensor> {
        let shape = shape.as_ref();
        if data.len() != crate::dtype::checked_len("from_vec", shape, T::DTYPE)? {
            return Err(Error::ElementCount {
                op: "from_vec",
                got: data.len(),
                shape: shape.into(),
            });
        }
        Ok(Tensor::from_parts(data, shape))
    }

    /// A tensor of `shape` holding `data` in row-major order.
    ///
    /// # Panics
    /// If `data.len()` is not the element count of `shape`:
    /// `from_vec: 5 elements do not fill shape [2, 3] (6 elements)`.
    #[track_caller]
    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl AsRef<[usize]>) -> Tensor {
        or_panic(Tensor::try_from_vec(data, shape))
    }

    /// A tensor of `shape` holding a copy of `data`.
    ///
    /// # Errors
    /// If `data.len()` is not the element count of `shape`.
    pub fn try_from_slice<T: Element>(data: &[T], shape: impl AsRef<[usize]>) -> Result<Tensor> {
        Tensor::try_from_vec(data.to_vec(), shape)
    }

    /// A tensor of `shape` holding a copy of `data`.
    ///
    /// # Panics
    /// If `data.len()` is not the element count of `shape`.
    #[track_caller]
    pub fn from_slice<T: Element>(data: &[T], shape: impl AsRef<[usize]>) -> Tensor {
        or_panic(Tensor::try_from_slice(data, shape))
    }

    /// A 1-D `f32` tensor `start, start + step, …` up to but excluding `end` (as `torch.arange`).
    ///
    /// # Errors
    /// If `step` is zero or not finite, or points away from `end`.
    pub fn try_arange(start: f64, end: f64, step: f64) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(invalid(
                "arange",
                format!("start {start}, end {end} and step {step} must be finite, step non-zero"),
            ));
        }
        let n = ((end - start) / step).ceil();
        if n < 0.0 {
            return Err(invalid(
                "arange",
                format!("step {step} points away from end {end} (start {start})"),
            ));
        }
        let v: Vec<f32> = (0..n as usize)
            .map(|i| (start + i as f64 * step) as f32)
            .collect();
        let len = v.len();
        Ok(Tensor::from_parts(v, &[len]))
    }

    /// A 1-D `f32` tensor `start, start + step, …` up to but excluding `end`.
    ///
    /// # Panics
    /// If `step` is zero or points away from `end`.
    #[track_caller]
    pub fn arange(start: f64, end: f64, step: f64) -> Tensor {
        or_panic(Tensor::try_arange(start, end, step))
    }

    /// A 1-D `f32` tensor of `steps` evenly spaced values from `start` to `end` inclusive.
    pub fn linspace(start: f64, end: f64, steps: usize) -> Tensor {
        let v: Vec<f32> = match steps {
            0 => vec![],
            1 => vec![start as f32],
            _ => {
                let step = (end - start) / (steps - 1) as f64;
                (0..steps)
                    .map(|i| {
                        // Land exactly on `end`, as torch does.
                        if i == steps - 1 {
                            end as f32
                        } else {
                            (start + i as f64 * step) as f32
                        }
                    })
                    .collect()
            }
        };
        Tensor::from_parts(v, &[steps])
    }

    /// The `n x n` `f32` identity matrix.
    ///
    /// # Panics
    /// If `n * n` elements cannot be allocated.
    #[track_caller]
    pub fn eye(n: usize) -> Tensor {
        let mut v = or_panic(crate::dtype::try_zeros::<f32>("eye", &[n, n]));
        for i in 0..n {
            v[i * n + i] = 1.0;
        }
        Tensor::from_parts(v, &[n, n])
    }

    /// `f32` samples uniform in `[low, high)` from `rng` (seed it for reproducible draws).
    ///
    /// ```
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let t = descent_core::Tensor::uniform([3], -1.0, 1.0, &mut rng);
    /// assert!(t.to_vec_f32().iter().all(|v| (-1.0..1.0).contains(v)));
    /// ```
    pub fn uniform(shape: impl AsRef<[usize]>, low: f64, high: f64, rng: &mut impl Rng) -> Tensor {
        let shape = shape.as_ref();
        let mut v = or_panic(crate::dtype::try_for_overwrite::<f32>("uniform", shape));
        for slot in v.iter_mut() {
            let u: f64 = rng.random();
            let x = (low + (high - low) * u) as f32;
            // Rounding to f32 can land on `high`; keep the interval half-open.
            *slot = if x as f64 >= high && high > low {
                low as f32
            } else {
                x
            };
        }
        Tensor::from_parts(v, shape)
    }

    /// `f32` samples uniform in `[0, 1)`.
    pub fn rand(shape: impl AsRef<[usize]>, rng: &mut impl Rng) -> Tensor {
        Tensor::uniform(shape, 0.0, 1.0, rng)
    }

    /// `f32` samples from the standard normal distribution (Box–Muller on `rng`'s draws).
    pub fn randn(shape: impl AsRef<[usize]>, rng: &mut impl Rng) -> Tensor {
        let shape = shape.as_ref();
        let mut v = or_panic(crate::dtype::try_for_overwrite::<f32>("randn", shape));
        for pair in v.chunks_mut(2) {
            // u1 in (0, 1] so the log is finite.
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random();
            let r = (-2.0 * u1.ln()).sqrt();
            let t = 2.0 * std::f64::consts::PI * u2;
            pair[0] = (r * t.cos()) as f32;
            if let Some(second) = pair.get_mut(1) {
                *second = (r * t.sin()) as f32;
            }
        }
        Tensor::from_parts(v, shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_vec_length_mismatch_names_both() {
        let e = Tensor::try_from_vec(vec![1.0f32; 5], [2, 3]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "from_vec: 5 elements do not fill shape [2, 3] (6 elements)"
        );
    }

    #[test]
    fn arange_and_linspace_match_torch() {
        assert_eq!(
            Tensor::arange(0.0, 5.0, 2.0).to_vec_f32(),
            vec![0.0, 2.0, 4.0]
        );
        assert_eq!(
            Tensor::arange(3.0, 0.0, -1.0).to_vec_f32(),
            vec![3.0, 2.0, 1.0]
        );
        assert!(Tensor::try_arange(0.0, 1.0, 0.0).is_err());
        assert_eq!(
            Tensor::linspace(0.0, 1.0, 5).to_vec_f32(),
            vec![0.0, 0.25, 0.5, 0.75, 1.0]
        );
    }

    #[test]
    fn randn_is_seeded_and_roughly_standard() {
        use rand::SeedableRng;
        let a = Tensor::randn([10_000], &mut rand::rngs::StdRng::seed_from_u64(7));
        let b = Tensor::randn([10_000], &mut rand::rngs::StdRng::seed_from_u64(7));
        assert_eq!(a.to_vec_f32(), b.to_vec_f32());
        let v = a.to_vec_f64();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }

    #[test]
    fn eye_is_identity() {
        assert_eq!(Tensor::eye(2).to_vec_f32(), vec![1.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn full_with_f64() {
        let t = Tensor::full_with([2], 0.1, DType::F64);
        assert_eq!(t.dtype(), DType::F64);
        assert_eq!(t.to_vec_f64(), vec![0.1, 0.1]);
    }
}
