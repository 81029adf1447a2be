//! In-place and `out=` forms of the elementwise ops: `a.add_(&b)` and `a += &b` (PyTorch's
//! `a.add_(b)`), `a.add_into(&b, &mut out)` (`torch.add(a, b, out=out)`), and the same for `sub`,
//! `mul`, `div` and `relu`.
//!
//! **PyTorch equivalent**: the trailing-underscore methods and the `out=` argument.
//!
//! Each gives exactly the bits of its out-of-place op (`a.add(&b)`): the same row kernels run;
//! only where the result goes differs. A tensor's buffer is written in place when the tensor is
//! its sole owner and views all of it contiguously (the case of a freshly computed tensor);
//! otherwise the result goes to a new buffer and the tensor takes it, so other tensors sharing
//! the old buffer (clones, views) keep their values (copy on write; descent tensors are values,
//! where PyTorch's views alias).
//!
//! Broadcasting follows PyTorch's in-place rule: the right operand broadcasts to the left one's
//! shape, and the result must keep that shape (`[2, 3] += [3]` is fine, `[3] += [2, 3]` is an
//! error naming the op and both shapes). The in-place kernel covers a right operand that repeats
//! along leading dims (same shape, or a trailing-dims broadcast such as a bias row); other
//! broadcasts compute out of place and store the result.
//!
//! These are operations on values, not recorded ops: there is no `Var` form (a recorded value
//! must not change under its tape; PyTorch refuses in-place ops on leaves that require a
//! gradient for the same reason). Nothing here has a backward rule.

use crate::dtype::{Element, with_dtype};
use crate::error::{Error, Result, or_panic};
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;
use descent_kernels::buffer::SharedBuffer;
use descent_kernels::{BinaryOp, UnaryOp, elementwise, isa, strided};

/// The element slice of `t` if it may be written in place: `t` is the only owner of its buffer
/// and views all of it, contiguously, from offset 0.
fn sole_slice<T: Element>(t: &mut Tensor) -> Option<&mut [T]> {
    if !(t.is_contiguous() && t.layout.offset == 0 && t.storage.len() == t.numel()) {
        return None;
    }
    SharedBuffer::get_mut(T::buffer_mut(&mut t.storage)?)
}

/// The contiguous elements of `b` if they repeat along `shape`: `b`'s shape, leading 1s dropped,
/// is a suffix of `shape`.
fn repeating_slice<'a, T: Element>(b: &'a Tensor, shape: &[usize]) -> Option<&'a [T]> {
    let lead = b.shape().iter().take_while(|&&d| d == 1).count();
    let dims = &b.shape()[lead..];
    if dims.len() > shape.len() || dims != &shape[shape.len() - dims.len()..] {
        return None;
    }
    b.contiguous_slice::<T>()
}

fn check_dtypes(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dtype() != b.dtype() {
        return Err(Error::DTypeMismatch {
            op,
            lhs: a.dtype(),
            rhs: b.dtype(),
        });
    }
    Ok(())
}

impl Tensor {
    /// `self = op(self, rhs)`, `rhs` broadcast to `self`'s shape.
    fn try_zip_assign(&mut self, rhs: &Tensor, op: BinaryOp, name: &'static str) -> Result<()> {
        check_dtypes(name, self, rhs)?;
        let shape = broadcast_shapes(name, self.shape(), rhs.shape())?;
        if shape.as_slice() != self.shape() {
            return Err(Error::ShapeMismatch {
                op: name,
                lhs: self.shape().into(),
                rhs: rhs.shape().into(),
                detail: format!(
                    "do not fit an in-place op: the result would have shape {:?}, and an \
                     in-place op keeps the left operand's shape {:?} (only the right operand \
                     broadcasts)",
                    shape.as_slice(),
                    self.shape()
                ),
            });
        }
        let shape = self.dims();
        let done = with_dtype!(self.dtype(), T => {
            match (repeating_slice::<T>(rhs, &shape), sole_slice::<T>(self)) {
                (Some(b), Some(acc)) => {
                    elementwise::binary_assign(op, acc, b);
                    true
                }
                _ => false,
            }
        });
        if !done {
            *self = self.try_zip(rhs, op, name)?;
        }
        Ok(())
    }

    /// `out = op(self, rhs)` with broadcasting, into `out`'s buffer when it may be written.
    fn try_zip_into(
        &self,
        rhs: &Tensor,
        out: &mut Tensor,
        op: BinaryOp,
        name: &'static str,
    ) -> Result<()> {
        check_dtypes(name, self, rhs)?;
        check_dtypes(name, self, out)?;
        let shape = broadcast_shapes(name, self.shape(), rhs.shape())?;
        if shape.as_slice() != out.shape() {
            return Err(Error::ShapeMismatch {
                op: name,
                lhs: self.shape().into(),
                rhs: rhs.shape().into(),
                detail: format!(
                    "give shape {:?}, but `out` has shape {:?}",
                    shape.as_slice(),
                    out.shape()
                ),
            });
        }
        let (sa, sb) = (self.strides_for(&shape), rhs.strides_for(&shape));
        let done = with_dtype!(self.dtype(), T => {
            let same = self.shape() == rhs.shape();
            match sole_slice::<T>(out) {
                Some(o) => {
                    if same
                        && let (Some(a), Some(b)) =
                            (self.contiguous_slice::<T>(), rhs.contiguous_slice::<T>())
                    {
                        elementwise::binary(op, a, b, o);
                    } else {
                        let a = strided::Strided::new(self.buffer::<T>(), &sa, self.layout.offset);
                        let b = strided::Strided::new(rhs.buffer::<T>(), &sb, rhs.layout.offset);
                        strided::binary(isa(), op, &shape, a, b, o);
                    }
                    true
                }
                None => false,
            }
        });
        if !done {
            *out = self.try_zip(rhs, op, name)?;
        }
        Ok(())
    }

    /// `self = relu(self)` in place, as `torch.relu_` (copy on write, see the module docs).
    ///
    /// ```
    /// use descent_core::Tensor;
    /// let mut x = Tensor::from_vec(vec![-1.0f32, 0.5, -0.0, 2.0], [2, 2]);
    /// x.relu_();
    /// assert_eq!(x.to_vec_f32(), vec![0.0, 0.5, 0.0, 2.0]);
    /// ```
    pub fn relu_(&mut self) {
        let done = with_dtype!(self.dtype(), T => match sole_slice::<T>(self) {
            Some(acc) => {
                elementwise::unary_assign(UnaryOp::Relu, acc);
                true
            }
            None => false,
        });
        if !done {
            *self = self.relu();
        }
    }

    /// `out = relu(self)`, as `torch.relu(x, out=out)`: written into `out`'s buffer when `out`
    /// is its sole owner and views all of it contiguously; else `out` takes a new buffer.
    ///
    /// ```
    /// use descent_core::Tensor;
    /// let x = Tensor::from_vec(vec![-1.0f32, 3.0], [2]);
    /// let mut out = Tensor::zeros([2]);
    /// x.relu_into(&mut out);
    /// assert_eq!(out.to_vec_f32(), vec![0.0, 3.0]);
    /// assert!(x.try_relu_into(&mut Tensor::zeros([3])).is_err());
    /// ```
    ///
    /// # Errors
    /// If `out`'s shape or element type differs from `self`'s; the message names the op and
    /// both shapes.
    pub fn try_relu_into(&self, out: &mut Tensor) -> Result<()> {
        const OP: &str = "relu_into";
        check_dtypes(OP, self, out)?;
        if self.shape() != out.shape() {
            return Err(Error::ShapeMismatch {
                op: OP,
                lhs: self.shape().into(),
                rhs: out.shape().into(),
                detail: "differ: `out` must have the input's shape".to_string(),
            });
        }
        let done = with_dtype!(self.dtype(), T => {
            match (self.contiguous_slice::<T>(), sole_slice::<T>(out)) {
                (Some(x), Some(o)) => {
                    elementwise::unary(UnaryOp::Relu, x, o);
                    true
                }
                _ => false,
            }
        });
        if !done {
            *out = self.relu();
        }
        Ok(())
    }

    /// `out = relu(self)`; see [`Tensor::try_relu_into`].
    ///
    /// # Panics
    /// Where [`Tensor::try_relu_into`] returns an error, with its message, at the caller's line.
    #[track_caller]
    pub fn relu_into(&self, out: &mut Tensor) {
        or_panic(self.try_relu_into(out))
    }
}

/// Declares each in-place binary op: `try_<op>_` and `<op>_` (in place), `try_<op>_into` and
/// `<op>_into` (`out=`). One line per op: `<op>_, try_<op>_, <op>_into, try_<op>_into, the
/// kernel op, the out-of-place op, its symbol;`.
macro_rules! inplace_ops {
    ($(
        $plain_:ident, $try_:ident, $plain_into:ident, $try_into:ident,
        BinaryOp::$op:ident, $name:literal, $sym:literal;
    )*) => {
        impl Tensor {
            $(
                #[doc = concat!("`self = self ", $sym, " rhs` in place, as PyTorch's `", stringify!($plain_), "`: `rhs`")]
                /// broadcasts to `self`'s shape, which the result keeps. The buffer is written in
                /// place when `self` is its sole owner and views all of it contiguously; otherwise
                /// `self` takes a new buffer (copy on write: clones and views keep their values).
                #[doc = concat!("Bit for bit the result of [`Tensor::", $name, "`].")]
                ///
                /// ```
                /// use descent_core::Tensor;
                /// let mut a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
                /// let b = Tensor::from_vec(vec![2.0f32, 4.0, 8.0], [3]);
                #[doc = concat!("let want = a.", $name, "(&b);")]
                #[doc = concat!("a.", stringify!($plain_), "(&b); // a row, broadcast along the rows")]
                /// assert_eq!(a.to_vec_f32(), want.to_vec_f32());
                #[doc = concat!("let err = a.", stringify!($try_), "(&Tensor::zeros([4, 3])).unwrap_err();")]
                #[doc = concat!("assert!(err.to_string().starts_with(\"", stringify!($plain_), ": [2, 3] and [4, 3]\"));")]
                /// ```
                ///
                /// # Errors
                /// If the element types differ, the shapes do not broadcast, or the broadcast
                /// shape is not `self`'s; the message names the op and both shapes.
                pub fn $try_(&mut self, rhs: &Tensor) -> Result<()> {
                    self.try_zip_assign(rhs, BinaryOp::$op, stringify!($plain_))
                }

                #[doc = concat!("`self = self ", $sym, " rhs` in place; see [`Tensor::", stringify!($try_), "`].")]
                ///
                /// # Panics
                #[doc = concat!("Where [`Tensor::", stringify!($try_), "`] returns an error, with its message, at the caller's line.")]
                #[track_caller]
                pub fn $plain_(&mut self, rhs: &Tensor) {
                    or_panic(self.$try_(rhs))
                }

                #[doc = concat!("`out = self ", $sym, " rhs` with broadcasting, as PyTorch's `torch.", $name, "(a, b, out=out)`:")]
                /// written into `out`'s buffer when `out` is its sole owner and views all of it
                /// contiguously (no allocation); otherwise `out` takes a new buffer.
                #[doc = concat!("Bit for bit the result of [`Tensor::", $name, "`].")]
                ///
                /// ```
                /// use descent_core::Tensor;
                /// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
                /// let b = Tensor::from_vec(vec![10.0f32, 20.0], [2, 1]);
                /// let mut out = Tensor::zeros([2, 2]);
                #[doc = concat!("a.", stringify!($plain_into), "(&b, &mut out);")]
                #[doc = concat!("assert_eq!(out.to_vec_f32(), a.", $name, "(&b).to_vec_f32());")]
                #[doc = concat!("assert!(a.", stringify!($try_into), "(&b, &mut Tensor::zeros([4])).is_err());")]
                /// ```
                ///
                /// # Errors
                /// If the element types differ, `self` and `rhs` do not broadcast, or `out` does
                /// not have their broadcast shape; the message names the op and the shapes.
                pub fn $try_into(&self, rhs: &Tensor, out: &mut Tensor) -> Result<()> {
                    self.try_zip_into(rhs, out, BinaryOp::$op, stringify!($plain_into))
                }

                #[doc = concat!("`out = self ", $sym, " rhs`; see [`Tensor::", stringify!($try_into), "`].")]
                ///
                /// # Panics
                #[doc = concat!("Where [`Tensor::", stringify!($try_into), "`] returns an error, with its message, at the caller's line.")]
                #[track_caller]
                pub fn $plain_into(&self, rhs: &Tensor, out: &mut Tensor) {
                    or_panic(self.$try_into(rhs, out))
                }
            )*
        }
    };
}

inplace_ops! {
    add_, try_add_, add_into, try_add_into, BinaryOp::Add, "add", "+";
    sub_, try_sub_, sub_into, try_sub_into, BinaryOp::Sub, "sub", "-";
    mul_, try_mul_, mul_into, try_mul_into, BinaryOp::Mul, "mul", "*";
    div_, try_div_, div_into, try_div_into, BinaryOp::Div, "div", "/";
}

/// The compound assignment operators: `a += &b` is [`Tensor::add_`], and so on.
macro_rules! assign_operators {
    ($($Assign:ident, $assign:ident, $plain_:ident;)*) => {$(
        #[doc = concat!("In place: [`Tensor::", stringify!($plain_), "`].")]
        impl std::ops::$Assign<&Tensor> for Tensor {
            #[track_caller]
            fn $assign(&mut self, rhs: &Tensor) {
                self.$plain_(rhs)
            }
        }

        #[doc = concat!("In place: [`Tensor::", stringify!($plain_), "`].")]
        impl std::ops::$Assign<Tensor> for Tensor {
            #[track_caller]
            fn $assign(&mut self, rhs: Tensor) {
                self.$plain_(&rhs)
            }
        }
    )*};
}

assign_operators! {
    AddAssign, add_assign, add_;
    SubAssign, sub_assign, sub_;
    MulAssign, mul_assign, mul_;
    DivAssign, div_assign, div_;
}
